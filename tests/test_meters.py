"""Meter files: what run setup cuts out for each node, and the errors a bad one gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chain.errors import InputError
from chain.genesis import Genesis
from ets.run.setup import RunLayout
from runtime.data import run_data
from runtime.meters import MeterSeries
from runtime.params import Params


def test_each_household_gets_exactly_its_rows_of_the_data(cluster_run: Path) -> None:
    layout = RunLayout(cluster_run)
    genesis = Genesis.load(layout.genesis)
    data = run_data(genesis, Params.load(layout.params))
    for i, hid in enumerate(genesis.household_ids):
        meter = MeterSeries.load(layout.meter(hid), hid)
        assert meter.first_step == data.first_step
        np.testing.assert_array_equal(meter.production_kwh, data.production[i])
        np.testing.assert_array_equal(meter.consumption_kwh, data.consumption[i])


def test_a_bad_meter_file_is_refused_naming_it(cluster_run: Path, tmp_path: Path) -> None:
    layout = RunLayout(cluster_run)
    hid, other = Genesis.load(layout.genesis).household_ids[:2]
    with pytest.raises(InputError, match="not 'h"):
        MeterSeries.load(layout.meter(other), hid)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a meter file")
    with pytest.raises(InputError, match=r"broken\.npz: not a readable meter file"):
        MeterSeries.load(broken, hid)
    negative = MeterSeries(hid, 0, np.array([1.0, -1.0]), np.array([0.0, 0.0]))
    negative.save(tmp_path / "negative.npz")
    with pytest.raises(InputError, match="non-negative"):
        MeterSeries.load(tmp_path / "negative.npz", hid)
