"""The rules a block must follow, and what a valid block does to the state and the history.

Pure functions over decoded data: no sockets, files or clocks. Nodes, the coordinator, the in-process
engine and ``verify`` all call these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chain.alone import act_alone, alone_settlements, genesis_units
from chain.blocks import ACKS_PER_MEMBER, FLOW_FIELDS, SETTLEMENT_NUMBERS, Block, Correction, Settlement, block_hash
from chain.columns import COLUMN, SettlementTable
from chain.crypto import Verifier
from chain.energy import TOLERANCE_KWH, community_problems, physics_flags, settlement_problems
from chain.envelope import Envelope
from chain.errors import ChainError, PeerError
from chain.genesis import Genesis, HouseholdId
from chain.history import History, Planned
from chain.merkle import merkle_root
from chain.offers import Ack, Offer
from chain.reading import ACKS, read_offer, read_signed
from chain.state import ChainState, advance_state

PRICE_TOLERANCE = 1e-9
"""Slack in price comparisons ($/kWh)."""
MONEY_TOLERANCE = 1e-9
"""Slack in money sums ($)."""
_SETTLED = len(SETTLEMENT_NUMBERS)
OPTIMAL = "optimal"
"""The clearing status of a step the market cleared."""

TransferRule = Callable[[History, Sequence[float], Sequence[float]], Sequence[float]]
"""Closing transfers from the history, each household's bill so far ($) and what it has stored at the
end (own battery and community share, kWh)."""


@dataclass(frozen=True, slots=True)
class Validated:
    """What validation decoded and recomputed, for ``apply_block``."""

    settlements: SettlementTable
    corrections: list[Correction]
    correction_costs: list[float]
    """What the corrections add to each household's bill (genesis order, $)."""
    metered: frozenset[tuple[HouseholdId, int]]
    """Which corrections settle a household's step against its meter (the others revise a row)."""


@dataclass(frozen=True, slots=True)
class Built:
    """What the coordinator knows of a block it built and is about to sign: the offers in it, each checked
    when it came (``coordinator.core.OfferBox``), and the corrections it planned from their meter readings
    (``History.plan_corrections``). ``validate_contents`` takes them as they are instead of decoding the
    offers and deriving the corrections again; every other rule is checked."""

    offers: dict[HouseholdId, Offer]
    planned: Planned


def is_closing(block: Block, genesis: Genesis) -> bool:
    return block.step == genesis.steps


def validate_block(
    state: ChainState,
    history: History,
    env: Envelope,
    block: Block,
    genesis: Genesis,
    verifier: Verifier | None,
    *,
    verify_offers: bool = True,
    transfers: TransferRule | None = None,
) -> Validated:
    """Check ``block`` against the state and history before it. Nothing is changed.

    With ``verify_offers`` False the signatures of offers and acks inside are not checked (a node trusts
    the coordinator's signature over the block for others' offers and checks its own byte for byte;
    ``verify`` checks them all). With ``transfers``, a closing block's transfers must be the ones the rule
    gives; without, they must only balance. Raises ``ChainError`` naming the height and the first broken rule.
    """
    if env.signer != genesis.coordinator_key:
        raise ChainError(block.height, "not signed by the coordinator")
    return validate_contents(state, history, block, genesis, verifier, verify_offers=verify_offers, transfers=transfers)


