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
from chain.genesis import BatterySpec

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
