"""The rules of the chain: what makes an offer, an ack or a block valid, and what a block does to state.

Pure functions over decoded data: no sockets, files or clocks. Nodes, the coordinator and ``verify``
all call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chain.blocks import Block, MarketPrices, Settlement, block_hash
from chain.crypto import Hash, Verifier
from chain.energy import TOLERANCE_KWH, settlement_problems
from chain.envelope import Envelope, open_envelope
from chain.errors import ChainError, PeerError, ReplayError
from chain.genesis import Genesis, HouseholdId
from chain.merkle import merkle_root
from chain.messages import Message, decode
from chain.offers import Ack, Offer

PRICE_TOLERANCE = 1e-9
"""Slack in price comparisons ($/kWh)."""


@dataclass(frozen=True, slots=True)
class ChainState:
    """What the ledger up to ``height`` implies: the tip and every household's battery and wallet."""

    height: int
    """Number of blocks applied (the next block's height)."""
    tip: Hash
    """Hash of the last block's payload (the chain id before the first block)."""
    last_step: int
    """Step of the last block (-1 before the first)."""
    soc: tuple[float, ...]
    """State of charge of each household's own battery, genesis order (kWh)."""
    shared_soc: tuple[float, ...]
    """Each household's share of the community battery, genesis order (kWh)."""
    wallet: tuple[float, ...]
    """Wallet per household, genesis order ($)."""


def genesis_state(genesis: Genesis) -> ChainState:
    return ChainState(
        height=0,
        tip=genesis.chain_id,
        last_step=-1,
        soc=tuple(m.battery.initial_soc_kwh for m in genesis.members),
        shared_soc=tuple(m.shared_battery.initial_soc_kwh for m in genesis.members),
        wallet=tuple(genesis.initial_wallet for _ in genesis.members),
    )


def read_signed(
    raw: bytes, genesis: Genesis, verifier: Verifier | None, kinds: frozenset[str]
) -> tuple[Envelope, Message]:
    """Open an envelope of one of ``kinds``, check its signer and chain id, and decode it.

    Only keys named in genesis are verified against. Household messages must be signed by the key
    genesis gives the household they name; coordinator messages by the coordinator. With ``verifier``
    None the signature itself is not checked (the caller vouches for it). Raises a ``PeerError``.
    """
    env = open_envelope(raw, verifier, allowed=genesis.keys, kinds=kinds)
    message = decode(env)
    if message.chain_id != genesis.chain_id:
        raise ReplayError(f"{env.kind}: belongs to another chain")
    sender = getattr(message, "household", None)
    if sender is None:
        if env.signer != genesis.coordinator_key:
            raise ReplayError(f"{env.kind}: not signed by the coordinator")
    elif genesis.key_of.get(sender) != env.signer:
        raise ReplayError(f"{env.kind}: signed by a key that is not {sender!r}'s")
    return env, message


def read_offer(raw: bytes, genesis: Genesis, verifier: Verifier | None, step: int) -> tuple[Envelope, Offer]:
    """An offer for ``step`` from a household of this run, checked for signer, chain, step and horizon."""
    env, offer = read_signed(raw, genesis, verifier, frozenset({Offer.KIND}))
    assert isinstance(offer, Offer)
    check_offer(offer, genesis, step)
    return env, offer


def check_offer(offer: Offer, genesis: Genesis, step: int) -> None:
    """An offer must be for the open step and cover the run's horizon."""
    if offer.step != step:
        raise ReplayError(f"offer from {offer.household!r} is for step {offer.step}, not {step}")
    if len(offer.production_kwh) != genesis.horizon:
        raise PeerError(
            f"offer from {offer.household!r} has a horizon of {len(offer.production_kwh)}, not {genesis.horizon}"
        )


def read_block(raw: bytes, genesis: Genesis, verifier: Verifier) -> tuple[Envelope, Block]:
    env, block = read_signed(raw, genesis, verifier, frozenset({Block.KIND}))
    assert isinstance(block, Block)
    return env, block


