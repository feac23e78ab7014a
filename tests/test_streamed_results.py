"""Long runs in bounded memory: a ledger is read one record at a time, and the result table is built and
written in pieces; both give exactly what reading everything at once gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ets.results.tables as tables
from chain.errors import LedgerCorrupt
from chain.ledger import iter_records, read_records, salvage_file
from tests.conftest import cli, only_run_dir, write_params


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("streamed")
    params = write_params(root / "p.json", {"simulation": {"steps": 30}, "household": {"max_households": 4}})
    assert cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet").exit_code == 0
    return only_run_dir(root / "r")


def _outcome(path: Path) -> tuple[list[bytes], LedgerCorrupt | None, list[bytes], LedgerCorrupt | None]:
    """What ``read_records`` and ``iter_records`` make of one file: the records given and the error raised
    (``salvage_file``'s strict records, checked here, are ``read_records``')."""
    whole: list[bytes] = []
    whole_error = streamed_error = None
    try:
        whole = read_records(path)
    except LedgerCorrupt as exc:
        whole_error = exc
    streamed: list[bytes] = []
    try:
        for record in iter_records(path):
            streamed.append(record)
    except LedgerCorrupt as exc:
        streamed_error = exc
    spanned_error = None
    try:
        with salvage_file(path).strict().records() as records:
            assert list(records) == whole
    except LedgerCorrupt as exc:
        spanned_error = exc
    assert (spanned_error is None) == (whole_error is None)
    if spanned_error is not None and whole_error is not None:
        assert (spanned_error.height, str(spanned_error)) == (whole_error.height, str(whole_error))
    return whole, whole_error, streamed, streamed_error


def test_a_ledger_read_record_by_record_is_the_ledger(run: Path, tmp_path: Path) -> None:
    original = (run / "ledgers" / "coordinator.ledger").read_bytes()
    records = read_records(run / "ledgers" / "coordinator.ledger")
    assert len(records) == 31
    target = tmp_path / "x.ledger"
    middle = len(original) // 2
    cases = {
        "intact": original,
        "empty": b"",
        "magic only": original[:8],
        "torn tail": original[:-5],
        "torn header": original[: 8 + 3],
        "flipped byte": original[:middle] + bytes([original[middle] ^ 0x40]) + original[middle + 1 :],
        "bad magic": b"NOTALEDG" + original[8:],
    }
    for name, data in cases.items():
        target.write_bytes(data)
        whole, whole_error, streamed, streamed_error = _outcome(target)
        if whole_error is None:
            assert streamed_error is None and streamed == whole, name
        else:
            assert streamed_error is not None, name
            assert (streamed_error.height, str(streamed_error)) == (whole_error.height, str(whole_error)), name
            assert streamed == records[: whole_error.height], name
    target.write_bytes(original)
    assert list(iter_records(target)) == records


def test_results_written_in_pieces_are_the_results_written_whole(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ets results`` writes the table again from the ledger, seven steps at a time: byte for byte the
    table the run wrote in one piece (wallets carried from piece to piece)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "optimized_results.csv").unlink()
    monkeypatch.setattr(tables, "STEPS_PER_CHUNK", 7)
    result = cli("results", str(copy), "--quiet")
    assert result.exit_code == 0, result.output
    assert (copy / "optimized_results.csv").read_bytes() == (run / "optimized_results.csv").read_bytes()
    assert cli("verify", str(copy)).exit_code == 0


def test_meter_readings_checked_together_are_each_households_own(run: Path) -> None:
    """Validation computes every household's readings of a block at once (``History.readings_of``): the
    same numbers, to the bit, as each household's alone, also where some households have none."""
    from chain.crypto import Verifier
    from chain.genesis import Genesis
    from chain.history import History
    from chain.reading import read_block, read_offer
    from chain.state import genesis_state
    from chain.validation import apply_block, validate_block

    genesis = Genesis.load(run / "genesis.json")
    state, history, verifier = genesis_state(genesis), History(genesis), Verifier()
    compared = 0
    for raw in read_records(run / "ledgers" / "coordinator.ledger"):
        env, block = read_block(raw, genesis, verifier)
        measured = {}
        for k, offer_raw in enumerate(block.offers):
            offer = read_offer(offer_raw, genesis, None, block.step)[1]
            meter = [(r.step, r.production, r.consumption) for r in offer.meter]
            measured[offer.household] = meter if k % 3 else []
        together = history.readings_of(measured)
        assert together == {h: history.readings(h, m) for h, m in measured.items()}
        compared += sum(len(readings) for readings, _ in together.values())
        state = apply_block(
            state, history, env, block, validate_block(state, history, env, block, genesis, None, verify_offers=False)
        )
    assert compared > 30
