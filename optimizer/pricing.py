"""P2P pricing rules: one price per step for every trade. Every price lies within [grid sell, grid buy],
and, once the P2P fee is paid (half by each side), within [grid sell + fee/2, grid buy - fee/2]: a seller
never nets less than the grid would pay, a buyer never pays more than the grid price of the step.

``supply`` and ``demand`` are what the households bring to and need from the community bus in the step
(after their own storage, before any trade): ``sum max(x_i, 0)`` and ``sum max(-x_i, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICING_RULES = ("supply_demand_ratio", "mid_market", "bill_sharing", "original", "marginal")
EVEN_KWH = 1e-6
"""Supply and demand closer than this count as even (bill sharing): floating-point noise decides nothing."""


@dataclass(frozen=True, slots=True)
class PriceInputs:
    grid_buy: float
    """$/kWh"""
    grid_sell: float
    """$/kWh"""
    supply: float
    """kWh offered to the bus"""
    demand: float
    """kWh wanted from the bus"""
    production: float
    """kWh produced by the participants"""
    consumption: float
    """kWh consumed by the participants"""
    marginal: float
    """shadow price of energy on the bus from the clearing ($/kWh)"""


def supply_demand_ratio(buy: float, sell: float, supply: float, demand: float) -> float:
    """Liu et al. 2017 (IEEE Trans. Power Systems, "Energy-sharing model with price-based demand response
    for microgrids of peer-to-peer prosumers"). With ``SDR = supply / demand``:

    ``price = buy * sell / ((buy - sell) * SDR + sell)`` for ``0 <= SDR <= 1``, and ``sell`` for SDR > 1.

    Scarce supply (SDR -> 0) prices energy at the grid buy price; a balanced or long community at the sell
    price. This is the sellers' internal price; buyers pay it for what they get from peers and the grid
    price for the rest, so their average price is ``price * SDR + buy * (1 - SDR)``, as in the paper.
    """
    if demand <= 0:
        return sell
    ratio = supply / demand
    if ratio >= 1:
        return sell
    denominator = (buy - sell) * ratio + sell
    return buy if denominator <= 0 else buy * sell / denominator


def mid_market(buy: float, sell: float) -> float:
    """Mid-market rate: halfway between the grid's buy and sell price."""
    return (buy + sell) / 2.0


def bill_sharing(buy: float, sell: float, supply: float, demand: float) -> float:
    """Bill sharing: the community's grid bill for the step is split in proportion to each household's net
    consumption (negative for a net producer), so each kWh exchanged inside the community is worth what the
    community as a whole pays or earns for its last kWh: the buy price when it imports on balance
    (demand > supply), the sell price when it exports, and the mid-market rate when it is exactly even.
    """
    if demand > supply + EVEN_KWH:
        return buy
    if supply > demand + EVEN_KWH:
        return sell
    return mid_market(buy, sell)


def original_rule(buy: float, production: float, consumption: float, factor: float) -> float:
    """The original project's rule.

    Start from ``factor * grid_buy``; scale by the community's production/consumption ratio ``r``: x0.8 if
    r > 2, x0.9 if r > 1.5, x1.0 if r > 0.75, x1.1 if r > 0.5, else x1.2; keep within [0.5, 0.95] x grid_buy.
    With no production the price is 0.95 x grid_buy.
    """
    if production <= 0:
        return 0.95 * buy
    ratio = production / max(consumption, 0.01)
    if ratio > 2.0:
        adjust = 0.8
    elif ratio > 1.5:
        adjust = 0.9
    elif ratio > 0.75:
        adjust = 1.0
    elif ratio > 0.5:
        adjust = 1.1
    else:
        adjust = 1.2
    return min(max(factor * buy * adjust, 0.5 * buy), 0.95 * buy)


def fair_range(buy: float, sell: float, fee: float) -> tuple[float, float] | None:
    """Prices at which both sides do at least as well as with the grid once each pays half the fee; None
    when the spread is smaller than the fee (trading then loses against the grid)."""
    if buy - sell < fee:
        return None
    return sell + fee / 2.0, buy - fee / 2.0


def p2p_price(rule: str, x: PriceInputs, factor: float, fee: float = 0.0) -> float:
    """The step's P2P price by ``rule``, clamped into ``fair_range`` (into [grid sell, grid buy] when the
    spread is smaller than the fee)."""
    buy, sell = x.grid_buy, x.grid_sell
    if rule == "supply_demand_ratio":
        price = supply_demand_ratio(buy, sell, x.supply, x.demand)
    elif rule == "mid_market":
        price = mid_market(buy, sell)
    elif rule == "bill_sharing":
        price = bill_sharing(buy, sell, x.supply, x.demand)
    elif rule == "original":
        price = original_rule(buy, x.production, x.consumption, factor)
    elif rule == "marginal":
        price = x.marginal
    else:
        raise ValueError(f"unknown pricing rule {rule!r}; use one of {', '.join(PRICING_RULES)}")
    low, high = fair_range(buy, sell, fee) or (sell, buy)
    return min(max(price, low), high)
