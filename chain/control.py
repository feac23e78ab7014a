"""Control messages: the start barrier, step announcements, catch-up requests and the end of a run.

Each is signed like any other message and carries the chain id, so it cannot be replayed into another run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chain import codec
from chain.crypto import HASH_BYTES, Hash
from chain.genesis import HouseholdId

MAX_ENDPOINT = 256


@dataclass(frozen=True, slots=True)
class Beacon:
    """Published by the coordinator while it waits at the start barrier; proves a subscription works."""

    KIND: ClassVar[str] = "beacon"
    chain_id: Hash
    seq: int

    def encode(self) -> bytes:
        return codec.pack([self.chain_id, self.seq])

    @classmethod
    def decode(cls, payload: bytes) -> Beacon:
        chain_id, seq = codec.fields(codec.unpack(payload), 2, "beacon")
        return cls(codec.as_bytes(chain_id, "beacon.chain_id", size=HASH_BYTES), codec.as_int(seq, "beacon.seq"))


@dataclass(frozen=True, slots=True)
class Hello:
    """A household reports for duty, and keeps reporting as its heartbeat.

    It names where its gossip publisher and its catch-up server listen and how far its ledger goes.
    ``time_ms`` is the sender's clock: the coordinator keeps only a household's newest hello, so an old
    one replayed cannot point the others at an endpoint the household has left.
    """

    KIND: ClassVar[str] = "hello"
    chain_id: Hash
    household: HouseholdId
    gossip_endpoint: str
    sync_endpoint: str
    height: int
    """Number of blocks in the household's ledger."""
    time_ms: int

    def encode(self) -> bytes:
        return codec.pack(
            [self.chain_id, self.household, self.gossip_endpoint, self.sync_endpoint, self.height, self.time_ms]
        )

    @classmethod
    def decode(cls, payload: bytes) -> Hello:
        chain_id, household, gossip, sync, height, time_ms = codec.fields(codec.unpack(payload), 6, "hello")
        return cls(
            codec.as_bytes(chain_id, "hello.chain_id", size=HASH_BYTES),
            codec.as_str(household, "hello.household"),
            codec.as_str(gossip, "hello.gossip_endpoint", max_len=MAX_ENDPOINT),
            codec.as_str(sync, "hello.sync_endpoint", max_len=MAX_ENDPOINT),
            codec.as_int(height, "hello.height"),
            codec.as_int(time_ms, "hello.time_ms"),
        )


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a household can be reached by the others."""

    household: HouseholdId
    gossip_endpoint: str
    sync_endpoint: str


@dataclass(frozen=True, slots=True)
class Start:
    """The coordinator releases the start barrier, and later announces any change of address.

    It names every present household's gossip publisher and catch-up server.
    """

    KIND: ClassVar[str] = "start"
    chain_id: Hash
    peers: tuple[Peer, ...]

    def encode(self) -> bytes:
        return codec.pack([self.chain_id, [[p.household, p.gossip_endpoint, p.sync_endpoint] for p in self.peers]])

    @classmethod
    def decode(cls, payload: bytes) -> Start:
        chain_id, peers = codec.fields(codec.unpack(payload), 2, "start")
        out = []
        for p in codec.as_list(peers, "start.peers", max_len=100_000):
            hid, gossip, sync = codec.fields(p, 3, "start.peers[]")
            out.append(
                Peer(
                    codec.as_str(hid, "start.peers.id"),
                    codec.as_str(gossip, "start.peers.gossip_endpoint", max_len=MAX_ENDPOINT),
                    codec.as_str(sync, "start.peers.sync_endpoint", max_len=MAX_ENDPOINT),
                )
            )
        return cls(codec.as_bytes(chain_id, "start.chain_id", size=HASH_BYTES), tuple(out))


@dataclass(frozen=True, slots=True)
class StepOpen:
    """The coordinator opens ``step``; its block will have ``height``. Offers are due within ``deadline_ms``."""

    KIND: ClassVar[str] = "step"
    chain_id: Hash
    step: int
    height: int
    deadline_ms: int

    def encode(self) -> bytes:
        return codec.pack([self.chain_id, self.step, self.height, self.deadline_ms])

    @classmethod
    def decode(cls, payload: bytes) -> StepOpen:
        chain_id, step, height, deadline = codec.fields(codec.unpack(payload), 4, "step")
        return cls(
            codec.as_bytes(chain_id, "step.chain_id", size=HASH_BYTES),
            codec.as_int(step, "step.step"),
            codec.as_int(height, "step.height"),
            codec.as_int(deadline, "step.deadline_ms"),
        )


@dataclass(frozen=True, slots=True)
class GetBlocks:
    """A household asks for the blocks from ``from_height`` on (catch-up)."""

    KIND: ClassVar[str] = "get_blocks"
    chain_id: Hash
    household: HouseholdId
    from_height: int

    def encode(self) -> bytes:
        return codec.pack([self.chain_id, self.household, self.from_height])

    @classmethod
    def decode(cls, payload: bytes) -> GetBlocks:
        chain_id, household, height = codec.fields(codec.unpack(payload), 3, "get_blocks")
        return cls(
            codec.as_bytes(chain_id, "get_blocks.chain_id", size=HASH_BYTES),
            codec.as_str(household, "get_blocks.household"),
            codec.as_int(height, "get_blocks.from_height"),
        )


@dataclass(frozen=True, slots=True)
class End:
    """The run is over; the last block has height ``final_height - 1``."""

    KIND: ClassVar[str] = "end"
    chain_id: Hash
    final_height: int

    def encode(self) -> bytes:
        return codec.pack([self.chain_id, self.final_height])

    @classmethod
    def decode(cls, payload: bytes) -> End:
        chain_id, height = codec.fields(codec.unpack(payload), 2, "end")
        return cls(
            codec.as_bytes(chain_id, "end.chain_id", size=HASH_BYTES),
            codec.as_int(height, "end.final_height"),
        )


@dataclass(frozen=True, slots=True)
class Bye:
    """A household has every block up to ``height`` and is leaving."""

    KIND: ClassVar[str] = "bye"
    chain_id: Hash
    household: HouseholdId
    height: int

    def encode(self) -> bytes:
        return codec.pack([self.chain_id, self.household, self.height])

    @classmethod
    def decode(cls, payload: bytes) -> Bye:
        chain_id, household, height = codec.fields(codec.unpack(payload), 3, "bye")
        return cls(
            codec.as_bytes(chain_id, "bye.chain_id", size=HASH_BYTES),
            codec.as_str(household, "bye.household"),
            codec.as_int(height, "bye.height"),
        )
