"""The clearing model: a linear programme over N households and H steps, built once, re-solved each step.

Every input that changes between steps is a ``cp.Parameter`` and the problem is DPP, so CVXPY compiles it
once and each step only updates numbers. Constraints are vectorised over households and steps.

Notation (all (N, H) arrays in kWh per step unless said): ``P`` production, ``C`` consumption, ``gb/gs``
grid buy/sell, ``pb/ps`` P2P buy/sell, ``ch/dis`` battery charge/discharge, ``u`` unserved, ``k``
curtailed, ``s`` state of charge (N, H+1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from optimizer.flows import Array, Batteries

OPTIMAL = "optimal"


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
    """(N,) kWh at the start of the first step"""
    buy_price: Array
    """(H,) $/kWh"""
    sell_price: Array
    """(H,) $/kWh"""
    import_kwh: Array
    """(H,) community import limit, kWh per step"""
    export_kwh: Array
    """(H,) community export limit, kWh per step"""
    terminal_value: float
    """$/kWh of energy left in batteries at the horizon end"""


@dataclass(frozen=True, slots=True)
class Schedule:
    """The first step of a solved clearing, per household (N,) in kWh."""

    grid_buy: Array
    grid_sell: Array
    p2p_buy: Array
    p2p_sell: Array
    charge: Array
    discharge: Array
    curtailed: Array
    unserved: Array


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """A solver outcome is a value: ``schedule`` is None unless ``status`` is optimal."""

    status: str
    objective: float
    schedule: Schedule | None
    solve_seconds: float


def energy_balance(P: cp.Expression, C: cp.Expression, v: dict[str, cp.Variable]) -> cp.Constraint:
    """Household balance each step: ``P + gb + pb + dis + u == C + gs + ps + ch + k``."""
    return P + v["gb"] + v["pb"] + v["dis"] + v["u"] == C + v["gs"] + v["ps"] + v["ch"] + v["k"]


def storage_dynamics(v: dict[str, cp.Variable], soc0: cp.Parameter, b: Batteries) -> list[cp.Constraint]:
    """``s[:, 0] = soc0``; ``s[:, t+1] = s[:, t] + eta_c * ch[:, t] - dis[:, t] / eta_d``."""
    s = v["s"]
    eta_c = b.charge_efficiency[:, None]
    inv_eta_d = (1.0 / b.discharge_efficiency)[:, None]
    return [
        s[:, 0] == soc0,
        s[:, 1:] == s[:, :-1] + cp.multiply(eta_c, v["ch"]) - cp.multiply(inv_eta_d, v["dis"]),
    ]


def storage_limits(v: dict[str, cp.Variable], b: Batteries, dt_hours: float) -> list[cp.Constraint]:
    """``0 <= s <= capacity``; ``ch, dis <= max_power * dt``."""
    step_kwh = (b.max_power_kw * dt_hours)[:, None]
    return [v["s"] <= b.capacity_kwh[:, None], v["ch"] <= step_kwh, v["dis"] <= step_kwh]


def slack_limits(P: cp.Expression, C: cp.Expression, v: dict[str, cp.Variable]) -> list[cp.Constraint]:
    """Only production can be curtailed and only consumption unserved: ``k <= P``, ``u <= C``."""
    return [v["k"] <= P, v["u"] <= C]


def pool_balance(v: dict[str, cp.Variable]) -> cp.Constraint:
    """P2P pool: each step, what is bought equals what is sold: ``sum_i pb[i, t] == sum_i ps[i, t]``."""
    return cp.sum(v["pb"], axis=0) == cp.sum(v["ps"], axis=0)


def grid_limits(v: dict[str, cp.Variable], imp: cp.Parameter, exp: cp.Parameter) -> list[cp.Constraint]:
    """Transformer: ``sum_i gb[i, t] <= import[t]``, ``sum_i gs[i, t] <= export[t]`` (kWh per step)."""
    return [cp.sum(v["gb"], axis=0) <= imp, cp.sum(v["gs"], axis=0) <= exp]


def community_cost(v: dict[str, cp.Variable], p: dict[str, cp.Parameter], costs: Costs) -> cp.Expression:
    """``buy . sum gb - sell . sum gs + c_p2p sum pb + c_wear sum(ch + dis) + c_u sum u + c_k sum k
    - terminal_value * sum s[:, H]``."""
    return (
        p["buy"] @ cp.sum(v["gb"], axis=0)
        - p["sell"] @ cp.sum(v["gs"], axis=0)
        + costs.p2p_transaction * cp.sum(v["pb"])
        + costs.battery_wear * cp.sum(v["ch"] + v["dis"])
        + costs.unserved_penalty * cp.sum(v["u"])
        + costs.curtailment_penalty * cp.sum(v["k"])
        - p["terminal"] * cp.sum(v["s"][:, -1])
    )


class ClearingModel:
    """The pool market for a fixed set of households and horizon; ``solve`` re-uses the compiled problem."""

    def __init__(self, batteries: Batteries, horizon: int, dt_hours: float, costs: Costs, solver: str) -> None:
        n, h = batteries.capacity_kwh.size, horizon
        self.n, self.horizon, self.solver = n, h, solver
        self.p = {
            "P": cp.Parameter((n, h), nonneg=True, name="production"),
            "C": cp.Parameter((n, h), nonneg=True, name="consumption"),
            "soc0": cp.Parameter(n, nonneg=True, name="soc0"),
            "buy": cp.Parameter(h, nonneg=True, name="buy_price"),
            "sell": cp.Parameter(h, nonneg=True, name="sell_price"),
            "imp": cp.Parameter(h, nonneg=True, name="import_kwh"),
            "exp": cp.Parameter(h, nonneg=True, name="export_kwh"),
            "terminal": cp.Parameter(nonneg=True, name="terminal_value"),
        }
        self.v = {
            name: cp.Variable((n, h), nonneg=True, name=name)
            for name in ("gb", "gs", "pb", "ps", "ch", "dis", "u", "k")
        }
        self.v["s"] = cp.Variable((n, h + 1), nonneg=True, name="s")
        P, C = self.p["P"], self.p["C"]
        constraints = [
            energy_balance(P, C, self.v),
            *storage_dynamics(self.v, self.p["soc0"], batteries),
            *storage_limits(self.v, batteries, dt_hours),
            *slack_limits(P, C, self.v),
            pool_balance(self.v),
            *grid_limits(self.v, self.p["imp"], self.p["exp"]),
        ]
        self.problem = cp.Problem(cp.Minimize(community_cost(self.v, self.p, costs)), constraints)
        assert self.problem.is_dcp(dpp=True), "the clearing model must be DPP"

    def solve(self, inputs: MarketInputs) -> ClearingResult:
        p = self.p
        p["P"].value = inputs.production
        p["C"].value = inputs.consumption
        p["soc0"].value = inputs.soc
        p["buy"].value = inputs.buy_price
        p["sell"].value = inputs.sell_price
        p["imp"].value = inputs.import_kwh
        p["exp"].value = inputs.export_kwh
        p["terminal"].value = inputs.terminal_value
        try:
            self.problem.solve(solver=self.solver)
        except cp.error.SolverError as exc:
            return ClearingResult(f"solver_error: {exc}"[:32], 0.0, None, 0.0)
        status = str(self.problem.status)
        seconds = float(self.problem.solver_stats.solve_time or 0.0)
        if status != cp.OPTIMAL:
            return ClearingResult(status[:32], 0.0, None, seconds)
        v = self.v

        def first(name: str) -> Array:
            value = np.asarray(v[name].value[:, 0], dtype=np.float64)
            return np.where(value < 1e-9, 0.0, value)

        schedule = Schedule(
            first("gb"), first("gs"), first("pb"), first("ps"), first("ch"), first("dis"), first("k"), first("u")
        )
        return ClearingResult(OPTIMAL, float(self.problem.value), schedule, seconds)
