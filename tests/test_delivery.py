"""Delivery-time balancing (``chain.delivery``): by hand on small cases, and as properties for any plan and
any meter reading: every settled row keeps the physics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from chain.delivery import Position, Storage, Units, absorb, balance, storage_range
from chain.energy import TOLERANCE_KWH

DT = 0.5
BATTERY = Units(np.array([10.0]), np.array([4.0]), np.array([0.9]), np.array([0.95]))
NONE = Units(np.array([0.0]), np.array([0.0]), np.array([1.0]), np.array([1.0]))


def one(x: float) -> np.ndarray:
    return np.array([x])


def test_a_deviation_is_absorbed_by_the_household_battery() -> None:
    """Planned: 1 kWh produced, 2 kWh consumed, the battery (5 kWh, 4 kW for half an hour: 2 kWh a step)
    gives 1 kWh, nothing from the grid. Measured: 2.5 kWh consumed. The battery gives 0.5 kWh more,
    1.5 kWh in all, and ends at 5 - 1.5 / 0.95 = 3.421 kWh; the grid position holds (nothing bought)."""
    soc = one(5.0)
    planned = Storage(one(1.0), one(0.0), storage_range(BATTERY, soc, DT), storage_range(NONE, one(0.0), DT))
    no_contract = Position(one(0.0), one(0.0), one(0.0), one(0.0))
    own, shared = absorb(planned, one(1.0), one(2.5), no_contract)
    assert own.tolist() == [1.5] and shared.tolist() == [0.0]
    assert BATTERY.soc_after(soc, own)[0] == pytest.approx(5.0 - 1.5 / 0.95)
    settled = balance(
        Storage(own, shared, planned.own_range, planned.shared_range), one(1.0), one(2.5), no_contract, (5.0, 5.0),
        pool=True,
    )  # fmt: skip
    assert settled.grid_buy.tolist() == [0.0] and settled.unserved.tolist() == [0.0]


def test_a_battery_at_its_limit_leaves_the_rest_to_the_community() -> None:
    """The same household measures 4 kWh consumed: its battery gives its 2 kWh limit, and the remaining
    1 kWh comes from the grid, within the room the transformer has left."""
    soc = one(5.0)
    planned = Storage(one(1.0), one(0.0), storage_range(BATTERY, soc, DT), storage_range(NONE, one(0.0), DT))
    no_contract = Position(one(0.0), one(0.0), one(0.0), one(0.0))
    own, shared = absorb(planned, one(1.0), one(4.0), no_contract)
    assert own.tolist() == [2.0]
    settled = balance(Storage(own, shared, planned.own_range, planned.shared_range), one(1.0), one(4.0), no_contract,
                      (0.6, 5.0), pool=True)  # fmt: skip
    assert settled.grid_buy.tolist() == [pytest.approx(0.6)] and settled.unserved.tolist() == [pytest.approx(0.4)]


def test_opposite_deviations_net_out_in_the_pool_before_the_grid() -> None:
    """Two households without storage, both planned even: one measures 0.3 kWh more production, the other
    0.5 kWh more consumption. The pool carries 0.3 kWh from the first to the second; the grid 0.2 kWh."""
    zero = np.zeros(2)
    ranges = (zero, zero)
    settled = balance(
        Storage(zero, zero, ranges, ranges),
        np.array([1.3, 0.0]),
        np.array([1.0, 0.5]),
        Position(zero, zero, zero, zero),
        (10.0, 10.0),
        pool=True,
    )
    assert settled.p2p_sell.tolist() == [pytest.approx(0.3), 0.0]
    assert settled.p2p_buy.tolist() == [0.0, pytest.approx(0.3)]
    assert settled.grid_buy.tolist() == [0.0, pytest.approx(0.2)] and settled.grid_sell.tolist() == [0.0, 0.0]


def test_energy_bought_from_the_grid_and_not_needed_is_not_curtailed() -> None:
    """A household without PV planned to buy 2 kWh and consumed nothing: it buys nothing; nothing is
    curtailed (no production to curtail)."""
    zero = one(0.0)
    settled = balance(Storage(zero, zero, (zero, zero), (zero, zero)), zero, zero,
                      Position(one(2.0), zero, zero, zero), (0.0, 0.0), pool=True)  # fmt: skip
    assert settled.grid_buy.tolist() == [0.0] and settled.curtailed.tolist() == [0.0]


N = 5
kwh = arrays(np.float64, N, elements=st.floats(0, 3, allow_nan=False))
socs = arrays(np.float64, N, elements=st.floats(0, 10, allow_nan=False))
UNITS = Units(
    np.array([10.0, 0.0, 5.0, 13.5, 0.0]), np.array([4.0, 0.0, 2.5, 5.0, 0.0]), np.full(N, 0.9), np.full(N, 0.95)
)
SHARES = Units(np.full(N, 2.0), np.full(N, 1.0), np.full(N, 0.96), np.full(N, 0.96))


@settings(max_examples=300, deadline=None)
@given(
    kwh, kwh, kwh, kwh, kwh, kwh, socs, kwh, kwh, kwh, st.floats(0, 8), st.floats(0, 8), st.booleans(),
    st.sampled_from([0.0, 0.0, 0.7, -0.4]),
)  # fmt: skip
def test_any_plan_and_any_meter_settle_within_physics(  # type: ignore[no-untyped-def]
    prod, cons, gb, gs, p2p, own_plan, soc, shared_plan, measured_p, measured_c, imp, exp, pool, outside
) -> None:
    """Whatever was planned and whatever the meters say, the settled rows balance exactly, keep every
    storage limit, never curtail more than was produced nor leave more unserved than was consumed, leave
    nothing unserved while import room is left nor curtailed while export room is left, never buy and sell
    on the grid at once, and keep P2P bought equal to sold; with the pool, the community does not import
    and export at once. Households outside the batch (``outside``: what they bought from peers, net) keep
    their trades: the batch sells them exactly that."""
    del prod, cons
    soc = np.minimum(soc, UNITS.capacity_kwh)
    shared_soc = np.minimum(soc, 2.0)
    seller = np.arange(N) % 2 == 0
    contract = Position(
        np.where(gb > gs, gb - gs, 0.0), np.where(gs > gb, gs - gb, 0.0), np.where(seller, 0.0, p2p), np.zeros(N)
    )
    contract = Position(contract.grid_buy, contract.grid_sell, contract.p2p_buy,
                        np.where(seller, p2p, 0.0) * (p2p[~seller].sum() / max(p2p[seller].sum(), 1e-300)))  # fmt: skip
    ranges = storage_range(UNITS, soc, DT), storage_range(SHARES, shared_soc, DT)
    planned = Storage(own_plan - 1.5, shared_plan / 3 - 0.5, *ranges)
    own, shared = absorb(planned, measured_p, measured_c, contract)
    room = (imp + float(contract.grid_buy.sum()), exp + float(contract.grid_sell.sum()))
    s = balance(Storage(own, shared, *ranges), measured_p, measured_c, contract, room, pool=pool, outside_p2p=outside)
    tol = TOLERANCE_KWH
    for name in ("grid_buy", "grid_sell", "p2p_buy", "p2p_sell", "curtailed", "unserved"):
        assert np.all(getattr(s, name) >= 0), name
    out = s.own + s.shared
    residual = (
        measured_p + s.grid_buy + s.p2p_buy + out + s.unserved - measured_c - s.grid_sell - s.p2p_sell - s.curtailed
    )
    assert np.all(np.abs(residual) <= tol)
    for units, net, level, (lo, hi) in ((UNITS, s.own, soc, ranges[0]), (SHARES, s.shared, shared_soc, ranges[1])):
        assert np.all(net >= lo - tol) and np.all(net <= hi + tol)
        after = units.soc_after(level, net)
        assert np.all(after >= -tol) and np.all(after <= units.capacity_kwh + tol)
    if s.unserved.sum() > tol:
        assert s.grid_buy.sum() >= room[0] - tol
    if s.curtailed.sum() > tol:
        assert s.grid_sell.sum() >= room[1] - tol
    assert s.grid_buy.sum() <= room[0] + tol and s.grid_sell.sum() <= room[1] + tol
    assert not np.any((s.grid_buy > tol) & (s.grid_sell > tol))
    assert abs(s.p2p_sell.sum() - s.p2p_buy.sum() - outside) <= tol * N
    if outside:
        return  # a partial batch: delivering to (or taking from) the outside may cross the rules below
    assert np.all(s.curtailed <= measured_p + tol) and np.all(s.unserved <= measured_c + tol)
    if pool:
        assert not (s.grid_buy.sum() > tol and s.grid_sell.sum() > tol)
        assert not np.any((s.p2p_buy > tol) & (s.p2p_sell > tol))
