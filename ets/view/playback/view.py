"""One playback figure: the scene on the left, the six panels on the right."""

from __future__ import annotations

from matplotlib.figure import Figure

from ets.view.canvas import headless_figure
from ets.view.playback.model import Playback
from ets.view.playback.panels import Panels
from ets.view.playback.scene import Scene

FIGSIZE_IN = (14.0, 8.0)
"""Figure size (inches); at 100 dpi a frame is 1400 x 800 pixels (even sizes suit H.264)."""


def playback_figure() -> Figure:
    """A headless figure of the playback's size."""
    return headless_figure(FIGSIZE_IN)


class PlaybackView:
    """Lays out ``fig`` for ``playback``; ``show(index)`` draws that position of the run.

    ``controls_in`` reserves that many inches at the bottom for the interactive widgets."""

    def __init__(self, fig: Figure, playback: Playback, controls_in: float = 0.0) -> None:
        self.fig = fig
        self.playback = playback
        height = fig.get_figheight()
        grid = fig.add_gridspec(
            3,
            3,
            width_ratios=[2.3, 1.0, 1.0],
            left=0.01,
            right=0.985,
            top=0.92,
            bottom=(0.45 + controls_in) / height,
            wspace=0.22,
            hspace=0.42,
        )
        self.scene = Scene(fig.add_subplot(grid[:, 0]), playback)
        panel_axes = [fig.add_subplot(grid[r, 1 + c]) for r in range(3) for c in range(2)]
        self.panels = Panels(panel_axes, playback)
        run = playback.run_dir.name
        self.title = fig.suptitle(
            f"{run}: {len(playback.household_ids)} households, {playback.length} steps, optimized market "
            "(panels: mean +- standard deviation across households)",
            fontsize=11,
        )
        self.index = -1

    def show(self, index: int) -> None:
        """Draw position ``index`` (0 for the run's first step), laid out for the figure's size now."""
        self.title.set_fontsize(11 * min(1.0, self.fig.get_figwidth() / FIGSIZE_IN[0]))
        frame = self.playback.frame(index)
        self.scene.draw(frame)
        self.panels.set_cursor(frame.step)
        self.index = index
