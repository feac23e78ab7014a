"""The ``ets`` command line. Heavy modules are imported inside the commands that need them, so a node
process does not pay for the solver or plotting."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chain.errors import EtsError, InputError
from runtime import envvars

if TYPE_CHECKING:
    from ets.run.workflow import PreparedRun
    from ets.view.live.session import LiveSession
    from ets.view.playback.model import Playback

PROJECT_ROOT: Path = Path(__file__).resolve().parents[2]


def _fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
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


@click.group()
def main() -> None:
    """Peer-to-peer energy trading network simulator."""


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


@main.command()
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
@_fail_cleanly
def run(
    results: Path, quiet: bool, live: bool, secure: bool, chaos: str, resume_dir: Path | None, **options: Any
) -> None:
    """Launch a local cluster (a coordinator and a node process per household) and compare with the baseline.

    Whatever happens, the results are written from the best ledger the run left (see `ets results`).
    Exit status: 0 complete; 3 completed with faults (a process died or hung on its way; see
    logs/supervisor.log); 1 incomplete or failed; 2 bad input; 130 interrupted."""
    from ets.run.launcher import ClusterError, run_cluster
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
        with _progress(quiet, prepared.genesis.steps + 1, "blocks") as advance:
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


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No summary table.")
@_fail_cleanly
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


@main.command()
@run_options
@LIVE_OPTION
@_fail_cleanly
def simulate(results: Path, quiet: bool, live: bool, **options: Any) -> None:
    """Run the same market in one process, without the network."""
    from ets.run.engine import simulate as run_engine
    from ets.run.workflow import blocks_from_ledger, finish_run, prepare_run

    params = load_params(**options)
    prepared = prepare_run(params, results, "in-process")
    session = _live_session(live, prepared)
    with _progress(quiet, prepared.genesis.steps + 1, "blocks") as advance:
        run_engine(
            prepared.run_dir,
            prepared.genesis,
            params,
            prepared.grid,
            on_step=lambda s: advance(s + 1),
            on_block=session.on_block if session is not None else None,
        )
    finish_run(prepared, blocks_from_ledger(prepared), quiet=quiet)
    _finish_live(session, quiet)


@main.command()
@run_options
@_fail_cleanly
def baseline(results: Path, quiet: bool, **options: Any) -> None:
    """Run only the baseline (every household alone) and write baseline_results.csv."""
    from ets.run.workflow import prepare_run

    params = load_params(**options)
    prepared = prepare_run(params, results, "baseline")
    click.echo(str(prepared.run_dir / "baseline_results.csv"))


@main.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option("--resolve", is_flag=True, help="Also clear every block again and compare with what it records.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Processes for signatures (default: cores).")
@_fail_cleanly
def verify(path: Path, resolve: bool, workers: int | None) -> None:
    """Check a run directory (every ledger, the CSVs) or one ledger file. Exit 0, or 1 naming the first bad
    height or row."""
    from ets.check.verify import verify_path

    report = verify_path(path, resolve=resolve, workers=workers)
    rate = f", {report.signatures / report.seconds:,.0f} signatures/s" if report.seconds > 0 else ""
    click.echo(
        f"ok: {report.ledgers} ledgers, {report.blocks} blocks, {report.signatures} signatures, "
        f"{report.rows_checked} CSV rows checked{rate}"
    )
    if report.finality:
        f = report.finality
        click.echo(
            f"finality: {f['final_blocks']} of {f['blocks']} blocks final, lag p50 {f['lag_p50_blocks']:g} blocks"
        )
    for note in report.notes:
        click.echo(f"note: {note}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@_fail_cleanly
def bound(run_dir: Path) -> None:
    """The perfect-foresight optimum of a run's inputs and the run's gap to it."""
    from ets.check.bound import gap_of_run
    from ets.run.layout import RunLayout

    layout = RunLayout(run_dir)
    for needed in ("genesis.json", "params.json", "baseline_results.csv", "optimized_results.csv"):
        if not (run_dir / needed).is_file():
            if layout.coordinator_ledger.exists() or any(layout.ledgers.glob("*.ledger")):
                raise InputError(f"{run_dir}: no {needed}; `ets results {run_dir}` writes it from the run's ledgers")
            made_by = {"baseline": " (a run of `ets baseline`, which has no market results)"}.get(layout.kind(), "")
            raise InputError(f"{run_dir}: no {needed}{made_by}; `ets bound` needs a run of `ets run` or `ets simulate`")
    gap = gap_of_run(run_dir)
    if gap.status != "optimal":
        raise EtsError(f"the optimum could not be computed: solver status {gap.status}")
    click.echo(f"optimum:   {gap.optimum:12.4f} $  (value cost: cash - storage left + unserved, valued)")
    click.echo(f"run:       {gap.run:12.4f} $")
    click.echo(f"baseline:  {gap.baseline:12.4f} $")
    click.echo(f"gap:       {gap.gap:12.4f} $  ({gap.gap_pct:.2f}% of the baseline's total cost)")
    if gap.captured_pct is None:
        click.echo(f"captured:  the optimum saves only ${gap.possible:.2f} over the baseline, too little to measure by")
    else:
        click.echo(
            f"captured:  {gap.captured_pct:11.1f} %  of the ${gap.possible:.2f} the optimum saves over the baseline"
        )


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--save",
    "save_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a file instead of opening a window: .gif or .mp4 (every step) or .png (the step of --frame).",
)
@click.option(
    "--speed",
    type=click.FloatRange(0.25, 10.0),
    default=1.0,
    show_default=True,
    help="Playback speed, 0.25x-10x; 1x is 2 steps per second.",
)
@click.option("--frame", "frame_step", type=int, default=None, help="The step to show first, or to save as .png.")
@click.option("--dpi", type=click.IntRange(30, 300), default=100, show_default=True, help="Resolution of saved files.")
@_fail_cleanly
def playback(run_dir: Path, save_path: Path | None, speed: float, frame_step: int | None, dpi: int) -> None:
    """Play a run back: households on a circle around the city grid, energy arrows, status, and the wallet,
    grid, battery, energy and P2P plots (baseline vs optimized). Opens a window unless --save is given."""
    from ets.view.playback.model import load_playback

    if save_path is not None and frame_step is not None and save_path.suffix.lower() != ".png":
        raise InputError(
            f"--frame {frame_step}: a {save_path.suffix or 'movie'} has every step of the run; --frame picks "
            "the step of a .png (or the first step the window shows)"
        )
    model = load_playback(run_dir)
    index = _frame_index(model, frame_step)
    if save_path is None:
        from ets.view.playback.interactive import play

        play(model, speed, index)
        return
    if not save_path.parent.is_dir():
        raise InputError(f"{save_path.parent}: no such directory")
    if save_path.suffix.lower() == ".png":
        from ets.view.playback.save import save_frame

        save_frame(model, index, save_path, dpi)
    else:
        from ets.view.playback.save import movie_writer, save_movie

        movie_writer(save_path, speed)  # checks the format before any frame is drawn
        with _progress(False, model.length, "frames") as advance:
            save_movie(model, save_path, speed, dpi, on_frame=advance)
    click.echo(f"wrote {save_path}")


def _frame_index(model: Playback, frame_step: int | None) -> int:
    if frame_step is None:
        return 0
    try:
        return model.index_of(frame_step)
    except ValueError:
        raise InputError(f"--frame {frame_step}: the run has steps {model.steps[0]} to {model.steps[-1]}") from None


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the page and the figures (default: RUN_DIR/report).",
)
@_fail_cleanly
def report(run_dir: Path, out: Path | None) -> None:
    """Write PNG figures and an HTML page (KPI table, saving per household, grid import duration curve
    against the limit, prices, battery use) about a run."""
    from ets.view.report import write_report

    written = write_report(run_dir, out)
    for path in written:
        click.echo(str(path))


def _setup_logging(name: str) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format=f"%(asctime)s {name} %(levelname)s %(message)s", force=True
    )


SECURE_HELP = "CurveZMQ with an allow-list of the genesis keys (default: on unless every address is loopback)."


def _env_option(*names: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An option that can also be set from the environment, which --help shows."""
    return click.option(*names, show_envvar=True, **kwargs)


