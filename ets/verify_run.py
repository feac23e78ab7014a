"""``ets verify``: a run's ledgers and CSVs, checked against each other and against the rules."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from chain.blocks import Block
from chain.energy import TOLERANCE_KWH
from chain.errors import ChainError, EtsError, InputError
from chain.finality import finality
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.validation import TransferRule
from chain.verify import BlockCheck, verify_records
from ets.layout import RunLayout
from ets.outcome import COMPLETE, WITH_FAULTS
from ets.params import Params
from ets.recover import transfer_rule
from ets.resolve import Resolver
from ets.results import read_csv, records_from_blocks, results_frame
from ets.tables import checked_numbers, read_columns, where
from ets.workflow import PreparedRun, baseline_frame, grid_capacity_frame, load_prepared, run_summary

MONEY_TOLERANCE = 1e-7
"""$ slack in money checks (floating point)."""


class VerifyError(EtsError):
    """A run failed verification; the message names the file and the first bad height or row."""


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
    report.finality = finality(reference.blocks).to_json()
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
        report.rows_checked += _check_inputs(layout, prepared)
        report.notes.append(
            "no ledger and no market results: a baseline run (`ets baseline`); its CSV, grid_capacity.csv and "
            "params.json were checked"
        )
        return report
    transfers, extra = _checks(layout, genesis, resolve)
    reference = _verify_ledger(layout.coordinator_ledger, genesis, report, transfers, extra=extra, workers=workers)
    report.finality = finality(reference.blocks).to_json()
    _check_node_ledgers(layout, genesis, reference, report)
    optimized = layout.root / "optimized_results.csv"
    report.rows_checked += _check_inputs(layout, prepared)
    report.rows_checked += _check_csv_file(optimized, genesis)
    expected = results_frame(records_from_blocks(reference.blocks, genesis), genesis)
    compare_frames(_read_csv(optimized), expected, optimized)
    metrics = check_metrics(layout, genesis, reference.blocks)
    check_summary(layout, prepared, reference.blocks, metrics)
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
        for height, (mine, theirs) in enumerate(zip(records, reference.records, strict=False)):
            if mine != theirs:
                raise VerifyError(f"{path}: height {height}: differs from the coordinator's ledger")
        if len(records) != len(reference.records):
            raise VerifyError(
                f"{path}: height {min(len(records), len(reference.records))}: has {len(records)} blocks, "
                f"the coordinator's ledger {len(reference.records)}"
            )
        report.ledgers += 1


def check_params(layout: RunLayout, genesis: Genesis) -> Params:
    """``params.json`` must be the parameters genesis was made with (its ``params_hash``)."""
    params = Params.load(layout.params)
    if params.digest() != genesis.params_hash:
        raise VerifyError(
            f"{layout.params}: parameters differ from the ones genesis was made with (params_hash "
            f"{genesis.params_hash.hex()[:16]}..., these {params.digest().hex()[:16]}...)"
        )
    return params


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return read_csv(path)
    except InputError as exc:
        raise VerifyError(str(exc)) from None


def _check_csv_file(path: Path, genesis: Genesis) -> int:
    if not path.exists():
        raise VerifyError(f"{path}: missing")
    return check_csv(path, genesis)


def _check_inputs(layout: RunLayout, prepared: PreparedRun) -> int:
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
    rows = _check_csv_file(baseline, prepared.genesis)
    compare_frames(_read_csv(baseline), baseline_frame(prepared), baseline, "the baseline recomputed from the data:")
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


def check_metrics(layout: RunLayout, genesis: Genesis, blocks: Sequence[Block]) -> pd.DataFrame | None:
    """The coordinator's metrics, well formed, one row per block, absent counts as the blocks record."""
    path = layout.metrics
    if not path.exists():
        return None
    try:
        df = read_columns(path, METRIC_COLUMNS)
        for column in METRIC_COLUMNS:
            checked_numbers(df, column, path, whole=column not in ("latency_ms", "solve_ms"))
    except InputError as exc:
        raise VerifyError(str(exc)) from None
    by_step = {b.step: b for b in blocks}
    seen: set[int] = set()
    for i, (step, absent) in enumerate(zip(df["step"].astype(int), df["absent"].astype(int), strict=True)):
        if step in seen or step not in by_step:
            problem = "appears twice" if step in seen else "has no block in the ledger"
            raise VerifyError(f"{path}: {where(path, i)}: step {step} {problem}")
        seen.add(step)
        if absent != len(by_step[step].absent):
            raise VerifyError(
                f"{path}: {where(path, i)}: step {step}: {absent} absent, the ledger's block records "
                f"{len(by_step[step].absent)}"
            )
    missing = sorted(set(by_step) - seen)
    if missing:
        raise VerifyError(f"{path}: no row for step {missing[0]} (the ledger has its block)")
    return df


