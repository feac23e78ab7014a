"""The in-process engine: the same offers, clearing, blocks and ledger as the distributed run, in one
process and without sockets. Households sign with their own keys and the coordinator seals with its key,
and acknowledge each block, so the ledger it writes verifies like a cluster's; for the same inputs the
blocks are the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chain.blocks import Block
from chain.crypto import SigningKey
from chain.genesis import Genesis
from chain.ledger import Ledger
from chain.messages import sign
from chain.offers import Ack
from coordinator.core import CoordinatorCore
from ets.run.layout import RunLayout
from node.offer import build_offers
from runtime.data import run_data
from runtime.grid import GridSeries
from runtime.market_setup import market_for
from runtime.params import Params


def simulate(
    run_dir: Path,
    genesis: Genesis,
    params: Params,
    grid: GridSeries,
    on_step: Callable[[int], None] | None = None,
    on_block: Callable[[Block], None] | None = None,
) -> int:
    """Run every step and the closing block; write the coordinator's ledger; return its height. The blocks
    are not kept: what the results need is read back from the ledger (``ets.run.workflow.digest_of_ledger``).

    ``on_step`` is called after each block with its step (the closing block's step is ``genesis.steps``),
    ``on_block`` with the block itself (for the live view)."""
    layout = RunLayout(run_dir)
    keys = [SigningKey.load(layout.key(h)) for h in genesis.household_ids]
    coordinator_key = SigningKey.load(layout.key("coordinator"))
    data = run_data(genesis, params)
    offset = genesis.start_step - data.first_step
    core = CoordinatorCore(genesis, market_for(genesis, params), params.optimizer.settlement_rule)
    kind = params.forecaster.kind
    series = {i: (data.production[i], data.consumption[i]) for i in range(len(keys))}
    with Ledger.open(layout.coordinator_ledger) as ledger:
        for step in range(genesis.steps + 1):
            box = core.open(step)
            offers = build_offers(genesis, core.state, core.history, series, step, kind, offset)
            box.add_all([(sign(offer, key), offer) for offer, key in zip(offers, keys, strict=True)])
            window = grid.window(step, genesis.horizon) if step < genesis.steps else None
            env, block = core.seal(box, window, coordinator_key)
            core.accept(env, block)
            ledger.append(env.raw)
            for hid, key in zip(genesis.household_ids, keys, strict=True):
                ack = Ack(genesis.chain_id, block.step, hid, block.height, core.state.tip)
                core.acks.add(sign(ack, key), ack, core.history)
            if on_step is not None:
                on_step(step)
            if on_block is not None:
                on_block(block)
        return ledger.height
