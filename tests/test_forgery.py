"""Forged offers, class by class: the coordinator drops each one (counted), and a block that carries one,
even signed by the coordinator, fails verify at its height."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from chain import codec
from chain.crypto import SigningKey, Verifier
from chain.genesis import Genesis
from chain.ledger import Ledger, read_records
from chain.merkle import merkle_root
from chain.messages import sign
from chain.offers import MAX_HORIZON, Offer
from chain.reading import read_block
from coordinator.service import Coordinator, CoordinatorConfig
from ets.check.verify import VerifyError, verify_ledger_file
from ets.run.setup import RunLayout
from tests.conftest import cli, ledger_beside, only_run_dir, write_params

STEP = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forgery")
    params = write_params(root / "p.json", {"simulation": {"steps": 6}, "household": {"max_households": 4}})
    assert cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet").exit_code == 0
    return only_run_dir(root / "r")


def honest(run: Path, step: int = STEP, index: int = 0) -> tuple[Offer, SigningKey, Genesis]:
    """The offer household ``index`` really made for ``step``, and its key."""
    genesis = Genesis.load(run / "genesis.json")
    block = read_block(read_records(run / "ledgers" / "coordinator.ledger")[step], genesis, Verifier())[1]
    raw = block.offers[index]
    offer = Offer.decode(codec.unpack(raw)[3])
    return offer, SigningKey.load(RunLayout(run).key(offer.household)), genesis


def flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def _forge(kind: str, run: Path) -> list[bytes]:
    """The frames a forger sends for ``kind`` (the last is the forgery; earlier ones are accepted)."""
    offer, key, genesis = honest(run)
    raw = sign(offer, key).raw
    env = codec.unpack(raw)
    other_key = SigningKey.load(RunLayout(run).key(genesis.household_ids[1]))
    if kind == "payload bit flip":
        return [codec.pack([env[0], env[1], env[2], flip(env[3], 10), env[4]])]
    if kind == "signature bit flip":
        return [codec.pack([env[0], env[1], env[2], env[3], flip(env[4], 5)])]
    if kind == "wrong key":
        return [sign(offer, SigningKey.generate()).raw]
    if kind == "sender swapped":
        return [sign(offer, other_key).raw]
    if kind == "replayed from an earlier step":
        earlier, _, _ = honest(run, STEP - 1)
        return [sign(earlier, key).raw]
    if kind == "other chain id":
        return [sign(dataclasses.replace(offer, chain_id=b"\x05" * 32), key).raw]
    if kind == "duplicate in a step":
        return [raw, raw]
    if kind == "wrong kind":
        from chain.envelope import seal

        return [seal("ack", offer.encode(), key).raw]
    if kind == "oversize":
        big = np.zeros(MAX_HORIZON + 1)
        return [sign(dataclasses.replace(offer, production_kwh=big, consumption_kwh=big), key).raw]
    if kind == "truncated":
        return [raw[:-7]]
    raise AssertionError(kind)


KINDS = [
    "payload bit flip",
    "signature bit flip",
    "wrong key",
    "sender swapped",
    "replayed from an earlier step",
    "other chain id",
    "duplicate in a step",
    "wrong kind",
    "oversize",
    "truncated",
]


class Wire:
    """In-memory stand-in for the coordinator's sockets: it only records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def send_to(self, identity: bytes, raw: bytes) -> None:
        self.sent.append((identity, raw))


def coordinator_at_step(run: Path, tmp_path: Path) -> Coordinator:
    """A coordinator that has stored the run's blocks before ``STEP`` (from a copy of its ledger)."""
    layout = RunLayout(run)
    ledger = tmp_path / "coordinator.ledger"
    with Ledger.open(ledger) as out:
        for raw in read_records(layout.coordinator_ledger)[:STEP]:
            out.append(raw)
    config = CoordinatorConfig(
        layout.genesis, layout.key("coordinator"), layout.params, ledger, "inproc://r", "inproc://p"
    )
    return Coordinator(config)


@pytest.mark.parametrize("kind", KINDS)
def test_the_coordinator_drops_each_forgery(kind: str, run: Path, tmp_path: Path) -> None:
    coordinator = coordinator_at_step(run, tmp_path)
    box = coordinator.core.open(STEP)
    frames = _forge(kind, run)
    for raw in frames:
        coordinator.handle(Wire(), b"peer", raw, box)  # type: ignore[arg-type]
    assert coordinator.rejected == 1
    assert len(box.offers) == len(frames) - 1
    coordinator.ledger.close()


