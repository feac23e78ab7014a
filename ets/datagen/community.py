"""A synthetic community: who lives where, with which PV and batteries, and their meter series."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.flows import Array
from runtime.metadata import HouseholdMeta, metadata_path, write_metadata

STEP_MINUTES = 15
OCCUPANT_SHARES = {1: 0.22, 2: 0.34, 3: 0.18, 4: 0.17, 5: 0.09}
PV_SHARE = 0.75
BATTERY_SHARE_WITH_PV = 0.6
BATTERY_SHARE_WITHOUT_PV = 0.1
BATTERY_SIZES_KWH = (5.0, 7.5, 10.0, 13.5)
COMMUNITY_BATTERY_HOLDERS = 0.3
COMMUNITY_BATTERY_SUBSCRIBED = 0.8
"""Share of the community battery held by households, in all."""


def sample_households(n: int, seed: int) -> list[HouseholdMeta]:
    """Occupants, PV and batteries of ``n`` households, reproducible from ``seed``."""
    rng = np.random.default_rng([seed, 0])
    out = []
    holders = rng.random(n) < COMMUNITY_BATTERY_HOLDERS
    weights = rng.random(n) * holders
    shares = weights / weights.sum() * COMMUNITY_BATTERY_SUBSCRIBED if weights.sum() > 0 else weights
    for i in range(n):
        occupants = int(rng.choice(list(OCCUPANT_SHARES), p=list(OCCUPANT_SHARES.values())))
        has_pv = rng.random() < PV_SHARE
        kwp = round(float(rng.uniform(3.0, 10.0)), 1) if has_pv else 0.0
        tilt = round(float(rng.uniform(20.0, 40.0))) if has_pv else 0.0
        azimuth = round(float(rng.uniform(135.0, 225.0))) if has_pv else 180.0
        battery = rng.random() < (BATTERY_SHARE_WITH_PV if has_pv else BATTERY_SHARE_WITHOUT_PV)
        kwh = float(rng.choice(BATTERY_SIZES_KWH)) if battery else 0.0
        out.append(
            HouseholdMeta(
                household=f"h{i + 1:02d}", occupants=occupants, pv_kwp=kwp, pv_tilt_deg=tilt, pv_azimuth_deg=azimuth,
                battery_kwh=kwh, battery_kw=min(kwh / 2.0, 5.0), community_battery_share=round(float(shares[i]), 4),
            )
        )  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class _Task:
    meta: HouseholdMeta
    days: int
    seed: int


def household_series(task: _Task) -> tuple[Array, Array]:
    """(production, consumption) in kWh per 15 minutes for one household."""
    from ets.datagen.load import minute_load_w
    from ets.datagen.pv import hourly_pv_kwh, spread_over_steps
    from ets.datagen.weather import load_try

    weather = load_try()
    steps = task.days * 24 * 60 // STEP_MINUTES
    first_weekday = weather.start[0].tz_convert("Etc/GMT-1").isoweekday()
    load_w = minute_load_w(weather, task.meta.occupants, task.days, first_weekday, task.seed)
    consumption = load_w.reshape(-1, STEP_MINUTES).sum(axis=1) * 60.0 / 3.6e6
    m = task.meta
    hourly = hourly_pv_kwh(weather, m.pv_kwp, m.pv_tilt_deg, m.pv_azimuth_deg)
    production = spread_over_steps(weather, hourly, 60 // STEP_MINUTES)[:steps]
    return production, consumption[:steps]


def generate(
    n: int, days: int, seed: int, *, workers: int = 2, on_household: Callable[[int], None] | None = None
) -> tuple[pd.DataFrame, list[HouseholdMeta]]:
    """The long table (``id, step, production, consumption``, kWh per 15 minutes) and the metadata."""
    households = sample_households(n, seed)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]
    tasks = [_Task(meta, days, s) for meta, s in zip(households, seeds, strict=True)]
    frames = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, (production, consumption) in enumerate(pool.map(household_series, tasks)):
            frames.append(
                pd.DataFrame(
                    {
                        "id": households[i].household,
                        "step": np.arange(production.size, dtype=np.int32),
                        "production": np.round(production, 5).astype(np.float32),
                        "consumption": np.round(consumption, 5).astype(np.float32),
                    }
                )
            )
            if on_household is not None:
                on_household(i + 1)
    return pd.concat(frames, ignore_index=True), households


def write_community(frame: pd.DataFrame, households: list[HouseholdMeta], output: Path) -> Path:
    """Write the table (Parquet or CSV by suffix) and its metadata beside it; return the metadata path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".csv":
        frame.to_csv(output, index=False)
    else:
        frame.to_parquet(output, index=False, compression="zstd")
    meta = metadata_path(output)
    write_metadata(households, meta)
    return meta
