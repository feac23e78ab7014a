"""A step of the in-process engine done for every household at once: offers built together, offers added
together, and the coordinator's check of its own block from what it built it from. Each gives what the
household-by-household way gives, and a block that breaks a rule is still caught."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from chain.blocks import Correction
from chain.crypto import Verifier
from chain.envelope import Envelope
from chain.errors import ReplayError
from chain.genesis import Genesis
from chain.messages import sign
from chain.offers import Offer
from chain.reading import read_block, read_offer
from chain.state import genesis_state
from chain.validation import apply_block, validate_block
from coordinator.core import CoordinatorCore
from ets.run.layout import RunLayout
from ets.run.workflow import load_prepared
from node.offer import build_offer, build_offers
from optimizer.market import Market, StepInputs, StepOutcome
from tests.conftest import cli, only_run_dir, write_params
from tests.test_chain_rules import CONS, COORD, GENESIS, KEYS, MARKET, PROD, WINDOW


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batched")
    params = write_params(root / "p.json", {"simulation": {"steps": 24}, "household": {"max_households": 4}})
    assert cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet").exit_code == 0
    return only_run_dir(root / "r")


def test_offers_built_together_are_the_ledgers_and_each_households_own(run: Path) -> None:
    from chain.history import History
    from chain.ledger import read_records

    prepared = load_prepared(run)
    genesis, data = prepared.genesis, prepared.data
    offset, kind = genesis.start_step - data.first_step, prepared.params.forecaster.kind
    series = {i: (data.production[i], data.consumption[i]) for i in range(len(genesis.members))}
    state, history, verifier = genesis_state(genesis), History(genesis), Verifier()
    read = 0
    for raw in read_records(RunLayout(run).coordinator_ledger):
        env, block = read_block(raw, genesis, verifier)
        if block.height > 0:
            in_block = [read_offer(o, genesis, None, block.step)[1] for o in block.offers]
            together = build_offers(genesis, state, history, series, block.step, kind, offset)
            alone = [build_offer(genesis, state, history, i, block.step, s, kind, offset) for i, s in series.items()]
            assert [o.encode() for o in together] == [o.encode() for o in in_block] == [o.encode() for o in alone]
            read += sum(len(o.meter) for o in together)
        validated = validate_block(state, history, env, block, genesis, None, verify_offers=False)
        state = apply_block(state, history, env, block, validated)
    assert read >= 24 * 4


def _offers() -> list[tuple[Envelope, Offer]]:
    out = []
    for i, m in enumerate(GENESIS.members):
        offer = Offer(GENESIS.chain_id, 0, m.household, 1.0, 0.5, np.array(PROD[i]), np.array(CONS[i]))
        out.append((sign(offer, KEYS[i]), offer))
    return out


def test_offers_added_together_are_all_kept_or_none_with_the_first_ones_error() -> None:
    core = CoordinatorCore(GENESIS, MARKET, "market")
    good = _offers()
    box = core.open(0)
    box.add_all(good)
    assert [o for _, o in box.in_order()] == [o for _, o in good]

    _, offer = good[1]
    wrong = dataclasses.replace(offer, soc_kwh=offer.soc_kwh + 0.5)
    batch = [good[0], (sign(wrong, KEYS[1]), wrong), good[2]]
    box = core.open(0)
    with pytest.raises(ReplayError, match=r"h1.*states charges") as together:
        box.add_all(batch)
    assert box.offers == {}
    one_by_one = core.open(0)
    with pytest.raises(ReplayError) as alone:
        for e, o in batch:
            one_by_one.add(e, o)
    assert str(together.value) == str(alone.value)

    box = core.open(0)
    with pytest.raises(ReplayError, match="received twice"):
        box.add_all([good[0], good[0]])
    assert box.offers == {}


class _Overcharging(Market):
    """A market whose clearings charge the first household's battery beyond its power (a clearing bug)."""

    def clear(self, inputs: StepInputs) -> StepOutcome:
        outcome = super().clear(inputs)
        first = outcome.settlements[0]
        bad = dataclasses.replace(first, charge=first.charge + 10.0, soc_after=first.soc_after + 9.5)
        return dataclasses.replace(outcome, settlements=[bad, *outcome.settlements[1:]])


def test_a_cleared_step_that_breaks_a_rule_falls_back_and_the_block_validates() -> None:
    from chain.history import History

    core = CoordinatorCore(GENESIS, _Overcharging(MARKET.ids, MARKET.storage, MARKET.config), "market")
    box = core.open(0)
    box.add_all(_offers())
    env, block = core.seal(box, WINDOW, COORD)
    assert core.last_outcome is not None
    assert block.fallback.startswith("the cleared step breaks a rule")
    assert core.last_outcome.fallback == block.fallback
    validate_block(genesis_state(GENESIS), History(GENESIS), env, block, GENESIS, Verifier())


CHANGES: dict[str, Callable[[Correction], dict[str, float]]] = {
    "as settled: battery: charge/discharge exceeds": lambda c: {"charge": c.charge + 50, "grid_buy": c.grid_buy + 50},
    "as settled: energy balance is off": lambda c: {"grid_buy": c.grid_buy + 3.0},
    "which is not open": lambda c: {"step": 10_000},
}


@pytest.mark.parametrize("said", list(CHANGES))
def test_a_correction_that_breaks_physics_is_refused_naming_it(run: Path, said: str) -> None:
    """The corrections' physics, checked for all of a block's corrections at once, still names the
    correction that breaks it (a block re-signed with the coordinator's key, so only the rule can refuse it)."""
    from chain.crypto import SigningKey
    from chain.errors import ChainError
    from chain.history import History
    from chain.ledger import read_records
    from chain.merkle import merkle_root

    genesis = Genesis.load(run / "genesis.json")
    key = SigningKey.load(RunLayout(run).key("coordinator"))
    state, history, verifier = genesis_state(genesis), History(genesis), Verifier()
    for raw in read_records(RunLayout(run).coordinator_ledger):
        env, block = read_block(raw, genesis, verifier)
        if len(block.corrections) >= 3:
            corrections = block.decoded_corrections()
            bad = dataclasses.replace(corrections[1], **CHANGES[said](corrections[1]))  # type: ignore[arg-type]
            encoded = (block.corrections[0], bad.encode(), *block.corrections[2:])
            tampered = dataclasses.replace(
                block, corrections=encoded, settlements_root=merkle_root([*block.settlements, *encoded])
            )
            forged = sign(tampered, key)
            with pytest.raises(ChainError, match=said) as caught:
                validate_block(state, history, forged, tampered, genesis, None, verify_offers=False)
            assert bad.household in str(caught.value) or "not open" in said
            return
        state = apply_block(
            state, history, env, block, validate_block(state, history, env, block, genesis, None, verify_offers=False)
        )
    raise AssertionError("no block with three corrections")
