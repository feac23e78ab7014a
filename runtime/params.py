"""The parameter tree: one typed, documented, frozen dataclass per group.

Every field carries its help text, unit and allowed range in its metadata; ``from_dict`` rejects unknown
keys and out-of-range values with a message that names the key (``battery.capacity_kwh``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.errors import InputError
from runtime.atomic import write_atomic

DEFAULT_DATA_FILE = "household_dbs/community40_15min.parquet"
DEFAULT_START_STEP = 11_424
"""Run step 11,424 at 15 minutes is 30 April 00:00 of the reference year: a sunny spring day with an evening
peak, so that on the default data both transformer limits matter."""


def param(
    default: Any,
    help: str,
    *,
    unit: str = "",
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A documented field: ``lo``/``hi`` are inclusive bounds; ``choices`` the allowed strings."""
    return field(default=default, metadata={"help": help, "unit": unit, "lo": lo, "hi": hi, "choices": choices})


@dataclass(frozen=True, slots=True)
class SimulationParams:
    steps: int = param(96, "Number of steps to run.", unit="steps", lo=1, hi=1_000_000)
    time_step_hours: float = param(0.25, "Length of one step.", unit="h", lo=1 / 60, hi=24)
    start_step: int = param(
        DEFAULT_START_STEP,
        "First step of the data window, counted in run steps from the data's start.",
        unit="steps",
        lo=0,
    )
    seed: int = param(42, "Seed for everything random in a run (random tariffs).", lo=0)


@dataclass(frozen=True, slots=True)
class HouseholdParams:
    max_households: int = param(10, "Number of households taken from the data file (first N ids).", lo=1, hi=100_000)
    initial_wallet: float = param(100.0, "Every household's wallet at the start.", unit="$")
    production_scale_factor: float = param(1.0, "Multiplier applied to every production value.", lo=0, hi=100)
    data_file: str = param(DEFAULT_DATA_FILE, "Household data (long format: id, step, production, consumption).")
    data_step_hours: float = param(0.25, "Step length of the data file.", unit="h", lo=1 / 60, hi=24)
    metadata_file: str = param(
        "auto",
        "Per-household PV and battery table: 'auto' = <data stem>.meta.csv beside the data file if it exists, "
        "'' = none (every household gets the battery below), or a path.",
    )


@dataclass(frozen=True, slots=True)
class BatteryParams:
    capacity_kwh: float = param(
        13.5, "Usable capacity of each household battery when the data has no metadata (0 = none).", unit="kWh", lo=0
    )
    max_power_kw: float = param(
        5.0, "Largest charge or discharge power when the data has no metadata.", unit="kW", lo=0
    )
    charge_efficiency: float = param(0.95, "Fraction of charged energy that is stored.", lo=0.01, hi=1)
    discharge_efficiency: float = param(0.95, "Fraction of drawn stored energy that is delivered.", lo=0.01, hi=1)
    initial_soc_pct: float = param(
        20.0, "State of charge at the start, as a share of each capacity.", unit="%", lo=0, hi=100
    )
    wear_cost_per_kwh: float = param(0.005, "Wear cost per kWh charged or discharged.", unit="$/kWh", lo=0)


@dataclass(frozen=True, slots=True)
class CommunityBatteryParams:
    capacity_kwh: float = param(
        200.0, "Usable capacity of the community battery; households hold shares of it (metadata).", unit="kWh", lo=0
    )
    max_power_kw: float = param(100.0, "Largest charge or discharge power of the community battery.", unit="kW", lo=0)
    charge_efficiency: float = param(0.96, "Fraction of charged energy that is stored.", lo=0.01, hi=1)
    discharge_efficiency: float = param(0.96, "Fraction of drawn stored energy that is delivered.", lo=0.01, hi=1)
    service_fee_per_kwh: float = param(
        0.02, "Fee per kWh a household charges into its share of the community battery.", unit="$/kWh", lo=0
    )


