"""What households sign: offers for a step and acknowledgements of blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from chain import codec
from chain.crypto import HASH_BYTES, Hash
from chain.errors import DecodeError
from chain.genesis import HouseholdId

MAX_HORIZON = 2048
"""Longest forecast an offer may carry (steps)."""
MAX_METER_READINGS = 4096
"""Most meter readings one offer may carry (steps not yet settled against the meter)."""
READINGS_PER_OFFER = 512
"""Most meter readings a household puts in one offer: one that was away longer sends the rest in its next
offers, so its largest offer stays well within the byte budget of the coordinator's connections
(``runtime.budget``)."""


READING_STORAGE = ("charge", "discharge", "shared_charge", "shared_discharge")
MAX_READING_KWH = 1e6
"""Largest energy a meter reading may carry for one step (kWh): beyond any household, and far below what
would overflow a bill (a finite reading of 1e308 kWh valued at the value of lost load would not be)."""


@dataclass(frozen=True, slots=True)
class MeterReading:
    """What a household's meter measured in an earlier step, and what its storage did then (kWh): its own
    battery's and its community-battery share's charge and discharge, as its controller ran them at
    delivery (``chain.delivery.absorb``)."""

    step: int
    production: float
    consumption: float
    charge: float = 0.0
    discharge: float = 0.0
    shared_charge: float = 0.0
    shared_discharge: float = 0.0

    def fields(self) -> list[object]:
        return [self.step, self.production, self.consumption, *self.storage()]

    def storage(self) -> tuple[float, float, float, float]:
        return (self.charge, self.discharge, self.shared_charge, self.shared_discharge)

    @classmethod
    def from_fields(cls, obj: object) -> MeterReading:
        step, production, consumption, *storage = codec.fields(obj, 3 + len(READING_STORAGE), "meter reading")
        reading = cls(
            codec.as_int(step, "meter.step"),
            codec.as_float(production, "meter.production"),
            codec.as_float(consumption, "meter.consumption"),
            *codec.as_floats(storage, READING_STORAGE, "meter"),
        )
        values = (reading.production, reading.consumption, *reading.storage())
        if min(values) < 0 or max(values) > MAX_READING_KWH:
            raise DecodeError(f"meter reading: energies must lie within [0, {MAX_READING_KWH:g}] kWh")
        return reading


@dataclass(frozen=True, slots=True, eq=False)
class Offer:
    """A household's bid into the clearing of ``step``.

    ``production_kwh[0]`` and ``consumption_kwh[0]`` are the household's forecast for the step being
    cleared, the rest its forecast of the following steps (kWh per step). ``meter`` holds what its meter
    measured in the earlier steps not yet settled against the meter, in step order.
    """

    KIND: ClassVar[str] = "offer"

    chain_id: Hash
    step: int
    household: HouseholdId
    soc_kwh: float
    """Own battery's state of charge at the start of the step, as the household computes it (kWh)."""
    shared_soc_kwh: float
    """Its community-battery share's state of charge at the start of the step (kWh)."""
    production_kwh: codec.FloatArray
    """Read-only float64 series over the horizon (kWh per step)."""
    consumption_kwh: codec.FloatArray
    meter: tuple[MeterReading, ...] = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Offer) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.encode())

    def encode(self) -> bytes:
        return codec.pack(
            [
                self.chain_id,
                self.step,
                self.household,
                self.soc_kwh,
                self.shared_soc_kwh,
                codec.floats_to_bin(self.production_kwh),
                codec.floats_to_bin(self.consumption_kwh),
                [m.fields() for m in self.meter],
            ]
        )

    @classmethod
    def decode(cls, payload: bytes) -> Offer:
        chain_id, step, household, soc, shared_soc, prod, cons, meter = codec.fields(codec.unpack(payload), 8, "offer")
        production, consumption = _forecasts(prod, cons)
        soc_kwh = codec.as_float(soc, "offer.soc_kwh")
        shared_soc_kwh = codec.as_float(shared_soc, "offer.shared_soc_kwh")
        if soc_kwh < 0 or shared_soc_kwh < 0:
            raise DecodeError("offer: states of charge must be non-negative")
        return cls(
            chain_id=codec.as_bytes(chain_id, "offer.chain_id", size=HASH_BYTES),
            step=codec.as_int(step, "offer.step"),
            household=codec.as_str(household, "offer.household"),
            soc_kwh=soc_kwh,
            shared_soc_kwh=shared_soc_kwh,
            production_kwh=production,
            consumption_kwh=consumption,
            meter=tuple(
                MeterReading.from_fields(m) for m in codec.as_list(meter, "offer.meter", max_len=MAX_METER_READINGS)
            ),
        )


def _forecasts(prod: object, cons: object) -> tuple[codec.FloatArray, codec.FloatArray]:
    """An offer's two forecast series: float64 series of one length, non-empty, finite and non-negative.

    Both are checked at once where they pass (the smallest value not below zero, nor NaN, and a finite
    sum, so no infinite value); otherwise series by series, which names what is wrong.
    """
    p = codec.as_bytes(prod, "offer.production", max_len=8 * MAX_HORIZON)
    c = codec.as_bytes(cons, "offer.consumption", max_len=8 * MAX_HORIZON)
    if len(p) == len(c) and len(p) and not len(p) % 8:
        both = np.frombuffer(p + c, dtype=codec.FLOAT64)
        if np.minimum.reduce(both) >= 0 and math.isfinite(np.add.reduce(both)):
            return both[: len(p) // 8], both[len(p) // 8 :]
    production = codec.bin_to_floats(p, "offer.production")
    consumption = codec.bin_to_floats(c, "offer.consumption", length=production.size)
    if production.size == 0 or np.minimum.reduce(production) < 0 or np.minimum.reduce(consumption) < 0:
        raise DecodeError("offer: forecasts must be non-empty and non-negative")
    return production, consumption


@dataclass(frozen=True, slots=True)
class Ack:
    """A household's signed statement that it validated and stored the block at ``height``."""

    KIND: ClassVar[str] = "ack"

    chain_id: Hash
    step: int
    household: HouseholdId
    height: int
    block_hash: Hash

    def encode(self) -> bytes:
        return codec.pack([self.chain_id, self.step, self.household, self.height, self.block_hash])

    @classmethod
    def decode(cls, payload: bytes) -> Ack:
        chain_id, step, household, height, block_hash = codec.fields(codec.unpack(payload), 5, "ack")
        return cls(
            chain_id=codec.as_bytes(chain_id, "ack.chain_id", size=HASH_BYTES),
            step=codec.as_int(step, "ack.step"),
            household=codec.as_str(household, "ack.household"),
            height=codec.as_int(height, "ack.height"),
            block_hash=codec.as_bytes(block_hash, "ack.block_hash", size=HASH_BYTES),
        )
