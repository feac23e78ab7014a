"""The steps every run shares: prepare the run directory and the baseline, then write the results."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chain.crypto import Verifier
from chain.digest import Digest
from chain.errors import InputError
from chain.genesis import Genesis
from chain.ledger import iter_records
from chain.reading import read_block
from ets.check.bound import gap_to_optimum
from ets.results.summary import fallback_summary, optimum_line, summarize
from ets.results.tables import results_frame, write_csv
from ets.run.baseline import run_baseline
from ets.run.layout import RunLayout
from ets.run.setup import building_run_dir, create_run, publish_run_dir
from optimizer.forecast_skill import skill_summary
from runtime.data import HouseholdData, run_data
from runtime.grid import GridSeries, grid_series
from runtime.market_setup import market_config
from runtime.meters import MeterSeries
from runtime.params import Params


@dataclass(frozen=True)
class PreparedRun:
    run_dir: Path
    genesis: Genesis
    params: Params
    data: HouseholdData
    grid: GridSeries


def prepare_run(params: Params, results: Path, kind: str) -> PreparedRun:
    """A new run directory with keys, genesis, grid_capacity.csv and baseline_results.csv.

    It is made in a hidden directory beside the others and renamed into place once complete, so a run that
    fails before it starts (bad input, a failing baseline, Ctrl-C) leaves no half-made run directory.
    ``kind`` (cluster, in-process or baseline) is recorded in ``run.json`` for people; ``ets verify``
    decides what to check from genesis and the ledgers alone.
    """
    with building_run_dir(results) as building:
        genesis = create_run(params, building)
        prepared = _prepare_files(params, building, genesis, kind)
    return replace(prepared, run_dir=publish_run_dir(building, results))


def adopt_run(source: Path, results: Path, kind: str = "cluster") -> PreparedRun:
    """A new run directory for a run set up elsewhere (``ets docker setup``): its genesis, parameters and
    public keys (never a private one), grid_capacity.csv and baseline_results.csv; the ledgers go into its
    ``ledgers/`` before ``ets.results.outcome.finish_run``."""
    src = RunLayout(source)
    if not src.genesis.exists():
        raise InputError(f"{source}: not a run directory (no genesis.json)")
    with building_run_dir(results) as building:
        layout = RunLayout(building)
        for d in (layout.keys, layout.ledgers, layout.logs):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.genesis, layout.genesis)
        shutil.copyfile(src.params, layout.params)
        for pub in sorted(src.keys.glob("*.pub")):
            shutil.copyfile(pub, layout.keys / pub.name)
        prepared = _prepare_files(Params.load(layout.params), building, Genesis.load(layout.genesis), kind)
    return replace(prepared, run_dir=publish_run_dir(building, results))


def grid_capacity_frame(genesis: Genesis, grid: GridSeries) -> pd.DataFrame:
    """``grid_capacity.csv``: the transformer limits and grid prices of each run step."""
    n = genesis.steps
    return pd.DataFrame(
        {
            "timestep": [genesis.start_step + s for s in range(n)],
            "import_capacity_kw": grid.import_kw[:n],
            "export_capacity_kw": grid.export_kw[:n],
            "grid_buy_price": grid.buy_price[:n],
            "grid_sell_price": grid.sell_price[:n],
        }
    )


def baseline_frame(prepared: PreparedRun) -> pd.DataFrame:
    """``baseline_results.csv``: every household alone, on the run's data, batteries and grid."""
    return results_frame(run_baseline(prepared.genesis, prepared.data, prepared.grid), prepared.genesis)


def _prepare_files(params: Params, run_dir: Path, genesis: Genesis, kind: str) -> PreparedRun:
    RunLayout(run_dir).write_kind(kind)
    data = run_data(genesis, params)
    layout = RunLayout(run_dir)
    for i, hid in enumerate(data.ids):
        MeterSeries(hid, data.first_step, data.production[i], data.consumption[i]).save(layout.meter(hid))
    grid = grid_series(params, genesis.steps + genesis.horizon, len(genesis.members))
    prepared = PreparedRun(run_dir, genesis, params, data, grid)
    write_csv(grid_capacity_frame(genesis, grid), run_dir / "grid_capacity.csv")
    write_csv(baseline_frame(prepared), run_dir / "baseline_results.csv")
    return prepared


