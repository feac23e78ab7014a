"""The coordinator's decisions, free of I/O: which offers and acks to accept, how a step is cleared and
sealed, and how the run closes. The coordinator service drives it over ZeroMQ; the in-process engine
drives it directly, so both produce the same blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chain.blocks import ACKS_PER_MEMBER, Block, MarketPrices, Settlement
from chain.crypto import SigningKey
from chain.energy import TOLERANCE_KWH
from chain.envelope import Envelope
from chain.errors import ChainError, ReplayError
from chain.genesis import Genesis, HouseholdId
from chain.history import History, Planned
from chain.merkle import merkle_root
from chain.messages import sign
from chain.offers import Ack, Offer
from chain.reading import check_offer
from chain.state import ChainState, genesis_state
from chain.validation import Built, Validated, apply_block, storage_for_step, validate_block, validate_contents
from optimizer.fairness import closing_transfers
from optimizer.flows import Array, GridWindow, Mask
from optimizer.market import Market, StepInputs, StepOutcome
from optimizer.settlement import StepPrices


@dataclass
class OfferBox:
    """Offers received for one step: at most one per household, each checked before it is kept."""

    genesis: Genesis
    step: int
    state: ChainState
    history: History
    offers: dict[HouseholdId, tuple[Envelope, Offer]] = field(default_factory=dict)

    def add(self, env: Envelope, offer: Offer) -> None:
        """Keep a valid offer whose envelope was verified; raise a ``PeerError`` for anything else."""
        self.add_all([(env, offer)])

    def add_all(self, received: Sequence[tuple[Envelope, Offer]]) -> None:
        """``add`` of several offers, their meter readings checked together (``History.check_readings_of``):
        all are kept, or none and the first one's error in order is raised."""
        batch: dict[HouseholdId, tuple[Envelope, Offer]] = {}
        for env, offer in received:
            check_offer(offer, self.genesis, self.step)
            earlier = batch.get(offer.household) or self.offers.get(offer.household)
            if earlier is not None:
                if earlier[0].raw == env.raw:
                    raise ReplayError(f"offer from {offer.household!r} for step {self.step} received twice")
                raise ReplayError(f"second, different offer from {offer.household!r} for step {self.step}")
            batch[offer.household] = (env, offer)
        checked = self.history.check_readings_of({h: o.meter for h, (_, o) in batch.items()}, self.step)
        for household, (_, offer) in batch.items():
            soc = checked[household]
            if isinstance(soc, ReplayError):
                raise soc
            i = self.history.index[household]
            own, shared = soc if soc is not None else (self.state.soc[i], self.state.shared_soc[i])
            if abs(offer.soc_kwh - own) > TOLERANCE_KWH or abs(offer.shared_soc_kwh - shared) > TOLERANCE_KWH:
                raise ReplayError(
                    f"offer from {household!r} states charges other than its meter readings leave ({own}, {shared})"
                )
        self.offers.update(batch)

    def complete(self) -> bool:
        return len(self.offers) == len(self.genesis.members)

    def in_order(self) -> list[tuple[Envelope, Offer]]:
        return [self.offers[h] for h in self.genesis.household_ids if h in self.offers]


