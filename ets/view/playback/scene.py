"""The network scene: the city grid in the middle, the households on a circle around it, and arrows for
the energy of one step: red from the grid to a household that buys, green from a household that sells to
the grid, purple from seller to buyer for a P2P trade (labelled with its kWh). Arrow widths scale with
the energy, against the largest arrow of the whole run."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Polygon, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from ets.view.playback.model import Frame, HouseholdState, Playback, Status

BUY_COLOR = "#d62728"
SELL_COLOR = "#2ca02c"
P2P_COLOR = "#8e44ad"
GRID_COLOR = "#34495e"
STATUS_COLORS: dict[Status, str] = {"doing well": "#7fd18b", "struggling": "#f28b82", "normal": "#c9d6e3"}

RADIUS = 1.0
"""Radius of the household circle (axes data units; the city grid sits at the origin)."""
HOUSE_SIZE = 0.085
"""Half width of a house symbol (data units)."""
MIN_ARROW_KWH = 1e-4
"""Flows below this (kWh in the step) get no arrow."""
MIN_WIDTH_PT, MAX_WIDTH_PT = 0.8, 9.0
"""Arrow line widths (points) for the smallest and the largest flow of the run."""
MAX_P2P_LABELS = 14
"""At most this many P2P arrows (the largest) carry a kWh label, so that large communities stay legible."""
P2P_ARC = 0.22
"""Bend of P2P arrows (``arc3`` radius), which keeps the two directions of a pair apart."""
LABEL_AT = (0.62, 0.5, 0.72, 0.4, 0.8, 0.3)
"""Where along a P2P arrow its label may sit (0 at the seller, 1 at the buyer), in order of preference:
first off the centre, where the arrows of a round community cross; the first place where the label
overlaps no other text and no house is taken, and a label with no such place is left out."""
LEGEND_PLACES: tuple[Literal["lower left", "upper left", "lower right", "upper right"], ...] = (
    "lower left",
    "upper left",
    "lower right",
    "upper right",
)
"""Where the legend may go: the first corner where it overlaps no label."""
X_LIMIT, Y_LIMIT = 2.25, 1.7
"""Half extent of the scene (data units): wider than tall, for the labels beside the houses."""


def circle_positions(count: int) -> npt.NDArray[np.float64]:
    """(count, 2) positions on the circle, the first at the top, then clockwise."""
    angles = math.pi / 2 - 2 * math.pi * np.arange(count) / max(count, 1)
    return np.column_stack([RADIUS * np.cos(angles), RADIUS * np.sin(angles)])


def arc_point(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], t: float) -> npt.NDArray[np.float64]:
    """The point at parameter ``t`` of matplotlib's ``arc3`` curve from ``a`` to ``b`` (a quadratic Bezier
    whose control point is the chord's midpoint + rad x (dy, -dx)), in data units of an equal-aspect axes."""
    dx, dy = b - a
    control = (a + b) / 2 + P2P_ARC * np.array([dy, -dx])
    result: npt.NDArray[np.float64] = (1 - t) ** 2 * a + 2 * (1 - t) * t * control + t**2 * b
    return result


def arrow_width(kwh: float, max_kwh: float) -> float:
    """Line width (points) of an arrow carrying ``kwh``, on a square-root scale of the run's largest flow."""
    share = math.sqrt(min(max(kwh / max_kwh, 0.0), 1.0))
    return MIN_WIDTH_PT + (MAX_WIDTH_PT - MIN_WIDTH_PT) * share


def money_delta(usd: float) -> str:
    """``+0.12``, and ``+0.00`` (not ``-0.00``) for what rounds to no cent."""
    return f"{round(usd, 2) + 0.0:+.2f}"


DESIGN_WIDTH_IN = 6.3
"""Width of the scene (inches) its font sizes are made for: about that in a 14 x 8 inch playback figure."""


def font_scale(ax: Axes) -> float:
    """The scene's font sizes relative to its design: smaller in a smaller window (texts keep their size
    in points while the scene shrinks), never larger."""
    width_in = ax.bbox.width / ax.figure.dpi
    return min(1.0, max(0.5, width_in / DESIGN_WIDTH_IN))


def renderer_of(ax: Axes) -> RendererBase:
    """The renderer the axes' figure draws with (to measure texts before the figure is drawn)."""
    canvas = ax.figure.canvas
    get = getattr(canvas, "get_renderer", None)
    if get is not None:
        renderer: RendererBase = get()
        return renderer
    return ax.figure._get_renderer()  # type: ignore[union-attr,no-any-return]


def kwh_label(kwh: float) -> str:
    return f"{kwh:.2f} kWh" if kwh >= 0.1 else f"{kwh:.3f} kWh"


