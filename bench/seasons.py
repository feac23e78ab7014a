"""The market in every season and with every forecaster: 7-day runs of the shipped data.

For each start (15 Jan, 15 Apr, 15 Jul, 15 Oct) and forecaster (perfect, persistence, seasonal_naive,
profile_blend) it runs ``ets simulate`` (10 households, 672 steps) and prints, from each run's
``summary.json``: the value saving against the baseline, the share of the perfect-foresight saving the
run captured, how many households end worse off, unserved energy and the forecaster's MAE over the run.

    uv run python bench/seasons.py [--jobs 2] [--steps 672] [--out bench-results/seasons]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

STEPS_PER_DAY = 96
STARTS = {"15 Jan": 14, "15 Apr": 104, "15 Jul": 195, "15 Oct": 287}
"""Day of the year (0-based) of each start; the shipped data starts on 1 January."""
FORECASTERS = ("perfect", "persistence", "seasonal_naive", "profile_blend")


def run(season: str, forecaster: str, steps: int, out: Path) -> dict[str, object]:
    results = out / f"{season.replace(' ', '_')}_{forecaster}"
    results.mkdir(parents=True, exist_ok=True)
    params = results / "params.json"
    params.write_text(json.dumps({"forecaster": {"kind": forecaster}}))
    start = STARTS[season] * STEPS_PER_DAY
    command = [sys.executable, "-m", "ets", "simulate", "-q", "-s", str(steps), "--start-step", str(start)]
    subprocess.run([*command, "--params", str(params), "--results", str(results)], check=True)
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text())
    forecast = summary["forecast"].get(forecaster, {})
    return {
        "season": season,
        "forecaster": forecaster,
        "saving": summary["saving"],
        "cash_saving": summary["cash_saving"],
        "captured_pct": summary["optimum"]["saving_captured_pct"],
        "gap_pct": summary["optimum"]["gap_pct"],
        "worse_off": summary["households_worse_off"],
        "unserved_kwh": summary["optimized"]["unserved_kwh"],
        "baseline_unserved_kwh": summary["baseline"]["unserved_kwh"],
        "mae_kwh": forecast.get("mae_kwh"),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=7 * STEPS_PER_DAY)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--forecasters", default=",".join(FORECASTERS))
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="seasons-"))
    cases = [(s, f) for s in STARTS for f in args.forecasters.split(",")]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda c: run(c[0], c[1], args.steps, out), cases))
    print(
        "| season | forecaster | saving ($) | cash saving ($) | captured % | gap % | worse off | unserved kWh "
        "(baseline) | MAE kWh |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mae = "-" if r["mae_kwh"] is None else f"{r['mae_kwh']:.4f}"
        captured = "-" if r["captured_pct"] is None else f"{r['captured_pct']:.1f}"
        print(
            f"| {r['season']} | {r['forecaster']} | {r['saving']:.2f} | {r['cash_saving']:.2f} | {captured} | "
            f"{r['gap_pct']:.2f} | {r['worse_off']} | {r['unserved_kwh']:.2f} ({r['baseline_unserved_kwh']:.2f}) | "
            f"{mae} |"
        )
    for forecaster in args.forecasters.split(","):
        shares = [float(str(r["captured_pct"])) for r in rows if r["forecaster"] == forecaster and r["captured_pct"]]
        if shares:
            print(f"{forecaster}: mean captured {sum(shares) / len(shares):.1f}% over {len(shares)} weeks")
    (out / "seasons.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"runs and seasons.json in {out}")


if __name__ == "__main__":
    main()
