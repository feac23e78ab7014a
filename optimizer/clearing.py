"""The clearing model: a linear programme over the community and a horizon of H steps, built once per run
and re-solved each step with new numbers (every changing input is a ``cp.Parameter``; the problem is DPP).

Two exact formulations, by topology:

* ``pool`` (everyone trades with everyone): only the community's grid exchange, unserved and curtailed
  energy, the storage units and, for households with storage, their deficit are variables. What a
  household without storage brings to the bus is fixed by its data, so such households enter as sums.
  Each household's grid and P2P split is recovered afterwards (any split of the optimum is optimal).
* ``ring`` (each household trades with its k nearest neighbours on a ring): every household has grid,
  slack and storage variables, and every neighbour link carries a flow in each direction, so the
  neighbour limit is part of the model.

Storage units are the households' own batteries and their partitions of the community battery
(capacity > 0 only). Energies are kWh per step.
"""

from __future__ import annotations

import time
import warnings

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from optimizer.flows import Array, Storage
from optimizer.programme import (
    FALLBACK_SOLVER,
    ITERATION_OPTIONS,
    MIN_DEFICIT_COST,
    OPTIMAL,
    SNAP,
    SOLVER_OPTIONS,
    TOPOLOGIES,
    ClearingResult,
    Costs,
    MarketInputs,
    Schedule,
    Units,
    grid_limits,
    period_steps,
    pool_schedule,
    ring_links,
    storage_first,
)


def storage_variables(units: Units, horizon: int) -> dict[str, cp.Variable]:
    return {
        "ch": cp.Variable((units.count, horizon), nonneg=True, name="charge"),
        "dis": cp.Variable((units.count, horizon), nonneg=True, name="discharge"),
        "s": cp.Variable((units.count, horizon + 1), nonneg=True, name="soc"),
    }


def storage_dynamics(v: dict[str, cp.Variable], soc0: cp.Parameter, units: Units) -> list[cp.Constraint]:
    """``s[:, 0] = soc0``; ``s[:, t+1] = s[:, t] + eta_c * ch[:, t] - dis[:, t] / eta_d``."""
    s = v["s"]
    return [
        s[:, 0] == soc0,
        s[:, 1:]
        == s[:, :-1] + cp.multiply(units.eta_c[:, None], v["ch"]) - cp.multiply((1 / units.eta_d)[:, None], v["dis"]),
    ]


def storage_limits(v: dict[str, cp.Variable], units: Units, periods: Array) -> list[cp.Constraint]:
    """``0 <= s <= capacity``; ``ch, dis <= max_power * dt * steps of the period``."""
    most = np.outer(units.step_kwh, periods)
    return [v["s"] <= units.capacity[:, None], v["ch"] <= most, v["dis"] <= most]


def storage_cost(v: dict[str, cp.Variable], units: Units, costs: Costs, terminal: cp.Parameter) -> cp.Expression:
    """``c_wear * sum(ch + dis) + sum_u fee_u * sum_t ch[u, t] - terminal_value * sum_u s[u, H]``."""
    return (
        costs.battery_wear * cp.sum(v["ch"] + v["dis"])
        + cp.sum(cp.multiply(units.fee[:, None], v["ch"]))
        - terminal * cp.sum(v["s"][:, -1])
    )


def _problem(objective: cp.Expression, constraints: list[cp.Constraint]) -> cp.Problem:
    """Minimise ``objective`` through one epigraph variable, so that the objective itself carries no
    parameters (CVXPY's QP path expands parametrised objectives into dense tensors)."""
    cost = cp.Variable(name="cost")
    return cp.Problem(cp.Minimize(cost), [*constraints, cost == objective])


def _grid_parameters(h: int) -> dict[str, cp.Parameter]:
    return {
        "buy": cp.Parameter(h, nonneg=True, name="buy_price"),
        "sell": cp.Parameter(h, nonneg=True, name="sell_price"),
        "imp": cp.Parameter(h, nonneg=True, name="import_kwh"),
        "exp": cp.Parameter(h, nonneg=True, name="export_kwh"),
        "terminal": cp.Parameter(nonneg=True, name="terminal_value"),
    }


def _set_grid(p: dict[str, cp.Parameter], inputs: MarketInputs, storage_kwh: float | Array) -> None:
    """The grid's prices and limits. A limit above ``FAR_KWH`` and above what the community could ever
    move (every household's consumption, or production, and every storage unit at full power
    ``storage_kwh``, plus 1 kWh) is given as that amount: it cannot bind there either, since the grid's
    buy price is above its sell price and importing more (or exporting) would only buy energy to sell it
    again; a limit of ``grid_capacity.use_capacity_limits = false`` (1e9 kW) left the solver inaccurate."""
    p["buy"].value = inputs.buy_price
    p["sell"].value = inputs.sell_price
    p["imp"].value, p["exp"].value = grid_limits(inputs, storage_kwh)
    p["terminal"].value = inputs.terminal_value