@dataclass
class AckBox:
    """Acknowledgements waiting to be carried by the next blocks: (household, signed ack) in arrival order."""

    pending: list[tuple[HouseholdId, bytes]] = field(default_factory=list)
    seen: dict[HouseholdId, bytearray] = field(default_factory=dict)
    """Each household's acknowledged heights, one bit per height of the ledger: a year of 10 households
    (35,041 blocks) takes 44 kB."""

    def add(self, env: Envelope, ack: Ack, history: History) -> None:
        """Keep a verified ack that names a block of this ledger, once per household and height."""
        if not 0 <= ack.height < len(history.hashes) or history.hash_at(ack.height) != ack.block_hash:
            raise ReplayError(f"ack from {ack.household!r} names no block of this ledger at height {ack.height}")
        bits = self.seen.setdefault(ack.household, bytearray())
        byte, bit = divmod(ack.height, 8)
        if byte >= len(bits):
            bits.extend(bytes(byte + 1 - len(bits)))  # never beyond the ledger's height
        if bits[byte] >> bit & 1:
            raise ReplayError(f"duplicate ack from {ack.household!r} for height {ack.height}")
        bits[byte] |= 1 << bit
        self.pending.append((ack.household, env.raw))

    def take(self) -> tuple[bytes, ...]:
        """The acks for the next block, in the order they came: at most ``ACKS_PER_MEMBER`` of each
        household; its others wait for the blocks after."""
        taken: dict[HouseholdId, int] = {}
        out: list[bytes] = []
        rest: list[tuple[HouseholdId, bytes]] = []
        for household, raw in self.pending:
            n = taken.get(household, 0)
            if n < ACKS_PER_MEMBER:
                taken[household] = n + 1
                out.append(raw)
            else:
                rest.append((household, raw))
        self.pending = rest
        return tuple(out)


def market_arrays(
    ids: Sequence[HouseholdId],
    offers: Mapping[HouseholdId, Offer],
    last_offers: Mapping[HouseholdId, Offer],
    step: int,
    horizon: int,
) -> tuple[Mask, Array, Array]:
    """(present mask, production (N, H), consumption (N, H)) for a step.

    Absent households get, for the step itself, what their last offer forecast for it (zero if none);
    their meter readings settle the difference later.
    """
    n = len(ids)
    present = np.zeros(n, dtype=bool)
    production = np.zeros((n, horizon))
    consumption = np.zeros((n, horizon))
    for i, hid in enumerate(ids):
        offer = offers.get(hid)
        if offer is not None:
            present[i] = True
            production[i] = offer.production_kwh
            consumption[i] = offer.consumption_kwh
            continue
        last = last_offers.get(hid)
        if last is not None and 0 < step - last.step < horizon:
            production[i, 0] = last.production_kwh[step - last.step]
            consumption[i, 0] = last.consumption_kwh[step - last.step]
    return present, production, consumption


@dataclass(frozen=True, slots=True)
class _Sealing:
    """What a block of a step is sealed from, whatever its settlements."""

    box: OfferBox
    planned: Planned
    window: GridWindow | None
    acks: tuple[bytes, ...]
    key: SigningKey


