"""A household node's ZeroMQ sockets.

* DEALER to the coordinator's ROUTER: offers, acks, hellos (the heartbeat), catch-up requests and their replies.
* SUB to the coordinator's PUB: beacons, step announcements, blocks, address changes, the end.
* PUB of its own, and SUB to some peers' PUBs: blocks relayed by gossip.
* ROUTER of its own (the sync server): peers ask it for the blocks they missed, as the ZeroMQ Clone
  pattern's snapshot request; DEALER to some peers' sync servers for this node's own catch-up.

Every socket that connects pings the other end (``runtime.sockets.probe``): a connection whose other end
vanished without closing it (a restarted coordinator's old host, a cut link) is closed and dialled again,
so a SUB never waits for ever on a publisher that is gone.

Bounded by bytes (``runtime.budget``): the catch-up server, which anyone may dial, takes messages no larger than
a catch-up request and holds at most 128 KiB per connection; the sockets the node dials (to the
coordinator, to the peers the coordinator's signed release names) take blocks, at most about 16 MiB per
connection; one read takes at most ``READ_BYTES``. Gossip peers change only with the coordinator's signed
releases (``connect_peers``).

With a ``CurveIdentity`` the sockets it binds are CURVE servers admitting genesis keys only, and every
connection is a CURVE client that knows the other end's key from genesis.
Nothing else in the node touches ZeroMQ; frames are handed on undecoded with the socket they came from.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import zmq

from chain.crypto import PublicKey
from runtime.budget import READ_BYTES, Budget, SocketLimits
from runtime.curve import CurveIdentity, start_authenticator
from runtime.sockets import configure, probe, receive_bounded

log = logging.getLogger("ets.node")


class Source(Enum):
    COORDINATOR = "coordinator"
    """Published by the coordinator."""
    DIRECT = "direct"
    """Sent by the coordinator to this node alone."""
    GOSSIP = "gossip"
    """Relayed by a peer."""
    PEER_SYNC = "peer sync"
    """A peer's answer to this node's catch-up request."""
    SYNC_REQUEST = "sync request"
    """A peer asking this node for blocks (comes with the asker's connection identity)."""


Frame = tuple[Source, bytes, bytes]
"""(source, connection identity or b"", frame)."""


class NodeTransport:
    def __init__(
        self,
        router: str,
        pub: str,
        gossip_bind: str,
        sync_bind: str,
        budget: Budget,
        curve: CurveIdentity | None = None,
        coordinator_key: PublicKey | None = None,
    ) -> None:
        self.ctx = zmq.Context()
        self.budget = budget
        self.curve = curve
        self.auth = start_authenticator(self.ctx, curve) if curve is not None else None
        self.dealer = self._socket(zmq.DEALER)
        self.sub = self._socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.gossip_pub = self._socket(zmq.PUB)
        self.gossip_pub.setsockopt(zmq.SNDHWM, budget.publish_queue)
        self.gossip_sub = self._socket(zmq.SUB)
        self.gossip_sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sync_server = self._socket(zmq.ROUTER, budget.sync_server)
        self.sync_server.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.sync_server.setsockopt(zmq.SNDHWM, budget.publish_queue)
        self.sync_client = self._socket(zmq.DEALER)
        for sock in (self.dealer, self.sub, self.gossip_sub, self.sync_client):
            probe(sock)  # a connection whose other end vanished is found out and dialled again
        for sock, endpoint in ((self.dealer, router), (self.sub, pub)):
            self._connect(sock, endpoint, coordinator_key)
        for sock, endpoint in ((self.gossip_pub, gossip_bind), (self.sync_server, sync_bind)):
            if curve is not None:
                curve.serve(sock)
            sock.bind(endpoint)
        self.poller = zmq.Poller()
        self._sources = {
            self.sub: Source.COORDINATOR,
            self.dealer: Source.DIRECT,
            self.gossip_sub: Source.GOSSIP,
            self.sync_client: Source.PEER_SYNC,
            self.sync_server: Source.SYNC_REQUEST,
        }
        for sock in self._sources:
            self.poller.register(sock, zmq.POLLIN)
        self._gossip_peers: dict[str, str] = {}
        self._sync_peers: dict[str, str] = {}
        self.bytes_in = 0
        self.bytes_out = 0
        self.reconnects = 0
        """Connections to a peer dropped for a new address the coordinator released."""

    def _socket(self, kind: int, limits: SocketLimits | None = None) -> zmq.Socket[Any]:
        sock = self.ctx.socket(kind)
        configure(sock, limits if limits is not None else self.budget.dialled)
        return sock

    def _connect(self, sock: zmq.Socket[Any], endpoint: str, server_key: PublicKey | None) -> None:
        if self.curve is not None:
            if server_key is None:
                raise ValueError(f"{endpoint}: a secure connection needs the server's key")
            self.curve.connect_to(sock, server_key)
        sock.connect(endpoint)

    @property
    def gossip_endpoint(self) -> str:
        return str(self.gossip_pub.getsockopt_string(zmq.LAST_ENDPOINT))

    @property
    def sync_endpoint(self) -> str:
        return str(self.sync_server.getsockopt_string(zmq.LAST_ENDPOINT))

    @property
    def has_sync_peers(self) -> bool:
        return bool(self._sync_peers)

    def connect_peers(self, peers: list[tuple[str, str, str, PublicKey]]) -> None:
        """Subscribe to the gossip and use the sync servers of ``(household, gossip, sync, key)`` peers.

        A peer whose addresses changed (it restarted) is disconnected from its old ones. Called only with
        the peers of the coordinator's signed release (``Start``).
        """
        for household, gossip, sync, key in peers:
            before = (self._gossip_peers.get(household), self._sync_peers.get(household))
            if before == (gossip, sync):
                continue
            if before != (None, None):
                self.reconnects += 1
                log.info("reconnecting to peer %s: %s, %s (was %s, %s)", household, gossip, sync, *before)
            for sock, table, endpoint in (
                (self.gossip_sub, self._gossip_peers, gossip),
                (self.sync_client, self._sync_peers, sync),
            ):
                old = table.get(household)
                if old == endpoint:
                    continue
                if old is not None:
                    sock.disconnect(old)
                self._connect(sock, endpoint, key)
                table[household] = endpoint

    def send(self, raw: bytes) -> None:
        """To the coordinator."""
        self.dealer.send(raw)
        self.bytes_out += len(raw)

    def ask_peers(self, raw: bytes) -> None:
        """To one of the peers' sync servers (round robin)."""
        if not self._sync_peers:
            return
        try:
            self.sync_client.send(raw, zmq.NOBLOCK)
        except zmq.Again:
            return  # no peer connection is up yet; the coordinator was asked too
        self.bytes_out += len(raw)

    def answer(self, identity: bytes, raw: bytes) -> None:
        """To a peer that asked this node's sync server."""
        self.sync_server.send_multipart([identity, raw])
        self.bytes_out += len(raw)

    def relay(self, raw: bytes) -> None:
        """To the peers that subscribe to this node."""
        self.gossip_pub.send(raw)
        self.bytes_out += len(raw)

    def receive(self, timeout_ms: int) -> list[Frame]:
        """The frames waiting on every socket, at most ``READ_BYTES`` in all (the frame that crosses it
        included), after at most ``timeout_ms`` of waiting for the first."""
        out: list[Frame] = []
        ready = dict(self.poller.poll(timeout_ms))
        left = READ_BYTES
        for sock, source in self._sources.items():
            if sock not in ready or left <= 0:
                continue
            messages: list[list[bytes]] = []
            taken = receive_bounded(sock, messages, left)
            left -= taken
            for frames in messages:
                identity = b""
                if source is Source.SYNC_REQUEST:
                    identity, frames = frames[0], frames[1:]
                self.bytes_in += sum(len(f) for f in frames)
                out.append((source, identity, frames[0] if len(frames) == 1 else b""))
        return out

    def close(self) -> None:
        for sock in self._sources:
            sock.close(linger=0)
        self.gossip_pub.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()
