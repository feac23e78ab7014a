"""Clearing speed: median time per step (parameters updated, problem already compiled) for N households
and horizon H, side by side with a formulation built the way the original project built it
(constraints created in Python loops over households and steps, rebuilt every step, no parameters).

    uv run python bench/clearing.py                  # the full table (several minutes)
    uv run python bench/clearing.py --quick          # N in {5, 50}, fewer repeats
    uv run python bench/clearing.py --paths          # direct against cvxpy, N in {10, 100, 1000}, H=96
    uv run python bench/clearing.py --blocking 8x1,32x4  # move blocking: time per step and closed-loop regret
    uv run python bench/clearing.py --blocking 32x8 --run-households 1000  # regret of the data tiled to 1000

Households are drawn from the shipped data (tiled with a random scale when N exceeds it), with their
batteries and community-battery shares; the grid is the default time-of-use tariff and scaled limits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loop_formulation import solve_loop_formulation
from bench.tiled import write_tiled
from chain.genesis import BatterySpec
from ets.cli.common import PROJECT_ROOT
from optimizer.blocking import Blocking
from optimizer.clearing import build_model
from optimizer.clearing_lp import build_clearing
from optimizer.flows import Storage
from optimizer.programme import Costs, MarketInputs
from runtime.data import load_households
from runtime.grid import grid_series
from runtime.metadata import metadata_path, read_metadata
from runtime.params import Params

DATA = PROJECT_ROOT / "household_dbs" / "community40_15min.parquet"


def community(n: int, horizon: int, steps: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """(storage, production (N, steps + H), consumption, soc, shared_soc) for n households."""
    params = Params()
    start = params.simulation.start_step
    data = load_households(DATA, 40, start_step=start, steps=steps + horizon, dt_hours=0.25, data_dt_hours=0.25)
    meta = read_metadata(metadata_path(DATA))
    rng = np.random.default_rng(seed)
    pick = np.arange(n) % 40
    scale = np.where(np.arange(n) < 40, 1.0, rng.uniform(0.7, 1.3, n))[:, None]
    b, cb = params.battery, params.community_battery
    own, shared = [], []
    for i in pick:
        m = meta[data.ids[i]]
        own.append(BatterySpec(m.battery_kwh, m.battery_kw, b.charge_efficiency, b.discharge_efficiency, 0.0))
        share = m.community_battery_share * 40 / max(n, 40)
        shared.append(BatterySpec(cb.capacity_kwh * share, cb.max_power_kw * share, 0.96, 0.96, 0.0))
    storage = Storage.from_specs(own, shared, cb.service_fee_per_kwh)
    soc = np.array([s.capacity_kwh * 0.2 for s in own])
    shared_soc = np.array([s.capacity_kwh * 0.2 for s in shared])
    return storage, data.production[pick] * scale, data.consumption[pick] * scale, soc, shared_soc


def inputs_at(step: int, horizon: int, production, consumption, soc, shared_soc, grid) -> MarketInputs:  # type: ignore[no-untyped-def]
    window = grid.window(step, horizon)
    return MarketInputs(
        production[:, step : step + horizon],
        consumption[:, step : step + horizon],
        soc,
        shared_soc,
        window.buy_price,
        window.sell_price,
        window.import_kw * 0.25,
        window.export_kw * 0.25,
        0.12,
    )


def costs() -> Costs:
    o = Params().optimizer
    return Costs(o.p2p_transaction_cost, Params().battery.wear_cost_per_kwh, o.unserved_penalty, o.curtailment_penalty)


def bench_parametric(n: int, horizon: int, repeats: int, solver: str) -> tuple[float, float]:
    """(median seconds per step after the first, seconds for the first step incl. compiling)."""
    storage, production, consumption, soc, shared_soc = community(n, horizon, repeats)
    grid = grid_series(Params(), repeats + horizon, n)
    model = build_model(storage, horizon, 0.25, costs(), solver, "pool", 4)
    times = []
    for step in range(repeats):
        started = time.perf_counter()
        result = model.solve(inputs_at(step, horizon, production, consumption, soc, shared_soc, grid))
        times.append(time.perf_counter() - started)
        assert result.status == "optimal", result.status
    return statistics.median(times[1:]), times[0]


def bench_path(
    n: int, horizon: int, steps: int, path: str, topology: str = "pool", blocking: Blocking | None = None
) -> tuple[float, list[float]]:
    """(median seconds per step over steps 2..steps, the objectives) for one clearing path, PIQP."""
    storage, production, consumption, soc, shared_soc = community(n, horizon, steps)
    grid = grid_series(Params(), steps + horizon, n)
    model = build_clearing(storage, horizon, 0.25, costs(), "PIQP", topology, 4, path=path, blocking=blocking)
    times, objectives = [], []
    for step in range(steps):
        started = time.perf_counter()
        result = model.solve(inputs_at(step, horizon, production, consumption, soc, shared_soc, grid))
        times.append(time.perf_counter() - started)
        assert result.status == "optimal", result.status
        objectives.append(result.objective)
    return statistics.median(times[1:]), objectives


def compare_paths(sizes: list[int], horizon: int, steps: int, topology: str = "pool") -> None:
    """Both clearing paths side by side on the same steps: median ms per step over steps 2..steps."""
    print(f"{topology}:")
    print("| N | H | cvxpy + PIQP per step | direct PIQP per step | speed-up | largest relative objective difference |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        stated, a = bench_path(n, horizon, steps, "cvxpy", topology)
        direct, b = bench_path(n, horizon, steps, "direct", topology)
        gap = max(abs(x - y) / max(1.0, abs(x)) for x, y in zip(a, b, strict=True))
        cells = f"{stated * 1000:.1f} ms | {direct * 1000:.1f} ms | {stated / direct:.2f}x | {gap:.1e}"
        print(f"| {n} | {horizon} | {cells} |", flush=True)


def closed_loop_cost(fine: int, block: int, steps: int, workdir: Path, base: Path | None = None) -> tuple[float, float]:
    """(the run's, the baseline's) community cost (value basis, $) of an ``ets simulate`` over ``steps``
    steps, realistic default forecaster, move blocking ``fine`` x ``block``: of the shipped default run, or
    of the run the parameters file ``base`` describes (``bench.tiled``)."""
    settings = json.loads(base.read_text()) if base is not None else {}
    settings["optimizer"] = {**settings.get("optimizer", {}), "fine_steps": fine, "block_steps": block}
    params = workdir / f"f{fine}b{block}.json"
    params.write_text(json.dumps(settings))
    results = workdir / params.stem
    command = [sys.executable, "-m", "ets", "simulate", "-q", "-s", str(steps), "--params", str(params)]
    started = time.perf_counter()
    subprocess.run([*command, "--results", str(results)], check=True, cwd=PROJECT_ROOT)
    print(f"  ran {fine} x {block} over {steps} steps in {time.perf_counter() - started:.0f} s", flush=True)
    summary = json.loads(next(results.glob("*/summary.json")).read_text())
    return float(summary["optimized"]["value_cost"]), float(summary["baseline"]["value_cost"])


def compare_blocking(
    settings: list[tuple[int, int]], sizes: list[int], steps: int, run_steps: int, run_households: int
) -> None:
    """Each move-blocking setting (fine steps x block length) against the exact horizon: median ms per step
    of the direct path at each N (H=96) and the closed-loop regret of an ``ets simulate`` of ``run_steps``
    steps of the shipped default community (or of the shipped data tiled to ``run_households``): (its cost
    - the exact run's) / |the exact run's| (and / the baseline's cost). ``run_steps`` 0: times only."""
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        if run_steps and run_households != Params().household.max_households:
            base = write_tiled(run_households, run_steps, Path(tmp) / "tiled")[1]
        exact = baseline = 0.0
        if run_steps:
            exact, baseline = closed_loop_cost(1, 1, run_steps, Path(tmp), base)
            print(
                f"closed loop: {run_steps} steps of {run_households} households, exact cost ${exact:.4f}, "
                f"baseline ${baseline:.4f}"
            )
        columns = " | ".join(f"N={n} ms per step" for n in sizes)
        print(f"| fine x block | periods | {columns} | regret | of baseline |")
        print("|---|---|" + "---|" * len(sizes) + "---|---|")
        for fine, block in settings:
            blocking = Blocking(96, fine, block)
            times = [bench_path(n, 96, steps, "direct", blocking=blocking)[0] * 1000 for n in sizes]
            shares = "- | -"
            if run_steps:
                cost = exact if blocking.exact else closed_loop_cost(fine, block, run_steps, Path(tmp), base)[0]
                regret, of_baseline = (cost - exact) / abs(exact), (cost - exact) / baseline
                shares = f"{regret * 100:.3f}% | {of_baseline * 100:.3f}%"
            cells = " | ".join(f"{t:.1f}" for t in times)
            print(f"| {fine} x {block} | {blocking.periods.size} | {cells} | {shares} |", flush=True)


def bench_loop(n: int, horizon: int, repeats: int) -> float:
    storage, production, consumption, soc, shared_soc = community(n, horizon, repeats)
    grid = grid_series(Params(), repeats + horizon, n)
    times = []
    for step in range(repeats):
        started = time.perf_counter()
        solve_loop_formulation(
            storage, inputs_at(step, horizon, production, consumption, soc, shared_soc, grid), costs()
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--solvers", default="PIQP,CLARABEL,HIGHS")
    parser.add_argument("--paths", action="store_true", help="direct against cvxpy (N in --sizes, H=96)")
    parser.add_argument("--sizes", default="10,100,1000", help="with --paths: community sizes")
    parser.add_argument("--steps", type=int, default=6, help="with --paths: steps solved (the first not timed)")
    parser.add_argument("--topology", default="pool", choices=("pool", "ring"), help="with --paths")
    parser.add_argument("--blocking", help="settings FINExBLOCK, comma-separated (1x1 is the exact horizon)")
    parser.add_argument(
        "--run-steps", type=int, default=672, help="with --blocking: closed-loop run length (0: times only)"
    )
    parser.add_argument(
        "--run-households", type=int, default=10, help="with --blocking: the closed-loop run's households (tiled)"
    )
    args = parser.parse_args()
    if args.blocking:
        settings = [(int(f), int(b)) for f, b in (s.split("x") for s in args.blocking.split(","))]
        sizes = [int(n) for n in args.sizes.split(",")]
        compare_blocking(settings, sizes, args.steps, args.run_steps, args.run_households)
        return
    if args.paths:
        compare_paths([int(n) for n in args.sizes.split(",")], 96, args.steps, args.topology)
        return
    sizes = [5, 50] if args.quick else [5, 50, 200, 1000]
    solvers = args.solvers.split(",")
    print(
        "| N | H | "
        + " | ".join(f"{s} per step (first)" for s in solvers)
        + " | loop formulation per step | speed-up |"
    )
    print("|---|---|" + "---|" * len(solvers) + "---|---|")
    for n in sizes:
        for horizon in (5, 96):
            repeats = 3 if n >= 1000 else (5 if n >= 200 or args.quick else 11)
            cells, best = [], float("inf")
            for solver in solvers:
                if solver == "HIGHS" and n * horizon > 20_000:
                    cells.append("-")
                    continue
                median, first = bench_parametric(n, horizon, repeats, solver)
                best = min(best, median)
                cells.append(f"{median * 1000:.1f} ms ({first * 1000:.0f} ms)")
            if n <= 50:
                loop = bench_loop(n, horizon, 3)
                loop_cell, speedup = f"{loop * 1000:.0f} ms", f"{loop / best:.0f}x"
            else:
                loop_cell, speedup = "-", "-"
            print(f"| {n} | {horizon} | " + " | ".join(cells) + f" | {loop_cell} | {speedup} |", flush=True)


if __name__ == "__main__":
    main()