class CoordinatorCore:
    """Ledger state, history and market of one run; ``seal`` makes the next block, ``accept`` applies it."""

    def __init__(self, genesis: Genesis, market: Market, settlement_rule: str) -> None:
        self.genesis = genesis
        self.market = market
        self.settlement_rule = settlement_rule
        self.state = genesis_state(genesis)
        self.history = History(genesis, keep_actuals=True)
        self.last_offers: dict[HouseholdId, Offer] = {}
        self.acks = AckBox()
        self.last_outcome: StepOutcome | None = None
        self._checked: tuple[Envelope, Validated] | None = None
        """The block ``seal`` checked last, with what the check found."""

    def open(self, step: int) -> OfferBox:
        return OfferBox(self.genesis, step, self.state, self.history)

    def seal(self, box: OfferBox, window: GridWindow | None, key: SigningKey) -> tuple[Envelope, Block]:
        """The signed block for the box's step: a cleared step, or the closing block after the last.

        A cleared block is checked by the rules before it is returned (its offers and corrections taken as
        checked and planned here, ``chain.validation.Built``): one that breaks a rule falls back to the
        baseline policy (``Market.fallback``), as does a clearing that fails, so the run goes on."""
        g = self.genesis
        offers = {o.household: o for _, o in box.in_order()}
        planned = self.history.plan_corrections([(o.household, r) for o in offers.values() for r in o.meter])
        soc_now = storage_for_step(self.state, planned.corrections, self.history, box.step)
        sealed = _Sealing(box, planned, window, self.acks.take(), key)
        if box.step >= g.steps:
            self.last_outcome = None
            return self._sign(sealed, self._closing(planned, soc_now))
        assert window is not None
        present, production, consumption = market_arrays(g.household_ids, offers, self.last_offers, box.step, g.horizon)
        own_soc = np.array([own for own, _ in soc_now])
        shared_soc = np.array([shared for _, shared in soc_now])
        inputs = StepInputs(present, production, consumption, own_soc, shared_soc, window)
        outcome = self.market.clear(inputs)
        env, block = self._sign(sealed, outcome)
        if not outcome.fallback:
            try:
                built = Built(offers, planned)
                self._checked = (env, validate_contents(self.state, self.history, block, g, built=built))
            except ChainError as exc:
                outcome = self.market.fallback(inputs, f"the cleared step breaks a rule: {exc.reason}", outcome.status)
                env, block = self._sign(sealed, outcome)
        self.last_offers.update(offers)
        self.last_outcome = outcome
        return env, block

    def _closing(self, planned: Planned, soc_now: Sequence[tuple[float, float]]) -> StepOutcome:
        """The closing block's contents: no energy, only the closing transfers."""
        g = self.genesis
        bills = [g.initial_wallet - w + c for w, c in zip(self.state.wallet, planned.costs, strict=True)]
        history = self.history.with_corrections(planned)
        stored = [own + shared for own, shared in soc_now]
        transfers = closing_transfers(self.settlement_rule, g, history, bills, self.market.config.valuation, stored)
        settlements = self._closing_settlements(transfers, soc_now)
        return StepOutcome(settlements, [], StepPrices(0.0, 0.0, 0.0), "closed", 0.0, 0.0)

    def _sign(self, s: _Sealing, outcome: StepOutcome) -> tuple[Envelope, Block]:
        g = self.genesis
        received = s.box.in_order()
        encoded = [x.encode() for x in outcome.settlements]
        encoded_corrections = [c.encode() for c in s.planned.corrections]
        capacity = (float(s.window.import_kw[0]), float(s.window.export_kw[0])) if s.window is not None else (0.0, 0.0)
        offered = {o.household for _, o in received}
        block = Block(
            chain_id=g.chain_id,
            height=self.state.height,
            step=s.box.step,
            parent_hash=self.state.tip,
            offers_root=merkle_root([env.raw for env, _ in received]),
            settlements_root=merkle_root([*encoded, *encoded_corrections]),
            prices=MarketPrices(outcome.prices.grid_buy, outcome.prices.grid_sell, outcome.prices.p2p),
            import_capacity_kw=capacity[0],
            export_capacity_kw=capacity[1],
            offers=tuple(env.raw for env, _ in received),
            settlements=tuple(encoded),
            corrections=tuple(encoded_corrections),
            trades=tuple(outcome.trades),
            absent=tuple(h for h in g.household_ids if h not in offered),
            acks=s.acks,
            clearing_status=outcome.status,
            objective=outcome.objective,
            fallback=outcome.fallback,
        )
        return sign(block, s.key), block

    def _closing_settlements(self, transfers: Sequence[float], soc: Sequence[tuple[float, float]]) -> list[Settlement]:
        zero = 0.0
        return [
            Settlement(
                m.household, "close", zero, zero, zero, zero, zero, zero, zero, zero, zero, zero,
                soc[i][0], soc[i][0], zero, zero, zero, soc[i][1], soc[i][1], transfers[i],
            )
            for i, m in enumerate(self.genesis.members)
        ]  # fmt: skip

    def accept(self, env: Envelope, block: Block) -> None:
        """Apply a block (checked like any other block, offers' signatures aside; the block ``seal`` just
        checked is not checked twice)."""
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] is env and env.signer == self.genesis.coordinator_key:
            validated = checked[1]
        else:
            validated = validate_block(self.state, self.history, env, block, self.genesis, None, verify_offers=False)
        self.state = apply_block(self.state, self.history, env, block, validated)
