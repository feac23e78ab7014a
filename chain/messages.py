"""Every signed message type, and how to sign and read them."""

from __future__ import annotations

from collections.abc import Callable

from chain.blocks import Block
from chain.control import Beacon, Bye, End, GetBlocks, Hello, Start, StepOpen
from chain.crypto import SigningKey
from chain.envelope import Envelope, seal
from chain.offers import Ack, Offer

Message = Offer | Ack | Block | Beacon | Hello | Start | StepOpen | GetBlocks | End | Bye

_DECODERS: dict[str, Callable[[bytes], Message]] = {
    cls.KIND: cls.decode for cls in (Offer, Ack, Block, Beacon, Hello, Start, StepOpen, GetBlocks, End, Bye)
}

HOUSEHOLD_KINDS = frozenset({Offer.KIND, Ack.KIND, Hello.KIND, GetBlocks.KIND, Bye.KIND})
"""Kinds a household signs; their payload names the household, which must match the signer."""
COORDINATOR_KINDS = frozenset({Block.KIND, Beacon.KIND, Start.KIND, StepOpen.KIND, End.KIND})
"""Kinds only the coordinator signs."""


def sign(message: Message, key: SigningKey) -> Envelope:
    """Encode ``message`` canonically and sign it."""
    return seal(message.KIND, message.encode(), key)


def decode(envelope: Envelope) -> Message:
    """Decode the payload of an envelope whose signature was already checked."""
    return _DECODERS[envelope.kind](envelope.payload)