def _first(var: cp.Variable | None, rows: int) -> Array:
    if var is None:
        return np.zeros(rows)
    value = np.asarray(var.value, dtype=np.float64)
    column = value[:, 0] if value.ndim == 2 else value[:1]
    return np.where(column < SNAP, 0.0, column)


class _Model:
    """What both formulations share: storage, solving and turning a solver outcome into a value."""

    def __init__(
        self,
        storage: Storage,
        horizon: int,
        dt_hours: float,
        costs: Costs,
        solver: str,
        max_iterations: int,
        periods: Array | None = None,
    ) -> None:
        self.n, self.horizon, self.solver, self.costs = storage.size, horizon, solver, costs
        self.max_iterations = max_iterations
        self.units = Units.of(storage, dt_hours)
        self.periods = period_steps(horizon, periods)
        self.v: dict[str, cp.Variable] = storage_variables(self.units, horizon) if self.units.count else {}
        self.p = _grid_parameters(horizon)
        if self.units.count:
            self.p["soc0"] = cp.Parameter(self.units.count, nonneg=True, name="soc0")
        self.problem: cp.Problem

    def _storage_parts(self) -> tuple[list[cp.Constraint], cp.Expression]:
        if not self.units.count:
            return [], cp.Constant(0.0)
        constraints = [
            *storage_dynamics(self.v, self.p["soc0"], self.units),
            *storage_limits(self.v, self.units, self.periods),
        ]
        return constraints, storage_cost(self.v, self.units, self.costs, self.p["terminal"])

    def _set(self, inputs: MarketInputs) -> None:
        raise NotImplementedError

    def _schedule(self, inputs: MarketInputs) -> Schedule:
        raise NotImplementedError

    def solve(self, inputs: MarketInputs) -> ClearingResult:
        _set_grid(self.p, inputs, float(self.units.step_kwh.sum()) * self.periods)
        if self.units.count:
            self.p["soc0"].value = self.units.soc0(inputs.soc, inputs.shared_soc)
        self._set(inputs)
        started = time.perf_counter()
        status = "not solved"
        for solver in dict.fromkeys([self.solver, FALLBACK_SOLVER]):
            status = self._try(solver)
            if status == OPTIMAL:
                seconds = time.perf_counter() - started
                return ClearingResult(OPTIMAL, float(self.problem.value), self._schedule(inputs), seconds)
        return ClearingResult(status[:32], 0.0, None, time.perf_counter() - started)

    def solver_options(self, solver: str) -> dict[str, object]:
        """``solver``'s options: its tuning, and the iteration limit where one is set (0: its own)."""
        options: dict[str, object] = dict(SOLVER_OPTIONS.get(solver, {}))
        if self.max_iterations:
            options.update(dict.fromkeys(ITERATION_OPTIONS.get(solver, ()), self.max_iterations))
        return options

    def _try(self, solver: str) -> str:
        """Solve with ``solver``; the status, never a solver error.

        Never warm-started: a solver updated from the last step's data lands a few ulps away from one set
        up afresh, so a coordinator restarted mid-run (or a resumed run) would clear differently from one
        that ran through. Set up afresh every step, a step's clearing depends on its inputs alone (and it
        costs no measurable time on this model)."""
        options = self.solver_options(solver)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # an inaccurate solution is a status here
                self.problem.solve(solver=solver, warm_start=False, **options)
        except cp.error.SolverError as exc:
            return f"solver_error: {exc}"
        return str(self.problem.status)

    def horizon_totals(self) -> tuple[float, float, float]:
        """After a solve: storage throughput, unserved and curtailed energy over the whole horizon (kWh)."""

        def total(*names: str) -> float:
            return sum(float(np.sum(self.v[n].value)) for n in names if n in self.v and self.v[n].value is not None)

        return total("ch", "dis"), total("U", "u"), total("K", "k")

    def _storage_first(self) -> tuple[Array, Array, Array, Array]:
        """(charge, discharge, shared_charge, shared_discharge) per household in the first step."""
        if not self.units.count:
            return storage_first(self.units, self.n, np.zeros(0), np.zeros(0))
        ch, dis = (np.asarray(self.v[name].value, dtype=np.float64)[:, 0] for name in ("ch", "dis"))
        return storage_first(self.units, self.n, ch, dis)


