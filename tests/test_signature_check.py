"""Signatures checked by several processes that take ranges from a shared counter: every signature is
counted once, the lowest bad height is found whoever checks it, and a worker that dies fails the check."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from chain import codec
from chain import signatures as sig
from chain.errors import ChainError
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.signatures import SignatureCheck, collect
from chain.verify import verify_records
from tests.conftest import cli, only_run_dir, write_params


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signatures")
    params = write_params(root / "p.json", {"simulation": {"steps": 12}, "household": {"max_households": 4}})
    assert cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet").exit_code == 0
    return only_run_dir(root / "r")


def records_of(run: Path) -> list[bytes]:
    return read_records(run / "ledgers" / "coordinator.ledger")


def bad_signature(record: bytes) -> bytes:
    """The record with one bit of the block's signature flipped (everything else intact)."""
    version, kind, signer, payload, signature = codec.unpack(record)
    return codec.pack([version, kind, signer, payload, bytes([signature[0] ^ 1]) + signature[1:]])


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_every_signature_is_checked_once(run: Path, workers: int) -> None:
    records = records_of(run)
    with SignatureCheck(records, workers) as check:
        assert check.result() == (None, len(collect(records)))


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_the_lowest_bad_height_is_found(run: Path, workers: int) -> None:
    records = records_of(run)
    for height in (9, 4, 11):
        records[height] = bad_signature(records[height])
    with SignatureCheck(records, workers) as check:
        assert check.result()[0] == 4
    with pytest.raises(ChainError, match="a signature does not verify") as info:
        verify_records(records, Genesis.load(run / "genesis.json"), workers=workers)
    assert info.value.height == 4


def test_a_worker_that_dies_fails_the_check(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies as it starts, before it takes any range: whether it would have got one depends on
    how soon it is scheduled (on a loaded machine the caller can take every range first, and a worker that
    took none has nothing to check), so it must not matter for the outcome."""
    parent = os.getpid()
    take = sig._take

    def dying(ranges: Sequence[tuple[int, int]], next_range: sig.Counter) -> tuple[int | None, int]:
        if os.getpid() != parent:
            os._exit(3)
        return take(ranges, next_range)

    monkeypatch.setattr(sig, "_take", dying)
    with SignatureCheck(records_of(run), 2) as check, pytest.raises(RuntimeError, match="without a result"):
        check.result()


def test_a_worker_that_dies_holding_a_range_fails_the_check(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker takes the first range before the caller takes any (the caller waits for it), then dies."""
    parent = os.getpid()
    check_range = sig._check_range
    records = records_of(run)
    taken = multiprocessing.get_context("fork").Event()

    def dying(first: int, last: int) -> tuple[int | None, int]:
        if os.getpid() != parent:
            taken.set()
            os._exit(3)
        return check_range(first, last)

    monkeypatch.setattr(sig, "_check_range", dying)
    with SignatureCheck(records, 2) as check, pytest.raises(RuntimeError, match="without a result"):
        assert taken.wait(60), "the worker never took a range"
        check.result()
