"""What a user who gets something wrong sees: one line naming the problem and an exit status, no
traceback (the CLI through click's runner, as a shell would run it)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ets.cli import main
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
