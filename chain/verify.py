"""Offline verification of a ledger: every record, signature, link and rule, from genesis on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chain.blocks import Block
from chain.digest import Digest
from chain.envelope import Envelope
from chain.errors import ChainError, PeerError
from chain.genesis import Genesis
from chain.history import History
from chain.reading import read_block
from chain.signatures import SignatureCheck, TrustedVerifier
from chain.state import ChainState, genesis_state
from chain.validation import TransferRule, apply_block, validate_block

BlockCheck = Callable[[Envelope, Block], None]
"""An extra check run on each valid block, in order (``--resolve`` re-clears it)."""


@dataclass(frozen=True, slots=True)
class LedgerReport:
    blocks: int
    signatures: int
    """Signatures checked: blocks, offers and acks."""
    state: ChainState
    digest: Digest
    """What the results need from the blocks (``chain.digest``; the blocks themselves are not kept)."""


def verify_records(
    records: Sequence[bytes],
    genesis: Genesis,
    transfers: TransferRule | None = None,
    *,
    workers: int | None = None,
    extra: BlockCheck | None = None,
) -> LedgerReport:
    """Check each record in order; raise ``ChainError`` naming the first bad height.

    Signatures are verified by worker processes while the rules are checked in order here; the lowest
    height where either fails is reported. ``transfers`` recomputes the closing transfers (without it they
    need only balance); ``extra`` is run on each valid block.
    """
    with SignatureCheck(records, workers) as signatures:
        try:
            state, digest = _check_rules(records, genesis, transfers, extra)
        except ChainError as exc:
            bad_signature, _ = signatures.result()
            if bad_signature is not None and bad_signature <= exc.height:
                raise ChainError(bad_signature, "a signature does not verify") from exc
            raise
        bad_signature, count = signatures.result()
    if bad_signature is not None:
        raise ChainError(bad_signature, "a signature does not verify")
    return LedgerReport(len(records), count, state, digest)


def _check_rules(
    records: Sequence[bytes], genesis: Genesis, transfers: TransferRule | None, extra: BlockCheck | None
) -> tuple[ChainState, Digest]:
    """Every rule, in order, signatures aside (they are checked beside this)."""
    trusted = TrustedVerifier()
    state = genesis_state(genesis)
    history = History(genesis, keep_actuals=transfers is not None)
    digest = Digest(genesis)
    for height, raw in enumerate(records):
        try:
            env, block = read_block(raw, genesis, trusted)
        except PeerError as exc:
            raise ChainError(height, f"not a valid signed block: {exc}") from exc
        if block.height != height:
            raise ChainError(height, f"record claims height {block.height}")
        validated = validate_block(state, history, env, block, genesis, trusted, transfers=transfers)
        if extra is not None:
            extra(env, block)
        state = apply_block(state, history, env, block, validated)
        digest.add(block)
    return state, digest
