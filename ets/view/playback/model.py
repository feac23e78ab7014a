"""A run directory as a playback model: per-step arrays of both runs, the P2P trades of each step and the
status of each household. No drawing here; the scene and the panels read this model.

Status of a household at a step (optimized run against its own baseline, both at the end of the step):

* **struggling**: some of its demand went unserved in the step, or its wallet is more than
  ``STATUS_MARGIN_USD`` below the wallet it would have had alone;
* **doing well**: its wallet is more than ``STATUS_MARGIN_USD`` above the wallet it would have had alone;
* **normal**: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ets.results.read import OPTIMIZED_CSV, P2PTrade, RunClock, RunFrames, load_run, trades_by_step

Array = npt.NDArray[np.float64]
Status = Literal["doing well", "struggling", "normal"]

STATUS_MARGIN_USD = 0.05
"""How far ($) a wallet must be above (below) the household's baseline wallet to count as doing well
(struggling)."""
UNSERVED_TOLERANCE_KWH = 1e-6
"""Unserved energy below this (kWh in the step) is rounding, not a shortage."""


@dataclass(frozen=True, slots=True)
class RunSeries:
    """One result CSV as arrays of shape (steps, households)."""

    production_kwh: Array
    consumption_kwh: Array
    wallet_usd: Array
    grid_buy_kwh: Array
    grid_sell_kwh: Array
    p2p_buy_kwh: Array
    p2p_sell_kwh: Array
    unserved_kwh: Array
    storage_pct: Array
    """State of charge of all the household's storage (own battery plus community-battery share) in % of
    its capacity; NaN for a household without storage."""


@dataclass(frozen=True, slots=True)
class HouseholdState:
    """One household at the end of one step of the optimized run. Energies in kWh in the step."""

    household_id: str
    storage_pct: float
    """NaN when the household has no storage."""
    wallet_usd: float
    baseline_wallet_usd: float
    production_kwh: float
    consumption_kwh: float
    grid_buy_kwh: float
    grid_sell_kwh: float
    p2p_buy_kwh: float
    p2p_sell_kwh: float
    unserved_kwh: float
    status: Status


@dataclass(frozen=True, slots=True)
class Frame:
    """What the scene shows at one step."""

    index: int
    """Position in the run (0 for its first step)."""
    step: int
    households: tuple[HouseholdState, ...]
    trades: tuple[P2PTrade, ...]

    @property
    def grid_buy_kwh(self) -> float:
        return sum(h.grid_buy_kwh for h in self.households)

    @property
    def grid_sell_kwh(self) -> float:
        return sum(h.grid_sell_kwh for h in self.households)

    @property
    def p2p_kwh(self) -> float:
        return sum(t.kwh for t in self.trades)


@dataclass(frozen=True, slots=True)
class Playback:
    """A whole run, ready to be played: ``steps[i]`` is the step number of position ``i``."""

    run_dir: Path
    household_ids: tuple[str, ...]
    steps: tuple[int, ...]
    baseline: RunSeries
    optimized: RunSeries
    trades: tuple[tuple[P2PTrade, ...], ...]
    """The P2P trades of each position."""
    clock: RunClock | None = None

    def when(self, index: int) -> str:
        """``step 52`` or, when the run's clock is known, ``step 52, 13:00``."""
        step = self.steps[index]
        return f"step {step}, {self.clock.time_of_day(step)}" if self.clock else f"step {step}"

    @property
    def length(self) -> int:
        return len(self.steps)

    def index_of(self, step: int) -> int:
        """Position of step number ``step``; ``ValueError`` when the run does not have it."""
        return self.steps.index(step)

    @property
    def max_flow_kwh(self) -> float:
        """The largest single arrow of the run (grid buy, grid sell or one trade, kWh): arrow widths scale
        to it so that they compare across steps."""
        o = self.optimized
        largest = [float(np.max(o.grid_buy_kwh)), float(np.max(o.grid_sell_kwh))]
        largest += [t.kwh for step in self.trades for t in step]
        return max(max(largest), 1e-9)

    def frame(self, index: int) -> Frame:
        o, b = self.optimized, self.baseline
        states = tuple(
            HouseholdState(
                household_id=hid,
                storage_pct=float(o.storage_pct[index, i]),
                wallet_usd=float(o.wallet_usd[index, i]),
                baseline_wallet_usd=float(b.wallet_usd[index, i]),
                production_kwh=float(o.production_kwh[index, i]),
                consumption_kwh=float(o.consumption_kwh[index, i]),
                grid_buy_kwh=float(o.grid_buy_kwh[index, i]),
                grid_sell_kwh=float(o.grid_sell_kwh[index, i]),
                p2p_buy_kwh=float(o.p2p_buy_kwh[index, i]),
                p2p_sell_kwh=float(o.p2p_sell_kwh[index, i]),
                unserved_kwh=float(o.unserved_kwh[index, i]),
                status=status_of(
                    float(o.wallet_usd[index, i]), float(b.wallet_usd[index, i]), float(o.unserved_kwh[index, i])
                ),
            )
            for i, hid in enumerate(self.household_ids)
        )
        return Frame(index, self.steps[index], states, self.trades[index])


