"""Result tables: one row per household per step, the original columns plus every column needed to
check each balance from the CSV alone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from chain.blocks import Block, MarketPrices, Settlement, Trade
from chain.errors import InputError
from chain.genesis import Genesis
from optimizer.settlement import trades_for
from runtime.atomic import write_atomic
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


def records_from_blocks(blocks: Sequence[Block], genesis: Genesis) -> list[StepRecord]:
    """One record per cleared step, each household's row as finally settled: corrections from later blocks
    (delivery balancing against the meters) replace the planned rows, the step's trades are its P2P
    volumes as settled (the block's trades where delivery kept them), and the closing block's transfers
    are added to the last step."""
    by_step: dict[int, dict[str, Settlement]] = {}
    records: dict[int, Block] = {}
    for block in blocks:
        for c in block.decoded_corrections():
            by_step[c.step][c.household] = c.applied_to(by_step[c.step][c.household])
        if block.step == genesis.steps:
            last = by_step[genesis.steps - 1]
            for s in block.decoded_settlements():
                last[s.household] = replace(last[s.household], transfer=last[s.household].transfer + s.transfer)
            continue
        by_step[block.step] = {s.household: s for s in block.decoded_settlements()}
        records[block.step] = block
    out = []
    for step, b in sorted(records.items()):
        rows = [by_step[step][h] for h in genesis.household_ids]
        sold, bought = np.array([s.p2p_sell for s in rows]), np.array([s.p2p_buy for s in rows])
        trades = trades_for(genesis.household_ids, b.trades, sold, bought, b.prices.p2p)
        out.append(StepRecord(step, rows, b.prices, b.import_capacity_kw, b.export_capacity_kw, trades))
    return out


def results_frame(records: Iterable[StepRecord], genesis: Genesis) -> pd.DataFrame:
    """The result table; wallets start at ``genesis.initial_wallet`` and fall by each step's cost."""
    members = {m.household: m for m in genesis.members}
    wallet = dict.fromkeys(members, genesis.initial_wallet)
    rows = []
    for rec in records:
        bought: dict[str, list[str]] = {}
        for t in rec.trades:
            bought.setdefault(t.buyer, []).append(f"{t.seller}:{t.kwh!r}")
        p = rec.prices
        for s in rec.settlements:
            b, cb = members[s.household].battery, members[s.household].shared_battery
            cost = s.cost(p.grid_buy, p.grid_sell, p.p2p)
            wallet[s.household] -= cost
            rows.append(
                (
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
                    genesis.dt_hours,
                    s.mode,
                )
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


TEXT_COLUMNS = ("household_id", "p2p_trades", "mode")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Full float precision (repr), so that nothing is rounded away; written whole or not at all."""
    write_atomic(path, frame.to_csv(index=False, float_format="%.17g"))


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
