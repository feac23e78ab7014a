"""Verification speed: ``ets verify`` against Ed25519 verification alone, side by side, on this machine.

    uv run python bench/verify.py              # 40 households x 400 steps (about 32,000 signatures)
    uv run python bench/verify.py --steps 100  # quicker

It makes a run with the in-process engine (real keys, real signed ledger), then times, three times each:
(1) every signature of the ledger verified by a pool of worker processes and nothing else, and (2) the
whole ledger verification ``ets verify`` does (signatures, links, roots, every rule), and prints the medians.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chain.crypto import Verifier
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.signatures import Job, collect
from chain.verify import verify_records
from ets.cli import main as cli

_JOBS: list[Job] = []


def _verify_slice(first: int, last: int) -> int:
    verifier = Verifier()
    part = _JOBS[first:last]
    for j in part:
        verifier.verify(j.public, j.signature, j.message)
    return len(part)


def verify_alone(jobs: list[Job], workers: int) -> None:
    """Ed25519 verification and nothing else: the jobs are in memory before the workers fork, each worker
    verifies a slice, nothing is decoded or sent but two numbers."""
    global _JOBS
    _JOBS = jobs
    size = -(-len(jobs) // workers)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        assert sum(pool.map(_verify_slice, range(0, len(jobs), size), range(size, len(jobs) + size, size))) == len(jobs)


def make_ledger(root: Path, households: int, steps: int) -> Path:
    params = root / "params.json"
    params.write_text(json.dumps({"forecaster": {"horizon_steps": 24}, "optimizer": {"settlement_rule": "market"}}))
    cli(
        ["simulate", "-n", str(households), "-s", str(steps), "--params", str(params), "--results", str(root), "-q"],
        standalone_mode=False,
    )
    return next(root.glob("sim_*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=40)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        run = make_ledger(Path(tmp), args.households, args.steps)
        genesis = Genesis.load(run / "genesis.json")
        records = read_records(run / "ledgers" / "coordinator.ledger")
        jobs = collect(records)
        raw, full = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            verify_alone(jobs, cores)
            raw.append(time.perf_counter() - started)
            started = time.perf_counter()
            verify_records(records, genesis, workers=cores)
            full.append(time.perf_counter() - started)
    n = len(jobs)
    raw_rate, full_rate = n / statistics.median(raw), n / statistics.median(full)
    print(f"ledger: {len(records)} blocks, {n} signatures; {cores} cores")
    print("| what | median time | signatures/s |")
    print("|---|---|---|")
    print(f"| Ed25519 verification alone, {cores} processes | {statistics.median(raw):.2f} s | {raw_rate:,.0f} |")
    whole = "`ets verify` of the ledger (signatures and every rule)"
    print(f"| {whole} | {statistics.median(full):.2f} s | {full_rate:,.0f} |")
    print(f"ratio: {full_rate / raw_rate:.0%}")


if __name__ == "__main__":
    main()
