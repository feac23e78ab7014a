"""A household node's ZeroMQ sockets.

* DEALER to the coordinator's ROUTER: offers, acks, hello, catch-up requests and their replies.
* SUB to the coordinator's PUB: beacons, step announcements, blocks, the end.
* PUB of its own, and SUB to some peers' PUBs: blocks relayed by gossip.

Nothing else in the node touches ZeroMQ; frames are handed on undecoded with the socket they came from.
"""

from __future__ import annotations

from enum import Enum

import zmq

from ets.sockets import configure


class Source(Enum):
    COORDINATOR = "coordinator"
    """Published by the coordinator."""
    DIRECT = "direct"
    """Sent by the coordinator to this node alone."""
    GOSSIP = "gossip"
    """Relayed by a peer."""


class NodeTransport:
    def __init__(self, router: str, pub: str, gossip_bind: str) -> None:
        self.ctx = zmq.Context()
        self.dealer = self.ctx.socket(zmq.DEALER)
        configure(self.dealer)
        self.dealer.connect(router)
        self.sub = self.ctx.socket(zmq.SUB)
        configure(self.sub)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(pub)
        self.gossip_pub = self.ctx.socket(zmq.PUB)
        configure(self.gossip_pub)
        self.gossip_pub.bind(gossip_bind)
        self.gossip_sub = self.ctx.socket(zmq.SUB)
        configure(self.gossip_sub)
        self.gossip_sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.poller = zmq.Poller()
        self._sources = {self.sub: Source.COORDINATOR, self.dealer: Source.DIRECT, self.gossip_sub: Source.GOSSIP}
        for sock in self._sources:
            self.poller.register(sock, zmq.POLLIN)
        self._peers: set[str] = set()
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def gossip_endpoint(self) -> str:
        return str(self.gossip_pub.getsockopt_string(zmq.LAST_ENDPOINT))

    def connect_peers(self, endpoints: list[str]) -> None:
        for endpoint in endpoints:
            if endpoint not in self._peers:
                self.gossip_sub.connect(endpoint)
                self._peers.add(endpoint)

    def send(self, raw: bytes) -> None:
        """To the coordinator."""
        self.dealer.send(raw)
        self.bytes_out += len(raw)

    def relay(self, raw: bytes) -> None:
        """To the peers that subscribe to this node."""
        self.gossip_pub.send(raw)
        self.bytes_out += len(raw)

    def receive(self, timeout_ms: int) -> list[tuple[Source, bytes]]:
        out: list[tuple[Source, bytes]] = []
        ready = dict(self.poller.poll(timeout_ms))
        for sock, source in self._sources.items():
            if sock not in ready:
                continue
            while len(out) < 10_000:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self.bytes_in += sum(len(f) for f in frames)
                out.append((source, frames[0] if len(frames) == 1 else b""))
        return out

    def close(self) -> None:
        for sock in (self.dealer, self.sub, self.gossip_pub, self.gossip_sub):
            sock.close(linger=0)
        self.ctx.term()
