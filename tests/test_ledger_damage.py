"""A real ledger, damaged at random: every flip and overwrite fails verify at the first bad height; every
truncation is repaired on open without losing a complete (fsynced) block."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from chain.ledger import MAGIC, Ledger, read_records
from ets.check.verify import VerifyError, verify_ledger_file
from tests.conftest import cli, ledger_beside, only_run_dir, write_params


@pytest.fixture(scope="module")
def ledger_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damage")
    params = write_params(root / "p.json", {"simulation": {"steps": 6}, "household": {"max_households": 4}})
    assert cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet").exit_code == 0
    return only_run_dir(root / "r")


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(first byte, end) of each record, its 8-byte header included."""
    pos, out = len(MAGIC), []
    while pos < len(data):
        length, _ = struct.unpack_from(">II", data, pos)
        out.append((pos, pos + 8 + length))
        pos += 8 + length
    return out


def height_of(offset: int, spans: list[tuple[int, int]]) -> int:
    """The record a byte belongs to (the magic counts as height 0)."""
    for height, (start, end) in enumerate(spans):
        if start <= offset < end:
            return height
    return 0


def check_damaged(path: Path, data: bytes, first_changed: int, spans: list[tuple[int, int]]) -> None:
    path.write_bytes(data)
    with pytest.raises(VerifyError) as info:
        verify_ledger_file(path, workers=1)
    expected = height_of(first_changed, spans)
    assert f"height {expected}:" in str(info.value), (first_changed, str(info.value))


def test_clean_ledger_passes(ledger_run: Path) -> None:
    report = verify_ledger_file(ledger_run / "ledgers" / "coordinator.ledger")
    assert report.blocks == 7 and report.signatures > 7


def test_a_thousand_single_byte_flips(ledger_run: Path, tmp_path: Path) -> None:
    original = (ledger_run / "ledgers" / "coordinator.ledger").read_bytes()
    spans = record_spans(original)
    target = ledger_beside(ledger_run, tmp_path)
    rng = random.Random(5)
    for _ in range(1000):
        data = bytearray(original)
        at = rng.randrange(len(data))
        data[at] ^= rng.randrange(1, 256)
        check_damaged(target, bytes(data), at, spans)


def test_a_thousand_200_byte_overwrites(ledger_run: Path, tmp_path: Path) -> None:
    original = (ledger_run / "ledgers" / "coordinator.ledger").read_bytes()
    spans = record_spans(original)
    target = ledger_beside(ledger_run, tmp_path)
    rng = random.Random(7)
    for _ in range(1000):
        data = bytearray(original)
        at = rng.randrange(len(data) - 200)
        data[at : at + 200] = rng.randbytes(200)
        changed = next(i for i in range(at, at + 200) if data[i] != original[i])
        check_damaged(target, bytes(data), changed, spans)


def test_two_hundred_truncations_are_repaired_without_losing_a_block(ledger_run: Path, tmp_path: Path) -> None:
    source = ledger_run / "ledgers" / "coordinator.ledger"
    original = source.read_bytes()
    records = read_records(source)
    spans = record_spans(original)
    ledger_beside(ledger_run, tmp_path)
    rng = random.Random(11)
    for i in range(200):
        cut = rng.randrange(1, len(original))
        path = tmp_path / "ledgers" / f"t{i}.ledger"
        path.write_bytes(original[:cut])
        with Ledger.open(path) as ledger:
            kept = list(ledger.records)
        complete = sum(1 for _, end in spans if end <= cut)
        assert kept == records[:complete]  # every block written in full survives, nothing else
        assert verify_ledger_file(path, workers=1).blocks == complete
