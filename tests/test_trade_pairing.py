"""Settled P2P volumes are always carried by trades between different households, exactly.

A ring relays energy: A -> C -> B, C buying and selling at once. When delivery (or execution) cuts the
relay's ends, C must relay less too, or no set of trades can add up to the volumes (a household's
purchase and sale together can never exceed the community's P2P total).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from chain.blocks import Trade
from chain.delivery import Position, Storage, balance, tradable
from chain.genesis import BatterySpec
from optimizer.flows import Storage as Batteries
from optimizer.settlement import PlannedStep, execute_step, match_volumes, trade_volumes, trades_for

IDS = ["A", "B", "C"]  # C, the relay, comes last: a seller-to-buyer walk in household order meets it twice
RELAY = [Trade("A", "C", 1.0, 0.2), Trade("C", "B", 1.0, 0.2)]
ZERO = np.zeros(3)
HELD = (ZERO, ZERO)


def relay_settled(*, pool: bool) -> tuple[np.ndarray, np.ndarray]:
    """A has 1 kWh to sell, C nothing of its own, B needs only 0.2 of the kWh contracted through C."""
    sold, bought = trade_volumes(IDS, RELAY)
    done = balance(
        Storage(ZERO, ZERO, HELD, HELD),
        np.array([1.0, 0.0, 0.0]),
        np.array([0.0, 0.2, 0.0]),
        Position(ZERO, ZERO, bought, sold),
        (10.0, 10.0),
        pool=pool,
    )
    assert done.unserved.tolist() == [0, 0, 0] and done.curtailed.tolist() == [0, 0, 0]
    assert done.grid_sell.tolist() == pytest.approx([0.8, 0.0, 0.0])
    return done.p2p_sell, done.p2p_buy


@pytest.mark.parametrize("pool", [False, True])
def test_a_cut_relay_relays_only_what_reaches_the_buyer(pool: bool) -> None:
    sell, buy = relay_settled(pool=pool)
    assert sell.tolist() == pytest.approx([0.2, 0.0, 0.2])
    assert buy.tolist() == pytest.approx([0.0, 0.2, 0.2])
    total = sell.sum()
    assert np.all(sell + buy <= total + 1e-12)


@pytest.mark.parametrize("pool", [False, True])
def test_the_trades_of_a_cut_relay_add_up_to_its_settled_volumes(pool: bool) -> None:
    """What ``ets results`` and ``ets verify`` rebuild from a corrected row: trades A -> C -> B of 0.2."""
    sell, buy = relay_settled(pool=pool)
    trades = trades_for(IDS, RELAY, sell, buy, 0.2)
    sold, bought = trade_volumes(IDS, trades)
    assert sold == pytest.approx(sell, abs=1e-12) and bought == pytest.approx(buy, abs=1e-12)
    assert all(t.seller != t.buyer for t in trades)
    assert sorted((t.seller, t.buyer) for t in trades) == [("A", "C"), ("C", "B")]


def test_a_cut_relay_executes_with_trades_that_carry_its_flows() -> None:
    """The market's execution of the same step: the block's flows and trades agree."""
    empty = BatterySpec(0.0, 0.0, 1.0, 1.0, 0.0)
    storage = Batteries.from_specs([empty] * 3, [empty] * 3, 0.0)
    step = PlannedStep(np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.2, 0.0]), ZERO, ZERO, ZERO, ZERO, RELAY, 0.2)
    flows, trades = execute_step(IDS, step, storage, 0.25, (10.0, 10.0))
    sold, bought = trade_volumes(IDS, trades)
    assert np.array_equal(sold, flows.p2p_sell) and np.array_equal(bought, flows.p2p_buy)
    assert flows.p2p_buy.tolist() == pytest.approx([0.0, 0.2, 0.2])
    assert all(t.seller != t.buyer for t in trades)


N = 5
volumes = arrays(np.float64, N, elements=st.one_of(st.just(0.0), st.floats(1e-6, 3.0)))


@settings(max_examples=300, deadline=None)
@given(volumes, volumes)
def test_any_volumes_become_tradable_and_are_paired_exactly(bought: np.ndarray, sold: np.ndarray) -> None:
    """For any purchases and sales of equal sums: ``tradable`` keeps each household's balance and leaves
    no household's purchase and sale above the total; ``match_volumes`` then pairs them exactly, never a
    household with itself."""
    assume(sold.sum() > 0 and bought.sum() > 0)
    sold = sold * (bought.sum() / sold.sum())
    b, s = tradable(bought, sold)
    assert np.all(b >= 0) and np.all(s >= 0)
    assert np.allclose(b - s, bought - sold, atol=1e-12)
    total = min(s.sum(), b.sum())
    assert np.all(b + s <= total + 1e-9)
    trades = match_volumes([f"h{i}" for i in range(N)], s, b, 0.2)
    assert all(t.seller != t.buyer and t.kwh > 0 for t in trades)
    got_s, got_b = trade_volumes([f"h{i}" for i in range(N)], trades)
    assert np.allclose(got_s, s, atol=1e-9) and np.allclose(got_b, b, atol=1e-9)
    assert len(trades) <= np.count_nonzero(s) + np.count_nonzero(b)
