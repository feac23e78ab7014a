"""The baseline policy: every household on its own, no trading.

Per household and step: consume own production first; charge the surplus into the battery, sell the
rest to the grid; cover a deficit from the battery, buy the rest from the grid. The community's
import/export limits are shared pro rata; what is refused is recorded as unserved or curtailed energy.
"""

from __future__ import annotations

import numpy as np

from optimizer.flows import Array, Batteries, Flows, share_capacity


def baseline_step(
    production: Array,
    consumption: Array,
    soc: Array,
    batteries: Batteries,
    dt_hours: float,
    import_kwh: float,
    export_kwh: float,
) -> tuple[Flows, Array]:
    """Flows of one step and the state of charge after it."""
    net = production - consumption
    surplus = np.maximum(net, 0.0)
    deficit = np.maximum(-net, 0.0)
    charge = np.minimum(surplus, batteries.charge_room(soc, dt_hours))
    discharge = np.minimum(deficit, batteries.discharge_room(soc, dt_hours))
    grid_buy, unserved = share_capacity(deficit - discharge, import_kwh)
    grid_sell, curtailed = share_capacity(surplus - charge, export_kwh)
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
        curtailed=curtailed,
        unserved=unserved,
    )
    return flows, batteries.soc_after(soc, charge, discharge)
