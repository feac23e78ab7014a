"""P2P pricing rules. Every price lies within [grid sell, grid buy] of its step."""

from __future__ import annotations

PRICING_RULES = ("mid_market", "original")


def mid_market(grid_buy: float, grid_sell: float) -> float:
    """Mid-market rate: halfway between the grid's buy and sell price."""
    return (grid_buy + grid_sell) / 2.0


def original_rule(
    grid_buy: float, grid_sell: float, production_kwh: float, consumption_kwh: float, factor: float
) -> float:
    """The original project's rule.

    Start from ``factor * grid_buy``; scale by the community's supply/demand ratio
    ``r = production / consumption``: x0.8 if r > 2, x0.9 if r > 1.5, x1.0 if r > 0.75, x1.1 if r > 0.5,
    else x1.2; keep within [0.5, 0.95] x grid_buy. With no production the price is 0.95 x grid_buy.
    Finally clamped into [grid_sell, grid_buy].
    """
    if production_kwh <= 0:
        price = 0.95 * grid_buy
    else:
        ratio = production_kwh / max(consumption_kwh, 0.01)
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
        price = min(max(factor * grid_buy * adjust, 0.5 * grid_buy), 0.95 * grid_buy)
    return min(max(price, grid_sell), grid_buy)


def p2p_price(
    rule: str, grid_buy: float, grid_sell: float, production_kwh: float, consumption_kwh: float, factor: float
) -> float:
    if rule == "mid_market":
        return mid_market(grid_buy, grid_sell)
    if rule == "original":
        return original_rule(grid_buy, grid_sell, production_kwh, consumption_kwh, factor)
    raise ValueError(f"unknown pricing rule {rule!r}; use one of {', '.join(PRICING_RULES)}")
