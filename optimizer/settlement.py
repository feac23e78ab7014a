"""From a solved schedule to executed, exactly balanced settlements and bilateral trades.

The solver's numbers are within its tolerance; what is executed must hold exactly (to floating point):
P2P positions become trades (the ring's link flows, or the pool's net positions matched seller to
buyer) of at least the minimum size, whose sums define each household's P2P volumes; storage is kept
within what each unit can do, and the grid takes the remainder within the transformer limits, pro rata
(``chain.delivery.balance`` without the pool: what the limits refuse is met by storage where it can,
and only the rest becomes unserved or curtailed energy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from chain.blocks import Settlement, Trade
from chain.delivery import Balanced, Position, balance, storage_range
from chain.delivery import Storage as Stored
from optimizer.flows import Array, Flows, Storage
from optimizer.programme import Schedule

DUST_KWH = 1e-7
"""Net P2P positions smaller than this are not traded (kWh)."""
_EPS = 1e-12


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


def match_volumes(ids: Sequence[str], sell: Array, buy: Array, price: float) -> list[Trade]:
    """Trades between different households that carry each household's P2P sales ``sell`` and purchases
    ``buy`` (kWh), a household that relays energy buying and selling at once.

    They add up to the volumes exactly (to rounding) where both sums are equal and no household's purchase
    and sale together exceed the total ``T`` (``chain.delivery.tradable`` keeps settled volumes so). Where
    nobody both buys and sells, this is ``match_trades``. Otherwise the sales are laid out one after the
    other on a circle of length ``T``, in household order, and the purchases too, shifted by the offset
    ``max_k (S_k - B_k + s_k)`` over the households that do both (``S_k``, ``B_k``: what the households
    before ``k`` sell and buy): each of them then begins its purchase where its sale ends and ends it
    before its sale begins again, so a trade is where a sale and a purchase of two different households
    overlap, at most S + B of them."""
    both = (sell > 0.0) & (buy > 0.0)
    if not both.any():
        return match_trades(ids, sell, buy, price)
    total = min(float(np.add.reduce(sell)), float(np.add.reduce(buy)))
    starts_s = np.concatenate(([0.0], np.cumsum(sell)[:-1]))
    starts_b = np.concatenate(([0.0], np.cumsum(buy)[:-1]))
    shift = float(np.max((starts_s - starts_b + sell)[both]))
    sales = [(float(a), min(float(a + x), total), i) for i, (a, x) in enumerate(zip(starts_s, sell, strict=True))]
    purchases: list[tuple[float, float, int]] = []
    for j, (a, x) in enumerate(zip(starts_b, buy, strict=True)):
        begin = float((a + shift) % total)
        end = begin + float(x)
        purchases += [(begin, min(end, total), j)] + ([(0.0, end - total, j)] if end > total else [])
    sales = [p for p in sales if p[1] > p[0]]
    purchases = sorted((p for p in purchases if p[1] > p[0]), key=lambda p: p[0])
    amounts: dict[tuple[int, int], float] = {}
    i = j = 0
    while i < len(sales) and j < len(purchases):
        (a_s, e_s, seller), (a_b, e_b, buyer) = sales[i], purchases[j]
        overlap = min(e_s, e_b) - max(a_s, a_b)
        if overlap > 0.0 and seller != buyer:  # a household meets itself only by rounding
            amounts[(seller, buyer)] = amounts.get((seller, buyer), 0.0) + overlap
        if e_s <= e_b:
            i += 1
        else:
            j += 1
    return [Trade(ids[s], ids[b], kwh, price) for (s, b), kwh in amounts.items() if kwh > _EPS]


def trade_volumes(ids: Sequence[str], trades: Sequence[Trade]) -> tuple[Array, Array]:
    """(p2p_sell, p2p_buy) per household, summed from the trades."""
    index = {hid: i for i, hid in enumerate(ids)}
    sold = np.zeros(len(ids))
    bought = np.zeros(len(ids))
    for t in trades:
        sold[index[t.seller]] += t.kwh
        bought[index[t.buyer]] += t.kwh
    return sold, bought


def schedule_trades(ids: Sequence[str], schedule: Schedule, price: float, min_trade_kwh: float) -> list[Trade]:
    """The trades that carry a schedule's P2P part: its link flows, or its pool positions matched."""
    if schedule.edges is not None:
        trades = [Trade(ids[s], ids[b], kwh, price) for s, b, kwh in schedule.edges if kwh > DUST_KWH]
    else:
        net = schedule.p2p_sell - schedule.p2p_buy
        net = np.where(np.abs(net) < DUST_KWH, 0.0, net)
        sell, buy = np.maximum(net, 0.0), np.maximum(-net, 0.0)
        total = min(float(sell.sum()), float(buy.sum()))
        if total <= 0:
            return []
        trades = match_trades(ids, sell * (total / sell.sum()), buy * (total / buy.sum()), price)
    return [t for t in trades if t.kwh >= min_trade_kwh]