class PoolModel(_Model):
    """Everyone trades with everyone; households without storage enter as sums (exact, see module doc).

    Variables: storage ``ch, dis, s`` (U units); deficit ``d`` (households with storage); community grid
    import ``GB``, export ``GS``, unserved ``U``, curtailed ``K`` per step. With ``x_o = P_o - C_o +
    sum_{u of o}(dis_u - ch_u)`` what household ``o`` brings to the bus:

    * ``d_o >= -x_o`` (a deficit is what a household must get from outside);
    * bus balance: ``GS + K - GB - U = sum_o x_o + sum_{others}(P - C)``;
    * P2P volume is what deficits get from peers: ``0 <= sum_o d_o + D_others - GB - U``;
    * ``GB <= import``, ``GS <= export``, ``U <= sum C``, ``K <= sum P``.

    Cost: ``buy . GB - sell . GS + c_p2p (sum d + D_others - GB - U) + storage + c_u sum U + c_k sum K``.
    """

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
        super().__init__(storage, horizon, dt_hours, costs, solver, max_iterations, periods)
        h = horizon
        self.owners = np.unique(self.units.owner)
        p, v = self.p, self.v
        for name in ("fixed_net", "net_total"):
            p[name] = cp.Parameter(h, name=name)
        for name in ("fixed_deficit", "prod_total", "cons_total"):
            p[name] = cp.Parameter(h, nonneg=True, name=name)
        for name in ("GB", "GS", "U", "K"):
            v[name] = cp.Variable(h, nonneg=True, name=name)
        supplied = p["fixed_net"]
        deficits: cp.Expression = p["fixed_deficit"]
        constraints, cost = self._storage_parts()
        if self.units.count:
            p["net_o"] = cp.Parameter((self.owners.size, h), name="owner_net")
            v["d"] = cp.Variable((self.owners.size, h), nonneg=True, name="deficit")
            owned = self.units.ownership(self.owners)
            x = p["net_o"] + owned @ (v["dis"] - v["ch"])
            constraints.append(v["d"] >= -x)
            supplied = supplied + cp.sum(x, axis=0)
            deficits = deficits + cp.sum(v["d"], axis=0)
        self.balance = v["GS"] + v["K"] - v["GB"] - v["U"] == supplied
        c_p2p = max(costs.p2p_transaction, MIN_DEFICIT_COST)
        constraints += [
            self.balance,
            v["GB"] + v["U"] <= deficits,
            v["GB"] <= p["imp"],
            v["GS"] <= p["exp"],
            v["U"] <= p["cons_total"],
            v["K"] <= p["prod_total"],
        ]
        objective = (
            p["buy"] @ v["GB"]
            - p["sell"] @ v["GS"]
            + c_p2p * cp.sum(deficits - v["GB"] - v["U"])
            + costs.unserved_penalty * cp.sum(v["U"])
            + costs.curtailment_penalty * cp.sum(v["K"])
            + cost
        )
        self.problem = _problem(objective, constraints)
        assert self.problem.is_dcp(dpp=True), "the pool model must be DPP"

    def _set(self, inputs: MarketInputs) -> None:
        net = inputs.production - inputs.consumption
        others = np.ones(self.n, bool)
        others[self.owners] = False
        self.p["fixed_net"].value = net[others].sum(axis=0)
        self.p["fixed_deficit"].value = np.maximum(-net[others], 0.0).sum(axis=0)
        self.p["prod_total"].value = inputs.production.sum(axis=0)
        self.p["cons_total"].value = inputs.consumption.sum(axis=0)
        if self.units.count:
            self.p["net_o"].value = net[self.owners]

    def _schedule(self, inputs: MarketInputs) -> Schedule:
        gb, gs, u, k = (float(_first(self.v[name], 1)[0]) for name in ("GB", "GS", "U", "K"))
        return pool_schedule(inputs, self._storage_first(), (gb, gs, u, k), _bus_price(self.balance.dual_value, 0))


def _bus_price(dual: object, index: int) -> float:
    """The marginal value of one more kWh supplied to the bus: the balance constraint's dual (its
    right-hand side is the supply)."""
    values = np.atleast_1d(np.asarray(dual, dtype=np.float64))
    return float(values[index])


