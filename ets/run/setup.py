"""Setting up a run directory: parameters, keys and the genesis every process starts from."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from chain.crypto import SigningKey
from chain.errors import InputError
from chain.genesis import BatterySpec, Genesis, Member
from ets.run.layout import RunLayout
from runtime.atomic import fsync_dir, write_atomic
from runtime.data import household_ids
from runtime.metadata import read_metadata, resolve_metadata
from runtime.params import Params


def _stamped(results: Path) -> Path:
    """``results/sim_YYYYMMDD_HHMMSS`` (with a suffix if that exists already)."""
    stamp = dt.datetime.now().strftime("sim_%Y%m%d_%H%M%S")
    path = results / stamp
    n = 1
    while path.exists():
        n += 1
        path = results / f"{stamp}_{n}"
    return path


def _check_results(results: Path) -> None:
    if results.exists() and not results.is_dir():
        raise InputError(f"--results {results}: is a file, not a directory (it names where run directories go)")


def new_run_dir(results: Path) -> Path:
    """A new, empty ``results/sim_YYYYMMDD_HHMMSS``."""
    _check_results(results)
    path = _stamped(results)
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise InputError(f"--results {results}: cannot create a run directory there: {exc.strerror}") from None
    return path


@contextlib.contextmanager
def building_run_dir(results: Path) -> Iterator[Path]:
    """A hidden directory under ``results`` to make a run directory in; removed if anything fails (or is
    interrupted) before the block ends. ``publish_run_dir`` then gives it its name."""
    _check_results(results)
    try:
        results.mkdir(parents=True, exist_ok=True)
        path = results / f".sim_{os.getpid()}_{secrets.token_hex(4)}.partial"
        path.mkdir()
    except OSError as exc:
        raise InputError(f"--results {results}: cannot create a run directory there: {exc.strerror}") from None
    try:
        yield path
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def publish_run_dir(building: Path, results: Path) -> Path:
    """Rename a complete run directory made by ``building_run_dir`` to ``results/sim_YYYYMMDD_HHMMSS``."""
    while True:
        path = _stamped(results)
        try:
            os.rename(building, path)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # taken meanwhile by another run
            shutil.rmtree(building, ignore_errors=True)
            raise
        fsync_dir(results)
        return path


def household_batteries(params: Params, ids: list[str]) -> list[tuple[BatterySpec, BatterySpec]]:
    """Each household's own battery and community-battery share: from the data's metadata where there is
    one, else the parameters' battery and no share."""
    b, cb = params.battery, params.community_battery
    start = b.initial_soc_pct / 100
    meta_file = resolve_metadata(params.household.metadata_file, Path(params.household.data_file))
    no_share = BatterySpec(0.0, 0.0, cb.charge_efficiency, cb.discharge_efficiency, 0.0)
    if meta_file is None:
        own = BatterySpec(
            b.capacity_kwh, b.max_power_kw, b.charge_efficiency, b.discharge_efficiency, b.capacity_kwh * start
        )
        return [(own, no_share)] * len(ids)
    meta = read_metadata(meta_file)
    missing = [h for h in ids if h not in meta]
    if missing:
        raise InputError(f"{meta_file}: no row for household(s) {', '.join(map(repr, missing))}")
    out = []
    for h in ids:
        m = meta[h]
        own = BatterySpec(
            m.battery_kwh, m.battery_kw, b.charge_efficiency, b.discharge_efficiency, m.battery_kwh * start
        )
        share = m.community_battery_share
        shared = BatterySpec(
            cb.capacity_kwh * share,
            cb.max_power_kw * share,
            cb.charge_efficiency,
            cb.discharge_efficiency,
            cb.capacity_kwh * share * start,
        )
        out.append((own, shared))
    return out


def run_household_ids(params: Params) -> list[str]:
    """The households a run of ``params`` has: the first ``max_households`` ids of the data file."""
    data_file = Path(params.household.data_file)
    known = household_ids(data_file)
    if params.household.max_households > len(known):
        raise InputError(
            f"{data_file}: asked for {params.household.max_households} households, the file has {len(known)}"
        )
    return list(known[: params.household.max_households])


def create_run(params: Params, run_dir: Path) -> Genesis:
    """Write params.json, a key per household and one for the coordinator, and genesis.json."""
    layout = RunLayout(run_dir)
    for d in (layout.keys, layout.ledgers, layout.logs):
        d.mkdir(parents=True, exist_ok=True)
    params.save(layout.params)
    ids = run_household_ids(params)
    members = []
    for hid, (battery, shared) in zip(ids, household_batteries(params, ids), strict=True):
        key = SigningKey.generate()
        key.save(layout.key(hid))
        write_atomic(layout.keys / f"{hid}.pub", key.public.hex() + "\n")
        members.append(Member(hid, key.public, battery, shared))
    coordinator = SigningKey.generate()
    coordinator.save(layout.key("coordinator"))
    write_atomic(layout.keys / "coordinator.pub", coordinator.public.hex() + "\n")
    sim = params.simulation
    genesis = Genesis(
        coordinator_key=coordinator.public,
        members=tuple(members),
        dt_hours=sim.time_step_hours,
        start_step=sim.start_step,
        steps=sim.steps,
        horizon=params.forecaster.horizon_steps,
        initial_wallet=params.household.initial_wallet,
        community_fee_per_kwh=params.community_battery.service_fee_per_kwh,
        params_hash=params.digest(),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        p2p_fee_per_kwh=params.optimizer.p2p_transaction_cost,
    )
    write_atomic(layout.genesis, json.dumps(genesis.to_json(), indent=2) + "\n")
    return genesis
