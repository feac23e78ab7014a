"""Delivery-time balancing: what a step's plan becomes once the meters have measured it.

The cleared schedule is a plan made on forecasts. At delivery:

1. ``absorb`` (each household, in its own process, as a home battery's controller does): the deviation
   between the measured and the planned net load is taken up by the household's own battery within its
   limits, then by its community-battery share, so that its contracted P2P and grid positions hold
   where physics allows. The household reports what its storage did with its meter reading.
2. ``balance`` (the community, in the next block; the market's execution of a cleared step too, without
   the pool): each household keeps its contracted purchases (P2P first, then grid) up to what it still
   needs, or its contracted sales up to what it has left; P2P contracts that lost one side are cut pro
   rata on the other. Then the balancing pool nets what is left: households still short buy from
   households with energy to spare, then from contracted grid sales, and spare energy replaces
   contracted grid purchases; contracted imports and exports net out. Pool energy is P2P energy at the
   step's P2P price, with the P2P fee (the price lies within [grid sell + fee/2, grid buy - fee/2], so
   the pool never pays less or costs more than the grid); it runs only where that interval exists. What
   the pool cannot net goes to the grid within the transformer room left, shared pro rata; what the grid
   refuses is met by the household's storage where it can (charging that no energy arrives for stops
   first), then by the storage of households that trade the other way (the last reserve, through the
   pool), and only the rest is unserved or curtailed. Last, a household that relays energy (buys and sells
   P2P at once) relays no more than trades between different households can carry (``tradable``).

Every array is one value per household of the batch (kWh per step); storage is given as net output
(discharge minus charge). Pure functions over numbers: nodes, the coordinator, the market and
``verify`` compute the same figures bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
UNEVEN_KWH = 1e-12
"""P2P contracts whose sides differ by less than this (kWh, rounding) are kept as they are."""
NOISE_KWH = 1e-8
"""A P2P contract is cut only where it exceeds what a household needs (or has) by more than this (kWh); a
solver's rounding below it is passed on to the grid, never cut from a trade."""


@dataclass(frozen=True, slots=True)
class Units:
    """Batteries as columns (one per household): capacity (kWh), power (kW), efficiencies."""

    capacity_kwh: Array
    max_power_kw: Array
    charge_efficiency: Array
    discharge_efficiency: Array

    def charge_room(self, soc: Array, dt_hours: float) -> Array:
        """Most energy that can be charged this step (kWh drawn from the bus)."""
        power = np.where(self.capacity_kwh > 0, self.max_power_kw, 0.0) * dt_hours
        room: Array = np.minimum(power, np.maximum(self.capacity_kwh - soc, 0.0) / self.charge_efficiency)
        return room

    def discharge_room(self, soc: Array, dt_hours: float) -> Array:
        """Most energy that can be discharged this step (kWh delivered to the bus)."""
        power = np.where(self.capacity_kwh > 0, self.max_power_kw, 0.0) * dt_hours
        room: Array = np.minimum(power, np.maximum(soc, 0.0) * self.discharge_efficiency)
        return room

    def soc_after(self, soc: Array, net_output: Array) -> Array:
        """``soc + eta_c * charge - discharge / eta_d`` for a net output (discharge - charge), kept within
        [0, capacity] against rounding."""
        charge, discharge = np.maximum(-net_output, 0.0), np.maximum(net_output, 0.0)
        result: Array = soc + self.charge_efficiency * charge - discharge / self.discharge_efficiency
        return np.clip(result, 0.0, self.capacity_kwh)


@dataclass(frozen=True, slots=True)
class Position:
    """Contracted positions of a step (kWh per step): what the plan bought and sold."""

    grid_buy: Array
    grid_sell: Array
    p2p_buy: Array
    p2p_sell: Array

    def external(self) -> Array:
        """Net energy contracted into each household (kWh)."""
        out: Array = self.grid_buy + self.p2p_buy - self.grid_sell - self.p2p_sell
        return out


@dataclass(frozen=True, slots=True)
class Storage:
    """Storage net output (discharge - charge, kWh) of the own battery and of the community share, and the
    range each can do this step: ``[-charge_room, discharge_room]``."""

    own: Array
    shared: Array
    own_range: tuple[Array, Array]
    shared_range: tuple[Array, Array]


def storage_range(units: Units, soc: Array, dt_hours: float) -> tuple[Array, Array]:
    return -units.charge_room(soc, dt_hours), units.discharge_room(soc, dt_hours)


