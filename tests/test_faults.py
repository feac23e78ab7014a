"""The cluster under faults injected by ``ets run --chaos``: real processes, killed, paused and restarted by pid."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.conftest import cli, write_params
from tests.faults import chaos_run

pytestmark = pytest.mark.timeout(240)


def test_a_node_killed_at_a_random_step_is_back_at_the_tip_within_5_steps(tmp_path: Path) -> None:
    step = random.randint(4, 20)
    run = chaos_run(tmp_path, f"kill:h04@{step}")
    assert f"killed h04 at step {step}" in run.actions and "restarted h04" in run.actions
    run.assert_ledgers_identical()
    run.assert_verifies()
    assert "resumed from the ledger" in run.layout.log("h04").read_text()
    up = run.up_again_at("h04")
    missed = run.absent_after("h04", up)
    assert len(missed) <= 5, f"killed at step {step}, back up at {up}, then absent at steps {missed}"


def test_a_paused_node_is_absent_meanwhile_and_catches_up(tmp_path: Path) -> None:
    run = chaos_run(tmp_path, "pause:h06@6+10s", steps=40)
    absent = run.absent_steps("h06")
    assert absent and absent[0] >= 6, absent
    others = {h for b in run.blocks() for h in b.absent} - {"h06"}
    assert others == set(), f"only h06 was paused, yet {others} were absent"
    run.assert_ledgers_identical()
    run.assert_verifies()


def test_the_coordinator_killed_at_a_random_step_resumes_without_a_fork(tmp_path: Path) -> None:
    step = random.randint(4, 20)
    run = chaos_run(tmp_path, f"kill:coordinator@{step}")
    assert "restarted coordinator" in run.actions
    heights = [b.height for b in run.blocks()]
    assert heights == list(range(len(heights))), "a height is missing or repeated"
    assert [b.step for b in run.blocks()] == list(range(len(heights)))
    run.assert_ledgers_identical()
    run.assert_verifies()
    assert f"resuming at step {step}" in run.layout.log("coordinator").read_text()


def test_a_node_started_50_steps_late_catches_up_with_no_missing_block(tmp_path: Path) -> None:
    run = chaos_run(
        tmp_path, "late:h03@50", households=5, steps=60, network={"start_quorum": 0.5, "start_grace_s": 1.0}
    )
    run.assert_ledgers_identical()
    run.assert_verifies()
    absent = run.absent_steps("h03")
    assert set(range(50)) <= set(absent), "h03 offered before it was started"
    assert "run complete at height 61" in run.layout.log("h03").read_text()
    assert "no goodbye" not in run.layout.log("coordinator").read_text()


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("kill:h99@3", "'h99' is neither a household"),
        ("explode:h01@3", "unknown action 'explode'"),
        ("pause:h01@3", "a pause needs an end"),
        ("kill:h01@0", "outside the run's steps"),
        ("kill:coordinator@3-5", "give +SECONDSs"),
        ("late:h01@3", "start_quorum below 1"),
        ("kill h01", "expected ACTION:TARGET@STEP"),
    ],
)
def test_a_bad_chaos_plan_is_refused_naming_the_item(tmp_path: Path, plan: str, message: str) -> None:
    params = write_params(tmp_path / "p.json")
    result = cli("run", "--params", str(params), "--results", str(tmp_path / "r"), "-q", "--chaos", plan)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
