"""Battery physics, the baseline policy and settlement: balances hold for any input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from chain.alone import share_capacity
from chain.energy import TOLERANCE_KWH, balance_residual
from chain.genesis import BatterySpec
from optimizer.baseline import baseline_step
from optimizer.flows import Flows, Storage
from optimizer.programme import Schedule
from optimizer.settlement import PlannedStep, execute_step, schedule_trades, trade_volumes

N = 4
energy = arrays(np.float64, N, elements=st.floats(0, 5, allow_nan=False))
charges = arrays(np.float64, N, elements=st.floats(0, 10))
SPEC = BatterySpec(10.0, 4.0, 0.9, 0.95, 0.0)
SHARE = BatterySpec(3.0, 1.0, 0.96, 0.96, 0.0)
STORAGE = Storage.from_specs([SPEC] * N, [SHARE] * N, 0.02)


def assert_balanced(f: Flows) -> None:
    r = balance_residual(
        f.production, f.consumption, f.grid_buy, f.grid_sell, f.p2p_buy, f.p2p_sell,
        f.charge + f.shared_charge, f.discharge + f.shared_discharge, f.curtailed, f.unserved,
    )  # fmt: skip
    assert np.all(np.abs(r) <= TOLERANCE_KWH)
    for name in Flows.__dataclass_fields__:
        assert np.all(getattr(f, name) >= 0), name


def assert_within_storage(soc: np.ndarray, shared: np.ndarray) -> None:
    assert np.all(soc >= -TOLERANCE_KWH) and np.all(soc <= SPEC.capacity_kwh + TOLERANCE_KWH)
    assert np.all(shared >= -TOLERANCE_KWH) and np.all(shared <= SHARE.capacity_kwh + TOLERANCE_KWH)


@given(energy, energy, charges, st.floats(0, 20), st.floats(0, 20))
def test_baseline_step_is_balanced_and_within_limits(prod, cons, soc, imp, exp) -> None:  # type: ignore[no-untyped-def]
    shared = np.minimum(soc, 3.0)
    flows, soc_after, shared_after = baseline_step(prod, cons, soc, shared, STORAGE, 0.5, imp, exp)
    assert_balanced(flows)
    assert_within_storage(soc_after, shared_after)
    assert np.all(flows.charge <= SPEC.max_power_kw * 0.5 + 1e-12)
    assert np.all(flows.shared_charge <= SHARE.max_power_kw * 0.5 + 1e-12)
    assert flows.grid_buy.sum() <= imp + 1e-9 and flows.grid_sell.sum() <= exp + 1e-9
    assert np.allclose(soc_after, soc + 0.9 * flows.charge - flows.discharge / 0.95)
    assert np.all(flows.curtailed <= prod + 1e-12) and np.all(flows.unserved <= cons + 1e-12)


def test_baseline_fills_own_battery_then_community_share_then_grid() -> None:
    one = Storage.from_specs([SPEC], [SHARE], 0.02)
    flows, soc, shared = baseline_step(
        np.array([7.0]), np.array([1.0]), np.array([0.0]), np.array([0.0]), one, 1.0, 100.0, 100.0
    )
    assert flows.charge[0] == 4.0 and flows.shared_charge[0] == 1.0 and flows.grid_sell[0] == 1.0
    assert soc[0] == pytest.approx(3.6) and shared[0] == pytest.approx(0.96)


def test_capacity_is_shared_pro_rata() -> None:
    granted, refused = share_capacity(np.array([1.0, 3.0]), 2.0)
    assert granted.tolist() == [0.5, 1.5] and refused.tolist() == [0.5, 1.5]


@settings(max_examples=200)
@given(energy, energy, charges, *(energy for _ in range(10)))
def test_any_schedule_executes_balanced(prod, cons, soc, gb, gs, pb, ps, ch, dis, sch, sdis, k, u) -> None:  # type: ignore[no-untyped-def]
    """Whatever the solver says (even nonsense), what is executed balances and respects every limit."""
    ids = [f"h{i}" for i in range(N)]
    shared = np.minimum(soc, 3.0)
    schedule = Schedule(gb, gs, pb, ps, ch, dis, sch, sdis, k, u, None, 0.2)
    planned = schedule_trades(ids, schedule, 0.2, 0.01)
    step = PlannedStep(prod, cons, soc, shared, dis - ch, sdis - sch, planned, 0.2)
    flows, trades = execute_step(ids, step, STORAGE, 0.5, (3.0, 3.0))
    assert_balanced(flows)
    sold, bought = trade_volumes(ids, trades)
    assert np.allclose(sold, flows.p2p_sell, atol=1e-12) and np.allclose(bought, flows.p2p_buy, atol=1e-12)
    assert abs(flows.p2p_buy.sum() - flows.p2p_sell.sum()) <= 1e-9
    assert flows.grid_buy.sum() <= 3.0 + 1e-9 and flows.grid_sell.sum() <= 3.0 + 1e-9
    assert np.all(flows.curtailed <= prod + 1e-9) and np.all(flows.unserved <= cons + 1e-9)
    if flows.unserved.sum() > 1e-9:
        assert flows.grid_buy.sum() >= 3.0 - 1e-9, "unserved while import room is left"
    if flows.curtailed.sum() > 1e-9:
        assert flows.grid_sell.sum() >= 3.0 - 1e-9, "curtailed while export room is left"
    assert_within_storage(
        STORAGE.own.soc_after(soc, flows.charge, flows.discharge),
        STORAGE.shared.soc_after(shared, flows.shared_charge, flows.shared_discharge),
    )
    assert all(t.seller != t.buyer for t in trades)
