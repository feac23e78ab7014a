"""Files written whole or not at all: a temporary file beside the target, fsynced, then renamed over it.

A crash or a full disk leaves the old file (or none), never half of a new one. A write the file system
refuses is one ``EtsError`` naming the file and the file system it is on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from chain.errors import EtsError


class WriteError(EtsError):
    """A file could not be written; the message names it, the reason and the file system."""


def mount_point(path: Path) -> Path:
    """The mount point of the file system that holds ``path`` (or would hold it)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    while not os.path.ismount(p):
        p = p.parent
    return p


def write_atomic(path: Path, data: bytes | str | Iterable[bytes | str]) -> None:
    """Write ``data`` (or its pieces in order, made as they are written) to ``path``: temporary file in the
    same directory, fsync, rename, fsync the directory."""
    path = Path(path)
    pieces = [data] if isinstance(data, bytes | str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for piece in pieces:
                view = memoryview(piece.encode() if isinstance(piece, str) else piece)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        reason = exc.strerror or str(exc)
        raise WriteError(f"{path}: cannot write: {reason} (file system at {mount_point(path)})") from None


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
