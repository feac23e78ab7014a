"""The baseline policy: every household on its own, no trading (``chain.alone`` states the rule).

Per household and step: consume own production first; charge the surplus into its own battery, then
into its share of the community battery, and sell the rest to the grid; cover a deficit from its own
battery, then from its community-battery share, and buy the rest from the grid. The community's
import/export limits are shared pro rata; what they refuse is recorded as unserved or curtailed energy.
"""

from __future__ import annotations

import numpy as np

from chain.alone import act_alone
from optimizer.flows import Array, Flows, Storage


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
    step = act_alone(
        production,
        consumption,
        soc,
        shared_soc,
        (storage.own.units(), storage.shared.units()),
        dt_hours,
        (import_kwh, export_kwh),
    )
    zeros = np.zeros_like(production)
    flows = Flows(
        production=production,
        consumption=consumption,
        grid_buy=step.grid_buy,
        grid_sell=step.grid_sell,
        p2p_buy=zeros,
        p2p_sell=zeros,
        charge=step.charge,
        discharge=step.discharge,
        shared_charge=step.shared_charge,
        shared_discharge=step.shared_discharge,
        curtailed=step.curtailed,
        unserved=step.unserved,
    )
    return flows, step.soc_after, step.shared_soc_after