@dataclass(frozen=True, slots=True)
class GridPriceParams:
    mode: str = param(
        "time_of_use",
        "time_of_use: peak/off-peak buy price and a flat feed-in price; random_uniform: each step drawn "
        "uniformly between the min and max prices (seeded, the original project's mode); file: a "
        "timestep, buy_price, sell_price table.",
        choices=("time_of_use", "random_uniform", "file"),
    )
    peak_buy_price: float = param(0.35, "Grid buy price in peak hours (time_of_use).", unit="$/kWh", lo=0)
    offpeak_buy_price: float = param(0.15, "Grid buy price outside peak hours (time_of_use).", unit="$/kWh", lo=0)
    sell_price: float = param(0.06, "Feed-in price (time_of_use).", unit="$/kWh", lo=0)
    peak_start_hour: float = param(17.0, "Start of the daily peak (time_of_use).", unit="h", lo=0, hi=24)
    peak_end_hour: float = param(21.0, "End of the daily peak (time_of_use).", unit="h", lo=0, hi=24)
    min_buy_price: float = param(0.12, "Lowest grid buy price (random_uniform).", unit="$/kWh", lo=0)
    max_buy_price: float = param(0.35, "Highest grid buy price (random_uniform).", unit="$/kWh", lo=0)
    min_sell_price: float = param(0.03, "Lowest grid sell price (random_uniform).", unit="$/kWh", lo=0)
    max_sell_price: float = param(0.10, "Highest grid sell price (random_uniform).", unit="$/kWh", lo=0)
    file: str = param("", "CSV/Parquet with timestep, buy_price, sell_price (mode file).")


@dataclass(frozen=True, slots=True)
class GridCapacityParams:
    use_capacity_limits: bool = param(True, "Limit the community's grid import/export by the transformer.")
    mode: str = param(
        "scaled",
        "scaled: the per-household limits times the number of households; constant: the limits below; "
        "synthetic: the limits below reduced in the daily peak, with noise (seeded); file: a timestep, "
        "import_capacity_kw, export_capacity_kw table.",
        choices=("scaled", "constant", "synthetic", "file"),
    )
    import_kw_per_household: float = param(1.0, "Import limit per household (scaled).", unit="kW", lo=0)
    export_kw_per_household: float = param(2.5, "Export limit per household (scaled).", unit="kW", lo=0)
    import_capacity_kw: float = param(12.0, "Import limit of the community (constant, synthetic).", unit="kW", lo=0)
    export_capacity_kw: float = param(20.0, "Export limit of the community (constant, synthetic).", unit="kW", lo=0)
    peak_reduction_factor: float = param(0.6, "Share of the limit left in the daily peak (synthetic).", lo=0, hi=1)
    noise_std: float = param(0.05, "Relative standard deviation of the limit's noise (synthetic).", lo=0, hi=1)
    peak_start_hour: float = param(17.0, "Start of the daily peak (synthetic).", unit="h", lo=0, hi=24)
    peak_end_hour: float = param(21.0, "End of the daily peak (synthetic).", unit="h", lo=0, hi=24)
    file: str = param("", "CSV/Parquet with timestep, import_capacity_kw, export_capacity_kw (mode file).")


@dataclass(frozen=True, slots=True)
class ForecasterParams:
    kind: str = param(
        "profile_blend",
        "How households forecast their horizon from their own past: profile_blend (a time-of-day profile of "
        "the last 28 days, corrected by the recent level or cloudiness; optimizer.forecast), persistence (the "
        "last measured value), seasonal_naive (the same time on the last measured day); or perfect (the true "
        "data: a study setting and the bound). Deviations from the plan are balanced at delivery: by the "
        "household's storage, then the community's balancing pool, then the grid (chain.delivery).",
        choices=("perfect", "persistence", "seasonal_naive", "profile_blend"),
    )
    horizon_steps: int = param(
        96, "Clearing horizon (model-predictive; only the first step runs).", unit="steps", lo=1, hi=2048
    )