def delivery_storage(storage: Storage, own: Array, shared: Array, soc: Array, shared_soc: Array, dt: float) -> Stored:
    """Storage net outputs (discharge - charge, kWh) with what each unit can do from its state of charge
    (``chain.delivery.storage_range``, the rule nodes and ``verify`` apply)."""

    return Stored(
        own, shared, storage_range(storage.own.units(), soc, dt), storage_range(storage.shared.units(), shared_soc, dt)
    )


def executed_flows(production: Array, consumption: Array, done: Balanced) -> Flows:
    """A balanced step as flows: storage net outputs split into charge and discharge."""
    return Flows(
        production=production,
        consumption=consumption,
        grid_buy=done.grid_buy,
        grid_sell=done.grid_sell,
        p2p_buy=done.p2p_buy,
        p2p_sell=done.p2p_sell,
        charge=np.maximum(-done.own, 0.0),
        discharge=np.maximum(done.own, 0.0),
        shared_charge=np.maximum(-done.shared, 0.0),
        shared_discharge=np.maximum(done.shared, 0.0),
        curtailed=done.curtailed,
        unserved=done.unserved,
    )


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """What a step is to execute, per household (N,): the step's production and consumption (kWh), states
    of charge at its start (kWh), storage net outputs (discharge - charge, kWh) as planned, and trades."""

    production: Array
    consumption: Array
    soc: Array
    shared_soc: Array
    own: Array
    shared: Array
    trades: Sequence[Trade]
    price: float


def execute_step(
    ids: Sequence[str], plan: PlannedStep, storage: Storage, dt_hours: float, limits_kwh: tuple[float, float]
) -> tuple[Flows, list[Trade]]:
    """Exactly balanced flows of a planned step and the trades that carry their P2P volumes
    (``chain.delivery.balance`` without the pool; ``limits_kwh`` is the transformer's (import, export))."""
    p2p_sell, p2p_buy = trade_volumes(ids, plan.trades)
    zero = np.zeros(len(ids))
    done = balance(
        delivery_storage(storage, plan.own, plan.shared, plan.soc, plan.shared_soc, dt_hours),
        plan.production,
        plan.consumption,
        Position(zero, zero, p2p_buy, p2p_sell),
        limits_kwh,
        pool=False,
    )
    trades = trades_for(ids, plan.trades, done.p2p_sell, done.p2p_buy, plan.price)
    flows = executed_flows(plan.production, plan.consumption, done)
    if trades is not plan.trades:  # matched again: the volumes as the trades carry them, bit for bit
        sold, bought = trade_volumes(ids, trades)
        flows = replace(flows, p2p_sell=sold, p2p_buy=bought)
    return flows, list(trades)


def trades_for(ids: Sequence[str], trades: Sequence[Trade], sell: Array, buy: Array, price: float) -> Sequence[Trade]:
    """``trades`` (the same object) where they add up to each household's executed P2P volumes exactly;
    otherwise the volumes matched seller to buyer again (volumes that execution or delivery had to
    change; ``match_volumes``: energy a household still relays stays relayed)."""
    sold, bought = trade_volumes(ids, trades)
    if np.array_equal(sold, sell) and np.array_equal(bought, buy):
        return trades
    return match_volumes(ids, sell, buy, price)


@dataclass(frozen=True, slots=True)
class StorageStates:
    """States of charge (kWh) before and after a step, own and shared, arrays (N,)."""

    before: Array
    after: Array
    shared_before: Array
    shared_after: Array


def settlements_from_flows(
    ids: Sequence[str],
    mode: str | Sequence[str],
    flows: Flows,
    states: StorageStates,
    fee_per_kwh: float,
    shared_fee: float,
) -> list[Settlement]:
    """One settlement per household. Each side of a P2P trade pays half of ``fee_per_kwh``; energy charged
    into the community battery pays its service fee. ``charge``/``discharge`` are totals (own + shared)."""
    fees = (flows.p2p_buy + flows.p2p_sell) * (fee_per_kwh / 2.0) + flows.shared_charge * shared_fee
    modes = [mode] * len(ids) if isinstance(mode, str) else list(mode)
    return [
        Settlement(
            household=hid,
            mode=modes[i],
            production=float(flows.production[i]),
            consumption=float(flows.consumption[i]),
            grid_buy=float(flows.grid_buy[i]),
            grid_sell=float(flows.grid_sell[i]),
            p2p_buy=float(flows.p2p_buy[i]),
            p2p_sell=float(flows.p2p_sell[i]),
            charge=float(flows.charge[i] + flows.shared_charge[i]),
            discharge=float(flows.discharge[i] + flows.shared_discharge[i]),
            curtailed=float(flows.curtailed[i]),
            unserved=float(flows.unserved[i]),
            soc_before=float(states.before[i]),
            soc_after=float(states.after[i]),
            fees=float(fees[i]),
            shared_charge=float(flows.shared_charge[i]),
            shared_discharge=float(flows.shared_discharge[i]),
            shared_soc_before=float(states.shared_before[i]),
            shared_soc_after=float(states.shared_after[i]),
            transfer=0.0,
        )
        for i, hid in enumerate(ids)
    ]
