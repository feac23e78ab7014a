"""The coordinator: owns the grid (tariffs, transformer limits), runs the clearing, seals one block a step.

Start barrier: it publishes beacons until every household has said hello over its ROUTER (a hello is
only sent once the household's subscription has delivered a beacon), then releases everyone with the
list of gossip endpoints. Each step: announce, collect offers until all arrived or the deadline
passed, clear, seal, append to its own ledger (fsync), publish. Acks are carried by later blocks.
Catch-up requests are answered from the ledger. Bad input is logged, counted and dropped.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from chain.control import Beacon, Bye, End, GetBlocks, Hello, Start, StepOpen
from chain.crypto import SigningKey, Verifier
from chain.errors import ChainError, InputError, PeerError
from chain.genesis import Genesis, HouseholdId
from chain.ledger import Ledger
from chain.messages import HOUSEHOLD_KINDS, sign
from chain.offers import Ack, Offer
from chain.reading import read_block, read_signed
from chain.state import ChainState
from coordinator.core import CoordinatorCore, OfferBox
from coordinator.transport import CoordinatorTransport
from ets.grid import GridSeries, grid_series
from ets.health import Heartbeat
from ets.market_setup import market_for
from ets.params import Params

log = logging.getLogger("ets.coordinator")

BEACON_INTERVAL_S = 0.1
END_REPEAT_S = 0.25


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    genesis: Path
    key: Path
    params: Path
    ledger: Path
    router_bind: str
    pub_bind: str
    endpoints_file: Path | None = None
    metrics_file: Path | None = None
    heartbeat: Path | None = None
    exit_with_parent: bool = False


@dataclass
class StepMetrics:
    step: int
    latency_ms: float
    solve_ms: float
    offers: int
    absent: int
    bytes_in: int
    bytes_out: int
    block_bytes: int
    rejected: int


class Coordinator:
    def __init__(self, config: CoordinatorConfig) -> None:
        self.config = cfg = config
        self.genesis = Genesis.load(cfg.genesis)
        self.params = Params.load(cfg.params)
        if self.params.digest() != self.genesis.params_hash:
            raise InputError(f"{cfg.params}: parameters differ from the ones genesis was made with")
        self.key = SigningKey.load(cfg.key)
        if self.key.public != self.genesis.coordinator_key:
            raise InputError(f"{cfg.key}: not the coordinator key genesis names")
        g = self.genesis
        self.grid: GridSeries = grid_series(self.params, g.steps + g.horizon, len(g.members))
        self.core = CoordinatorCore(g, market_for(g, self.params), self.params.optimizer.settlement_rule)
        self.verifier = Verifier()
        self.ledger = Ledger.open(cfg.ledger)
        for raw in self.ledger.records:
            env, block = read_block(raw, g, self.verifier)
            self.core.accept(env, block)
        self.routes: dict[HouseholdId, bytes] = {}
        self.gossip: dict[HouseholdId, str] = {}
        self.byes: set[HouseholdId] = set()
        self.rejected = 0
        self.metrics: list[StepMetrics] = []
        self.stopping = False
        self._started = False
        self._parent = os.getppid()
        self.heartbeat = Heartbeat(cfg.heartbeat)

    @property
    def state(self) -> ChainState:
        return self.core.state

    # -- incoming messages --------------------------------------------------------------------------

    def handle(self, transport: CoordinatorTransport, identity: bytes, raw: bytes, box: OfferBox | None) -> None:
        """One frame from a household; anything invalid is counted and dropped."""
        try:
            env, message = read_signed(raw, self.genesis, self.verifier, HOUSEHOLD_KINDS)
            if isinstance(message, Hello):
                self.routes[message.household] = identity
                self.gossip[message.household] = message.gossip_endpoint
                if self._started:
                    transport.send_to(identity, self._start_message())
            elif isinstance(message, Offer):
                if box is None:
                    raise PeerError(f"offer from {message.household!r} outside an open step")
                box.add(env, message)
                self.routes[message.household] = identity
            elif isinstance(message, Ack):
                self.core.acks.add(env, message, self.core.history)
            elif isinstance(message, GetBlocks):
                self.routes[message.household] = identity
                for record in self.ledger.records[message.from_height : message.from_height + 256]:
                    transport.send_to(identity, record)
            elif isinstance(message, Bye):
                self.byes.add(message.household)
        except PeerError as exc:
            self.rejected += 1
            log.warning("dropped message: %s", exc)

    def _start_message(self) -> bytes:
        peers = tuple((h, self.gossip[h]) for h in self.genesis.household_ids if h in self.gossip)
        return sign(Start(self.genesis.chain_id, peers), self.key).raw

    # -- phases -------------------------------------------------------------------------------------

    def barrier(self, transport: CoordinatorTransport) -> bool:
        """Wait until every household said hello; False if the start timeout passed first."""
        deadline = time.monotonic() + self.params.network.start_timeout_s
        seq = 0
        ids = set(self.genesis.household_ids)
        while not self.stopping and time.monotonic() < deadline:
            self.heartbeat.beat(self.state.height)
            transport.publish(sign(Beacon(self.genesis.chain_id, seq), self.key).raw)
            seq += 1
            until = time.monotonic() + BEACON_INTERVAL_S
            while time.monotonic() < until:
                for identity, raw in transport.receive(20):
                    self.handle(transport, identity, raw, None)
            if ids <= set(self.routes):
                break
            if self._check_parent():
                return False
        missing = ids - set(self.routes)
        if missing:
            log.error("start barrier: no hello from %s", ", ".join(sorted(missing)))
            return False
        self._started = True
        start = self._start_message()
        for identity in self.routes.values():
            transport.send_to(identity, start)
        log.info("all %d households present; starting at step %d", len(ids), self.state.last_step + 1)
        return True

    def run_step(self, transport: CoordinatorTransport, step: int) -> None:
        """Announce, collect, clear (or close), seal, store, publish; record the step's metrics."""
        t0 = time.monotonic()
        in0, out0, rejected0 = transport.bytes_in, transport.bytes_out, self.rejected
        box = self.collect_offers(transport, step)
        g = self.genesis
        window = self.grid.window(step, g.horizon) if step < g.steps else None
        env, block = self.core.seal(box, window, self.key)
        self.core.accept(env, block)
        self.ledger.append(env.raw)
        transport.publish(env.raw)
        if block.absent:
            log.warning("step %d: absent %s", step, ", ".join(block.absent))
        outcome = self.core.last_outcome
        self.metrics.append(
            StepMetrics(
                step,
                (time.monotonic() - t0) * 1000,
                outcome.solve_seconds * 1000 if outcome else 0.0,
                len(box.offers),
                len(block.absent),
                transport.bytes_in - in0,
                transport.bytes_out - out0,
                len(env.raw),
                self.rejected - rejected0,
            )
        )

    def collect_offers(self, transport: CoordinatorTransport, step: int) -> OfferBox:
        """Open ``step`` and gather offers until every household offered or the deadline passed."""
        g = self.genesis
        box = self.core.open(step)
        timeout = self.params.network.offer_timeout_s
        transport.publish(sign(StepOpen(g.chain_id, step, self.state.height, round(timeout * 1000)), self.key).raw)
        deadline = time.monotonic() + timeout
        while not box.complete() and not self.stopping:
            self.heartbeat.beat(self.state.height)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for identity, raw in transport.receive(min(50, max(1, int(left * 1000)))):
                self.handle(transport, identity, raw, box)
        return box

    def finish(self, transport: CoordinatorTransport) -> None:
        """Announce the end until every household has left or the end timeout passed."""
        end = sign(End(self.genesis.chain_id, self.state.height), self.key).raw
        deadline = time.monotonic() + self.params.network.end_timeout_s
        ids = set(self.genesis.household_ids)
        next_end = 0.0
        while not self.stopping and not ids <= self.byes and time.monotonic() < deadline:
            self.heartbeat.beat(self.state.height)
            if time.monotonic() >= next_end:
                transport.publish(end)
                next_end = time.monotonic() + END_REPEAT_S
            for identity, raw in transport.receive(50):
                self.handle(transport, identity, raw, None)
        if not ids <= self.byes:
            log.warning("no goodbye from %s", ", ".join(sorted(ids - self.byes)))

    def _check_parent(self) -> bool:
        if self.config.exit_with_parent and os.getppid() != self._parent:
            log.error("the launching process is gone; leaving")
            self.stopping = True
        return self.stopping

    def run(self) -> int:
        cfg = self.config
        transport = CoordinatorTransport(cfg.router_bind, cfg.pub_bind)
        try:
            if cfg.endpoints_file is not None:
                _write_atomic(
                    cfg.endpoints_file,
                    json.dumps(
                        {"router": transport.router_endpoint, "pub": transport.pub_endpoint, "pid": os.getpid()}
                    ),
                )
            if not self.barrier(transport):
                return 2
            g = self.genesis
            for step in range(self.state.last_step + 1, g.steps + 1):
                if self._check_parent():
                    break
                self.run_step(transport, step)
                if step % 24 == 0 or step + 1 == g.steps:
                    log.info("sealed block %d for step %d", self.state.height - 1, step)
            if self.stopping:
                log.info("stopped by signal at height %d", self.state.height)
                return 130
            self.finish(transport)
            log.info("run complete: %d blocks, %d messages dropped", self.state.height, self.rejected)
            return 0
        except ChainError as exc:
            log.error("own block failed validation: %s", exc)
            return 1
        finally:
            self._write_metrics()
            transport.close()
            self.ledger.close()

    def _write_metrics(self) -> None:
        path = self.config.metrics_file
        if path is None or not self.metrics:
            return
        names = list(StepMetrics.__dataclass_fields__)
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(names)
            for m in self.metrics:
                writer.writerow([getattr(m, n) for n in names])

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def run_coordinator(config: CoordinatorConfig) -> int:
    coordinator = Coordinator(config)
    signal.signal(signal.SIGTERM, coordinator.stop)
    signal.signal(signal.SIGINT, coordinator.stop)
    return coordinator.run()
