"""The signed envelope every message travels in.

Wire form: msgpack array ``[version, kind, signer, payload, signature]``. The signature covers
``DOMAIN || len(kind) || kind || payload``: a domain tag, the message kind and the exact payload bytes.
It is checked before the payload is decoded, and the payload is never re-encoded to be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain import codec
from chain.crypto import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    Hash,
    PublicKey,
    Signature,
    SigningKey,
    Verifier,
    sha256,
)
from chain.errors import DecodeError, SignatureError

DOMAIN = b"ets-envelope-v1\x00"
VERSION = 2
"""Format version of every message and ledger record (2: a block carries its fallback reason); a reader
refuses any other."""

KINDS = frozenset({"hello", "start", "beacon", "step", "offer", "block", "ack", "get_blocks", "blocks", "end", "bye"})
"""Every message kind the protocol knows."""


def signing_bytes(kind: str, payload: bytes) -> bytes:
    """The exact bytes a signature covers."""
    tag = kind.encode()
    return DOMAIN + bytes([len(tag)]) + tag + payload


@dataclass(frozen=True, slots=True)
class Envelope:
    """A signed message: ``raw`` is the exact wire bytes it was read from or sent as."""

    kind: str
    signer: PublicKey
    payload: bytes
    signature: Signature
    raw: bytes

    def digest(self) -> Hash:
        """Hash identifying the message: SHA-256 of the payload (what is signed, minus the tag)."""
        return sha256(self.payload)


def seal(kind: str, payload: bytes, key: SigningKey) -> Envelope:
    """Sign ``payload`` as a message of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    signature = key.sign(signing_bytes(kind, payload))
    raw = codec.pack([VERSION, kind, key.public, payload, signature])
    return Envelope(kind, key.public, payload, signature, raw)


def open_envelope(
    raw: bytes,
    verifier: Verifier | None,
    *,
    allowed: frozenset[PublicKey] | None = None,
    kinds: frozenset[str] | None = None,
    max_bytes: int = codec.MAX_MESSAGE_BYTES,
) -> Envelope:
    """Decode the envelope frame and verify its signature; the payload stays undecoded.

    The signer must be in ``allowed`` (when given) before any signature work is done. With ``verifier``
    None the signature is not checked: only for envelopes inside a block whose own signature was.
    Raises ``DecodeError`` or ``SignatureError``.
    """
    obj = codec.unpack(raw, max_bytes=max_bytes)
    version, kind, signer, payload, signature = codec.fields(obj, 5, "envelope")
    if version != VERSION:
        raise DecodeError(f"envelope: unknown version {version!r}")
    kind = codec.as_str(kind, "envelope.kind", max_len=16)
    if kind not in KINDS or (kinds is not None and kind not in kinds):
        raise DecodeError(f"envelope: unexpected kind {kind!r}")
    signer = codec.as_bytes(signer, "envelope.signer", size=PUBLIC_KEY_BYTES)
    payload = codec.as_bytes(payload, "envelope.payload")
    signature = codec.as_bytes(signature, "envelope.signature", size=SIGNATURE_BYTES)
    if allowed is not None and signer not in allowed:
        raise SignatureError(f"{kind}: signer is not allowed to send it")
    if verifier is not None and verifier.checks_signatures:
        verifier.verify(signer, signature, signing_bytes(kind, payload))
    return Envelope(kind, signer, payload, signature, raw if type(raw) is bytes else bytes(raw))