@dataclass(frozen=True, slots=True)
class OptimizerParams:
    solver: str = param(
        "PIQP",
        "Solver for the clearing (PIQP is 2-3x faster than Clarabel on this model; see README, Performance).",
        choices=("PIQP", "CLARABEL", "HIGHS", "OSQP", "SCS"),
    )
    max_solver_iterations: int = param(
        0,
        "Most iterations each solver may take for one clearing (0 = the solver's own limit). A clearing that "
        "stops at the limit, like any clearing that fails, falls back to the baseline policy for its step.",
        lo=0,
        hi=1_000_000,
    )
    clearing_path: str = param(
        "direct",
        "How the clearing reaches its solver: direct (the programme's matrices built once per set of present "
        "households, only the changing numbers set each step, handed to PIQP or Clarabel; optimizer.clearing_lp) "
        "or cvxpy (the model as stated in optimizer.clearing, canonicalised by CVXPY each step). Both give the "
        "same optimum (tests/test_clearing_paths.py); direct is about 2x faster in the pool at 10 to 1,000 "
        "households (README, Performance). Solvers other than PIQP and Clarabel always go through CVXPY.",
        choices=("direct", "cvxpy"),
    )
    fine_steps: int = param(
        32,
        "Move blocking: steps at the start of the clearing horizon that the programme plans one by one; "
        "beyond them it plans blocks of optimizer.block_steps (optimizer.blocking). Only the first step runs, "
        "so the far horizon only has to be right on average.",
        unit="steps",
        lo=1,
        hi=2048,
    )
    block_steps: int = param(
        8,
        "Move blocking: steps per block after optimizer.fine_steps (1 = the exact horizon, every step planned "
        "on its own). Longer blocks clear faster at a small cost to the run (README, Performance: time and "
        "closed-loop regret per setting).",
        unit="steps",
        lo=1,
        hi=2048,
    )
    topology: str = param(
        "pool",
        "pool: everyone may trade with everyone; ring: each household trades only with its nearest neighbours "
        "on a ring (optimizer.ring_neighbours).",
        choices=("pool", "ring"),
    )
    ring_neighbours: int = param(4, "Ring topology: neighbours each household trades with (even).", lo=2, hi=1000)
    pricing_rule: str = param(
        "supply_demand_ratio",
        "P2P price: supply_demand_ratio (Liu et al. 2017); mid_market = (grid buy + grid sell)/2; bill_sharing "
        "(the community's grid price at the margin); original (the original project's rule: a share of the grid "
        "buy price adjusted by the production/consumption ratio); marginal (the clearing's shadow price).",
        choices=("supply_demand_ratio", "mid_market", "bill_sharing", "original", "marginal"),
    )
    p2p_price_factor: float = param(0.75, "Share of the grid buy price the original rule starts from.", lo=0, hi=1)
    p2p_transaction_cost: float = param(0.01, "Fee per kWh traded P2P, half paid by each side.", unit="$/kWh", lo=0)
    min_trade_kwh: float = param(
        0.001, "Smallest trade that is executed; smaller ones go to the grid.", unit="kWh", lo=0
    )
    settlement_rule: str = param(
        "shared_saving",
        "market: households keep what the market gave them; shared_saving: when the run closes, budget-balanced "
        "transfers leave each household its baseline bill minus an equal share of the community's saving.",
        choices=("market", "shared_saving"),
    )
    unserved_penalty: float = param(5.0, "Penalty per kWh of demand left unserved.", unit="$/kWh", lo=0)
    curtailment_penalty: float = param(0.02, "Penalty per kWh of production curtailed.", unit="$/kWh", lo=0)
    terminal_value_per_kwh: float = param(
        0.12,
        "Value of energy left in storage at the horizon end; the saving values what both runs have stored at the "
        "end at this price too.",
        unit="$/kWh",
        lo=0,
    )
    value_of_lost_load: float = param(
        5.0,
        "Value of lost load: what a kWh of demand left unserved costs a household, in the saving and the closing "
        "transfers (both runs alike).",
        unit="$/kWh",
        lo=0,
    )


