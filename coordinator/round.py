"""The pure part of a coordinator step: accepting offers and acks, turning offers into market inputs,
and sealing the block. No sockets, files or clocks; the in-process engine uses the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chain.blocks import Block, MarketPrices
from chain.crypto import Hash, SigningKey
from chain.envelope import Envelope
from chain.errors import ReplayError
from chain.genesis import Genesis, HouseholdId
from chain.merkle import merkle_root
from chain.messages import sign
from chain.offers import Ack, Offer
from chain.rules import ChainState, check_offer
from optimizer.flows import Array, GridWindow
from optimizer.market import Market, StepInputs, StepOutcome


@dataclass
class OfferBox:
    """Offers received for one step: at most one per household, each checked before it is kept."""

    genesis: Genesis
    step: int
    soc: Mapping[HouseholdId, tuple[float, float]]
    """(own, shared) state of charge per household, from the ledger."""
    offers: dict[HouseholdId, tuple[Envelope, Offer]] = field(default_factory=dict)

    def add(self, env: Envelope, offer: Offer) -> None:
        """Keep a valid offer whose envelope was verified; raise a ``PeerError`` for anything else."""
        check_offer(offer, self.genesis, self.step)
        if offer.household in self.offers:
            if self.offers[offer.household][0].raw == env.raw:
                raise ReplayError(f"offer from {offer.household!r} for step {self.step} received twice")
            raise ReplayError(f"second, different offer from {offer.household!r} for step {self.step}")
        own, shared = self.soc[offer.household]
        if abs(offer.soc_kwh - own) > 1e-7 or abs(offer.shared_soc_kwh - shared) > 1e-7:
            raise ReplayError(
                f"offer from {offer.household!r} states charges other than the ledger's ({own}, {shared})"
            )
        self.offers[offer.household] = (env, offer)

    def complete(self) -> bool:
        return len(self.offers) == len(self.genesis.members)


@dataclass
class AckBox:
    """Acknowledgements waiting to be carried by the next block."""

    genesis: Genesis
    pending: list[bytes] = field(default_factory=list)
    seen: set[tuple[HouseholdId, int]] = field(default_factory=set)

    def add(self, env: Envelope, ack: Ack, hash_at: Callable[[int], Hash | None]) -> None:
        """Keep a verified ack that names a block of this ledger, once per household and height."""
        if hash_at(ack.height) != ack.block_hash:
            raise ReplayError(f"ack from {ack.household!r} names no block of this ledger at height {ack.height}")
        key = (ack.household, ack.height)
        if key in self.seen:
            raise ReplayError(f"duplicate ack from {ack.household!r} for height {ack.height}")
        self.seen.add(key)
        self.pending.append(env.raw)

    def take(self) -> tuple[bytes, ...]:
        out, self.pending = tuple(self.pending), []
        return out


def market_arrays(
    ids: Sequence[HouseholdId],
    offers: Mapping[HouseholdId, Offer],
    last_offers: Mapping[HouseholdId, Offer],
    step: int,
    horizon: int,
) -> tuple[np.ndarray[tuple[int], np.dtype[np.bool_]], Array, Array]:
    """(present mask, production (N, H), consumption (N, H)) for a step.

    Absent households get, for the step itself, what their last offer forecast for it (zero if none).
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


def clear_step(
    market: Market,
    genesis: Genesis,
    step: int,
    offers: Mapping[HouseholdId, Offer],
    last_offers: Mapping[HouseholdId, Offer],
    state: ChainState,
    window: GridWindow,
) -> StepOutcome:
    """Clear ``step`` from the offers received (and, for absent households, their last offers)."""
    present, production, consumption = market_arrays(genesis.household_ids, offers, last_offers, step, genesis.horizon)
    soc, shared = np.array(state.soc), np.array(state.shared_soc)
    return market.clear(StepInputs(present, production, consumption, soc, shared, window))


def build_block(
    genesis: Genesis,
    state: ChainState,
    step: int,
    offers: Sequence[bytes],
    absent: Sequence[HouseholdId],
    outcome: StepOutcome,
    capacity_kw: tuple[float, float],
    acks: Sequence[bytes],
) -> Block:
    """The block for ``step`` on top of ``state``; ``offers`` are raw envelopes in community order and
    ``capacity_kw`` the (import, export) limits of the step."""
    settlements = [s.encode() for s in outcome.settlements]
    p = outcome.prices
    return Block(
        chain_id=genesis.chain_id,
        height=state.height,
        step=step,
        parent_hash=state.tip,
        offers_root=merkle_root(offers),
        settlements_root=merkle_root(settlements),
        prices=MarketPrices(p.grid_buy, p.grid_sell, p.p2p),
        import_capacity_kw=capacity_kw[0],
        export_capacity_kw=capacity_kw[1],
        offers=tuple(offers),
        settlements=tuple(settlements),
        trades=tuple(outcome.trades),
        absent=tuple(absent),
        acks=tuple(acks),
        clearing_status=outcome.status,
        objective=outcome.objective,
    )


def seal(block: Block, key: SigningKey) -> Envelope:
    """Sign a block: what is published and written to the ledger is ``seal(...).raw``."""
    return sign(block, key)
