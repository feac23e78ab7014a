"""A hostile peer: floods a ROUTER with garbage, mutated and forged frames.

Used by the tests (and ``ets flood``) to show that what a peer sends cannot crash a process, grow its
memory without bound or starve honest traffic. Frames are drawn from a seeded generator:

* random bytes of random length,
* a real message (``samples``) with bytes flipped, cut short, or extended,
* well-formed envelopes with a wrong signature, an unknown signer or a wrong kind,
* nested arrays deeper than decoding allows, and frames over the socket's size limit.

A new connection (a new identity) is made every ``per_connection`` frames, so per-connection
accounting is exercised too.

Two floods of their own: ``big_flood``, large forged frames from many connections that reconnect before
they would be ignored (the byte budget of every receive path, ``runtime.budget``), and ``hello_flood``,
signed hellos with ever new endpoints from a household's key (the coordinator's rate limit on hellos).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq

from chain.control import Hello
from chain.crypto import SigningKey
from chain.envelope import VERSION
from chain.genesis import Genesis
from chain.messages import sign


@dataclass(frozen=True, slots=True)
class FloodReport:
    frames: int
    bytes: int
    connections: int


def hostile_frames(
    rng: random.Random, samples: Sequence[bytes], oversize: int, max_bytes: int | None = None
) -> Callable[[], bytes]:
    """A generator of one hostile frame per call; with ``max_bytes``, every frame but the oversize ones is
    cut to it (so that it reaches the receiver's code rather than being refused as it arrives)."""
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
        make = rng.choices(makers, weights)[0]
        frame = make()
        return frame if max_bytes is None or make is huge else frame[:max_bytes]

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
    max_bytes: int | None = None,
    setup: Callable[[zmq.Socket[Any]], None] | None = None,
    until: Callable[[], bool] = lambda: False,
) -> FloodReport:
    """Send ``frames`` hostile frames to the ROUTER at ``endpoint``, as fast as it takes them.

    A send that waits more than 5 s (the other end stopped reading) ends that connection early; the
    flood stops early once ``until()`` is true. ``max_bytes``: the largest frame the target takes, to
    which the frames are cut (but for the few oversize ones).
    """
    rng = random.Random(seed)
    make = hostile_frames(rng, samples, oversize, max_bytes)
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


def big_flood(
    endpoint: str,
    *,
    seconds: float,
    connections: int = 8,
    frame_bytes: int = 1024 * 1024,
    per_connection: int = 50,
    signers: Sequence[bytes] = (),
    seed: int = 0,
    until: Callable[[], bool] = lambda: False,
) -> FloodReport:
    """For ``seconds``, ``connections`` connections at once send forged envelopes (a genesis key as the
    signer, a random signature) of about ``frame_bytes`` each, one in ten of a few hundred bytes; each
    connection is closed and made again after ``per_connection`` frames, long before any receiver would
    ignore it for good (``network.max_bad_frames``). What an unauthenticated client can do to grow a
    process that keeps what it receives per connection by frames rather than bytes.
    """
    deadline = time.monotonic() + seconds
    reports: list[FloodReport] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        rng = random.Random(seed * 1_000 + index)
        keys = list(signers) or [bytes(32)]
        big = [_forged(rng, keys, frame_bytes) for _ in range(4)]
        ctx = zmq.Context()
        sent = size = made = 0
        try:
            while time.monotonic() < deadline and not until():
                sock = ctx.socket(zmq.DEALER)
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.SNDHWM, 16)
                sock.setsockopt(zmq.SNDTIMEO, 1_000)
                sock.connect(endpoint)
                made += 1
                try:
                    for _ in range(per_connection):
                        if time.monotonic() >= deadline or until():
                            break
                        frame = _forged(rng, keys, 300) if rng.random() < 0.1 else rng.choice(big)
                        try:
                            sock.send(frame)
                        except zmq.Again:
                            break
                        sent += 1
                        size += len(frame)
                finally:
                    sock.close(linger=0)
        finally:
            ctx.term()
            with lock:
                reports.append(FloodReport(sent, size, made))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return FloodReport(
        sum(r.frames for r in reports), sum(r.bytes for r in reports), sum(r.connections for r in reports)
    )


def _forged(rng: random.Random, signers: Sequence[bytes], size: int) -> bytes:
    """A well-formed envelope of about ``size`` bytes whose signature is random."""
    payload = rng.randbytes(max(0, size - 120))
    kind = rng.choice(["offer", "ack", "hello", "get_blocks"])
    return bytes(msgpack.packb([VERSION, kind, rng.choice(signers), payload, rng.randbytes(64)], use_bin_type=True))


def hello_flood(
    endpoint: str,
    genesis: Genesis,
    key: SigningKey,
    household: str,
    count: int,
    *,
    every_s: float = 0.0,
    seed: int = 0,
    until: Callable[[], bool] = lambda: False,
) -> FloodReport:
    """``count`` hellos correctly signed with ``household``'s key, each naming other gossip and catch-up
    endpoints (loopback ports nobody listens on), one every ``every_s`` (0: as fast as they can be
    signed): what an insider holding a household's key can do to make the other nodes reconnect. The
    clock of each hello is the sender's, made strictly increasing."""
    rng = random.Random(seed)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDTIMEO, 5_000)
    sock.connect(endpoint)
    sent = size = 0
    last_ms = 0
    started = time.monotonic()
    try:
        for i in range(count):
            if until():
                break
            time.sleep(max(0.0, started + i * every_s - time.monotonic()))
            last_ms = max(time.time_ns() // 1_000_000, last_ms + 1)
            port = rng.randrange(20_000, 60_000)
            hello = Hello(
                genesis.chain_id,
                household,
                f"tcp://127.0.0.1:{port}",
                f"tcp://127.0.0.1:{port + 1}",
                0,
                last_ms,
            )
            raw = sign(hello, key).raw
            try:
                sock.send(raw)
            except zmq.Again:
                break
            sent += 1
            size += len(raw)
    finally:
        sock.close(linger=1_000)
        ctx.term()
    return FloodReport(sent, size, 1)
