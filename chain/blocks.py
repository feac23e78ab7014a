"""Blocks: what the coordinator seals and signs once per step."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from chain import codec
from chain.crypto import HASH_BYTES, Hash, sha256
from chain.errors import DecodeError
from chain.genesis import HouseholdId

MAX_MEMBERS = 100_000

SETTLEMENT_MODES = ("market", "alone", "fallback", "close")
"""How a household's step was settled: cleared by the market; by the baseline policy because it was
absent (``alone``) or because the step's clearing failed (``fallback``, an offered household); or the
closing entry after the last step (no energy, only the final transfer)."""

ACKS_PER_MEMBER = 8
"""Most acks of one household a block carries (validation refuses more): the coordinator carries a
household's further acks in the next blocks, so no key holder can grow a block beyond its bound
(``runtime.budget``) by acknowledging many blocks at once."""

MAX_FALLBACK_CHARS = 120
"""Longest reason a block gives for falling back to the baseline policy."""


def fallback_reason(text: str) -> str:
    """``text`` as a block's fallback reason: one line of printable ASCII, at most ``MAX_FALLBACK_CHARS``."""
    line = " ".join("".join(c if " " <= c <= "~" else " " for c in text).split())
    return line[:MAX_FALLBACK_CHARS] or "clearing failed"


@dataclass(frozen=True, slots=True)
class Settlement:
    """One household's executed step. Energies are kWh per step, money in $.

    Balance: ``production + grid_buy + p2p_buy + discharge + unserved
    == consumption + grid_sell + p2p_sell + charge + curtailed``, where ``charge``/``discharge`` are the
    household's total storage flows: its own battery plus its share of the community battery
    (``shared_charge``/``shared_discharge``).
    """

    household: HouseholdId
    mode: str
    production: float
    consumption: float
    grid_buy: float
    grid_sell: float
    p2p_buy: float
    p2p_sell: float
    charge: float
    discharge: float
    curtailed: float
    unserved: float
    soc_before: float
    """State of charge at the start of the step (kWh)."""
    soc_after: float
    """State of charge at the end of the step (kWh)."""
    fees: float
    """P2P transaction fees and community-battery service fees paid this step ($)."""
    shared_charge: float
    shared_discharge: float
    shared_soc_before: float
    """The household's share of the community battery at the start of the step (kWh)."""
    shared_soc_after: float
    transfer: float
    """Budget-balanced fairness transfer paid this step ($; negative when received)."""

    def encode(self) -> bytes:
        return codec.pack([self.household, self.mode, *self.numbers()])

    def numbers(self) -> list[float]:
        return [getattr(self, name) for name in SETTLEMENT_NUMBERS]

    @classmethod
    def decode(cls, data: bytes) -> Settlement:
        household, mode, numbers = settlement_fields(data)
        return cls(household, mode, *numbers)

    def cost(self, grid_buy_price: float, grid_sell_price: float, p2p_price: float) -> float:
        """What the household pays for the step ($; negative when it earns)."""
        return (
            self.grid_buy * grid_buy_price
            - self.grid_sell * grid_sell_price
            + (self.p2p_buy - self.p2p_sell) * p2p_price
            + self.fees
            + self.transfer
        )


FLOW_FIELDS = (
    "production",
    "consumption",
    "grid_buy",
    "grid_sell",
    "p2p_buy",
    "p2p_sell",
    "charge",
    "discharge",
    "curtailed",
    "unserved",
)
"""A settlement's energies (kWh)."""

SETTLEMENT_NUMBERS = (
    *FLOW_FIELDS,
    "soc_before",
    "soc_after",
    "fees",
    "shared_charge",
    "shared_discharge",
    "shared_soc_before",
    "shared_soc_after",
    "transfer",
)


def settlement_fields(data: bytes) -> tuple[HouseholdId, str, list[float]]:
    """A settlement's household, mode and numbers (``SETTLEMENT_NUMBERS`` order), decoded and checked."""
    obj = codec.fields(codec.unpack(data), 2 + len(SETTLEMENT_NUMBERS), "settlement")
    household = codec.as_str(obj[0], "settlement.household")
    mode = codec.as_str(obj[1], "settlement.mode", max_len=8)
    if mode not in SETTLEMENT_MODES:
        raise DecodeError(f"settlement.mode: unknown mode {mode!r}")
    return household, mode, codec.as_floats(obj[2:], SETTLEMENT_NUMBERS, "settlement")


CORRECTION_NUMBERS = tuple(name for name in SETTLEMENT_NUMBERS if name != "transfer")
"""A correction's numbers: a settlement's, but for the transfer (settled only when the run closes)."""


@dataclass(frozen=True, slots=True)
class Correction:
    """A household's earlier step as settled at delivery (see ``chain.delivery``): its production and
    consumption as measured, its storage as its controller ran it, and its grid, P2P, curtailed and
    unserved energy after the community balanced what the plan did not foresee (kWh, fees in $). It
    replaces the step's planned settlement; the cost difference is paid at the step's prices."""

    household: HouseholdId
    step: int
    production: float
    consumption: float
    grid_buy: float
    grid_sell: float
    p2p_buy: float
    p2p_sell: float
    charge: float
    discharge: float
    curtailed: float
    unserved: float
    soc_before: float
    soc_after: float
    fees: float
    shared_charge: float
    shared_discharge: float
    shared_soc_before: float
    shared_soc_after: float

    def encode(self) -> bytes:
        return codec.pack([self.household, self.step, *self.numbers()])

    def numbers(self) -> list[float]:
        return [getattr(self, name) for name in CORRECTION_NUMBERS]

    def applied_to(self, settled: Settlement) -> Settlement:
        """``settled`` (this household's settlement of ``step``) as delivery settled it."""
        return replace(settled, **{name: getattr(self, name) for name in CORRECTION_NUMBERS})

    @classmethod
    def decode(cls, data: bytes) -> Correction:
        obj = codec.fields(codec.unpack(data), 2 + len(CORRECTION_NUMBERS), "correction")
        return cls(
            codec.as_str(obj[0], "correction.household"),
            codec.as_int(obj[1], "correction.step"),
            *codec.as_floats(obj[2:], CORRECTION_NUMBERS, "correction"),
        )


