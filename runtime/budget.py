"""Byte budgets of every receive path: how large a message may be, and how many bytes a connection can
make a process hold.

The message sizes are not guesses: each is the length of the largest legitimate message of its kind for
the run (its households, steps and horizon), made with the real encoders and signed with a real key, so
an honest peer never reaches a limit and anything larger is refused by ZeroMQ before it is buffered
(the connection that sent it is closed). From them, per socket:

* **Sockets peers dial** (the coordinator's ROUTER, a node's catch-up ROUTER): anyone on the network may
  connect. Each connection may hold at most ``CONNECTION_BYTES`` (128 KiB) in the process: ``RCVHWM``
  messages queued plus the one being decoded, each at most the path's largest message, and the kernel's
  receive buffer (``ZMQ_RCVBUF``) is ``KERNEL_BUFFER_BYTES`` (128 KiB, kernel memory, not the process's).
  A connection that sends a bad frame is skipped for ``runtime.drops.PENALTY_S`` (its frames are discarded
  unread), so a bad frame costs its sender a reconnection, not the receiver a signature check each.
* **Sockets the node dials** (to the coordinator, to the gossip and catch-up servers of the peers the
  coordinator's signed release names): blocks arrive there, so the limit is the largest block (at most
  ``codec.MAX_MESSAGE_BYTES``, 16 MiB), and each connection holds at most about ``DIALLED_BYTES``
  (16 MiB) or two largest blocks, whichever is more.
* **Each read** takes at most ``READ_BYTES`` (4 MiB) off the sockets (and the frame that crosses it)
  before the frames are handled, so what waits in the process between two reads is bounded too.

The total a process can be made to hold by the network (beyond what it holds for its own ledger and
state) is therefore at most

    C x connection_bytes + D x dialled_bytes + READ_BYTES + largest message

for C connections to the sockets it binds and D connections it dials (a node dials 2 + 2 x
``network.gossip_fanout``; the coordinator none). ``Budget.bound_bytes`` computes it;
``tests/test_bounded.py`` measures it against a flood. On the sending side, what sends blocks (publishers,
the ROUTERs that answer catch-up requests, at most ``ANSWER_BLOCKS`` and ``ANSWER_BYTES`` an answer) queues
about ``DIALLED_BYTES`` for a connection that does not read (``Budget.publish_queue``), then drops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zmq

from chain.blocks import (
    ACKS_PER_MEMBER,
    CORRECTION_NUMBERS,
    MAX_FALLBACK_CHARS,
    SETTLEMENT_NUMBERS,
    Block,
    MarketPrices,
    Trade,
)
from chain.codec import MAX_MESSAGE_BYTES, pack
from chain.control import MAX_ENDPOINT, Bye, GetBlocks, Hello, Peer, Start
from chain.crypto import HASH_BYTES, SigningKey
from chain.genesis import Genesis
from chain.messages import Message, sign
from chain.offers import READINGS_PER_OFFER, Ack, MeterReading, Offer

CONNECTION_BYTES = 128 * 1024
"""Most a connection to a socket peers dial can make the process hold (queued and being decoded)."""
KERNEL_BUFFER_BYTES = 128 * 1024
"""``ZMQ_RCVBUF`` of the sockets peers dial (the kernel's receive buffer per connection)."""
DIALLED_BYTES = 16 * 1024 * 1024
"""About the most a connection the node dials (to the coordinator or a peer genesis names) may hold."""
READ_BYTES = 4 * 1024 * 1024
"""Bytes taken off the sockets in one read, at most (plus the frame that crosses it)."""
WIRE_OVERHEAD = 64
"""Bytes a frame may have on the wire beyond its message: CurveZMQ's MESSAGE command adds 33 (ZeroMQ
checks ``ZMQ_MAXMSGSIZE`` against the frame as it arrives)."""
ANSWER_BYTES = 4 * 1024 * 1024
"""Most bytes of blocks one catch-up request is answered with (at least one block)."""
ANSWER_BLOCKS = 256
"""Most blocks one catch-up request is answered with."""
_MAX_INT = 2**62
"""The largest integer the decoders accept: a legitimate counter (a clock in ms, a height) never encodes longer."""


@dataclass(frozen=True, slots=True)
class SocketLimits:
    """What one socket accepts: the largest message (bytes) and the messages queued per connection."""

    max_message_bytes: int
    receive_queue: int
    """``ZMQ_RCVHWM``: messages queued per connection before the connection is read no further."""
    kernel_buffer_bytes: int | None = None
    """``ZMQ_RCVBUF`` (bytes), or the system's default."""

    @property
    def connection_bytes(self) -> int:
        """The most one connection can make the process hold: its queue and the message being decoded."""
        return (self.receive_queue + 1) * self.max_message_bytes

    def apply(self, sock: zmq.Socket[bytes]) -> None:
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sock.setsockopt(zmq.RCVHWM, self.receive_queue)
        if self.kernel_buffer_bytes is not None:
            sock.setsockopt(zmq.RCVBUF, self.kernel_buffer_bytes)


def bound_by(largest_message: int, budget: int, kernel: int | None = None) -> SocketLimits:
    """Limits for a path whose messages are at most ``largest_message`` bytes (with ``WIRE_OVERHEAD`` on
    top, what CurveZMQ adds to each), holding at most ``budget`` per connection (or two messages, where
    one message is more than half of it)."""
    size = largest_message + WIRE_OVERHEAD
    return SocketLimits(size, max(1, budget // size - 1), kernel)


@dataclass(frozen=True, slots=True)
class Budget:
    """The run's largest legitimate messages (bytes, as signed envelopes) and every socket's limits."""

    offer: int
    ack: int
    hello: int
    request: int
    """A catch-up request (``get_blocks``)."""
    bye: int
    start: int
    """The coordinator's peer list."""
    block: int

    @classmethod
    def of(cls, genesis: Genesis) -> Budget:
        return cls(
            offer=_size(largest_offer(genesis)),
            ack=_size(Ack(bytes(HASH_BYTES), _MAX_INT, _longest_id(genesis), _MAX_INT, bytes(HASH_BYTES))),
            hello=_size(largest_hello(genesis)),
            request=_size(GetBlocks(bytes(HASH_BYTES), _longest_id(genesis), _MAX_INT)),
            bye=_size(Bye(bytes(HASH_BYTES), _longest_id(genesis), _MAX_INT)),
            start=_size(largest_start(genesis)),
            block=largest_block_bytes(genesis),
        )

    @property
    def household_message(self) -> int:
        """The largest of what households send the coordinator."""
        return max(self.offer, self.ack, self.hello, self.request, self.bye)

    @property
    def coordinator_message(self) -> int:
        """The largest of what reaches the sockets a node dials (blocks, the peer list, announcements)."""
        return min(MAX_MESSAGE_BYTES, max(self.block, self.start, 1024))

    @property
    def coordinator_router(self) -> SocketLimits:
        return bound_by(self.household_message, CONNECTION_BYTES, KERNEL_BUFFER_BYTES)

    @property
    def sync_server(self) -> SocketLimits:
        return bound_by(self.request, CONNECTION_BYTES, KERNEL_BUFFER_BYTES)

    @property
    def dialled(self) -> SocketLimits:
        return bound_by(self.coordinator_message, DIALLED_BYTES)

    @property
    def publish_queue(self) -> int:
        """``ZMQ_SNDHWM`` of the sockets that send blocks (publishers, and the ROUTERs that answer catch-up
        requests): messages queued for a connection that does not read, about ``DIALLED_BYTES`` of blocks;
        beyond it the connection misses messages (its node catches up by asking again)."""
        return max(16, DIALLED_BYTES // self.coordinator_message)

    def bound_bytes(self, connections: int, dialled: int = 0, limits: SocketLimits | None = None) -> int:
        """The most the network can make a process hold: ``connections`` to a socket it binds with
        ``limits`` (the coordinator's ROUTER by default), ``dialled`` connections it made, and one read."""
        bound = limits if limits is not None else self.coordinator_router
        largest = max(bound.max_message_bytes, self.coordinator_message if dialled else 0)
        return connections * bound.connection_bytes + dialled * self.dialled.connection_bytes + READ_BYTES + largest


def catch_up_answer(records: Sequence[bytes], from_height: int) -> list[bytes]:
    """The ledger records a catch-up request gets: from ``from_height`` on, at most ``ANSWER_BLOCKS`` of them
    and ``ANSWER_BYTES`` in all (at least one); the asker asks again for the rest."""
    out: list[bytes] = []
    size = 0
    for record in records[from_height : from_height + ANSWER_BLOCKS]:
        if out and size + len(record) > ANSWER_BYTES:
            break
        out.append(record)
        size += len(record)
    return out


def _size(message: Message) -> int:
    return len(sign(message, _KEY).raw)


_KEY = SigningKey.from_seed(bytes(32))
"""Signs the largest messages only to measure them (a signature has one length whatever the key)."""


def _longest_id(genesis: Genesis) -> str:
    return max(genesis.household_ids, key=lambda h: len(h.encode()))


def largest_offer(genesis: Genesis) -> Offer:
    """An offer as large as an honest household's can be: the closing step's number, the horizon's
    forecasts and as many meter readings as one offer carries (``READINGS_PER_OFFER``, at most the run's
    steps), each with the longest integers it may hold."""
    readings = min(READINGS_PER_OFFER, genesis.steps)
    last = genesis.steps
    meter = tuple(MeterReading(last, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0) for _ in range(readings))
    series = np.ones(genesis.horizon)
    return Offer(bytes(HASH_BYTES), last, _longest_id(genesis), 1.0, 1.0, series, series, meter)


def largest_hello(genesis: Genesis) -> Hello:
    endpoint = "x" * MAX_ENDPOINT
    return Hello(bytes(HASH_BYTES), _longest_id(genesis), endpoint, endpoint, _MAX_INT, _MAX_INT)


def largest_start(genesis: Genesis) -> Start:
    endpoint = "x" * MAX_ENDPOINT
    return Start(bytes(HASH_BYTES), tuple(Peer(h, endpoint, endpoint) for h in genesis.household_ids))


def largest_block_bytes(genesis: Genesis) -> int:
    """The length of ``largest_block``'s signed envelope, counted rather than encoded (a long run's largest
    block can be hundreds of MB, all of it repeats of a few items): the block with its lists empty, encoded,
    plus each list's msgpack header and items."""
    full = _largest_block_parts(genesis)
    skeleton = dataclasses.replace(full, offers=(), settlements=(), corrections=(), trades=(), absent=(), acks=())
    payload = len(skeleton.encode())
    for name in _LISTS:
        items: tuple[object, ...] = getattr(full, name)
        size = len(pack(items[0].fields() if isinstance(items[0], Trade) else items[0])) if items else 0
        payload += _array_header(len(items)) - 1 + len(items) * size
    envelope = len(sign(skeleton, _KEY).raw) - _bin_header(len(skeleton.encode())) - len(skeleton.encode())
    return envelope + _bin_header(payload) + payload


_LISTS = ("offers", "settlements", "corrections", "trades", "absent", "acks")
"""The block's fields that are lists of items."""


def _array_header(n: int) -> int:
    return 1 if n <= 15 else 3 if n <= 0xFFFF else 5


def _bin_header(n: int) -> int:
    return 2 if n <= 0xFF else 3 if n <= 0xFFFF else 5


def largest_block(genesis: Genesis) -> Block:
    """A block as large as one of the run can be: every household's largest offer and settlement, a
    correction for every household in every step a block's readings can reach, a trade for every ordered
    pair of households, every household absent (the list a block with no offer has) and
    ``ACKS_PER_MEMBER`` acks per household. (Encoding it takes memory in proportion to its size:
    ``largest_block_bytes`` counts it instead.)"""
    return _largest_block_parts(genesis)


def _largest_block_parts(genesis: Genesis) -> Block:
    ids = genesis.household_ids
    n = len(ids)
    offer = sign(largest_offer(genesis), _KEY).raw
    longest = _longest_id(genesis)
    settlement = pack([longest, "fallback", *([1.0] * len(SETTLEMENT_NUMBERS))])
    correction = pack([longest, _MAX_INT, *([1.0] * len(CORRECTION_NUMBERS))])
    read_steps = min(genesis.steps, n * READINGS_PER_OFFER)
    ack = sign(Ack(bytes(HASH_BYTES), _MAX_INT, longest, _MAX_INT, bytes(HASH_BYTES)), _KEY).raw
    return Block(
        chain_id=bytes(HASH_BYTES),
        height=_MAX_INT,
        step=_MAX_INT,
        parent_hash=bytes(HASH_BYTES),
        offers_root=bytes(HASH_BYTES),
        settlements_root=bytes(HASH_BYTES),
        prices=MarketPrices(1.0, 1.0, 1.0),
        import_capacity_kw=1.0,
        export_capacity_kw=1.0,
        offers=(offer,) * n,
        settlements=(settlement,) * n,
        corrections=(correction,) * (n * read_steps),
        trades=(Trade(longest, longest, 1.0, 1.0),) * (n * max(n - 1, 1)),
        absent=(longest,) * n,
        acks=(ack,) * (n * ACKS_PER_MEMBER),
        clearing_status="x" * 32,
        objective=1.0,
        fallback="x" * MAX_FALLBACK_CHARS,
    )
