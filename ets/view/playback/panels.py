"""The time-series panels beside the scene: wallet, grid buy, grid sell and battery (baseline vs
optimized, each the mean across households with a band of +- one standard deviation), community energy
(production vs consumption) and P2P volume; a cursor marks the current step. Drawn once; only the
cursors move."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ets.view.playback.model import Playback, RunSeries

Array = npt.NDArray[np.float64]

BASELINE_COLOR = "#7f7f7f"
OPTIMIZED_COLOR = "#1f77b4"
PRODUCTION_COLOR = "#f1c40f"
CONSUMPTION_COLOR = "#e67e22"
P2P_COLOR = "#8e44ad"
CURSOR_COLOR = "#c0392b"


@dataclass(frozen=True, slots=True)
class BandPanel:
    """A per-household quantity shown as mean +- standard deviation across households."""

    title: str
    field: str
    """A ``RunSeries`` field of shape (steps, households)."""


BAND_PANELS = (
    BandPanel("Wallet ($)", "wallet_usd"),
    BandPanel("Grid buy (kWh per step)", "grid_buy_kwh"),
    BandPanel("Grid sell (kWh per step)", "grid_sell_kwh"),
    BandPanel("Battery (% full)", "storage_pct"),
)
PANEL_COUNT = len(BAND_PANELS) + 2


def band(values: Array) -> tuple[Array, Array, Array]:
    """Mean across households (axis 1) for each step, and the band mean -+ one standard deviation clipped
    to the households' own range (so that a band of energies never dips below zero); NaN (households
    without storage) ignored, NaN where no household has a value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(values, axis=1), np.nanstd(values, axis=1)
        low = np.maximum(mean - std, np.nanmin(values, axis=1))
        high = np.minimum(mean + std, np.nanmax(values, axis=1))
    return mean, low, high


def _band(ax: Axes, x: Array, values: Array, color: str, label: str) -> None:
    mean, low, high = band(values)
    ax.plot(x, mean, color=color, lw=1.4, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0)


def _field(series: RunSeries, name: str) -> Array:
    values = getattr(series, name)
    assert isinstance(values, np.ndarray)
    return values


class Panels:
    """Draws the six panels onto ``axes`` (six of them) and moves their cursors."""

    def __init__(self, axes: Sequence[Axes], playback: Playback) -> None:
        if len(axes) != PANEL_COUNT:
            raise ValueError(f"the panels need {PANEL_COUNT} axes, got {len(axes)}")
        x = np.asarray(playback.steps, dtype=np.float64)
        for ax, panel in zip(axes, BAND_PANELS, strict=False):
            _band(ax, x, _field(playback.baseline, panel.field), BASELINE_COLOR, "baseline")
            _band(ax, x, _field(playback.optimized, panel.field), OPTIMIZED_COLOR, "optimized")
            ax.set_title(panel.title, fontsize=9)
        energy, p2p = axes[len(BAND_PANELS)], axes[len(BAND_PANELS) + 1]
        o = playback.optimized
        energy.plot(x, o.production_kwh.sum(axis=1), color=PRODUCTION_COLOR, lw=1.4, label="production")
        energy.plot(x, o.consumption_kwh.sum(axis=1), color=CONSUMPTION_COLOR, lw=1.4, label="consumption")
        energy.set_title("Community energy (kWh per step)", fontsize=9)
        p2p.fill_between(x, o.p2p_sell_kwh.sum(axis=1), step="mid", color=P2P_COLOR, alpha=0.5, lw=0, label="P2P")
        p2p.set_title("P2P volume (kWh per step)", fontsize=9)
        for ax in axes:
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            ax.set_xlim(x[0], max(x[-1], x[0] + 1))
            ax.legend(fontsize=6.5, loc="upper left", frameon=False)
        for ax in axes[-2:]:
            ax.set_xlabel("step", fontsize=8)
        self.cursors: list[Line2D] = [ax.axvline(x[0], color=CURSOR_COLOR, lw=1.0, alpha=0.8) for ax in axes]

    def set_cursor(self, step: float) -> None:
        for line in self.cursors:
            line.set_xdata([step, step])
