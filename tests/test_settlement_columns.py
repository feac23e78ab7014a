"""A block's settlements as columns: the physics checked for every row at once flags exactly the rows that
the check of one settlement finds a problem in, near every tolerance and far from it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.blocks import SETTLEMENT_NUMBERS, Settlement
from chain.columns import SettlementTable
from chain.energy import TOLERANCE_KWH, physics_flags, settlement_problems
from chain.genesis import BatteryColumns, BatterySpec

DT = 0.25
TOL = TOLERANCE_KWH
NUDGES = (0.0, 0.0, 0.0, TOL / 2, -TOL / 2, 1.5 * TOL, -1.5 * TOL, 0.3, -0.3)

specs = st.builds(
    BatterySpec,
    capacity_kwh=st.sampled_from([0.0, 2.0, 10.0]),
    max_power_kw=st.sampled_from([0.0, 1.0, 4.0]),
    charge_efficiency=st.sampled_from([0.9, 0.95, 1.0]),
    discharge_efficiency=st.sampled_from([0.9, 0.96, 1.0]),
    initial_soc_kwh=st.just(0.0),
)


def near(draw: st.DrawFn, lo: float, hi: float) -> float:
    """A value in [lo, hi], often at either end, and often nudged just across it."""
    hi = max(lo, hi)
    return draw(st.sampled_from([lo, hi]) | st.floats(lo, hi)) + draw(st.sampled_from(NUDGES))


@st.composite
def rows(draw: st.DrawFn, own: BatterySpec, shared: BatterySpec) -> Settlement:
    """A step whose energies balance and whose states of charge follow from the battery equation, with
    flows and states near their limits (so that each limit is crossed on its own); sometimes one more
    number is nudged, which breaks the balance or an equation."""
    n = dict.fromkeys(SETTLEMENT_NUMBERS, 0.0)
    for name in ("production", "consumption", "grid_buy", "grid_sell", "p2p_buy", "p2p_sell", "fees"):
        n[name] = near(draw, 0.0, 3.0)
    n["curtailed"] = near(draw, 0.0, n["production"])
    for prefix, spec in (("", own), ("shared_", shared)):
        limit = spec.max_power_kw * DT
        charge, discharge = near(draw, 0.0, limit), near(draw, 0.0, limit)
        before = near(draw, 0.0, spec.capacity_kwh)
        after = before + spec.charge_efficiency * charge - discharge / spec.discharge_efficiency
        n[f"{prefix}soc_before"], n[f"{prefix}soc_after"] = before, after
        n[f"{prefix}charge"], n[f"{prefix}discharge"] = charge, discharge
    n["charge"] += n["shared_charge"]  # the household's totals: own battery and community share
    n["discharge"] += n["shared_discharge"]
    sinks = n["consumption"] + n["grid_sell"] + n["p2p_sell"] + n["charge"] + n["curtailed"]
    sources = n["production"] + n["grid_buy"] + n["p2p_buy"] + n["discharge"]
    if sinks >= sources:
        n["unserved"] = sinks - sources
    else:
        n["grid_sell"] += sources - sinks
    for name in draw(st.lists(st.sampled_from(SETTLEMENT_NUMBERS), max_size=1)):
        n[name] += draw(st.sampled_from(NUDGES))
    return Settlement("h", "market", *(n[name] for name in SETTLEMENT_NUMBERS))


Block = tuple[list[Settlement], list[BatterySpec], list[BatterySpec]]
"""Settlements with each household's own battery and community-battery share."""


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    own = draw(st.lists(specs, min_size=1, max_size=6))
    shared = [draw(specs) for _ in own]
    return [draw(rows(o, s)) for o, s in zip(own, shared, strict=True)], own, shared


@settings(max_examples=200)
@given(blocks())
def test_column_physics_flags_the_rows_with_a_problem(block: Block) -> None:
    settlements, own, shared = block
    table = SettlementTable.decode([s.encode() for s in settlements])
    assert table.rows() == settlements
    flags = physics_flags(table, BatteryColumns.of(own), BatteryColumns.of(shared), DT).tolist()
    expected = [bool(settlement_problems(s, o, h, DT)) for s, o, h in zip(settlements, own, shared, strict=True)]
    assert flags == expected


def test_both_outcomes_occur() -> None:
    """The strategy reaches rows with and without problems (so the property is not vacuous)."""
    seen: set[bool] = set()

    @given(blocks())
    def collect(block: Block) -> None:
        settlements, own, shared = block
        seen.update(bool(settlement_problems(s, o, h, DT)) for s, o, h in zip(settlements, own, shared, strict=True))

    collect()
    assert seen == {True, False}
