"""A two-household market whose schedule, price and bills are worked out on paper.

h1 produces 2 kWh and uses nothing; h2 uses 2 kWh and produces nothing; no batteries; one step of one
hour; the grid buys at 0.10 and sells at 0.30 $/kWh; P2P costs 0.02 $/kWh, half paid by each side.

* Alone, h1 sells 2 kWh to the grid (earns 0.20) and h2 buys 2 kWh from it (pays 0.60): the community
  pays 0.40.
* Trading, h1 sells 2 kWh to h2 at the mid-market price (0.30 + 0.10) / 2 = 0.20: h1 earns 0.40 and
  pays a 0.02 fee (cost -0.38); h2 pays 0.40 and a 0.02 fee (cost 0.42): the community pays 0.04.
"""

from __future__ import annotations

import numpy as np
import pytest

from chain.blocks import Settlement
from chain.genesis import BatterySpec
from optimizer.flows import GridWindow, Storage
from optimizer.market import Market, MarketConfig, StepInputs, StepOutcome
from optimizer.programme import Costs

NO_BATTERY = BatterySpec(0.0, 0.0, 1.0, 1.0, 0.0)


def market(rule: str = "mid_market", horizon: int = 1, topology: str = "pool") -> Market:
    config = MarketConfig(
        dt_hours=1.0,
        horizon=horizon,
        costs=Costs(p2p_transaction=0.02, battery_wear=0.0, unserved_penalty=5.0, curtailment_penalty=0.02),
        solver="CLARABEL",
        pricing_rule=rule,
        price_factor=0.75,
        terminal_value=0.0,
        topology=topology,
        neighbours=2,
    )
    return Market(("h1", "h2"), Storage.from_specs([NO_BATTERY] * 2, [NO_BATTERY] * 2, 0.0), config)


def clear(
    m: Market, present: list[bool], production: list[list[float]], consumption: list[list[float]], window: GridWindow
) -> StepOutcome:
    n = len(present)
    return m.clear(
        StepInputs(np.array(present), np.array(production), np.array(consumption), np.zeros(n), np.zeros(n), window)
    )


def grid(import_kw: float = 100.0, export_kw: float = 100.0) -> GridWindow:
    return GridWindow(np.array([0.30]), np.array([0.10]), np.array([import_kw]), np.array([export_kw]))


def cost(s: Settlement, buy: float, sell: float, p2p: float) -> float:
    return s.cost(buy, sell, p2p)


def test_two_households_trade_everything_at_mid_market() -> None:
    out = clear(market(), [True, True], [[2.0], [0.0]], [[0.0], [2.0]], grid())
    h1, h2 = out.settlements
    assert out.status == "optimal"
    assert out.prices.p2p == pytest.approx(0.20)
    assert h1.p2p_sell == pytest.approx(2.0, abs=1e-6) and h2.p2p_buy == pytest.approx(2.0, abs=1e-6)
    assert h1.grid_sell == pytest.approx(0.0, abs=1e-6) and h2.grid_buy == pytest.approx(0.0, abs=1e-6)
    assert [(t.seller, t.buyer) for t in out.trades] == [("h1", "h2")]
    assert out.trades[0].kwh == pytest.approx(2.0, abs=1e-6)
    assert h1.fees == pytest.approx(0.02, abs=1e-6) and h2.fees == pytest.approx(0.02, abs=1e-6)
    assert cost(h1, 0.30, 0.10, 0.20) == pytest.approx(-0.38, abs=1e-6)
    assert cost(h2, 0.30, 0.10, 0.20) == pytest.approx(0.42, abs=1e-6)


def test_import_limit_leaves_demand_unserved_rather_than_failing() -> None:
    """h1 has 1 kWh for h2, who needs 3; the transformer lets 1 kWh in: 1 kWh stays unserved.

    h2 pays 1 x 0.30 (grid) + 1 x 0.20 (peer) + 0.01 fee = 0.51; h1 earns 0.20 and pays 0.01: -0.19.
    """
    out = clear(market(), [True, True], [[1.0], [0.0]], [[0.0], [3.0]], grid(import_kw=1.0))
    h1, h2 = out.settlements
    assert h2.grid_buy == pytest.approx(1.0, abs=1e-6)
    assert h2.p2p_buy == pytest.approx(1.0, abs=1e-6)
    assert h2.unserved == pytest.approx(1.0, abs=1e-6)
    assert cost(h2, 0.30, 0.10, 0.20) == pytest.approx(0.51, abs=1e-6)
    assert cost(h1, 0.30, 0.10, 0.20) == pytest.approx(-0.19, abs=1e-6)


