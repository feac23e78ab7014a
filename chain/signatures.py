"""Checking every signature of a ledger on several cores while the rules are checked in order.

Worker processes are forked with the records in memory and each is handed a range of heights: it
collects that range's signatures (each block's own and those of the offers and acks inside) and verifies
them. Meanwhile the caller checks the rules without verifying signatures (``TrustedVerifier``); the first
height with a bad signature is then reported, whatever order the workers finish in. A worker that fails
makes the check raise: it never passes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from chain import codec
from chain.crypto import PublicKey, Signature, Verifier
from chain.envelope import signing_bytes
from chain.errors import EtsError, SignatureError

RANGES_PER_WORKER = 32
"""Ranges of heights per worker: small ones, so that the workers finish together."""

_RECORDS: Sequence[bytes] = ()
"""The records a forked worker reads (set before the pool forks)."""


@dataclass(frozen=True, slots=True)
class Job:
    height: int
    public: PublicKey
    signature: Signature
    message: bytes


class TrustedVerifier(Verifier):
    """A verifier for signatures that are checked elsewhere (by ``SignatureCheck``)."""

    checks_signatures = False

    def verify(self, public: PublicKey, signature: Signature, message: bytes) -> None:
        return None


Signed = tuple[PublicKey, Signature, bytes]
"""A signer, its signature and the exact bytes the signature covers."""


def _signed(envelope: object) -> Signed | None:
    """The signature of one unpacked envelope (None where it is malformed: the rules report it)."""
    try:
        _, kind, signer, payload, signature = codec.fields(envelope, 5, "envelope")
        return bytes(signer), bytes(signature), signing_bytes(str(kind), bytes(payload))
    except (EtsError, TypeError, ValueError):
        return None


def _unpacked(raw: object) -> object:
    try:
        return codec.unpack(raw)  # type: ignore[arg-type]
    except EtsError:
        return None


def signed_in(raw: bytes) -> list[Signed]:
    """Every signature in one record: the block's own and those of the offers and acks it carries."""
    envelope = _unpacked(raw)
    own = _signed(envelope)
    if own is None:
        return []
    out = [own]
    try:
        block = codec.unpack(envelope[3])  # type: ignore[index]
        inner = [*block[8], *block[13]]  # offers, acks
    except (EtsError, TypeError, ValueError, IndexError, KeyError):
        return out
    for item in inner:
        if (signed := _signed(_unpacked(item))) is not None:
            out.append(signed)
    return out


def collect(records: Sequence[bytes]) -> list[Job]:
    """Every signature of every record (``bench/verify.py`` times verifying these alone)."""
    return [Job(height, *signed) for height, raw in enumerate(records) for signed in signed_in(raw)]


def _check_range(first: int, last: int) -> tuple[int | None, int]:
    """(first height in the range with a signature that does not verify or None, signatures checked)."""
    verifier = Verifier()
    count = 0
    for height in range(first, last):
        for public, signature, message in signed_in(_RECORDS[height]):
            count += 1
            try:
                verifier.verify(public, signature, message)
            except SignatureError:
                return height, count
    return None, count


def _ranges(records: Sequence[bytes], parts: int) -> list[tuple[int, int]]:
    """Height ranges of about equal bytes (signatures grow with a block's size)."""
    total = sum(len(r) for r in records) or 1
    out: list[tuple[int, int]] = []
    start, acc = 0, 0
    for h, raw in enumerate(records):
        acc += len(raw)
        if acc >= total * (len(out) + 1) / parts and h + 1 > start:
            out.append((start, h + 1))
            start = h + 1
    if start < len(records):
        out.append((start, len(records)))
    return out


class SignatureCheck:
    """Every signature of ``records``, verified with ``workers`` cores: ``workers - 1`` background processes
    start at once, and the calling process takes the ranges they have not reached when it asks for the
    result (it checks the rules meanwhile)."""

    def __init__(self, records: Sequence[bytes], workers: int | None = None) -> None:
        global _RECORDS
        self.workers = workers or os.cpu_count() or 1
        ranges = _ranges(records, max(1, self.workers * RANGES_PER_WORKER))
        self._pool: ProcessPoolExecutor | None = None
        self._ranges: list[tuple[int, int]] = []
        self._futures: list[Future[tuple[int | None, int]]] = []
        self._inline: list[tuple[int | None, int]] = []
        if self.workers <= 1 or len(ranges) <= 1:
            _RECORDS = records
            self._inline = [_check_range(a, b) for a, b in ranges]
            return
        _RECORDS = records
        self._ranges = ranges
        self._pool = ProcessPoolExecutor(max_workers=self.workers - 1, mp_context=multiprocessing.get_context("fork"))
        self._futures = [self._pool.submit(_check_range, a, b) for a, b in ranges]

    def result(self) -> tuple[int | None, int]:
        """(first height with a bad signature or None, signatures checked); waits for the workers."""
        global _RECORDS
        try:
            if self._inline:
                results = self._inline
            else:
                # ranges no worker has started yet are checked here, so that this core helps at the end
                stolen = {
                    i: _check_range(*self._ranges[i])
                    for i in reversed(range(len(self._futures)))
                    if self._futures[i].cancel()
                }
                results = [stolen[i] if i in stolen else f.result() for i, f in enumerate(self._futures)]
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
            _RECORDS = ()
        bad = [h for h, _ in results if h is not None]
        return (min(bad) if bad else None), sum(n for _, n in results)
