"""``ets run``, ``ets simulate``, ``ets baseline`` and ``ets results``: running a community, and the results
of a run whatever happened to it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chain.errors import EtsError, InputError
from ets.cli.common import fail_cleanly, load_params, progress, run_options

if TYPE_CHECKING:
    from ets.run.workflow import PreparedRun
    from ets.view.live.session import LiveSession


LIVE_OPTION = click.option(
    "--live",
    is_flag=True,
    help="Show a window with the community wallet and grid buy, baseline vs market, updated each step "
    "(saved as live.png in the run directory).",
)


def _live_session(live: bool, prepared: PreparedRun) -> LiveSession | None:
    """The live view of a prepared run, or None; matplotlib is imported only here, and only for --live."""
    if not live:
        return None
    from ets.view.live.session import LiveSession

    return LiveSession(prepared.run_dir, prepared.genesis)


def _finish_live(session: LiveSession | None, quiet: bool) -> None:
    if session is not None:
        picture = session.finish()
        if not quiet:
            click.echo(f"live view: {picture}")


CHAOS_EXAMPLE = "kill:h03@20,pause:h05@30-40,kill:coordinator@50"
"""The plan ``ets run --help`` shows (household ids of the shipped data; a test parses it)."""


@click.command()
@run_options
@LIVE_OPTION
@click.option("--secure", is_flag=True, help="CurveZMQ between the processes, with an allow-list of the genesis keys.")
@click.option(
    "--chaos",
    default="",
    metavar="PLAN",
    help=f"Faults to inject, e.g. '{CHAOS_EXAMPLE}' (see README, Faults).",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(path_type=Path),
    default=None,
    metavar="RUN_DIR",
    help="Continue an interrupted run in its own directory, with its own parameters.",
)
@fail_cleanly
def run(
    results: Path, quiet: bool, live: bool, secure: bool, chaos: str, resume_dir: Path | None, **options: Any
) -> None:
    """Launch a local cluster (a coordinator and a node process per household) and compare with the baseline.

    Whatever happens, the results are written from the best ledger the run left (see `ets results`).
    Exit status: 0 complete; 3 completed with faults (a process died or hung on its way; see
    logs/supervisor.log); 1 incomplete or failed; 2 bad input; 130 interrupted."""
    from ets.run.cluster import ClusterError
    from ets.run.launcher import run_cluster
    from ets.run.workflow import prepare_run

    if resume_dir is not None:
        prepared = _resumed_run(resume_dir, options)
        faults = _chaos_plan(chaos, prepared.params)
    else:
        params = load_params(**options)
        faults = _chaos_plan(chaos, params)
        prepared = prepare_run(params, results, "cluster")
    session = _live_session(live, prepared)
    failure: ClusterError | None = None
    faults_seen: tuple[str, ...] = ()
    down: tuple[str, ...] = ()
    try:
        with progress(quiet, prepared.genesis.steps + 1, "blocks") as advance:
            outcome = run_cluster(
                prepared.run_dir,
                prepared.genesis,
                on_block=lambda h: advance(h + 1),
                on_block_raw=session.on_raw if session is not None else None,
                secure=secure,
                chaos=faults,
                on_idle=session.idle if session is not None else None,
            )
        faults_seen, down = outcome.faults, outcome.failed
    except KeyboardInterrupt:
        _results_after_interrupt(prepared.run_dir)
        sys.exit(130)
    except ClusterError as exc:
        failure, faults_seen, down = exc, exc.faults, exc.failed
    code = _end_of_run(prepared.run_dir, failure, faults_seen, down, quiet)
    _finish_live(session, quiet)
    if code:
        sys.exit(code)


def _results_after_interrupt(run_dir: Path) -> None:
    """What results an interrupted run has, written quietly; the interruption is what is reported."""
    from ets.results.outcome import write_results

    try:
        summary = write_results(run_dir, quiet=True)
        status = f" ({summary['status']}, {summary['blocks']} of {summary['blocks_expected']} blocks)"
    except EtsError as exc:
        status = f" (no results: {exc})"
    click.echo(
        f"interrupted: every process was stopped; the partial run is in {run_dir}{status} "
        f"(continue it with `ets run --resume {run_dir}`)",
        err=True,
    )


def _end_of_run(
    run_dir: Path, failure: EtsError | None, faults: Sequence[str], failed: Sequence[str], quiet: bool
) -> int:
    """Results from the best ledger, then the failure if any; returns the outcome's exit status.
    ``faults``: what the supervisor saw die or hang on the way (each printed); ``failed``: the processes
    that stayed down."""
    from ets.results.outcome import EXIT_STATUS, write_results

    seen = [*faults, *([str(failure)] if failure is not None else [])]
    for line in faults:
        click.echo(f"fault: {line}", err=True)
    try:
        summary = write_results(run_dir, faults=seen, quiet=quiet)
    finally:
        if failure is not None:
            click.echo(f"error: {failure}", err=True)
    status = str(summary["status"])
    if EXIT_STATUS[status]:
        down = f"; failed: {', '.join(failed)}" if failed else ""
        click.echo(
            f"{status}{down}: results in {run_dir}" if status != "failed" else f"failed: no results ({run_dir})",
            err=True,
        )
    return EXIT_STATUS[status]


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No summary table.")
@fail_cleanly
def results(run_dir: Path, quiet: bool) -> None:
    """Write a run's result CSVs and summary.json again from its best ledger (the coordinator's, or the
    longest valid node copy): for a run that was interrupted, or whose files were damaged or lost. Exit
    status as `ets run`'s."""
    from ets.results.outcome import EXIT_STATUS, write_results

    summary = write_results(run_dir, quiet=quiet)
    status = str(summary["status"])
    if EXIT_STATUS[status]:
        if quiet:
            click.echo(f"{status}: {summary['blocks']} of {summary['blocks_expected']} blocks", err=True)
        sys.exit(EXIT_STATUS[status])


