"""The clearing's programme in numbers, whichever way it is stated (CVXPY in ``optimizer.clearing``, matrices
in ``optimizer.clearing_lp`` and ``optimizer.ring_lp``): its cost coefficients, one step's inputs, the
schedule it gives and the storage units, and the rules both ways share (the grid limits the solver is
given, the periods of a blocked horizon, the first step per household, the ring's links). Imports no
modelling library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from optimizer.flows import Array, Storage

OPTIMAL = "optimal"
FALLBACK_SOLVER = "CLARABEL"
"""Solver tried when the configured one does not report an optimum (PIQP, fast, now and then gives up
on a feasible model; Clarabel is slower and steadier)."""
SOLVER_OPTIONS: dict[str, dict[str, object]] = {"PIQP": {"reg_lower_limit": 1e-8}}
"""PIQP's default floor on its regularisation (1e-10) lets it declare feasible clearings of a hundred
households infeasible (7 of 9 steps in one trial); with 1e-8 it solved all 9 and nothing fell back."""
ITERATION_OPTIONS: dict[str, tuple[str, ...]] = {
    "PIQP": ("max_iter",),
    "CLARABEL": ("max_iter",),
    "OSQP": ("max_iter",),
    "SCS": ("max_iters",),
    "HIGHS": ("simplex_iteration_limit", "ipm_iteration_limit"),
}
"""Each solver's options that bound its iterations (``optimizer.max_solver_iterations``)."""
TOPOLOGIES = ("pool", "ring")
MIN_DEFICIT_COST = 1e-6
"""$/kWh kept on deficits when trading is free, so that the pool's deficits stay tight."""
SNAP = 1e-9
"""Values below this (kWh) are read as zero."""

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Costs:
    """Cost coefficients of the objective ($/kWh)."""

    p2p_transaction: float
    battery_wear: float
    unserved_penalty: float
    curtailment_penalty: float


@dataclass(frozen=True, slots=True)
class MarketInputs:
    """What one clearing needs, over the horizon."""

    production: Array
    """(N, H) kWh per step"""
    consumption: Array
    """(N, H) kWh per step"""
    soc: Array
    """(N,) own battery, kWh at the start of the first step"""
    shared_soc: Array
    """(N,) community-battery share, kWh at the start of the first step"""
    buy_price: Array
    """(H,) $/kWh"""
    sell_price: Array
    """(H,) $/kWh"""
    import_kwh: Array
    """(H,) community import limit, kWh per step"""
    export_kwh: Array
    """(H,) community export limit, kWh per step"""
    terminal_value: float
    """$/kWh of energy left in storage at the horizon end"""


@dataclass(frozen=True, slots=True)
class Schedule:
    """The first step of a solved clearing, per household (N,) in kWh."""

    grid_buy: Array
    grid_sell: Array
    p2p_buy: Array
    p2p_sell: Array
    charge: Array
    discharge: Array
    shared_charge: Array
    shared_discharge: Array
    curtailed: Array
    unserved: Array
    edges: tuple[tuple[int, int, float], ...] | None
    """(seller, buyer, kWh) per neighbour link with flow (ring); None in the pool."""
    marginal_price: float
    """Shadow price of energy on the community bus in the first step ($/kWh)."""


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """A solver outcome is a value: ``schedule`` is None unless ``status`` is optimal."""

    status: str
    objective: float
    schedule: Schedule | None
    solve_seconds: float


@dataclass(frozen=True, slots=True)
class Units:
    """The storage units that exist: own batteries and community-battery partitions with capacity."""

    owner: IntArray
    shared: npt.NDArray[np.bool_]
    capacity: Array
    step_kwh: Array
    """Largest charge or discharge per step."""
    eta_c: Array
    eta_d: Array
    fee: Array
    """$/kWh charged (the community battery's service fee; 0 for own batteries)."""

    @classmethod
    def of(cls, storage: Storage, dt_hours: float) -> Units:
        own = np.flatnonzero(storage.own.capacity_kwh > 0)
        shared = np.flatnonzero(storage.shared.capacity_kwh > 0)

        def pick(attr: str) -> Array:
            return np.concatenate([getattr(storage.own, attr)[own], getattr(storage.shared, attr)[shared]])

        return cls(
            owner=np.concatenate([own, shared]).astype(np.int64),
            shared=np.concatenate([np.zeros(own.size, bool), np.ones(shared.size, bool)]),
            capacity=pick("capacity_kwh"),
            step_kwh=pick("max_power_kw") * dt_hours,
            eta_c=pick("charge_efficiency"),
            eta_d=pick("discharge_efficiency"),
            fee=np.concatenate([np.zeros(own.size), np.full(shared.size, storage.shared_fee)]),
        )

    @property
    def count(self) -> int:
        return int(self.owner.size)

    def soc0(self, soc: Array, shared_soc: Array) -> Array:
        return np.where(self.shared, shared_soc[self.owner], soc[self.owner])

    def ownership(self, rows: IntArray) -> sp.csr_matrix:
        """(len(rows), U) matrix with 1 where unit u belongs to household ``rows[k]``."""
        index = {int(h): k for k, h in enumerate(rows)}
        data = np.ones(self.count)
        return sp.csr_matrix(
            (data, ([index[int(h)] for h in self.owner], np.arange(self.count))), shape=(rows.size, self.count)
        )

    def per_household(self, values: Array, n: int) -> tuple[Array, Array]:
        """Unit values (U,) as (own, shared) arrays over the N households."""
        own, shared = np.zeros(n), np.zeros(n)
        own[self.owner[~self.shared]] = values[~self.shared]
        shared[self.owner[self.shared]] = values[self.shared]
        return own, shared