@dataclass(frozen=True, slots=True)
class NetworkParams:
    bind_host: str = param("127.0.0.1", "Address the coordinator and nodes listen on in local runs.")
    offer_timeout_s: float = param(
        10.0, "How long the coordinator waits for offers in a step.", unit="s", lo=0.01, hi=3600
    )
    start_timeout_s: float = param(
        60.0, "How long the coordinator waits at the start barrier.", unit="s", lo=1, hi=3600
    )
    end_timeout_s: float = param(
        10.0, "How long the coordinator waits for households to leave.", unit="s", lo=0.1, hi=3600
    )
    peer_timeout_s: float = param(
        60.0, "A node gives up when it hears nothing from the network this long.", unit="s", lo=1, hi=86400
    )
    gossip_fanout: int = param(2, "Peers each node subscribes to for block relay.", lo=0, hi=64)
    heartbeat_interval_s: float = param(
        1.0, "How often a node tells the coordinator it is alive.", unit="s", lo=0.05, hi=600
    )
    heartbeat_timeout_s: float = param(
        5.0, "A household not heard from this long is not waited for in a step.", unit="s", lo=0.1, hi=3600
    )
    start_quorum: float = param(
        1.0, "Share of the households that must be present before the first step.", unit="1", lo=0.0, hi=1.0
    )
    start_grace_s: float = param(
        5.0, "Once the quorum is present (or when resuming), how long to wait for the rest.", unit="s", lo=0, hi=3600
    )
    max_bad_frames: int = param(
        1000, "Bad frames after which a connection is ignored for the rest of the run.", lo=1, hi=10**9
    )
    max_restarts: int = param(5, "Times `ets run` restarts one process that died or hung (0: never).", lo=0, hi=1000)
    restart_backoff_s: float = param(
        0.5, "Wait before `ets run` restarts a process; doubled for each further restart of it.", unit="s", lo=0, hi=600
    )
    hang_timeout_s: float = param(
        30.0,
        "A process of `ets run` whose heartbeat is older than this is taken as hung: killed and restarted.",
        unit="s",
        lo=3,
        hi=86400,
    )


