"""The report's figures, each a function of the run that returns a headless matplotlib figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from chain.errors import InputError
from ets.results.read import OPTIMIZED_CSV, RunFrames
from ets.view.canvas import headless_figure

Array = npt.NDArray[np.float64]

BASELINE_COLOR = "#7f7f7f"
OPTIMIZED_COLOR = "#1f77b4"
WIN_COLOR = "#2ca02c"
LOSE_COLOR = "#d62728"
P2P_COLOR = "#8e44ad"
FIGSIZE_IN = (9.0, 4.2)

REQUIRED_COLUMNS = (
    "dt_hours",
    "cost",
    "grid_buy_price",
    "grid_sell_price",
    "p2p_price",
    "grid_import_capacity_kw",
    "grid_export_capacity_kw",
    "battery_capacity_kwh",
    "community_capacity_kwh",
)
"""Columns the report needs beyond the original ones (every run of this program writes them)."""


@dataclass(frozen=True, slots=True)
class ReportData:
    """A run for the report: community totals per step (index = step) and the KPIs."""

    run: RunFrames
    summary: dict[str, Any]
    hours: Array
    """Hours from the run's start to the start of each step."""
    dt_hours: float

    def community(self, which: str, column: str) -> Array:
        """Sum over households of ``column`` per step, for ``which`` = baseline or optimized."""
        frame: pd.DataFrame = getattr(self.run, which)
        per_step = frame.groupby("step")[column].sum().reindex(list(self.run.steps))
        return per_step.to_numpy(dtype=np.float64)

    def per_step(self, column: str) -> Array:
        """A value shared by every household of a step (a price or a limit), from the optimized run."""
        first = self.run.optimized.groupby("step")[column].first().reindex(list(self.run.steps))
        return first.to_numpy(dtype=np.float64)


def require_columns(run: RunFrames) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in run.optimized.columns or c not in run.baseline.columns]
    if missing:
        raise InputError(
            f"{run.run_dir / OPTIMIZED_CSV}: missing column(s) {', '.join(missing)}; "
            "the report needs the result files of an `ets run` or `ets simulate`"
        )


def report_data(run: RunFrames, summary: dict[str, Any]) -> ReportData:
    require_columns(run)
    dt = float(run.optimized["dt_hours"].iloc[0])
    hours = (np.asarray(run.steps, dtype=np.float64) - run.steps[0]) * dt
    return ReportData(run, summary, hours, dt)


def _hours_axis(ax: Axes, data: ReportData) -> None:
    clock = data.run.clock
    start = f" (starting {clock.time_of_day(data.run.steps[0])})" if clock else ""
    ax.set_xlabel(f"hours from the run's start{start}", fontsize=9)
    ax.set_xlim(0, data.hours[-1] + data.dt_hours)


def _finish(fig: Figure, axes: list[Axes]) -> Figure:
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def saving_figure(data: ReportData) -> Figure:
    """Each household's saving against acting alone, before and after the closing transfers."""
    per = data.summary["per_household"]
    ids = sorted(per, key=lambda h: -per[h]["saving_before_transfer"])
    before = np.array([per[h]["saving_before_transfer"] for h in ids])
    after = np.array([per[h]["saving"] for h in ids])
    fig = headless_figure(FIGSIZE_IN)
    ax = fig.add_subplot()
    x = np.arange(len(ids))
    colors = [WIN_COLOR if v >= 0 else LOSE_COLOR for v in before]
    ax.bar(x - 0.2, before, 0.4, color=colors, alpha=0.45)
    ax.bar(x + 0.2, after, 0.4, color=[WIN_COLOR if v >= 0 else LOSE_COLOR for v in after])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, ids, rotation=90 if len(ids) > 16 else 0, fontsize=8)
    ax.set_ylabel("saving against acting alone ($)", fontsize=9)
    winners, losers = int((before > 1e-6).sum()), int((before < -1e-6).sum())
    ax.set_title(
        f"Saving per household: {winners} gain and {losers} lose in the market; "
        f"{data.summary['households_worse_off']} worse off after the closing transfers",
        fontsize=10,
    )
    ax.legend(
        handles=[
            Patch(fc=WIN_COLOR, alpha=0.45, label="market alone (before closing transfers)"),
            Patch(fc=WIN_COLOR, label="final (after closing transfers)"),
            Patch(fc=LOSE_COLOR, label="a loss"),
        ],
        fontsize=8,
        frameon=False,
    )
    return _finish(fig, [ax])


def _duration(ax: Axes, data: ReportData, column: str, capacity: str, what: str) -> None:
    share = 100.0 * (np.arange(len(data.hours)) + 0.5) / len(data.hours)
    for which, color in (("baseline", BASELINE_COLOR), ("optimized", OPTIMIZED_COLOR)):
        kw = np.sort(data.community(which, column) / data.dt_hours)[::-1]
        ax.plot(share, kw, color=color, lw=1.6, label=which, drawstyle="steps-mid")
    limit = data.per_step(capacity)
    if np.allclose(limit, limit[0]):
        ax.axhline(limit[0], color="black", ls="--", lw=1.0, label=f"{what} limit ({limit[0]:g} kW)")
    else:
        ax.plot(share, np.sort(limit)[::-1], color="black", ls="--", lw=1.0, label=f"{what} limit (its own curve)")
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("share of the run's time (%)", fontsize=9)
    ax.set_ylabel(f"community grid {what} (kW)", fontsize=9)
    ax.set_title(f"Grid {what} duration curve", fontsize=10)
    ax.legend(fontsize=8, frameon=False)


