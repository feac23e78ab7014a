"""The clearing handed to the solver as matrices: the same linear programmes as
``optimizer.clearing.PoolModel`` and ``RingModel`` (which state them in CVXPY and stay their readable form
and cross-check), with the matrices built once per model and only the vectors that change set each step.
The pool's layout follows; the ring's is in ``DirectRingModel``.

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
import warnings
from dataclasses import dataclass

import clarabel
import numpy as np
import numpy.typing as npt
import piqp
import scipy.sparse as sp

from optimizer.blocking import BlockedClearing, Blocking
from optimizer.clearing import (
    _SNAP,
    FALLBACK_SOLVER,
    MIN_DEFICIT_COST,
    OPTIMAL,
    SOLVER_OPTIONS,
    ClearingModel,
    ClearingResult,
    Costs,
    MarketInputs,
    Schedule,
    Units,
    build_model,
    grid_limits,
    period_steps,
    pool_schedule,
    ring_links,
    storage_first,
)
from optimizer.flows import Array, Mask, Storage

DIRECT_SOLVERS = ("PIQP", "CLARABEL")
"""Solvers the direct path hands its matrices to; any other runs through CVXPY."""
PATHS = ("direct", "cvxpy")
VOLUME_MARGIN = 1e-6
"""$/kWh by which the grid spread must exceed the P2P fee before a step's volume row is dropped, so that
no optimum lies within rounding of one that breaks the row."""
_PIQP_STATUS = {
    "PIQP_SOLVED": OPTIMAL,
    "PIQP_MAX_ITER_REACHED": "user_limit",
    "PIQP_PRIMAL_INFEASIBLE": "infeasible",
    "PIQP_DUAL_INFEASIBLE": "unbounded",
}
_CLARABEL_STATUS = {
    "Solved": OPTIMAL,
    "PrimalInfeasible": "infeasible",
    "DualInfeasible": "unbounded",
    "AlmostSolved": "optimal_inaccurate",
    "AlmostPrimalInfeasible": "infeasible_inaccurate",
    "AlmostDualInfeasible": "unbounded_inaccurate",
    "MaxIterations": "user_limit",
    "MaxTime": "user_limit",
}


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


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each variable block starts in ``x``: (name, size) in order."""

    sizes: tuple[tuple[str, int], ...]

    def block(self, name: str) -> slice:
        start = 0
        for key, size in self.sizes:
            if key == name:
                return slice(start, start + size)
            start += size
        raise KeyError(name)

    @property
    def size(self) -> int:
        return sum(size for _, size in self.sizes)


@dataclass(frozen=True, slots=True)
class Vectors:
    """One step's numbers: objective ``c``, equality right-hand side ``b``, inequality upper side ``h``,
    variable bounds, which P2P volume rows are kept, and the objective's constant ($)."""

    c: Array
    b: Array
    h: Array
    lower: Array
    upper: Array
    keep: Mask
    constant: float


@dataclass(frozen=True, slots=True)
class Solution:
    status: str
    x: Array
    balance_dual: Array
    """(H,) d(objective)/d(sum (P - C)) per step, the sign CVXPY gives the balance's dual."""
    objective: float


def _coo(
    rows: list[npt.NDArray[np.int64]], cols: list[npt.NDArray[np.int64]], vals: list[Array], shape: tuple[int, int]
) -> sp.csc_matrix:
    return sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape, dtype=np.float64
    )


Triplets = tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.int64]], list[Array]]


def dynamics_rows(units: Units, horizon: int, lay: Layout) -> Triplets:
    """The storage rows (U H, first in ``A``): ``s[u, t] - s[u, t-1] - eta_c ch[u, t] + dis[u, t] / eta_d``."""
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[Array] = []
    nu, h = units.count, horizon
    if not nu:
        return rows, cols, vals
    ch, dis, s = (lay.block(b).start for b in ("ch", "dis", "s"))
    cell = np.arange(nu * h)
    u = cell // h
    rows += [cell, cell, cell]
    cols += [s + cell, ch + cell, dis + cell]
    vals += [np.ones(cell.size), -units.eta_c[u], 1.0 / units.eta_d[u]]
    later = cell[cell % h > 0]
    rows.append(later)
    cols.append(s + later - 1)
    vals.append(-np.ones(later.size))
    return rows, cols, vals


