"""Move blocking (``optimizer.blocking``): the periods cover the horizon, the inputs are aggregated without
losing energy, both clearing paths solve the blocked programme alike, and a blocked programme is the
exact one where the inputs are constant within each block, relaxed only between a block's steps (so its
optimum is never above the exact one's there: a block whose storage or grid limits were not scaled by
its length would be)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.blocking import BlockedClearing, Blocking
from optimizer.clearing_lp import build_clearing
from optimizer.programme import MarketInputs
from tests.test_clearing_paths import community, step


@pytest.mark.parametrize(("horizon", "fine", "block"), [(96, 8, 4), (96, 8, 7), (10, 3, 4), (5, 8, 4), (12, 1, 12)])
def test_the_periods_cover_the_horizon_with_fine_steps_first(horizon: int, fine: int, block: int) -> None:
    blocking = Blocking(horizon, fine, block)
    periods = blocking.periods
    assert periods.sum() == horizon
    assert np.all(periods[: min(fine, horizon)] == 1)
    assert np.all(periods[min(fine, horizon) : -1] == block)
    assert 1 <= periods[-1] <= max(block, 1)
    assert blocking.starts.tolist() == np.concatenate([[0], np.cumsum(periods)[:-1]]).tolist()
    assert blocking.exact == (fine >= horizon)


def test_a_blocking_of_zero_steps_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 step"):
        Blocking(96, 0, 4)


def test_aggregated_inputs_keep_every_kwh_and_average_the_prices() -> None:
    rng = np.random.default_rng(3)
    storage, _, _ = community(rng)
    inputs = step(rng, storage, 30)
    blocking = Blocking(30, 5, 4)
    out = blocking.aggregate(inputs)
    size = blocking.periods.size
    assert out.production.shape == (storage.size, size)
    for name in ("production", "consumption", "import_kwh", "export_kwh"):
        assert np.isclose(getattr(out, name).sum(), getattr(inputs, name).sum()), name
    assert np.allclose(out.production[:, :5], inputs.production[:, :5])
    assert np.isclose(out.buy_price[5], inputs.buy_price[5:9].mean())
    assert np.isclose(out.sell_price[-1], inputs.sell_price[29:].mean())
    with pytest.raises(ValueError, match="horizon of 31"):
        Blocking(31, 5, 4).aggregate(inputs)


def _block_constant(inputs: MarketInputs, blocking: Blocking) -> MarketInputs:
    """The inputs with every series replaced by its block's mean in each step of the block."""
    index = np.repeat(np.arange(blocking.periods.size), blocking.periods.astype(int))
    mean = blocking.aggregate(inputs)
    per_step = blocking.periods[index]
    return MarketInputs(
        mean.production[:, index] / per_step,
        mean.consumption[:, index] / per_step,
        inputs.soc,
        inputs.shared_soc,
        mean.buy_price[index],
        mean.sell_price[index],
        mean.import_kwh[index] / per_step,
        mean.export_kwh[index] / per_step,
        inputs.terminal_value,
    )


@pytest.mark.parametrize("topology", ["pool", "ring"])
def test_a_blocked_clearing_relaxes_the_exact_one_and_both_paths_agree(topology: str) -> None:
    rng = np.random.default_rng(11)
    relaxed, tight = 0, 0
    for _ in range(8):
        storage, costs, _ = community(rng)
        horizon = 24
        blocking = Blocking(horizon, 4, 5)
        inputs = _block_constant(step(rng, storage, horizon), blocking)
        exact = build_clearing(storage, horizon, 0.25, costs, "CLARABEL", topology, 2)
        blocked = {
            path: build_clearing(storage, horizon, 0.25, costs, "CLARABEL", topology, 2, path=path, blocking=blocking)
            for path in ("direct", "cvxpy")
        }
        assert all(isinstance(m, BlockedClearing) for m in blocked.values())
        e, d, c = exact.solve(inputs), blocked["direct"].solve(inputs), blocked["cvxpy"].solve(inputs)
        if e.status != "optimal":
            continue
        assert d.status == c.status == "optimal"
        assert abs(d.objective - c.objective) <= 1e-5 * max(1.0, abs(c.objective))
        assert d.objective <= e.objective + 1e-5 * max(1.0, abs(e.objective))
        relaxed += int(d.objective < e.objective - 1e-4)
        tight += int(abs(d.objective - e.objective) <= 1e-4 * max(1.0, abs(e.objective)))
    assert relaxed + tight >= 6


def test_an_exact_blocking_builds_the_unblocked_model() -> None:
    rng = np.random.default_rng(5)
    storage, costs, _ = community(rng)
    model = build_clearing(storage, 6, 0.25, costs, "PIQP", "pool", 2, blocking=Blocking(6, 8, 4))
    assert not isinstance(model, BlockedClearing)
    with pytest.raises(ValueError, match="horizon of 7"):
        build_clearing(storage, 7, 0.25, costs, "PIQP", "pool", 2, blocking=Blocking(6, 2, 2))
