"""The direct clearing path (``optimizer.clearing_lp``: matrices handed to the solver) against the model as
CVXPY states it (``optimizer.clearing.PoolModel``), on random steps: random communities, forecasts, states
of charge, prices (including spreads below the P2P fee, where the volume row is kept) and limits (including
zero). Both are solved for real by PIQP (and Clarabel)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chain.genesis import BatterySpec
from optimizer.clearing import PoolModel, RingModel
from optimizer.clearing_lp import DirectPoolModel, build_clearing, redundant_volume_rows
from optimizer.flows import Storage
from optimizer.programme import Costs, MarketInputs, Schedule
from optimizer.ring_lp import DirectRingModel

SCHEDULE_FIELDS = [f.name for f in dataclasses.fields(Schedule) if f.name not in ("edges", "marginal_price")]
CASES = 24


def community(rng: np.random.Generator) -> tuple[Storage, Costs, int]:
    n = int(rng.integers(2, 14))

    def battery(p_has: float, scale: float) -> BatterySpec:
        if rng.random() > p_has:
            return BatterySpec(0.0, 0.0, 1.0, 1.0, 0.0)
        eta_c, eta_d = rng.uniform(0.85, 1.0, 2)
        return BatterySpec(scale * rng.uniform(0.5, 10), scale * rng.uniform(0.5, 5), eta_c, eta_d, 0.0)

    storage = Storage.from_specs(
        [battery(0.5, 1.0) for _ in range(n)], [battery(0.6, 0.3) for _ in range(n)], rng.choice([0.0, 0.01])
    )
    costs = Costs(
        p2p_transaction=float(rng.choice([0.0, 0.01, 0.05])),
        battery_wear=float(rng.choice([0.0, 0.002])),
        unserved_penalty=float(rng.choice([0.5, 5.0])),
        curtailment_penalty=float(rng.choice([0.0, 0.02])),
    )
    return storage, costs, int(rng.integers(2, 25))


def step(rng: np.random.Generator, storage: Storage, horizon: int) -> MarketInputs:
    n, h = storage.size, horizon
    production = rng.uniform(0, 2, (n, h)) * (rng.random((n, h)) < 0.7)
    consumption = rng.uniform(0, 1.5, (n, h)) * (rng.random((n, h)) < 0.9)
    sell = rng.uniform(0, 0.15, h)
    buy = sell + rng.uniform(0, 0.3, h) * (rng.random(h) < 0.8)  # now and then a spread below the fee
    imp = rng.uniform(0, 2, h) * n * (rng.random(h) < 0.8)  # zero limits now and then
    exp = rng.uniform(0, 2, h) * n * (rng.random(h) < 0.8)
    return MarketInputs(
        production,
        consumption,
        storage.own.capacity_kwh * rng.uniform(0, 1, n),
        storage.shared.capacity_kwh * rng.uniform(0, 1, n),
        buy,
        sell,
        imp,
        exp,
        float(rng.uniform(0, 0.2)),
    )


def cases(seed: int = 17) -> list[tuple[Storage, Costs, int, MarketInputs]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(CASES):
        storage, costs, horizon = community(rng)
        out.append((storage, costs, horizon, step(rng, storage, horizon)))
    return out


@pytest.mark.parametrize("solver", ["PIQP", "CLARABEL"])
def test_the_direct_path_finds_the_cvxpy_models_optimum_on_random_steps(solver: str) -> None:
    worst_objective, worst_schedule, worst_price, kept = 0.0, 0.0, 0.0, 0
    for storage, costs, horizon, inputs in cases():
        stated = PoolModel(storage, horizon, 0.25, costs, solver)
        direct = DirectPoolModel(storage, horizon, 0.25, costs, solver)
        a, b = stated.solve(inputs), direct.solve(inputs)
        kept += int((~redundant_volume_rows(inputs.buy_price, inputs.sell_price, costs)).sum())
        assert a.status == b.status == "optimal"
        assert a.schedule is not None and b.schedule is not None
        scale = max(1.0, abs(a.objective))
        worst_objective = max(worst_objective, abs(a.objective - b.objective) / scale)
        assert abs(a.objective - b.objective) <= 1e-8 * scale
        # the direct optimum is a feasible point of the stated model at the stated model's cost
        _assert_optimal_in_stated(stated, direct, inputs, a.objective)
        # the split between storage units (and charging while discharging at no wear and full efficiency)
        # is not unique at the optimum: the two interior points may land at different optimal points
        energy = max(1.0, float(inputs.consumption[:, 0].sum() + inputs.production[:, 0].sum()))
        for name in SCHEDULE_FIELDS:
            gap = float(np.max(np.abs(getattr(a.schedule, name) - getattr(b.schedule, name)), initial=0.0))
            worst_schedule = max(worst_schedule, gap / energy)
            assert gap <= 1e-2 * energy, (name, gap)
        worst_price = max(worst_price, abs(a.schedule.marginal_price - b.schedule.marginal_price))
        assert a.schedule.marginal_price == pytest.approx(b.schedule.marginal_price, abs=1e-3)
        totals_a, totals_b = stated.horizon_totals(), direct.horizon_totals()
        assert totals_b[0] == pytest.approx(totals_a[0], rel=1e-3, abs=1e-3)
    assert kept > 0, "some step must keep a volume row (a spread below the fee)"
    print(f"{solver}: worst objective {worst_objective:.1e}, schedule {worst_schedule:.1e}, price {worst_price:.1e}")


def _assert_optimal_in_stated(stated: PoolModel, direct: DirectPoolModel, inputs: MarketInputs, best: float) -> None:
    """Put the direct solution into the CVXPY model's variables; every constraint holds and the cost is
    the optimum."""
    assert direct.last is not None
    x, lay, h = direct.last.x, direct.layout, direct.horizon
    v = stated.v
    if direct.units.count:
        soc0 = direct.units.soc0(inputs.soc, inputs.shared_soc)
        v["ch"].value = x[lay.block("ch")].reshape(-1, h)
        v["dis"].value = x[lay.block("dis")].reshape(-1, h)
        v["s"].value = np.column_stack([soc0, x[lay.block("s")].reshape(-1, h)])
        v["d"].value = x[lay.block("d")].reshape(-1, h)
    for name in ("GB", "GS", "U", "K"):
        v[name].value = x[lay.block(name)]
    cost = next(var for var in stated.problem.variables() if var.name() == "cost")
    cost.value = np.array(direct.last.objective)
    worst = max(float(np.max(c.violation(), initial=0.0)) for c in stated.problem.constraints)
    assert worst <= 1e-6
    assert direct.last.objective == pytest.approx(best, rel=1e-8, abs=1e-8)


@pytest.mark.parametrize("solver", ["PIQP", "CLARABEL"])
def test_the_direct_ring_finds_the_cvxpy_rings_optimum_on_random_steps(solver: str) -> None:
    rng = np.random.default_rng(23)
    worst_objective, worst_price = 0.0, 0.0
    for storage, free, horizon, inputs in cases(29)[:12]:
        # a fee on every link flow: without one, flows around the ring cost nothing and are arbitrary
        costs = dataclasses.replace(free, p2p_transaction=max(free.p2p_transaction, 0.01))
        neighbours = int(rng.choice([2, 4]))
        stated = RingModel(storage, horizon, 0.25, costs, solver, neighbours)
        direct = DirectRingModel(storage, horizon, 0.25, costs, solver, neighbours)
        a, b = stated.solve(inputs), direct.solve(inputs)
        assert a.status == b.status == "optimal"
        assert a.schedule is not None and b.schedule is not None and b.schedule.edges is not None
        scale = max(1.0, abs(a.objective))
        worst_objective = max(worst_objective, abs(a.objective - b.objective) / scale)
        assert abs(a.objective - b.objective) <= 1e-8 * scale
        energy = max(1.0, float(inputs.consumption[:, 0].sum() + inputs.production[:, 0].sum()))
        for name in SCHEDULE_FIELDS:
            gap = float(np.max(np.abs(getattr(a.schedule, name) - getattr(b.schedule, name)), initial=0.0))
            assert gap <= 1e-2 * energy, (name, gap)
        links = {tuple(sorted(pair)) for pair in direct.directed.tolist()}
        assert all(tuple(sorted((s, t))) in links for s, t, _ in b.schedule.edges)
        worst_price = max(worst_price, abs(a.schedule.marginal_price - b.schedule.marginal_price))
        assert a.schedule.marginal_price == pytest.approx(b.schedule.marginal_price, abs=1e-3)
        assert direct.horizon_totals()[0] == pytest.approx(stated.horizon_totals()[0], rel=1e-3, abs=1e-3)
    print(f"ring {solver}: worst objective {worst_objective:.1e}, price {worst_price:.1e}")


def test_the_volume_row_is_dropped_only_where_the_spread_exceeds_the_fee() -> None:
    costs = Costs(0.01, 0.0, 5.0, 0.02)
    buy = np.array([0.30, 0.10, 0.105, 0.30, 0.30])
    sell = np.array([0.10, 0.10, 0.10, 0.29, 0.10])
    assert redundant_volume_rows(buy, sell, costs).tolist() == [True, False, False, False, True]
    cheap_unserved = Costs(0.01, 0.0, 0.05, 0.02)
    assert not redundant_volume_rows(buy, sell, cheap_unserved).any()


def test_a_step_clears_the_same_whatever_was_solved_before() -> None:
    """No warm start: the same inputs give the same bytes, whatever the model solved in between."""
    storage, costs, horizon, first = cases(3)[0]
    rng = np.random.default_rng(5)
    model = DirectPoolModel(storage, horizon, 0.25, costs, "PIQP")
    once = model.solve(first)
    model.solve(step(rng, storage, horizon))
    again = model.solve(first)
    fresh = DirectPoolModel(storage, horizon, 0.25, costs, "PIQP").solve(first)
    assert once.schedule is not None
    for other in (again, fresh):
        assert other.objective == once.objective and other.schedule is not None
        for name in [*SCHEDULE_FIELDS, "marginal_price"]:
            assert np.array_equal(getattr(other.schedule, name), getattr(once.schedule, name))


def test_an_impossible_state_of_charge_and_an_iteration_limit_fail_like_the_stated_model() -> None:
    storage, costs, horizon, inputs = next(c for c in cases(11) if c[0].own.capacity_kwh.max() > 0)
    over = dataclasses.replace(inputs, soc=storage.own.capacity_kwh * 2 + 1)
    for model in (
        PoolModel(storage, horizon, 0.25, costs, "PIQP"),
        DirectPoolModel(storage, horizon, 0.25, costs, "PIQP"),
    ):
        assert model.solve(over).status == "infeasible"
    stopped = [
        PoolModel(storage, horizon, 0.25, costs, "PIQP", max_iterations=1).solve(inputs),
        DirectPoolModel(storage, horizon, 0.25, costs, "PIQP", max_iterations=1).solve(inputs),
    ]
    assert [r.status for r in stopped] == ["user_limit", "user_limit"]
    assert all(r.schedule is None for r in stopped)


def test_the_path_parameter_chooses_the_model() -> None:
    storage, costs, horizon, _ = cases(2)[0]
    args = (storage, horizon, 0.25, costs)
    assert isinstance(build_clearing(*args, "PIQP", "pool", 4), DirectPoolModel)
    assert isinstance(build_clearing(*args, "CLARABEL", "pool", 4, path="direct"), DirectPoolModel)
    assert isinstance(build_clearing(*args, "PIQP", "pool", 4, path="cvxpy"), PoolModel)
    assert isinstance(build_clearing(*args, "HIGHS", "pool", 4, path="direct"), PoolModel)
    assert isinstance(build_clearing(*args, "PIQP", "ring", 4, path="direct"), DirectRingModel)
    assert isinstance(build_clearing(*args, "PIQP", "ring", 4, path="cvxpy"), RingModel)
    with pytest.raises(ValueError, match="unknown clearing path"):
        build_clearing(*args, "PIQP", "pool", 4, path="fast")
