"""Forecast error per household over a year of the shipped data, for each realistic forecaster.

    uv run python bench/forecasters.py               # 40 households, a forecast every hour (about a minute)
    uv run python bench/forecasters.py --every 1     # every step, as the nodes forecast (4x longer)

Forecasts of the full horizon (96 steps of 15 min) are issued every ``--every`` steps from the second
day of the data (so that every forecaster has a day of past) to the last step with a whole horizon of
data after it; each uses the household's own past only, up to 28 days of it (as in a run). For each
household and forecaster: the mean absolute error (kWh per step) of production, of consumption and of
the net load (production - consumption), over all leads, and the skill against persistence
(1 - MAE / MAE of persistence). The last lines say for which households ``profile_blend`` beats both
naive forecasters. The per-call time of each forecaster is measured with 28 days of past.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ets.cli.common import PROJECT_ROOT
from optimizer.forecast import forecast
from optimizer.forecast_skill import ForecastErrors, forecast_errors
from runtime.data import household_ids, load_households

DATA = PROJECT_ROOT / "household_dbs" / "community40_15min.parquet"
KINDS = ("persistence", "seasonal_naive", "profile_blend")
HORIZON = 96
STEPS_PER_DAY = 96
PAST = 28 * STEPS_PER_DAY


def per_call_us(kind: str, series: np.ndarray, repeats: int = 2000) -> float:
    index = PAST + 10_000
    past = series[index - PAST : index + HORIZON]
    forecast(kind, past, PAST, HORIZON, STEPS_PER_DAY)
    t0 = time.perf_counter()
    for _ in range(repeats):
        forecast(kind, past, PAST, HORIZON, STEPS_PER_DAY)
    return (time.perf_counter() - t0) / repeats * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=int, default=4, help="steps between issue times (default 4: hourly)")
    ap.add_argument("--households", type=int, default=0, help="only the first N households (0: all)")
    args = ap.parse_args()
    ids = household_ids(DATA)
    if args.households:
        ids = ids[: args.households]
    probe = load_households(DATA, ids[:1], start_step=0, steps=1, dt_hours=0.25, data_dt_hours=0.25, extra_steps=10**7)
    size = probe.steps
    data = load_households(DATA, ids, start_step=0, steps=size, dt_hours=0.25, data_dt_hours=0.25)
    start = STEPS_PER_DAY
    steps = size - HORIZON + 1 - start
    issues = len(range(start, start + steps, args.every))
    print(
        f"{len(ids)} households, {size} steps of 15 min; {issues} forecasts of {HORIZON} steps per household "
        f"and series (every {args.every} steps from step {start})"
    )
    mae: dict[str, np.ndarray] = {k: np.zeros((len(ids), 3)) for k in KINDS}
    t0 = time.perf_counter()
    for i in range(len(ids)):
        for kind in KINDS:
            e: ForecastErrors = forecast_errors(
                kind,
                data.production[i],
                data.consumption[i],
                start,
                steps,
                HORIZON,
                STEPS_PER_DAY,
                args.every,
            )
            mae[kind][i] = e.mae()
    elapsed = time.perf_counter() - t0
    names = ("production", "consumption", "net load")
    columns = "".join(f"{n[:4]:>7}{'pers':>7}{'snaive':>7}{'blend':>7}{'skill':>7}" for n in names)
    print(f"{'household':<10}{columns}")
    for i, hid in enumerate(ids):
        row = f"{hid:<10}"
        for j in range(3):
            p, s, b = (mae[k][i, j] for k in KINDS)
            skill = 1 - b / p if p > 0 else float("nan")
            row += f"{'':>7}{p:7.4f}{s:7.4f}{b:7.4f}{skill:7.3f}"
        print(row)
    print()
    print(f"{'':<28}{'MAE min':>9}{'median':>9}{'max':>9}{'skill min':>11}{'median':>9}{'max':>9}")
    for j, name in enumerate(names):
        for kind in KINDS:
            m = mae[kind][:, j]
            ref = mae["persistence"][:, j]
            ok = ref > 0
            skill = 1 - m[ok] / ref[ok]
            print(
                f"{name + ' ' + kind:<28}{m.min():9.4f}{statistics.median(m):9.4f}{m.max():9.4f}"
                f"{skill.min():11.3f}{statistics.median(skill):9.3f}{skill.max():9.3f}"
            )
    print()
    for j, name in enumerate(names):
        b = mae["profile_blend"][:, j]
        beats = (b < mae["persistence"][:, j]) & (b < mae["seasonal_naive"][:, j])
        ties = (b == 0) & (mae["persistence"][:, j] == 0) & (mae["seasonal_naive"][:, j] == 0)
        worse = [hid for hid, ok, tie in zip(ids, beats, ties, strict=True) if not ok and not tie]
        tied = [hid for hid, tie in zip(ids, ties, strict=True) if tie]
        print(
            f"{name}: profile_blend beats both naive forecasters for {int(beats.sum())} of {len(ids)} households"
            + (f"; all three exact (no PV) for {', '.join(tied)}" if tied else "")
            + (f"; NOT for {', '.join(worse)}" if worse else "")
        )
    print(f"\nevaluation time {elapsed:.1f} s")
    for kind in KINDS:
        print(
            f"per call, {kind}, 28 days of past, horizon {HORIZON}: "
            f"production {per_call_us(kind, data.production[1]):.1f} us, "
            f"consumption {per_call_us(kind, data.consumption[1]):.1f} us"
        )


if __name__ == "__main__":
    main()