def validate_contents(
    state: ChainState,
    history: History,
    block: Block,
    genesis: Genesis,
    verifier: Verifier | None = None,
    *,
    verify_offers: bool = False,
    transfers: TransferRule | None = None,
    built: Built | None = None,
) -> Validated:
    """``validate_block`` but for who signed the block: what the coordinator checks of a block it is about
    to sign (with ``built``, what it made the block from)."""
    h = block.height
    if block.chain_id != genesis.chain_id:
        raise ChainError(h, "other chain id")
    if block.height != state.height:
        raise ChainError(h, f"expected height {state.height}")
    if block.parent_hash != state.tip:
        raise ChainError(h, "parent hash does not match the previous block")
    if not state.last_step < block.step <= genesis.steps:
        raise ChainError(h, f"step {block.step} does not follow step {state.last_step} within {genesis.steps}")
    ids = genesis.household_ids
    offers = built.offers if built is not None else _check_offers(block, genesis, verifier if verify_offers else None)
    absent = set(block.absent)
    if len(absent) != len(block.absent) or absent - set(ids):
        raise ChainError(h, "absent list has duplicates or unknown households")
    if set(offers) | absent != set(ids) or set(offers) & absent:
        raise ChainError(h, "every household must be either offered or absent, not both")
    if merkle_root([*block.settlements, *block.corrections]) != block.settlements_root:
        raise ChainError(h, "settlements root does not match")
    if len(block.settlements) != len(ids):
        raise ChainError(h, f"expected {len(ids)} settlements, found {len(block.settlements)}")
    try:
        settlements = SettlementTable.decode(block.settlements)
        corrections = block.decoded_corrections()
    except PeerError as exc:
        raise ChainError(h, f"bad settlement or correction: {exc}") from exc
    if built is not None:
        if corrections != built.planned.corrections:
            raise ChainError(h, "corrections are not the ones planned")
        _check_corrected_physics(h, history, corrections, genesis)
        planned = built.planned
    else:
        planned = _check_corrections(block, history, offers, corrections, genesis, state)
    correction_costs = planned.costs
    soc = storage_for_step(state, corrections, history, block.step)
    if is_closing(block, genesis):
        rows = settlements.rows()
        _check_closing(block, rows, soc, genesis)
        wallets = [w - c for w, c in zip(state.wallet, correction_costs, strict=True)]
        if transfers is not None:
            _check_transfers(h, rows, history.with_corrections(planned), wallets, genesis, transfers)
        else:
            _check_transfers(h, rows, history, wallets, genesis, None)
    else:
        _check_settlements(block, settlements, soc, offers, genesis)
        _check_totals(block, settlements, genesis)
        if block.fallback:
            _check_fallback(block, settlements, soc, genesis)
        elif offers and block.clearing_status != OPTIMAL:
            raise ChainError(h, f"clearing status {block.clearing_status!r} without a fallback to the baseline policy")
    if verify_offers:
        assert verifier is not None, "verifying offers needs a verifier"
        _check_acks(block, genesis, verifier, history)
    return Validated(settlements, corrections, correction_costs, planned.metered)


def apply_block(state: ChainState, history: History, env: Envelope, block: Block, v: Validated) -> ChainState:
    """The state after a block that ``validate_block`` accepted; ``history`` is updated in place."""
    history.commit(v.corrections, v.metered)
    history.hashes.append(block_hash(env.payload))
    if block.step < history.genesis.steps:
        dt = history.genesis.dt_hours
        limits = (block.import_capacity_kw * dt, block.export_capacity_kw * dt)
        history.record_step(block.step, v.settlements, block.prices, limits)
    return advance_state(state, history.hashes[-1], block.step, v.settlements, block.prices, v.correction_costs)


def storage_for_step(
    state: ChainState, corrections: Sequence[Correction], history: History, step: int
) -> list[tuple[float, float]]:
    """Each household's (own, shared) state of charge at the start of ``step``: as delivery settled the
    step before where this block's corrections settle it, else as the ledger planned it."""
    soc = list(zip(state.soc, state.shared_soc, strict=True))
    for c in corrections:
        if c.step == step - 1:
            soc[history.index[c.household]] = (c.soc_after, c.shared_soc_after)
    return soc


