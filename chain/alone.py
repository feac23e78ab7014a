"""The baseline policy as a rule: every household on its own, no trading.

Per household and step: consume own production first; charge the surplus into its own battery, then
into its share of the community battery, and sell the rest to the grid; cover a deficit from its own
battery, then from its community-battery share, and buy the rest from the grid. The community's
import/export limits are shared pro rata; what they refuse is recorded as unserved or curtailed energy.

The baseline runner, the market (for absent households and for a step whose clearing failed) and block
validation (which recomputes a fallback step) all call these, so the figures agree bit for bit. Every
array is one value per household (kWh per step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chain.blocks import Settlement
from chain.delivery import Array, Units
from chain.genesis import Genesis, HouseholdId


@dataclass(frozen=True, slots=True)
class Alone:
    """One step of the baseline policy (kWh per step; states of charge after the step in kWh)."""

    grid_buy: Array
    grid_sell: Array
    charge: Array
    discharge: Array
    shared_charge: Array
    shared_discharge: Array
    curtailed: Array
    unserved: Array
    soc_after: Array
    shared_soc_after: Array


def genesis_units(genesis: Genesis) -> tuple[Units, Units]:
    """The members' own batteries and community-battery shares, as columns in member order."""
    own, shared = (
        Units(b.capacity_kwh, b.max_power_kw, b.charge_efficiency, b.discharge_efficiency) for b in genesis.batteries
    )
    return own, shared


def share_capacity(wish: Array, limit_kwh: float) -> tuple[Array, Array]:
    """Grant ``wish`` within a community ``limit_kwh``, cutting everyone pro rata.

    Returns (granted, refused); ``granted + refused == wish``.
    """
    total = float(wish.sum())
    if total <= limit_kwh:
        return wish.copy(), np.zeros_like(wish)
    granted = wish * (limit_kwh / total)
    return granted, wish - granted


def _soc_after(units: Units, soc: Array, charge: Array, discharge: Array) -> Array:
    """``soc + eta_c * charge - discharge / eta_d``, kept within [0, capacity] against rounding."""
    result: Array = soc + units.charge_efficiency * charge - discharge / units.discharge_efficiency
    return np.clip(result, 0.0, units.capacity_kwh)


def act_alone(
    production: Array,
    consumption: Array,
    soc: Array,
    shared_soc: Array,
    units: tuple[Units, Units],
    dt_hours: float,
    limits_kwh: tuple[float, float],
) -> Alone:
    """The baseline policy's step; ``units`` are the (own, community-share) batteries, ``limits_kwh`` the
    transformer's (import, export) room for these households."""
    own, shared = units
    net = production - consumption
    surplus = np.maximum(net, 0.0)
    deficit = np.maximum(-net, 0.0)
    charge = np.minimum(surplus, own.charge_room(soc, dt_hours))
    shared_charge = np.minimum(surplus - charge, shared.charge_room(shared_soc, dt_hours))
    discharge = np.minimum(deficit, own.discharge_room(soc, dt_hours))
    shared_discharge = np.minimum(deficit - discharge, shared.discharge_room(shared_soc, dt_hours))
    grid_buy, unserved = share_capacity(deficit - discharge - shared_discharge, limits_kwh[0])
    grid_sell, curtailed = share_capacity(surplus - charge - shared_charge, limits_kwh[1])
    return Alone(
        grid_buy,
        grid_sell,
        charge,
        discharge,
        shared_charge,
        shared_discharge,
        curtailed,
        unserved,
        _soc_after(own, soc, charge, discharge),
        _soc_after(shared, shared_soc, shared_charge, shared_discharge),
    )


def alone_settlements(
    ids: Sequence[HouseholdId],
    modes: Sequence[str],
    production: Array,
    consumption: Array,
    soc: tuple[Array, Array],
    step: Alone,
    shared_fee: float,
) -> list[Settlement]:
    """The settlements of a baseline step: no P2P, so the only fee is the community battery's service fee;
    ``soc`` are the (own, shared) states of charge before the step."""
    fees = step.shared_charge * shared_fee
    return [
        Settlement(
            hid, modes[i], float(production[i]), float(consumption[i]), float(step.grid_buy[i]),
            float(step.grid_sell[i]), 0.0, 0.0, float(step.charge[i] + step.shared_charge[i]),
            float(step.discharge[i] + step.shared_discharge[i]), float(step.curtailed[i]), float(step.unserved[i]),
            float(soc[0][i]), float(step.soc_after[i]), float(fees[i]), float(step.shared_charge[i]),
            float(step.shared_discharge[i]), float(soc[1][i]), float(step.shared_soc_after[i]), 0.0,
        )
        for i, hid in enumerate(ids)
    ]  # fmt: skip
