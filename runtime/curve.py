"""Transport security: CurveZMQ with keys derived from the run's Ed25519 keys.

Every process already has an Ed25519 key named in genesis; its Curve25519 twin (the standard
birational map, as libsodium computes it) is its CurveZMQ key. So no extra key files exist: a server's
public key, and the allow-list of client keys, follow from genesis alone. Every socket that binds is a
CURVE server whose ZAP handler admits only genesis keys; every socket that connects is a CURVE client
that knows the server's key in advance. An unknown key or a plaintext peer gets no connection at all.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import zmq
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from chain.crypto import PublicKey, SigningKey
from chain.errors import InputError

log = logging.getLogger("runtime.curve")


def curve_public(ed25519_public: PublicKey) -> bytes:
    """The Z85 CurveZMQ public key of an Ed25519 public key."""
    return z85.encode(bytes(VerifyKey(ed25519_public).to_curve25519_public_key()))


@dataclass(frozen=True, slots=True)
class CurveIdentity:
    """One process's CurveZMQ key pair (Z85) and the client keys its servers admit."""

    public: bytes
    secret: bytes
    allowed: frozenset[bytes]

    @classmethod
    def of(cls, key: SigningKey, allowed: Iterable[PublicKey]) -> CurveIdentity:
        """From the process's Ed25519 key and the Ed25519 keys allowed to connect to it."""
        private = NaclSigningKey(key.seed()).to_curve25519_private_key()
        return cls(
            z85.encode(bytes(private.public_key)),
            z85.encode(bytes(private)),
            frozenset(curve_public(k) for k in allowed),
        )

    def serve(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` a CURVE server (before it binds)."""
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def connect_to(self, sock: zmq.Socket[Any], server: PublicKey) -> None:
        """Make ``sock`` a CURVE client of the server whose Ed25519 key is ``server`` (before it connects)."""
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_serverkey = curve_public(server)


class _AllowList:
    """ZAP credentials provider: a client key is admitted when genesis names it."""

    def __init__(self, allowed: frozenset[bytes]) -> None:
        self.allowed = allowed
        self.refused = 0

    def callback(self, domain: str, key: bytes) -> bool:
        ok = key in self.allowed
        if not ok:
            self.refused += 1
            if self.refused <= 10:
                log.warning("refused a CURVE client whose key genesis does not name")
        return ok


def start_authenticator(ctx: zmq.Context[Any], identity: CurveIdentity) -> ThreadAuthenticator:
    """Start the ZAP handler of ``ctx``; CURVE servers of the context admit the allow-list only."""
    auth = ThreadAuthenticator(ctx, log=logging.getLogger("ets.zap"))
    auth.start()
    auth.configure_curve_callback("*", credentials_provider=_AllowList(identity.allowed))
    return auth


def is_loopback(endpoint: str) -> bool:
    """True for ``tcp://127.x.x.x:port``, ``tcp://localhost:port``, ``tcp://[::1]:port``, ``ipc://`` and ``inproc://``."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        raise InputError(f"endpoint {endpoint!r}: expected tcp://host:port, ipc:// or inproc://")
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_by_default(endpoints: Iterable[str]) -> bool:
    """CurveZMQ is on unless every endpoint a process binds or connects to stays on this machine."""
    return not all(is_loopback(e) for e in endpoints)
