"""Options every ZeroMQ socket of the project gets."""

from __future__ import annotations

import zmq

from chain.codec import MAX_MESSAGE_BYTES


def configure(sock: zmq.Socket[bytes], max_bytes: int = MAX_MESSAGE_BYTES) -> None:
    """No lingering on close, a maximum message size, generous high-water marks."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_bytes)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.setsockopt(zmq.RCVHWM, 10_000)
