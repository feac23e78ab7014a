"""``ets verify``: a run's ledgers and CSVs, checked against each other and against the rules."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from chain.digest import Digest
from chain.errors import ChainError, InputError
from chain.genesis import Genesis
from chain.ledger import Spans, salvage_file
from chain.validation import TransferRule
from chain.verify import BlockCheck, verify_records
from ets.check.claims import check_inputs, check_metrics, check_params, check_summary
from ets.check.resolve import Resolver
from ets.check.tables import VerifyError, check_csv_file, compare_frames, read_checked_csv
from ets.results.recover import transfer_rule
from ets.results.tables import results_frame, step_records
from ets.run.layout import RunLayout
from ets.run.workflow import load_prepared
from runtime.params import Params


@dataclass
class VerifyReport:
    ledgers: int = 0
    blocks: int = 0
    signatures: int = 0
    rows_checked: int = 0
    seconds: float = 0.0
    """Time spent verifying ledgers (s)."""
    finality: dict[str, float | int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def verify_path(path: Path, *, resolve: bool = False, workers: int | None = None) -> VerifyReport:
    """Verify a run directory, or one ledger file of a run (``<run>/ledgers/<name>.ledger``)."""
    path = Path(path)
    if path.is_file():
        return verify_ledger_file(path, resolve=resolve, workers=workers)
    return verify_run(path, resolve=resolve, workers=workers)


def _checks(layout: RunLayout, genesis: Genesis, resolve: bool) -> tuple[TransferRule, BlockCheck | None]:
    params = Params.load(layout.params)
    return transfer_rule(params, genesis), (Resolver(genesis, params) if resolve else None)


def verify_ledger_file(path: Path, *, resolve: bool = False, workers: int | None = None) -> VerifyReport:
    """One ledger on its own: framing, signatures, links and every rule. A ledger still being written (fewer
    blocks than the run will have) passes; a torn or damaged one does not."""
    layout = RunLayout(path.resolve().parent.parent)
    if not layout.genesis.exists():
        raise InputError(f"{path}: not in a run directory's ledgers/ (no {layout.genesis})")
    genesis = Genesis.load(layout.genesis)
    report = VerifyReport()
    transfers, extra = _checks(layout, genesis, resolve)
    reference = _verify_ledger(path, genesis, report, transfers, extra=extra, workers=workers, complete=False)
    report.finality = reference.digest.finality().to_json()
    if len(reference.records) < genesis.steps + 1:
        report.notes.append(f"the ledger holds {len(reference.records)} of the run's {genesis.steps + 1} blocks")
    return report


def verify_run(run_dir: Path, *, resolve: bool = False, workers: int | None = None) -> VerifyReport:
    """Every claim of a run directory, decided from genesis and the ledgers present (never from
    ``run.json``): ledgers, both CSVs, ``params.json``, ``grid_capacity.csv``, ``network_metrics.csv`` and
    ``summary.json``, each recomputed and compared."""
    layout = RunLayout(Path(run_dir))
    if not layout.genesis.exists():
        raise InputError(f"{run_dir}: not a run directory (no genesis.json)")
    genesis = Genesis.load(layout.genesis)
    report = VerifyReport()
    check_params(layout, genesis)
    prepared = load_prepared(layout.root)
    if _baseline_only(layout):
        report.rows_checked += check_inputs(layout, prepared)
        report.notes.append(
            "no ledger and no market results: a baseline run (`ets baseline`); its CSV, grid_capacity.csv and "
            "params.json were checked"
        )
        return report
    transfers, extra = _checks(layout, genesis, resolve)
    reference = _verify_ledger(layout.coordinator_ledger, genesis, report, transfers, extra=extra, workers=workers)
    report.finality = reference.digest.finality().to_json()
    _check_node_ledgers(layout, genesis, reference, report)
    optimized = layout.root / "optimized_results.csv"
    report.rows_checked += check_inputs(layout, prepared)
    report.rows_checked += check_csv_file(optimized, genesis)
    expected = results_frame(step_records(reference.digest), genesis)
    compare_frames(read_checked_csv(optimized), expected, optimized)
    metrics = check_metrics(layout, genesis, reference.digest)
    check_summary(layout, prepared, reference.digest, metrics)
    return report


def _baseline_only(layout: RunLayout) -> bool:
    """A run directory with no ledger, no market results, no summary and no metrics: what `ets baseline`
    leaves. Any one of them makes it a market run, checked as one."""
    ledgers = list(layout.ledgers.glob("*.ledger*")) if layout.ledgers.is_dir() else []
    market = (layout.root / name for name in ("optimized_results.csv", "summary.json", "network_metrics.csv"))
    return not ledgers and not any(p.exists() for p in market)


def _check_node_ledgers(layout: RunLayout, genesis: Genesis, reference: _Reference, report: VerifyReport) -> None:
    """A cluster run (any node ledger, or the coordinator's network metrics) must have every household's
    ledger, each equal to the coordinator's."""
    node_ledgers = [layout.ledger(h) for h in genesis.household_ids if layout.ledger(h).exists()]
    if node_ledgers or layout.metrics.exists():
        missing = sorted(set(genesis.household_ids) - {p.stem for p in node_ledgers})
        if missing:
            raise VerifyError(f"{layout.ledgers}: no ledger for household(s) {', '.join(missing)}")
    else:
        report.notes.append("no node ledger and no network metrics (an in-process run): the coordinator's ledger")
    for path in node_ledgers:
        records = _read(path)
        with records.records() as mine, reference.records.records() as theirs:
            for height in range(min(len(mine), len(theirs))):
                if mine[height] != theirs[height]:
                    raise VerifyError(f"{path}: height {height}: differs from the coordinator's ledger")
        if len(records) != len(reference.records):
            raise VerifyError(
                f"{path}: height {min(len(records), len(reference.records))}: has {len(records)} blocks, "
                f"the coordinator's ledger {len(reference.records)}"
            )
        report.ledgers += 1


@dataclass
class _Reference:
    records: Spans
    digest: Digest


def _read(path: Path) -> Spans:
    """Where a ledger's records are, strictly (a torn tail is an error too); they are read when used."""
    try:
        return salvage_file(path).strict()
    except ChainError as exc:
        raise VerifyError(f"{path}: height {exc.height}: {exc.reason}") from exc
    except OSError as exc:
        raise VerifyError(f"{path}: cannot read: {exc}") from exc


def _verify_ledger(
    path: Path,
    genesis: Genesis,
    report: VerifyReport,
    transfers: TransferRule,
    *,
    extra: BlockCheck | None = None,
    workers: int | None = None,
    complete: bool = True,
) -> _Reference:
    if not path.exists():
        raise VerifyError(f"{path}: missing")
    records = _read(path)
    started = time.perf_counter()
    try:
        with records.records() as read:
            result = verify_records(read, genesis, transfers, workers=workers, extra=extra)
    except ChainError as exc:
        raise VerifyError(f"{path}: height {exc.height}: {exc.reason}") from exc
    report.seconds += time.perf_counter() - started
    expected = genesis.steps + 1
    if complete and result.blocks != expected:
        raise VerifyError(
            f"{path}: height {result.blocks}: ledger ends after {result.blocks} blocks; a complete run has "
            f"{expected} ({genesis.steps} steps and the closing block)"
        )
    report.ledgers += 1
    report.blocks += result.blocks
    report.signatures += result.signatures
    return _Reference(records, result.digest)