@dataclass(frozen=True, slots=True)
class Trade:
    """A bilateral P2P trade: ``seller`` delivers ``kwh`` to ``buyer`` at ``price`` ($/kWh)."""

    seller: HouseholdId
    buyer: HouseholdId
    kwh: float
    price: float

    def fields(self) -> list[object]:
        return [self.seller, self.buyer, self.kwh, self.price]

    @classmethod
    def from_fields(cls, obj: object) -> Trade:
        seller, buyer, kwh, price = codec.fields(obj, 4, "trade")
        return cls(
            codec.as_str(seller, "trade.seller"),
            codec.as_str(buyer, "trade.buyer"),
            codec.as_float(kwh, "trade.kwh"),
            codec.as_float(price, "trade.price"),
        )


@dataclass(frozen=True, slots=True)
class MarketPrices:
    """The prices of a step ($/kWh)."""

    grid_buy: float
    grid_sell: float
    p2p: float


@dataclass(frozen=True, slots=True)
class Block:
    """The sealed result of one step.

    ``offers`` and ``acks`` are the exact signed envelopes received (byte for byte); ``settlements`` are
    canonical settlement encodings, one per household in genesis order (a step whose clearing failed
    carries the baseline policy's, and ``fallback`` says why); ``corrections`` settle earlier
    steps against the meter readings in this block's offers. The settlements root covers both lists.
    The block for step ``genesis.steps`` closes the run: no energy is cleared, only the last meter
    readings and the final transfers are settled.
    """

    KIND: ClassVar[str] = "block"

    chain_id: Hash
    height: int
    step: int
    parent_hash: Hash
    offers_root: Hash
    settlements_root: Hash
    prices: MarketPrices
    import_capacity_kw: float
    export_capacity_kw: float
    offers: tuple[bytes, ...]
    settlements: tuple[bytes, ...]
    corrections: tuple[bytes, ...]
    trades: tuple[Trade, ...]
    absent: tuple[HouseholdId, ...]
    acks: tuple[bytes, ...]
    clearing_status: str
    objective: float
    """Objective value of the clearing over its horizon ($; NaN encoded as 0 when not solved)."""
    fallback: str = ""
    """Why the step fell back to the baseline policy (every household acting alone); empty when the market
    cleared it (``fallback_reason``)."""

    def encode(self) -> bytes:
        return codec.pack(
            [
                self.chain_id,
                self.height,
                self.step,
                self.parent_hash,
                self.offers_root,
                self.settlements_root,
                [self.prices.grid_buy, self.prices.grid_sell, self.prices.p2p],
                [self.import_capacity_kw, self.export_capacity_kw],
                list(self.offers),
                list(self.settlements),
                list(self.corrections),
                [t.fields() for t in self.trades],
                list(self.absent),
                list(self.acks),
                self.clearing_status,
                self.objective,
                self.fallback,
            ]
        )

    @classmethod
    def decode(cls, payload: bytes) -> Block:
        obj = codec.fields(codec.unpack(payload), 17, "block")
        prices = codec.fields(obj[6], 3, "block.prices")
        caps = codec.fields(obj[7], 2, "block.capacity")
        return cls(
            chain_id=codec.as_bytes(obj[0], "block.chain_id", size=HASH_BYTES),
            height=codec.as_int(obj[1], "block.height"),
            step=codec.as_int(obj[2], "block.step"),
            parent_hash=codec.as_bytes(obj[3], "block.parent_hash", size=HASH_BYTES),
            offers_root=codec.as_bytes(obj[4], "block.offers_root", size=HASH_BYTES),
            settlements_root=codec.as_bytes(obj[5], "block.settlements_root", size=HASH_BYTES),
            prices=MarketPrices(*(codec.as_float(p, "block.prices") for p in prices)),
            import_capacity_kw=codec.as_float(caps[0], "block.import_capacity_kw"),
            export_capacity_kw=codec.as_float(caps[1], "block.export_capacity_kw"),
            offers=codec.as_bytes_tuple(obj[8], "block.offers", max_len=MAX_MEMBERS),
            settlements=codec.as_bytes_tuple(obj[9], "block.settlements", max_len=MAX_MEMBERS),
            corrections=codec.as_bytes_tuple(obj[10], "block.corrections"),
            trades=tuple(Trade.from_fields(t) for t in codec.as_list(obj[11], "block.trades")),
            absent=tuple(
                codec.as_str(a, "block.absent[]") for a in codec.as_list(obj[12], "block.absent", max_len=MAX_MEMBERS)
            ),
            acks=codec.as_bytes_tuple(obj[13], "block.acks"),
            clearing_status=codec.as_str(obj[14], "block.clearing_status", max_len=32),
            objective=codec.as_float(obj[15], "block.objective"),
            fallback=codec.as_str(obj[16], "block.fallback", min_len=0, max_len=MAX_FALLBACK_CHARS),
        )

    def decoded_settlements(self) -> list[Settlement]:
        return [Settlement.decode(s) for s in self.settlements]

    def decoded_corrections(self) -> list[Correction]:
        return [Correction.decode(c) for c in self.corrections]


def block_hash(payload: bytes) -> Hash:
    """The hash that the next block's ``parent_hash`` names: SHA-256 of the block payload."""
    return sha256(payload)
