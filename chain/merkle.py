"""Merkle roots over ordered leaves (RFC 6962 style domain separation)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from chain.crypto import Hash, sha256

EMPTY_ROOT = sha256(b"")


def merkle_root(leaves: Sequence[bytes]) -> Hash:
    """Root of a binary tree with ``H(0x00||leaf)`` leaves and ``H(0x01||left||right)`` nodes.

    An odd node at the end of a level is carried up unchanged, so no two leaf lists share a root.
    """
    if not leaves:
        return EMPTY_ROOT
    h = hashlib.sha256
    level = [h(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nxt = [h(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
