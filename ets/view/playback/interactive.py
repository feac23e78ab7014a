"""The interactive player: play/pause, speed 0.25x-10x, a step slider and hover details per household.

Keys: space plays or pauses, left/right step back or forward. ``Player`` works on any canvas (tests
drive it on Agg); ``play`` opens a window with the default backend."""

from __future__ import annotations

from matplotlib.backend_bases import Event, KeyEvent, MouseEvent
from matplotlib.figure import Figure
from matplotlib.widgets import Button, Slider

from chain.errors import EtsError
from ets.view.playback.model import Playback, household_details
from ets.view.playback.save import FRAMES_PER_SECOND_AT_1X
from ets.view.playback.view import FIGSIZE_IN, PlaybackView

MIN_SPEED, MAX_SPEED = 0.25, 10.0
CONTROLS_IN = 0.55
"""Height (inches) kept free at the bottom of the figure for the widgets."""


class Player:
    """Widgets and a timer around a ``PlaybackView``."""

    def __init__(self, fig: Figure, playback: Playback, speed: float = 1.0, start: int = 0) -> None:
        self.fig = fig
        self.playback = playback
        self.view = PlaybackView(fig, playback, controls_in=CONTROLS_IN)
        h = CONTROLS_IN / fig.get_figheight()
        self.button = Button(fig.add_axes((0.015, 0.25 * h, 0.06, 0.55 * h)), "Play")
        self.slider = Slider(
            fig.add_axes((0.13, 0.35 * h, 0.5, 0.35 * h)),
            "step",
            0,
            max(playback.length - 1, 1),
            valinit=start,
            valstep=1,
            valfmt="%d",
        )
        self.slider.drawon = False  # ``show`` redraws once per step, slider included
        self.speed_slider = Slider(
            fig.add_axes((0.72, 0.35 * h, 0.2, 0.35 * h)),
            "speed",
            MIN_SPEED,
            MAX_SPEED,
            valinit=speed,
            valstep=0.25,
            valfmt="%gx",
        )
        self.tip = fig.text(0, 0, "", fontsize=8, visible=False, parse_math=False, zorder=10, va="top")
        self.tip.set_bbox({"boxstyle": "round", "fc": "#fffbe6", "ec": "#7f7f7f", "alpha": 0.95})
        self.hovered: int | None = None
        self.playing = False
        self.timer = fig.canvas.new_timer(interval=self.interval_ms(speed))
        self.timer.add_callback(self.tick)
        self.button.on_clicked(lambda _: self.toggle())
        self.slider.on_changed(lambda value: self.show(int(value)))
        self.speed_slider.on_changed(self.set_speed)
        fig.canvas.mpl_connect("motion_notify_event", self.on_move)
        fig.canvas.mpl_connect("key_press_event", self.on_key)
        fig.canvas.mpl_connect("resize_event", lambda _: self.relayout())
        self.show(start)

    def relayout(self) -> None:
        """The window changed size: lay the scene's texts out again for it (they keep inside it)."""
        if self.view.index >= 0:
            self.view.show(self.view.index)
            self.fig.canvas.draw_idle()

    @staticmethod
    def interval_ms(speed: float) -> int:
        return max(1, round(1000.0 / (FRAMES_PER_SECOND_AT_1X * speed)))

    @property
    def index(self) -> int:
        return self.view.index

    def show(self, index: int) -> None:
        index = min(max(index, 0), self.playback.length - 1)
        if index != self.view.index:
            self.view.show(index)
            self._update_tip()
            self.fig.canvas.draw_idle()

    def toggle(self) -> None:
        self.playing = not self.playing
        if self.playing and self.index >= self.playback.length - 1:
            self.slider.set_val(0)
        self.button.label.set_text("Pause" if self.playing else "Play")
        if self.playing:
            self.timer.start()
        else:
            self.timer.stop()
        self.fig.canvas.draw_idle()

    def set_speed(self, speed: float) -> None:
        self.timer.interval = self.interval_ms(speed)

    def tick(self) -> None:
        """One timer beat: the next step, and a stop at the end of the run."""
        if not self.playing:
            return
        if self.index >= self.playback.length - 1:
            self.toggle()
            return
        self.slider.set_val(self.index + 1)

    def on_key(self, event: Event) -> None:
        if not isinstance(event, KeyEvent):
            return
        if event.key == " ":
            self.toggle()
        elif event.key in ("left", "right"):
            self.slider.set_val(self.index + (1 if event.key == "right" else -1))

    def on_move(self, event: Event) -> None:
        """Hover: the details of the household under the pointer, in a box beside it."""
        if not isinstance(event, MouseEvent):
            return
        hovered = None
        if event.inaxes is self.view.scene.ax and event.xdata is not None and event.ydata is not None:
            hovered = self.view.scene.household_at(event.xdata, event.ydata)
        if hovered is not None:
            fx, fy = self.fig.transFigure.inverted().transform((event.x, event.y))
            self.tip.set_position((fx + 0.012, fy - 0.012))
            self.tip.set_horizontalalignment("left" if fx < 0.4 else "right")
        if hovered != self.hovered:
            self.hovered = hovered
            self._update_tip()
            self.fig.canvas.draw_idle()

    def _update_tip(self) -> None:
        if self.hovered is None:
            self.tip.set_visible(False)
            return
        self.tip.set_text(household_details(self.playback.frame(self.index), self.hovered))
        self.tip.set_visible(True)


def window_title(playback: Playback) -> str:
    return f"ets playback: {playback.run_dir.name}"


def play(playback: Playback, speed: float = 1.0, start: int = 0) -> None:
    """Open the player in a window (default backend) and return when it is closed."""
    import matplotlib.pyplot as plt

    if plt.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        raise EtsError(
            f"no interactive display (matplotlib backend {plt.get_backend()!r}); "
            "use --save out.gif, --save out.mp4 or --frame N --save frame.png"
        )
    fig = plt.figure(figsize=FIGSIZE_IN, num=window_title(playback))
    _player = Player(fig, playback, speed, start)  # referenced until the window closes, so its widgets live
    plt.show()
