"""The best ledger a run directory holds: the coordinator's, or the longest valid copy a node keeps.

Every candidate is read without being changed: a torn tail is left out, and of a ledger damaged further
in, the blocks before the damage count. The one chosen is verified like ``ets verify`` does (framing,
signatures, links and every rule), so results written from it are results of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chain.digest import Digest
from chain.errors import ChainError
from chain.genesis import Genesis
from chain.history import History
from chain.ledger import Spans, salvage_file
from chain.validation import TransferRule
from chain.verify import verify_records
from ets.run.layout import RunLayout
from optimizer.fairness import closing_transfers
from runtime.market_setup import market_config
from runtime.params import Params


def transfer_rule(params: Params, genesis: Genesis) -> TransferRule:
    """The closing transfers as the run's settlement rule computes them (what verification recomputes)."""
    rule = params.optimizer.settlement_rule
    valuation = market_config(params, genesis.dt_hours, genesis.horizon).valuation

    def transfers(history: History, bills: Sequence[float], stored: Sequence[float]) -> list[float]:
        return closing_transfers(rule, genesis, history, bills, valuation, stored)

    return transfers


@dataclass(frozen=True, slots=True)
class LedgerChoice:
    """The ledger results come from: the digest of its verified blocks (a prefix of the run's chain)."""

    path: Path
    digest: Digest
    signatures: int


@dataclass(frozen=True, slots=True)
class Candidate:
    path: Path
    records: Spans | None
    """Where its readable records are (None: none can be read), read from the file when verified."""
    problem: str | None
    """What is wrong with the file (missing, damaged at a height, a torn tail), None when nothing is."""

    def __len__(self) -> int:
        return 0 if self.records is None else len(self.records)


def read_candidate(path: Path) -> Candidate:
    """A ledger's readable records, and what keeps the rest from being read."""
    try:
        spans = salvage_file(path)
    except FileNotFoundError:
        return Candidate(path, None, "missing")
    except OSError as exc:
        return Candidate(path, None, f"cannot be read ({exc.strerror or exc})")
    if spans.damage is not None:
        return Candidate(path, spans, f"damaged at height {spans.damage.height}: {spans.damage.reason}")
    if spans.torn:
        return Candidate(path, spans, f"torn record at height {len(spans)} left out")
    return Candidate(path, spans, None)


def candidates(layout: RunLayout, genesis: Genesis) -> list[Candidate]:
    """The coordinator's ledger first, then each household's that exists, in genesis order."""
    nodes = [layout.ledger(h) for h in genesis.household_ids if layout.ledger(h).exists()]
    return [read_candidate(layout.coordinator_ledger), *(read_candidate(p) for p in nodes)]


def _verified(c: Candidate, genesis: Genesis, transfers: TransferRule) -> tuple[LedgerChoice | None, str | None]:
    """The candidate's longest prefix that verifies, and why the rest does not."""
    if c.records is None or not len(c):
        return None, None
    try:
        with c.records.records() as records:
            report = verify_records(records, genesis, transfers)
        return LedgerChoice(c.path, report.digest, report.signatures), None
    except ChainError as exc:
        problem = f"height {exc.height}: {exc.reason}"
        if exc.height == 0:
            return None, problem
        with c.records.records(exc.height) as records:
            report = verify_records(records, genesis, transfers)
        return LedgerChoice(c.path, report.digest, report.signatures), problem


def best_ledger(layout: RunLayout, genesis: Genesis, params: Params) -> tuple[LedgerChoice | None, list[str]]:
    """The longest verified ledger (the coordinator's where it is as long as any), and one line for each
    problem of the coordinator's ledger, or of a ledger longer than the one chosen."""
    transfers = transfer_rule(params, genesis)
    found = candidates(layout, genesis)
    problems: list[str] = []
    coordinator = found[0]
    if coordinator.problem is not None:
        problems.append(f"{_name(layout, coordinator.path)}: {coordinator.problem}")
    best: LedgerChoice | None = None
    for c in sorted(found, key=lambda c: -len(c)):  # stable: the coordinator's first among equals
        if best is not None and len(c) <= len(best.digest):
            break
        choice, problem = _verified(c, genesis, transfers)
        if problem is not None:
            problems.append(f"{_name(layout, c.path)}: does not verify at {problem}")
        if choice is not None and (best is None or len(choice.digest) > len(best.digest)):
            best = choice
    if best is not None and best.path != coordinator.path and coordinator.problem is None:
        problems.append(
            f"{_name(layout, coordinator.path)}: holds {len(coordinator)} blocks, "
            f"{_name(layout, best.path)} {len(best.digest)}"
        )
    return best, problems


def _name(layout: RunLayout, path: Path) -> str:
    """``ledgers/<name>.ledger``: a ledger as the run directory names it."""
    try:
        return str(path.relative_to(layout.root))
    except ValueError:
        return str(path)
