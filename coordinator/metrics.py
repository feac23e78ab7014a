"""The coordinator's network metrics: one CSV row per sealed step (``network_metrics.csv``), appended as
each block is sealed, and restored from the ledger after a restart."""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

log = logging.getLogger("ets.coordinator")


@dataclass
class StepMetrics:
    step: int
    latency_ms: float
    solve_ms: float
    offers: int
    absent: int
    bytes_in: int
    bytes_out: int
    block_bytes: int
    rejected: int


FIELDS = tuple(StepMetrics.__dataclass_fields__)
"""The metrics file's columns, in order."""

MEASURED = ("latency_ms", "solve_ms", "bytes_in", "bytes_out", "rejected")
"""What only the process that sealed a step measured; empty in a row restored from the ledger."""


def unmeasured(step: int, offers: int, absent: int, block_bytes: int) -> StepMetrics:
    """A step's metrics as its block alone gives them (what was measured is NaN)."""
    nan = math.nan
    return StepMetrics(step, nan, nan, offers, absent, 0, 0, block_bytes, 0)


def metrics_row(m: StepMetrics) -> list[object]:
    values = [getattr(m, n) for n in FIELDS]
    if math.isnan(m.latency_ms):
        return ["" if n in MEASURED else v for n, v in zip(FIELDS, values, strict=True)]
    return values


def restore_metrics(path: Path, sealed: Sequence[StepMetrics]) -> None:
    """Make ``path`` hold a row for every block of the ledger, appending only: a torn last line (the
    coordinator killed while writing it) is cut off, and a block sealed just before a kill, whose row was
    never written, gets one from the block (offers, absent, its size; what was measured left empty)."""
    if not path.exists():
        if not sealed:
            return
        data = b""
    else:
        data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as f:
            f.truncate(len(data))
    rows = list(csv.reader(data.decode("utf-8", "replace").splitlines()))
    have = {row[0] for row in rows[1:] if row}
    missing = [m for m in sealed if str(m.step) not in have]
    if not missing:
        return
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if not rows:
            writer.writerow(FIELDS)
        for m in missing:
            writer.writerow(metrics_row(m))
        f.flush()
        os.fsync(f.fileno())
    log.info("metrics restored from the ledger for %d step(s) sealed before a restart", len(missing))


class MetricsLog:
    """Appends each step's row to the metrics file as it comes (its header only when the file is new or
    empty), flushed: a restarted coordinator adds its steps to the ones before, and a kill loses none that
    were sealed. The file stays open for the run; with no file the rows go nowhere (nothing is kept)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._out: TextIO | None = None

    def add(self, m: StepMetrics) -> None:
        if self.path is None:
            return
        if self._out is None:
            self._out = self.path.open("a", newline="")
            if self._out.tell() == 0:
                csv.writer(self._out).writerow(FIELDS)
        csv.writer(self._out).writerow(metrics_row(m))
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