def test_zero_capacity_solves_with_slack() -> None:
    out = clear(market(), [True, True], [[0.0], [0.5]], [[1.0], [0.0]], grid(import_kw=0.0, export_kw=0.0))
    h1, h2 = out.settlements
    assert out.status == "optimal"
    assert h1.unserved == pytest.approx(0.5, abs=1e-6)
    assert h1.p2p_buy == pytest.approx(0.5, abs=1e-6) and h2.p2p_sell == pytest.approx(0.5, abs=1e-6)
    assert h1.grid_buy == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("topology", ["pool", "ring"])
def test_both_topologies_agree_on_two_households(topology: str) -> None:
    out = clear(market(topology=topology), [True, True], [[2.0], [0.0]], [[0.0], [2.0]], grid())
    h1, h2 = out.settlements
    assert h1.p2p_sell == pytest.approx(2.0, abs=1e-6) and h2.p2p_buy == pytest.approx(2.0, abs=1e-6)
    assert out.objective == pytest.approx(0.02 * 2, abs=1e-6)


def test_original_rule_price_by_hand() -> None:
    """Supply 1, demand 3: ratio 1/3 < 0.5 so x1.2; 0.75 x 0.30 x 1.2 = 0.27, inside [0.15, 0.285]."""
    out = clear(market("original"), [True, True], [[1.0], [0.0]], [[0.0], [3.0]], grid())
    assert out.prices.p2p == pytest.approx(0.27)


def test_an_absent_household_acts_alone() -> None:
    out = clear(market(), [True, False], [[2.0], [0.0]], [[0.0], [2.0]], grid())
    h1, h2 = out.settlements
    assert h2.mode == "alone" and h2.grid_buy == pytest.approx(2.0)
    assert h1.mode == "market" and h1.grid_sell == pytest.approx(2.0, abs=1e-6)
    assert out.trades == []


def test_battery_shifts_energy_to_the_expensive_step() -> None:
    """Two steps: free sun now (sell 0.10), nothing later when the grid costs 0.30. A lossless 5 kWh
    battery stores the 2 kWh for later instead of selling and buying back (a small wear cost makes the
    schedule unique: without it, charging and discharging at once would cost nothing)."""
    spec = BatterySpec(5.0, 10.0, 1.0, 1.0, 0.0)
    config = MarketConfig(1.0, 2, Costs(0.02, 0.001, 5.0, 0.02), "CLARABEL", "mid_market", 0.75, 0.0)
    m = Market(("h1",), Storage.from_specs([spec], [NO_BATTERY], 0.0), config)
    window = GridWindow(np.array([0.30, 0.30]), np.array([0.10, 0.10]), np.array([100.0] * 2), np.array([100.0] * 2))
    (h1,) = clear(m, [True], [[2.0, 0.0]], [[0.0, 2.0]], window).settlements
    assert h1.charge == pytest.approx(2.0, abs=1e-6)
    assert h1.soc_after == pytest.approx(2.0, abs=1e-6)
    assert h1.grid_sell == pytest.approx(0.0, abs=1e-6)


def test_community_battery_share_stores_for_later_and_pays_its_fee() -> None:
    """As above, but the storage is a 4 kWh share of the community battery with a 0.02 $/kWh fee: still
    worth it (0.30 later vs 0.10 now), so the 2 kWh go into the share and the fee is 0.04."""
    share = BatterySpec(4.0, 10.0, 1.0, 1.0, 0.0)
    config = MarketConfig(1.0, 2, Costs(0.02, 0.001, 5.0, 0.02), "CLARABEL", "mid_market", 0.75, 0.0)
    m = Market(("h1",), Storage.from_specs([NO_BATTERY], [share], 0.02), config)
    window = GridWindow(np.array([0.30, 0.30]), np.array([0.10, 0.10]), np.array([100.0] * 2), np.array([100.0] * 2))
    (h1,) = clear(m, [True], [[2.0, 0.0]], [[0.0, 2.0]], window).settlements
    assert h1.shared_charge == pytest.approx(2.0, abs=1e-6) and h1.charge == pytest.approx(2.0, abs=1e-6)
    assert h1.shared_soc_after == pytest.approx(2.0, abs=1e-6) and h1.soc_after == 0.0
    assert h1.fees == pytest.approx(0.04, abs=1e-6)
