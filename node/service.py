"""A household node: one process, one key, one ledger.

Each step it signs an offer from its own meter data and forecast; when the block arrives it validates
it (coordinator signature, parent hash, its own offer byte for byte, physics of every settlement,
totals), appends it to its ledger with fsync, acknowledges it and relays it to its peers. A node that
falls behind asks the coordinator for the blocks it missed. Bad input from the network is logged,
counted and dropped.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from chain.blocks import Block
from chain.control import Beacon, Bye, End, GetBlocks, Hello, Start, StepOpen
from chain.crypto import SigningKey, Verifier
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
from ets.data import run_data
from ets.health import Heartbeat
from ets.params import Params
from node.offer import build_offer
from node.state import StepMachine
from node.transport import NodeTransport, Source

log = logging.getLogger("ets.node")

HELLO_INTERVAL_S = 0.5
CATCHUP_INTERVAL_S = 0.5
MAX_BUFFERED_BLOCKS = 4096


@dataclass(frozen=True, slots=True)
class NodeConfig:
    household: str
    genesis: Path
    key: Path
    params: Path
    data: Path
    ledger: Path
    coordinator_router: str
    coordinator_pub: str
    gossip_bind: str
    gossip_advertise: str | None = None
    """The gossip endpoint peers are told (default: the one bound); needed where the bind is a wildcard."""
    peers: tuple[str, ...] = ()
    """Gossip endpoints to subscribe to instead of the peers the coordinator names."""
    heartbeat: Path | None = None
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
        data = run_data(g, self.params, [hid], config.data)
        self.series = (data.production[0], data.consumption[0])
        self.offset = g.start_step - data.first_step
        self.verifier = Verifier()
        self.ledger = Ledger.open(config.ledger)
        self.state = genesis_state(g)
        self.history = History(g)
        for raw in self.ledger.records:
            self._apply(*read_block(raw, self.genesis, self.verifier), store=False)
        self.machine = StepMachine(step=self.state.last_step)
        self.buffered: dict[int, tuple[Envelope, Block]] = {}
        self.sent_offers: dict[int, bytes] = {}
        self.final_height: int | None = None
        self.pending_open: StepOpen | None = None
        self.started = False
        self.rejected = 0
        self.stopping = False
        self._last_catchup = 0.0
        self._parent = os.getppid()
        self.heartbeat = Heartbeat(config.heartbeat)
        self.gossip_peers: list[str] = []

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
            self._reject("block", exc)
            return
        self.machine.settled(block.step)
        self.sent_offers.pop(block.step, None)
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
        if opened.height < self.state.height or opened.step in self.sent_offers:
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
        now = time.monotonic()
        if now - self._last_catchup < CATCHUP_INTERVAL_S:
            return
        self._last_catchup = now
        request = GetBlocks(self.genesis.chain_id, self.config.household, self.state.height)
        transport.send(sign(request, self.key).raw)

    def on_control(self, raw: bytes, source: Source, transport: NodeTransport) -> bool:
        """Handle one frame; True when anything valid came from the network."""
        try:
            env, message = read_signed(raw, self.genesis, self.verifier, COORDINATOR_KINDS)
        except PeerError as exc:
            self._reject(source.value, exc)
            return False
        if isinstance(message, Block):
            self.on_block(env, message, transport)
        elif source is Source.GOSSIP:
            return True
        elif isinstance(message, Beacon):
            pass
        elif isinstance(message, Start):
            self.started = True
            self._connect_peers(message, transport)
        elif isinstance(message, StepOpen):
            self.started = True
            self.on_step(message, transport)
        elif isinstance(message, End):
            self.final_height = message.final_height
        return True

    def _connect_peers(self, start: Start, transport: NodeTransport) -> None:
        """Subscribe to the peers given, else to the coordinator's choice of them."""
        if self.config.peers:
            peers = list(self.config.peers)
        else:
            others = [e for h, e in start.peers if h != self.config.household]
            peers = _fanout(others, self.index, self.params.network.gossip_fanout)
        if peers != self.gossip_peers:
            log.info("gossip peers: %s", ", ".join(peers) or "none")
        self.gossip_peers = peers
        transport.connect_peers(peers)

    def _reject(self, where: str, exc: Exception) -> None:
        self.rejected += 1
        log.warning("dropped %s message: %s", where, exc)

    # -- the loop -----------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until the run ends; 0 on a clean end, non-zero when the network went quiet."""
        cfg = self.config
        transport = NodeTransport(cfg.coordinator_router, cfg.coordinator_pub, cfg.gossip_bind)
        advertised = cfg.gossip_advertise or transport.gossip_endpoint
        if "0.0.0.0" in advertised or "*" in advertised:
            log.warning("peers are told to reach this node at %s; set --gossip-advertise", advertised)
        timeout = self.params.network.peer_timeout_s
        last_heard = time.monotonic()
        last_hello = 0.0
        heard_coordinator = False
        try:
            while not self.stopping:
                if cfg.exit_with_parent and os.getppid() != self._parent:
                    log.error("the launching process is gone; leaving")
                    return 4
                now = time.monotonic()
                self.heartbeat.beat(self.state.height)
                if heard_coordinator and not self.started and now - last_hello > HELLO_INTERVAL_S:
                    hello = Hello(self.genesis.chain_id, cfg.household, advertised, self.state.height)
                    transport.send(sign(hello, self.key).raw)
                    last_hello = now
                if self.final_height is not None:
                    if self.state.height >= self.final_height:
                        bye = Bye(self.genesis.chain_id, cfg.household, self.state.height)
                        transport.send(sign(bye, self.key).raw)
                        time.sleep(0.05)
                        log.info("run complete at height %d; %d messages dropped", self.state.height, self.rejected)
                        return 0
                    self._catch_up(transport)
                for source, raw in transport.receive(100):
                    if self.on_control(raw, source, transport):
                        last_heard = time.monotonic()
                        heard_coordinator = heard_coordinator or source is not Source.GOSSIP
                if time.monotonic() - last_heard > timeout:
                    log.error("heard nothing valid for %.0f s; leaving at height %d", timeout, self.state.height)
                    return 3
            log.info("stopped by signal at height %d", self.state.height)
            return 130
        finally:
            transport.close()
            self.ledger.close()

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True


def _fanout(peers: list[str], index: int, k: int) -> list[str]:
    """The ``k`` peers after this node on the ring of households (deterministic, spreads load evenly)."""
    if not peers or k <= 0:
        return []
    start = index % len(peers)
    return [peers[(start + i) % len(peers)] for i in range(min(k, len(peers)))]


def run_node(config: NodeConfig) -> int:
    node = Node(config)
    signal.signal(signal.SIGTERM, node.stop)
    signal.signal(signal.SIGINT, node.stop)
    return node.run()
