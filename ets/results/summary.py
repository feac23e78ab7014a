"""KPIs of a run: what the community saves against the baseline, who gains, and how the network did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ets.check.bound import total_cost
from ets.results.tables import community_cost, peak_import_kw, per_household_cost
from optimizer.valuation import Valuation
from runtime.params import Params

SAVING_TOLERANCE = 1e-6
"""A household is worse off when it pays more than this ($) over the baseline."""
FALLBACK_STEPS_LISTED = 20
"""How many steps ``fallback_summary`` names for each reason (the count covers them all)."""


def energy_kpis(frame: pd.DataFrame) -> dict[str, float]:
    production = float(frame["production"].sum())
    consumption = float(frame["consumption"].sum())
    grid_buy = float(frame["grid_buy"].sum())
    grid_sell = float(frame["grid_sell"].sum())
    unserved = float(frame["unserved_kwh"].sum())
    curtailed = float(frame["curtailed_kwh"].sum())
    return {
        "community_cost": community_cost(frame),
        "grid_purchase_cost": float((frame["grid_buy"] * frame["grid_buy_price"]).sum()),
        "grid_sale_revenue": float((frame["grid_sell"] * frame["grid_sell_price"]).sum()),
        "grid_import_kwh": grid_buy,
        "grid_export_kwh": grid_sell,
        "p2p_volume_kwh": float(frame["p2p_sell_amount"].sum()),
        "peak_import_kw": peak_import_kw(frame),
        "curtailed_kwh": curtailed,
        "unserved_kwh": unserved,
        "self_sufficiency": 1.0 - (grid_buy + unserved) / consumption if consumption > 0 else 0.0,
        "self_consumption": 1.0 - (grid_sell + curtailed) / production if production > 0 else 0.0,
        "fees": float(frame["fees"].sum()),
        "final_stored_kwh": float(frame[frame["step"] == frame["step"].max()]["stored_kwh"].sum()),
        "capacity_violations": capacity_violations(frame),
        "import_limit_binding_steps": binding_steps(frame, "grid_buy", "grid_import_capacity_kw"),
        "export_limit_binding_steps": binding_steps(frame, "grid_sell", "grid_export_capacity_kw"),
    }


def _per_step(frame: pd.DataFrame, column: str, capacity: str) -> tuple[np.ndarray, np.ndarray]:
    g = frame.groupby("step")
    used = g[column].sum().to_numpy()
    limit = (g[capacity].first() * g["dt_hours"].first()).to_numpy()
    return used, limit


def capacity_violations(frame: pd.DataFrame, tolerance: float = 1e-6) -> int:
    """Steps in which the community imported or exported more than the transformer allows."""
    count = 0
    for column, capacity in (("grid_buy", "grid_import_capacity_kw"), ("grid_sell", "grid_export_capacity_kw")):
        used, limit = _per_step(frame, column, capacity)
        count += int((used > limit + tolerance).sum())
    return count


def binding_steps(frame: pd.DataFrame, column: str, capacity: str, tolerance: float = 1e-6) -> int:
    """Steps in which the community used all of a transformer limit."""
    used, limit = _per_step(frame, column, capacity)
    return int((used >= limit - tolerance).sum())


def default_valuation() -> Valuation:
    o = Params().optimizer
    return Valuation(o.terminal_value_per_kwh, o.value_of_lost_load)


def value_costs(frame: pd.DataFrame, valuation: Valuation) -> pd.Series:
    """Each household's value cost over the run ($): cash paid, less its storage left at the end at the
    terminal value, plus its unserved energy at the value of lost load (``optimizer.valuation``)."""
    by = frame.groupby("household_id", sort=False)
    last = frame[frame["step"] == frame["step"].max()].set_index("household_id")
    stored = (last["stored_kwh"] + last["community_stored_kwh"]).reindex(by["cost"].sum().index)
    cost: pd.Series = valuation.cost(by["cost"].sum(), stored, by["unserved_kwh"].sum())
    return cost


def summarize(
    baseline: pd.DataFrame,
    optimized: pd.DataFrame,
    metrics: pd.DataFrame | None = None,
    valuation: Valuation | None = None,
) -> dict[str, Any]:
    """KPIs; savings are value savings (``value_costs``) with the cash saving beside them."""
    valuation = valuation or default_valuation()
    base, opt = energy_kpis(baseline), energy_kpis(optimized)
    base_h, opt_h = value_costs(baseline, valuation), value_costs(optimized, valuation)
    base["value_cost"], opt["value_cost"] = float(base_h.sum()), float(opt_h.sum())
    saving = base["value_cost"] - opt["value_cost"]
    ref = total_cost(baseline, valuation)
    base_cash, opt_cash = per_household_cost(baseline), per_household_cost(optimized)
    transfers = optimized.groupby("household_id", sort=False)["transfer"].sum()
    households = {
        hid: {
            "baseline_cost": float(base_h[hid]),
            "optimized_cost": float(opt_h[hid]),
            "saving": float(base_h[hid] - opt_h[hid]),
            "cash_saving": float(base_cash[hid] - opt_cash[hid]),
            "transfer": float(transfers[hid]),
            "saving_before_transfer": float(base_h[hid] - opt_h[hid] + transfers[hid]),
        }
        for hid in base_h.index
    }
    summary: dict[str, Any] = {
        "steps": int(optimized["step"].nunique()),
        "households": len(households),
        "baseline": base,
        "optimized": opt,
        "saving": saving,
        "saving_basis": (
            "value: cash, less the energy stored at the end at optimizer.terminal_value_per_kwh, plus unserved "
            "energy at optimizer.value_of_lost_load (both runs alike)"
        ),
        "cash_saving": base["community_cost"] - opt["community_cost"],
        "saving_pct": 100.0 * saving / ref if ref > 0 else 0.0,
        "saving_pct_basis": "the baseline's total cost: grid purchases, fees and the value of its lost load",
        "households_worse_off": sum(1 for h in households.values() if h["saving"] < -SAVING_TOLERANCE),
        "households_worse_off_before_transfers": sum(
            1 for h in households.values() if h["saving_before_transfer"] < -SAVING_TOLERANCE
        ),
        "per_household": households,
    }
    if metrics is not None and len(metrics):
        summary["network"] = network_kpis(metrics)
    return summary


def fallback_summary(fallbacks: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """``summary.json``'s ``fallback``: how many steps fell back to the baseline policy because their
    clearing failed (``fallbacks``: each such block's step and reason, ``Digest.fallbacks``), and for each
    reason, how many and the first of them."""
    by_reason: dict[str, list[int]] = {}
    for step, reason in fallbacks:
        by_reason.setdefault(reason, []).append(step)
    return {
        "steps": sum(map(len, by_reason.values())),
        "reasons": [
            {"reason": reason, "steps": len(steps), "first_steps": steps[:FALLBACK_STEPS_LISTED]}
            for reason, steps in by_reason.items()
        ],
    }


def network_kpis(metrics: pd.DataFrame) -> dict[str, float | None]:
    """Over the steps measured: a row the coordinator restored from its ledger after a restart has no
    latency, solve time or bytes (``coordinator.metrics.restore_metrics``); None where none was measured."""
    measured = metrics.dropna(subset=["latency_ms"])

    def percentile(column: str, q: float) -> float | None:
        return float(np.percentile(measured[column], q)) if len(measured) else None

    return {
        "step_latency_p50_ms": percentile("latency_ms", 50),
        "step_latency_p99_ms": percentile("latency_ms", 99),
        "solve_p50_ms": percentile("solve_ms", 50),
        "bytes_per_step": float((measured["bytes_in"] + measured["bytes_out"]).mean()) if len(measured) else None,
        "block_bytes_mean": float(metrics["block_bytes"].mean()),
        "rejected_messages": int(measured["rejected"].sum()),
        "absent_household_steps": int(metrics["absent"].sum()),
    }


def optimum_line(optimum: dict[str, object]) -> str:
    """The run against the perfect-foresight optimum, in words."""
    if optimum.get("status") != "optimal":
        return f"not computed (solver status {optimum.get('status')})"
    gap, pct, possible = (float(str(optimum[k])) for k in ("gap", "gap_pct", "possible_saving"))
    captured = optimum.get("saving_captured_pct")
    text = f"gap ${gap:.2f} ({pct:.2f}% of the baseline's total cost); "
    if captured is None:
        return text + f"it saves only ${possible:.2f} over the baseline, too little to measure the run by"
    return text + f"the run captured {float(str(captured)):.1f}% of its ${possible:.2f} saving"
