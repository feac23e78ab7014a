"""The coordinator's ZeroMQ sockets: a ROUTER for what households send, a PUB for what everyone hears.

Nothing else in the coordinator touches ZeroMQ; it receives raw frames and hands them on undecoded.
With a ``CurveIdentity`` both sockets are CURVE servers that admit genesis keys only. The ROUTER is
bounded by bytes (``runtime.budget``): no message larger than the largest a household sends, at most 128 KiB
held per connection, at most ``READ_BYTES`` taken in one read.
"""

from __future__ import annotations

import zmq

from runtime.budget import Budget
from runtime.curve import CurveIdentity, start_authenticator
from runtime.sockets import configure, receive_bounded


class CoordinatorTransport:
    def __init__(self, router_bind: str, pub_bind: str, budget: Budget, curve: CurveIdentity | None = None) -> None:
        self.ctx = zmq.Context()
        self.auth = start_authenticator(self.ctx, curve) if curve is not None else None
        self.router = self.ctx.socket(zmq.ROUTER)
        configure(self.router, budget.coordinator_router)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.router.setsockopt(zmq.SNDHWM, budget.publish_queue)
        self.pub = self.ctx.socket(zmq.PUB)
        configure(self.pub, budget.dialled)
        self.pub.setsockopt(zmq.SNDHWM, budget.publish_queue)
        if curve is not None:
            curve.serve(self.router)
            curve.serve(self.pub)
        self.router.bind(router_bind)
        self.pub.bind(pub_bind)
        self.poller = zmq.Poller()
        self.poller.register(self.router, zmq.POLLIN)
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def router_endpoint(self) -> str:
        return str(self.router.getsockopt_string(zmq.LAST_ENDPOINT))

    @property
    def pub_endpoint(self) -> str:
        return str(self.pub.getsockopt_string(zmq.LAST_ENDPOINT))

    def publish(self, raw: bytes) -> None:
        self.pub.send(raw)
        self.bytes_out += len(raw)

    def send_to(self, identity: bytes, raw: bytes) -> None:
        self.router.send_multipart([identity, raw])
        self.bytes_out += len(raw)

    def receive(self, timeout_ms: int) -> list[tuple[bytes, bytes]]:
        """The (identity, frame) pairs waiting, up to ``READ_BYTES`` of them, after at most ``timeout_ms``
        of waiting for the first.

        Messages of more than one data frame are passed on as an empty frame, to be rejected.
        """
        if not dict(self.poller.poll(timeout_ms)):
            return []
        messages: list[list[bytes]] = []
        receive_bounded(self.router, messages)
        self.bytes_in += sum(len(f) for m in messages for f in m[1:])
        return [(m[0], m[1] if len(m) == 2 else b"") for m in messages]

    def close(self) -> None:
        self.router.close(linger=0)
        self.pub.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()
