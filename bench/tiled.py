"""The shipped data tiled to N households, as a data file, its metadata and parameters an ``ets simulate``
can run: what a closed-loop run of a community larger than the data is measured on.

Household k is the shipped household k mod 40; beyond the first 40 each copy's production and consumption
are scaled by one factor drawn from [0.7, 1.3] (seeded), as ``bench/clearing.py``'s timing communities
are, so that no two households are the same. Every copy keeps its battery; for a closed-loop run
(``write_tiled``) the community battery is ``N / 40`` times the default one, shared in the same
proportions, so a tile of 40 households has what the shipped 40 have; ``bench/cluster.py`` keeps the
default battery and shares it among all N. Only the steps a run needs are written (``write_tiled``:
``HISTORY_STEPS`` of the past before the default start, for the forecasters, then the run and its
horizon), renumbered from 0 by whole weeks so that days and weekdays keep their place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ets.cli.common import PROJECT_ROOT
from runtime.params import DEFAULT_START_STEP, Params

SOURCE = PROJECT_ROOT / "household_dbs" / "community40_15min.parquet"
SOURCE_HOUSEHOLDS = 40
WEEK_STEPS = 7 * 96
HISTORY_STEPS = 5 * WEEK_STEPS
"""Past written before the run's first step (the realistic forecaster looks 28 days back)."""


def write_tiled_data(n: int, first: int, last: int, out: Path, seed: int = 0) -> Path:
    """The tiled data file ``out`` (and its metadata beside it): steps ``first .. last - 1`` of the shipped
    data, renumbered from 0, for ``n`` households. Community-battery shares are divided by ``n / 40`` where
    ``n`` exceeds the 40, so that they still add up to what the shipped ones do."""
    source = pd.read_parquet(SOURCE)
    source = source[(source["step"] >= first) & (source["step"] < last)]
    ids = [str(x) for x in pd.unique(source["id"])][:SOURCE_HOUSEHOLDS]
    table = pd.read_csv(SOURCE.with_name(f"{SOURCE.stem}.meta.csv"), dtype={"id": str})
    meta: dict[str, dict[Any, Any]] = {str(r["id"]): r for r in table.to_dict(orient="records")}
    rng = np.random.default_rng(seed)
    scale = np.where(np.arange(n) < SOURCE_HOUSEHOLDS, 1.0, rng.uniform(0.7, 1.3, n))
    shares = SOURCE_HOUSEHOLDS / max(n, SOURCE_HOUSEHOLDS)
    by_id = {hid: part.sort_values("step") for hid, part in source.groupby("id")}
    parts, rows = [], []
    for k in range(n):
        src = ids[k % SOURCE_HOUSEHOLDS]
        part = by_id[src]
        hid = f"t{k + 1:05d}"
        parts.append(
            pd.DataFrame(
                {
                    "id": hid,
                    "step": (part["step"].to_numpy() - first).astype(np.int32),
                    "production": (part["production"].to_numpy() * scale[k]).astype(np.float32),
                    "consumption": (part["consumption"].to_numpy() * scale[k]).astype(np.float32),
                }
            )
        )
        m = meta[src]
        rows.append(
            {
                "id": hid,
                "occupants": int(m["occupants"]),
                "pv_kwp": float(m["pv_kwp"]) * scale[k],
                "pv_tilt_deg": float(m["pv_tilt_deg"]),
                "pv_azimuth_deg": float(m["pv_azimuth_deg"]),
                "battery_kwh": float(m["battery_kwh"]),
                "battery_kw": float(m["battery_kw"]),
                "community_battery_share": float(m["community_battery_share"]) * shares,
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(parts, ignore_index=True).to_parquet(out, index=False)
    pd.DataFrame(rows).to_csv(out.with_name(f"{out.stem}.meta.csv"), index=False)
    return out


def write_tiled(n: int, run_steps: int, out: Path, seed: int = 0) -> tuple[Path, Path]:
    """(data file, parameters file) under ``out`` for a run of ``run_steps`` steps of ``n`` households
    from the default start; the parameters also set ``--steps``, the households and the community battery
    (``max(n, 40) / 40`` times the default one)."""
    first = DEFAULT_START_STEP - HISTORY_STEPS
    data = write_tiled_data(n, first, DEFAULT_START_STEP + run_steps + 2 * 96, out / f"tiled{n}.parquet", seed)
    tiles = max(n, SOURCE_HOUSEHOLDS) / SOURCE_HOUSEHOLDS
    battery = Params().community_battery
    params = {
        "simulation": {"start_step": HISTORY_STEPS, "steps": run_steps},
        "household": {"max_households": n, "data_file": str(data)},
        "community_battery": {
            "capacity_kwh": battery.capacity_kwh * tiles,
            "max_power_kw": battery.max_power_kw * tiles,
        },
    }
    params_file = out / f"tiled{n}.json"
    params_file.write_text(json.dumps(params, indent=1))
    return data, params_file
