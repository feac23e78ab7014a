"""Finality: a block is final once at least two thirds of the households present in it (those whose offer
it carries) have acknowledged it in later blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass

QUORUM = 2 / 3


@dataclass(frozen=True, slots=True)
class Finality:
    final_at: tuple[int | None, ...]
    """Per block, the height of the block that made it final (None: not final)."""

    @property
    def lags(self) -> list[int]:
        """Blocks between each final block and the block that made it final."""
        return [k - h for h, k in enumerate(self.final_at) if k is not None]

    def to_json(self) -> dict[str, float | int]:
        lags = sorted(self.lags)
        return {
            "blocks": len(self.final_at),
            "final_blocks": len(lags),
            "lag_p50_blocks": float(lags[len(lags) // 2]) if lags else 0.0,
            "lag_max_blocks": max(lags) if lags else 0,
        }


def needed(present: int) -> int:
    """Acks that make a block with ``present`` offering households final."""
    return math.ceil(QUORUM * present - 1e-9)
