"""``ets verify`` and ``ets bound``: checking a run, and its gap to the perfect-foresight optimum."""

from __future__ import annotations

from pathlib import Path

import click

from chain.errors import EtsError, InputError
from ets.cli.common import fail_cleanly


@click.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option("--resolve", is_flag=True, help="Also clear every block again and compare with what it records.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Processes for signatures (default: cores).")
@fail_cleanly
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


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@fail_cleanly
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
