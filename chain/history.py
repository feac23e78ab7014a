"""What a block is checked against besides the state: earlier block hashes, each step's prices and grid
limits, and the rows of steps not yet settled against every household's meter.

A step is settled at delivery (``chain.delivery``): each household's storage takes up its deviation from
the plan (``readings``: what its controller did, reported with its meter reading), then the community
balances what is left (``plan_corrections``: the balancing pool, the grid within the step's remaining
limits, and only then curtailed or unserved energy).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chain.blocks import CORRECTION_NUMBERS, Correction, MarketPrices
from chain.columns import COLUMN, SettlementTable, row_costs
from chain.delivery import Position, Storage, Units, absorb, balance, storage_range
from chain.errors import ReplayError
from chain.genesis import BatteryColumns, Genesis, HouseholdId
from chain.offers import MeterReading

Rows = npt.NDArray[np.float64]
"""(households, len(SETTLEMENT_NUMBERS)) settlement numbers."""
_C = COLUMN
_N = len(CORRECTION_NUMBERS)


@dataclass(frozen=True, slots=True)
class StepRecord:
    prices: MarketPrices
    import_kwh: float
    """The step's import limit (kWh)."""
    export_kwh: float
    """The step's export limit (kWh)."""

    def pool_open(self, fee_per_kwh: float) -> bool:
        """Whether the balancing pool may trade: its price leaves each side at least the grid's deal once
        the fee is paid."""
        p = self.prices
        return p.grid_sell + fee_per_kwh / 2 <= p.p2p <= p.grid_buy - fee_per_kwh / 2


@dataclass(frozen=True, slots=True)
class Planned:
    """Corrections for a block's meter readings, and what they add to each household's bill (genesis
    order, $)."""

    corrections: list[Correction]
    costs: list[float]
    metered: frozenset[tuple[HouseholdId, int]]
    """The (household, step) pairs the corrections settle against a meter; the others revise a row."""


def _units(columns: BatteryColumns) -> Units:
    return Units(columns.capacity_kwh, columns.max_power_kw, columns.charge_efficiency, columns.discharge_efficiency)


def _take(units: Units, idx: npt.NDArray[np.int64]) -> Units:
    return Units(
        units.capacity_kwh[idx], units.max_power_kw[idx], units.charge_efficiency[idx], units.discharge_efficiency[idx]
    )


