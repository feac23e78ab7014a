"""Result tables: one row per household per step, the original columns plus every column needed to
check each balance from the CSV alone."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from chain.blocks import MarketPrices, Settlement, Trade
from chain.digest import Digest
from chain.errors import InputError
from chain.genesis import Genesis, Member
from optimizer.settlement import trades_for
from runtime.atomic import write_atomic
from runtime.csv_text import csv_text
from runtime.tables import checked_numbers

ORIGINAL_COLUMNS = (
    "step",
    "household_id",
    "production",
    "consumption",
    "stored_kwh",
    "battery_pct",
    "wallet",
    "grid_buy",
    "grid_sell",
    "p2p_trades",
    "p2p_buy_amount",
    "p2p_sell_amount",
)
EXTRA_COLUMNS = (
    "charge_kwh",
    "discharge_kwh",
    "curtailed_kwh",
    "unserved_kwh",
    "grid_buy_price",
    "grid_sell_price",
    "p2p_price",
    "fees",
    "transfer",
    "cost",
    "grid_import_capacity_kw",
    "grid_export_capacity_kw",
    "stored_kwh_start",
    "battery_capacity_kwh",
    "charge_efficiency",
    "discharge_efficiency",
    "max_power_kw",
    "community_charge_kwh",
    "community_discharge_kwh",
    "community_stored_kwh_start",
    "community_stored_kwh",
    "community_capacity_kwh",
    "community_charge_efficiency",
    "community_discharge_efficiency",
    "community_max_power_kw",
    "dt_hours",
    "mode",
)
"""``charge_kwh``/``discharge_kwh`` are a household's total storage flows (its own battery plus its share
of the community battery, ``community_*``); ``stored_kwh`` is its own battery."""
COLUMNS = ORIGINAL_COLUMNS + EXTRA_COLUMNS


@dataclass(frozen=True, slots=True)
class StepRecord:
    """Everything one step left behind, from a block or from the baseline runner."""

    step: int
    settlements: Sequence[Settlement]
    prices: MarketPrices
    import_kw: float
    export_kw: float
    trades: Sequence[Trade]


def step_records(digest: Digest) -> Iterator[StepRecord]:
    """One record per cleared step, each household's row as finally settled (``Digest.steps``): the step's
    trades are its P2P volumes as settled (the block's trades where delivery kept them)."""
    ids = digest.genesis.household_ids
    for settled in digest.steps():
        rows = settled.settlements
        sold, bought = np.array([s.p2p_sell for s in rows]), np.array([s.p2p_buy for s in rows])
        trades = trades_for(ids, settled.trades, sold, bought, settled.prices.p2p)
        yield StepRecord(settled.step, rows, settled.prices, settled.import_kw, settled.export_kw, trades)


STEPS_PER_CHUNK = 960
"""Steps of result rows built and written at a time (ten days of 15 minutes): a long run's table is never
held as Python rows."""


def results_frame(records: Iterable[StepRecord], genesis: Genesis) -> pd.DataFrame:
    """The result table; wallets start at ``genesis.initial_wallet`` and fall by each step's cost."""
    frames = list(result_chunks(records, genesis))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame([], columns=list(COLUMNS))


def result_chunks(records: Iterable[StepRecord], genesis: Genesis) -> Iterator[pd.DataFrame]:
    """``results_frame`` in pieces of ``STEPS_PER_CHUNK`` steps, in order."""
    members = {m.household: m for m in genesis.members}
    wallet = dict.fromkeys(members, genesis.initial_wallet)
    rows: list[tuple[object, ...]] = []
    for steps, rec in enumerate(records, start=1):
        rows.extend(_rows(rec, members, wallet, genesis.dt_hours))
        if steps % STEPS_PER_CHUNK == 0:
            yield pd.DataFrame(rows, columns=list(COLUMNS))
            rows = []
    if rows:
        yield pd.DataFrame(rows, columns=list(COLUMNS))


def _rows(
    rec: StepRecord, members: dict[str, Member], wallet: dict[str, float], dt_hours: float
) -> Iterator[tuple[object, ...]]:
    """One step's rows; ``wallet`` falls by each household's cost."""
    bought: dict[str, list[str]] = {}
    for t in rec.trades:
        bought.setdefault(t.buyer, []).append(f"{t.seller}:{t.kwh!r}")
    p = rec.prices
    for s in rec.settlements:
        b, cb = members[s.household].battery, members[s.household].shared_battery
        cost = s.cost(p.grid_buy, p.grid_sell, p.p2p)
        wallet[s.household] -= cost
        yield (
            rec.step,
            s.household,
            s.production,
            s.consumption,
            s.soc_after,
            100.0 * s.soc_after / b.capacity_kwh if b.capacity_kwh > 0 else 0.0,
            wallet[s.household],
            s.grid_buy,
            s.grid_sell,
            "-".join(bought.get(s.household, [])),
            s.p2p_buy,
            s.p2p_sell,
            s.charge,
            s.discharge,
            s.curtailed,
            s.unserved,
            p.grid_buy,
            p.grid_sell,
            p.p2p,
            s.fees,
            s.transfer,
            cost,
            rec.import_kw,
            rec.export_kw,
            s.soc_before,
            b.capacity_kwh,
            b.charge_efficiency,
            b.discharge_efficiency,
            b.max_power_kw,
            s.shared_charge,
            s.shared_discharge,
            s.shared_soc_before,
            s.shared_soc_after,
            cb.capacity_kwh,
            cb.charge_efficiency,
            cb.discharge_efficiency,
            cb.max_power_kw,
            dt_hours,
            s.mode,
        )


TEXT_COLUMNS = ("household_id", "p2p_trades", "mode")


def write_csv(frame: pd.DataFrame | Sequence[pd.DataFrame], path: Path) -> None:
    """Full float precision (repr), so that nothing is rounded away; written whole or not at all. A sequence
    of frames (``result_chunks``) is written one after the other, under one header."""
    frames = [frame] if isinstance(frame, pd.DataFrame) else list(frame) or [pd.DataFrame([], columns=list(COLUMNS))]
    write_atomic(path, (csv_text(f, header=i == 0) for i, f in enumerate(frames)))


def read_csv(path: Path) -> pd.DataFrame:
    """A result CSV of this project: every column present, every number a number; ``InputError`` names the
    file, and the column and row of the first bad value (a truncated or edited file)."""
    if not path.is_file():
        raise InputError(f"{path}: missing")
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[], dtype={"p2p_trades": str, "household_id": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in COLUMNS:
        if column not in TEXT_COLUMNS and not is_numeric_dtype(df[column]):
            df[column] = checked_numbers(df, column, path, lo=-np.inf, problem="is not a number")
    return df


def community_cost(frame: pd.DataFrame) -> float:
    """What the community paid over the run ($)."""
    return float(frame["cost"].sum())


def per_household_cost(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("household_id", sort=False)["cost"].sum()


def peak_import_kw(frame: pd.DataFrame) -> float:
    per_step = frame.groupby("step")["grid_buy"].sum()
    dt = float(frame["dt_hours"].iloc[0]) if len(frame) else 1.0
    return float(per_step.max() / dt) if len(per_step) else 0.0
