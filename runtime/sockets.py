"""Options every ZeroMQ socket of the project gets."""

from __future__ import annotations

import zmq

from chain.codec import MAX_MESSAGE_BYTES

MAX_HOUSEHOLD_MESSAGE_BYTES = 1024 * 1024
"""What a household sends the coordinator (offers, acks, hellos, requests) is far below this."""
MAX_REQUEST_BYTES = 64 * 1024
"""A peer's catch-up request is a few hundred bytes."""


RECEIVE_BATCH = 1_000
"""Frames taken off a socket at once before they are handled."""
PEER_QUEUE = 1_000
"""Frames a ROUTER queues per connection. An honest household has a few in flight (an offer, an ack, a
hello); a flooding connection can pile up no more than this many, then it has to wait."""
PROBE_INTERVAL_MS = 1_000
"""How often a connecting socket pings the other end (ZMTP PING; the other end's I/O thread answers)."""
PROBE_TIMEOUT_MS = 5_000
"""A connection that has carried nothing, not even a PONG, this long after a PING is closed and dialled again."""


def configure(sock: zmq.Socket[bytes], max_bytes: int = MAX_MESSAGE_BYTES, receive_queue: int = 10_000) -> None:
    """No lingering on close, a maximum message size, high-water marks (messages queued per connection)."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_bytes)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.setsockopt(zmq.RCVHWM, receive_queue)


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
