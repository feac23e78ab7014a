"""``ets params``, ``ets data`` and ``ets grid-capacity``: a run's parameters and input series."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ets.cli.common import check_table_suffix, fail_cleanly, progress


@click.group()
def params() -> None:
    """Show or save parameters."""


@params.command("show")
@click.option("--params", "params_file", type=click.Path(path_type=Path, exists=True), help="Parameters JSON file.")
@click.option("--json", "as_json", is_flag=True, help="Print the values as JSON.")
@fail_cleanly
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
@fail_cleanly
def params_save(path: Path, params_file: Path | None) -> None:
    """Write parameters (the defaults, or a checked copy of --params) to PATH as JSON."""
    from runtime.params import Params

    (Params.load(params_file) if params_file else Params()).save(path)
    click.echo(str(path))


@click.group()
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
@fail_cleanly
def data_generate(households: int, days: int, seed: int, output: Path, workers: int) -> None:
    """Synthetic community: richardsonpy load and pvlib PV on the shipped test reference year, 15-minute kWh."""
    check_table_suffix(output, "--output")
    try:
        from ets.datagen.community import generate, write_community
    except ImportError as exc:
        from ets.datagen import MISSING_EXTRA

        raise click.ClickException(f"{MISSING_EXTRA} ({exc})") from exc

    with progress(False, households, "households") as advance:
        frame, meta = generate(households, days, seed, workers=workers, on_household=advance)
    meta_path = write_community(frame, meta, output)
    click.echo(f"wrote {output} ({len(frame)} rows) and {meta_path}")


@click.group("grid-capacity")
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
@fail_cleanly
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
