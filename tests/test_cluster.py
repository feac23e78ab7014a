"""End to end: real processes, real sockets, real signatures, real solver, real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from chain.genesis import Genesis
from chain.ledger import read_records
from ets.results.tables import read_csv
from tests.conftest import cli


def test_cluster_run_leaves_every_artefact(cluster_run: Path) -> None:
    for name in ("baseline_results.csv", "optimized_results.csv", "params.json", "grid_capacity.csv",
                 "summary.json", "genesis.json", "network_metrics.csv"):  # fmt: skip
        assert (cluster_run / name).is_file(), name
    genesis = Genesis.load(cluster_run / "genesis.json")
    assert len(genesis.members) == 5
    for hid in (*genesis.household_ids, "coordinator"):
        assert (cluster_run / "keys" / f"{hid}.pub").is_file()
        assert (cluster_run / "logs" / f"{hid}.log").is_file()
        assert len(read_records(cluster_run / "ledgers" / f"{hid}.ledger")) == 13  # 12 steps and the closing block
    metrics = pd.read_csv(cluster_run / "network_metrics.csv")
    assert len(metrics) == 13
    assert (metrics["offers"] == 5).all() and (metrics["absent"] == 0).all()


def test_blocks_become_final_through_acks(cluster_run: Path) -> None:
    """Every node acknowledges every block; the acks ride in the next block, which makes it final."""
    import json

    finality = json.loads((cluster_run / "summary.json").read_text())["finality"]
    assert finality["blocks"] == 13
    assert finality["final_blocks"] >= 12  # the closing block has no later block to carry its acks
    assert finality["lag_max_blocks"] <= 2


def test_every_ledger_is_identical(cluster_run: Path) -> None:
    ledgers = sorted((cluster_run / "ledgers").glob("*.ledger"))
    assert len(ledgers) == 6
    contents = {p.read_bytes() for p in ledgers}
    assert len(contents) == 1


def test_verify_passes_on_a_clean_run(cluster_run: Path) -> None:
    result = cli("verify", str(cluster_run))
    assert result.exit_code == 0, result.output
    assert "ok: 6 ledgers, 13 blocks" in result.output


def test_distributed_and_in_process_results_are_identical(cluster_run: Path, engine_run: Path) -> None:
    distributed = (cluster_run / "optimized_results.csv").read_bytes()
    in_process = (engine_run / "optimized_results.csv").read_bytes()
    assert distributed == in_process
    assert (cluster_run / "baseline_results.csv").read_bytes() == (engine_run / "baseline_results.csv").read_bytes()


def test_trading_happens_and_saves_money(cluster_run: Path) -> None:
    optimized = read_csv(cluster_run / "optimized_results.csv")
    baseline = read_csv(cluster_run / "baseline_results.csv")
    assert optimized["p2p_buy_amount"].sum() > 0
    assert optimized["cost"].sum() < baseline["cost"].sum()


def test_a_flipped_ledger_byte_fails_verify_naming_the_height(cluster_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(cluster_run, run)
    ledger = run / "ledgers" / "coordinator.ledger"
    data = bytearray(ledger.read_bytes())
    offsets = _record_offsets(bytes(data))
    target = 7
    start, end = offsets[target]
    data[(start + end) // 2] ^= 0x40
    ledger.write_bytes(bytes(data))
    result = cli("verify", str(run))
    assert result.exit_code == 1
    assert f"height {target}" in result.output
    assert "coordinator.ledger" in result.output


def test_a_flipped_byte_in_a_node_ledger_is_caught(cluster_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(cluster_run, run)
    genesis = Genesis.load(run / "genesis.json")
    ledger = run / "ledgers" / f"{genesis.household_ids[2]}.ledger"
    data = bytearray(ledger.read_bytes())
    _, end = _record_offsets(bytes(data))[3]
    data[end - 1] ^= 0x01
    ledger.write_bytes(bytes(data))
    result = cli("verify", str(run))
    assert result.exit_code == 1
    assert "height 3" in result.output and genesis.household_ids[2] in result.output


def test_an_edited_csv_fails_verify(cluster_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(cluster_run, run)
    path = run / "optimized_results.csv"
    df = pd.read_csv(path)
    df.loc[5, "consumption"] += 0.5
    df.to_csv(path, index=False, float_format="%.17g")
    result = cli("verify", str(run))
    assert result.exit_code == 1
    assert "row 5" in result.output


def _record_offsets(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each record's payload in a ledger file."""
    import struct

    pos, out = 8, []
    while pos < len(data):
        length, _ = struct.unpack_from(">II", data, pos)
        out.append((pos + 8, pos + 8 + length))
        pos += 8 + length
    return out
