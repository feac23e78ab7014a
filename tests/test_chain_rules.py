"""Block rules: a block made by the coordinator's own code validates; every kind of tampering does not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chain.blocks import Block, Settlement
from chain.crypto import SigningKey, Verifier
from chain.errors import ChainError
from chain.genesis import BatterySpec, Genesis, Member
from chain.history import History
from chain.merkle import merkle_root
from chain.messages import sign
from chain.offers import Offer
from chain.reading import read_block
from chain.state import genesis_state
from chain.validation import apply_block, validate_block
from coordinator.core import CoordinatorCore
from optimizer.flows import GridWindow, Storage
from optimizer.market import Market, MarketConfig
from optimizer.programme import Costs

H = 4
SPEC = BatterySpec(5.0, 2.0, 0.95, 0.95, 1.0)
SHARE = BatterySpec(2.0, 1.0, 0.96, 0.96, 0.5)
KEYS = [SigningKey.generate() for _ in range(3)]
COORD = SigningKey.generate()
GENESIS = Genesis(
    coordinator_key=COORD.public,
    members=tuple(Member(f"h{i}", k.public, SPEC, SHARE) for i, k in enumerate(KEYS)),
    dt_hours=0.5,
    start_step=0,
    steps=10,
    horizon=H,
    initial_wallet=10.0,
    community_fee_per_kwh=0.02,
    params_hash=b"\x00" * 32,
    created="2026-01-01T00:00:00+00:00",
)
MARKET = Market(
    GENESIS.household_ids,
    Storage.from_specs([SPEC] * 3, [SHARE] * 3, 0.02),
    MarketConfig(0.5, H, Costs(0.01, 0.001, 5.0, 0.02), "CLARABEL", "mid_market", 0.75, 0.05),
)
WINDOW = GridWindow(np.full(H, 0.3), np.full(H, 0.05), np.full(H, 4.0), np.full(H, 4.0))


PROD = [[2.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]]
CONS = [[0.0, 0.5, 1.0, 1.0], [1.5, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]]


def make_block(absent: tuple[str, ...] = ()) -> tuple[bytes, Block, list[bytes]]:
    core = CoordinatorCore(GENESIS, MARKET, "market")
    box = core.open(0)
    for i, m in enumerate(GENESIS.members):
        if m.household not in absent:
            offer = Offer(GENESIS.chain_id, 0, m.household, 1.0, 0.5, tuple(PROD[i]), tuple(CONS[i]))
            box.add(sign(offer, KEYS[i]), offer)
    env, block = core.seal(box, WINDOW, COORD)
    return env.raw, block, list(block.offers)


def check(raw: bytes) -> list[Settlement]:
    verifier = Verifier()
    env, block = read_block(raw, GENESIS, verifier)
    return validate_block(genesis_state(GENESIS), History(GENESIS), env, block, GENESIS, verifier).settlements.rows()


def resign(block: Block, **changes: object) -> bytes:
    return sign(dataclasses.replace(block, **changes), COORD).raw


def test_a_sealed_block_validates_and_applies() -> None:
    raw, block, _ = make_block()
    settlements = check(raw)
    assert len(settlements) == 3
    assert sum(s.p2p_buy for s in settlements) > 0
    verifier = Verifier()
    env, _ = read_block(raw, GENESIS, verifier)
    history = History(GENESIS)
    validated = validate_block(genesis_state(GENESIS), history, env, block, GENESIS, verifier)
    state = apply_block(genesis_state(GENESIS), history, env, block, validated)
    assert state.height == 1 and state.soc == tuple(s.soc_after for s in settlements)


def test_absent_households_are_recorded() -> None:
    raw, block, _ = make_block(absent=("h1",))
    settlements = check(raw)
    assert block.absent == ("h1",)
    assert settlements[1].mode == "alone" and settlements[1].p2p_buy == 0


def _tamper_settlement(block: Block, index: int, **changes: float) -> bytes:
    s = dataclasses.replace(Settlement.decode(block.settlements[index]), **changes)  # type: ignore[arg-type]
    settlements = list(block.settlements)
    settlements[index] = s.encode()
    return resign(
        block, settlements=tuple(settlements), settlements_root=merkle_root([*settlements, *block.corrections])
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda b, r: resign(b, parent_hash=b"\x01" * 32), "parent hash"),
        (lambda b, r: resign(b, offers=r[:2], offers_root=merkle_root(r[:2])), "either offered or absent"),
        (lambda b, r: resign(b, offers=(r[0], r[0], r[1], r[2])), "offers root"),
        (lambda b, r: resign(b, offers=(r[0], r[0], r[1], r[2]), offers_root=merkle_root((r[0], r[0], r[1], r[2]))),
         "two offers"),
        (lambda b, r: resign(b, settlements_root=b"\x00" * 32), "settlements root"),
        (lambda b, r: _tamper_settlement(b, 0, grid_buy=9.0), "energy balance"),
        (lambda b, r: _tamper_settlement(b, 1, soc_after=4.9), "battery equation"),
        (lambda b, r: _tamper_settlement(b, 1, shared_soc_after=1.9), "community battery: state of charge"),
        (lambda b, r: _tamper_settlement(b, 2, soc_before=0.0), "states of charge before the step"),
        (lambda b, r: _tamper_settlement(b, 0, production=5.0, curtailed=3.0), "differ from its offer"),
        (lambda b, r: _tamper_settlement(b, 1, grid_buy=3.0, grid_sell=3.0), "import capacity"),
        (lambda b, r: resign(b, trades=()), "trades do not add up"),
        (lambda b, r: resign(b, prices=dataclasses.replace(b.prices, p2p=1.0)), "P2P price"),
    ],
)  # fmt: skip
def test_tampered_blocks_are_rejected_with_their_height(tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    _, block, raws = make_block()
    bad = tamper(block, raws)
    with pytest.raises(ChainError) as info:
        check(bad)
    assert info.value.height == 0
    assert reason in str(info.value)


def test_block_signed_by_someone_else_is_rejected() -> None:
    _, block, _ = make_block()
    from chain.errors import PeerError

    with pytest.raises(PeerError):
        read_block(sign(block, KEYS[0]).raw, GENESIS, Verifier())


def test_wrong_height_names_the_claimed_height() -> None:
    _, block, _ = make_block()
    with pytest.raises(ChainError, match="expected height 0") as info:
        check(resign(block, height=1))
    assert info.value.height == 1


def test_other_chain_is_a_replay() -> None:
    from chain.errors import ReplayError

    _, block, _ = make_block()
    with pytest.raises(ReplayError, match="another chain"):
        check(resign(block, chain_id=b"\x02" * 32))
