"""Offline verification of a ledger: every record, signature, link and rule, from genesis on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chain.blocks import Block
from chain.crypto import Verifier
from chain.errors import ChainError, PeerError
from chain.genesis import Genesis
from chain.history import History
from chain.reading import read_block
from chain.state import ChainState, genesis_state
from chain.validation import TransferRule, apply_block, validate_block


@dataclass(frozen=True, slots=True)
class LedgerReport:
    blocks: int
    signatures: int
    """Signatures checked: blocks, offers and acks."""
    state: ChainState
    decoded: tuple[Block, ...]


def verify_records(records: Sequence[bytes], genesis: Genesis, transfers: TransferRule | None = None) -> LedgerReport:
    """Check each record in order; raise ``ChainError`` naming the first bad height.

    ``transfers`` recomputes the closing transfers (without it they need only balance).
    """
    verifier = Verifier()
    state = genesis_state(genesis)
    history = History(genesis, keep_actuals=transfers is not None)
    blocks = []
    signatures = 0
    for height, raw in enumerate(records):
        try:
            env, block = read_block(raw, genesis, verifier)
        except PeerError as exc:
            raise ChainError(height, f"not a valid signed block: {exc}") from exc
        if block.height != height:
            raise ChainError(height, f"record claims height {block.height}")
        validated = validate_block(state, history, env, block, genesis, verifier, transfers=transfers)
        state = apply_block(state, history, env, block, validated)
        blocks.append(block)
        signatures += 1 + len(block.offers) + len(block.acks)
    return LedgerReport(len(records), signatures, state, tuple(blocks))