def load_prepared(run_dir: Path) -> PreparedRun:
    """A run directory's inputs read back: genesis, parameters, the households' series (from the data file
    ``params.json`` names, or where it is gone from the run's own meter files) and the grid series."""
    layout = RunLayout(run_dir)
    if not layout.genesis.exists():
        raise InputError(f"{run_dir}: not a run directory (no genesis.json)")
    genesis = Genesis.load(layout.genesis)
    params = Params.load(layout.params)
    from_file = Path(params.household.data_file).is_file()
    data = run_data(genesis, params) if from_file else meter_data(layout, genesis)
    grid = grid_series(params, genesis.steps + genesis.horizon, len(genesis.members))
    return PreparedRun(run_dir, genesis, params, data, grid)


def meter_data(layout: RunLayout, genesis: Genesis) -> HouseholdData:
    """The households' series as run setup cut them into ``meters/``."""
    series = [MeterSeries.load(layout.meter(h), h) for h in genesis.household_ids]
    firsts = {s.first_step for s in series}
    if len(firsts) != 1:
        raise InputError(f"{layout.root / 'meters'}: the meter files start at different steps")
    production = np.stack([s.production_kwh for s in series])
    consumption = np.stack([s.consumption_kwh for s in series])
    return HouseholdData(genesis.household_ids, production, consumption, genesis.dt_hours, firsts.pop())


def digest_of_ledger(prepared: PreparedRun) -> Digest:
    """The digest of the coordinator's ledger, read one block at a time (signatures checked again on the
    way)."""
    verifier = Verifier()
    layout = RunLayout(prepared.run_dir)
    digest = Digest(prepared.genesis)
    for raw in iter_records(layout.coordinator_ledger):
        digest.add(read_block(raw, prepared.genesis, verifier)[1])
    return digest


def run_summary(
    prepared: PreparedRun,
    baseline: pd.DataFrame,
    optimized: pd.DataFrame,
    digest: Digest,
    metrics: pd.DataFrame | None,
) -> dict[str, Any]:
    """``summary.json``'s KPIs, over the steps ``optimized`` covers (all of the run's, or those sealed
    before it stopped): absent households from the blocks, network figures from the coordinator's metrics,
    the gap to the optimum over the same steps."""
    steps = int(optimized["step"].nunique())
    base = baseline[baseline["step"] < steps]
    valuation = market_config(prepared.params, prepared.genesis.dt_hours, prepared.genesis.horizon).valuation
    summary = summarize(base, optimized, metrics, valuation)
    absent = absent_counts(digest)
    if "network" in summary:
        summary["network"]["absent_household_steps"] = sum(absent.values())
    summary["absent_household_steps"] = absent
    gap = gap_to_optimum(prepared.genesis, prepared.params, optimized, base, prepared.grid, prepared.data, steps)
    summary["optimum"] = gap.to_json()
    summary["finality"] = digest.finality().to_json()
    summary["fallback"] = fallback_summary(digest.fallbacks)
    summary["forecast"] = forecast_skill(prepared, steps)
    return summary


def absent_counts(digest: Digest) -> dict[str, int]:
    """Steps each household was recorded absent in (households never absent left out)."""
    counts: dict[str, int] = {}
    for absent in digest.absent:
        for hid in absent:
            counts[hid] = counts.get(hid, 0) + 1
    return dict(sorted(counts.items()))


def forecast_skill(prepared: PreparedRun, steps: int | None = None) -> dict[str, object]:
    """``summary.json``'s ``forecast``: each forecaster's error over the run's steps (its first ``steps``),
    on the same past the nodes forecast from (``optimizer.forecast_skill``)."""
    g, data = prepared.genesis, prepared.data
    steps_per_day = max(1, round(24 / g.dt_hours))
    start = g.start_step - data.first_step
    return skill_summary(
        data.production,
        data.consumption,
        start,
        g.steps if steps is None else steps,
        g.horizon,
        steps_per_day,
        prepared.params.forecaster.kind,
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
