"""A hostile peer: floods a ROUTER with garbage, mutated and forged frames.

Used by the tests (and ``ets flood``) to show that what a peer sends cannot crash a process, grow its
memory without bound or starve honest traffic. Frames are drawn from a seeded generator:

* random bytes of random length,
* a real message (``samples``) with bytes flipped, cut short, or extended,
* well-formed envelopes with a wrong signature, an unknown signer or a wrong kind,
* nested arrays deeper than decoding allows, and frames over the socket's size limit.

A new connection (a new identity) is made every ``per_connection`` frames, so per-connection
accounting is exercised too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq

from chain.envelope import VERSION


@dataclass(frozen=True, slots=True)
class FloodReport:
    frames: int
    bytes: int
    connections: int


def hostile_frames(rng: random.Random, samples: Sequence[bytes], oversize: int) -> Callable[[], bytes]:
    """A generator of one hostile frame per call."""
    signers = [msgpack.unpackb(s)[2] for s in samples if _is_envelope(s)] or [bytes(32)]

    def garbage() -> bytes:
        return rng.randbytes(rng.randint(0, 2048))

    def mutated() -> bytes:
        if not samples:
            return garbage()
        frame = bytearray(rng.choice(samples))
        how = rng.random()
        if how < 0.5 and frame:
            for _ in range(rng.randint(1, 8)):
                frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        elif how < 0.75:
            del frame[rng.randrange(len(frame) + 1) :]
        else:
            frame += rng.randbytes(rng.randint(1, 64))
        return bytes(frame)

    def forged() -> bytes:
        kind = rng.choice(["offer", "ack", "hello", "get_blocks", "bye", "block", "nonsense"])
        payload = msgpack.packb([rng.randbytes(32), rng.randint(0, 10**6), "h01", rng.random()])
        return bytes(msgpack.packb([VERSION, kind, rng.choice(signers), payload, rng.randbytes(64)]))

    def deep() -> bytes:
        return b"\x91" * rng.randint(9, 2000) + b"\xc0"

    def huge() -> bytes:
        return b"\x00" * oversize

    kinds: list[tuple[float, Callable[[], bytes]]] = [
        (0.35, garbage),
        (0.35, mutated),
        (0.25, forged),
        (0.0499, deep),
        (0.0001, huge),
    ]
    weights = [w for w, _ in kinds]
    makers = [m for _, m in kinds]

    def one() -> bytes:
        return rng.choices(makers, weights)[0]()

    return one


def _is_envelope(raw: bytes) -> bool:
    try:
        env = msgpack.unpackb(raw)
    except (ValueError, msgpack.UnpackException):
        return False
    return isinstance(env, list) and len(env) == 5 and isinstance(env[2], bytes)


def flood(
    endpoint: str,
    frames: int,
    *,
    samples: Sequence[bytes] = (),
    seed: int = 0,
    per_connection: int = 10_000,
    oversize: int = 2 * 1024 * 1024,
    setup: Callable[[zmq.Socket[Any]], None] | None = None,
    until: Callable[[], bool] = lambda: False,
) -> FloodReport:
    """Send ``frames`` hostile frames to the ROUTER at ``endpoint``, as fast as it takes them.

    A send that waits more than 5 s (the other end stopped reading) ends that connection early; the
    flood stops early once ``until()`` is true.
    """
    rng = random.Random(seed)
    make = hostile_frames(rng, samples, oversize)
    ctx = zmq.Context()
    sent = size = connections = 0
    try:
        while sent < frames:
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 1_000)
            sock.setsockopt(zmq.SNDTIMEO, 5_000)
            if setup is not None:
                setup(sock)
            sock.connect(endpoint)
            connections += 1
            try:
                for _ in range(min(per_connection, frames - sent)):
                    if until():
                        return FloodReport(sent, size, connections)
                    frame = make()
                    try:
                        sock.send(frame)
                    except zmq.Again:
                        break
                    sent += 1
                    size += len(frame)
            finally:
                sock.close(linger=5_000)
    finally:
        ctx.term()
    return FloodReport(sent, size, connections)
