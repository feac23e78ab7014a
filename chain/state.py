"""What a ledger implies: the tip and every household's storage and wallet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chain.blocks import MarketPrices
from chain.columns import SettlementTable
from chain.crypto import Hash
from chain.genesis import Genesis


@dataclass(frozen=True, slots=True)
class ChainState:
    """The state after ``height`` blocks."""

    height: int
    """Number of blocks applied (the next block's height)."""
    tip: Hash
    """Hash of the last block's payload (the chain id before the first block)."""
    last_step: int
    """Step of the last block (-1 before the first)."""
    soc: tuple[float, ...]
    """State of charge of each household's own battery, genesis order (kWh)."""
    shared_soc: tuple[float, ...]
    """Each household's share of the community battery, genesis order (kWh)."""
    wallet: tuple[float, ...]
    """Wallet per household, genesis order ($)."""


def genesis_state(genesis: Genesis) -> ChainState:
    return ChainState(
        height=0,
        tip=genesis.chain_id,
        last_step=-1,
        soc=tuple(m.battery.initial_soc_kwh for m in genesis.members),
        shared_soc=tuple(m.shared_battery.initial_soc_kwh for m in genesis.members),
        wallet=tuple(genesis.initial_wallet for _ in genesis.members),
    )


def advance_state(
    state: ChainState,
    tip: Hash,
    step: int,
    settlements: SettlementTable,
    prices: MarketPrices,
    extra_costs: Sequence[float],
) -> ChainState:
    """Storage and wallets after a step's settlements and ``extra_costs`` (corrections of earlier steps)."""
    wallet = np.array(state.wallet) - settlements.costs(prices) - np.array(extra_costs)
    return ChainState(
        height=state.height + 1,
        tip=tip,
        last_step=step,
        soc=tuple(settlements.column("soc_after").tolist()),
        shared_soc=tuple(settlements.column("shared_soc_after").tolist()),
        wallet=tuple(wallet.tolist()),
    )
