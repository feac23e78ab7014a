"""A household node: one process, one key, one ledger.

Each step it signs an offer from its own meter data and forecast; when the block arrives it validates
it (coordinator signature, parent hash, its own offer byte for byte, physics of every settlement,
totals), appends it to its ledger with fsync, acknowledges it and relays it to its peers. A node that
falls behind asks the coordinator for the blocks it missed. Bad input from the network is logged,
counted and dropped.

Liveness and recovery: once it has heard the coordinator, a node sends a hello every heartbeat interval
(its addresses and height), so a restarted coordinator finds it again and a silent one is not waited
for. A restarted node rebuilds its state from its own ledger (a torn tail is cut off and kept aside)
and catches up from the coordinator and from a peer's sync server, whichever answers; blocks relayed
by peers are checked like any other, so a node cut off from the coordinator alone still gets them.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from chain.blocks import Block
from chain.control import Bye, End, GetBlocks, Hello, Peer, Start, StepOpen
from chain.crypto import SIGNATURE_BYTES, SigningKey, Verifier
from chain.envelope import Envelope
from chain.errors import ChainError, InputError, PeerError, ProtocolError
from chain.genesis import Genesis
from chain.history import History
from chain.ledger import Ledger
from chain.messages import COORDINATOR_KINDS, sign
from chain.offers import Ack
from chain.reading import read_block, read_signed
from chain.state import genesis_state
from chain.validation import apply_block, validate_block
from node.offer import build_offer
from node.state import StepMachine
from node.transport import NodeTransport, Source
from runtime.budget import Budget, catch_up_answer
from runtime.curve import CurveIdentity
from runtime.drops import Drops
from runtime.health import Heartbeat
from runtime.meters import MeterSeries
from runtime.params import Params
from runtime.parent import launcher_pid, parent_gone

log = logging.getLogger("ets.node")

CATCHUP_INTERVAL_S = 0.5
MAX_BUFFERED_BLOCKS = 4096
REMEMBERED_BLOCKS = 64
"""Blocks whose copies (from gossip, from a second catch-up answer) are recognised without decoding."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    household: str
    genesis: Path
    key: Path
    params: Path
    data: Path
    """The community's data file, read only when ``meter`` does not exist."""
    ledger: Path
    coordinator_router: str
    coordinator_pub: str
    gossip_bind: str
    sync_bind: str = "tcp://127.0.0.1:*"
    meter: Path | None = None
    """This household's meter series for the run (``runtime.meters``), written at run setup."""
    secure: bool = False
    gossip_advertise: str | None = None
    """The gossip endpoint peers are told (default: the one bound); needed where the bind is a wildcard."""
    sync_advertise: str | None = None
    """The catch-up endpoint peers are told (default: the one bound)."""
    heartbeat: Path | None = None
    """A file rewritten every few seconds while the node runs (for container health checks)."""
    exit_with_parent: bool = False


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.genesis = Genesis.load(config.genesis)
        self.params = Params.load(config.params)
        if self.params.digest() != self.genesis.params_hash:
            raise InputError(f"{config.params}: parameters differ from the ones genesis was made with")
        self.key = SigningKey.load(config.key)
        hid = config.household
        if hid not in self.genesis.household_ids:
            raise InputError(f"household {hid!r} is not in {config.genesis}")
        if self.genesis.member(hid).public_key != self.key.public:
            raise InputError(f"{config.key}: not the key genesis names for {hid!r}")
        self.index = self.genesis.household_ids.index(hid)
        g = self.genesis
        meter = _meter_series(config, g, self.params)
        self.series = (meter.production_kwh, meter.consumption_kwh)
        self.offset = g.start_step - meter.first_step
        self.verifier = Verifier()
        self.ledger = Ledger.open(config.ledger)
        self.state = genesis_state(g)
        self.history = History(g)
        self.sent_offers: dict[int, bytes] = {}
        self.heartbeat = Heartbeat(config.heartbeat)
        for raw in self.ledger.records:
            self.heartbeat.beat(self.state.height)  # alive while it reads a long ledger
            self._apply(*read_block(raw, self.genesis, self.verifier), store=False)
        if self.ledger.records:
            log.info("resumed from the ledger at height %d", self.state.height)
        self.machine = StepMachine(step=self.state.last_step)
        self.buffered: dict[int, tuple[Envelope, Block]] = {}
        self.final_height: int | None = None
        self.pending_open: StepOpen | None = None
        self.drops = Drops(log, self.params.network.max_bad_frames)
        self.stopping = False
        self._last_catchup = 0.0
        self._parent = launcher_pid()
        self.stored: dict[bytes, None] = {}
        """Signatures of the last blocks stored, oldest first."""

    @property
    def rejected(self) -> int:
        return self.drops.total

    def _remember(self, raw: bytes) -> None:
        """Note a stored block by its signature (the envelope's last bytes), so copies are skipped unread."""
        signature = raw[-SIGNATURE_BYTES:]
        self.stored[signature] = None
        if len(self.stored) > REMEMBERED_BLOCKS:
            del self.stored[next(iter(self.stored))]

    # -- validation and storage ---------------------------------------------------------------------

    def _apply(self, env: Envelope, block: Block, *, store: bool) -> None:
        validated = validate_block(self.state, self.history, env, block, self.genesis, None, verify_offers=False)
        sent = self.sent_offers.get(block.step)
        if store and sent is not None and self.config.household not in block.absent and sent not in block.offers:
            raise ChainError(block.height, "our offer is not in the block byte for byte")
        if store:
            self.machine.cleared(block.step)
            self.ledger.append(env.raw)
        self.state = apply_block(self.state, self.history, env, block, validated)

    def on_block(self, env: Envelope, block: Block, transport: NodeTransport) -> None:
        if block.height < self.state.height:
            return
        if block.height > self.state.height:
            if len(self.buffered) < MAX_BUFFERED_BLOCKS:
                self.buffered[block.height] = (env, block)
            self._catch_up(transport)
            return
        self._store(env, block, transport)
        while self.state.height in self.buffered:
            self._store(*self.buffered.pop(self.state.height), transport)
        self.buffered = {h: b for h, b in self.buffered.items() if h > self.state.height}
        if self.pending_open is not None and self.pending_open.height == self.state.height:
            opened, self.pending_open = self.pending_open, None
            self.on_step(opened, transport)

    def _store(self, env: Envelope, block: Block, transport: NodeTransport) -> None:
        try:
            self._apply(env, block, store=True)
        except (ChainError, ProtocolError) as exc:
            self.drops.drop("block", exc)
            return
        self.machine.settled(block.step)
        self.sent_offers.pop(block.step, None)
        self._remember(env.raw)
        ack = Ack(self.genesis.chain_id, block.step, self.config.household, block.height, self.state.tip)
        transport.send(sign(ack, self.key).raw)
        transport.relay(env.raw)
        if block.step % 24 == 0 or block.height + 1 == self.genesis.steps:
            log.info("stored block %d (step %d), soc %.3f kWh", block.height, block.step, self.soc)

    @property
    def soc(self) -> float:
        return self.state.soc[self.index]

    # -- protocol events ----------------------------------------------------------------------------

    def on_step(self, opened: StepOpen, transport: NodeTransport) -> None:
        if opened.height > self.state.height:
            self.pending_open = opened
            self._catch_up(transport)
            return
        if opened.height < self.state.height:
            return
        sent = self.sent_offers.get(opened.step)
        if sent is not None:
            # the step was opened again (a restarted coordinator): the same bytes, so it is idempotent
            transport.send(sent)
            return
        try:
            self.machine.open(opened.step)
        except ProtocolError as exc:
            log.warning("not offering: %s", exc)
            return
        offer = build_offer(
            self.genesis,
            self.state,
            self.history,
            self.index,
            opened.step,
            self.series,
            self.params.forecaster.kind,
            self.offset,
        )
        raw = sign(offer, self.key).raw
        self.sent_offers[opened.step] = raw
        transport.send(raw)

    def _catch_up(self, transport: NodeTransport) -> None:
        """Ask the coordinator and one peer for the blocks from this node's height on."""
        now = time.monotonic()
        if now - self._last_catchup < CATCHUP_INTERVAL_S:
            return
        self._last_catchup = now
        raw = sign(GetBlocks(self.genesis.chain_id, self.config.household, self.state.height), self.key).raw
        transport.send(raw)
        transport.ask_peers(raw)

    def on_frame(self, source: Source, identity: bytes, raw: bytes, transport: NodeTransport) -> bool:
        """Handle one frame; True when it was a valid message from the coordinator (directly or relayed)."""
        if source is Source.SYNC_REQUEST:
            self.serve_peer(identity, raw, transport)
            return False
        if raw[-SIGNATURE_BYTES:] in self.stored:
            return source is not Source.GOSSIP  # a copy of a block already stored: nothing to decode
        try:
            env, message = read_signed(raw, self.genesis, self.verifier, COORDINATOR_KINDS)
        except PeerError as exc:
            self.drops.drop(source.value, exc)
            return False
        if isinstance(message, Block):
            self.on_block(env, message, transport)
        elif source in (Source.GOSSIP, Source.PEER_SYNC):
            self.drops.drop(source.value, ProtocolError(f"a {env.kind} message is not for peers to pass on"))
            return False
        elif isinstance(message, Start):
            self.on_peers(message, transport)
        elif isinstance(message, StepOpen):
            self.on_step(message, transport)
        elif isinstance(message, End):
            self.final_height = message.final_height
        return True

    def on_peers(self, start: Start, transport: NodeTransport) -> None:
        others = [p for p in start.peers if p.household != self.config.household]
        chosen = _fanout(others, self.index, self.params.network.gossip_fanout)
        log.info("gossip peers: %s", ", ".join(p.gossip_endpoint for p in chosen) or "none")
        key = self.genesis.key_of
        transport.connect_peers([(p.household, p.gossip_endpoint, p.sync_endpoint, key[p.household]) for p in chosen])

    def serve_peer(self, identity: bytes, raw: bytes, transport: NodeTransport) -> None:
        """Answer a peer's catch-up request from this node's ledger."""
        if self.drops.ignoring(identity):
            return
        try:
            _, request = read_signed(raw, self.genesis, self.verifier, frozenset({GetBlocks.KIND}))
        except PeerError as exc:
            self.drops.drop("sync", exc, peer=identity)
            return
        assert isinstance(request, GetBlocks)
        for record in catch_up_answer(self.ledger.records, request.from_height):
            transport.answer(identity, record)

    # -- the loop -----------------------------------------------------------------------------------

    def _hello(self, transport: NodeTransport) -> bytes:
        cfg = self.config
        hello = Hello(
            self.genesis.chain_id,
            cfg.household,
            cfg.gossip_advertise or transport.gossip_endpoint,
            cfg.sync_advertise or transport.sync_endpoint,
            self.state.height,
            time.time_ns() // 1_000_000,
        )
        return sign(hello, self.key).raw

    def _transport(self) -> NodeTransport:
        cfg = self.config
        curve = None
        if cfg.secure:
            curve = CurveIdentity.of(self.key, self.genesis.keys)
            log.info("CurveZMQ on; %d genesis keys allowed", len(curve.allowed))
        return NodeTransport(
            cfg.coordinator_router,
            cfg.coordinator_pub,
            cfg.gossip_bind,
            cfg.sync_bind,
            Budget.of(self.genesis),
            curve,
            self.genesis.coordinator_key,
        )

    def run(self) -> int:
        """Serve until the run ends; 0 on a clean end, non-zero when the network went quiet."""
        cfg = self.config
        transport = self._transport()
        log.info("listening: gossip %s, sync %s", transport.gossip_endpoint, transport.sync_endpoint)
        for told in (cfg.gossip_advertise or transport.gossip_endpoint, cfg.sync_advertise or transport.sync_endpoint):
            if "0.0.0.0" in told or "*" in told:
                log.warning("peers are told to reach this node at %s; set the advertised endpoints", told)
        net = self.params.network
        last_heard = time.monotonic()
        last_hello = 0.0
        heard_coordinator = False
        try:
            while not self.stopping:
                if cfg.exit_with_parent and parent_gone(self._parent):
                    log.error("the launching process is gone; leaving")
                    return 4
                self.heartbeat.beat(self.state.height)
                now = time.monotonic()
                if heard_coordinator and now - last_hello > net.heartbeat_interval_s:
                    transport.send(self._hello(transport))
                    last_hello = now
                if self.final_height is not None:
                    if self.state.height >= self.final_height:
                        bye = Bye(self.genesis.chain_id, cfg.household, self.state.height)
                        transport.send(sign(bye, self.key).raw)
                        time.sleep(0.05)
                        log.info("run complete at height %d; %d messages dropped", self.state.height, self.rejected)
                        return 0
                    self._catch_up(transport)
                for source, identity, raw in transport.receive(100):
                    if self.on_frame(source, identity, raw, transport):
                        last_heard = time.monotonic()
                        heard_coordinator = True
                if time.monotonic() - last_heard > net.peer_timeout_s:
                    quiet = net.peer_timeout_s
                    log.error("heard nothing valid for %.0f s; leaving at height %d", quiet, self.state.height)
                    return 3
            log.info("stopped by signal at height %d", self.state.height)
            return 130
        finally:
            transport.close()
            self.ledger.close()

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True


def _fanout(peers: list[Peer], index: int, k: int) -> list[Peer]:
    """The ``k`` peers after this node on the ring of households (deterministic, spreads load evenly)."""
    if not peers or k <= 0:
        return []
    start = index % len(peers)
    return [peers[(start + i) % len(peers)] for i in range(min(k, len(peers)))]


def _meter_series(config: NodeConfig, genesis: Genesis, params: Params) -> MeterSeries:
    """The household's meter file, or (slower, and far more memory) its rows of the community's data file."""
    if config.meter is not None and config.meter.exists():
        return MeterSeries.load(config.meter, config.household)
    from runtime.data import run_data

    data = run_data(genesis, params, [config.household], config.data)
    return MeterSeries(config.household, data.first_step, data.production[0], data.consumption[0])


def run_node(config: NodeConfig) -> int:
    node = Node(config)
    signal.signal(signal.SIGTERM, node.stop)
    signal.signal(signal.SIGINT, node.stop)
    return node.run()
