"""What the commands share: clean failures, the parameters and data paths options give, the run options,
and the progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from chain.errors import EtsError, InputError

PROJECT_ROOT: Path = Path(__file__).resolve().parents[2]


def fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into a one-line message and exit status 1 (2 for bad input)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except EtsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:  # a file that cannot be written or read: no traceback, the file and the reason
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            sys.exit(1)

    return wrapper


def resolve_data_path(path: str) -> Path:
    """A data path as given, else relative to the project (where the shipped data lives)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    shipped = PROJECT_ROOT / p
    if shipped.exists():
        return shipped
    raise InputError(f"{path}: no such file")


def load_params(
    params_file: Path | None = None,
    households: int | None = None,
    steps: int | None = None,
    data: str | None = None,
    start_step: int | None = None,
) -> Any:
    """Parameters from a file (or defaults), command-line overrides applied and checked, data path resolved."""
    from runtime.params import Params

    params = Params.load(params_file) if params_file else Params()
    household: dict[str, Any] = {}
    if households is not None:
        household["max_households"] = households
    data_file = resolve_data_path(data or params.household.data_file)
    household["data_file"] = str(data_file)
    if data is not None and params.household.metadata_file not in ("", "auto"):
        household["metadata_file"] = "auto"
    simulation: dict[str, Any] = {"steps": steps} if steps is not None else {}
    if start_step is not None:
        simulation["start_step"] = start_step
    return params.replace(household=household, simulation=simulation)


TABLE_SUFFIXES = (".csv", ".parquet")


def check_table_suffix(path: Path, option: str) -> None:
    """A table is written in the format its suffix names, the one every reader goes by."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(f"{option} {path}: the file's suffix picks its format: use .csv or .parquet")


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--households", "-n", type=int, help="Number of households (first N ids of the data)."),
            click.option("--steps", "-s", type=int, help="Number of steps to run."),
            click.option("--start-step", type=int, help="First step of the data window (run steps)."),
            click.option("--data", type=str, help="Household data file (CSV or Parquet, long format)."),
            click.option("--params", "params_file", type=click.Path(path_type=Path), help="Parameters JSON file."),
            click.option(
                "--results",
                type=click.Path(path_type=Path),
                default=Path("results"),
                show_default=True,
                help="Where run directories are created.",
            ),
            click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table."),
        ]
    ):
        fn = option(fn)
    return fn


class _NoProgress:
    def __enter__(self) -> Callable[[int], None]:
        return lambda n: None

    def __exit__(self, *exc: object) -> None:
        return None


class _Progress:
    def __init__(self, total: int, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
        )
        self.task = self.progress.add_task(label, total=total)

    def __enter__(self) -> Callable[[int], None]:
        self.progress.start()
        return lambda n: self.progress.update(self.task, completed=n)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def progress(quiet: bool, total: int, label: str) -> _Progress | _NoProgress:
    return _NoProgress() if quiet else _Progress(total, label)
