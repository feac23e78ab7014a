"""What a run ends with, whatever happened: the result CSVs and ``summary.json`` from the best ledger the
run directory holds, and a status that tells a complete run from one with faults, one that ended early
and one that left nothing to show.

``summary.json`` carries, beside the KPIs:

* ``status``: ``complete`` (every block, from the coordinator's ledger, no fault), ``completed with
  faults`` (every block, but a process failed or the results come from a node's copy of the ledger),
  ``incomplete`` (fewer blocks than the run has: the results cover the steps sealed) or ``failed`` (no
  block: no results);
* ``ledger``: the ledger the results come from (``ledgers/<name>.ledger``), null when none;
* ``blocks`` and ``blocks_expected`` (the run's steps and the closing block);
* ``faults``: one line per thing that went wrong (a process that failed, a ledger missing or damaged).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from chain.digest import Digest
from chain.errors import EtsError
from ets.results.recover import best_ledger
from ets.results.tables import read_csv, result_chunks, step_records, write_csv
from ets.run.layout import RunLayout
from ets.run.workflow import PreparedRun, baseline_frame, load_prepared, print_summary, run_summary
from runtime.atomic import write_atomic

COMPLETE = "complete"
WITH_FAULTS = "completed with faults"
INCOMPLETE = "incomplete"
FAILED = "failed"

EXIT_STATUS = {COMPLETE: 0, WITH_FAULTS: 3, INCOMPLETE: 1, FAILED: 1}
"""``ets run``'s and ``ets results``' exit status for each outcome."""

STATUS_KEYS = ("status", "ledger", "blocks", "blocks_expected", "faults", "run_dir")
"""The keys of ``summary.json`` that say what happened rather than what the run achieved."""


def status_of(blocks: int, expected: int, faults: Sequence[str]) -> str:
    if blocks == 0:
        return FAILED
    if blocks < expected:
        return INCOMPLETE
    return WITH_FAULTS if faults else COMPLETE


def read_metrics(layout: RunLayout) -> pd.DataFrame | None:
    """The coordinator's per-step metrics (``network_metrics.csv``), None where there are none."""
    path = layout.metrics
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise EtsError(f"{path}: cannot read: {exc}") from None


def write_outcome(
    prepared: PreparedRun, ledger: Path | None, digest: Digest | None, faults: Sequence[str], *, quiet: bool
) -> dict[str, Any]:
    """Write ``optimized_results.csv`` (where there is a block) and ``summary.json`` from ``digest``, the
    verified blocks of ``ledger`` (None: no block); print the comparison unless ``quiet``."""
    layout = RunLayout(prepared.run_dir)
    g = prepared.genesis
    faults = list(faults)
    summary: dict[str, Any] = {}
    blocks = 0 if digest is None else len(digest)
    cleared = digest is not None and any(step < g.steps for step in digest.block_steps)
    if digest is not None and cleared:
        chunks = list(result_chunks(step_records(digest), g))
        write_csv(chunks, layout.root / "optimized_results.csv")
        optimized = pd.concat(chunks, ignore_index=True)
        del chunks
        metrics = read_metrics(layout)
        summary = run_summary(prepared, _baseline(prepared), optimized, digest, metrics)
    name = str(ledger.relative_to(layout.root)) if ledger is not None and cleared else None
    summary.update(
        status=status_of(blocks if cleared else 0, g.steps + 1, faults),
        ledger=name,
        blocks=blocks,
        blocks_expected=g.steps + 1,
        faults=faults,
        run_dir=str(layout.root),
    )
    write_atomic(layout.root / "summary.json", _json(summary))
    if not quiet:
        print_outcome(summary)
    return summary


def _json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2) + "\n"


def _baseline(prepared: PreparedRun) -> pd.DataFrame:
    """``baseline_results.csv``, written again from the run's inputs where it is missing or damaged."""
    path = prepared.run_dir / "baseline_results.csv"
    try:
        return read_csv(path)
    except EtsError:
        frame = baseline_frame(prepared)
        write_csv(frame, path)
        return read_csv(path)


def write_results(run_dir: Path, *, faults: Sequence[str] = (), quiet: bool = True) -> dict[str, Any]:
    """Results of a run directory from its best ledger (``ets.results.recover``), whatever state it is in: the
    coordinator's ledger, or where that is missing, damaged or shorter the longest valid node copy.
    ``faults`` are what the caller saw fail (processes); the ledgers' problems are added. Returns the
    summary written to ``summary.json``."""
    prepared = load_prepared(Path(run_dir))
    layout = RunLayout(prepared.run_dir)
    choice, problems = best_ledger(layout, prepared.genesis, prepared.params)
    all_faults = [*faults, *problems]
    if choice is None:
        return write_outcome(prepared, None, None, all_faults, quiet=quiet)
    return write_outcome(prepared, choice.path, choice.digest, all_faults, quiet=quiet)


def print_outcome(summary: dict[str, Any]) -> None:
    """The comparison table where there are results, then what happened if anything went wrong."""
    import click

    if "baseline" in summary:
        print_summary(summary)
    status = summary["status"]
    if status == COMPLETE:
        return
    if status == INCOMPLETE:
        click.echo(
            f"incomplete: {summary['blocks']} of {summary['blocks_expected']} blocks; the results cover the steps "
            "sealed",
            err=True,
        )
    elif status == FAILED:
        click.echo(f"failed: no block to write results from ({summary['run_dir']})", err=True)
    for fault in summary["faults"]:
        click.echo(f"fault: {fault}", err=True)


def finish_run(prepared: PreparedRun, digest: Digest, *, quiet: bool) -> dict[str, object]:
    """Write optimized_results.csv and summary.json from the run's blocks (the coordinator's ledger,
    ``Digest``); print the comparison unless ``quiet``."""
    layout = RunLayout(prepared.run_dir)
    return write_outcome(prepared, layout.coordinator_ledger, digest, (), quiet=quiet)