def status_of(wallet_usd: float, baseline_wallet_usd: float, unserved_kwh: float) -> Status:
    """See the module docstring."""
    if unserved_kwh > UNSERVED_TOLERANCE_KWH or wallet_usd < baseline_wallet_usd - STATUS_MARGIN_USD:
        return "struggling"
    if wallet_usd > baseline_wallet_usd + STATUS_MARGIN_USD:
        return "doing well"
    return "normal"


def _grid(df: pd.DataFrame, column: str, ids: tuple[str, ...], steps: tuple[int, ...]) -> Array:
    table = df.pivot(index="step", columns="household_id", values=column)
    return table.reindex(index=list(steps), columns=list(ids)).to_numpy(dtype=np.float64)


def _storage_pct(df: pd.DataFrame, ids: tuple[str, ...], steps: tuple[int, ...]) -> Array:
    if "battery_capacity_kwh" not in df.columns:
        pct = _grid(df, "battery_pct", ids, steps)
        return np.where(pct > 0, pct, np.nan)
    stored = _grid(df, "stored_kwh", ids, steps) + _grid(df, "community_stored_kwh", ids, steps)
    capacity = _grid(df, "battery_capacity_kwh", ids, steps) + _grid(df, "community_capacity_kwh", ids, steps)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(capacity > 0, 100.0 * stored / capacity, np.nan)


def series_of(df: pd.DataFrame, ids: tuple[str, ...], steps: tuple[int, ...]) -> RunSeries:
    def g(column: str) -> Array:
        return _grid(df, column, ids, steps)

    return RunSeries(
        production_kwh=g("production"),
        consumption_kwh=g("consumption"),
        wallet_usd=g("wallet"),
        grid_buy_kwh=g("grid_buy"),
        grid_sell_kwh=g("grid_sell"),
        p2p_buy_kwh=g("p2p_buy_amount"),
        p2p_sell_kwh=g("p2p_sell_amount"),
        unserved_kwh=g("unserved_kwh"),
        storage_pct=_storage_pct(df, ids, steps),
    )


def playback_of(run: RunFrames) -> Playback:
    trades = trades_by_step(run.optimized, run.run_dir / OPTIMIZED_CSV)
    return Playback(
        run_dir=run.run_dir,
        household_ids=run.household_ids,
        steps=run.steps,
        baseline=series_of(run.baseline, run.household_ids, run.steps),
        optimized=series_of(run.optimized, run.household_ids, run.steps),
        trades=tuple(tuple(trades.get(step, ())) for step in run.steps),
        clock=run.clock,
    )


def load_playback(run_dir: Path) -> Playback:
    """The playback model of a run directory; ``InputError`` naming the file when something is wrong."""
    return playback_of(load_run(run_dir))


def household_details(frame: Frame, index: int) -> str:
    """Everything about one household at the frame's step, as lines of text (the hover box)."""
    h = frame.households[index]
    storage = "no storage" if np.isnan(h.storage_pct) else f"{h.storage_pct:.0f}% full"
    lines = [
        f"{h.household_id}: {h.status} (step {frame.step})",
        f"wallet ${h.wallet_usd:.2f} (alone ${h.baseline_wallet_usd:.2f}, {h.wallet_usd - h.baseline_wallet_usd:+.2f})",
        f"storage {storage}",
        f"production {h.production_kwh:.3f} kWh, consumption {h.consumption_kwh:.3f} kWh",
        f"grid buy {h.grid_buy_kwh:.3f} kWh, grid sell {h.grid_sell_kwh:.3f} kWh",
        f"P2P bought {h.p2p_buy_kwh:.3f} kWh, sold {h.p2p_sell_kwh:.3f} kWh",
    ]
    if h.unserved_kwh > UNSERVED_TOLERANCE_KWH:
        lines.append(f"unserved {h.unserved_kwh:.3f} kWh")
    for t in frame.trades:
        if t.buyer == h.household_id:
            lines.append(f"  from {t.seller}: {t.kwh:.3f} kWh")
        elif t.seller == h.household_id:
            lines.append(f"  to {t.buyer}: {t.kwh:.3f} kWh")
    return "\n".join(lines)