def duration_figure(data: ReportData) -> Figure:
    """Community grid import (and export) sorted from the highest step down, against the transformer limit."""
    fig = headless_figure(FIGSIZE_IN)
    imp, exp = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    _duration(imp, data, "grid_buy", "grid_import_capacity_kw", "import")
    _duration(exp, data, "grid_sell", "grid_export_capacity_kw", "export")
    return _finish(fig, [imp, exp])


def prices_figure(data: ReportData) -> Figure:
    """Grid buy and sell prices and the P2P price (where energy was traded) over the run."""
    fig = headless_figure(FIGSIZE_IN)
    ax = fig.add_subplot()
    x = data.hours
    ax.step(x, data.per_step("grid_buy_price"), where="post", color="#d62728", lw=1.5, label="grid buy price")
    ax.step(
        x, data.per_step("grid_sell_price"), where="post", color="#2ca02c", lw=3.5, alpha=0.5, label="grid sell price"
    )
    traded = data.community("optimized", "p2p_sell_amount") > 1e-9
    p2p = np.where(traded, data.per_step("p2p_price"), np.nan)
    # above the grid prices, and marked at every traded step: the P2P price often equals the sell price
    ax.step(x, p2p, where="post", color=P2P_COLOR, lw=1.4, zorder=4)
    ax.plot(
        x + data.dt_hours / 2,
        p2p,
        ls="none",
        marker="o",
        ms=3.5,
        mfc="white",
        mec=P2P_COLOR,
        mew=1.1,
        color=P2P_COLOR,
        zorder=5,
        label="P2P price (steps with trades)",
    )
    ax.set_ylabel("$ per kWh", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.set_title("Prices over the run", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    _hours_axis(ax, data)
    return _finish(fig, [ax])


def battery_figure(data: ReportData) -> Figure:
    """Energy held in all storage (own batteries and community-battery shares) and its charging and
    discharging, baseline against optimized."""
    fig = headless_figure((FIGSIZE_IN[0], FIGSIZE_IN[1] * 1.35))
    stored, flows = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2, sharex=None)
    x = data.hours + data.dt_hours
    capacity = data.community("optimized", "battery_capacity_kwh") + data.community(
        "optimized", "community_capacity_kwh"
    )
    for which, color in (("baseline", BASELINE_COLOR), ("optimized", OPTIMIZED_COLOR)):
        held = data.community(which, "stored_kwh") + data.community(which, "community_stored_kwh")
        stored.plot(x, held, color=color, lw=1.6, label=which)
        charge = data.community(which, "charge_kwh") / data.dt_hours
        discharge = data.community(which, "discharge_kwh") / data.dt_hours
        flows.step(data.hours, charge - discharge, where="post", color=color, lw=1.3, label=which)
    stored.axhline(float(capacity[0]), color="black", ls="--", lw=1.0, label=f"capacity ({capacity[0]:.1f} kWh)")
    stored.set_ylabel("stored (kWh)", fontsize=9)
    stored.set_title("Battery use: energy stored in the community's batteries and battery shares", fontsize=10)
    flows.axhline(0, color="black", lw=0.8)
    flows.set_ylabel("charging (+) / discharging (-) (kW)", fontsize=9)
    for ax in (stored, flows):
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        _hours_axis(ax, data)
    return _finish(fig, [stored, flows])


def community_figure(data: ReportData) -> Figure:
    """What the community has paid so far, baseline against optimized, and the saving it adds up to."""
    fig = headless_figure(FIGSIZE_IN)
    ax = fig.add_subplot()
    x = np.concatenate([[0.0], data.hours + data.dt_hours])
    for which, color in (("baseline", BASELINE_COLOR), ("optimized", OPTIMIZED_COLOR)):
        paid = np.concatenate([[0.0], np.cumsum(data.community(which, "cost"))])
        ax.plot(x, paid, color=color, lw=1.8, label=which)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("community cost so far ($; negative: earned)", fontsize=9)
    ax.set_title(f"Community cost over the run: saving ${data.summary['saving']:.2f}", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    _hours_axis(ax, data)
    return _finish(fig, [ax])


@dataclass(frozen=True, slots=True)
class FigureSpec:
    filename: str
    caption: str
    make: Callable[[ReportData], Figure]


FIGURES = (
    FigureSpec(
        "report_community.png",
        "What the community has paid so far, trading against every household alone.",
        community_figure,
    ),
    FigureSpec(
        "report_saving.png",
        "Each household's saving against acting alone: what the market gave it (light) and what it keeps "
        "after the closing transfers (dark).",
        saving_figure,
    ),
    FigureSpec(
        "report_grid_duration.png",
        "The community's grid import and export, steps sorted from the highest down, against the transformer limits.",
        duration_figure,
    ),
    FigureSpec("report_prices.png", "Grid tariffs and the P2P price in the steps with trades.", prices_figure),
    FigureSpec(
        "report_battery.png",
        "Energy held in storage (own batteries and community-battery shares) and its charging and discharging.",
        battery_figure,
    ),
)
