"""Helpers for the fault tests: a chaos run of real processes, and what its ledgers say happened."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from chain.blocks import Block
from chain.crypto import Verifier
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.reading import read_block
from ets.run.setup import RunLayout
from tests.conftest import child_pids, cli, only_run_dir, write_params

FAULT_NETWORK = {"offer_timeout_s": 10.0, "heartbeat_timeout_s": 3.0, "end_timeout_s": 20.0}


@dataclass(frozen=True)
class ChaosRun:
    run_dir: Path

    @property
    def actions(self) -> str:
        """What the chaos driver did, one line per action."""
        return self.layout.log("chaos").read_text()

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)

    def blocks(self) -> list[Block]:
        genesis = Genesis.load(self.layout.genesis)
        verifier = Verifier()
        return [read_block(raw, genesis, verifier)[1] for raw in read_records(self.layout.coordinator_ledger)]

    def absent_steps(self, household: str) -> list[int]:
        return [b.step for b in self.blocks() if household in b.absent]

    def up_again_at(self, household: str) -> datetime:
        """When the household's last start was listening on the network (from its log)."""
        times = [_stamp(line) for line in self.layout.log(household).read_text().splitlines() if "listening:" in line]
        assert len(times) >= 2, f"{household} was not started again"
        return times[-1]

    def absent_after(self, household: str, since: datetime) -> list[int]:
        """Steps the coordinator recorded the household absent in, after ``since`` (from its log)."""
        pattern = re.compile(rf"step (\d+): absent .*\b{household}\b")
        out = []
        for line in self.layout.log("coordinator").read_text().splitlines():
            m = pattern.search(line)
            if m is not None and _stamp(line) > since:
                out.append(int(m.group(1)))
        return out

    def assert_ledgers_identical(self) -> None:
        reference = read_records(self.layout.coordinator_ledger)
        genesis = Genesis.load(self.layout.genesis)
        assert len(reference) == genesis.steps + 1
        for hid in genesis.household_ids:
            records = read_records(self.layout.ledger(hid))
            assert records == reference, f"{hid}: {len(records)} blocks, the coordinator {len(reference)}"

    def assert_verifies(self) -> None:
        result = cli("verify", str(self.run_dir))
        assert result.exit_code == 0, result.output


def _stamp(line: str) -> datetime:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def chaos_run(
    tmp_path: Path,
    plan: str,
    *,
    households: int = 10,
    steps: int = 30,
    network: dict[str, Any] | None = None,
    extra: tuple[str, ...] = (),
) -> ChaosRun:
    """``ets run --chaos plan`` on real processes; asserts it succeeded and left nothing running."""
    params = write_params(
        tmp_path / "params.json",
        {
            "simulation": {"steps": steps},
            "household": {"max_households": households},
            "network": {**FAULT_NETWORK, **(network or {})},
        },
    )
    before = set(child_pids())
    result = cli(
        "run", "--params", str(params), "--results", str(tmp_path / "results"), "--quiet", "--chaos", plan, *extra
    )
    assert result.exit_code == 0, result.output
    assert set(child_pids()) - before == set(), "the launcher left processes running"
    return ChaosRun(only_run_dir(tmp_path / "results"))
