"""The byte budgets of ``runtime.budget``: derived sizes hold every real message, ZeroMQ refuses what is larger,
and a block carries at most ``ACKS_PER_MEMBER`` acks of a household."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import zmq

from chain.blocks import ACKS_PER_MEMBER
from chain.crypto import SigningKey, Verifier
from chain.errors import ChainError
from chain.genesis import Genesis
from chain.history import History
from chain.ledger import read_records
from chain.messages import sign
from chain.offers import Ack
from chain.reading import read_block
from chain.state import genesis_state
from chain.validation import apply_block, validate_block
from coordinator.core import AckBox
from ets.run.layout import RunLayout
from runtime.budget import CONNECTION_BYTES, WIRE_OVERHEAD, Budget, largest_block, largest_offer
from runtime.sockets import configure
from tests.conftest import cli, only_run_dir, write_params


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("budget")
    params = write_params(root / "params.json")
    assert cli("simulate", "--params", str(params), "--results", str(root / "results"), "-q").exit_code == 0
    return only_run_dir(root / "results")


def test_every_message_of_a_run_is_within_its_paths_largest(run: Path) -> None:
    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    budget = Budget.of(genesis)
    records = read_records(layout.coordinator_ledger)
    verifier = Verifier()
    blocks = [read_block(raw, genesis, verifier)[1] for raw in records]
    assert max(map(len, records)) <= budget.block
    assert max(len(o) for b in blocks for o in b.offers) <= budget.offer
    assert max(len(a) for b in blocks for a in b.acks) <= budget.ack
    # the largest messages are what the encoders make of the largest fields, and the limits follow
    assert budget.offer == len(sign(largest_offer(genesis), SigningKey.generate()).raw)
    assert budget.block == len(sign(largest_block(genesis), SigningKey.generate()).raw)
    router = budget.coordinator_router
    assert router.max_message_bytes == budget.household_message + WIRE_OVERHEAD
    assert router.connection_bytes <= CONNECTION_BYTES and budget.sync_server.connection_bytes <= CONNECTION_BYTES


def test_zeromq_refuses_a_frame_beyond_the_limit_and_delivers_one_within_it(run: Path) -> None:
    limits = Budget.of(Genesis.load(RunLayout(run).genesis)).coordinator_router
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    configure(router, limits)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    try:
        for size, arrives in ((limits.max_message_bytes, True), (limits.max_message_bytes + 1, False)):
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            dealer.connect(f"tcp://127.0.0.1:{port}")
            dealer.send(b"x" * size)
            got = router.poll(1_000)
            assert bool(got) == arrives, f"a frame of {size} bytes (limit {limits.max_message_bytes})"
            if got:
                assert len(router.recv_multipart()[1]) == size
            dealer.close()
    finally:
        router.close()
        ctx.term()


def test_a_block_carries_at_most_acks_per_member_of_a_household(run: Path) -> None:
    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    verifier = Verifier()
    records = read_records(layout.coordinator_ledger)
    assert len(records) > ACKS_PER_MEMBER + 1
    state, history = genesis_state(genesis), History(genesis)
    for raw in records[:-1]:
        env, block = read_block(raw, genesis, verifier)
        state = apply_block(state, history, env, block, validate_block(state, history, env, block, genesis, verifier))
    key = SigningKey.load(layout.key("h01"))
    acks = AckBox()
    for height in range(ACKS_PER_MEMBER + 1):
        ack = Ack(genesis.chain_id, height, "h01", height, history.hash_at(height))
        acks.add(sign(ack, key), ack, history)
    carried = acks.take()
    assert len(carried) == ACKS_PER_MEMBER and len(acks.take()) == 1, "the ninth waits for the next block"
    coordinator = SigningKey.load(layout.key("coordinator"))
    _, last = read_block(records[-1], genesis, verifier)
    others = tuple(a for a in last.acks if _household(a, genesis) != "h01")
    for count, valid in ((ACKS_PER_MEMBER, True), (ACKS_PER_MEMBER + 1, False)):
        ours = tuple(sign(Ack(genesis.chain_id, h, "h01", h, history.hash_at(h)), key).raw for h in range(count))
        block = dataclasses.replace(last, acks=others + ours)
        env = sign(block, coordinator)
        if valid:
            validate_block(state, history, env, block, genesis, verifier)
        else:
            with pytest.raises(ChainError, match=f"more than {ACKS_PER_MEMBER} acks from 'h01'"):
                validate_block(state, history, env, block, genesis, verifier)


def _household(raw: bytes, genesis: Genesis) -> str:
    from chain.reading import read_signed

    _, ack = read_signed(raw, genesis, None, frozenset({Ack.KIND}))
    assert isinstance(ack, Ack)
    return ack.household


def test_the_coordinator_takes_each_households_ack_of_a_height_once_in_one_bit(run: Path) -> None:
    """What refuses a second ack of a height is one bit per household and height of the ledger, so a
    year's acks cost the coordinator kilobytes; acks in any order are each taken once."""
    from chain.errors import ReplayError

    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    verifier = Verifier()
    state, history = genesis_state(genesis), History(genesis)
    for raw in read_records(layout.coordinator_ledger):
        env, block = read_block(raw, genesis, verifier)
        state = apply_block(state, history, env, block, validate_block(state, history, env, block, genesis, verifier))
    heights = len(history.hashes)
    acks = AckBox()
    for hid in ("h01", "h02"):
        key = SigningKey.load(layout.key(hid))
        order = [*range(heights - 1, -1, -2), *range(heights - 2, -1, -2)]  # the last first, then every other
        for height in order:
            ack = Ack(genesis.chain_id, height, hid, height, history.hash_at(height))
            acks.add(sign(ack, key), ack, history)
        for height in (0, heights // 2, heights - 1):
            ack = Ack(genesis.chain_id, height, hid, height, history.hash_at(height))
            with pytest.raises(ReplayError, match=f"duplicate ack from '{hid}' for height {height}"):
                acks.add(sign(ack, key), ack, history)
        beyond = Ack(genesis.chain_id, heights, hid, heights, history.hash_at(heights - 1))
        with pytest.raises(ReplayError, match="names no block"):
            acks.add(sign(beyond, key), beyond, history)
        assert len(acks.seen[hid]) == (heights + 7) // 8
    assert len(acks.pending) == 2 * heights
