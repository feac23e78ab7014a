"""Battery physics and the household energy balance, as pure functions over numbers or arrays.

A step lasts ``dt`` hours; energies are kWh per step; powers kW.

* ``soc_after = soc + eta_c * charge - discharge / eta_d``, ``0 <= soc <= capacity``,
  ``charge, discharge <= max_power * dt``.
* ``production + grid_buy + p2p_buy + discharge + unserved
  == consumption + grid_sell + p2p_sell + charge + curtailed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from chain.blocks import SETTLEMENT_NUMBERS, Settlement
from chain.columns import COLUMN, SettlementTable
from chain.genesis import BatteryColumns, BatterySpec

TOLERANCE_KWH = 1e-7
"""Slack allowed in energy checks (kWh): floating point, never physics."""

Num = TypeVar("Num", float, npt.NDArray[np.float64])


def soc_after(soc: Num, charge: Num, discharge: Num, eta_c: Num | float, eta_d: Num | float) -> Num:
    """State of charge after a step (kWh)."""
    return soc + eta_c * charge - discharge / eta_d


def balance_residual(
    production: Num,
    consumption: Num,
    grid_buy: Num,
    grid_sell: Num,
    p2p_buy: Num,
    p2p_sell: Num,
    charge: Num,
    discharge: Num,
    curtailed: Num,
    unserved: Num,
) -> Num:
    """Sources minus sinks of a household step (kWh); zero when balanced."""
    sources = production + grid_buy + p2p_buy + discharge + unserved
    sinks = consumption + grid_sell + p2p_sell + charge + curtailed
    return sources - sinks


NON_NEGATIVE = tuple(name for name in SETTLEMENT_NUMBERS if name != "transfer")
_NON_NEGATIVE_COLUMNS = [COLUMN[name] for name in NON_NEGATIVE]

BoolArray = npt.NDArray[np.bool_]

Rule = tuple[Any, Callable[[], str]]
"""Whether a rule is broken (a bool for one settlement, a bool column for a table) and what to say."""


def settlement_problems(s: Settlement, battery: BatterySpec, shared: BatterySpec, dt_hours: float) -> list[str]:
    """Every way ``s`` breaks physics for the household's own battery and community-battery share."""
    tol = TOLERANCE_KWH
    problems = [f"{name} is negative ({getattr(s, name)})" for name in NON_NEGATIVE if getattr(s, name) < -tol]
    numbers = {name: getattr(s, name) for name in SETTLEMENT_NUMBERS}
    return problems + [say() for broken, say in _rules(numbers, battery, shared, dt_hours) if broken]


def physics_flags(t: SettlementTable, own: BatteryColumns, shared: BatteryColumns, dt_hours: float) -> BoolArray:
    """The rows for which ``settlement_problems`` finds a problem, found for every row at once: the same
    rules over columns (elementwise float64 operations round exactly as Python's)."""
    flags: BoolArray = np.any(t.numbers[:, _NON_NEGATIVE_COLUMNS] < -TOLERANCE_KWH, axis=1)
    for broken, _ in _rules(dict(zip(SETTLEMENT_NUMBERS, t.numbers.T, strict=True)), own, shared, dt_hours):
        flags |= broken
    return flags


def _rules(
    v: Mapping[str, Any], own: BatterySpec | BatteryColumns, shared: BatterySpec | BatteryColumns, dt_hours: float
) -> Iterator[Rule]:
    """The physics of settlements (``v``: a settlement's numbers by name, floats for one, columns for
    many), but for non-negativity. Written with ``|`` so that it holds for bools and bool columns alike."""
    tol = TOLERANCE_KWH
    residual = balance_residual(
        v["production"],
        v["consumption"],
        v["grid_buy"],
        v["grid_sell"],
        v["p2p_buy"],
        v["p2p_sell"],
        v["charge"],
        v["discharge"],
        v["curtailed"],
        v["unserved"],
    )
    yield abs(residual) > tol, lambda: f"energy balance is off by {residual:.3g} kWh"
    flows = (
        v["charge"] - v["shared_charge"],
        v["discharge"] - v["shared_discharge"],
        v["soc_before"],
        v["soc_after"],
    )
    yield from _battery_rules("battery", own, *flows, dt_hours)
    flows = (v["shared_charge"], v["shared_discharge"], v["shared_soc_before"], v["shared_soc_after"])
    yield from _battery_rules("community battery", shared, *flows, dt_hours)
    yield v["curtailed"] > v["production"] + tol, lambda: "curtailed exceeds production"
    yield v["unserved"] > v["consumption"] + tol, lambda: "unserved exceeds consumption"


def _battery_rules(
    name: str, spec: BatterySpec | BatteryColumns, charge: Any, discharge: Any, before: Any, after: Any, dt: float
) -> Iterator[Rule]:
    """How one battery's step breaks its limits or its equation."""
    tol = TOLERANCE_KWH
    yield (charge < -tol) | (discharge < -tol), lambda: f"{name}: negative charge or discharge"
    limit = spec.max_power_kw * dt + tol
    yield (charge > limit) | (discharge > limit), lambda: f"{name}: charge/discharge exceeds {spec.max_power_kw} kW"
    expected = soc_after(before, charge, discharge, spec.charge_efficiency, spec.discharge_efficiency)
    yield (
        abs(expected - after) > tol,
        lambda: f"{name}: state of charge {after} does not follow from the battery equation ({expected})",
    )
    yield (
        (after > spec.capacity_kwh + tol) | (after < -tol),
        lambda: f"{name}: state of charge {after} outside [0, {spec.capacity_kwh}]",
    )


def community_problems(rows: npt.NDArray[np.float64], import_kwh: float, export_kwh: float) -> list[str]:
    """How a whole step's rows (settlement numbers) break the community's rules: P2P bought = sold, grid
    import and export within the transformer's limits, nothing unserved while it has import room left,
    nothing curtailed while it has export room left."""
    tol = TOLERANCE_KWH * max(1, len(rows))
    names = ("grid_buy", "grid_sell", "unserved", "curtailed", "p2p_buy", "p2p_sell")
    bought, sold, unserved, curtailed, p2p_bought, p2p_sold = (
        float(np.add.reduce(rows[:, COLUMN[name]])) for name in names
    )
    problems = []
    if abs(p2p_bought - p2p_sold) > tol:
        problems.append(f"P2P bought {p2p_bought} != sold {p2p_sold}")
    if bought > import_kwh + tol:
        problems.append("grid import exceeds the transformer's import capacity")
    if sold > export_kwh + tol:
        problems.append("grid export exceeds the transformer's export capacity")
    if unserved > tol and bought < import_kwh - tol:
        problems.append(f"{unserved:.6g} kWh unserved while {import_kwh - bought:.6g} kWh of import room is left")
    if curtailed > tol and sold < export_kwh - tol:
        problems.append(f"{curtailed:.6g} kWh curtailed while {export_kwh - sold:.6g} kWh of export room is left")
    return problems