def _locked(
    ranges: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    net: npt.NDArray[np.float64],
    free: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``ranges`` where ``free``; elsewhere the storage is held at ``net`` (what it already did)."""
    return np.where(free, ranges[0], net), np.where(free, ranges[1], net)


def _position(rows: Rows) -> Position:
    return Position(rows[:, _C["grid_buy"]], rows[:, _C["grid_sell"]], rows[:, _C["p2p_buy"]], rows[:, _C["p2p_sell"]])


class History:
    """Mutable companion of ``ChainState``, updated block by block after validation.

    ``keep_actuals`` keeps every household's measured (or, until measured, planned) production and
    consumption of every step: what the closing transfers are computed from.
    """

    def __init__(self, genesis: Genesis, *, keep_actuals: bool = False) -> None:
        self.genesis = genesis
        self.index = {hid: i for i, hid in enumerate(genesis.household_ids)}
        self.hashes: list[bytes] = []
        self.steps: dict[int, StepRecord] = {}
        self.open_rows: dict[int, Rows] = {}
        """step -> each household's settlement numbers as they stand (planned, or settled at delivery)."""
        n = len(genesis.members)
        self.metered_through = np.full(n, -1, dtype=np.int64)
        self.settled_soc = np.array(
            [[m.battery.initial_soc_kwh, m.shared_battery.initial_soc_kwh] for m in genesis.members], dtype=np.float64
        ).reshape(n, 2)
        """Own and shared state of charge at the end of each household's last step settled at delivery."""
        self.units = (_units(genesis.batteries[0]), _units(genesis.batteries[1]))
        self.unserved = np.zeros(n)
        """Each household's unserved energy so far, every step as it stands (kWh)."""
        self.actual = np.zeros((n, genesis.steps, 2)) if keep_actuals else None

    def hash_at(self, height: int) -> bytes:
        return self.hashes[height]

    def record_step(
        self, step: int, settlements: SettlementTable, prices: MarketPrices, limits_kwh: tuple[float, float]
    ) -> None:
        self.steps[step] = StepRecord(prices, *limits_kwh)
        self.open_rows[step] = np.array(settlements.numbers)  # a copy: rows change when settled at delivery
        self.unserved += self.open_rows[step][:, _C["unserved"]]
        if self.actual is not None:
            self.actual[:, step, 0] = self.open_rows[step][:, _C["production"]]
            self.actual[:, step, 1] = self.open_rows[step][:, _C["consumption"]]

    def readings(
        self, household: HouseholdId, measured: Sequence[tuple[int, float, float]]
    ) -> tuple[list[MeterReading], tuple[float, float]]:
        """The household's meter readings for ``measured`` (step, production, consumption), in order from
        its first step not yet settled, with what its storage did (``chain.delivery.absorb``), and its
        states of charge (own, shared) after the last of them."""
        return self.readings_of({household: measured})[household]

    def readings_of(
        self, measured: Mapping[HouseholdId, Sequence[tuple[int, float, float]]]
    ) -> dict[HouseholdId, tuple[list[MeterReading], tuple[float, float]]]:
        """``readings`` of several households at once: the k-th reading of every household that has one is
        computed as one column per household (each number as ``readings`` alone gives it: every operation is
        elementwise)."""
        hids = list(measured)
        rows_of = np.array([self.index[h] for h in hids], dtype=np.int64)
        soc = self.settled_soc[rows_of].copy()
        dt = self.genesis.dt_hours
        out: dict[HouseholdId, list[MeterReading]] = {h: [] for h in hids}
        for k in range(max((len(m) for m in measured.values()), default=0)):
            sel = np.array([j for j, h in enumerate(hids) if len(measured[h]) > k], dtype=np.int64)
            taken = [measured[hids[j]][k] for j in sel.tolist()]
            idx = rows_of[sel]
            own_units, shared_units = (_take(u, idx) for u in self.units)
            rows = np.stack([self.open_rows[step][i] for (step, _, _), i in zip(taken, idx.tolist(), strict=True)])
            before = soc[sel]
            planned = Storage(
                rows[:, _C["discharge"]]
                - rows[:, _C["shared_discharge"]]
                - (rows[:, _C["charge"]] - rows[:, _C["shared_charge"]]),
                rows[:, _C["shared_discharge"]] - rows[:, _C["shared_charge"]],
                storage_range(own_units, before[:, 0], dt),
                storage_range(shared_units, before[:, 1], dt),
            )
            production = np.array([p for _, p, _ in taken])
            consumption = np.array([c for _, _, c in taken])
            own, shared = absorb(planned, production, consumption, _position(rows))
            for j, (step, p, c), o, sh in zip(sel.tolist(), taken, own.tolist(), shared.tolist(), strict=True):
                out[hids[j]].append(MeterReading(step, p, c, max(-o, 0.0), max(o, 0.0), max(-sh, 0.0), max(sh, 0.0)))
            soc[sel, 0] = own_units.soc_after(before[:, 0], own)
            soc[sel, 1] = shared_units.soc_after(before[:, 1], shared)
        return {h: (out[h], (float(soc[j, 0]), float(soc[j, 1]))) for j, h in enumerate(hids)}

    def check_readings_of(
        self, readings: Mapping[HouseholdId, Sequence[MeterReading]], step: int
    ) -> dict[HouseholdId, tuple[float, float] | ReplayError | None]:
        """Each household's meter readings must continue where the ledger's end for it, in order, before
        ``step``, with the storage its controller runs. For each household, the states of charge they leave
        for ``step`` (None when they do not reach the step before it), or the error its readings raise
        (returned, so that the caller names the first household's in its own order)."""
        out: dict[HouseholdId, tuple[float, float] | ReplayError | None] = {}
        measured: dict[HouseholdId, list[tuple[int, float, float]]] = {}
        for household, theirs in readings.items():
            expected = int(self.metered_through[self.index[household]]) + 1
            for r in theirs:
                if r.step != expected or r.step >= step or not self.is_open(r.step):
                    out[household] = ReplayError(
                        f"{household}: meter reading for step {r.step} where step {expected} was due"
                    )
                    break
                expected += 1
            else:
                measured[household] = [(r.step, r.production, r.consumption) for r in theirs]
        for household, (ours, soc) in self.readings_of(measured).items():
            theirs = readings[household]
            out[household] = soc if theirs and theirs[-1].step == step - 1 else None
            for t, mine in zip(theirs, ours, strict=True):
                if t.storage() != mine.storage():
                    out[household] = ReplayError(
                        f"{household}: storage in the meter reading for step {t.step} is {t.storage()}, "
                        f"where its controller runs {mine.storage()}"
                    )
                    break
        return out

    def plan_corrections(self, readings: Sequence[tuple[HouseholdId, MeterReading]]) -> Planned:
        """The corrections for ``readings`` (checked by ``check_readings_of``), step by step, and each
        household's cost change; nothing changes.

        Each step read is balanced again as a whole: the households read for it settle with their readings
        and their storage as their controllers ran it; every other household of the step keeps its
        production, consumption and storage as they stand (planned, or settled earlier) and may see its
        trades and grid flows change (a correction that does not meter it)."""
        by_step: dict[int, list[tuple[int, MeterReading]]] = {}
        for household, r in readings:
            by_step.setdefault(r.step, []).append((self.index[household], r))
        costs = np.zeros(len(self.index))
        soc = self.settled_soc.copy()
        ids = self.genesis.household_ids
        out: list[Correction] = []
        for step in sorted(by_step):
            batch = sorted(by_step[step], key=lambda x: x[0])
            idx = np.array([i for i, _ in batch], dtype=np.int64)
            rows = self.open_rows[step]
            new = self._settle(step, rows, idx, [r for _, r in batch], soc[idx])
            prices = self.steps[step].prices
            costs += row_costs(new, prices) - row_costs(rows, prices)
            soc[idx, 0] = new[idx, _C["soc_after"]]
            soc[idx, 1] = new[idx, _C["shared_soc_after"]]
            touched = np.any(new != rows, axis=1)
            touched[idx] = True
            out += [Correction(ids[i], step, *new[i, :_N].tolist()) for i in np.flatnonzero(touched).tolist()]
        metered = frozenset((household, r.step) for household, r in readings)
        return Planned(out, costs.tolist(), metered)

    def _settle(
        self, step: int, rows: Rows, idx: npt.NDArray[np.int64], readings: Sequence[MeterReading], soc: Rows
    ) -> Rows:
        """Every row of ``step`` settled at delivery: households ``idx`` from their ``readings``, starting
        from states of charge ``soc`` (own, shared); the others with their figures and storage as they
        stand."""
        record, dt, g = self.steps[step], self.genesis.dt_hours, self.genesis
        own_units, shared_units = self.units
        c = {
            name: rows[:, _C[name]].copy() for name in ("production", "consumption", "soc_before", "shared_soc_before")
        }
        shared_net = rows[:, _C["shared_discharge"]] - rows[:, _C["shared_charge"]]
        own_net = rows[:, _C["discharge"]] - rows[:, _C["charge"]] - shared_net
        storage = np.array([r.storage() for r in readings], dtype=np.float64).reshape(len(readings), 4)
        own_net[idx], shared_net[idx] = storage[:, 1] - storage[:, 0], storage[:, 3] - storage[:, 2]
        c["production"][idx] = [r.production for r in readings]
        c["consumption"][idx] = [r.consumption for r in readings]
        c["soc_before"][idx], c["shared_soc_before"][idx] = soc[:, 0], soc[:, 1]
        free = np.zeros(len(rows), dtype=bool)
        free[idx] = True
        own_range = _locked(storage_range(own_units, c["soc_before"], dt), own_net, free)
        shared_range = _locked(storage_range(shared_units, c["shared_soc_before"], dt), shared_net, free)
        b = balance(
            Storage(own_net, shared_net, own_range, shared_range),
            c["production"],
            c["consumption"],
            _position(rows),
            (record.import_kwh, record.export_kwh),
            pool=record.pool_open(g.p2p_fee_per_kwh),
        )
        shared_charge, shared_discharge = np.maximum(-b.shared, 0.0), np.maximum(b.shared, 0.0)
        new = np.zeros_like(rows)
        columns = {
            "production": c["production"],
            "consumption": c["consumption"],
            "grid_buy": b.grid_buy,
            "grid_sell": b.grid_sell,
            "p2p_buy": b.p2p_buy,
            "p2p_sell": b.p2p_sell,
            "charge": np.maximum(-b.own, 0.0) + shared_charge,
            "discharge": np.maximum(b.own, 0.0) + shared_discharge,
            "curtailed": b.curtailed,
            "unserved": b.unserved,
            "soc_before": c["soc_before"],
            "soc_after": np.where(free, own_units.soc_after(c["soc_before"], b.own), rows[:, _C["soc_after"]]),
            "fees": (b.p2p_buy + b.p2p_sell) * (g.p2p_fee_per_kwh / 2.0) + shared_charge * g.community_fee_per_kwh,
            "shared_charge": shared_charge,
            "shared_discharge": shared_discharge,
            "shared_soc_before": c["shared_soc_before"],
            "shared_soc_after": np.where(
                free, shared_units.soc_after(c["shared_soc_before"], b.shared), rows[:, _C["shared_soc_after"]]
            ),
            "transfer": rows[:, _C["transfer"]],
        }
        for name, values in columns.items():
            new[:, _C[name]] = values
        return new

    def rows_with(self, corrections: Sequence[Correction]) -> dict[int, Rows]:
        """Every step ``corrections`` touch, its rows as they would stand with them; nothing changes."""
        out: dict[int, Rows] = {}
        for c in corrections:
            rows = out.get(c.step)
            if rows is None:
                rows = out[c.step] = self.open_rows[c.step].copy()
            rows[self.index[c.household], :_N] = c.numbers()
        return out

    def with_corrections(self, planned: Planned) -> History:
        """A copy of this history with ``planned``'s corrections applied; this one is unchanged."""
        other = copy.deepcopy(self)
        other.commit(planned.corrections, planned.metered)
        return other

    def commit(self, corrections: Sequence[Correction], metered: Collection[tuple[HouseholdId, int]]) -> None:
        for c in corrections:
            self._enter(c, (c.household, c.step) in metered)
        self._prune()

    def _enter(self, c: Correction, metered: bool) -> None:
        i = self.index[c.household]
        self.unserved[i] += c.unserved - self.open_rows[c.step][i, _C["unserved"]]
        self.open_rows[c.step][i, :_N] = c.numbers()
        if not metered:
            return
        self.metered_through[i] = c.step
        self.settled_soc[i] = (c.soc_after, c.shared_soc_after)
        if self.actual is not None:
            self.actual[i, c.step] = (c.production, c.consumption)

    def _prune(self) -> None:
        done = int(self.metered_through.min())
        for step in [s for s in self.open_rows if s <= done]:
            del self.open_rows[step]
            if self.actual is None:
                del self.steps[step]

    def is_open(self, step: int) -> bool:
        return step in self.open_rows
