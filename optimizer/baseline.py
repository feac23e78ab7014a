"""The baseline policy: every household on its own, no trading.

Per household and step: consume own production first; charge the surplus into its own battery, then
into its share of the community battery, and sell the rest to the grid; cover a deficit from its own
battery, then from its community-battery share, and buy the rest from the grid. The community's
import/export limits are shared pro rata; what they refuse is recorded as unserved or curtailed energy.
"""

from __future__ import annotations

import numpy as np

from optimizer.flows import Array, Flows, Storage, share_capacity


def baseline_step(
    production: Array,
    consumption: Array,
    soc: Array,
    shared_soc: Array,
    storage: Storage,
    dt_hours: float,
    import_kwh: float,
    export_kwh: float,
) -> tuple[Flows, Array, Array]:
    """Flows of one step and the states of charge (own, shared) after it."""
    net = production - consumption
    surplus = np.maximum(net, 0.0)
    deficit = np.maximum(-net, 0.0)
    charge = np.minimum(surplus, storage.own.charge_room(soc, dt_hours))
    shared_charge = np.minimum(surplus - charge, storage.shared.charge_room(shared_soc, dt_hours))
    discharge = np.minimum(deficit, storage.own.discharge_room(soc, dt_hours))
    shared_discharge = np.minimum(deficit - discharge, storage.shared.discharge_room(shared_soc, dt_hours))
    grid_buy, unserved = share_capacity(deficit - discharge - shared_discharge, import_kwh)
    grid_sell, curtailed = share_capacity(surplus - charge - shared_charge, export_kwh)
    zeros = np.zeros_like(production)
    flows = Flows(
        production=production,
        consumption=consumption,
        grid_buy=grid_buy,
        grid_sell=grid_sell,
        p2p_buy=zeros,
        p2p_sell=zeros,
        charge=charge,
        discharge=discharge,
        shared_charge=shared_charge,
        shared_discharge=shared_discharge,
        curtailed=curtailed,
        unserved=unserved,
    )
    return (
        flows,
        storage.own.soc_after(soc, charge, discharge),
        storage.shared.soc_after(shared_soc, shared_charge, shared_discharge),
    )
