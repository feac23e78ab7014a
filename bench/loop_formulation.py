"""The clearing built the way the original project built its model, for comparison only: a scalar
variable per household and step, constraints appended in Python loops over households and steps,
numbers baked in as constants, and the whole problem rebuilt and recompiled every step. Same physics and
costs as ``optimizer.clearing`` (per-household pool formulation)."""

from __future__ import annotations

import cvxpy as cp

from optimizer.flows import Storage
from optimizer.programme import Costs, MarketInputs


def solve_loop_formulation(storage: Storage, x: MarketInputs, costs: Costs) -> float:
    n, h = x.production.shape
    dt = 0.25
    gb = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
    gs = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
    pb = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
    ps = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
    u = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
    k = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
    constraints = []
    objective = 0
    for battery, soc0, fee in ((storage.own, x.soc, 0.0), (storage.shared, x.shared_soc, storage.shared_fee)):
        ch = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
        dis = [[cp.Variable(nonneg=True) for _ in range(h)] for _ in range(n)]
        s = [[cp.Variable(nonneg=True) for _ in range(h + 1)] for _ in range(n)]
        for i in range(n):
            constraints.append(s[i][0] == soc0[i])
            step_kwh = battery.max_power_kw[i] * dt
            for t in range(h):
                constraints += [
                    s[i][t + 1]
                    == s[i][t] + battery.charge_efficiency[i] * ch[i][t] - dis[i][t] / battery.discharge_efficiency[i],
                    s[i][t + 1] <= battery.capacity_kwh[i],
                    ch[i][t] <= step_kwh,
                    dis[i][t] <= step_kwh,
                ]
                objective += costs.battery_wear * (ch[i][t] + dis[i][t]) + fee * ch[i][t]
            objective -= x.terminal_value * s[i][h]
        if battery is storage.own:
            own_ch, own_dis = ch, dis
        else:
            sh_ch, sh_dis = ch, dis
    for t in range(h):
        constraints.append(sum(pb[i][t] for i in range(n)) == sum(ps[i][t] for i in range(n)))
        constraints.append(sum(gb[i][t] for i in range(n)) <= x.import_kwh[t])
        constraints.append(sum(gs[i][t] for i in range(n)) <= x.export_kwh[t])
        for i in range(n):
            p, c = float(x.production[i, t]), float(x.consumption[i, t])
            constraints += [
                p + gb[i][t] + pb[i][t] + own_dis[i][t] + sh_dis[i][t] + u[i][t]
                == c + gs[i][t] + ps[i][t] + own_ch[i][t] + sh_ch[i][t] + k[i][t],
                k[i][t] <= p,
                u[i][t] <= c,
            ]
            objective += (
                x.buy_price[t] * gb[i][t]
                - x.sell_price[t] * gs[i][t]
                + costs.p2p_transaction * pb[i][t]
                + costs.unserved_penalty * u[i][t]
                + costs.curtailment_penalty * k[i][t]
            )
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver=cp.CLARABEL)
    return float(problem.value)
