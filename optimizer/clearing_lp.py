"""The clearing handed to the solver as matrices: the same linear programmes as
``optimizer.clearing.PoolModel`` and ``RingModel`` (which state them in CVXPY and stay their readable form
and cross-check), with the matrices built once per model and only the vectors that change set each step.
The pool's layout follows; the ring's is in ``optimizer.ring_lp``.

Variables, in this order (U storage units, O households owning storage, H steps, all kWh per step):
``ch (U, H)``, ``dis (U, H)``, ``s (U, H)`` (the state of charge at the end of each step: the start, the
given ``soc0``, is no variable), ``d (O, H)``, then ``GB, GS, U, K`` (H each). Rows:

* equalities: ``s[u, t] - s[u, t-1] - eta_c ch[u, t] + dis[u, t] / eta_d = 0`` (``soc0`` on the right at
  t = 0), and the bus balance ``GS + K - GB - U - sum_u (dis - ch) = sum (P - C)`` of each step;
* inequalities: ``-d_o - sum_{u of o} (dis_u - ch_u) <= P_o - C_o`` (the deficit), and the P2P volume
  ``GB + U - sum_o d_o <= D_others`` only in the steps where it can bind (``redundant_volume_rows``);
* every upper limit (storage capacity and power, import, export, unserved and curtailed at most the
  community's consumption and production) and every sign is a bound on its variable, not a row.

The objective is ``c . x`` plus the constant ``c_p2p sum D_others``. Each step sets the solver up afresh
(never warm-started, see ``optimizer.clearing._Model._try``): a step's clearing depends on its inputs alone.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import scipy.sparse as sp

from optimizer.blocking import BlockedClearing, Blocking
from optimizer.flows import Array, Mask, Storage
from optimizer.lp_layout import Layout, check_inputs, coo, dynamics_rows, horizon_totals, storage_vectors
from optimizer.lp_solvers import DIRECT_SOLVERS, Solution, Vectors, solve_direct
from optimizer.programme import (
    MIN_DEFICIT_COST,
    OPTIMAL,
    ClearingResult,
    Costs,
    MarketInputs,
    Schedule,
    Units,
    grid_limits,
    period_steps,
    pool_schedule,
    storage_first,
)
from optimizer.ring_lp import DirectRingModel

if TYPE_CHECKING:
    from optimizer.clearing import ClearingModel

PATHS = ("direct", "cvxpy")
VOLUME_MARGIN = 1e-6
"""$/kWh by which the grid spread must exceed the P2P fee before a step's volume row is dropped, so that
no optimum lies within rounding of one that breaks the row."""


def redundant_volume_rows(buy: Array, sell: Array, costs: Costs) -> Mask:
    """(H,) True where the P2P volume row ``GB + U <= sum of deficits`` cannot bind, so dropping it leaves
    the set of optima unchanged.

    Why: let a point satisfy every other row with ``GB + U > D`` in step t (D: the step's deficits,
    ``d_o >= max(-x_o, 0)`` for owners and the fixed ``D_others``). The balance gives ``GS + K = sum x + GB
    + U > sum x + D >= sum_o max(x_o, 0) + S_others >= 0``, so one of ``GS, K`` and one of ``GB, U`` is
    positive, and lowering both by the same small amount keeps every row and bound. Its cost changes by
    ``c_p2p - buy + sell`` (GB with GS), ``c_p2p - buy - c_k`` (GB, K), ``c_p2p - c_u + sell`` (U, GS) or
    ``c_p2p - c_u - c_k`` (U, K). Where ``buy - sell > c_p2p`` and ``c_u > sell + c_p2p`` all four are
    negative (prices and penalties are non-negative), so no such point is optimal: every optimum without
    the row keeps it, and the optima with and without it are the same. Kept where the margin is under
    ``VOLUME_MARGIN``."""
    c_p2p = max(costs.p2p_transaction, MIN_DEFICIT_COST) + VOLUME_MARGIN
    return np.asarray((buy - sell > c_p2p) & (costs.unserved_penalty > sell + c_p2p), dtype=np.bool_)


class DirectPoolModel:
    """The pool clearing on matrices (module doc); the same interface as ``optimizer.clearing.PoolModel``."""

    def __init__(
        self,
        storage: Storage,
        horizon: int,
        dt_hours: float,
        costs: Costs,
        solver: str,
        max_iterations: int = 0,
        periods: Array | None = None,
    ) -> None:
        if solver not in DIRECT_SOLVERS:
            raise ValueError(f"the direct path solves with {' or '.join(DIRECT_SOLVERS)}, not {solver}")
        self.n, self.horizon, self.solver, self.costs = storage.size, horizon, solver, costs
        self.max_iterations = max_iterations
        self.units = Units.of(storage, dt_hours)
        self.periods = period_steps(horizon, periods)
        self.owners = np.unique(self.units.owner)
        uh, oh, h = self.units.count * horizon, self.owners.size * horizon, horizon
        self.layout = Layout((("ch", uh), ("dis", uh), ("s", uh), ("d", oh), ("GB", h), ("GS", h), ("U", h), ("K", h)))
        self.c_p2p = max(costs.p2p_transaction, MIN_DEFICIT_COST)
        self.A = self._equalities()
        self._deficit_rows, self._volume_rows = self._inequalities()
        self._G: dict[bytes, sp.csc_matrix] = {}
        self.P = sp.csc_matrix((self.layout.size, self.layout.size), dtype=np.float64)
        self.last: Solution | None = None

    # -- the matrices, once per model -------------------------------------------------------------------

    def _equalities(self) -> sp.csc_matrix:
        lay, h, nu = self.layout, self.horizon, self.units.count
        rows, cols, vals = dynamics_rows(self.units, h, lay)
        if nu:
            cell = np.arange(nu * h)
            balance_t = nu * h + cell % h
            rows += [balance_t, balance_t]
            cols += [lay.block("ch").start + cell, lay.block("dis").start + cell]
            vals += [np.ones(cell.size), -np.ones(cell.size)]
        steps = np.arange(h)
        for name, sign in (("GS", 1.0), ("K", 1.0), ("GB", -1.0), ("U", -1.0)):
            rows.append(nu * h + steps)
            cols.append(lay.block(name).start + steps)
            vals.append(np.full(h, sign))
        return coo(rows, cols, vals, (nu * h + h, lay.size))

    def _inequalities(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(deficit rows (O H), P2P volume rows (H)), as CSR to pick volume rows per step."""
        lay, h, units = self.layout, self.horizon, self.units
        no, nu = int(self.owners.size), units.count
        d, ch, dis = (lay.block(b).start for b in ("d", "ch", "dis"))
        rows, cols, vals = [np.arange(no * h)], [d + np.arange(no * h)], [-np.ones(no * h)]
        if nu:
            position = np.searchsorted(self.owners, units.owner)
            cell = np.arange(nu * h)
            owner_row = position[cell // h] * h + cell % h
            rows += [owner_row, owner_row]
            cols += [dis + cell, ch + cell]
            vals += [-np.ones(cell.size), np.ones(cell.size)]
        deficit = coo(rows, cols, vals, (no * h, lay.size)).tocsr()
        steps = np.arange(h)
        cells = np.arange(no * h)
        volume = coo(
            [steps, steps, cells % h],
            [lay.block("GB").start + steps, lay.block("U").start + steps, d + cells],
            [np.ones(h), np.ones(h), -np.ones(no * h)],
            (h, lay.size),
        ).tocsr()
        return deficit, volume

    def _inequality_matrix(self, keep: Mask) -> sp.csc_matrix:
        key = np.packbits(keep).tobytes() + bytes([keep.size % 8])
        matrix = self._G.get(key)
        if matrix is None:
            matrix = sp.vstack([self._deficit_rows, self._volume_rows[np.flatnonzero(keep)]], format="csc")
            self._G = {key: matrix}  # one cached: the tariff keeps the same rows step after step
        return matrix

    # -- the vectors, each step ------------------------------------------------------------------------

    def _vectors(self, inputs: MarketInputs) -> Vectors:
        lay, units, costs, h = self.layout, self.units, self.costs, self.horizon
        net = inputs.production - inputs.consumption
        others = np.ones(self.n, bool)
        others[self.owners] = False
        soc0 = units.soc0(inputs.soc, inputs.shared_soc)
        c = np.zeros(lay.size)
        lower = np.zeros(lay.size)
        upper = np.full(lay.size, np.inf)
        storage_vectors(units, costs, inputs, lay, self.periods, c, upper)
        c[lay.block("d")] = self.c_p2p
        c[lay.block("GB")] = inputs.buy_price - self.c_p2p
        c[lay.block("GS")] = -inputs.sell_price
        c[lay.block("U")] = costs.unserved_penalty - self.c_p2p
        c[lay.block("K")] = costs.curtailment_penalty
        upper[lay.block("GB")], upper[lay.block("GS")] = grid_limits(inputs, float(units.step_kwh.sum()) * self.periods)
        upper[lay.block("U")] = inputs.consumption.sum(axis=0)
        upper[lay.block("K")] = inputs.production.sum(axis=0)
        b = np.zeros(units.count * h + h)
        if units.count:
            b[np.arange(units.count) * h] = soc0
        b[units.count * h :] = net.sum(axis=0)
        fixed_deficit = np.maximum(-net[others], 0.0).sum(axis=0)
        keep = ~redundant_volume_rows(inputs.buy_price, inputs.sell_price, costs)
        h_upper = np.concatenate([net[self.owners].reshape(-1), fixed_deficit[keep]])
        return Vectors(c, b, h_upper, lower, upper, keep, self.c_p2p * float(fixed_deficit.sum()))

    # -- solving -----------------------------------------------------------------------------------------

    def solve(self, inputs: MarketInputs) -> ClearingResult:
        started = time.perf_counter()
        refused = check_inputs(inputs, self.units)
        if refused:
            return ClearingResult(refused, 0.0, None, time.perf_counter() - started)
        vectors = self._vectors(inputs)
        G = self._inequality_matrix(vectors.keep)
        balance = slice(self.units.count * self.horizon, self.A.shape[0])
        status, self.last = solve_direct(self.P, self.A, G, vectors, self.solver, self.max_iterations, balance)
        if self.last is None:
            return ClearingResult(status[:32], 0.0, None, time.perf_counter() - started)
        schedule = self._schedule(inputs, self.last)
        return ClearingResult(OPTIMAL, self.last.objective, schedule, time.perf_counter() - started)

    # -- the outcome -------------------------------------------------------------------------------------

    def _schedule(self, inputs: MarketInputs, solution: Solution) -> Schedule:
        lay, h, x = self.layout, self.horizon, solution.x
        nu = self.units.count
        ch = x[lay.block("ch")].reshape(nu, h)[:, 0] if nu else np.zeros(0)
        dis = x[lay.block("dis")].reshape(nu, h)[:, 0] if nu else np.zeros(0)
        community = tuple(float(x[lay.block(name).start]) for name in ("GB", "GS", "U", "K"))
        return pool_schedule(
            inputs,
            storage_first(self.units, self.n, ch, dis),
            (community[0], community[1], community[2], community[3]),
            float(solution.balance_dual[0]),
        )

    def horizon_totals(self) -> tuple[float, float, float]:
        """After a solve: storage throughput, unserved and curtailed energy over the whole horizon (kWh)."""
        return horizon_totals(self.last, self.layout, "U", "K")


Clearing: TypeAlias = "ClearingModel | DirectPoolModel | DirectRingModel | BlockedClearing"


def build_clearing(
    storage: Storage,
    horizon: int,
    dt_hours: float,
    costs: Costs,
    solver: str,
    topology: str,
    neighbours: int,
    max_iterations: int = 0,
    path: str = "direct",
    blocking: Blocking | None = None,
) -> Clearing:
    """The clearing of a topology by ``path``: ``direct`` hands the programme's matrices to PIQP or Clarabel
    (``DirectPoolModel``, ``DirectRingModel``); other solvers and ``cvxpy`` go through ``optimizer.clearing``.
    With a ``blocking`` that joins steps, the programme is over its periods and is asked with inputs over
    every step (``optimizer.blocking.BlockedClearing``)."""
    if path not in PATHS:
        raise ValueError(f"unknown clearing path {path!r}; use one of {', '.join(PATHS)}")
    if blocking is not None and blocking.horizon != horizon:
        raise ValueError(f"a blocking of {blocking.horizon} steps for a horizon of {horizon}")
    periods = None if blocking is None or blocking.exact else blocking.periods
    h = horizon if periods is None else periods.size
    model: ClearingModel | DirectPoolModel | DirectRingModel
    if path == "direct" and solver in DIRECT_SOLVERS and topology == "pool":
        model = DirectPoolModel(storage, h, dt_hours, costs, solver, max_iterations, periods)
    elif path == "direct" and solver in DIRECT_SOLVERS and topology == "ring":
        model = DirectRingModel(storage, h, dt_hours, costs, solver, neighbours, max_iterations, periods)
    else:
        from optimizer.clearing import build_model  # CVXPY is imported only where a clearing goes through it

        model = build_model(storage, h, dt_hours, costs, solver, topology, neighbours, max_iterations, periods)
    return model if blocking is None or periods is None else BlockedClearing(model, blocking)
