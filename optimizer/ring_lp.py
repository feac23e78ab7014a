"""The ring clearing handed to the solver as matrices: the same programme as
``optimizer.clearing.RingModel`` (its readable form and cross-check), the matrices built once per model and
only the vectors set each step."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from optimizer.flows import Array, Storage
from optimizer.lp_layout import Layout, check_inputs, coo, dynamics_rows, horizon_totals, storage_vectors
from optimizer.lp_solvers import DIRECT_SOLVERS, Solution, Vectors, solve_direct
from optimizer.programme import (
    OPTIMAL,
    SNAP,
    ClearingResult,
    Costs,
    MarketInputs,
    Schedule,
    Units,
    grid_limits,
    period_steps,
    ring_links,
    storage_first,
)


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
        return coo(rows, cols, vals, (nu * h + n * h, lay.size))

    def _inequalities(self) -> sp.csc_matrix:
        lay, h, n = self.layout, self.horizon, self.n
        cells = np.arange(n * h)
        return coo(
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
        return np.where(column < SNAP, 0.0, column)

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