def validate_block(
    state: ChainState,
    env: Envelope,
    block: Block,
    genesis: Genesis,
    verifier: Verifier,
    hash_at: Callable[[int], Hash],
    *,
    verify_offers: bool = True,
) -> list[Settlement]:
    """Check ``block`` against the state before it; return its settlements in genesis order.

    ``hash_at(height)`` gives the hash of an earlier block, to check acknowledgements against. With
    ``verify_offers`` False the signatures of offers and acks inside are not checked (a node trusts the
    coordinator's signature over the block for others' offers and checks its own byte for byte; ``verify``
    checks them all).
    Raises ``ChainError`` naming the block's height and the first rule it breaks.
    """
    h = block.height
    if env.signer != genesis.coordinator_key:
        raise ChainError(h, "not signed by the coordinator")
    if block.chain_id != genesis.chain_id:
        raise ChainError(h, "other chain id")
    if block.height != state.height:
        raise ChainError(h, f"expected height {state.height}")
    if block.parent_hash != state.tip:
        raise ChainError(h, "parent hash does not match the previous block")
    if not state.last_step < block.step < genesis.steps:
        raise ChainError(h, f"step {block.step} does not follow step {state.last_step} within {genesis.steps}")
    ids = genesis.household_ids
    offers = _check_offers(block, genesis, verifier if verify_offers else None)
    absent = set(block.absent)
    if len(absent) != len(block.absent) or absent - set(ids):
        raise ChainError(h, "absent list has duplicates or unknown households")
    if set(offers) | absent != set(ids) or set(offers) & absent:
        raise ChainError(h, "every household must be either offered or absent, not both")
    if merkle_root(block.settlements) != block.settlements_root:
        raise ChainError(h, "settlements root does not match")
    if len(block.settlements) != len(ids):
        raise ChainError(h, f"expected {len(ids)} settlements, found {len(block.settlements)}")
    try:
        settlements = block.decoded_settlements()
    except PeerError as exc:
        raise ChainError(h, f"bad settlement: {exc}") from exc
    market_failed = block.clearing_status != "optimal"
    for i, (s, member) in enumerate(zip(settlements, genesis.members, strict=True)):
        _check_settlement(
            h, s, member.household, (state.soc[i], state.shared_soc[i]), offers.get(member.household), market_failed
        )
        for problem in settlement_problems(s, member.battery, member.shared_battery, genesis.dt_hours):
            raise ChainError(h, f"{s.household}: {problem}")
    _check_totals(block, settlements, genesis)
    if verify_offers:
        _check_acks(block, genesis, verifier, hash_at)
    return settlements


def _check_offers(block: Block, genesis: Genesis, verifier: Verifier | None) -> dict[HouseholdId, Offer]:
    h = block.height
    if merkle_root(block.offers) != block.offers_root:
        raise ChainError(h, "offers root does not match")
    offers: dict[HouseholdId, Offer] = {}
    for raw in block.offers:
        try:
            _, offer = read_offer(raw, genesis, verifier, block.step)
        except PeerError as exc:
            raise ChainError(h, f"bad offer: {exc}") from exc
        if offer.household in offers:
            raise ChainError(h, f"two offers from {offer.household!r}")
        offers[offer.household] = offer
    return offers


def _check_settlement(
    h: int, s: Settlement, household: HouseholdId, soc: tuple[float, float], offer: Offer | None, market_failed: bool
) -> None:
    if s.household != household:
        raise ChainError(h, f"settlement for {s.household!r} where {household!r} was expected")
    if abs(s.soc_before - soc[0]) > TOLERANCE_KWH or abs(s.shared_soc_before - soc[1]) > TOLERANCE_KWH:
        raise ChainError(h, f"{household}: states of charge before the step differ from the ledger's")
    if offer is None or s.mode == "alone":
        if offer is not None and not market_failed:
            raise ChainError(h, f"{household}: offered but not settled by the market")
        if s.p2p_buy or s.p2p_sell:
            raise ChainError(h, f"{household}: acting alone but trading")
        if offer is None:
            return
    elif s.mode != "market":
        raise ChainError(h, f"{household}: unknown settlement mode {s.mode!r}")
    if s.production != offer.production_kwh[0] or s.consumption != offer.consumption_kwh[0]:
        raise ChainError(h, f"{household}: production/consumption differ from its offer")
    if abs(offer.soc_kwh - soc[0]) > TOLERANCE_KWH or abs(offer.shared_soc_kwh - soc[1]) > TOLERANCE_KWH:
        raise ChainError(h, f"{household}: offered with states of charge other than the ledger's")