def storage_vectors(
    units: Units, costs: Costs, inputs: MarketInputs, lay: Layout, periods: Array, c: Array, upper: Array
) -> None:
    """The storage blocks' costs and bounds, in place (``periods``: steps in each period)."""
    h = periods.size
    if not units.count:
        return
    c[lay.block("ch")] = np.repeat(costs.battery_wear + units.fee, h)
    c[lay.block("dis")] = costs.battery_wear
    c[lay.block("s").start + np.arange(units.count) * h + h - 1] = -inputs.terminal_value
    upper[lay.block("ch")] = upper[lay.block("dis")] = np.outer(units.step_kwh, periods).reshape(-1)
    upper[lay.block("s")] = np.repeat(units.capacity, h)


def check_inputs(inputs: MarketInputs, units: Units) -> str:
    """What CVXPY's non-negative parameters refuse (an error) or its first row makes infeasible."""
    for name in ("buy_price", "sell_price", "import_kwh", "export_kwh"):
        if np.any(np.asarray(getattr(inputs, name)) < 0):
            raise ValueError(f"{name} must be non-negative")
    if np.any(inputs.production.sum(axis=0) < 0) or np.any(inputs.consumption.sum(axis=0) < 0):
        raise ValueError("the community's production and consumption must be non-negative")
    if inputs.terminal_value < 0:
        raise ValueError("terminal_value must be non-negative")
    soc0 = units.soc0(inputs.soc, inputs.shared_soc)
    if np.any(soc0 < 0):
        raise ValueError("states of charge must be non-negative")
    return "infeasible" if np.any(soc0 > units.capacity) else ""


def solve_direct(
    P: sp.csc_matrix, A: sp.csc_matrix, G: sp.csc_matrix, v: Vectors, solver: str, max_iterations: int, balance: slice
) -> tuple[str, Solution | None]:
    """The configured solver, then Clarabel where it reports no optimum: (status, the optimum or None).
    ``balance`` picks the balance rows' duals out of the equality duals."""
    status = "not solved"
    for name in dict.fromkeys([solver, FALLBACK_SOLVER]):
        try:
            solution = (_piqp if name == "PIQP" else _clarabel)(P, A, G, v, max_iterations, balance)
        except (RuntimeError, ValueError) as exc:
            status = f"solver_error: {exc}"
            continue
        status = solution.status
        if status == OPTIMAL:
            return status, solution
    return status, None


def _piqp(
    P: sp.csc_matrix, A: sp.csc_matrix, G: sp.csc_matrix, v: Vectors, max_iterations: int, balance: slice
) -> Solution:
    solver = piqp.SparseSolver()
    for key, value in SOLVER_OPTIONS.get("PIQP", {}).items():
        setattr(solver.settings, key, value)
    if max_iterations:
        solver.settings.max_iter = max_iterations
    solver.settings.verbose = False
    solver.setup(P=P, c=v.c, A=A, b=v.b, G=G, h_u=v.h, x_l=v.lower, x_u=v.upper)
    status = _PIQP_STATUS.get(solver.solve().name, "solver_error")
    x = np.asarray(solver.result.x, dtype=np.float64)
    # the balance rows' y carry the sign CVXPY gives the balance's dual (tests/test_clearing_paths.py)
    dual = np.asarray(solver.result.y, dtype=np.float64)[balance]
    return Solution(status, x, dual, float(v.c @ x + v.constant))


