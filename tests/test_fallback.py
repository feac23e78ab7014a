"""Clearing never stops a run: a step whose clearing fails falls back to the baseline policy.

The clearings here fail for real: ``optimizer.max_solver_iterations = 1`` lets PIQP, then Clarabel, take a
single iteration, and both stop with status ``user_limit``. The run completes, every block of those steps
says why it fell back and settles exactly the baseline policy's schedule, and ``ets verify`` passes; a
block that claims a fallback but settles another schedule (or a cleared schedule with a made-up reason),
signed again with the coordinator's key, fails verify at its height.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from chain.alone import act_alone, alone_settlements, genesis_units
from chain.blocks import Block, Settlement
from chain.crypto import SigningKey, Verifier
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.merkle import merkle_root
from chain.messages import sign
from chain.reading import read_block
from ets.check.verify import VerifyError, verify_ledger_file
from ets.results.tables import read_csv
from ets.run.setup import RunLayout
from tests.conftest import cli, ledger_beside, only_run_dir, write_params

STEPS = 8
NOON = 11_424 + 44
"""11:00 on the default day: households export, so the baseline policy sells and charges."""


def simulate(root: Path, optimizer: dict[str, object], forecaster: str = "perfect") -> Path:
    params = write_params(
        root / "p.json",
        {
            "simulation": {"steps": STEPS, "start_step": NOON},
            "household": {"max_households": 4},
            "forecaster": {"kind": forecaster, "horizon_steps": 8},
            "optimizer": optimizer,
        },
    )
    result = cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    return only_run_dir(root / "r")


def blocks_of(run: Path) -> tuple[Genesis, list[bytes], list[Block]]:
    genesis = Genesis.load(RunLayout(run).genesis)
    records = read_records(RunLayout(run).coordinator_ledger)
    return genesis, records, [read_block(raw, genesis, Verifier())[1] for raw in records]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose every clearing stops at the iteration limit."""
    return simulate(tmp_path_factory.mktemp("stopped"), {"max_solver_iterations": 1})


@pytest.fixture(scope="module")
def cleared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, cleared by the market."""
    return simulate(tmp_path_factory.mktemp("cleared"), {})


def test_clearings_stopped_by_the_iteration_limit_fall_back_and_the_run_verifies(stopped: Path) -> None:
    _, _, blocks = blocks_of(stopped)
    assert len(blocks) == STEPS + 1
    for b in blocks[:-1]:
        assert (b.clearing_status, b.fallback, b.trades) == ("user_limit", "solver status user_limit", ())
        assert {s.mode for s in b.decoded_settlements()} == {"fallback"}
    assert blocks[-1].fallback == ""
    df = read_csv(stopped / "optimized_results.csv")
    assert set(df["mode"]) == {"fallback"} and len(df) == 4 * STEPS
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["fallback"] == {
        "steps": STEPS,
        "reasons": [{"reason": "solver status user_limit", "steps": STEPS, "first_steps": list(range(STEPS))}],
    }
    assert cli("verify", str(stopped)).exit_code == 0
    assert cli("verify", str(stopped), "--resolve").exit_code == 0


def test_a_fallback_step_plans_what_the_baseline_run_does(stopped: Path) -> None:
    """With perfect forecasts the first step starts where the baseline run starts, so the fallback block's
    plan is the baseline CSV's first step (which the baseline runner computes on its own)."""
    _, _, blocks = blocks_of(stopped)
    base = read_csv(stopped / "baseline_results.csv")
    first = base[base["step"] == 0].set_index("household_id")
    for s in blocks[0].decoded_settlements():
        row = first.loc[s.household]
        assert (s.grid_buy, s.grid_sell, s.charge, s.discharge, s.curtailed, s.unserved, s.soc_after) == (
            row["grid_buy"],
            row["grid_sell"],
            row["charge_kwh"],
            row["discharge_kwh"],
            row["curtailed_kwh"],
            row["unserved_kwh"],
            row["stored_kwh"],
        )
        assert s.p2p_buy == s.p2p_sell == 0.0
    assert any(s.grid_sell > 0 for s in blocks[0].decoded_settlements())


def test_the_market_clears_the_same_run_without_a_fallback(cleared: Path) -> None:
    _, _, blocks = blocks_of(cleared)
    assert {b.fallback for b in blocks} == {""}
    assert {b.clearing_status for b in blocks[:-1]} == {"optimal"}
    assert json.loads((cleared / "summary.json").read_text())["fallback"] == {"steps": 0, "reasons": []}
    assert set(read_csv(cleared / "optimized_results.csv")["mode"]) == {"market"}


