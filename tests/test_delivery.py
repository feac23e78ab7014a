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
    arrays(np.bool_, N),
)  # fmt: skip
def test_any_plan_and_any_meter_settle_within_physics(  # type: ignore[no-untyped-def]
    prod, cons, gb, gs, p2p, own_plan, soc, shared_plan, measured_p, measured_c, imp, exp, pool, locked
) -> None:
    """Whatever was planned and whatever the meters say, the settled rows balance exactly, keep every
    storage limit, never curtail more than was produced nor leave more unserved than was consumed, leave
    nothing unserved while import room is left nor curtailed while export room is left, never buy and sell
    on the grid at once, and keep P2P bought equal to sold; with the pool, the community does not import
    and export at once."""
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
    # households settled before keep their storage: a range of their output alone
    ranges = tuple(
        (np.where(locked, net, lo), np.where(locked, net, hi))
        for net, (lo, hi) in zip((own, shared), ranges, strict=True)
    )
    room = (imp + float(contract.grid_buy.sum()), exp + float(contract.grid_sell.sum()))
    s = balance(Storage(own, shared, *ranges), measured_p, measured_c, contract, room, pool=pool)
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
    assert abs(s.p2p_sell.sum() - s.p2p_buy.sum()) <= tol * N
    # a household whose storage is held cannot stop charging (or discharging) when energy fails to come
    # (or go): only there may unserved exceed consumption (curtailed exceed production)
    charging, discharging = locked & (own + shared < 0), locked & (own + shared > 0)
    assert np.all((s.curtailed <= measured_p + tol) | discharging)
    assert np.all((s.unserved <= measured_c + tol) | charging)
    if pool:
        assert not (s.grid_buy.sum() > tol and s.grid_sell.sum() > tol)
        assert not np.any((s.p2p_buy > tol) & (s.p2p_sell > tol))


def _history(rows: list[dict[str, float]], limits: tuple[float, float]):  # type: ignore[no-untyped-def]
    """A History of two households without storage whose step 0 was planned as ``rows``."""
    from chain.blocks import SETTLEMENT_NUMBERS, MarketPrices
    from chain.columns import COLUMN, SettlementTable
    from chain.crypto import SigningKey
    from chain.genesis import BatterySpec, Genesis, Member
    from chain.history import History

    none = BatterySpec(0.0, 0.0, 1.0, 1.0, 0.0)
    members = tuple(Member(f"h{i}", SigningKey.generate().public, none, none) for i in range(2))
    g = Genesis(SigningKey.generate().public, members, 0.5, 0, 4, 4, 10.0, 0.02, b"\0" * 32, "2026-01-01", 0.01)
    numbers = np.zeros((2, len(SETTLEMENT_NUMBERS)))
    for i, row in enumerate(rows):
        for name, value in row.items():
            numbers[i, COLUMN[name]] = value
    history = History(g)
    table = SettlementTable(g.household_ids, ("market", "market"), numbers)
    history.record_step(0, table, MarketPrices(0.30, 0.05, 0.15), limits)
    return history


def _settle(history, household: str, production: float, consumption: float):  # type: ignore[no-untyped-def]
    from chain.energy import community_problems

    readings, _ = history.readings(household, [(0, production, consumption)])
    planned = history.plan_corrections([(household, r) for r in readings])
    rows = history.rows_with(planned.corrections)[0]
    record = history.steps[0]
    assert community_problems(rows, record.import_kwh, record.export_kwh) == []
    history.commit(planned.corrections, planned.metered)
    return {c.household: c for c in planned.corrections}


def test_a_step_settled_in_parts_is_balanced_as_a_whole() -> None:
    """Both planned 1 kWh from the grid within an import limit of 2. The first to be read used 1.5, the
    other (read a block later) 0.5: the step ends with nothing unserved, as if both were read at once."""
    history = _history([dict(consumption=1.0, grid_buy=1.0), dict(consumption=1.0, grid_buy=1.0)], (2.0, 2.0))
    first = _settle(history, "h0", 0.0, 1.5)
    assert first["h0"].grid_buy == pytest.approx(1.0) and first["h0"].unserved == pytest.approx(0.5)
    second = _settle(history, "h1", 0.0, 0.5)
    assert second["h0"].grid_buy == pytest.approx(1.5) and second["h0"].unserved == 0.0
    assert second["h1"].grid_buy == pytest.approx(0.5)
    assert history.metered_through.tolist() == [0, 0]


def test_a_seller_read_before_its_buyer_leaves_the_buyer_short_not_itself() -> None:
    """h0 was to sell 1 kWh of PV to h1; its PV produced nothing and no grid room is left; h1 is not read
    yet. The undelivered kWh is h1's unserved energy (within its consumption), never h0's."""
    history = _history([dict(production=1.0, p2p_sell=1.0), dict(consumption=1.0, p2p_buy=1.0)], (0.0, 0.0))
    settled = _settle(history, "h0", 0.0, 0.0)
    assert settled["h0"].p2p_sell == 0.0 and settled["h0"].unserved == 0.0
    assert settled["h1"].p2p_buy == 0.0 and settled["h1"].unserved == pytest.approx(1.0)
    assert history.metered_through.tolist() == [0, -1]  # h1's row was revised, not metered