def _check_corrections(
    block: Block,
    history: History,
    offers: dict[HouseholdId, Offer],
    corrections: list[Correction],
    genesis: Genesis,
    state: ChainState,
) -> Planned:
    """The corrections must be what delivery balancing gives for the offers' meter readings, and every
    row they settle must keep the physics; each offer states the storage its own readings leave."""
    h = block.height
    readings = []
    checked = history.check_readings_of(
        {hid: offers[hid].meter for hid in genesis.household_ids if hid in offers}, block.step
    )
    for hid in genesis.household_ids:
        if hid in offers:
            offer = offers[hid]
            soc = checked[hid]
            if isinstance(soc, PeerError):
                raise ChainError(h, f"bad meter readings: {soc}") from soc
            i = history.index[hid]
            own, shared = soc if soc is not None else (state.soc[i], state.shared_soc[i])
            if abs(offer.soc_kwh - own) > TOLERANCE_KWH or abs(offer.shared_soc_kwh - shared) > TOLERANCE_KWH:
                raise ChainError(h, f"{hid}: offered with states of charge other than its meter readings leave")
            readings += [(hid, r) for r in offer.meter]
    _check_corrected_physics(h, history, corrections, genesis)
    planned = history.plan_corrections(readings)
    if corrections != planned.corrections:
        raise ChainError(h, "corrections do not follow from the meter readings")
    return planned


def _check_corrected_physics(h: int, history: History, corrections: list[Correction], genesis: Genesis) -> None:
    """Every correction is of an open step and keeps the physics, and so does each step as corrected. The
    physics of all corrections is checked at once (``physics_flags``); a flagged one is said in full."""
    index = [history.index.get(c.household, 0) for c in corrections]
    rows = np.array([[*c.numbers(), 0.0] for c in corrections], dtype=np.float64)
    table = SettlementTable(
        tuple(c.household for c in corrections), ("market",) * len(corrections), rows.reshape(-1, _SETTLED)
    )
    at = np.array(index, dtype=np.int64)
    own, shared = (b.take(at) for b in genesis.batteries)
    suspect = physics_flags(table, own, shared, genesis.dt_hours).tolist()
    for c, flagged in zip(corrections, suspect, strict=True):
        if c.household not in history.index or not history.is_open(c.step):
            raise ChainError(h, f"correction of {c.household!r} for step {c.step}, which is not open")
        if flagged:
            member = genesis.members[history.index[c.household]]
            settled = Settlement(c.household, "market", *[*c.numbers(), 0.0])
            for problem in settlement_problems(settled, member.battery, member.shared_battery, genesis.dt_hours):
                raise ChainError(h, f"{c.household} at step {c.step} as settled: {problem}")
    for step, step_rows in history.rows_with(corrections).items():
        record = history.steps[step]
        for problem in community_problems(step_rows, record.import_kwh, record.export_kwh):
            raise ChainError(h, f"step {step} as settled: {problem}")


def _check_closing(
    block: Block, settlements: list[Settlement], soc: list[tuple[float, float]], genesis: Genesis
) -> None:
    h = block.height
    if block.trades:
        raise ChainError(h, "the closing block clears no energy, so it has no trades")
    for s, member, (own, shared) in zip(settlements, genesis.members, soc, strict=True):
        if s.household != member.household or s.mode != "close":
            raise ChainError(h, f"closing entry for {s.household!r} is not a closing entry for {member.household!r}")
        moved = [getattr(s, n) for n in (*FLOW_FIELDS, "fees", "shared_charge", "shared_discharge")]
        if any(moved) or (s.soc_before, s.soc_after, s.shared_soc_before, s.shared_soc_after) != (
            own,
            own,
            shared,
            shared,
        ):
            raise ChainError(h, f"{s.household}: a closing entry moves no energy and keeps its storage")


def _check_transfers(
    h: int,
    settlements: list[Settlement],
    history: History,
    wallets: Sequence[float],
    genesis: Genesis,
    rule: TransferRule | None,
) -> None:
    total = sum(s.transfer for s in settlements)
    if abs(total) > MONEY_TOLERANCE * max(1, len(settlements)):
        raise ChainError(h, f"closing transfers add up to {total}, not zero")
    if rule is None:
        return
    bills = [genesis.initial_wallet - w for w in wallets]
    stored = [s.soc_after + s.shared_soc_after for s in settlements]
    for s, expected in zip(settlements, rule(history, bills, stored), strict=True):
        if abs(s.transfer - expected) > MONEY_TOLERANCE:
            raise ChainError(h, f"{s.household}: closing transfer {s.transfer} where the rule gives {expected}")


