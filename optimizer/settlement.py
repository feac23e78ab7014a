"""From a solved schedule to executed, exactly balanced settlements and bilateral trades.

The solver's numbers are within its tolerance; what is executed must hold exactly (to floating point):
batteries are clipped to what the battery can do, P2P sales and purchases are matched into trades whose
sums define each household's P2P volumes, the grid takes the remainder, and the transformer limits are
enforced pro rata (the excess becomes unserved or curtailed energy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chain.blocks import Settlement, Trade
from optimizer.clearing import Schedule
from optimizer.flows import Array, Batteries, Flows, share_capacity

DUST_KWH = 1e-7
"""Net P2P positions smaller than this are not traded (kWh)."""


@dataclass(frozen=True, slots=True)
class StepPrices:
    """$/kWh"""

    grid_buy: float
    grid_sell: float
    p2p: float


def match_trades(ids: Sequence[str], sell: Array, buy: Array, price: float) -> list[Trade]:
    """Match sellers to buyers in household order (north-west corner rule): at most S + B - 1 trades.

    ``sell`` and ``buy`` should have equal sums; whatever one side has left at the end is not traded.
    """
    sellers = [(ids[i], float(x)) for i, x in enumerate(sell) if x > 0]
    buyers = [(ids[j], float(x)) for j, x in enumerate(buy) if x > 0]
    trades: list[Trade] = []
    i = j = 0
    left_s = sellers[0][1] if sellers else 0.0
    left_b = buyers[0][1] if buyers else 0.0
    while i < len(sellers) and j < len(buyers):
        amount = min(left_s, left_b)
        if amount > _EPS:
            trades.append(Trade(sellers[i][0], buyers[j][0], amount, price))
        left_s -= amount
        left_b -= amount
        if left_s <= _EPS:
            i += 1
            left_s = sellers[i][1] if i < len(sellers) else 0.0
        if left_b <= _EPS:
            j += 1
            left_b = buyers[j][1] if j < len(buyers) else 0.0
    return trades


_EPS = 1e-12


def trade_volumes(ids: Sequence[str], trades: Sequence[Trade]) -> tuple[Array, Array]:
    """(p2p_sell, p2p_buy) per household, summed from the trades."""
    index = {hid: i for i, hid in enumerate(ids)}
    sold = np.zeros(len(ids))
    bought = np.zeros(len(ids))
    for t in trades:
        sold[index[t.seller]] += t.kwh
        bought[index[t.buyer]] += t.kwh
    return sold, bought


def execute_schedule(
    ids: Sequence[str],
    production: Array,
    consumption: Array,
    soc: Array,
    batteries: Batteries,
    dt_hours: float,
    import_kwh: float,
    export_kwh: float,
    schedule: Schedule,
    p2p_price: float,
) -> tuple[Flows, list[Trade]]:
    """Exactly balanced flows and the trades that carry the P2P part of ``schedule``."""
    charge = np.minimum(schedule.charge, batteries.charge_room(soc, dt_hours))
    discharge = np.minimum(schedule.discharge, batteries.discharge_room(soc, dt_hours))
    curtailed = np.minimum(schedule.curtailed, production)
    unserved = np.minimum(schedule.unserved, consumption)
    net = schedule.p2p_sell - schedule.p2p_buy
    net = np.where(np.abs(net) < DUST_KWH, 0.0, net)
    sell, buy = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    total = min(float(sell.sum()), float(buy.sum()))
    if total > 0:
        sell = sell * (total / sell.sum())
        buy = buy * (total / buy.sum())
    trades = match_trades(ids, sell, buy, p2p_price) if total > 0 else []
    p2p_sell, p2p_buy = trade_volumes(ids, trades)
    residual = production + discharge + p2p_buy + unserved - consumption - charge - p2p_sell - curtailed
    grid_buy, refused_import = share_capacity(np.maximum(-residual, 0.0), import_kwh)
    grid_sell, refused_export = share_capacity(np.maximum(residual, 0.0), export_kwh)
    flows = Flows(
        production=production,
        consumption=consumption,
        grid_buy=grid_buy,
        grid_sell=grid_sell,
        p2p_buy=p2p_buy,
        p2p_sell=p2p_sell,
        charge=charge,
        discharge=discharge,
        curtailed=curtailed + refused_export,
        unserved=unserved + refused_import,
    )
    return flows, trades


def settlements_from_flows(
    ids: Sequence[str],
    mode: str,
    flows: Flows,
    soc_before: Array,
    soc_after: Array,
    fee_per_kwh: float,
) -> list[Settlement]:
    """One settlement per household; each side of a P2P trade pays half of ``fee_per_kwh``."""
    fees = (flows.p2p_buy + flows.p2p_sell) * (fee_per_kwh / 2.0)
    return [
        Settlement(
            household=hid,
            mode=mode,
            production=float(flows.production[i]),
            consumption=float(flows.consumption[i]),
            grid_buy=float(flows.grid_buy[i]),
            grid_sell=float(flows.grid_sell[i]),
            p2p_buy=float(flows.p2p_buy[i]),
            p2p_sell=float(flows.p2p_sell[i]),
            charge=float(flows.charge[i]),
            discharge=float(flows.discharge[i]),
            curtailed=float(flows.curtailed[i]),
            unserved=float(flows.unserved[i]),
            soc_before=float(soc_before[i]),
            soc_after=float(soc_after[i]),
            fees=float(fees[i]),
        )
        for i, hid in enumerate(ids)
    ]