def absorb(planned: Storage, production: Array, consumption: Array, position: Position) -> tuple[Array, Array]:
    """Stage 1: the storage net outputs (own, shared) that take up the deviation from the plan.

    The planned outputs are first kept within what each unit can do now; then the storage is asked for
    ``consumption - production - contracted imports`` (what keeps every contract): the own battery moves
    first, the community share second.
    """
    lo_o, hi_o = planned.own_range
    lo_s, hi_s = planned.shared_range
    own = np.clip(planned.own, lo_o, hi_o)
    shared = np.clip(planned.shared, lo_s, hi_s)
    gap = consumption - production - position.external() - own - shared
    own, shared, _ = move_storage(own, shared, gap, planned)
    return own, shared


def move_storage(own: Array, shared: Array, gap: Array, units: Storage) -> tuple[Array, Array, Array]:
    """Storage outputs moved by ``gap`` (more output where positive) within each unit's range, and the part
    of ``gap`` they could not take. Charging stops before discharging starts (and discharging before
    charging), so that one unit never charges while the other discharges for the move; the own battery
    moves first."""
    lo_o, hi_o = units.own_range
    lo_s, hi_s = units.shared_range
    up, down = np.maximum(gap, 0.0), np.maximum(-gap, 0.0)
    for stop in (True, False):
        d_own = np.minimum(up, np.maximum(-own, 0.0) if stop else hi_o - own)
        u_own = np.minimum(down, np.maximum(own, 0.0) if stop else own - lo_o)
        own, up, down = own + d_own - u_own, up - d_own, down - u_own
        d_sh = np.minimum(up, np.maximum(-shared, 0.0) if stop else hi_s - shared)
        u_sh = np.minimum(down, np.maximum(shared, 0.0) if stop else shared - lo_s)
        shared, up, down = shared + d_sh - u_sh, up - d_sh, down - u_sh
    return own, shared, up - down


@dataclass(frozen=True, slots=True)
class Balanced:
    """A batch's settled flows (kWh per step); storage as net outputs."""

    grid_buy: Array
    grid_sell: Array
    p2p_buy: Array
    p2p_sell: Array
    own: Array
    shared: Array
    curtailed: Array
    unserved: Array


def pro_rata(wish: Array, amount: float) -> Array:
    """``amount`` shared over ``wish`` in proportion, never more than any household's wish."""
    total = float(np.add.reduce(wish)) if wish.size else 0.0
    if amount <= 0.0 or total <= 0.0:
        return np.zeros_like(wish)
    if amount >= total:
        return wish.copy()
    out: Array = wish * (amount / total)
    return out


def _net(a: Array, b: Array) -> tuple[Array, Array]:
    """What each side gives up when ``a`` and ``b`` net out: min of their totals, pro rata on each side."""
    if not a.size:
        return a.copy(), b.copy()
    v = min(float(np.add.reduce(a)), float(np.add.reduce(b)))
    return pro_rata(a, v), pro_rata(b, v)


@dataclass(frozen=True, slots=True)
class _Open:
    """A batch's positions while it is balanced (kWh): what each household buys and sells, and what it is
    still short of or has to spare."""

    gb: Array
    gs: Array
    pb: Array
    ps: Array
    short: Array
    extra: Array


def balance(
    storage: Storage,
    production: Array,
    consumption: Array,
    contract: Position,
    room_kwh: tuple[float, float],
    *,
    pool: bool,
) -> Balanced:
    """Stage 2: settle a batch of households of one step; ``room_kwh`` is the (import, export) room the
    transformer leaves for the batch's grid flows, ``pool`` whether the balancing pool may net. Storage
    that must not move (a household settled before) has a range of its output alone."""
    own = np.clip(storage.own, *storage.own_range)
    shared = np.clip(storage.shared, *storage.shared_range)
    x = _keep_contracts(contract, consumption - production - own - shared)
    if pool:
        x = _pool(x)
    new_buy = pro_rata(x.short, max(room_kwh[0] - _sum(x.gb), 0.0))
    new_sell = pro_rata(x.extra, max(room_kwh[1] - _sum(x.gs), 0.0))
    ranges = Storage(own, shared, storage.own_range, storage.shared_range)
    own, shared, left = move_storage(own, shared, (x.short - new_buy) - (x.extra - new_sell), ranges)
    short, extra, pb, ps = np.maximum(left, 0.0), np.maximum(-left, 0.0), x.pb, x.ps
    if pool:
        own, shared, short, extra, pb, ps = _reserve(own, shared, short, extra, pb, ps, ranges)
    pb, ps = tradable(pb, ps)
    return Balanced(x.gb + new_buy, x.gs + new_sell, pb, ps, own, shared, extra, short)


