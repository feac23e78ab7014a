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

    def verify(self, public: PublicKey, signature: Signature, message: bytes) -> None:
        return None


def _job(height: int, raw: object) -> Job | None:
    try:
        _, kind, signer, payload, signature = codec.fields(codec.unpack(raw), 5, "envelope")  # type: ignore[arg-type]
        return Job(height, bytes(signer), bytes(signature), signing_bytes(str(kind), bytes(payload)))
    except (EtsError, TypeError, ValueError):
        return None  # malformed: the rules report it at this height


def jobs_of(height: int, raw: bytes) -> list[Job]:
    """Every signature in one record: the block's own and those of the offers and acks it carries."""
    job = _job(height, raw)
    if job is None:
        return []
    jobs = [job]
    try:
        block = codec.unpack(codec.fields(codec.unpack(raw), 5, "envelope")[3])
        inner = [*block[8], *block[13]]  # offers, acks
    except (EtsError, TypeError, ValueError, IndexError):
        return jobs
    for item in inner:
        if (inner_job := _job(height, item)) is not None:
            jobs.append(inner_job)
    return jobs


def collect(records: Sequence[bytes]) -> list[Job]:
    """Every signature of every record (``bench/verify.py`` times verifying these alone)."""
    return [job for height, raw in enumerate(records) for job in jobs_of(height, raw)]


def first_bad(jobs: Sequence[Job]) -> int | None:
    """The first job's height whose signature does not verify (jobs in height order)."""
    verifier = Verifier()
    for j in jobs:
        try:
            verifier.verify(j.public, j.signature, j.message)
        except SignatureError:
            return j.height
    return None


def _check_range(first: int, last: int) -> tuple[int | None, int]:
    jobs = [job for h in range(first, last) for job in jobs_of(h, _RECORDS[h])]
    return first_bad(jobs), len(jobs)


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
        ranges = _ranges(records, max(1, self.workers * 8))
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