def _chaos_plan(chaos: str, params: Any) -> tuple[Any, ...]:
    from ets.chaos.spec import Action, parse_chaos
    from ets.run.setup import run_household_ids

    faults = parse_chaos(chaos, run_household_ids(params), params.simulation.steps) if chaos.strip() else ()
    if any(f.action is Action.LATE for f in faults) and params.network.start_quorum >= 1:
        raise InputError("--chaos late:...: set network.start_quorum below 1, or the run waits for that household")
    return faults


def _resumed_run(run_dir: Path, options: dict[str, Any]) -> PreparedRun:
    """The run ``--resume`` continues; it has its parameters already, so no option may set others."""
    from ets.run.resume import reopen_run

    given = [name for name, value in options.items() if value is not None]
    if given:
        flags = ", ".join("--params" if n == "params_file" else f"--{n.replace('_', '-')}" for n in given)
        raise InputError(f"--resume takes the run's own parameters: drop {flags}")
    return reopen_run(run_dir)


@click.command()
@run_options
@LIVE_OPTION
@fail_cleanly
def simulate(results: Path, quiet: bool, live: bool, **options: Any) -> None:
    """Run the same market in one process, without the network."""
    from ets.results.outcome import finish_run
    from ets.run.engine import simulate as run_engine
    from ets.run.workflow import digest_of_ledger, prepare_run

    params = load_params(**options)
    prepared = prepare_run(params, results, "in-process")
    session = _live_session(live, prepared)
    with progress(quiet, prepared.genesis.steps + 1, "blocks") as advance:
        run_engine(
            prepared.run_dir,
            prepared.genesis,
            params,
            prepared.grid,
            on_step=lambda s: advance(s + 1),
            on_block=session.on_block if session is not None else None,
        )
    finish_run(prepared, digest_of_ledger(prepared), quiet=quiet)
    _finish_live(session, quiet)


@click.command()
@run_options
@fail_cleanly
def baseline(results: Path, quiet: bool, **options: Any) -> None:
    """Run only the baseline (every household alone) and write baseline_results.csv."""
    from ets.run.workflow import prepare_run

    params = load_params(**options)
    prepared = prepare_run(params, results, "baseline")
    click.echo(str(prepared.run_dir / "baseline_results.csv"))
