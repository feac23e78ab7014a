"""``ets verify`` checks every claim a run directory makes, deciding what to check from genesis and the
ledgers present (never from ``run.json``): each tampering fails naming the file."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from chain.genesis import Genesis
from coordinator.service import Coordinator
from ets.run.process_config import CoordinatorOptions, Files, coordinator_config
from tests.conftest import cli, only_run_dir, write_params
from tests.faults import ChaosRun, chaos_run

pytestmark = pytest.mark.timeout(240)

SHORT = {"simulation": {"steps": 8}, "household": {"max_households": 3}}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short in-process run (`ets simulate -n 3 -s 8`)."""
    root = tmp_path_factory.mktemp("claims_engine")
    params = write_params(root / "p.json", SHORT)
    assert cli("simulate", "--params", str(params), "--results", str(root / "r"), "-q").exit_code == 0
    return only_run_dir(root / "r")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short cluster run whose coordinator is killed and restarted at step 4 (its metrics file is then
    written by two processes) and one of whose households is paused meanwhile (absent for some steps)."""
    root = tmp_path_factory.mktemp("claims_cluster")
    run = chaos_run(root, "pause:h02@2+5s,kill:coordinator@4", households=3, steps=8)
    return run.run_dir


def copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def verify_fails(run: Path, file: str, *words: str) -> str:
    result = cli("verify", str(run))
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and file in line, result.output
    for word in words:
        assert word in line, line
    return line


def edit_json(path: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def edit_csv(path: Path, change: Callable[[pd.DataFrame], None]) -> None:
    df = pd.read_csv(path, keep_default_na=False, dtype={"household_id": str, "p2p_trades": str})
    change(df)
    df.to_csv(path, index=False, float_format="%.17g")


def test_clean_runs_verify(engine: Path, cluster: Path) -> None:
    for run in (engine, cluster):
        result = cli("verify", str(run))
        assert result.exit_code == 0, result.output


def test_the_restarted_coordinators_metrics_keep_every_step(cluster: Path) -> None:
    """Both coordinator processes' steps are in network_metrics.csv, once each; the summary's absent counts
    are the ledger's."""
    assert "resuming at step 4" in (cluster / "logs" / "coordinator.log").read_text()
    metrics = pd.read_csv(cluster / "network_metrics.csv")
    genesis = Genesis.load(cluster / "genesis.json")
    assert list(metrics["step"]) == list(range(genesis.steps + 1))
    summary = json.loads((cluster / "summary.json").read_text())
    absent = summary["absent_household_steps"]
    assert summary["network"]["absent_household_steps"] == sum(absent.values()) == int(metrics["absent"].sum())
    assert set(absent) <= {"h02"}


@pytest.mark.parametrize("kind", ["baseline", "no-such-kind"])
@pytest.mark.parametrize("which", ["engine", "cluster"])
def test_run_json_cannot_switch_the_ledger_checks_off(
    kind: str, which: str, engine: Path, cluster: Path, tmp_path: Path
) -> None:
    run = copy(engine if which == "engine" else cluster, tmp_path)
    (run / "run.json").write_text(json.dumps({"kind": kind}))
    (run / "ledgers" / "coordinator.ledger").write_bytes(os.urandom(4096))
    verify_fails(run, "coordinator.ledger", "height 0")


def test_run_json_does_not_make_a_missing_ledger_pass(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    (run / "run.json").write_text(json.dumps({"kind": "baseline"}))
    (run / "ledgers" / "coordinator.ledger").unlink()
    verify_fails(run, "coordinator.ledger", "missing")


def test_an_edited_saving_in_the_summary_fails(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    edit_json(run / "summary.json", lambda d: d.update(saving=999.0))
    verify_fails(run, "summary.json", "'saving'", "999")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["per_household"]["h02"].update(saving=1.0), "per_household.h02.saving"),
        (lambda d: d.update(households_worse_off=0, bonus=1), "bonus"),
        (lambda d: d["optimum"].update(gap_pct=-5.0), "optimum.gap_pct"),
        (lambda d: d.update(status="complete", faults=["x"]), "faults"),
        (lambda d: d.pop("finality"), "finality"),
    ],
)
def test_any_other_summary_claim_that_differs_is_named(
    change: Callable[[dict], None],  # type: ignore[type-arg]
    key: str,
    engine: Path,
    tmp_path: Path,
) -> None:
    run = copy(engine, tmp_path)
    edit_json(run / "summary.json", change)
    verify_fails(run, "summary.json", repr(key) if key != "faults" else "'faults'")


def test_absent_counts_edited_in_the_summary_fail(cluster: Path, tmp_path: Path) -> None:
    run = copy(cluster, tmp_path)
    edit_json(run / "summary.json", lambda d: d["network"].update(absent_household_steps=0, step_latency_p50_ms=1))
    verify_fails(run, "summary.json", "network.")