def check_summary(
    layout: RunLayout, prepared: PreparedRun, blocks: Sequence[Block], metrics: pd.DataFrame | None
) -> None:
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
    baseline = _read_csv(layout.root / "baseline_results.csv")
    optimized = _read_csv(layout.root / "optimized_results.csv")
    expected = run_summary(prepared, baseline, optimized, blocks, metrics)
    expected.update(blocks=len(blocks), blocks_expected=prepared.genesis.steps + 1)
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


@dataclass
class _Reference:
    records: list[bytes]
    blocks: tuple[Block, ...]


def _read(path: Path) -> list[bytes]:
    try:
        return read_records(path)
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
        result = verify_records(records, genesis, transfers, workers=workers, extra=extra)
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
    return _Reference(records, result.decoded)


class _Rows:
    """Raises ``VerifyError`` naming the first row a check fails on."""

    def __init__(self, df: pd.DataFrame, path: Path) -> None:
        self.df, self.path = df, path

    def require(self, bad: np.ndarray, what: str) -> None:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            step, hid = self.df["step"].iloc[i], self.df["household_id"].iloc[i]
            raise VerifyError(f"{self.path}: row {i} (line {i + 2}, step {step}, household {hid}): {what}")


ENERGY_COLUMNS = (
    "production",
    "consumption",
    "grid_buy",
    "grid_sell",
    "p2p_buy_amount",
    "p2p_sell_amount",
    "charge_kwh",
    "discharge_kwh",
    "curtailed_kwh",
    "unserved_kwh",
    "fees",
    "community_charge_kwh",
    "community_discharge_kwh",
)


def check_csv(path: Path, genesis: Genesis) -> int:
    """Every balance of a result CSV, from the CSV alone; raises ``VerifyError`` naming the first bad row."""
    df = _read_csv(path)
    if df.empty:
        raise VerifyError(f"{path}: no rows")
    rows = _Rows(df, path)
    tol = TOLERANCE_KWH
    c = {name: df[name].to_numpy(dtype=np.float64) for name in df.columns if is_numeric_dtype(df[name])}
    sources = c["production"] + c["grid_buy"] + c["p2p_buy_amount"] + c["discharge_kwh"] + c["unserved_kwh"]
    sinks = c["consumption"] + c["grid_sell"] + c["p2p_sell_amount"] + c["charge_kwh"] + c["curtailed_kwh"]
    rows.require(np.abs(sources - sinks) > tol, "energy balance does not hold")
    rows.require(c["curtailed_kwh"] > c["production"] + tol, "curtailed exceeds production")
    rows.require(c["unserved_kwh"] > c["consumption"] + tol, "unserved exceeds consumption")
    own = (c["charge_kwh"] - c["community_charge_kwh"], c["discharge_kwh"] - c["community_discharge_kwh"])
    shared = (c["community_charge_kwh"], c["community_discharge_kwh"])
    for prefix, label, (charge, discharge) in (("", "stored_kwh", own), ("community_", "community_stored_kwh", shared)):
        stored, start = c[f"{prefix}stored_kwh"], c[f"{prefix}stored_kwh_start"]
        expected = start + c[f"{prefix}charge_efficiency"] * charge - discharge / c[f"{prefix}discharge_efficiency"]
        rows.require(np.abs(expected - stored) > tol, f"{label} does not follow from the battery equation")
        capacity = c["battery_capacity_kwh" if not prefix else "community_capacity_kwh"]
        rows.require((stored < -tol) | (stored > capacity + tol), f"{label} outside [0, capacity]")
        limit = c[f"{prefix}max_power_kw"] * c["dt_hours"] + tol
        rows.require(
            (charge > limit) | (discharge > limit) | (charge < -tol) | (discharge < -tol),
            f"{label}: charge/discharge outside [0, power x step]",
        )
    rows.require(np.any(np.stack([c[n] for n in ENERGY_COLUMNS]) < -tol, axis=0), "a negative energy or fee")
    cost = (
        c["grid_buy"] * c["grid_buy_price"]
        - c["grid_sell"] * c["grid_sell_price"]
        + (c["p2p_buy_amount"] - c["p2p_sell_amount"]) * c["p2p_price"]
        + c["fees"]
        + c["transfer"]
    )
    rows.require(np.abs(cost - c["cost"]) > MONEY_TOLERANCE, "cost does not follow from energies and prices")
    by_household = df.groupby("household_id", sort=False)
    for column, initial in (
        ("stored_kwh", {m.household: m.battery.initial_soc_kwh for m in genesis.members}),
        ("community_stored_kwh", {m.household: m.shared_battery.initial_soc_kwh for m in genesis.members}),
    ):
        start = by_household[column].shift(1).fillna(df["household_id"].map(initial)).to_numpy(dtype=np.float64)
        rows.require(np.abs(start - c[f"{column}_start"]) > tol, f"{column}_start is not the previous {column}")
    start_wallet = by_household["wallet"].shift(1).fillna(genesis.initial_wallet).to_numpy(dtype=np.float64)
    wallet_bad = np.abs(start_wallet - c["cost"] - c["wallet"]) > MONEY_TOLERANCE
    rows.require(wallet_bad, "wallet is not the previous wallet minus the cost")
    _check_community(df, path)
    return len(df)


