"""Results always come out: from the best ledger a run directory holds (`ets results`, and the end of
`ets run` whatever happened), for incomplete and damaged runs too, written atomically; a run that fails
before it starts leaves no run directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.ledger import Ledger, read_records
from tests.conftest import child_pids, cli, only_run_dir, write_params
from tests.test_cli_errors import invoke, one_error_line

pytestmark = pytest.mark.timeout(240)

SHORT = {"simulation": {"steps": 8}, "household": {"max_households": 3}}


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_params(tmp_path_factory.mktemp("results_params") / "p.json", SHORT)


@pytest.fixture(scope="module")
def engine(params: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results_engine")
    assert cli("simulate", "--params", str(params), "--results", str(root / "r"), "-q").exit_code == 0
    return only_run_dir(root / "r")


def copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def summary(run: Path) -> dict:  # type: ignore[type-arg]
    data: dict = json.loads((run / "summary.json").read_text())  # type: ignore[type-arg]
    return data


def without_place(s: dict) -> dict:  # type: ignore[type-arg]
    """A summary without what depends on where and how fast it was computed."""
    s = dict(s)
    s.pop("run_dir")
    s["optimum"] = {k: v for k, v in s["optimum"].items() if k != "solve_seconds"}
    return s


def cut_ledger(path: Path, keep: int, torn: bytes = b"") -> None:
    records = read_records(path)
    path.unlink()
    with Ledger.open(path) as ledger:
        for raw in records[:keep]:
            ledger.append(raw)
    with path.open("ab") as f:
        f.write(torn)


def test_results_writes_again_what_a_complete_run_wrote(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    (run / "optimized_results.csv").unlink()
    (run / "summary.json").unlink()
    result = invoke("results", str(run), "-q")
    assert result.exit_code == 0, result.output
    assert (run / "optimized_results.csv").read_bytes() == (engine / "optimized_results.csv").read_bytes()
    assert without_place(summary(run)) == without_place(summary(engine))
    assert summary(run)["status"] == "complete" and summary(run)["ledger"] == "ledgers/coordinator.ledger"
    assert cli("verify", str(run)).exit_code == 0


def test_an_incomplete_run_has_results_for_the_steps_it_sealed(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    cut_ledger(run / "ledgers" / "coordinator.ledger", 5, torn=b"\x00\x00\x01")
    result = invoke("results", str(run))
    assert result.exit_code == 1, result.output
    s = summary(run)
    assert (s["status"], s["blocks"], s["blocks_expected"], s["steps"]) == ("incomplete", 5, 9, 5)
    assert any("torn record at height 5" in f for f in s["faults"])
    assert s["optimum"]["status"] == "optimal"
    assert "incomplete: 5 of 9 blocks" in result.output
    bound = invoke("bound", str(run))
    assert bound.exit_code == 0 and "gap:" in bound.output, bound.output
    report = invoke("report", str(run), "--out", str(tmp_path / "report"))
    assert report.exit_code == 0, report.output
    assert "coordinator.ledger" in one_error_line(invoke("verify", str(run)))


def test_a_ledger_damaged_in_the_middle_gives_the_blocks_before_the_damage(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    path = run / "ledgers" / "coordinator.ledger"
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # inside the closing block
    path.write_bytes(bytes(data))
    assert invoke("results", str(run), "-q").exit_code == 1
    s = summary(run)
    assert (s["status"], s["blocks"], s["steps"]) == ("incomplete", 8, 8)
    assert any("coordinator.ledger: damaged at height 8" in f for f in s["faults"]), s["faults"]


def test_a_run_without_any_block_failed(engine: Path, tmp_path: Path) -> None:
    run = copy(engine, tmp_path)
    (run / "ledgers" / "coordinator.ledger").unlink()
    (run / "optimized_results.csv").unlink()
    result = invoke("results", str(run), "-q")
    assert result.exit_code == 1
    assert summary(run)["status"] == "failed" and summary(run)["faults"] == ["ledgers/coordinator.ledger: missing"]
    line = one_error_line(invoke("bound", str(run)))
    assert "optimized_results.csv" in line


def test_a_failed_start_leaves_no_run_directory(tmp_path: Path) -> None:
    """The window past the data is found after keys and genesis were written: nothing of them stays."""
    result = invoke("simulate", "--results", str(tmp_path / "r"), "-q", "--start-step", "35000")
    assert result.exit_code == 2
    assert list((tmp_path / "r").iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (root only), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    with (disk / "filler").open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_a_full_disk_is_one_line_naming_it_and_tears_nothing(engine: Path, small_disk: Path) -> None:
    run = small_disk / "run"
    shutil.copytree(engine, run)
    before = (run / "optimized_results.csv").read_bytes()
    (run / "summary.json").unlink()
    fill(small_disk)
    result = invoke("results", str(run), "-q")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "optimized_results.csv" in line and "No space left on device" in line and str(small_disk) in line
    assert (run / "optimized_results.csv").read_bytes() == before  # the old file, whole
    assert not list(run.glob(".*.tmp"))
    assert not (run / "summary.json").exists()
    (small_disk / "filler").unlink()
    result = invoke("verify", str(run))
    assert "summary.json: missing" in one_error_line(result)


def test_the_coordinators_ledger_deleted_mid_run_results_come_from_a_node_copy(
    params: Path, engine: Path, tmp_path: Path
) -> None:
    """The coordinator goes on writing the deleted file's blocks; at the end of `ets run` the results come
    from a household's ledger, verified, equal to the in-process run's; the exit status is 3."""
    results = tmp_path / "r"
    stop = threading.Event()
    deleted: list[Path] = []

    def delete_when_written() -> None:
        while not stop.is_set():
            for ledger in results.glob("sim_*/ledgers/coordinator.ledger"):
                try:
                    if len(read_records(ledger)) >= 3:
                        ledger.unlink()
                        deleted.append(ledger)
                        return
                except Exception:  # being written: try again
                    pass
            time.sleep(0.05)

    watcher = threading.Thread(target=delete_when_written, daemon=True)
    watcher.start()
    before = set(child_pids())
    try:
        result = invoke("run", "--params", str(params), "--results", str(results), "-q")
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert set(child_pids()) - before == set()
    assert deleted, "the coordinator's ledger was never deleted"
    assert result.exit_code == 3, result.output
    run = only_run_dir(results)
    s = summary(run)
    assert s["status"] == "completed with faults"
    assert s["ledger"].startswith("ledgers/h0") and s["blocks"] == s["blocks_expected"] == 9
    assert s["faults"] == ["ledgers/coordinator.ledger: missing"]
    assert (run / "optimized_results.csv").read_bytes() == (engine / "optimized_results.csv").read_bytes()
    assert "completed with faults" in result.output
    again = invoke("results", str(run), "-q")
    assert again.exit_code == 3 and summary(run)["ledger"] == s["ledger"]
