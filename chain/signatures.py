"""Checking every signature of a ledger on several cores while the rules are checked in order.

Worker processes are forked with the records in memory and take ranges of heights in order from a
shared counter: for each they collect the range's signatures (each block's own and those of the offers
and acks inside) and verify them. Meanwhile the caller checks the rules without verifying signatures
(``TrustedVerifier``), then takes ranges from the same counter; the first height with a bad signature is
reported, whatever order the processes finish in. A worker that fails makes the check raise: it never
passes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from chain import codec
from chain.crypto import PublicKey, Signature, Verifier
from chain.envelope import signing_bytes
from chain.errors import EtsError, SignatureError

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

    Counter = Synchronized[int]
    """A shared, locked integer (``multiprocessing.Value``)."""

RANGES_PER_WORKER = 64
"""Ranges of heights per worker: small ones, so that the processes finish together."""

_RECORDS: Sequence[bytes] = ()
"""The records a forked worker reads (set before the workers fork)."""


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
    """Every signature of ``records``, verified with ``workers`` cores.

    ``workers - 1`` background processes start at once; each takes the next range of heights from a shared
    counter until none is left. The calling process checks the rules meanwhile, then takes ranges from the
    same counter when it asks for the result, so that all processes finish within about one range of each
    other. A process that finds a bad signature stops everyone from starting later ranges (every earlier
    range is taken already, so the lowest bad height is still found). Use it as a context manager: leaving
    it ends any worker still running.
    """

    def __init__(self, records: Sequence[bytes], workers: int | None = None) -> None:
        global _RECORDS
        _RECORDS = records
        self.workers = workers or os.cpu_count() or 1
        self._ranges = _ranges(records, max(1, self.workers * RANGES_PER_WORKER))
        context = multiprocessing.get_context("fork")
        self._next = context.Value("q", 0)
        """Index of the next range to take."""
        self._workers: list[tuple[BaseProcess, Connection]] = []
        for _ in range(self.workers - 1 if len(self._ranges) > 1 else 0):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_work, args=(self._ranges, self._next, send), daemon=True)
            process.start()
            send.close()
            self._workers.append((process, receive))

    def result(self) -> tuple[int | None, int]:
        """(first height with a bad signature or None, signatures checked); waits for the workers. A worker
        that ends without a result makes it raise."""
        results = [_take(self._ranges, self._next)]
        for process, receive in self._workers:
            try:
                results.append(receive.recv())
            except EOFError:
                raise RuntimeError(f"signature worker {process.pid} ended without a result") from None
        bad = [h for h, _ in results if h is not None]
        return (min(bad) if bad else None), sum(n for _, n in results)

    def __enter__(self) -> SignatureCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        global _RECORDS
        for process, receive in self._workers:
            receive.close()
            if process.is_alive():
                process.terminate()
            process.join()
        self._workers = []
        _RECORDS = ()


def _take(ranges: Sequence[tuple[int, int]], next_range: Counter) -> tuple[int | None, int]:
    """Check ranges taken in order from ``next_range`` until none is left: (lowest bad height or None,
    signatures checked)."""
    bad: int | None = None
    count = 0
    while True:
        with next_range.get_lock():
            i = next_range.value
            next_range.value = i + 1
        if i >= len(ranges):
            return bad, count
        height, checked = _check_range(*ranges[i])
        count += checked
        if height is not None:
            with next_range.get_lock():
                next_range.value = len(ranges)  # later ranges can only hold higher heights
            bad = height if bad is None else min(bad, height)


def _work(ranges: Sequence[tuple[int, int]], next_range: Counter, send: Connection) -> None:
    """A worker process: take ranges, then send the result (a worker that fails sends nothing)."""
    send.send(_take(ranges, next_range))
    send.close()