def _check_totals(block: Block, settlements: list[Settlement], genesis: Genesis) -> None:
    h = block.height
    tol = TOLERANCE_KWH * max(1, len(settlements))
    bought = sum(s.p2p_buy for s in settlements)
    sold = sum(s.p2p_sell for s in settlements)
    if abs(bought - sold) > tol:
        raise ChainError(h, f"P2P bought {bought} != sold {sold}")
    dt = genesis.dt_hours
    if sum(s.grid_buy for s in settlements) > block.import_capacity_kw * dt + tol:
        raise ChainError(h, "grid import exceeds the transformer's import capacity")
    if sum(s.grid_sell for s in settlements) > block.export_capacity_kw * dt + tol:
        raise ChainError(h, "grid export exceeds the transformer's export capacity")
    p = block.prices
    if p.grid_sell > p.grid_buy + PRICE_TOLERANCE:
        raise ChainError(h, "grid sell price above grid buy price")
    if not p.grid_sell - PRICE_TOLERANCE <= p.p2p <= p.grid_buy + PRICE_TOLERANCE:
        raise ChainError(h, f"P2P price {p.p2p} outside [{p.grid_sell}, {p.grid_buy}]")
    sold_by = {s.household: 0.0 for s in settlements}
    bought_by = dict(sold_by)
    for t in block.trades:
        if t.seller not in sold_by or t.buyer not in sold_by or t.seller == t.buyer:
            raise ChainError(h, f"trade {t.seller}->{t.buyer} names unknown or equal households")
        if t.kwh <= 0 or abs(t.price - p.p2p) > PRICE_TOLERANCE:
            raise ChainError(h, f"trade {t.seller}->{t.buyer} has a bad amount or price")
        sold_by[t.seller] += t.kwh
        bought_by[t.buyer] += t.kwh
    for s in settlements:
        if abs(sold_by[s.household] - s.p2p_sell) > tol or abs(bought_by[s.household] - s.p2p_buy) > tol:
            raise ChainError(h, f"{s.household}: trades do not add up to its P2P volumes")


def _check_acks(block: Block, genesis: Genesis, verifier: Verifier, hash_at: Callable[[int], Hash]) -> None:
    h = block.height
    seen: set[tuple[HouseholdId, int]] = set()
    for raw in block.acks:
        try:
            _, ack = read_signed(raw, genesis, verifier, frozenset({Ack.KIND}))
        except PeerError as exc:
            raise ChainError(h, f"bad ack: {exc}") from exc
        assert isinstance(ack, Ack)
        if ack.height >= block.height:
            raise ChainError(h, f"ack from {ack.household!r} for future height {ack.height}")
        if hash_at(ack.height) != ack.block_hash:
            raise ChainError(h, f"ack from {ack.household!r} names another block at height {ack.height}")
        key = (ack.household, ack.height)
        if key in seen:
            raise ChainError(h, f"duplicate ack from {ack.household!r} for height {ack.height}")
        seen.add(key)


def apply_block(state: ChainState, env: Envelope, block: Block, settlements: list[Settlement]) -> ChainState:
    """The state after ``block``; call only with settlements from ``validate_block``."""
    return advance_state(state, block_hash(env.payload), block.step, settlements, block.prices)


def advance_state(
    state: ChainState, tip: Hash, step: int, settlements: list[Settlement], prices: MarketPrices
) -> ChainState:
    """Batteries and wallets after a step's settlements (shared by ledger replay and the in-process engine)."""
    return ChainState(
        height=state.height + 1,
        tip=tip,
        last_step=step,
        soc=tuple(s.soc_after for s in settlements),
        shared_soc=tuple(s.shared_soc_after for s in settlements),
        wallet=tuple(
            w - s.cost(prices.grid_buy, prices.grid_sell, prices.p2p)
            for w, s in zip(state.wallet, settlements, strict=True)
        ),
    )