def _check_community(df: pd.DataFrame, path: Path) -> None:
    g = df.groupby("step", sort=True)
    sums = g[["grid_buy", "grid_sell", "p2p_buy_amount", "p2p_sell_amount", "unserved_kwh", "curtailed_kwh"]].sum()
    first = g[["grid_import_capacity_kw", "grid_export_capacity_kw", "dt_hours", "p2p_price"]].first()
    n = g.size().to_numpy()
    tol = TOLERANCE_KWH * n
    import_room = (first["grid_import_capacity_kw"] * first["dt_hours"] - sums["grid_buy"]).to_numpy()
    export_room = (first["grid_export_capacity_kw"] * first["dt_hours"] - sums["grid_sell"]).to_numpy()
    checks = (
        ((sums["unserved_kwh"].to_numpy() > tol) & (import_room > tol), "demand unserved while import room is left"),
        (
            (sums["curtailed_kwh"].to_numpy() > tol) & (export_room > tol),
            "production curtailed while export room is left",
        ),
        ((sums["p2p_buy_amount"] - sums["p2p_sell_amount"]).abs().to_numpy() > tol, "P2P bought != sold"),
        (
            (sums["grid_buy"] - first["grid_import_capacity_kw"] * first["dt_hours"]).to_numpy() > tol,
            "import above capacity",
        ),
        (
            (sums["grid_sell"] - first["grid_export_capacity_kw"] * first["dt_hours"]).to_numpy() > tol,
            "export above capacity",
        ),
    )
    for mask, what in checks:
        if mask.any():
            step = int(sums.index[np.flatnonzero(mask)[0]])
            raise VerifyError(f"{path}: step {step}: {what}")
    paid = (df["p2p_buy_amount"] * df["p2p_price"]).groupby(df["step"]).sum()
    received = (df["p2p_sell_amount"] * df["p2p_price"]).groupby(df["step"]).sum()
    bad = np.abs(paid - received).to_numpy() > MONEY_TOLERANCE
    if bad.any():
        raise VerifyError(
            f"{path}: step {int(paid.index[np.flatnonzero(bad)[0]])}: buyers pay peers != sellers receive"
        )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def compare_frames(actual: pd.DataFrame, expected: pd.DataFrame, path: Path, source: str = "the ledger says") -> None:
    """The CSV must say what ``source`` (the ledger, or a recomputation) says (to 1e-9)."""
    if len(actual) != len(expected):
        raise VerifyError(f"{path}: has {len(actual)} rows, {source} {len(expected)}")
    for col in expected.columns:
        if col not in actual.columns:
            raise VerifyError(f"{path}: no column {col!r}")
        a, e = actual[col], expected[col]
        if not (is_numeric_dtype(e) and is_numeric_dtype(a)):
            bad = a.astype(str).to_numpy() != e.astype(str).to_numpy()
        else:
            bad = ~np.isclose(a.to_numpy(dtype=np.float64), e.to_numpy(dtype=np.float64), rtol=0, atol=1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise VerifyError(
                f"{path}: row {i} (line {i + 2}): column {col!r} is {_plain(a.iloc[i])!r}, {source} "
                f"{_plain(e.iloc[i])!r}"
            )
