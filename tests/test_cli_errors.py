"""What a user who gets something wrong sees: one line naming the problem and an exit status, no
traceback (the CLI through click's runner, as a shell would run it)."""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ets.chaos.spec import parse_chaos
from ets.cli import main
from ets.cli.common import load_params
from ets.cli.running import CHAOS_EXAMPLE
from ets.run.cluster import ClusterError, Proc
from ets.run.launcher import failure
from ets.run.layout import RunLayout
from tests.conftest import only_run_dir, write_params


def invoke(*args: str) -> Result:
    """The CLI as a shell runs it: an exception that escapes is a traceback, so it fails the test."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback: {result.exception!r}\n{result.output}") from result.exception
    return result


def one_error_line(result: Result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return errors[0]


def test_bound_of_a_baseline_run_says_it_has_no_market_results(tmp_path: Path) -> None:
    params = write_params(tmp_path / "p.json", {"simulation": {"steps": 4}})
    assert invoke("baseline", "--params", str(params), "--results", str(tmp_path / "r"), "-q").exit_code == 0
    run = only_run_dir(tmp_path / "r")
    result = invoke("bound", str(run))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "optimized_results.csv" in line and "ets baseline" in line and "ets run" in line


def test_results_that_is_a_file_is_named(tmp_path: Path) -> None:
    params = write_params(tmp_path / "p.json", {"simulation": {"steps": 4}})
    existing = tmp_path / "results.txt"
    existing.write_text("not a directory\n")
    for command in ("run", "simulate", "baseline"):
        result = invoke(command, "--params", str(params), "--results", str(existing), "-q")
        assert result.exit_code == 2, command
        line = one_error_line(result)
        assert f"--results {existing}" in line and "not a directory" in line
    assert existing.read_text() == "not a directory\n"


def test_a_read_only_results_directory_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = write_params(tmp_path / "p.json", {"simulation": {"steps": 4}})
    results = tmp_path / "readonly"
    results.mkdir()
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self.parent == results:  # what a read-only file system answers (root can write a chmod 555 one)
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)
    result = invoke("run", "--params", str(params), "--results", str(results), "-q")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert f"--results {results}" in line and "Read-only file system" in line


def test_an_unwritable_file_elsewhere_is_one_line(tmp_path: Path) -> None:
    """Any other file the system refuses (here: a parameters file written into a missing directory)."""
    result = invoke("params", "save", str(tmp_path / "missing" / "p.json"))
    assert result.exit_code == 1
    assert "No such file or directory" in one_error_line(result)


def finished(code: int) -> subprocess.Popen[bytes]:
    popen = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    popen.wait()
    return popen


def test_a_start_barrier_timeout_says_why_in_the_message(tmp_path: Path) -> None:
    """The coordinator gives up at the start barrier (a loaded machine: the nodes' hellos came late); the
    message carries the reason from its log and the parameter to raise, and the nodes it stopped are not
    reported as failures of their own."""
    layout = RunLayout(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "params.json").write_text(json.dumps({"network": {"start_timeout_s": 60.0}}))
    log = layout.log("coordinator")
    log.write_text(
        "2026-12-01 10:00:00,000 coordinator INFO waiting for 10 households\n"
        "2026-12-01 10:01:00,000 coordinator ERROR start barrier: no hello from h07, h09\n"
    )
    procs = [Proc("coordinator", finished(2), log)]
    procs += [Proc(f"h{i:02d}", finished(130), layout.log(f"h{i:02d}")) for i in range(1, 11)]
    error = failure(procs, layout)
    assert isinstance(error, ClusterError)
    message = str(error)
    assert message.startswith("coordinator exited with 2: start barrier: no hello from h07, h09")
    assert "network.start_timeout_s (60 s" in message and str(log) in message
    assert "10 other process(es) were stopped" in message and "h01" not in message


def test_processes_stopped_by_ctrl_c_are_an_interruption_not_a_failure(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    procs = [Proc(name, finished(130), layout.log(name)) for name in ("coordinator", "h01", "h02")]
    assert isinstance(failure(procs, layout), KeyboardInterrupt)


def test_the_chaos_example_of_the_help_is_a_valid_plan() -> None:
    from ets.run.setup import run_household_ids
    from runtime.params import Params

    params = load_params()
    assert CHAOS_EXAMPLE in invoke("run", "--help").output.replace("\n", "").replace(" ", "")
    faults = parse_chaos(CHAOS_EXAMPLE, run_household_ids(params), Params().simulation.steps)
    assert [f.target for f in faults] == ["h03", "h05", "coordinator"]


def test_flood_plans_name_their_target_and_last_some_seconds() -> None:
    from chain.errors import InputError
    from ets.chaos.spec import Action

    ids = ["h01", "h02", "h03"]
    faults = parse_chaos("big_flood:coordinator@5+5s,hello_flood:h03@6+4s,big_flood:h02@7+1.5s", ids, 20)
    assert [(f.action, f.target, f.after_s) for f in faults] == [
        (Action.BIG_FLOOD, "coordinator", 5.0),
        (Action.HELLO_FLOOD, "h03", 4.0),
        (Action.BIG_FLOOD, "h02", 1.5),
    ]
    for plan, reason in (
        ("big_flood:coordinator@5", "a flood lasts +SECONDSs"),
        ("hello_flood:h03@5-8", "a flood lasts +SECONDSs"),
        ("hello_flood:coordinator@5+2s", "name the household"),
    ):
        with pytest.raises(InputError, match=re.escape(reason)):
            parse_chaos(plan, ids, 20)


def test_an_unknown_chaos_target_lists_the_households(tmp_path: Path) -> None:
    params = write_params(tmp_path / "p.json")
    result = invoke("run", "--params", str(params), "--results", str(tmp_path / "r"), "--chaos", "kill:h3@2")
    assert result.exit_code == 2
    assert "'h3' is neither a household" in one_error_line(result)
    assert "h01, h02, h03, h04, h05" in one_error_line(result)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--start-step", "35000"], "asks for steps 35000 to 35095 (start step 35000, 96 steps"),
        (["--start-step", "35000"], "from step 35000 it has 40 steps (-s 40)"),
        (["--start-step", "35000"], "the start step can be at most 34944"),
        (["-s", "30000"], "asks for steps 11424 to 41423 (start step 11424, 30000 steps"),
        (["--start-step", "36000"], "step 36000 is past its end"),
    ],
)
def test_a_window_past_the_data_is_described_as_the_user_gave_it(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = invoke("simulate", "--results", str(tmp_path / "r"), "-q", *args)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert expected in line and "the file has steps 0 to 35039" in line
    assert "34904" not in line and "192" not in line  # the day of history the forecasters get is ours


@pytest.mark.parametrize("command", [["data", "generate"], ["grid-capacity", "generate", "--steps", "4"]])
def test_a_table_is_written_only_under_a_suffix_that_names_its_format(tmp_path: Path, command: list[str]) -> None:
    out = tmp_path / "x.txt"
    result = invoke(*command, "-o", str(out))
    assert result.exit_code == 2
    assert "use .csv or .parquet" in one_error_line(result)
    assert not out.exists()


def test_a_grid_capacity_file_that_misses_the_run_says_which_one_fits(tmp_path: Path) -> None:
    short = tmp_path / "cap.csv"
    assert invoke("grid-capacity", "generate", "--steps", "96", "-o", str(short)).exit_code == 0
    params = write_params(tmp_path / "p.json", {"grid_capacity": {"mode": "file", "file": str(short)}})
    result = invoke("simulate", "--params", str(params), "--results", str(tmp_path / "r"), "-q")
    assert result.exit_code == 2
    line = one_error_line(result)
    start = 11_424 + 40  # SMALL's start step; 12 steps and a horizon of 16
    assert f"the file has timesteps 0..95, and this run needs {start}..{start + 27}" in line
    assert "count run steps from the start of the household data" in line
    remedy = f"ets grid-capacity generate --start-step {start} --steps 28"
    assert remedy in line
    fits = tmp_path / "fits.csv"
    assert invoke(*remedy.split()[1:], "-o", str(fits)).exit_code == 0
    params = write_params(tmp_path / "p.json", {"grid_capacity": {"mode": "file", "file": str(fits)}})
    assert invoke("simulate", "--params", str(params), "--results", str(tmp_path / "r"), "-q").exit_code == 0


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_frame_with_a_movie_is_refused(tmp_path: Path, suffix: str) -> None:
    result = invoke("playback", str(tmp_path), "--frame", "52", "--save", str(tmp_path / f"day{suffix}"))
    assert result.exit_code == 2
    assert "--frame picks the step of a .png" in one_error_line(result)
    assert not (tmp_path / f"day{suffix}").exists()
