"""The coordinator: owns the grid (tariffs, transformer limits), runs the clearing, seals one block a step.

Start barrier: it publishes beacons until every household has said hello over its ROUTER (a hello is
only sent once the household's subscription has delivered a beacon), then releases everyone with the
list of gossip endpoints. Each step: announce, collect offers until every live household offered
or the deadline passed, clear, seal, append to its own ledger (fsync), publish. Acks are carried by
later blocks. Catch-up requests are answered from the ledger. Bad input is logged, counted and
dropped; a connection that keeps sending it is ignored.

Liveness: households send hellos as heartbeats; one not heard from for ``heartbeat_timeout_s`` is
not waited for, so a crashed or paused node costs the others nothing but its absence. When a
household's addresses change (it restarted) everyone is told. A restarted coordinator resumes from
its ledger: its barrier waits for the households' heartbeats, then opens the next step again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from chain.control import Beacon, Bye, End, GetBlocks, Hello, Peer, Start, StepOpen
from chain.crypto import SigningKey, Verifier
from chain.errors import ChainError, InputError, PeerError, RateError, ReplayError
from chain.genesis import Genesis, HouseholdId
from chain.ledger import Ledger
from chain.messages import HOUSEHOLD_KINDS, sign
from chain.offers import Ack, Offer
from chain.reading import read_block, read_signed
from chain.state import ChainState
from coordinator.core import CoordinatorCore, OfferBox
from coordinator.metrics import MetricsLog, StepMetrics, restore_metrics, unmeasured
from coordinator.transport import CoordinatorTransport
from runtime.budget import Budget, catch_up_answer
from runtime.curve import CurveIdentity
from runtime.drops import Drops
from runtime.grid import GridSeries, grid_series
from runtime.health import Heartbeat
from runtime.market_setup import market_for
from runtime.params import Params
from runtime.parent import launcher_pid, parent_gone

log = logging.getLogger("ets.coordinator")

BEACON_INTERVAL_S = 0.1
"""How often beacons go out at the start barrier."""
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
    secure: bool = False
    heartbeat: Path | None = None
    exit_with_parent: bool = False


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
        self.heartbeat = Heartbeat(cfg.heartbeat)
        self.ledger = Ledger.open(cfg.ledger)
        sealed: list[StepMetrics] = []
        for raw in self.ledger.records:
            self.heartbeat.beat(self.state.height)  # alive while it reads a long ledger
            env, block = read_block(raw, g, self.verifier)
            self.core.accept(env, block)
            sealed.append(unmeasured(block.step, len(block.offers), len(block.absent), len(raw)))
        if cfg.metrics_file is not None:
            restore_metrics(cfg.metrics_file, sealed)
        self.routes: dict[HouseholdId, bytes] = {}
        self.peers: dict[HouseholdId, Peer] = {}
        self.hello_ms: dict[HouseholdId, int] = {}
        self._hello_at: dict[HouseholdId, float] = {}
        """When each household's last hello was counted (monotonic s)."""
        self._moved_at: dict[HouseholdId, float] = {}
        """When each household's addresses last changed."""
        self._release_due = False
        self._released_at = -math.inf
        self.last_seen: dict[HouseholdId, float] = {}
        self.byes: set[HouseholdId] = set()
        self.drops = Drops(log, self.params.network.max_bad_frames)
        self.metrics = MetricsLog(cfg.metrics_file)
        self.stopping = False
        self._started = False
        self._beacons = 0
        self._open = b""
        """The signed announcement of the step being collected."""
        self._parent = launcher_pid()

    @property
    def state(self) -> ChainState:
        return self.core.state

    @property
    def rejected(self) -> int:
        return self.drops.total

    def live(self) -> set[HouseholdId]:
        """Households heard from within the heartbeat timeout that have not said goodbye."""
        since = time.monotonic() - self.params.network.heartbeat_timeout_s
        return {h for h, t in self.last_seen.items() if t >= since and h not in self.byes}

    # -- incoming messages --------------------------------------------------------------------------

    def handle(self, transport: CoordinatorTransport, identity: bytes, raw: bytes, box: OfferBox | None) -> None:
        """One frame from a household; anything invalid is counted and dropped."""
        if self.drops.ignoring(identity):
            return
        try:
            env, message = read_signed(raw, self.genesis, self.verifier, HOUSEHOLD_KINDS)
            household = getattr(message, "household", None)
            if isinstance(message, Hello):
                self.on_hello(transport, identity, message)
                if box is not None and message.household not in box.offers:
                    # it has not offered: it (re)joined after the step was announced, or its subscription
                    # missed the announcement (dialling again after a coordinator's restart); at most once
                    # a counted hello, so at most twice a heartbeat interval
                    transport.send_to(identity, self._open)
            elif isinstance(message, Offer):
                if box is None:
                    raise ReplayError(f"offer from {message.household!r} outside an open step")
                box.add(env, message)
                self.routes[message.household] = identity
            elif isinstance(message, Ack):
                self.core.acks.add(env, message, self.core.history)
            elif isinstance(message, GetBlocks):
                self.routes[message.household] = identity
                for record in catch_up_answer(self.ledger.records, message.from_height):
                    transport.send_to(identity, record)
            elif isinstance(message, Bye):
                self.byes.add(message.household)
            if household is not None:
                self.last_seen[household] = time.monotonic()
        except PeerError as exc:
            self.drops.drop("router", exc, peer=identity)

    def on_hello(self, transport: CoordinatorTransport, identity: bytes, hello: Hello) -> bool:
        """Record a household's heartbeat; note its new addresses (and return True) when they changed.

        Rate-limited, whoever holds the household's key: its hellos count at most once every half
        heartbeat interval, and its addresses change at most once every two intervals (``RateError``,
        counted and dropped, never held against the connection); the peer list goes out at most once an
        interval (``release``).
        """
        h = hello.household
        interval = self.params.network.heartbeat_interval_s
        now = time.monotonic()
        if now - self._hello_at.get(h, -math.inf) < interval / 2:
            raise RateError(f"hello from {h!r} sooner than half a heartbeat interval after the last")
        if hello.time_ms <= self.hello_ms.get(h, -1):
            raise ReplayError(f"hello from {h!r} is not newer than the last one")
        peer = Peer(h, hello.gossip_endpoint, hello.sync_endpoint)
        moved = self.peers.get(h) != peer
        if moved and h in self.peers and now - self._moved_at.get(h, -math.inf) < 2 * interval:
            raise RateError(f"hello from {h!r} moves it again sooner than two heartbeat intervals")
        self._hello_at[h] = now
        self.hello_ms[h] = hello.time_ms
        self.routes[h] = identity
        if not moved:
            return False
        self.peers[h] = peer
        self._moved_at[h] = now
        self._release_due = self._started
        self.release(transport)
        return True

    def release(self, transport: CoordinatorTransport) -> None:
        """Publish the peer list if a household moved since the last release and an interval has passed."""
        now = time.monotonic()
        if self._release_due and now - self._released_at >= self.params.network.heartbeat_interval_s:
            self._release_due = False
            self._released_at = now
            transport.publish(self._start_message())

    def _start_message(self) -> bytes:
        peers = tuple(self.peers[h] for h in self.genesis.household_ids if h in self.peers)
        return sign(Start(self.genesis.chain_id, peers), self.key).raw

    def _beacon(self, transport: CoordinatorTransport) -> None:
        transport.publish(sign(Beacon(self.genesis.chain_id, self._beacons), self.key).raw)
        self._beacons += 1

    # -- phases -------------------------------------------------------------------------------------

    def barrier(self, transport: CoordinatorTransport) -> bool:
        """Wait until the households are present; False if the start timeout passed first.

        A fresh run starts when every household said hello, or ``start_grace_s`` after the quorum
        (``start_quorum``) did. A resumed run (blocks in the ledger) waits at most ``start_grace_s``
        after the first household's hello for the others' (running households send one every
        heartbeat; a whole cluster started again needs its start-up time), then the absent ones act
        alone: it never opens a step with no household at all.
        """
        net = self.params.network
        ids = set(self.genesis.household_ids)
        resuming = self.state.height > 0
        quorum = 1 if resuming else math.ceil(net.start_quorum * len(ids))
        begun = time.monotonic()
        deadline = begun + net.start_timeout_s
        quorum_at: float | None = None
        while not self.stopping and time.monotonic() < deadline:
            self.heartbeat.beat(self.state.height)
            self._beacon(transport)
            until = time.monotonic() + BEACON_INTERVAL_S
            while time.monotonic() < until:
                for identity, raw in transport.receive(20):
                    self.handle(transport, identity, raw, None)
                self.release(transport)
            present = ids & set(self.routes)
            if present == ids:
                break
            if quorum_at is None and len(present) >= max(quorum, 1):
                quorum_at = time.monotonic()
            if quorum_at is not None and time.monotonic() - quorum_at >= net.start_grace_s:
                break
            if self._check_parent():
                return False
        present = ids & set(self.routes)
        if len(present) < max(quorum, 1) or self.stopping:
            log.error("start barrier: no hello from %s", ", ".join(sorted(ids - present)))
            return False
        self._started = True
        self._release_due = False
        self._released_at = time.monotonic()
        transport.publish(self._start_message())
        start = self._start_message()
        for identity in self.routes.values():
            transport.send_to(identity, start)
        missing = ids - present
        where = "resuming" if resuming else "starting"
        log.info(
            "%d of %d households present; %s at step %d%s",
            len(present),
            len(ids),
            where,
            self.state.last_step + 1,
            f" without {', '.join(sorted(missing))}" if missing else "",
        )
        return True

    def run_step(self, transport: CoordinatorTransport, step: int) -> None:
        """Announce, collect, clear (or close), seal, store, publish; record the step's metrics."""
        t0 = time.monotonic()
        in0, out0, rejected0 = transport.bytes_in, transport.bytes_out, self.rejected
        box = self.collect_offers(transport, step)
        if self.stopping:
            # stopped by a signal or the launcher's end: households that were merely stopping too must not
            # be sealed absent; the ledger ends at the last complete block and the step opens again on resume
            log.info("step %d abandoned unsealed: stopping", step)
            return
        g = self.genesis
        window = self.grid.window(step, g.horizon) if step < g.steps else None
        env, block = self.core.seal(box, window, self.key)
        self.core.accept(env, block)
        self.ledger.append(env.raw)
        transport.publish(env.raw)
        if block.absent:
            log.warning("step %d: absent %s", step, ", ".join(block.absent))
        if block.fallback:
            log.warning("step %d: the clearing fell back to the baseline policy: %s", step, block.fallback)
        outcome = self.core.last_outcome
        self.metrics.add(
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
        """Open ``step`` and gather offers until every live household offered or the deadline passed.

        Waiting frames are read first, so heartbeats that queued up during the last solve count.
        """
        g = self.genesis
        net = self.params.network
        for identity, raw in transport.receive(0):
            self.handle(transport, identity, raw, None)
        box = self.core.open(step)
        timeout = net.offer_timeout_s
        self._open = sign(StepOpen(g.chain_id, step, self.state.height, round(timeout * 1000)), self.key).raw
        transport.publish(self._open)
        now = time.monotonic()
        deadline = now + timeout
        next_beacon = now + net.heartbeat_interval_s
        while not box.complete() and not self._check_parent():
            self.heartbeat.beat(self.state.height)
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                break
            live = self.live()
            if live and live <= set(box.offers):
                break
            if now >= next_beacon:
                self._beacon(transport)
                next_beacon = now + net.heartbeat_interval_s
            for identity, raw in transport.receive(min(50, max(1, int(left * 1000)))):
                self.handle(transport, identity, raw, box)
            self.release(transport)
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
            self.release(transport)
        if not ids <= self.byes:
            log.warning("no goodbye from %s", ", ".join(sorted(ids - self.byes)))

    def _check_parent(self) -> bool:
        if self.config.exit_with_parent and not self.stopping and parent_gone(self._parent):
            log.error("the launching process is gone; leaving")
            self.stopping = True
        return self.stopping

    def run(self) -> int:
        cfg = self.config
        curve = None
        if cfg.secure:
            curve = CurveIdentity.of(self.key, self.genesis.keys)
            log.info("CurveZMQ on; %d genesis keys allowed", len(curve.allowed))
        transport = CoordinatorTransport(cfg.router_bind, cfg.pub_bind, Budget.of(self.genesis), curve)
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
            self.metrics.close()
            transport.close()
            self.ledger.close()

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