def storage_color(pct: float) -> str:
    if pct < 20:
        return "#e74c3c"
    if pct < 50:
        return "#f39c12"
    return "#27ae60"


class Scene:
    """Draws frames of one run onto one axes; ``household_at`` finds the house under a point."""

    def __init__(self, ax: Axes, playback: Playback) -> None:
        self.ax = ax
        self.positions = circle_positions(len(playback.household_ids))
        self.max_kwh = playback.max_flow_kwh
        self.playback = playback

    def household_at(self, x: float, y: float) -> int | None:
        """Index of the household whose symbol is at (x, y) in data units, if any."""
        distance = np.hypot(self.positions[:, 0] - x, self.positions[:, 1] - y)
        i = int(np.argmin(distance))
        return i if distance[i] <= 1.6 * HOUSE_SIZE else None

    def draw(self, frame: Frame) -> None:
        ax = self.ax
        ax.clear()
        ax.set_xlim(-X_LIMIT, X_LIMIT)
        ax.set_ylim(-Y_LIMIT, Y_LIMIT)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.apply_aspect()  # the axes' final box, so that texts can be measured now
        self.scale = font_scale(ax)
        ax.set_title(
            f"{self.playback.when(frame.index)}  ({frame.index + 1} of {self.playback.length})",
            fontsize=11 * self.scale,
        )
        self.renderer = renderer_of(ax)
        self.taken: list[Bbox] = []
        """Boxes (display pixels) of what is placed so far, which later labels must not overlap."""
        self._grid_arrows(frame)
        self._city(frame)
        for i, h in enumerate(frame.households):
            self._house(self.positions[i], h)
            self._label(i, h)
        self._legend()
        self._p2p_arrows(frame)

    def _box(self, text: Text) -> Bbox:
        patch = text.get_bbox_patch()
        if patch is not None:
            text.update_bbox_position_size(self.renderer)
            return patch.get_window_extent(self.renderer)
        return text.get_window_extent(self.renderer)

    def _free(self, box: Bbox) -> bool:
        return not any(box.overlaps(other) for other in self.taken)

    def _inside(self, text: Text) -> Bbox:
        """Move ``text`` into the axes' box where it sticks out (a window narrower than the layout, a long
        wallet line); returns its box."""
        box, area = self._box(text), self.ax.bbox
        dx = max(area.x0 - box.x0, 0.0) - max(box.x1 - area.x1, 0.0)
        dy = max(area.y0 - box.y0, 0.0) - max(box.y1 - area.y1, 0.0)
        if dx or dy:
            x, y = self.ax.transData.transform(text.get_position())
            nx, ny = self.ax.transData.inverted().transform((x + dx, y + dy))
            text.set_position((float(nx), float(ny)))
            box = self._box(text)
        return box

    def _arrow(self, a: tuple[float, float], b: tuple[float, float], kwh: float, color: str, rad: float) -> None:
        width = arrow_width(kwh, self.max_kwh)
        patch = FancyArrowPatch(
            a,
            b,
            arrowstyle="-|>",
            mutation_scale=8 + 1.6 * width,
            linewidth=width,
            color=color,
            alpha=0.8,
            shrinkA=16,
            shrinkB=16,
            connectionstyle=f"arc3,rad={rad}",
            zorder=2,
        )
        self.ax.add_patch(patch)

    def _grid_arrows(self, frame: Frame) -> None:
        for i, h in enumerate(frame.households):
            home = (float(self.positions[i, 0]), float(self.positions[i, 1]))
            both = h.grid_buy_kwh >= MIN_ARROW_KWH and h.grid_sell_kwh >= MIN_ARROW_KWH
            if h.grid_buy_kwh >= MIN_ARROW_KWH:
                self._arrow((0.0, 0.0), home, h.grid_buy_kwh, BUY_COLOR, 0.1 if both else 0.0)
            if h.grid_sell_kwh >= MIN_ARROW_KWH:
                self._arrow(home, (0.0, 0.0), h.grid_sell_kwh, SELL_COLOR, 0.1 if both else 0.0)

    def _p2p_arrows(self, frame: Frame) -> None:
        index = {h.household_id: i for i, h in enumerate(frame.households)}
        trades = sorted((t for t in frame.trades if t.kwh >= MIN_ARROW_KWH), key=lambda t: -t.kwh)
        for rank, t in enumerate(trades):
            if t.seller not in index or t.buyer not in index:
                continue
            a, b = self.positions[index[t.seller]], self.positions[index[t.buyer]]
            self._arrow((float(a[0]), float(a[1])), (float(b[0]), float(b[1])), t.kwh, P2P_COLOR, P2P_ARC)
            if rank < MAX_P2P_LABELS:
                self._p2p_label(a, b, t.kwh)

    def _p2p_label(self, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], kwh: float) -> None:
        label = self.ax.text(
            0.0,
            0.0,
            kwh_label(kwh),
            fontsize=7 * self.scale,
            color=P2P_COLOR,
            ha="center",
            va="center",
            zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )
        for t in LABEL_AT:
            at = arc_point(a, b, t)
            label.set_position((float(at[0]), float(at[1])))
            box = self._box(label)
            if self._free(box) and self.ax.bbox.contains(box.x0, box.y0) and self.ax.bbox.contains(box.x1, box.y1):
                self.taken.append(box)
                return
        label.remove()

    def _city(self, frame: Frame) -> None:
        s = 1.4 * HOUSE_SIZE
        city = Rectangle((-s, -s), 2 * s, 2 * s, fc=GRID_COLOR, ec="black", zorder=4)
        self.ax.add_patch(city)
        self.taken.append(city.get_window_extent(self.renderer))
        self.ax.text(
            0, 0, "GRID", color="white", fontsize=8 * self.scale, ha="center", va="center", weight="bold", zorder=5
        )
        totals = self.ax.text(
            0,
            -s - 0.04,
            f"buy {frame.grid_buy_kwh:.2f} kWh\nsell {frame.grid_sell_kwh:.2f} kWh\nP2P {frame.p2p_kwh:.2f} kWh",
            fontsize=7.5 * self.scale,
            ha="center",
            va="top",
            zorder=5,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
        )
        self.taken.append(self._box(totals))

    def _house(self, center: npt.NDArray[np.float64], h: HouseholdState) -> None:
        x, y, s = float(center[0]), float(center[1]), HOUSE_SIZE
        outline = [(x - s, y - s), (x + s, y - s), (x + s, y + 0.2 * s), (x, y + s), (x - s, y + 0.2 * s)]
        house = Polygon(outline, closed=True, fc=STATUS_COLORS[h.status], ec="#2c3e50", lw=1.0, zorder=4)
        self.ax.add_patch(house)
        self.taken.append(house.get_window_extent(self.renderer).expanded(1.5, 1.5))  # and the arrows' ends
        # battery gauge inside the house
        bx, by, bw, bh = x - 0.6 * s, y - 0.7 * s, 1.2 * s, 0.45 * s
        self.ax.add_patch(Rectangle((bx, by), bw, bh, fc="white", ec="#2c3e50", lw=0.6, zorder=5))
        if not math.isnan(h.storage_pct):
            fill = min(max(h.storage_pct, 0.0), 100.0) / 100.0
            self.ax.add_patch(Rectangle((bx, by), bw * fill, bh, fc=storage_color(h.storage_pct), ec="none", zorder=6))

    def _label(self, i: int, h: HouseholdState) -> None:
        x, y = self.positions[i]
        angle = math.atan2(y, x)
        lx, ly = (RADIUS + 0.2) * math.cos(angle), (RADIUS + 0.2) * math.sin(angle)
        ha = "left" if math.cos(angle) > 0.3 else "right" if math.cos(angle) < -0.3 else "center"
        va = "bottom" if math.sin(angle) > 0.3 else "top" if math.sin(angle) < -0.3 else "center"
        storage = "no storage" if math.isnan(h.storage_pct) else f"battery {h.storage_pct:.0f}%"
        delta = h.wallet_usd - h.baseline_wallet_usd
        text = f"{h.household_id}  {h.status}\n{storage}\nwallet ${h.wallet_usd:.2f} ({money_delta(delta)} vs alone)"
        label = self.ax.text(
            lx, ly, text, fontsize=7.5 * self.scale, ha=ha, va=va, zorder=5, parse_math=False, linespacing=1.15
        )
        self.taken.append(self._inside(label))

    def _legend(self) -> None:
        handles = [
            Line2D([], [], color=BUY_COLOR, lw=2.5, label="buys from the grid"),
            Line2D([], [], color=SELL_COLOR, lw=2.5, label="sells to the grid"),
            Line2D([], [], color=P2P_COLOR, lw=2.5, label="P2P trade, seller to buyer"),
            *(Patch(fc=color, ec="#2c3e50", label=status) for status, color in STATUS_COLORS.items()),
        ]
        for place in LEGEND_PLACES:
            legend = self.ax.legend(
                handles=handles, loc=place, fontsize=7 * self.scale, frameon=False, ncol=2, borderaxespad=0.0
            )
            box = legend.get_window_extent(self.renderer)
            if self._free(box):
                break
        self.taken.append(box)
