"""``ets verify --resolve``: clear every block again from its own offers and compare with what it records.

A resolver replays the run through the coordinator's own decision code: for each block it opens the
step, puts in the block's offers, seals a block of its own and compares the settlements, corrections,
trades and prices with the recorded ones; then it applies the recorded block and goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from chain.blocks import Block, Correction, Settlement
from chain.crypto import SigningKey
from chain.envelope import Envelope
from chain.errors import ChainError
from chain.genesis import Genesis
from chain.reading import read_offer
from chain.signatures import TrustedVerifier
from coordinator.core import CoordinatorCore
from runtime.grid import grid_series
from runtime.market_setup import market_for
from runtime.params import Params

Record = Settlement | Correction

ENERGY_TOLERANCE = 1e-6
"""kWh: solvers of other versions or machines may differ in the last digits."""
PRICE_TOLERANCE = 1e-6
"""$/kWh"""


class Resolver:
    def __init__(self, genesis: Genesis, params: Params) -> None:
        self.genesis = genesis
        self.core = CoordinatorCore(genesis, market_for(genesis, params), params.optimizer.settlement_rule)
        self.grid = grid_series(params, genesis.steps + genesis.horizon, len(genesis.members))
        self.key = SigningKey.generate()
        self.trusted = TrustedVerifier()

    def __call__(self, env: Envelope, block: Block) -> None:
        g = self.genesis
        box = self.core.open(block.step)
        for raw in block.offers:
            offer_env, offer = read_offer(raw, g, self.trusted, block.step)
            box.add(offer_env, offer)
        window = self.grid.window(block.step, g.horizon) if block.step < g.steps else None
        _, again = self.core.seal(box, window, self.key)
        self._compare(block, again)
        self.core.accept(env, block)

    def _compare(self, recorded: Block, again: Block) -> None:
        h = recorded.height
        for name, a, b in (
            ("p2p price", recorded.prices.p2p, again.prices.p2p),
            ("grid buy price", recorded.prices.grid_buy, again.prices.grid_buy),
            ("grid sell price", recorded.prices.grid_sell, again.prices.grid_sell),
        ):
            if abs(a - b) > PRICE_TOLERANCE:
                raise ChainError(h, f"re-clearing gives a {name} of {b}, the block records {a}")
        if recorded.clearing_status != again.clearing_status:
            raise ChainError(
                h, f"re-clearing ends {again.clearing_status!r}, the block records {recorded.clearing_status!r}"
            )
        if recorded.fallback != again.fallback:
            raise ChainError(h, f"re-clearing falls back {again.fallback!r}, the block records {recorded.fallback!r}")
        _same(h, "settlement", recorded.decoded_settlements(), again.decoded_settlements())
        _same(h, "correction", recorded.decoded_corrections(), again.decoded_corrections())
        mine = {(t.seller, t.buyer): t.kwh for t in again.trades}
        theirs = {(t.seller, t.buyer): t.kwh for t in recorded.trades}
        for pair in mine.keys() | theirs.keys():
            if abs(mine.get(pair, 0.0) - theirs.get(pair, 0.0)) > ENERGY_TOLERANCE:
                raise ChainError(
                    h,
                    f"re-clearing trades {mine.get(pair, 0.0)} kWh {pair[0]}->{pair[1]}, "
                    f"the block records {theirs.get(pair, 0.0)}",
                )


def _same(h: int, what: str, recorded: Sequence[Record], again: Sequence[Record]) -> None:
    if len(recorded) != len(again):
        raise ChainError(h, f"re-clearing gives {len(again)} {what}s, the block records {len(recorded)}")
    for a, b in zip(recorded, again, strict=True):
        _same_record(h, a, b)


def _same_record(h: int, a: Record, b: Record) -> None:
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and isinstance(y, float):
            if abs(x - y) > ENERGY_TOLERANCE:
                raise ChainError(h, f"re-clearing gives {f.name} {y} for {a.household}, the block records {x}")
        elif x != y:
            raise ChainError(h, f"re-clearing gives {f.name} {y!r} for {a.household}, the block records {x!r}")
