"""The ledger file: framing, fsync'd appends, torn-tail repair and corruption naming the height."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.errors import LedgerCorrupt
from chain.ledger import MAGIC, Ledger, frame, read_records


def fill(path: Path, n: int = 5) -> list[bytes]:
    records = [bytes([i]) * (10 + i) for i in range(n)]
    with Ledger.open(path) as ledger:
        for r in records:
            ledger.append(r)
    return records


def test_append_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "l.ledger"
    records = fill(path)
    assert read_records(path) == records
    with Ledger.open(path) as ledger:
        assert list(ledger.records) == records
        ledger.append(b"more")
    assert read_records(path)[-1] == b"more"


@pytest.mark.parametrize("cut", [1, 4, 8, 9, 15])
def test_torn_tail_is_cut_off_and_kept_aside(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "l.ledger"
    records = fill(path)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    with pytest.raises(LedgerCorrupt, match="torn record") as info:
        read_records(path)
    assert info.value.height == 4
    with Ledger.open(path) as ledger:
        assert list(ledger.records) == records[:4]
    assert read_records(path) == records[:4]
    backup = tmp_path / "l.ledger.torn"
    assert backup.read_bytes() == data[len(MAGIC) + sum(len(frame(r)) for r in records[:4]) : -cut]


def test_corruption_in_the_middle_names_the_height(tmp_path: Path) -> None:
    path = tmp_path / "l.ledger"
    records = fill(path)
    data = bytearray(path.read_bytes())
    offset = len(MAGIC) + sum(len(frame(r)) for r in records[:2]) + 8 + 3
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    for opener in (read_records, Ledger.open):
        with pytest.raises(LedgerCorrupt) as info:
            opener(path)
        assert info.value.height == 2


def test_not_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "l.ledger"
    path.write_bytes(b"something else entirely")
    with pytest.raises(LedgerCorrupt, match="bad magic"):
        read_records(path)