def _check_offers(block: Block, genesis: Genesis, verifier: Verifier | None) -> dict[HouseholdId, Offer]:
    h = block.height
    if merkle_root(block.offers) != block.offers_root:
        raise ChainError(h, "offers root does not match")
    offers: dict[HouseholdId, Offer] = {}
    for raw in block.offers:
        try:
            _, offer = read_offer(raw, genesis, verifier, block.step)
        except PeerError as exc:
            raise ChainError(h, f"bad offer: {exc}") from exc
        if offer.household in offers:
            raise ChainError(h, f"two offers from {offer.household!r}")
        offers[offer.household] = offer
    return offers


def _check_settlements(
    block: Block, t: SettlementTable, soc: list[tuple[float, float]], offers: dict[HouseholdId, Offer], genesis: Genesis
) -> None:
    """Each household's entry, in genesis order: against its offer and the ledger's storage, then its physics
    (whose checks run for every row at once; a flagged row is checked again on its own, which names the
    problem)."""
    h = block.height
    offered_mode = "fallback" if block.fallback else "market"
    suspect = physics_flags(t, *genesis.batteries, genesis.dt_hours).tolist()
    rows = t.numbers.tolist()
    for i, member in enumerate(genesis.members):
        hid = member.household
        _check_settlement(h, t.households[i], t.modes[i], rows[i], hid, soc[i], offers.get(hid), offered_mode)
        if suspect[i]:
            for problem in settlement_problems(t.row(i), member.battery, member.shared_battery, genesis.dt_hours):
                raise ChainError(h, f"{hid}: {problem}")


_TRANSFER, _SOC_BEFORE, _SHARED_SOC_BEFORE, _P2P_BUY, _P2P_SELL, _PRODUCTION, _CONSUMPTION = (
    COLUMN[name]
    for name in ("transfer", "soc_before", "shared_soc_before", "p2p_buy", "p2p_sell", "production", "consumption")
)


def _check_settlement(
    h: int,
    settled: HouseholdId,
    mode: str,
    row: list[float],
    household: HouseholdId,
    soc: tuple[float, float],
    offer: Offer | None,
    offered_mode: str,
) -> None:
    """One household's settlement (``settled``, ``mode`` and its numbers ``row``) against its offer and the
    ledger's states of charge; an offered household is settled in ``offered_mode``, an absent one alone."""
    if settled != household:
        raise ChainError(h, f"settlement for {settled!r} where {household!r} was expected")
    if row[_TRANSFER]:
        raise ChainError(h, f"{household}: transfers are settled only when the run closes")
    if abs(row[_SOC_BEFORE] - soc[0]) > TOLERANCE_KWH or abs(row[_SHARED_SOC_BEFORE] - soc[1]) > TOLERANCE_KWH:
        raise ChainError(h, f"{household}: states of charge before the step differ from the ledger's")
    if offer is None:
        if mode != "alone":
            raise ChainError(h, f"{household}: absent but settled as {mode!r}, not alone")
        if row[_P2P_BUY] or row[_P2P_SELL]:
            raise ChainError(h, f"{household}: acting alone but trading")
        return
    if mode != offered_mode:
        raise ChainError(h, f"{household}: offered and settled as {mode!r} in a step settled as {offered_mode!r}")
    if row[_PRODUCTION] != float(offer.production_kwh[0]) or row[_CONSUMPTION] != float(offer.consumption_kwh[0]):
        raise ChainError(h, f"{household}: production/consumption differ from its offer")


