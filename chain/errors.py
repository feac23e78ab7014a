"""The project's exception tree.

Our fault and a peer's fault are different classes: a ``PeerError`` is logged, counted and dropped by
the process that received it; it never takes the process down.

    EtsError
    +-- InputError             a file or parameter given by the user is wrong (names file/key/row)
    +-- PeerError              bytes from the network are wrong
    |   +-- DecodeError        not well-formed, too large, too deep, wrong types
    |   +-- SignatureError     the signature does not verify or the signer is not allowed
    |   +-- ReplayError        other chain, other step, duplicate, sender swapped
    |   +-- RateError          valid, but sent more often than the protocol allows (hellos)
    +-- ChainError             a block or ledger breaks a rule (carries the height)
    |   +-- LedgerCorrupt      a ledger file is damaged somewhere other than a torn tail
    +-- ProtocolError          an event arrived that the local state machine does not allow
"""

from __future__ import annotations


class EtsError(Exception):
    """Base of every error the project raises on purpose."""


class InputError(EtsError):
    """A user-supplied file or parameter is invalid; the message names where."""


class PeerError(EtsError):
    """Something received from a peer is invalid. Log, count and drop it."""


class DecodeError(PeerError):
    """Bytes are not a well-formed message of the expected shape."""


class SignatureError(PeerError):
    """A signature does not verify, or the signer may not send this kind."""


class ReplayError(PeerError):
    """A message belongs to another chain, step or sender, or was already seen."""


class RateError(PeerError):
    """A valid message sent more often than the protocol allows (a household's hellos): not counted."""


class ChainError(EtsError):
    """A block breaks a rule. ``height`` is the first bad height."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(f"height {height}: {reason}")
        self.height = height
        self.reason = reason


class LedgerCorrupt(ChainError):
    """A ledger file is damaged in a way that is not a torn last record."""


class ProtocolError(EtsError):
    """An event is not allowed in the current state; the state is unchanged."""
