"""Battery physics and the household energy balance, as pure functions over numbers or arrays.

A step lasts ``dt`` hours; energies are kWh per step; powers kW.

* ``soc_after = soc + eta_c * charge - discharge / eta_d``, ``0 <= soc <= capacity``,
  ``charge, discharge <= max_power * dt``.
* ``production + grid_buy + p2p_buy + discharge + unserved
  == consumption + grid_sell + p2p_sell + charge + curtailed``.
"""

from __future__ import annotations

from typing import TypeVar

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


def settlement_problems(s: Settlement, battery: BatterySpec, shared: BatterySpec, dt_hours: float) -> list[str]:
    """Every way ``s`` breaks physics for the household's own battery and community-battery share."""
    tol = TOLERANCE_KWH
    problems = [f"{name} is negative ({getattr(s, name)})" for name in NON_NEGATIVE if getattr(s, name) < -tol]
    residual = balance_residual(
        s.production,
        s.consumption,
        s.grid_buy,
        s.grid_sell,
        s.p2p_buy,
        s.p2p_sell,
        s.charge,
        s.discharge,
        s.curtailed,
        s.unserved,
    )
    if abs(residual) > tol:
        problems.append(f"energy balance is off by {residual:.3g} kWh")
    own = (s.charge - s.shared_charge, s.discharge - s.shared_discharge, s.soc_before, s.soc_after)
    shares = (s.shared_charge, s.shared_discharge, s.shared_soc_before, s.shared_soc_after)
    for name, spec, (charge, discharge, before, after) in (
        ("battery", battery, own),
        ("community battery", shared, shares),
    ):
        problems += battery_problems(name, spec, charge, discharge, before, after, dt_hours)
    if s.curtailed > s.production + tol:
        problems.append("curtailed exceeds production")
    if s.unserved > s.consumption + tol:
        problems.append("unserved exceeds consumption")
    return problems


def battery_problems(
    name: str, spec: BatterySpec, charge: float, discharge: float, before: float, after: float, dt_hours: float
) -> list[str]:
    """How one battery's step breaks its limits or its equation."""
    tol = TOLERANCE_KWH
    problems = []
    if charge < -tol or discharge < -tol:
        problems.append(f"{name}: negative charge or discharge")
    limit = spec.max_power_kw * dt_hours + tol
    if charge > limit or discharge > limit:
        problems.append(f"{name}: charge/discharge exceeds {spec.max_power_kw} kW")
    expected = soc_after(before, charge, discharge, spec.charge_efficiency, spec.discharge_efficiency)
    if abs(expected - after) > tol:
        problems.append(f"{name}: state of charge {after} does not follow from the battery equation ({expected})")
    if after > spec.capacity_kwh + tol or after < -tol:
        problems.append(f"{name}: state of charge {after} outside [0, {spec.capacity_kwh}]")
    return problems


def physics_flags(t: SettlementTable, own: BatteryColumns, shared: BatteryColumns, dt_hours: float) -> BoolArray:
    """The rows for which ``settlement_problems`` finds a problem, found for every row at once: the same
    comparisons over the same arithmetic (elementwise float64 operations round exactly as Python's)."""
    tol = TOLERANCE_KWH
    c = t.column
    flags: BoolArray = np.any(t.numbers[:, _NON_NEGATIVE_COLUMNS] < -tol, axis=1)
    residual = balance_residual(
        c("production"),
        c("consumption"),
        c("grid_buy"),
        c("grid_sell"),
        c("p2p_buy"),
        c("p2p_sell"),
        c("charge"),
        c("discharge"),
        c("curtailed"),
        c("unserved"),
    )
    flags |= np.abs(residual) > tol
    own_flows = (c("charge") - c("shared_charge"), c("discharge") - c("shared_discharge"))
    flags |= battery_flags(own, *own_flows, c("soc_before"), c("soc_after"), dt_hours)
    shared_flows = (c("shared_charge"), c("shared_discharge"))
    flags |= battery_flags(shared, *shared_flows, c("shared_soc_before"), c("shared_soc_after"), dt_hours)
    flags |= c("curtailed") > c("production") + tol
    flags |= c("unserved") > c("consumption") + tol
    return flags


def battery_flags(
    spec: BatteryColumns,
    charge: npt.NDArray[np.float64],
    discharge: npt.NDArray[np.float64],
    before: npt.NDArray[np.float64],
    after: npt.NDArray[np.float64],
    dt_hours: float,
) -> BoolArray:
    """The rows for which ``battery_problems`` finds a problem."""
    tol = TOLERANCE_KWH
    limit = spec.max_power_kw * dt_hours + tol
    expected = soc_after(before, charge, discharge, spec.charge_efficiency, spec.discharge_efficiency)
    flags: BoolArray = (charge < -tol) | (discharge < -tol) | (charge > limit) | (discharge > limit)
    flags |= np.abs(expected - after) > tol
    flags |= (after > spec.capacity_kwh + tol) | (after < -tol)
    return flags
