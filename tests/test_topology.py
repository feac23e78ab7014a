"""Ring topology: trades only ever cross neighbour links, and they add up to each household's volumes."""

from __future__ import annotations

import numpy as np
import pytest

from chain.genesis import BatterySpec
from optimizer.flows import GridWindow, Storage
from optimizer.market import Market, MarketConfig, StepInputs
from optimizer.programme import Costs, ring_links

NONE = BatterySpec(0.0, 0.0, 1.0, 1.0, 0.0)
BATTERY = BatterySpec(4.0, 2.0, 0.95, 0.95, 1.0)


def ring_market(n: int, k: int, with_batteries: bool = False) -> Market:
    own = [BATTERY if with_batteries and i % 3 == 0 else NONE for i in range(n)]
    config = MarketConfig(0.5, 3, Costs(0.01, 0.001, 5.0, 0.02), "CLARABEL", "supply_demand_ratio", 0.75, 0.05,
                          topology="ring", neighbours=k)  # fmt: skip
    return Market([f"h{i}" for i in range(n)], Storage.from_specs(own, [NONE] * n, 0.0), config)


def window(h: int = 3) -> GridWindow:
    return GridWindow(np.full(h, 0.30), np.full(h, 0.10), np.full(h, 100.0), np.full(h, 100.0))


def ring_distance(a: str, b: str, n: int) -> int:
    d = abs(int(a[1:]) - int(b[1:]))
    return min(d, n - d)


def test_links_reach_exactly_the_k_nearest() -> None:
    links = ring_links(10, 4)
    degree = np.zeros(10, int)
    for a, b in links:
        assert min(abs(a - b), 10 - abs(a - b)) <= 2
        degree[a] += 1
        degree[b] += 1
    assert (degree == 4).all()
    assert len(ring_links(4, 4)) == 6  # k >= n - 1: everyone with everyone


def test_far_seller_reaches_buyer_only_through_neighbours() -> None:
    """h0 has surplus, h4 a deficit, four steps apart on a ring of 8 where each trades with 1 neighbour per
    side: the energy travels link by link (each costing the fee, still cheaper than the grid spread)."""
    n = 8
    production = np.zeros((n, 3))
    consumption = np.zeros((n, 3))
    production[0, :] = 2.0
    consumption[4, :] = 2.0
    out = ring_market(n, 2).clear(
        StepInputs(np.ones(n, bool), production, consumption, np.zeros(n), np.zeros(n), window())
    )
    assert out.trades
    for t in out.trades:
        assert ring_distance(t.seller, t.buyer, n) <= 1
    h4 = out.settlements[4]
    assert h4.p2p_buy == pytest.approx(2.0, abs=1e-6) and h4.grid_buy == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("k", [2, 4])
def test_random_rings_never_trade_beyond_k_and_trades_add_up(k: int) -> None:
    rng = np.random.default_rng(k)
    n = 9
    market = ring_market(n, k, with_batteries=True)
    for _ in range(5):
        production = rng.uniform(0, 2, (n, 3)) * (rng.random((n, 1)) < 0.5)
        consumption = rng.uniform(0, 1.5, (n, 3))
        soc = np.where(np.arange(n) % 3 == 0, 1.0, 0.0)
        out = market.clear(StepInputs(np.ones(n, bool), production, consumption, soc, np.zeros(n), window()))
        sold = {s.household: 0.0 for s in out.settlements}
        bought = dict(sold)
        for t in out.trades:
            assert ring_distance(t.seller, t.buyer, n) <= k // 2
            sold[t.seller] += t.kwh
            bought[t.buyer] += t.kwh
        for s in out.settlements:
            assert sold[s.household] == pytest.approx(s.p2p_sell, abs=1e-12)
            assert bought[s.household] == pytest.approx(s.p2p_buy, abs=1e-12)
