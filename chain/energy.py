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


def settlement_problems(s: Settlement, battery: BatterySpec, dt_hours: float) -> list[str]:
    """Every way ``s`` breaks physics for ``battery``; empty when it is feasible."""
    tol = TOLERANCE_KWH
    problems = []
    for name, value in zip(
        SETTLEMENT_NUMBERS,
        s.numbers(),
        strict=True,
    ):
        if value < -tol:
            problems.append(f"{name} is negative ({value})")
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
    limit = battery.max_power_kw * dt_hours + tol
    if s.charge > limit or s.discharge > limit:
        problems.append(f"charge/discharge exceeds {battery.max_power_kw} kW")
    expected = soc_after(s.soc_before, s.charge, s.discharge, battery.charge_efficiency, battery.discharge_efficiency)
    if abs(expected - s.soc_after) > tol:
        problems.append(f"soc_after {s.soc_after} does not follow from the battery equation ({expected})")
    if s.soc_after > battery.capacity_kwh + tol:
        problems.append(f"soc_after {s.soc_after} exceeds capacity {battery.capacity_kwh}")
    if s.curtailed > s.production + tol:
        problems.append("curtailed exceeds production")
    if s.unserved > s.consumption + tol:
        problems.append("unserved exceeds consumption")
    return problems
