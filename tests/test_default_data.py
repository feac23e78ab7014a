"""The shipped data: the default run shows the transformer limit binding; the seed sample still loads."""

from __future__ import annotations

import json
from pathlib import Path

from ets.cli.common import PROJECT_ROOT
from runtime.data import load_households
from runtime.metadata import metadata_path, read_metadata
from tests.conftest import cli, only_run_dir

DEFAULT = PROJECT_ROOT / "household_dbs" / "community40_15min.parquet"


def test_shipped_community_is_a_year_of_40_households_with_metadata() -> None:
    assert DEFAULT.stat().st_size < 20 * 1024 * 1024
    data = load_households(DEFAULT, 40, start_step=0, steps=365 * 96, dt_hours=0.25, data_dt_hours=0.25)
    assert len(data.ids) == 40
    meta = read_metadata(metadata_path(DEFAULT))
    assert set(meta) == set(data.ids)
    annual = data.consumption.sum(axis=1)
    assert (annual > 1_500).all() and (annual < 9_000).all()


def test_default_run_hits_the_transformer_limit(tmp_path: Path) -> None:
    result = cli("simulate", "--results", str(tmp_path), "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    assert summary["households"] == 10 and summary["steps"] == 96
    base, opt = summary["baseline"], summary["optimized"]
    assert base["import_limit_binding_steps"] > 0 and base["export_limit_binding_steps"] > 0
    assert base["capacity_violations"] == 0 and opt["capacity_violations"] == 0
    assert summary["saving"] > 0


def test_seed_sample_still_loads(tmp_path: Path) -> None:
    seed = PROJECT_ROOT / "household_dbs" / "seed_households_15min.parquet"
    result = cli("simulate", "--data", str(seed), "--households", "5", "--start-step", "0", "--steps", "4",
                 "--results", str(tmp_path), "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    genesis = json.loads((only_run_dir(tmp_path) / "genesis.json").read_text())
    assert [h["id"] for h in genesis["households"]] == ["ap1", "ap2", "ap3", "ap4", "cs1"]
    assert {h["battery"]["capacity_kwh"] for h in genesis["households"]} == {13.5}