@pytest.mark.parametrize("kind", KINDS)
def test_verify_rejects_a_block_carrying_each_forgery(kind: str, run: Path, tmp_path: Path) -> None:
    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    records = read_records(layout.coordinator_ledger)
    block = read_block(records[STEP], genesis, Verifier())[1]
    forged = _forge(kind, run)
    offers = (*forged[-1:], *block.offers[1:]) if kind != "duplicate in a step" else (*forged, *block.offers[1:])
    tampered = dataclasses.replace(block, offers=offers, offers_root=merkle_root(offers))
    coordinator_key = SigningKey.load(layout.key("coordinator"))
    path = ledger_beside(run, tmp_path, [*records[:STEP], sign(tampered, coordinator_key).raw])
    with pytest.raises(VerifyError, match=f"height {STEP}:"):
        verify_ledger_file(path, workers=1)


def test_verification_never_re_encodes(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures and roots are checked over the bytes received: verify passes with every signed type's
    encoder disabled (only genesis is encoded, to compute the chain id)."""
    from chain.blocks import Block, Correction, Settlement
    from chain.control import Beacon, Bye, End, GetBlocks, Hello, Start, StepOpen
    from chain.offers import Ack

    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("verification encoded a signed payload")

    for cls in (Offer, Ack, Block, Settlement, Correction, Beacon, Bye, End, GetBlocks, Hello, Start, StepOpen):
        monkeypatch.setattr(cls, "encode", refuse)
    report = verify_ledger_file(run / "ledgers" / "coordinator.ledger", workers=1)
    assert report.blocks == 7


def test_resolve_catches_a_schedule_the_clearing_would_not_give(run: Path, tmp_path: Path) -> None:
    """A coordinator that sets another P2P price (still between the grid prices, trades and signature in
    order) passes the rules but not a re-clearing."""
    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    records = read_records(layout.coordinator_ledger)
    assert cli("verify", str(run), "--resolve").exit_code == 0
    block = read_block(records[STEP], genesis, Verifier())[1]
    assert block.trades, "the step should have trades"
    price = (block.prices.p2p + block.prices.grid_buy) / 2  # still between the grid prices
    trades = tuple(dataclasses.replace(t, price=price) for t in block.trades)
    tampered = dataclasses.replace(block, prices=dataclasses.replace(block.prices, p2p=price), trades=trades)
    path = ledger_beside(
        run, tmp_path, [*records[:STEP], sign(tampered, SigningKey.load(layout.key("coordinator"))).raw]
    )
    verify_ledger_file(path, workers=1)  # the rules alone accept it
    with pytest.raises(VerifyError, match=f"height {STEP}: re-clearing gives a p2p price"):
        verify_ledger_file(path, workers=1, resolve=True)


class NodeWire:
    """In-memory stand-in for a node's sockets: records what it would send and relay."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.relayed: list[bytes] = []

    def send(self, raw: bytes) -> None:
        self.sent.append(raw)

    def relay(self, raw: bytes) -> None:
        self.relayed.append(raw)


def test_a_node_rejects_replayed_and_foreign_blocks(run: Path, tmp_path: Path) -> None:
    from node.service import Node, NodeConfig
    from node.transport import Source

    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    hid = genesis.household_ids[0]
    from runtime.params import Params

    config = NodeConfig(
        household=hid,
        genesis=layout.genesis,
        key=layout.key(hid),
        params=layout.params,
        data=Path(Params.load(layout.params).household.data_file),
        ledger=tmp_path / "node.ledger",
        coordinator_router="inproc://unused",
        coordinator_pub="inproc://unused",
        gossip_bind="inproc://unused",
    )
    node = Node(config)
    wire = NodeWire()
    records = read_records(layout.coordinator_ledger)
    assert node.on_frame(Source.COORDINATOR, b"", records[0], wire)  # type: ignore[arg-type]
    assert node.state.height == 1 and len(wire.sent) == 1 and wire.relayed == [records[0]]
    node.on_frame(Source.GOSSIP, b"", records[0], wire)  # type: ignore[arg-type]  # a replay: already stored
    assert node.state.height == 1 and len(wire.relayed) == 1
    other = tmp_path / "other"
    assert (
        cli("simulate", "--params", str(run.parent.parent / "p.json"), "--results", str(other), "--quiet").exit_code
        == 0
    )
    foreign = read_records(only_run_dir(other) / "ledgers" / "coordinator.ledger")[1]
    rejected = node.rejected
    assert not node.on_frame(Source.GOSSIP, b"", foreign, wire)  # type: ignore[arg-type]
    assert node.rejected == rejected + 1 and node.state.height == 1
    node.ledger.close()
