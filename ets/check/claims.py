"""``ets verify``'s checks of what a run directory claims beside its ledgers: the parameters against
genesis, grid_capacity.csv and baseline_results.csv recomputed, network_metrics.csv against the blocks and
summary.json recomputed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from chain.digest import Digest
from chain.errors import InputError
from chain.genesis import Genesis
from coordinator.metrics import MEASURED
from ets.check.tables import VerifyError, check_csv_file, compare_frames, read_checked_csv
from ets.results.outcome import COMPLETE, WITH_FAULTS
from ets.run.layout import RunLayout
from ets.run.workflow import PreparedRun, baseline_frame, grid_capacity_frame, run_summary
from runtime.params import Params
from runtime.tables import checked_numbers, read_columns, where


def check_params(layout: RunLayout, genesis: Genesis) -> Params:
    """``params.json`` must be the parameters genesis was made with (its ``params_hash``)."""
    params = Params.load(layout.params)
    if params.digest() != genesis.params_hash:
        raise VerifyError(
            f"{layout.params}: parameters differ from the ones genesis was made with (params_hash "
            f"{genesis.params_hash.hex()[:16]}..., these {params.digest().hex()[:16]}...)"
        )
    return params


def check_inputs(layout: RunLayout, prepared: PreparedRun) -> int:
    """``grid_capacity.csv`` and ``baseline_results.csv`` recomputed from genesis, the parameters and the
    data as run setup made them, and compared; returns the baseline rows checked."""
    grid_path = layout.root / "grid_capacity.csv"
    if not grid_path.exists():
        raise VerifyError(f"{grid_path}: missing")
    try:
        grid = pd.read_csv(grid_path)
    except (ValueError, OSError) as exc:
        raise VerifyError(f"{grid_path}: cannot read: {exc}") from None
    compare_frames(
        grid, grid_capacity_frame(prepared.genesis, prepared.grid), grid_path, "recomputed from the parameters:"
    )
    baseline = layout.root / "baseline_results.csv"
    rows = check_csv_file(baseline, prepared.genesis)
    compare_frames(
        read_checked_csv(baseline), baseline_frame(prepared), baseline, "the baseline recomputed from the data:"
    )
    return rows


METRIC_COLUMNS = (
    "step",
    "latency_ms",
    "solve_ms",
    "offers",
    "absent",
    "bytes_in",
    "bytes_out",
    "block_bytes",
    "rejected",
)
"""``network_metrics.csv``: one row per step the coordinator sealed (the closing block's too)."""


def check_metrics(layout: RunLayout, genesis: Genesis, digest: Digest) -> pd.DataFrame | None:
    """The coordinator's metrics, well formed, one row per block, absent counts as the blocks record."""
    path = layout.metrics
    if not path.exists():
        return None
    try:
        df = read_columns(path, METRIC_COLUMNS)
        for column in METRIC_COLUMNS:
            whole = column not in ("latency_ms", "solve_ms")
            checked_numbers(df, column, path, whole=whole, blank_ok=column in MEASURED)
    except InputError as exc:
        raise VerifyError(str(exc)) from None
    by_step = {step: len(absent) for step, absent in zip(digest.block_steps, digest.absent, strict=True)}
    seen: set[int] = set()
    for i, (step, absent) in enumerate(zip(df["step"].astype(int), df["absent"].astype(int), strict=True)):
        if step in seen or step not in by_step:
            problem = "appears twice" if step in seen else "has no block in the ledger"
            raise VerifyError(f"{path}: {where(path, i)}: step {step} {problem}")
        seen.add(step)
        if absent != by_step[step]:
            raise VerifyError(
                f"{path}: {where(path, i)}: step {step}: {absent} absent, the ledger's block records {by_step[step]}"
            )
    missing = sorted(set(by_step) - seen)
    if missing:
        raise VerifyError(f"{path}: no row for step {missing[0]} (the ledger has its block)")
    return df


def check_summary(layout: RunLayout, prepared: PreparedRun, digest: Digest, metrics: pd.DataFrame | None) -> None:
    """``summary.json`` computed again from the CSVs, the ledger's blocks and the metrics, as the run wrote
    it; the first claim that differs is named."""
    path = layout.root / "summary.json"
    if not path.exists():
        raise VerifyError(f"{path}: missing")
    try:
        claimed = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VerifyError(f"{path}: cannot read: {exc}") from None
    if not isinstance(claimed, dict):
        raise VerifyError(f"{path}: not a run summary")
    baseline = read_checked_csv(layout.root / "baseline_results.csv")
    optimized = read_checked_csv(layout.root / "optimized_results.csv")
    expected = run_summary(prepared, baseline, optimized, digest, metrics)
    expected.update(blocks=len(digest), blocks_expected=prepared.genesis.steps + 1)
    status = {k: claimed.pop(k, None) for k in ("status", "ledger", "faults", "run_dir")}
    compare_claims(claimed, expected, path)
    _check_status(status, path, layout)


def _check_status(status: dict[str, Any], path: Path, layout: RunLayout) -> None:
    if status["status"] not in (COMPLETE, WITH_FAULTS):
        raise VerifyError(f"{path}: key 'status' is {status['status']!r}; the ledger is complete")
    faults = status["faults"]
    if not isinstance(faults, list) or (status["status"] == COMPLETE and faults):
        raise VerifyError(f"{path}: key 'faults' is {faults!r} for status {status['status']!r}")
    ledger = status["ledger"]
    if not isinstance(ledger, str) or not ledger.startswith("ledgers/") or not (layout.root / ledger).is_file():
        raise VerifyError(f"{path}: key 'ledger' is {ledger!r}, not a ledger of the run")


IGNORED_CLAIMS = frozenset({"solve_seconds"})
"""Keys that measure the verifying machine rather than the run."""


def compare_claims(claimed: Any, expected: Any, path: Path, key: str = "") -> None:
    """``claimed`` must say what ``expected`` says: the same keys, numbers within 1e-6 (relative and
    absolute), the rest equal. Raises ``VerifyError`` naming the first key that differs."""
    name = key or "(top level)"
    if isinstance(expected, dict):
        if not isinstance(claimed, dict):
            raise VerifyError(f"{path}: key {name!r} is {claimed!r}, recomputed an object")
        for k in sorted(set(claimed) | set(expected)):
            sub = f"{key}.{k}" if key else str(k)
            if k in IGNORED_CLAIMS:
                continue
            if k not in expected:
                raise VerifyError(f"{path}: key {sub!r} is not something the run computes")
            if k not in claimed:
                raise VerifyError(f"{path}: key {sub!r} is missing (recomputed {expected[k]!r})")
            compare_claims(claimed[k], expected[k], path, sub)
        return
    numbers = (int, float)
    if isinstance(expected, numbers) and not isinstance(expected, bool):
        same = isinstance(claimed, numbers) and not isinstance(claimed, bool)
        if same and math.isclose(float(claimed), float(expected), rel_tol=1e-6, abs_tol=1e-6):
            return
    elif claimed == expected:
        return
    raise VerifyError(f"{path}: key {name!r} is {claimed!r}, recomputed {expected!r}")
