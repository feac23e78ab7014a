"""Per-household energy flows of one step as arrays, and the storage they run through.

Each household may have its own battery and a share of the community battery (a partition of the
shared unit in proportion to its share). Both are ``Batteries`` arrays aligned with the households.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chain.delivery import Units
from chain.genesis import BatterySpec

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Batteries:
    """Battery parameters of N households, as arrays of shape (N,); capacity 0 means none."""

    capacity_kwh: Array
    max_power_kw: Array
    charge_efficiency: Array
    discharge_efficiency: Array

    @classmethod
    def from_specs(cls, specs: Sequence[BatterySpec]) -> Batteries:
        return cls(
            np.array([b.capacity_kwh for b in specs], dtype=np.float64),
            np.array([b.max_power_kw if b.capacity_kwh > 0 else 0.0 for b in specs], dtype=np.float64),
            np.array([b.charge_efficiency for b in specs], dtype=np.float64),
            np.array([b.discharge_efficiency for b in specs], dtype=np.float64),
        )

    def subset(self, mask: Mask) -> Batteries:
        return Batteries(
            self.capacity_kwh[mask],
            self.max_power_kw[mask],
            self.charge_efficiency[mask],
            self.discharge_efficiency[mask],
        )

    def units(self) -> Units:
        """The same batteries as the delivery rules' columns."""
        return Units(self.capacity_kwh, self.max_power_kw, self.charge_efficiency, self.discharge_efficiency)

    def soc_after(self, soc: Array, charge: Array, discharge: Array) -> Array:
        """``soc + eta_c * charge - discharge / eta_d`` (kWh), kept within [0, capacity] against rounding
        (charge and discharge never exceed what the battery can take or give)."""
        result: Array = soc + self.charge_efficiency * charge - discharge / self.discharge_efficiency
        return np.clip(result, 0.0, self.capacity_kwh)

    def charge_room(self, soc: Array, dt_hours: float) -> Array:
        """Most energy that can be charged this step (kWh drawn from the bus)."""
        room: Array = np.minimum(
            self.max_power_kw * dt_hours, np.maximum(self.capacity_kwh - soc, 0.0) / self.charge_efficiency
        )
        return room

    def discharge_room(self, soc: Array, dt_hours: float) -> Array:
        """Most energy that can be discharged this step (kWh delivered to the bus)."""
        room: Array = np.minimum(self.max_power_kw * dt_hours, np.maximum(soc, 0.0) * self.discharge_efficiency)
        return room


@dataclass(frozen=True, slots=True)
class Storage:
    """Every household's own battery and its partition of the community battery."""

    own: Batteries
    shared: Batteries
    shared_fee: float
    """Service fee per kWh charged into the community battery ($/kWh)."""

    @classmethod
    def from_specs(cls, own: Sequence[BatterySpec], shared: Sequence[BatterySpec], shared_fee: float) -> Storage:
        return cls(Batteries.from_specs(own), Batteries.from_specs(shared), shared_fee)

    def subset(self, mask: Mask) -> Storage:
        return Storage(self.own.subset(mask), self.shared.subset(mask), self.shared_fee)

    @property
    def size(self) -> int:
        return int(self.own.capacity_kwh.size)


@dataclass(frozen=True, slots=True)
class Flows:
    """Energies of N households in one step (kWh per step), arrays of shape (N,).

    ``charge``/``discharge`` are the household's own battery; ``shared_*`` its community-battery share.
    """

    production: Array
    consumption: Array
    grid_buy: Array
    grid_sell: Array
    p2p_buy: Array
    p2p_sell: Array
    charge: Array
    discharge: Array
    shared_charge: Array
    shared_discharge: Array
    curtailed: Array
    unserved: Array


@dataclass(frozen=True, slots=True)
class GridWindow:
    """The grid over the horizon: prices ($/kWh) and limits (kW), arrays of shape (H,)."""

    buy_price: Array
    sell_price: Array
    import_kw: Array
    export_kw: Array
