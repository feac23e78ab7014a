"""Where everything of a run lives: the run directory's layout (no heavy imports: every process uses it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from runtime.atomic import write_atomic


@dataclass(frozen=True, slots=True)
class RunLayout:
    """Where everything of a run lives."""

    root: Path

    @property
    def params(self) -> Path:
        return self.root / "params.json"

    @property
    def genesis(self) -> Path:
        return self.root / "genesis.json"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def ledgers(self) -> Path:
        return self.root / "ledgers"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def key(self, name: str) -> Path:
        return self.keys / f"{name}.key"

    def ledger(self, name: str) -> Path:
        return self.ledgers / f"{name}.ledger"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def heartbeat(self, name: str) -> Path:
        """The heartbeat file a process of ``ets run`` writes (``runtime.health``); the launcher watches it."""
        return self.root / "heartbeats" / f"{name}.json"

    @property
    def coordinator_ledger(self) -> Path:
        return self.ledger("coordinator")

    def meter(self, household: str) -> Path:
        """The household's own meter series for the run (see ``runtime.meters``)."""
        return self.root / "meters" / f"{household}.npz"

    @property
    def endpoints(self) -> Path:
        return self.root / "coordinator_endpoints.json"

    @property
    def metrics(self) -> Path:
        return self.root / "network_metrics.csv"

    def write_kind(self, kind: str) -> None:
        write_atomic(self.root / "run.json", json.dumps({"kind": kind}) + "\n")

    def kind(self) -> str:
        """How the run was made: cluster, in-process or baseline (cluster for runs without run.json). For
        people and messages only: ``ets verify`` never reads it."""
        try:
            return str(json.loads((self.root / "run.json").read_text()).get("kind", "cluster"))
        except (OSError, ValueError, AttributeError):
            return "cluster"
