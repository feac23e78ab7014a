"""The genesis record: who is in the run, with which keys, batteries and settings.

The chain id is the SHA-256 of the genesis' canonical encoding; every signed payload carries it, so
nothing from one run can be replayed into another.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chain import codec
from chain.crypto import Hash, PublicKey, sha256
from chain.errors import InputError

HouseholdId = str


@dataclass(frozen=True, slots=True)
class BatterySpec:
    """A household battery. A capacity of zero means no battery."""

    capacity_kwh: float
    """Usable capacity (kWh)."""
    max_power_kw: float
    """Largest charge or discharge power (kW)."""
    charge_efficiency: float
    """Fraction of charged energy that is stored (0..1]."""
    discharge_efficiency: float
    """Fraction of drawn stored energy that is delivered (0..1]."""
    initial_soc_kwh: float
    """State of charge at the start of the run (kWh)."""

    def fields(self) -> list[float]:
        return [
            self.capacity_kwh,
            self.max_power_kw,
            self.charge_efficiency,
            self.discharge_efficiency,
            self.initial_soc_kwh,
        ]


@dataclass(frozen=True, slots=True)
class BatteryColumns:
    """Several batteries' limits as read-only columns, one value per household (units of ``BatterySpec``),
    for checks over every household at once."""

    capacity_kwh: codec.FloatArray
    max_power_kw: codec.FloatArray
    charge_efficiency: codec.FloatArray
    discharge_efficiency: codec.FloatArray

    @classmethod
    def of(cls, specs: Sequence[BatterySpec]) -> BatteryColumns:
        columns = np.array([s.fields()[:4] for s in specs], dtype=np.float64).reshape(len(specs), 4).T.copy()
        columns.flags.writeable = False
        return cls(*columns)

    def take(self, rows: npt.NDArray[np.int64]) -> BatteryColumns:
        """The batteries of ``rows`` (household positions, repeats allowed), in that order."""
        columns = (self.capacity_kwh, self.max_power_kw, self.charge_efficiency, self.discharge_efficiency)
        return BatteryColumns(*(column[rows] for column in columns))


@dataclass(frozen=True, slots=True)
class Member:
    """One household of the run."""

    household: HouseholdId
    public_key: PublicKey
    battery: BatterySpec
    """Its own battery."""
    shared_battery: BatterySpec
    """Its partition of the community battery (capacity and power in proportion to its share)."""


@dataclass(frozen=True, slots=True)
class Genesis:
    """Everything every process agrees on before the first step."""

    coordinator_key: PublicKey
    members: tuple[Member, ...]
    dt_hours: float
    """Length of one step (h)."""
    start_step: int
    """First data step of the run (in run steps)."""
    steps: int
    """Number of steps the run clears."""
    horizon: int
    """Clearing horizon (steps)."""
    initial_wallet: float
    """Every wallet's balance before the first step ($)."""
    community_fee_per_kwh: float
    """Service fee per kWh charged into the community battery ($/kWh)."""
    params_hash: Hash
    created: str
    """ISO-8601 time the run was set up (UTC)."""
    p2p_fee_per_kwh: float = 0.0
    """Fee per kWh traded P2P, half paid by each side ($/kWh): the balancing pool at delivery pays it too."""
    key_of: dict[HouseholdId, PublicKey] = field(init=False, repr=False, compare=False)
    """Each household's public key."""
    keys: frozenset[PublicKey] = field(init=False, repr=False, compare=False)
    """Every key that may sign in this run, the coordinator's included."""
    chain_id: Hash = field(init=False, repr=False, compare=False)
    """SHA-256 of the canonical encoding: what every signed payload of the run names."""
    batteries: tuple[BatteryColumns, BatteryColumns] = field(init=False, repr=False, compare=False)
    """The members' own batteries and community-battery shares, as columns in member order."""

    def __post_init__(self) -> None:
        key_of = {m.household: m.public_key for m in self.members}
        if len(key_of) != len(self.members):
            raise InputError("genesis: household ids must be unique")
        object.__setattr__(self, "key_of", key_of)
        object.__setattr__(self, "keys", frozenset([*key_of.values(), self.coordinator_key]))
        object.__setattr__(self, "chain_id", sha256(self.encode()))
        own = BatteryColumns.of([m.battery for m in self.members])
        object.__setattr__(self, "batteries", (own, BatteryColumns.of([m.shared_battery for m in self.members])))

    def encode(self) -> bytes:
        return codec.pack(
            [
                1,
                self.coordinator_key,
                [[m.household, m.public_key, m.battery.fields(), m.shared_battery.fields()] for m in self.members],
                self.dt_hours,
                self.start_step,
                self.steps,
                self.horizon,
                self.initial_wallet,
                self.community_fee_per_kwh,
                self.params_hash,
                self.created,
                self.p2p_fee_per_kwh,
            ]
        )

    @property
    def household_ids(self) -> tuple[HouseholdId, ...]:
        return tuple(m.household for m in self.members)

    def member(self, household: HouseholdId) -> Member:
        for m in self.members:
            if m.household == household:
                return m
        raise KeyError(household)

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id.hex(),
            "coordinator_key": self.coordinator_key.hex(),
            "households": [
                {
                    "id": m.household,
                    "public_key": m.public_key.hex(),
                    "battery": dict(zip(_BATTERY_KEYS, m.battery.fields(), strict=True)),
                    "shared_battery": dict(zip(_BATTERY_KEYS, m.shared_battery.fields(), strict=True)),
                }
                for m in self.members
            ],
            "dt_hours": self.dt_hours,
            "start_step": self.start_step,
            "steps": self.steps,
            "horizon": self.horizon,
            "initial_wallet": self.initial_wallet,
            "community_fee_per_kwh": self.community_fee_per_kwh,
            "params_hash": self.params_hash.hex(),
            "created": self.created,
            "p2p_fee_per_kwh": self.p2p_fee_per_kwh,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            obj = json.loads(path.read_text())
            genesis = cls(
                coordinator_key=bytes.fromhex(obj["coordinator_key"]),
                members=tuple(
                    Member(
                        household=str(h["id"]),
                        public_key=bytes.fromhex(h["public_key"]),
                        battery=_battery(h["battery"]),
                        shared_battery=_battery(h["shared_battery"]),
                    )
                    for h in obj["households"]
                ),
                dt_hours=float(obj["dt_hours"]),
                start_step=int(obj["start_step"]),
                steps=int(obj["steps"]),
                horizon=int(obj["horizon"]),
                initial_wallet=float(obj["initial_wallet"]),
                community_fee_per_kwh=float(obj["community_fee_per_kwh"]),
                params_hash=bytes.fromhex(obj["params_hash"]),
                created=str(obj["created"]),
                p2p_fee_per_kwh=float(obj.get("p2p_fee_per_kwh", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a valid genesis file: {exc!r}") from exc
        if obj.get("chain_id") not in (None, genesis.chain_id.hex()):
            raise InputError(f"{path}: chain_id does not match the genesis content")
        return genesis


_BATTERY_KEYS = (
    "capacity_kwh",
    "max_power_kw",
    "charge_efficiency",
    "discharge_efficiency",
    "initial_soc_kwh",
)


def _battery(obj: dict[str, object]) -> BatterySpec:
    return BatterySpec(**{k: float(obj[k]) for k in _BATTERY_KEYS})  # type: ignore[arg-type]