def _clarabel(
    P: sp.csc_matrix, A: sp.csc_matrix, G: sp.csc_matrix, v: Vectors, max_iterations: int, balance: slice
) -> Solution:
    """Clarabel's conic form: ``A x + s = b`` with ``s`` in the zero cone (equalities), then the
    non-negative cone (inequalities, then the finite bounds as rows)."""
    size = A.shape[1]
    finite = np.flatnonzero(np.isfinite(v.upper))
    eye = sp.identity(size, format="csc")
    stacked = sp.vstack([A, G, eye[finite], -eye], format="csc")
    rhs = np.concatenate([v.b, v.h, v.upper[finite], -v.lower])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    if max_iterations:
        settings.max_iter = max_iterations
    cones = [clarabel.ZeroConeT(A.shape[0]), clarabel.NonnegativeConeT(rhs.size - A.shape[0])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clarabel.DefaultSolver(P, v.c, stacked, rhs, cones, settings).solve()
    status = _CLARABEL_STATUS.get(str(result.status), "solver_error")
    x = np.asarray(result.x, dtype=np.float64)
    dual = np.asarray(result.z, dtype=np.float64)[balance]
    return Solution(status, x, dual, float(v.c @ x + v.constant))


def horizon_totals(last: Solution | None, lay: Layout, unserved: str, curtailed: str) -> tuple[float, float, float]:
    """After a solve (``last``): storage throughput and the ``unserved`` and ``curtailed`` blocks summed over
    the whole horizon (kWh); zeros before any solve."""
    if last is None:
        return 0.0, 0.0, 0.0
    x = last.x
    throughput = float(x[lay.block("ch")].sum() + x[lay.block("dis")].sum())
    return throughput, float(x[lay.block(unserved)].sum()), float(x[lay.block(curtailed)].sum())


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
        return _coo(rows, cols, vals, (nu * h + h, lay.size))

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
        deficit = _coo(rows, cols, vals, (no * h, lay.size)).tocsr()
        steps = np.arange(h)
        cells = np.arange(no * h)
        volume = _coo(
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


class DirectRingModel:
    """The ring clearing on matrices; the same programme and interface as ``optimizer.clearing.RingModel``.

    Variables: ``ch, dis, s`` (U, H) as in the pool, then ``gb, gs, u, k`` (N, H) and the directed link
    flows ``f`` (E, H). Rows: the storage dynamics, then each household's balance ``gb - gs + u - k +
    sum_in f - sum_out f + sum_{u of i} (dis - ch) = C - P`` (equalities, N H); the community's import
    ``sum_i gb <= import`` and export ``sum_i gs <= export`` (H each). ``k <= P``, ``u <= C`` and the
    storage limits are bounds. No row of it is redundant."""

    def __init__(
        self,
        storage: Storage,
        horizon: int,
        dt_hours: float,
        costs: Costs,
        solver: str,
        neighbours: int,
        max_iterations: int = 0,
        periods: Array | None = None,
    ) -> None:
        if solver not in DIRECT_SOLVERS:
            raise ValueError(f"the direct path solves with {' or '.join(DIRECT_SOLVERS)}, not {solver}")
        self.n, self.horizon, self.solver, self.costs = storage.size, horizon, solver, costs
        self.max_iterations = max_iterations
        self.units = Units.of(storage, dt_hours)
        self.periods = period_steps(horizon, periods)
        links = ring_links(self.n, neighbours)
        self.directed = np.array([*links, *[(b, a) for a, b in links]], dtype=np.int64).reshape(-1, 2)
        uh, nh = self.units.count * horizon, self.n * horizon
        eh = self.directed.shape[0] * horizon
        self.layout = Layout(
            (("ch", uh), ("dis", uh), ("s", uh), ("gb", nh), ("gs", nh), ("u", nh), ("k", nh), ("f", eh))
        )
        self.A = self._equalities()
        self.G = self._inequalities()
        self.P = sp.csc_matrix((self.layout.size, self.layout.size), dtype=np.float64)
        self.last: Solution | None = None

    def _equalities(self) -> sp.csc_matrix:
        lay, h, n, nu = self.layout, self.horizon, self.n, self.units.count
        rows, cols, vals = dynamics_rows(self.units, h, lay)
        cells = np.arange(n * h)
        for name, sign in (("gb", 1.0), ("gs", -1.0), ("u", 1.0), ("k", -1.0)):
            rows.append(nu * h + cells)
            cols.append(lay.block(name).start + cells)
            vals.append(np.full(cells.size, sign))
        if nu:
            unit_cell = np.arange(nu * h)
            owner_row = nu * h + self.units.owner[unit_cell // h] * h + unit_cell % h
            rows += [owner_row, owner_row]
            cols += [lay.block("dis").start + unit_cell, lay.block("ch").start + unit_cell]
            vals += [np.ones(unit_cell.size), -np.ones(unit_cell.size)]
        if self.directed.size:
            link_cell = np.arange(self.directed.shape[0] * h)
            link, t = link_cell // h, link_cell % h
            column = lay.block("f").start + link_cell
            rows += [nu * h + self.directed[link, 1] * h + t, nu * h + self.directed[link, 0] * h + t]
            cols += [column, column]
            vals += [np.ones(link_cell.size), -np.ones(link_cell.size)]
        return _coo(rows, cols, vals, (nu * h + n * h, lay.size))

    def _inequalities(self) -> sp.csc_matrix:
        lay, h, n = self.layout, self.horizon, self.n
        cells = np.arange(n * h)
        return _coo(
            [cells % h, h + cells % h],
            [lay.block("gb").start + cells, lay.block("gs").start + cells],
            [np.ones(cells.size), np.ones(cells.size)],
            (2 * h, lay.size),
        )

    def _vectors(self, inputs: MarketInputs) -> Vectors:
        lay, units, costs, h = self.layout, self.units, self.costs, self.horizon
        for name in ("production", "consumption"):
            if np.any(np.asarray(getattr(inputs, name)) < 0):
                raise ValueError(f"{name} must be non-negative")
        c = np.zeros(lay.size)
        lower = np.zeros(lay.size)
        upper = np.full(lay.size, np.inf)
        storage_vectors(units, costs, inputs, lay, self.periods, c, upper)
        c[lay.block("gb")] = np.tile(inputs.buy_price, self.n)
        c[lay.block("gs")] = -np.tile(inputs.sell_price, self.n)
        c[lay.block("u")] = costs.unserved_penalty
        c[lay.block("k")] = costs.curtailment_penalty
        c[lay.block("f")] = costs.p2p_transaction
        upper[lay.block("u")] = inputs.consumption.reshape(-1)
        upper[lay.block("k")] = inputs.production.reshape(-1)
        b = np.zeros(self.A.shape[0])
        if units.count:
            b[np.arange(units.count) * h] = units.soc0(inputs.soc, inputs.shared_soc)
        b[units.count * h :] = (inputs.consumption - inputs.production).reshape(-1)
        limits = np.concatenate(grid_limits(inputs, float(units.step_kwh.sum()) * self.periods))
        return Vectors(c, b, limits, lower, upper, np.zeros(0, np.bool_), 0.0)

    def solve(self, inputs: MarketInputs) -> ClearingResult:
        started = time.perf_counter()
        refused = check_inputs(inputs, self.units)
        if refused:
            return ClearingResult(refused, 0.0, None, time.perf_counter() - started)
        vectors = self._vectors(inputs)
        balance = slice(self.units.count * self.horizon, self.A.shape[0])
        status, self.last = solve_direct(self.P, self.A, self.G, vectors, self.solver, self.max_iterations, balance)
        if self.last is None:
            return ClearingResult(status[:32], 0.0, None, time.perf_counter() - started)
        schedule = self._schedule(self.last)
        return ClearingResult(OPTIMAL, self.last.objective, schedule, time.perf_counter() - started)

    def _first(self, x: Array, name: str, rows: int) -> Array:
        if not rows:
            return np.zeros(0)
        column = x[self.layout.block(name)].reshape(rows, self.horizon)[:, 0]
        return np.where(column < _SNAP, 0.0, column)

    def _schedule(self, solution: Solution) -> Schedule:
        n, nu = self.n, self.units.count
        ch = solution.x[self.layout.block("ch")].reshape(nu, self.horizon)[:, 0] if nu else np.zeros(0)
        dis = solution.x[self.layout.block("dis")].reshape(nu, self.horizon)[:, 0] if nu else np.zeros(0)
        charge, discharge, shared_charge, shared_discharge = storage_first(self.units, n, ch, dis)
        flows = self._first(solution.x, "f", self.directed.shape[0])
        edges = tuple((int(s), int(b), float(f)) for (s, b), f in zip(self.directed, flows, strict=True) if f > 0)
        p2p_sell, p2p_buy = np.zeros(n), np.zeros(n)
        for s, b, f in edges:
            p2p_sell[s] += f
            p2p_buy[b] += f
        # household i's balance is oriented as CVXPY's (its production enters with the sign of inflow): one
        # more kWh there is worth minus its dual, as in ``RingModel._schedule``
        duals = -solution.balance_dual.reshape(n, self.horizon)[:, 0]
        traders = (p2p_sell + p2p_buy) > 0
        price = float(duals[traders].mean() if traders.any() else duals.mean())
        return Schedule(
            grid_buy=self._first(solution.x, "gb", n),
            grid_sell=self._first(solution.x, "gs", n),
            p2p_buy=p2p_buy,
            p2p_sell=p2p_sell,
            charge=charge,
            discharge=discharge,
            shared_charge=shared_charge,
            shared_discharge=shared_discharge,
            curtailed=self._first(solution.x, "k", n),
            unserved=self._first(solution.x, "u", n),
            edges=edges,
            marginal_price=price,
        )

    def horizon_totals(self) -> tuple[float, float, float]:
        """After a solve: storage throughput, unserved and curtailed energy over the whole horizon (kWh)."""
        return horizon_totals(self.last, self.layout, "u", "k")


Clearing = ClearingModel | DirectPoolModel | DirectRingModel | BlockedClearing


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
        model = build_model(storage, h, dt_hours, costs, solver, topology, neighbours, max_iterations, periods)
    return model if blocking is None or periods is None else BlockedClearing(model, blocking)
