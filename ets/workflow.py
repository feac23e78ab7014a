"""The steps every run shares: prepare the run directory and the baseline, then write the results."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from chain.blocks import Block
from chain.crypto import Verifier
from chain.errors import InputError
from chain.finality import finality
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.reading import read_block
from ets.baseline_runner import run_baseline
from ets.bound import gap_to_optimum
from ets.data import HouseholdData, run_data
from ets.grid import GridSeries, grid_series
from ets.layout import RunLayout
from ets.market_setup import market_config
from ets.meters import MeterSeries
from ets.params import Params
from ets.results import read_csv, records_from_blocks, results_frame, write_csv
from ets.setup import create_run, new_run_dir
from ets.summary import fallback_summary, optimum_line, summarize
from optimizer.forecast_skill import skill_summary


@dataclass(frozen=True)
class PreparedRun:
    run_dir: Path
    genesis: Genesis
    params: Params
    data: HouseholdData
    grid: GridSeries


def prepare_run(params: Params, results: Path, kind: str) -> PreparedRun:
    """A new run directory with keys, genesis, grid_capacity.csv and baseline_results.csv.

    ``kind`` (cluster, in-process or baseline) is recorded in ``run.json``; ``ets verify`` needs ledgers
    only from a cluster run.
    """
    run_dir = new_run_dir(results)
    genesis = create_run(params, run_dir)
    return _prepare_files(params, run_dir, genesis, kind)


def adopt_run(source: Path, results: Path, kind: str = "cluster") -> PreparedRun:
    """A new run directory for a run set up elsewhere (``ets docker setup``): its genesis, parameters and
    public keys (never a private one), grid_capacity.csv and baseline_results.csv; the ledgers go into its
    ``ledgers/`` before ``finish_run``."""
    src = RunLayout(source)
    if not src.genesis.exists():
        raise InputError(f"{source}: not a run directory (no genesis.json)")
    run_dir = new_run_dir(results)
    layout = RunLayout(run_dir)
    for d in (layout.keys, layout.ledgers, layout.logs):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.genesis, layout.genesis)
    shutil.copyfile(src.params, layout.params)
    for pub in sorted(src.keys.glob("*.pub")):
        shutil.copyfile(pub, layout.keys / pub.name)
    return _prepare_files(Params.load(layout.params), run_dir, Genesis.load(layout.genesis), kind)


def _prepare_files(params: Params, run_dir: Path, genesis: Genesis, kind: str) -> PreparedRun:
    RunLayout(run_dir).write_kind(kind)
    data = run_data(genesis, params)
    layout = RunLayout(run_dir)
    for i, hid in enumerate(data.ids):
        MeterSeries(hid, data.first_step, data.production[i], data.consumption[i]).save(layout.meter(hid))
    grid = grid_series(params, genesis.steps + genesis.horizon, len(genesis.members))
    steps = range(genesis.steps)
    pd.DataFrame(
        {
            "timestep": [genesis.start_step + s for s in steps],
            "import_capacity_kw": grid.import_kw[: genesis.steps],
            "export_capacity_kw": grid.export_kw[: genesis.steps],
            "grid_buy_price": grid.buy_price[: genesis.steps],
            "grid_sell_price": grid.sell_price[: genesis.steps],
        }
    ).to_csv(run_dir / "grid_capacity.csv", index=False, float_format="%.17g")
    write_csv(results_frame(run_baseline(genesis, data, grid), genesis), run_dir / "baseline_results.csv")
    return PreparedRun(run_dir, genesis, params, data, grid)


def blocks_from_ledger(prepared: PreparedRun) -> list[Block]:
    """The coordinator's ledger, decoded (signatures checked again on the way)."""
    verifier = Verifier()
    layout = RunLayout(prepared.run_dir)
    return [read_block(raw, prepared.genesis, verifier)[1] for raw in read_records(layout.coordinator_ledger)]


