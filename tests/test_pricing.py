"""Every pricing rule worked out by hand, and the price bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimizer.pricing import PRICING_RULES, PriceInputs, bill_sharing, mid_market, p2p_price, supply_demand_ratio
from tests.test_market_by_hand import clear, grid, market

BUY, SELL = 0.30, 0.10


def test_supply_demand_ratio_by_hand() -> None:
    # SDR = 1/3: 0.30 * 0.10 / ((0.30 - 0.10) / 3 + 0.10) = 0.03 / 0.1666... = 0.18
    assert supply_demand_ratio(BUY, SELL, 1.0, 3.0) == pytest.approx(0.18)
    # no supply: the grid buy price; balanced or long: the grid sell price; no demand: sell price
    assert supply_demand_ratio(BUY, SELL, 0.0, 2.0) == pytest.approx(BUY)
    assert supply_demand_ratio(BUY, SELL, 2.0, 2.0) == pytest.approx(SELL)
    assert supply_demand_ratio(BUY, SELL, 5.0, 2.0) == SELL
    assert supply_demand_ratio(BUY, SELL, 1.0, 0.0) == SELL


def test_buyers_average_price_matches_the_paper() -> None:
    """Buyers pay the P2P price for the supplied share (SDR) and the grid for the rest."""
    price = supply_demand_ratio(BUY, SELL, 1.0, 4.0)
    average = price * 0.25 + BUY * 0.75
    assert average == pytest.approx(price * 0.25 + BUY * (1 - 0.25))
    assert SELL < price < BUY


def test_mid_market_and_bill_sharing_by_hand() -> None:
    assert mid_market(BUY, SELL) == pytest.approx(0.20)
    assert bill_sharing(BUY, SELL, 1.0, 3.0) == BUY  # the community imports on balance
    assert bill_sharing(BUY, SELL, 3.0, 1.0) == SELL  # it exports on balance
    assert bill_sharing(BUY, SELL, 2.0, 2.0) == pytest.approx(0.20)


@pytest.mark.parametrize(
    ("rule", "production", "consumption", "expected"),
    [
        # supply 1, demand 3 (no storage): worked out above
        ("supply_demand_ratio", [[1.0], [0.0]], [[0.0], [3.0]], 0.18),
        ("mid_market", [[1.0], [0.0]], [[0.0], [3.0]], 0.20),
        # the buy price less the buyer's half of the 0.02 fee: a buyer never pays more than the grid price
        ("bill_sharing", [[1.0], [0.0]], [[0.0], [3.0]], 0.29),
        # ratio 1/3 < 0.5: x1.2; 0.75 x 0.30 x 1.2 = 0.27, inside [0.15, 0.285]
        ("original", [[1.0], [0.0]], [[0.0], [3.0]], 0.27),
        # the community imports: one more kWh on the bus saves 0.30 at the grid but costs the 0.02 P2P fee
        ("marginal", [[1.0], [0.0]], [[0.0], [3.0]], 0.28),
        # the community exports: one more kWh is sold at 0.10, and the seller's half of the fee goes on top
        ("marginal", [[2.0], [0.0]], [[0.0], [1.0]], 0.11),
    ],
)
def test_each_rule_in_a_two_household_market(rule: str, production, consumption, expected: float) -> None:  # type: ignore[no-untyped-def]
    out = clear(market(rule), [True, True], production, consumption, grid())
    assert out.prices.p2p == pytest.approx(expected, abs=1e-7)
    assert all(t.price == out.prices.p2p for t in out.trades)


prices = st.floats(0.0, 1.0, allow_nan=False)
amounts = st.floats(0.0, 100.0, allow_nan=False)


@given(prices, prices, amounts, amounts, amounts, amounts, st.floats(-1.0, 2.0), st.sampled_from(PRICING_RULES))
def test_every_price_lies_between_the_grid_prices(a, b, supply, demand, prod, cons, marginal, rule) -> None:  # type: ignore[no-untyped-def]
    sell, buy = sorted((a, b))
    price = p2p_price(rule, PriceInputs(buy, sell, supply, demand, prod, cons, marginal), 0.75)
    assert sell <= price <= buy


@given(prices, prices, amounts, amounts, amounts, amounts, st.floats(-1.0, 2.0), st.sampled_from(PRICING_RULES),
       st.floats(0.0, 0.1))  # fmt: skip
def test_once_the_fee_is_paid_no_side_does_worse_than_with_the_grid(  # type: ignore[no-untyped-def]
    a, b, supply, demand, prod, cons, marginal, rule, fee
) -> None:
    sell, buy = sorted((a, b))
    price = p2p_price(rule, PriceInputs(buy, sell, supply, demand, prod, cons, marginal), 0.75, fee)
    if buy - sell >= fee:
        assert price - fee / 2 >= sell - 1e-12 and price + fee / 2 <= buy + 1e-12
    else:
        assert sell <= price <= buy


def test_bill_sharing_does_not_let_rounding_decide() -> None:
    """Supply and demand equal but for floating-point noise: the mid-market rate, whichever is larger."""
    assert bill_sharing(BUY, SELL, 0.1 + 0.2, 0.3) == bill_sharing(BUY, SELL, 0.3, 0.1 + 0.2) == pytest.approx(0.20)