def period_steps(horizon: int, periods: Array | None) -> Array:
    """(H,) steps in each of the programme's periods: all 1 unless move blocking joins steps
    (``optimizer.blocking``)."""
    if periods is None:
        return np.ones(horizon)
    out = np.asarray(periods, dtype=np.float64)
    if out.shape != (horizon,) or np.any(out < 1):
        raise ValueError(f"periods must be {horizon} lengths of at least 1 step")
    return out


def grid_limits(inputs: MarketInputs, storage_kwh: float | Array) -> tuple[Array, Array]:
    """The import and export limits (kWh per step) the solver is given: each as it is, except where it is
    above ``FAR_KWH`` and above what the community could ever move (see ``optimizer.clearing._set_grid``;
    ``storage_kwh``: what every storage unit at full power moves in each step or period)."""
    imports = _within_reach(inputs.import_kwh, inputs.consumption.sum(axis=0) + storage_kwh + 1.0)
    exports = _within_reach(inputs.export_kwh, inputs.production.sum(axis=0) + storage_kwh + 1.0)
    return imports, exports


FAR_KWH = 1e4
"""A grid limit above this and above all the community could move is given as the latter (kWh per step)."""


def _within_reach(limit: Array, most: Array) -> Array:
    out: Array = np.where(limit > np.maximum(most, FAR_KWH), most, limit)
    return out


def storage_first(units: Units, n: int, charge: Array, discharge: Array) -> tuple[Array, Array, Array, Array]:
    """(charge, discharge, shared_charge, shared_discharge) per household from the units' first-step
    charge and discharge (U,), values below the snap threshold set to zero."""
    if not units.count:
        zero = np.zeros(n)
        return zero, zero, zero, zero
    snap = [np.where(v < SNAP, 0.0, v) for v in (charge, discharge)]
    own_charge, shared_charge = units.per_household(snap[0], n)
    own_discharge, shared_discharge = units.per_household(snap[1], n)
    return own_charge, own_discharge, shared_charge, shared_discharge


def pool_schedule(
    inputs: MarketInputs,
    storage: tuple[Array, Array, Array, Array],
    community: tuple[float, float, float, float],
    marginal_price: float,
) -> Schedule:
    """The pool's first step per household: ``storage`` is (charge, discharge, shared_charge,
    shared_discharge) per household, ``community`` the first step's (GB, GS, U, K), snapped. Each
    household's deficit is served by the grid, the unserved slack and peers in the community's
    proportions, and each surplus likewise (any split of the optimum is optimal)."""
    charge, discharge, shared_charge, shared_discharge = storage
    gb, gs, u, k = (c if c >= SNAP else 0.0 for c in community)
    x = inputs.production[:, 0] - inputs.consumption[:, 0] + discharge + shared_discharge - charge - shared_charge
    deficit, surplus = np.maximum(-x, 0.0), np.maximum(x, 0.0)
    f_gb, f_u = _fractions(gb, u, float(deficit.sum()))
    f_gs, f_k = _fractions(gs, k, float(surplus.sum()))
    return Schedule(
        grid_buy=deficit * f_gb,
        grid_sell=surplus * f_gs,
        p2p_buy=deficit * (1.0 - f_gb - f_u),
        p2p_sell=surplus * (1.0 - f_gs - f_k),
        charge=charge,
        discharge=discharge,
        shared_charge=shared_charge,
        shared_discharge=shared_discharge,
        curtailed=surplus * f_k,
        unserved=deficit * f_u,
        edges=None,
        marginal_price=marginal_price,
    )


def _fractions(first: float, second: float, total: float) -> tuple[float, float]:
    """Shares of ``total`` taken by two parts, clipped to [0, 1] together."""
    if total <= 0:
        return 0.0, 0.0
    a = min(max(first / total, 0.0), 1.0)
    b = min(max(second / total, 0.0), 1.0 - a)
    return a, b


def ring_links(n: int, k: int) -> list[tuple[int, int]]:
    """Neighbour pairs (i < j) on a ring where each household reaches the ``k`` nearest (k/2 per side)."""
    if n < 2:
        return []
    if k >= n - 1:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    links = {tuple(sorted((i, (i + d) % n))) for i in range(n) for d in range(1, k // 2 + 1)}
    return sorted((int(a), int(b)) for a, b in links)