def _file_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The files a process reads and writes: each given on its own, or taken from a run directory."""
    existing = click.Path(path_type=Path, exists=True, dir_okay=False)
    for option in reversed(
        [
            _env_option(
                "--run-dir",
                type=click.Path(path_type=Path, exists=True, file_okay=False),
                envvar=envvars.RUN_DIR,
                help="A prepared run directory: every file below not given is taken from it.",
            ),
            _env_option("--genesis", type=existing, envvar=envvars.GENESIS, help="genesis.json of the run."),
            _env_option(
                "--params", "params_file", type=existing, envvar=envvars.PARAMS, help="params.json of the run."
            ),
            _env_option("--key", type=existing, envvar=envvars.KEY, help="This process's private key."),
            _env_option(
                "--ledger",
                type=click.Path(path_type=Path, dir_okay=False),
                envvar=envvars.LEDGER,
                help="This process's ledger (created if missing, resumed if present).",
            ),
            _env_option(
                "--heartbeat",
                type=click.Path(path_type=Path, dir_okay=False),
                envvar=envvars.HEARTBEAT,
                help="A file rewritten every few seconds while the process is alive, for `ets health`.",
            ),
            _env_option(
                "--exit-with-parent",
                is_flag=True,
                envvar=envvars.EXIT_WITH_PARENT,
                help="Leave when the launching process is gone.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _leave_with_parent(exit_with_parent: bool) -> None:
    """With ``--exit-with-parent``: SIGTERM from the kernel the moment the launcher ends (Linux), asked for
    before anything else, so a launcher killed during the start leaves nothing behind (``runtime.parent``)."""
    if exit_with_parent:
        from runtime.parent import signal_when_parent_dies

        signal_when_parent_dies()


def _files(
    run_dir: Path | None, genesis: Path | None, params_file: Path | None, key: Path | None, ledger: Path | None
) -> Any:
    from ets.run.process_config import Files

    return Files(run_dir, genesis, params_file, key, ledger)


@main.command(context_settings={"show_default": True})
@_file_options
@_env_option("--household", envvar=envvars.HOUSEHOLD, help="This node's household id.")
@_env_option(
    "--household-index",
    envvar=envvars.HOUSEHOLD_INDEX,
    help="Instead of --household: the household's position in genesis (0 = first), or a name ending in -N "
    "(a StatefulSet pod's name, households-3) for position N.",
)
@_env_option(
    "--coordinator-router",
    "--router",
    "router",
    envvar=envvars.COORDINATOR_ROUTER,
    required=True,
    help="Coordinator's ROUTER endpoint, e.g. tcp://coordinator:5555.",
)
@_env_option(
    "--coordinator-pub",
    "--pub",
    "pub",
    envvar=envvars.COORDINATOR_PUB,
    required=True,
    help="Coordinator's PUB endpoint, e.g. tcp://coordinator:5556.",
)
@_env_option(
    "--gossip-bind", envvar=envvars.GOSSIP_BIND, default="tcp://127.0.0.1:*", help="Where this node publishes."
)
@_env_option(
    "--gossip-advertise",
    envvar=envvars.GOSSIP_ADVERTISE,
    help="The endpoint peers are told to connect to (default: the one bound; set it when binding a wildcard).",
)
@_env_option(
    "--sync-bind", envvar=envvars.SYNC_BIND, default="tcp://127.0.0.1:*", help="Where peers ask it for blocks."
)
@_env_option(
    "--sync-advertise",
    envvar=envvars.SYNC_ADVERTISE,
    help="The catch-up endpoint peers are told (default: the one bound; set it when binding a wildcard).",
)
@_env_option("--secure/--no-secure", envvar=envvars.SECURE, default=None, help=SECURE_HELP)
@_env_option(
    "--meter",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.METER,
    help="This household's meter file (default: the run directory's meters/<household>.npz, else --data).",
)
@_env_option(
    "--data",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    envvar=envvars.DATA,
    help="Household data file (default: the one the parameters name).",
)
@_fail_cleanly
def node(
    household: str | None,
    household_index: str | None,
    router: str,
    pub: str,
    gossip_bind: str,
    gossip_advertise: str | None,
    sync_bind: str,
    sync_advertise: str | None,
    secure: bool | None,
    meter: Path | None,
    data: Path | None,
    heartbeat: Path | None,
    exit_with_parent: bool,
    **files: Any,
) -> None:
    """Run one household node. Every option can be set from the environment (ETS_ + its name)."""
    _leave_with_parent(exit_with_parent)
    from ets.run.process_config import NodeOptions, node_config
    from node.service import run_node

    options = NodeOptions(
        household,
        household_index,
        router,
        pub,
        gossip_bind,
        gossip_advertise,
        sync_bind,
        sync_advertise,
        secure,
        meter,
        data,
        heartbeat,
        exit_with_parent,
    )
    config = node_config(_files(**files), options)
    _setup_logging(config.household)
    sys.exit(run_node(config))


@main.command(context_settings={"show_default": True})
@_file_options
@_env_option("--router-bind", envvar=envvars.ROUTER_BIND, default="tcp://127.0.0.1:*", help="ROUTER endpoint.")
@_env_option("--pub-bind", envvar=envvars.PUB_BIND, default="tcp://127.0.0.1:*", help="PUB endpoint.")
@_env_option(
    "--endpoints-file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.ENDPOINTS_FILE,
    help="Where to write the endpoints bound (default: the run directory's coordinator_endpoints.json).",
)
@_env_option(
    "--metrics-file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.METRICS_FILE,
    help="Where to write per-step network metrics (default: the run directory's network_metrics.csv).",
)
@_env_option("--secure/--no-secure", envvar=envvars.SECURE, default=None, help=SECURE_HELP)
@_fail_cleanly
def coordinator(
    router_bind: str,
    pub_bind: str,
    endpoints_file: Path | None,
    metrics_file: Path | None,
    secure: bool | None,
    heartbeat: Path | None,
    exit_with_parent: bool,
    **files: Any,
) -> None:
    """Run the coordinator. Every option can be set from the environment (ETS_ + its name)."""
    _leave_with_parent(exit_with_parent)
    from coordinator.service import run_coordinator
    from ets.run.process_config import CoordinatorOptions, coordinator_config

    options = CoordinatorOptions(
        router_bind, pub_bind, endpoints_file, metrics_file, secure, heartbeat, exit_with_parent
    )
    config = coordinator_config(_files(**files), options)
    _setup_logging("coordinator")
    sys.exit(run_coordinator(config))


@main.command()
@click.option(
    "--heartbeat",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=envvars.HEARTBEAT,
    required=True,
    show_envvar=True,
    help="The heartbeat file of the process to check.",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=0, min_open=True),
    envvar=envvars.MAX_AGE,
    default=30.0,
    show_default=True,
    show_envvar=True,
    help="Seconds since the last beat beyond which the process counts as unhealthy.",
)
@_fail_cleanly
def health(heartbeat: Path, max_age: float) -> None:
    """Exit 0 if the process writing HEARTBEAT beat within MAX_AGE seconds, else 1 (a container's health
    check)."""
    from runtime.health import check

    beat = check(heartbeat, max_age)
    click.echo(f"ok: pid {beat.pid}, height {beat.height}")


@main.group()
def params() -> None:
    """Show or save parameters."""


@params.command("show")
@click.option("--params", "params_file", type=click.Path(path_type=Path, exists=True), help="Parameters JSON file.")
@click.option("--json", "as_json", is_flag=True, help="Print the values as JSON.")
@_fail_cleanly
def params_show(params_file: Path | None, as_json: bool) -> None:
    """Every parameter with its value, unit and help text."""
    from runtime.params import Params, describe

    p = Params.load(params_file) if params_file else Params()
    if as_json:
        click.echo(json.dumps(p.to_dict(), indent=2))
        return
    group = None
    for key, value, unit, help_text in describe(p):
        g = key.split(".")[0]
        if g != group:
            click.echo(f"\n[{g}]")
            group = g
        unit_text = f" {unit}" if unit else ""
        click.echo(f"  {key.split('.', 1)[1]} = {value!r}{unit_text}\n      {help_text}")


@params.command("save")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--params", "params_file", type=click.Path(path_type=Path, exists=True), help="Start from this file.")
@_fail_cleanly
def params_save(path: Path, params_file: Path | None) -> None:
    """Write parameters (the defaults, or a checked copy of --params) to PATH as JSON."""
    from runtime.params import Params

    (Params.load(params_file) if params_file else Params()).save(path)
    click.echo(str(path))


@main.group()
def data() -> None:
    """Household data sets."""


@data.command("generate")
@click.option("--households", "-n", type=click.IntRange(1, 10_000), default=40, show_default=True)
@click.option("--days", "-d", type=click.IntRange(1, 365), default=365, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=2010, show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Parquet or CSV file; the metadata is written beside it as <stem>.meta.csv.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes to use.")
@_fail_cleanly
def data_generate(households: int, days: int, seed: int, output: Path, workers: int) -> None:
    """Synthetic community: richardsonpy load and pvlib PV on the shipped test reference year, 15-minute kWh."""
    check_table_suffix(output, "--output")
    try:
        from ets.datagen.community import generate, write_community
    except ImportError as exc:
        from ets.datagen import MISSING_EXTRA

        raise click.ClickException(f"{MISSING_EXTRA} ({exc})") from exc

    with _progress(False, households, "households") as advance:
        frame, meta = generate(households, days, seed, workers=workers, on_household=advance)
    meta_path = write_community(frame, meta, output)
    click.echo(f"wrote {output} ({len(frame)} rows) and {meta_path}")


@main.group("grid-capacity")
def grid_capacity() -> None:
    """Transformer limit series."""


@grid_capacity.command("generate")
@click.option("--steps", type=click.IntRange(1), required=True, help="Number of steps to write.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option(
    "--start-step",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="First timestep written. Timesteps count run steps from the start of the household data: a run "
    "with --start-step T and S steps reads T to T+S-1 plus the forecast horizon (the default run: 11424 "
    "to 11615, `--start-step 11424 --steps 192`).",
)
@click.option("--step-hours", type=float, default=0.25, show_default=True)
@click.option("--import-kw", type=click.FloatRange(0), default=None, help="Base import limit (default: parameters).")
@click.option("--export-kw", type=click.FloatRange(0), default=None, help="Base export limit (default: parameters).")
@click.option("--peak-reduction", type=click.FloatRange(0, 1), default=None, help="Share of the limit kept at peak.")
@click.option("--noise-std", type=click.FloatRange(0, 1), default=None, help="Relative noise (standard deviation).")
@click.option("--seed", type=click.IntRange(0), default=None)
@click.option("--params", "params_file", type=click.Path(path_type=Path, exists=True), help="Parameters JSON file.")
@_fail_cleanly
def grid_capacity_generate(
    steps: int,
    output: Path,
    start_step: int,
    step_hours: float,
    import_kw: float | None,
    export_kw: float | None,
    peak_reduction: float | None,
    noise_std: float | None,
    seed: int | None,
    params_file: Path | None,
) -> None:
    """Synthetic limits with a daily peak reduction and noise, in the timestep/import/export format."""
    from runtime.grid import synthetic_capacity, write_capacity
    from runtime.params import Params

    check_table_suffix(output, "--output")
    p = Params.load(params_file) if params_file else Params()
    c = p.grid_capacity
    imp, exp = synthetic_capacity(
        start_step,
        steps,
        step_hours,
        import_kw if import_kw is not None else c.import_capacity_kw,
        export_kw if export_kw is not None else c.export_capacity_kw,
        peak_reduction if peak_reduction is not None else c.peak_reduction_factor,
        noise_std if noise_std is not None else c.noise_std,
        (c.peak_start_hour, c.peak_end_hour),
        seed if seed is not None else p.simulation.seed,
    )
    write_capacity(output, start_step, imp, exp)
    click.echo(f"wrote {output} ({steps} steps)")


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


def _progress(quiet: bool, total: int, label: str) -> _Progress | _NoProgress:
    return _NoProgress() if quiet else _Progress(total, label)


from ets.cli.docker import docker  # noqa: E402  (it uses the helpers above)

main.add_command(docker)
