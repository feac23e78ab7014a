"""The append-only ledger file.

Layout: an 8-byte magic, then records ``[length u32 BE][crc32 u32 BE][payload]``, one per block, in
height order. Each append is flushed and fsynced before it returns. On open, a torn last record (the
file ends inside it) is cut off and kept aside in a backup file; any other damage is ``LedgerCorrupt``
naming the height of the first bad record.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from chain.codec import MAX_MESSAGE_BYTES
from chain.errors import LedgerCorrupt

MAGIC = b"ETSLEDG1"
_HEADER = struct.Struct(">II")


Walk = Generator[tuple[int, bytes], None, tuple[int, bool, LedgerCorrupt | None]]


def _walk(fd: int, path: Path | str) -> Walk:
    """Yield each well-formed record of the open ledger file ``fd`` (where its payload starts, the payload),
    read one at a time; return the well-formed prefix's length, whether the file ends inside a record after
    it, and the damage other than a torn tail (None where there is none)."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, len(MAGIC), 0)
    if size < len(MAGIC):
        if MAGIC.startswith(head):
            return 0, size > 0, None
        return 0, False, LedgerCorrupt(0, f"{path}: not a ledger file (bad magic)")
    if head != MAGIC:
        return 0, False, LedgerCorrupt(0, f"{path}: not a ledger file (bad magic)")
    height = 0
    pos = len(MAGIC)
    while pos < size:
        if pos + _HEADER.size > size:
            return pos, True, None
        length, crc = _HEADER.unpack(os.pread(fd, _HEADER.size, pos))
        if length == 0 or length > MAX_MESSAGE_BYTES:
            return pos, False, LedgerCorrupt(height, f"{path}: record length {length} is out of range")
        end = pos + _HEADER.size + length
        if end > size:
            return pos, True, None
        payload = os.pread(fd, length, pos + _HEADER.size)
        if zlib.crc32(payload) != crc:
            return pos, False, LedgerCorrupt(height, f"{path}: checksum mismatch")
        yield pos + _HEADER.size, payload
        height += 1
        pos = end
    return pos, False, None


def _not_whole(path: Path | str, height: int, torn: bool, damage: LedgerCorrupt | None) -> LedgerCorrupt | None:
    """What keeps a ledger of ``height`` well-formed records from being whole: its damage, or a torn tail
    (None where it is whole)."""
    if damage is not None:
        return damage
    return LedgerCorrupt(height, f"{path}: torn record at the end of the file") if torn else None


def iter_records(path: Path) -> Iterator[bytes]:
    """``read_records`` one record at a time: what a long run's ledger costs is one record. Raises
    ``LedgerCorrupt`` where ``read_records`` would, once the records before the damage have been given."""
    fd = os.open(path, os.O_RDONLY)
    try:
        walk = _walk(fd, path)
        height = 0
        while True:
            try:
                yield next(walk)[1]
                height += 1
            except StopIteration as end:
                _, torn, damage = end.value
                break
        problem = _not_whole(path, height, torn, damage)
        if problem is not None:
            raise problem
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Spans:
    """Where a ledger file's well-formed records are, and what ends them (read, never changed)."""

    path: Path
    spans: list[tuple[int, int]]
    """(offset, length) of each record's payload, in height order."""
    good_bytes: int
    """Length of the well-formed prefix (bytes)."""
    torn: bool
    """True when the file ends inside a record after ``good_bytes``."""
    damage: LedgerCorrupt | None

    def __len__(self) -> int:
        return len(self.spans)

    def strict(self) -> Spans:
        """These spans where the file is whole; ``LedgerCorrupt`` as ``read_records`` raises it otherwise."""
        problem = _not_whole(self.path, len(self.spans), self.torn, self.damage)
        if problem is not None:
            raise problem
        return self

    @contextmanager
    def records(self, height: int | None = None) -> Iterator[Records]:
        """The records (those below ``height``), read from the file when asked for."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            yield Records(fd, self.spans[:height])
        finally:
            os.close(fd)


def salvage_file(path: Path) -> Spans:
    """The well-formed records of a ledger file before the first damage (a torn tail or any other), read one
    at a time and only where each is kept, and the damage other than a torn tail, if any (for recovering
    what a damaged ledger still holds; nothing is changed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        walk = _walk(fd, path)
        spans: list[tuple[int, int]] = []
        while True:
            try:
                offset, payload = next(walk)
                spans.append((offset, len(payload)))
            except StopIteration as end:
                good, torn, damage = end.value
                return Spans(Path(path), spans, good, torn, damage)
    finally:
        os.close(fd)


def read_records(path: Path) -> list[bytes]:
    """Every record of a ledger, strictly: a torn tail is an error too (read-only)."""
    with salvage_file(path).strict().records() as records:
        return list(records)


def frame(payload: bytes) -> bytes:
    """One record as it is written to the file."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class Records(Sequence[bytes]):
    """The block payloads of an open ledger in height order, read from the file when asked for.

    Only each record's position is kept in memory, so a long run's ledger costs a process a few bytes
    per block rather than the blocks themselves.
    """

    def __init__(self, fd: int, spans: list[tuple[int, int]]) -> None:
        self._fd = fd
        self._spans = spans

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self._read(*span) for span in self._spans[index]]
        return self._read(*self._spans[index])

    def _read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def _add(self, offset: int, length: int) -> None:
        self._spans.append((offset, length))


class Ledger:
    """An open ledger file; ``records`` gives every block payload in height order."""

    def __init__(self, path: Path, fd: int, spans: list[tuple[int, int]]) -> None:
        self.path = path
        self._fd = fd
        self._end = os.lseek(fd, 0, os.SEEK_END)
        self.records = Records(fd, spans)

    @classmethod
    def open(cls, path: Path) -> Ledger:
        """Open or create ``path``, repairing a torn tail (the torn bytes go to ``<name>.torn``)."""
        created = not path.exists()
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, MAGIC)
            os.fsync(fd)
            _fsync_dir(path.parent)
            return cls(path, fd, [])
        result = salvage_file(path)
        if result.damage is not None:
            raise result.damage
        fd = os.open(path, os.O_RDWR)
        if result.torn:
            backup = path.with_name(path.name + ".torn")
            n = 1
            while backup.exists():
                n += 1
                backup = path.with_name(f"{path.name}.torn{n}")
            backup.write_bytes(os.pread(fd, os.fstat(fd).st_size - result.good_bytes, result.good_bytes))
            keep = max(result.good_bytes, len(MAGIC))
            if result.good_bytes < len(MAGIC):
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, MAGIC)
            os.ftruncate(fd, keep)
            os.fsync(fd)
            _fsync_dir(path.parent)
        os.lseek(fd, 0, os.SEEK_END)
        return cls(path, fd, result.spans)

    @property
    def height(self) -> int:
        """Number of records (the height the next block will have)."""
        return len(self.records)

    def append(self, payload: bytes) -> None:
        """Write one record and fsync it before returning."""
        data = frame(payload)
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)
        self.records._add(self._end + _HEADER.size, len(payload))
        self._end += len(data)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.records)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