class RingModel(_Model):
    """Each household trades only over its neighbour links; every link carries a flow each way.

    Variables per household: grid ``gb, gs``, slack ``u, k``; storage ``ch, dis, s``; per directed link
    ``f``. Balance of household i: ``P + gb + sum_in f + dis + u == C + gs + sum_out f + ch + k``;
    ``sum_i gb <= import``, ``sum_i gs <= export``, ``k <= P``, ``u <= C``.
    Cost: ``buy . sum gb - sell . sum gs + c_p2p sum f + storage + c_u sum u + c_k sum k``.
    """

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
        super().__init__(storage, horizon, dt_hours, costs, solver, max_iterations, periods)
        n, h = self.n, horizon
        links = ring_links(n, neighbours)
        self.directed = np.array([*links, *[(b, a) for a, b in links]], dtype=np.int64).reshape(-1, 2)
        p, v = self.p, self.v
        p["P"] = cp.Parameter((n, h), nonneg=True, name="production")
        p["C"] = cp.Parameter((n, h), nonneg=True, name="consumption")
        for name in ("gb", "gs", "u", "k"):
            v[name] = cp.Variable((n, h), nonneg=True, name=name)
        constraints, cost = self._storage_parts()
        inflow: cp.Expression = p["P"] + v["gb"] + v["u"]
        outflow: cp.Expression = p["C"] + v["gs"] + v["k"]
        if self.units.count:
            owned = self.units.ownership(np.arange(n))
            inflow, outflow = inflow + owned @ v["dis"], outflow + owned @ v["ch"]
        traded: cp.Expression = cp.Constant(0.0)
        if self.directed.size:
            e = self.directed.shape[0]
            v["f"] = cp.Variable((e, h), nonneg=True, name="link_flow")
            seller = sp.csr_matrix((np.ones(e), (self.directed[:, 0], np.arange(e))), shape=(n, e))
            buyer = sp.csr_matrix((np.ones(e), (self.directed[:, 1], np.arange(e))), shape=(n, e))
            inflow, outflow = inflow + buyer @ v["f"], outflow + seller @ v["f"]
            traded = cp.sum(v["f"])
        self.balance = inflow == outflow
        constraints += [
            self.balance,
            cp.sum(v["gb"], axis=0) <= p["imp"],
            cp.sum(v["gs"], axis=0) <= p["exp"],
            v["k"] <= p["P"],
            v["u"] <= p["C"],
        ]
        objective = (
            p["buy"] @ cp.sum(v["gb"], axis=0)
            - p["sell"] @ cp.sum(v["gs"], axis=0)
            + costs.p2p_transaction * traded
            + costs.unserved_penalty * cp.sum(v["u"])
            + costs.curtailment_penalty * cp.sum(v["k"])
            + cost
        )
        self.problem = _problem(objective, constraints)
        assert self.problem.is_dcp(dpp=True), "the ring model must be DPP"

    def _set(self, inputs: MarketInputs) -> None:
        self.p["P"].value = inputs.production
        self.p["C"].value = inputs.consumption

    def _schedule(self, inputs: MarketInputs) -> Schedule:
        charge, discharge, shared_charge, shared_discharge = self._storage_first()
        n = self.n
        flows = _first(self.v.get("f"), self.directed.shape[0])
        edges = tuple((int(s), int(b), float(f)) for (s, b), f in zip(self.directed, flows, strict=True) if f > 0)
        p2p_sell, p2p_buy = np.zeros(n), np.zeros(n)
        for s, b, f in edges:
            p2p_sell[s] += f
            p2p_buy[b] += f
        # household i's balance has its production on the left: one more kWh there is worth minus its dual
        duals = -np.asarray(self.balance.dual_value, dtype=np.float64)[:, 0]
        traders = (p2p_sell + p2p_buy) > 0
        price = float(duals[traders].mean() if traders.any() else duals.mean())
        return Schedule(
            grid_buy=_first(self.v["gb"], n),
            grid_sell=_first(self.v["gs"], n),
            p2p_buy=p2p_buy,
            p2p_sell=p2p_sell,
            charge=charge,
            discharge=discharge,
            shared_charge=shared_charge,
            shared_discharge=shared_discharge,
            curtailed=_first(self.v["k"], n),
            unserved=_first(self.v["u"], n),
            edges=edges,
            marginal_price=price,
        )


ClearingModel = PoolModel | RingModel


def build_model(
    storage: Storage,
    horizon: int,
    dt_hours: float,
    costs: Costs,
    solver: str,
    topology: str,
    neighbours: int,
    max_iterations: int = 0,
    periods: Array | None = None,
) -> ClearingModel:
    """The clearing model of a topology; ``max_iterations`` bounds each solver's iterations (0: its own
    limit); ``periods`` gives the steps in each of its ``horizon`` periods (all 1 unless blocked)."""
    if topology == "ring":
        return RingModel(storage, horizon, dt_hours, costs, solver, neighbours, max_iterations, periods)
    if topology == "pool":
        return PoolModel(storage, horizon, dt_hours, costs, solver, max_iterations, periods)
    raise ValueError(f"unknown topology {topology!r}; use one of {', '.join(TOPOLOGIES)}")