def _check_fallback(block: Block, t: SettlementTable, soc: list[tuple[float, float]], genesis: Genesis) -> None:
    """A step that fell back settles exactly what the baseline policy gives (``chain.alone``) for its
    production, consumption, storage and transformer limits: no trade, no other schedule."""
    h = block.height
    if block.trades:
        raise ChainError(h, "a step that fell back to the baseline policy has no trades")
    dt = genesis.dt_hours
    production, consumption = t.column("production"), t.column("consumption")
    before = (np.array([o for o, _ in soc]), np.array([s for _, s in soc]))
    limits = (block.import_capacity_kw * dt, block.export_capacity_kw * dt)
    step = act_alone(production, consumption, *before, genesis_units(genesis), dt, limits)
    expected = alone_settlements(
        t.households, t.modes, production, consumption, before, step, genesis.community_fee_per_kwh
    )
    for raw, policy in zip(block.settlements, expected, strict=True):
        if raw != policy.encode():
            got = Settlement.decode(raw)
            name = next((n for n in SETTLEMENT_NUMBERS if getattr(got, n) != getattr(policy, n)), "mode")
            raise ChainError(
                h,
                f"{policy.household}: {name} {getattr(got, name)} in a step that fell back, where the baseline "
                f"policy gives {getattr(policy, name)}",
            )


def _check_totals(block: Block, t: SettlementTable, genesis: Genesis) -> None:
    h = block.height
    tol = TOLERANCE_KWH * max(1, len(t))
    bought_each, sold_each = t.column("p2p_buy").tolist(), t.column("p2p_sell").tolist()
    dt = genesis.dt_hours
    p = block.prices
    if p.grid_sell > p.grid_buy + PRICE_TOLERANCE:
        raise ChainError(h, "grid sell price above grid buy price")
    if not p.grid_sell - PRICE_TOLERANCE <= p.p2p <= p.grid_buy + PRICE_TOLERANCE:
        raise ChainError(h, f"P2P price {p.p2p} outside [{p.grid_sell}, {p.grid_buy}]")
    half_fee = genesis.p2p_fee_per_kwh / 2
    if (
        block.trades
        and not p.grid_sell + half_fee - PRICE_TOLERANCE <= p.p2p <= p.grid_buy - half_fee + PRICE_TOLERANCE
    ):
        raise ChainError(h, f"P2P price {p.p2p} leaves a side worse off than the grid once the fee is paid")
    for problem in community_problems(t.numbers, block.import_capacity_kw * dt, block.export_capacity_kw * dt):
        raise ChainError(h, problem)
    sold_by = dict.fromkeys(t.households, 0.0)
    bought_by = dict(sold_by)
    for tr in block.trades:
        if tr.seller not in sold_by or tr.buyer not in sold_by or tr.seller == tr.buyer:
            raise ChainError(h, f"trade {tr.seller}->{tr.buyer} names unknown or equal households")
        if tr.kwh <= 0 or abs(tr.price - p.p2p) > PRICE_TOLERANCE:
            raise ChainError(h, f"trade {tr.seller}->{tr.buyer} has a bad amount or price")
        sold_by[tr.seller] += tr.kwh
        bought_by[tr.buyer] += tr.kwh
    for hid, buy, sell in zip(t.households, bought_each, sold_each, strict=True):
        if abs(sold_by[hid] - sell) > tol or abs(bought_by[hid] - buy) > tol:
            raise ChainError(h, f"{hid}: trades do not add up to its P2P volumes")


def _check_acks(block: Block, genesis: Genesis, verifier: Verifier, history: History) -> None:
    h = block.height
    seen: set[tuple[HouseholdId, int]] = set()
    per_member: dict[HouseholdId, int] = {}
    for raw in block.acks:
        try:
            _, ack = read_signed(raw, genesis, verifier, ACKS)
        except PeerError as exc:
            raise ChainError(h, f"bad ack: {exc}") from exc
        assert isinstance(ack, Ack)
        if ack.height >= block.height:
            raise ChainError(h, f"ack from {ack.household!r} for future height {ack.height}")
        if history.hash_at(ack.height) != ack.block_hash:
            raise ChainError(h, f"ack from {ack.household!r} names another block at height {ack.height}")
        key = (ack.household, ack.height)
        if key in seen:
            raise ChainError(h, f"duplicate ack from {ack.household!r} for height {ack.height}")
        seen.add(key)
        per_member[ack.household] = per_member.get(ack.household, 0) + 1
        if per_member[ack.household] > ACKS_PER_MEMBER:
            raise ChainError(h, f"more than {ACKS_PER_MEMBER} acks from {ack.household!r}")
