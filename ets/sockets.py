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


def configure(sock: zmq.Socket[bytes], max_bytes: int = MAX_MESSAGE_BYTES, receive_queue: int = 10_000) -> None:
    """No lingering on close, a maximum message size, high-water marks (messages queued per connection)."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_bytes)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.setsockopt(zmq.RCVHWM, receive_queue)