def test_an_edited_baseline_csv_fails(engine: Path, tmp_path: Path) -> None:
    """A change that keeps every balance of the CSV (a larger import limit) is caught by recomputing the
    baseline run from the inputs."""
    run = copy(engine, tmp_path)

    def raise_limit(df: pd.DataFrame) -> None:
        df.loc[df["step"] == 2, "grid_import_capacity_kw"] += 1.0

    edit_csv(run / "baseline_results.csv", raise_limit)
    verify_fails(run, "baseline_results.csv", "grid_import_capacity_kw", "recomputed")


def test_edited_parameters_fail(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    edit_json(run / "params.json", lambda d: d["network"].update(offer_timeout_s=11.0))
    verify_fails(run, "params.json", "genesis")


def test_an_edited_grid_capacity_csv_fails(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)

    def lower(df: pd.DataFrame) -> None:
        df.loc[3, "export_capacity_kw"] = 0.5

    edit_csv(run / "grid_capacity.csv", lower)
    verify_fails(run, "grid_capacity.csv", "export_capacity_kw", "row 3")


def test_edited_absent_counts_in_the_metrics_fail(cluster: Path, tmp_path: Path) -> None:
    run = copy(cluster, tmp_path)

    def add_absent(df: pd.DataFrame) -> None:
        df.loc[1, "absent"] += 1

    edit_csv(run / "network_metrics.csv", add_absent)
    verify_fails(run, "network_metrics.csv", "step 1", "absent")


def test_metrics_rewritten_by_a_restart_fail(cluster: Path, tmp_path: Path) -> None:
    """What a coordinator that rewrote the file at exit left: only its own steps."""
    run = copy(cluster, tmp_path)
    path = run / "network_metrics.csv"
    df = pd.read_csv(path)
    df[df["step"] >= 4].to_csv(path, index=False)
    verify_fails(run, "network_metrics.csv", "no row for step 0")


def test_a_coordinator_killed_between_its_block_and_its_metrics_row_restores_the_row(
    cluster: Path, tmp_path: Path
) -> None:
    """Killed after the block was fsynced and before (or while) its metrics row was written: the restarted
    coordinator cuts the torn line off and gives the block's row from the block, appending only; the
    results written then verify."""
    run = copy(cluster, tmp_path)
    path = run / "network_metrics.csv"
    lines = path.read_text().splitlines(keepends=True)
    kept, lost = lines[:-2], lines[-2:]
    path.write_text("".join(kept) + lost[0][: len(lost[0]) // 2])  # the last row lost, the one before torn
    verify_fails(run, "network_metrics.csv")
    config = coordinator_config(Files(run), CoordinatorOptions("tcp://127.0.0.1:*", "tcp://127.0.0.1:*"))
    Coordinator(config).ledger.close()
    restored = pd.read_csv(path)
    assert path.read_text().startswith("".join(kept))
    steps = [int(line.split(",")[0]) for line in lost]
    assert list(restored["step"])[-2:] == steps
    assert restored.tail(2)["latency_ms"].isna().all() and restored.head(-2)["latency_ms"].notna().all()
    assert list(restored.tail(2)["absent"]) == [len(b.absent) for b in ChaosRun(run).blocks()[-2:]]
    assert cli("results", str(run), "-q").exit_code == 0
    verified = cli("verify", str(run))
    assert verified.exit_code == 0, verified.output
    # a second start finds nothing missing and appends nothing
    before = path.read_bytes()
    Coordinator(config).ledger.close()
    assert path.read_bytes() == before


def test_a_missing_node_ledger_fails_even_with_run_json_saying_in_process(cluster: Path, tmp_path: Path) -> None:
    run = copy(cluster, tmp_path)
    (run / "run.json").write_text(json.dumps({"kind": "in-process"}))
    (run / "ledgers" / "h03.ledger").unlink()
    verify_fails(run, "ledgers", "h03")


def test_a_baseline_run_checks_what_it_has_and_a_ledger_makes_it_a_market_run(tmp_path: Path) -> None:
    params = write_params(tmp_path / "p.json", SHORT)
    assert cli("baseline", "--params", str(params), "--results", str(tmp_path / "r"), "-q").exit_code == 0
    run = only_run_dir(tmp_path / "r")
    result = cli("verify", str(run))
    assert result.exit_code == 0 and "baseline run" in result.output, result.output

    def edit(df: pd.DataFrame) -> None:
        df.loc[0, "grid_export_capacity_kw"] += 1.0

    edit_csv(run / "baseline_results.csv", edit)
    verify_fails(run, "baseline_results.csv", "grid_export_capacity_kw")
    (run / "ledgers" / "coordinator.ledger").write_bytes(os.urandom(100))
    verify_fails(run, "coordinator.ledger")


def test_a_truncated_csv_is_one_line_not_a_traceback(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    path = run / "optimized_results.csv"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    verify_fails(run, "optimized_results.csv")