def finish_run(prepared: PreparedRun, blocks: Sequence[Block], *, quiet: bool) -> dict[str, object]:
    """Write optimized_results.csv and summary.json from the run's blocks; print the comparison unless
    ``quiet``."""
    run_dir = prepared.run_dir
    optimized = results_frame(records_from_blocks(blocks, prepared.genesis), prepared.genesis)
    write_csv(optimized, run_dir / "optimized_results.csv")
    baseline = read_csv(run_dir / "baseline_results.csv")
    metrics_path = RunLayout(run_dir).metrics
    metrics = pd.read_csv(metrics_path) if metrics_path.exists() else None
    valuation = market_config(prepared.params, prepared.genesis.dt_hours, prepared.genesis.horizon).valuation
    summary = summarize(baseline, optimized, metrics, valuation)
    gap = gap_to_optimum(prepared.genesis, prepared.params, optimized, baseline, prepared.grid, prepared.data)
    summary["optimum"] = gap.to_json()
    summary["finality"] = finality(blocks).to_json()
    summary["fallback"] = fallback_summary(blocks)
    summary["forecast"] = forecast_skill(prepared)
    summary["run_dir"] = str(run_dir)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not quiet:
        print_summary(summary)
    return summary


def forecast_skill(prepared: PreparedRun) -> dict[str, object]:
    """``summary.json``'s ``forecast``: each forecaster's error over the run's steps, on the same past the
    nodes forecast from (``optimizer.forecast_skill``)."""
    g, data = prepared.genesis, prepared.data
    steps_per_day = max(1, round(24 / g.dt_hours))
    start = g.start_step - data.first_step
    return skill_summary(
        data.production, data.consumption, start, g.steps, g.horizon, steps_per_day, prepared.params.forecaster.kind
    )


def print_summary(summary: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    base = summary["baseline"]
    opt = summary["optimized"]
    assert isinstance(base, dict) and isinstance(opt, dict)
    table = Table(title=f"{summary['households']} households, {summary['steps']} steps")
    table.add_column("")
    table.add_column("baseline", justify="right")
    table.add_column("optimized", justify="right")
    rows = [
        ("community cost ($)", "community_cost", "{:.2f}"),
        ("  grid purchases ($)", "grid_purchase_cost", "{:.2f}"),
        ("  grid sales ($)", "grid_sale_revenue", "{:.2f}"),
        ("grid import (kWh)", "grid_import_kwh", "{:.1f}"),
        ("grid export (kWh)", "grid_export_kwh", "{:.1f}"),
        ("P2P volume (kWh)", "p2p_volume_kwh", "{:.1f}"),
        ("peak import (kW)", "peak_import_kw", "{:.2f}"),
        ("unserved (kWh)", "unserved_kwh", "{:.2f}"),
        ("curtailed (kWh)", "curtailed_kwh", "{:.2f}"),
        ("steps at the import limit", "import_limit_binding_steps", "{:d}"),
        ("steps at the export limit", "export_limit_binding_steps", "{:d}"),
        ("capacity violations", "capacity_violations", "{:d}"),
    ]
    for label, key, fmt in rows:
        table.add_row(label, fmt.format(base[key]), fmt.format(opt[key]))
    console = Console()
    console.print(table)
    console.print(
        f"saving: ${summary['saving']:.2f} ({summary['saving_pct']:.1f}% of the baseline's total cost; cash "
        f"${summary['cash_saving']:.2f}, storage left and unserved energy valued), households worse off: "
        f"{summary['households_worse_off']}"
    )
    optimum = summary["optimum"]
    assert isinstance(optimum, dict)
    console.print(f"perfect-foresight optimum: {optimum_line(optimum)}")
    fallback = summary.get("fallback")
    if isinstance(fallback, dict) and fallback["steps"]:
        console.print(f"steps that fell back to the baseline policy: {fallback['steps']} (summary.json, fallback)")
    console.print(f"results: {summary['run_dir']}")
