"""Reading signed messages: signer, chain id and step checked before anything else is trusted."""

from __future__ import annotations

from chain.blocks import Block
from chain.crypto import Verifier
from chain.envelope import Envelope, open_envelope
from chain.errors import PeerError, ReplayError
from chain.genesis import Genesis
from chain.messages import Message, decode
from chain.offers import Ack, Offer

OFFERS = frozenset({Offer.KIND})
ACKS = frozenset({Ack.KIND})
BLOCKS = frozenset({Block.KIND})


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
    env, offer = read_signed(raw, genesis, verifier, OFFERS)
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
    env, block = read_signed(raw, genesis, verifier, BLOCKS)
    assert isinstance(block, Block)
    return env, block
