"""Options every ZeroMQ socket of the project gets."""

from __future__ import annotations

import zmq

from runtime.budget import READ_BYTES, SocketLimits

DEFAULT_LIMITS = SocketLimits(16 * 1024 * 1024, 64)
"""For a socket whose path has no budget of its own (the launcher's progress subscription)."""
SEND_QUEUE = 1_000
"""Messages queued per connection to send (beyond it a PUB or ROUTER drops; a DEALER waits)."""

PROBE_INTERVAL_MS = 1_000
"""How often a connecting socket pings the other end (ZMTP PING; the other end's I/O thread answers)."""
PROBE_TIMEOUT_MS = 5_000
"""A connection that has carried nothing, not even a PONG, this long after a PING is closed and dialled again."""


def configure(sock: zmq.Socket[bytes], limits: SocketLimits = DEFAULT_LIMITS) -> None:
    """No lingering on close, the path's maximum message size and receive queue (``runtime.budget``), a
    send queue."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, SEND_QUEUE)
    limits.apply(sock)


def receive_bounded(sock: zmq.Socket[bytes], out: list[list[bytes]], budget: int = READ_BYTES) -> int:
    """Append the messages waiting on ``sock`` to ``out`` until ``budget`` bytes were taken (the message
    that crosses it included); return the bytes taken."""
    taken = 0
    while taken < budget:
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            break
        taken += sum(len(f) for f in frames)
        out.append(frames)
    return taken


def probe(sock: zmq.Socket[bytes]) -> None:
    """Make a connecting socket find out when its connection is dead, and dial again (before it connects).

    Without this a connection whose other end vanished without a FIN or RST reaching this side (its host
    torn down, a container's network removed with data still queued, a link cut while the other end
    closed) stays open for ever on this side. A SUB never sends anything on its connection, so it would
    wait for ever for a publisher that is gone, while a new one at the same address publishes to others.
    ZMTP heartbeats ping the other end every ``PROBE_INTERVAL_MS``; with no traffic for
    ``PROBE_TIMEOUT_MS`` after a ping the connection is closed and ZeroMQ connects again (resolving the
    host name again). Only connecting sockets probe: a server never drops a paused client's connection.
    """
    sock.setsockopt(zmq.HEARTBEAT_IVL, PROBE_INTERVAL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, PROBE_TIMEOUT_MS)