@dataclass(frozen=True, slots=True)
class Params:
    simulation: SimulationParams = field(default_factory=SimulationParams)
    household: HouseholdParams = field(default_factory=HouseholdParams)
    battery: BatteryParams = field(default_factory=BatteryParams)
    community_battery: CommunityBatteryParams = field(default_factory=CommunityBatteryParams)
    grid_price: GridPriceParams = field(default_factory=GridPriceParams)
    grid_capacity: GridCapacityParams = field(default_factory=GridCapacityParams)
    forecaster: ForecasterParams = field(default_factory=ForecasterParams)
    optimizer: OptimizerParams = field(default_factory=OptimizerParams)
    network: NetworkParams = field(default_factory=NetworkParams)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {g.name: dataclasses.asdict(getattr(self, g.name)) for g in dataclasses.fields(self)}

    def digest(self) -> bytes:
        """SHA-256 of the canonical JSON of every value (what genesis records)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).digest()

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Params:
        try:
            obj = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read parameters: {exc}") from exc
        return cls.from_dict(obj, source=str(path))

    @classmethod
    def from_dict(cls, obj: Any, *, source: str = "parameters") -> Params:
        """Build from nested dicts; missing keys keep their defaults."""
        if not isinstance(obj, dict):
            raise InputError(f"{source}: expected an object of parameter groups")
        groups = {g.name: g for g in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, group_obj in obj.items():
            if name not in groups:
                raise InputError(f"{source}: unknown parameter group {name!r} (known: {', '.join(groups)})")
            values[name] = _group_from_dict(type(getattr(Params(), name)), group_obj, f"{source}: {name}")
        params = cls(**values)
        params.check(source)
        return params

    def replace(self, **changes: dict[str, Any]) -> Params:
        """A copy with some fields of some groups changed, checked like a loaded file."""
        merged = self.to_dict()
        for group, fields_ in changes.items():
            merged.setdefault(group, {}).update(fields_)
        return Params.from_dict(merged)

    def check(self, source: str = "parameters") -> None:
        """Cross-field rules that no single field's range can express."""
        g = self.grid_price
        if self.optimizer.ring_neighbours % 2:
            raise InputError(f"{source}: optimizer.ring_neighbours must be even (half on each side of the ring)")
        if g.mode == "file" and not g.file:
            raise InputError(f"{source}: grid_price.file must name a file when grid_price.mode is 'file'")
        if self.grid_capacity.mode == "file" and not self.grid_capacity.file:
            raise InputError(f"{source}: grid_capacity.file must name a file when grid_capacity.mode is 'file'")
        if g.mode == "time_of_use" and not g.sell_price < min(g.peak_buy_price, g.offpeak_buy_price):
            raise InputError(f"{source}: grid_price.sell_price must be below both buy prices")
        if g.mode == "random_uniform":
            if g.min_buy_price > g.max_buy_price or g.min_sell_price > g.max_sell_price:
                raise InputError(f"{source}: grid_price min prices must not exceed max prices")
            if g.max_sell_price >= g.min_buy_price:
                raise InputError(f"{source}: grid_price.max_sell_price must be below grid_price.min_buy_price")
        ratio = self.simulation.time_step_hours / self.household.data_step_hours
        inverse = self.household.data_step_hours / self.simulation.time_step_hours
        if not (_is_whole(ratio) or _is_whole(inverse)):
            raise InputError(
                f"{source}: simulation.time_step_hours ({self.simulation.time_step_hours}) must be a multiple or a "
                f"whole fraction of household.data_step_hours ({self.household.data_step_hours})"
            )


def _is_whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-9 and round(x) >= 1


def _group_from_dict(group_cls: type[Any], obj: Any, where: str) -> Any:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object")
    known = {f.name: f for f in dataclasses.fields(group_cls)}
    kwargs = {}
    for key, value in obj.items():
        if key not in known:
            raise InputError(f"{where}.{key}: unknown parameter (known: {', '.join(known)})")
        kwargs[key] = _check_value(known[key], value, f"{where}.{key}")
    return group_cls(**kwargs)


def _check_value(f: dataclasses.Field[Any], value: Any, where: str) -> Any:
    kind: type[Any] = type(f.default)
    meta = f.metadata
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: expected an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: expected a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"{where}: expected a finite number, got {value!r}")
    elif kind is str:
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {value!r}")
        if meta["choices"] and value not in meta["choices"]:
            raise InputError(f"{where}: {value!r} is not one of {', '.join(meta['choices'])}")
        return value
    lo, hi = meta["lo"], meta["hi"]
    if lo is not None and value < lo:
        raise InputError(f"{where}: {value!r} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise InputError(f"{where}: {value!r} is above the maximum {hi}")
    return value


def describe(params: Params) -> list[tuple[str, Any, str, str]]:
    """(key, value, unit, help) for every field, in tree order: what ``ets params show`` prints."""
    rows = []
    for g in dataclasses.fields(params):
        group = getattr(params, g.name)
        for f in dataclasses.fields(group):
            help_text = f.metadata["help"]
            if f.metadata["choices"]:
                help_text += f" One of: {', '.join(f.metadata['choices'])}."
            rows.append((f"{g.name}.{f.name}", getattr(group, f.name), f.metadata["unit"], help_text))
    return rows