def _resigned(run: Path, target: Path, height: int, block: Block) -> Path:
    """A ledger of ``run``'s blocks before ``height`` and ``block``, signed with the coordinator's key."""
    _, records, _ = blocks_of(run)
    key = SigningKey.load(RunLayout(run).key("coordinator"))
    return ledger_beside(run, target, [*records[:height], sign(block, key).raw])


def _with_settlements(block: Block, settlements: list[Settlement]) -> Block:
    encoded = tuple(s.encode() for s in settlements)
    root = merkle_root([*encoded, *block.corrections])
    return dataclasses.replace(block, settlements=encoded, settlements_root=root)


def test_a_fallback_block_with_another_schedule_fails_verify_at_its_height(stopped: Path, tmp_path: Path) -> None:
    """A household that charged its battery sells that energy instead: balanced, within its battery's and the
    transformer's limits, but not what the baseline policy does."""
    height = 3
    _, _, blocks = blocks_of(stopped)
    block = blocks[height]
    rows = block.decoded_settlements()
    i = max(range(len(rows)), key=lambda k: rows[k].charge - rows[k].shared_charge)
    s, moved = rows[i], 0.05
    assert s.charge - s.shared_charge > moved
    eta_c = Genesis.load(RunLayout(stopped).genesis).members[i].battery.charge_efficiency
    rows[i] = dataclasses.replace(
        s, charge=s.charge - moved, grid_sell=s.grid_sell + moved, soc_after=s.soc_after - eta_c * moved
    )
    assert sum(r.grid_sell for r in rows) < block.export_capacity_kw * 0.25
    path = _resigned(stopped, tmp_path, height, _with_settlements(block, rows))
    with pytest.raises(VerifyError, match=f"height {height}: {s.household}: grid_sell .* fell back.* baseline policy"):
        verify_ledger_file(path, workers=1)


def test_a_cleared_block_that_claims_a_fallback_fails_verify(cleared: Path, tmp_path: Path) -> None:
    height = 2
    _, _, blocks = blocks_of(cleared)
    forged = dataclasses.replace(blocks[height], fallback="solver status user_limit")
    path = _resigned(cleared, tmp_path, height, forged)
    with pytest.raises(VerifyError, match=f"height {height}: h01: offered and settled as 'market'.*'fallback'"):
        verify_ledger_file(path, workers=1)


def test_a_failed_clearing_without_its_fallback_fails_verify(stopped: Path, tmp_path: Path) -> None:
    height = 2
    _, _, blocks = blocks_of(stopped)
    rows = [dataclasses.replace(s, mode="market") for s in blocks[height].decoded_settlements()]
    forged = dataclasses.replace(_with_settlements(blocks[height], rows), fallback="")
    path = _resigned(stopped, tmp_path, height, forged)
    with pytest.raises(VerifyError, match=f"height {height}: clearing status 'user_limit' without a fallback"):
        verify_ledger_file(path, workers=1)


def test_a_made_up_fallback_with_the_policys_schedule_is_caught_by_a_re_clearing(cleared: Path, tmp_path: Path) -> None:
    """A coordinator may claim that a clearing failed and settle the baseline policy: the rules accept such a
    block (the policy's schedule is recomputed and matches), and ``ets verify --resolve``, clearing the step
    again, names it."""
    height = 2
    genesis, _, blocks = blocks_of(cleared)
    block = blocks[height]
    t = block.decoded_settlements()
    production, consumption = np.array([s.production for s in t]), np.array([s.consumption for s in t])
    soc = np.array([s.soc_before for s in t]), np.array([s.shared_soc_before for s in t])
    dt = genesis.dt_hours
    limits = (block.import_capacity_kw * dt, block.export_capacity_kw * dt)
    step = act_alone(production, consumption, *soc, genesis_units(genesis), dt, limits)
    rows = alone_settlements(
        genesis.household_ids, ["fallback"] * len(t), production, consumption, soc, step, genesis.community_fee_per_kwh
    )
    forged = dataclasses.replace(_with_settlements(block, rows), fallback="made up", trades=())
    path = _resigned(cleared, tmp_path, height, forged)
    verify_ledger_file(path, workers=1)
    with pytest.raises(VerifyError, match=f"height {height}: re-clearing falls back '', the block records 'made up'"):
        verify_ledger_file(path, resolve=True, workers=1)
