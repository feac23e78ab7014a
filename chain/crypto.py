"""Ed25519 keys, signatures and hashes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from chain.errors import InputError, SignatureError

PublicKey = bytes
"""Raw 32-byte Ed25519 public key."""
Signature = bytes
"""Raw 64-byte Ed25519 signature."""
Hash = bytes
"""32-byte SHA-256 digest."""

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
HASH_BYTES = 32


def sha256(data: bytes) -> Hash:
    return hashlib.sha256(data).digest()


class SigningKey:
    """A private Ed25519 key with its raw public key."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public: PublicKey = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def sign(self, message: bytes) -> Signature:
        return self._key.sign(message)

    def save(self, path: Path) -> None:
        """Write the 32-byte seed as hex, readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.seed().hex() + "\n")

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            text = path.read_text().strip()
            seed = bytes.fromhex(text)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read an Ed25519 key: {exc}") from exc
        if len(seed) != 32:
            raise InputError(f"{path}: an Ed25519 key is 32 bytes of hex, found {len(seed)} bytes")
        return cls.from_seed(seed)


class Verifier:
    """Verifies Ed25519 signatures against known public keys, caching the parsed keys.

    Keys are made and messages signed with ``cryptography``; signatures are checked with libsodium
    (PyNaCl), which verifies about twice as fast here and is the stricter of the two about malformed
    signatures. Both implement the same Ed25519, so every honest signature verifies with either.
    """

    checks_signatures: ClassVar[bool] = True
    """False for a verifier that vouches for signatures checked elsewhere (no signed bytes are assembled
    for it)."""

    def __init__(self) -> None:
        self._keys: dict[PublicKey, VerifyKey] = {}

    def verify(self, public: PublicKey, signature: Signature, message: bytes) -> None:
        key = self._keys.get(public)
        if key is None:
            if len(public) != PUBLIC_KEY_BYTES:
                raise SignatureError("public key must be 32 bytes")
            try:
                key = VerifyKey(public)
            except (ValueError, TypeError, CryptoError) as exc:
                raise SignatureError(f"invalid public key: {exc}") from exc
            self._keys[public] = key
        if len(signature) != SIGNATURE_BYTES:
            raise SignatureError("signature must be 64 bytes")
        try:
            key.verify(message, signature)
        except (BadSignatureError, CryptoError, ValueError) as exc:
            raise SignatureError("signature does not verify") from exc
