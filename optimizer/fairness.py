"""Closing transfers: how the community's saving is shared when the run closes.

``market``: no transfers; everyone keeps what the market gave them.

``shared_saving`` (budget-balanced): each household ends the run paying what it would have paid alone
(its baseline bill, computed from what its meter measured, with the same batteries, prices and
transformer limits) minus an equal share of the community's saving. Bills are value costs
(``optimizer.valuation``: cash, minus the energy stored at the end at the terminal value, plus unserved
energy at the value of lost load), the same basis as the saving in ``summary.json``. With a bill ``M_i``
from the market and ``B_i`` alone, the saving is ``S = sum_i (B_i - M_i)`` and the transfer
``t_i = B_i - S / N - M_i``: the transfers add up to zero, and when the community saves (S >= 0) nobody
ends worse off than alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chain.genesis import Genesis
from chain.history import History
from optimizer.baseline import baseline_step
from optimizer.flows import Storage
from optimizer.valuation import Valuation

SETTLEMENT_RULES = ("market", "shared_saving")


def baseline_bills(genesis: Genesis, history: History, valuation: Valuation) -> list[float]:
    """What each household would have paid alone over the run, as a value cost, from the measured
    production and consumption and each step's prices and transformer limits ($)."""
    assert history.actual is not None, "the history must keep actuals"
    storage = Storage.from_specs(
        [m.battery for m in genesis.members], [m.shared_battery for m in genesis.members], genesis.community_fee_per_kwh
    )
    soc = np.array([m.battery.initial_soc_kwh for m in genesis.members])
    shared = np.array([m.shared_battery.initial_soc_kwh for m in genesis.members])
    bills = np.zeros(len(genesis.members))
    unserved = np.zeros(len(genesis.members))
    for step in range(genesis.steps):
        record = history.steps[step]
        flows, soc, shared = baseline_step(
            history.actual[:, step, 0],
            history.actual[:, step, 1],
            soc,
            shared,
            storage,
            genesis.dt_hours,
            record.import_kwh,
            record.export_kwh,
        )
        p = record.prices
        bills += flows.grid_buy * p.grid_buy - flows.grid_sell * p.grid_sell + flows.shared_charge * storage.shared_fee
        unserved += flows.unserved
    return [float(b) for b in valuation.cost(bills, soc + shared, unserved)]


def closing_transfers(
    rule: str,
    genesis: Genesis,
    history: History,
    market_bills: Sequence[float],
    valuation: Valuation,
    stored: Sequence[float],
) -> list[float]:
    """Each household's transfer ($; positive pays) by ``rule``; they add up to zero. ``market_bills`` are
    cash, ``stored`` what each household has stored at the end (kWh: the closing block's storage);
    ``history`` (corrected to the end) gives each household's unserved energy."""
    if rule == "market":
        return [0.0] * len(market_bills)
    if rule != "shared_saving":
        raise ValueError(f"unknown settlement rule {rule!r}; use one of {', '.join(SETTLEMENT_RULES)}")
    alone = np.array(baseline_bills(genesis, history, valuation))
    market = valuation.cost(
        np.array(market_bills, dtype=np.float64), np.array(stored, dtype=np.float64), history.unserved
    )
    share = float((alone - market).sum()) / len(market)
    transfers = alone - share - market
    transfers -= transfers.mean()  # exact budget balance despite rounding
    return [float(t) for t in transfers]