def tradable(bought: Array, sold: Array) -> tuple[Array, Array]:
    """P2P volumes (purchases, sales; kWh) that trades between different households can carry.

    Trades pair each household's sale with other households' purchases, so its purchase and sale together
    can never exceed the community's P2P total ``T``. A relay whose two ends were cut (A -> C -> B where B
    now needs 0.2 of the 1 kWh: A sells and B buys 0.2, C still buys and sells 1) would: the household
    relays less by the excess ``d = bought + sold - T`` (both sides fall by ``d``, so its balance is the
    same). The volumes sum to ``2T``, so at most one household exceeds ``T``, and none does afterwards.
    An excess of rounding (``UNEVEN_KWH``) is left as it is: the contracts' own trades still carry it."""
    total = min(_sum(bought), _sum(sold))
    excess = bought + sold - total
    if not np.any(excess > UNEVEN_KWH):
        return bought, sold
    cut = np.minimum(np.where(excess > UNEVEN_KWH, excess, 0.0), np.minimum(bought, sold))
    return bought - cut, sold - cut


def _keep_contracts(contract: Position, external: Array) -> _Open:
    """Each household keeps its contracted purchases (P2P first) up to the ``external`` energy it needs, or
    its contracted sales up to what it has to spare; P2P contracts that lost one side are cut pro rata on
    the other. Energy a ring relays (bought and sold at once) is passed on as contracted."""
    relay = np.minimum(contract.p2p_buy, contract.p2p_sell)
    need, spare = np.maximum(external, 0.0), np.maximum(-external, 0.0)
    over = np.maximum(contract.p2p_buy - relay - need, 0.0)  # P2P purchases beyond the need
    pb = contract.p2p_buy - np.where(over > NOISE_KWH, over, 0.0)  # exactly as contracted when needed
    gb = np.clip(need - (pb - relay), 0.0, contract.grid_buy)
    short = np.maximum(need - (pb - relay) - gb, 0.0)
    under = np.maximum(contract.p2p_sell - relay - spare, 0.0)  # P2P sales beyond what is left
    ps = contract.p2p_sell - np.where(under > NOISE_KWH, under, 0.0)
    gs = np.clip(spare - (ps - relay), 0.0, contract.grid_sell)
    extra = np.maximum(spare - (ps - relay) - gs, 0.0)
    extra, short = extra + np.maximum(pb - relay - need, 0.0), short + np.maximum(ps - relay - spare, 0.0)
    bought, sold = _sum(pb - relay), _sum(ps - relay)
    if abs(bought - sold) <= UNEVEN_KWH:
        pass  # contracts as cleared: equal but for rounding
    elif bought > sold:
        cut = pro_rata(pb - relay, bought - sold)
        pb, short = pb - cut, short + cut
    else:
        cut = pro_rata(ps - relay, sold - bought)
        ps, extra = ps - cut, extra + cut
    return _Open(gb, gs, pb, ps, short, extra)


def _pool(x: _Open) -> _Open:
    """The balancing pool: deviations of opposite sign net out; then the short buy what was to be
    exported, spare energy replaces what was to be imported, and contracted imports and exports net out."""
    gb, gs, pb, ps, short, extra = x.gb, x.gs, x.pb, x.ps, x.short, x.extra
    a, b = _net(short, extra)
    short, extra, pb, ps = short - a, extra - b, pb + a, ps + b
    a, b = _net(short, gs)
    short, gs, pb, ps = short - a, gs - b, pb + a, ps + b
    a, b = _net(extra, gb)
    extra, gb, ps, pb = extra - a, gb - b, ps + a, pb + b
    a, b = _net(gb, gs)
    return _Open(gb - a, gs - b, pb + a, ps + b, short, extra)


def _reserve(
    own: Array, shared: Array, short: Array, extra: Array, pb: Array, ps: Array, ranges: Storage
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """The community's storage as the last reserve: what neither the pool nor the grid could meet is
    bought from the storage of households that buy nothing from peers (they discharge more, pro rata to
    their headroom), and what neither could take is sold to the storage of households that sell nothing
    to peers (they charge more); both through the pool."""
    lo_o, hi_o = ranges.own_range
    lo_s, hi_s = ranges.shared_range
    headroom = np.where((short <= 0.0) & (pb <= 0.0), (hi_o - own) + (hi_s - shared), 0.0)
    a, give = _net(short, headroom)
    short, pb, ps = short - a, pb + a, ps + give
    own, shared, _ = move_storage(own, shared, give, ranges)
    legroom = np.where((extra <= 0.0) & (ps <= 0.0), (own - lo_o) + (shared - lo_s), 0.0)
    a, take = _net(extra, legroom)
    extra, ps, pb = extra - a, ps + a, pb + take
    own, shared, _ = move_storage(own, shared, -take, ranges)
    return own, shared, short, extra, pb, ps


def _sum(a: Array) -> float:
    return float(np.add.reduce(a)) if a.size else 0.0
