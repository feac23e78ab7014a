"""Any valid parameter set is a run that completes, verifies and keeps every balance.

Hypothesis draws parameter sets across the whole parameter model (``runtime.params``): transformer limits
down to 0 (import, export or both), tariffs of every mode, batteries and community batteries from none
to large, every forecaster and horizon, every solver with small iteration limits, both topologies, every
pricing and settlement rule. Each set runs a few steps of a few households through ``ets simulate``; the
run must exit 0, ``ets verify`` must pass, and the result CSVs must keep the physics, both on this
project's own terms and on those of the independent auditor (``../shared/tools/audit_run.py``, which
imports nothing of the project) where it is at hand.

The examples are derandomized (the same sets on every run, so CI is repeatable); ``HYPOTHESIS_PROFILE=
explore`` draws new ones, more of them, for a search by hand.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ets.cli.common import PROJECT_ROOT
from ets.results.tables import read_csv
from runtime.params import DEFAULT_START_STEP, Params
from tests.conftest import cli, only_run_dir
from tests.test_settled_rows import impossible_rows, unfair_prices

AUDITOR = Path(os.environ.get("ETS_AUDITOR", PROJECT_ROOT.parent / "shared" / "tools" / "audit_run.py"))
TOL = 1e-6

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=20_000,  # ms per example: a few steps of a few households take well under a second or two
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "explore",
    max_examples=200,
    deadline=60_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE = settings.get_profile(PROFILE_NAME)
MOST = 8 if PROFILE_NAME == "explore" else 4
"""Most households and most steps a drawn run has (larger runs when exploring)."""

AUDIT_ZERO = (
    "own_flow_negative",
    "transfer_rows_nonzero_not_last",
    "own_soc_out_of_bounds",
    "com_soc_out_of_bounds",
    "own_power_violations",
    "com_power_violations",
    "flows_without_battery",
    "simul_charge_discharge_own",
    "simul_charge_discharge_share",
    "simul_grid_buy_sell_household",
    "unserved_gt_consumption",
    "curtailed_gt_production",
    "p2p_price_outside_grid_with_volume",
    "import_over_cap_steps",
    "export_over_cap_steps",
    "com_total_soc_over_cap",
    "com_total_power_over",
)
"""Counts of impossible rows the auditor reports that must be 0 in every run."""
AUDIT_SMALL = (
    "balance_max_err",
    "cost_col_max_err",
    "wallet_max_err_incl_transfer",
    "fees_max_err",
    "own_soc_dyn_max_err",
    "com_soc_dyn_max_err",
    "own_soc_continuity_max_err",
    "com_soc_continuity_max_err",
    "trades_vs_buy_max_err",
    "trades_vs_sell_max_err",
    "p2p_unbalanced_max",
)
"""Largest errors the auditor reports that must be within rounding (kWh or $)."""


def kwh(hi: float) -> st.SearchStrategy[float]:
    """0 itself often, else a value up to ``hi``."""
    return st.one_of(st.just(0.0), st.floats(0.0, hi, allow_nan=False, allow_infinity=False))


prices = st.floats(0.0, 0.6, allow_nan=False).map(lambda x: round(x, 4))
efficiency = st.floats(0.3, 1.0).map(lambda x: round(x, 3))


@st.composite
def tariffs(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(("time_of_use", "random_uniform", "file")))
    sell = draw(prices)
    out: dict[str, Any] = {"mode": mode}
    if mode == "time_of_use":
        out |= {
            "sell_price": sell,
            "peak_buy_price": sell + draw(st.floats(1e-3, 0.5)),
            "offpeak_buy_price": sell + draw(st.floats(1e-3, 0.5)),
            "peak_start_hour": draw(st.sampled_from((0.0, 6.0, 10.0, 17.0, 23.0))),
            "peak_end_hour": draw(st.sampled_from((0.0, 12.0, 21.0, 24.0))),
        }
    elif mode == "random_uniform":
        max_sell = sell + draw(kwh(0.2))
        min_buy = max_sell + draw(st.floats(1e-3, 0.3))
        out |= {
            "min_sell_price": sell,
            "max_sell_price": max_sell,
            "min_buy_price": min_buy,
            "max_buy_price": min_buy + draw(kwh(0.3)),
        }
    else:  # a table, written beside the parameters: a spread that varies step by step, down to 0.1 cent
        out["spread"] = draw(st.lists(st.floats(1e-3, 0.5), min_size=1, max_size=4))
        out["sell"] = sell
    return out


@st.composite
def limits(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(("scaled", "constant", "synthetic", "file")))
    out: dict[str, Any] = {"use_capacity_limits": draw(st.sampled_from((True, True, False))), "mode": mode}
    out |= {"import_kw_per_household": draw(kwh(3.0)), "export_kw_per_household": draw(kwh(3.0))}
    out |= {"import_capacity_kw": draw(kwh(12.0)), "export_capacity_kw": draw(kwh(12.0))}
    if mode == "synthetic":
        out |= {"peak_reduction_factor": draw(st.floats(0.0, 1.0)), "noise_std": draw(st.floats(0.0, 1.0))}
    if mode == "file":
        out["table"] = draw(st.lists(st.tuples(kwh(8.0), kwh(8.0)), min_size=1, max_size=4))
    return out


@st.composite
def parameter_sets(draw: st.DrawFn) -> dict[str, Any]:
    """A valid parameter tree (file-backed modes as drawn tables, written by ``write_tree``)."""
    dt = draw(st.sampled_from((0.25, 0.25, 0.5)))
    households = draw(st.integers(2, MOST))
    topology = draw(st.sampled_from(("pool", "ring")))
    return {
        "simulation": {
            "steps": draw(st.integers(2, MOST)),
            "time_step_hours": dt,
            # night, morning, noon and evening peak of the sunny spring day
            "start_step": DEFAULT_START_STEP + draw(st.sampled_from((0, 28, 44, 70))),
            "seed": draw(st.integers(0, 2**16)),
        },
        "household": {
            "max_households": households,
            "initial_wallet": draw(st.sampled_from((0.0, 100.0, -5.0))),
            "production_scale_factor": draw(st.sampled_from((0.0, 0.5, 1.0, 3.0))),
            "metadata_file": draw(st.sampled_from(("", "", "auto"))),
        },
        "battery": {
            "capacity_kwh": draw(kwh(20.0)),
            "max_power_kw": draw(kwh(8.0)),
            "charge_efficiency": draw(efficiency),
            "discharge_efficiency": draw(efficiency),
            "initial_soc_pct": draw(st.sampled_from((0.0, 20.0, 100.0)) | st.floats(0, 100)),
            "wear_cost_per_kwh": draw(kwh(0.05)),
        },
        "community_battery": {
            "capacity_kwh": draw(kwh(300.0)),
            "max_power_kw": draw(kwh(150.0)),
            "charge_efficiency": draw(efficiency),
            "discharge_efficiency": draw(efficiency),
            "service_fee_per_kwh": draw(kwh(0.1)),
        },
        "grid_price": draw(tariffs()),
        "grid_capacity": draw(limits()),
        "forecaster": {
            "kind": draw(st.sampled_from(("perfect", "persistence", "seasonal_naive", "profile_blend"))),
            "horizon_steps": draw(st.sampled_from((1, 2, 3, 8, 24, 48))),
        },
        "optimizer": {
            "solver": draw(st.sampled_from(("PIQP", "PIQP", "CLARABEL", "HIGHS", "OSQP", "SCS"))),
            "max_solver_iterations": draw(st.sampled_from((0, 0, 1, 5, 30))),
            "topology": topology,
            "ring_neighbours": draw(st.sampled_from((2, 4))),
            "pricing_rule": draw(
                st.sampled_from(("supply_demand_ratio", "mid_market", "bill_sharing", "original", "marginal"))
            ),
            "p2p_price_factor": draw(st.floats(0.0, 1.0)),
            "p2p_transaction_cost": draw(kwh(0.2)),
            "min_trade_kwh": draw(st.sampled_from((0.0, 0.001, 0.1))),
            "settlement_rule": draw(st.sampled_from(("market", "shared_saving"))),
            "unserved_penalty": draw(st.sampled_from((0.0, 5.0))),
            "curtailment_penalty": draw(st.sampled_from((0.0, 0.02, 1.0))),
            "terminal_value_per_kwh": draw(st.sampled_from((0.0, 0.12, 1.0))),
            "value_of_lost_load": draw(st.sampled_from((0.0, 5.0))),
        },
    }


def write_tree(tree: dict[str, Any], root: Path) -> Path:
    """The parameter file for a drawn tree; drawn tables become the files their modes read."""
    tree = json.loads(json.dumps(tree))
    start, steps = tree["simulation"]["start_step"], tree["simulation"]["steps"]
    timesteps = range(start, start + steps + tree["forecaster"]["horizon_steps"])  # the horizon reads on
    g = tree["grid_price"]
    if g["mode"] == "file":
        spread, sell = g.pop("spread"), g.pop("sell")
        rows = [f"{t},{sell + spread[i % len(spread)]!r},{sell!r}" for i, t in enumerate(timesteps)]
        (root / "tariff.csv").write_text("timestep,buy_price,sell_price\n" + "\n".join(rows) + "\n")
        g["file"] = str(root / "tariff.csv")
    c = tree["grid_capacity"]
    if c["mode"] == "file":
        table = c.pop("table")
        rows = [f"{t},{table[i % len(table)][0]!r},{table[i % len(table)][1]!r}" for i, t in enumerate(timesteps)]
        (root / "capacity.csv").write_text("timestep,import_capacity_kw,export_capacity_kw\n" + "\n".join(rows) + "\n")
        c["file"] = str(root / "capacity.csv")
    Params.from_dict(tree)  # a drawn set is valid, or the strategy is wrong
    path = root / "params.json"
    path.write_text(json.dumps(tree))
    return path


def audit(run: Path) -> dict[str, Any]:
    """The independent auditor's report of ``run``'s CSVs (run as its own script, in this process)."""
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [str(AUDITOR), str(run)]
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(AUDITOR), run_name="__main__")
    finally:
        sys.argv = argv
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def check_run(run: Path, tree: dict[str, Any]) -> None:
    optimized = read_csv(run / "optimized_results.csv")
    baseline = read_csv(run / "baseline_results.csv")
    households, steps = tree["household"]["max_households"], tree["simulation"]["steps"]
    for df in (optimized, baseline):
        assert len(df) == households * steps
        numbers = df.select_dtypes(include=[np.number])
        assert np.isfinite(numbers.to_numpy()).all()
        bad = {rule: n for rule, n in impossible_rows(df).items() if n}
        bad.pop("community imports and exports at once", None)  # households alone may (baseline; no pool)
        assert bad == {}, bad
    assert unfair_prices(optimized, tree["optimizer"]["p2p_transaction_cost"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["steps"], summary["households"]) == (steps, households)
    assert summary["optimized"]["capacity_violations"] == 0 and summary["baseline"]["capacity_violations"] == 0
    if tree["optimizer"]["settlement_rule"] == "shared_saving" and summary["saving"] >= 0:
        assert summary["households_worse_off"] == 0, summary["per_household"]
    if tree["optimizer"]["settlement_rule"] == "shared_saving":
        assert abs(float(optimized["transfer"].sum())) <= TOL * households
    else:
        assert (optimized["transfer"] == 0).all()
    if AUDITOR.is_file():
        report = audit(run)
        for name, part in report.items():
            counts = {k: part[k] for k in AUDIT_ZERO if part[k]}
            errors = {k: part[k] for k in AUDIT_SMALL if not part[k] <= TOL}
            assert counts == {} and errors == {}, (name, counts, errors)


@pytest.mark.timeout(240 if PROFILE_NAME == "ci" else 3600)
@PROFILE
@given(parameter_sets())
def test_any_valid_parameter_set_completes_verifies_and_balances(tree: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="ets-params-") as tmp:
        root = Path(tmp)
        params = write_tree(tree, root)
        result = cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet")
        assert result.exit_code == 0, result.output
        run = only_run_dir(root / "r")
        verified = cli("verify", str(run))
        assert verified.exit_code == 0, verified.output
        check_run(run, tree)


# What the draws above found, each kept as a case of its own


def test_a_grid_without_limits_is_cleared_and_bounded_accurately(tmp_path: Path) -> None:
    """``use_capacity_limits = false`` gave the solver limits of 1e9 kW: on two households without
    storage it stopped "optimal_inaccurate", so the step fell back and the perfect-foresight bound was
    not computed. The clearing now sees a limit no larger than the community could ever move."""
    params = tmp_path / "p.json"
    params.write_text(
        json.dumps(
            {
                "simulation": {"steps": 2, "time_step_hours": 0.5, "start_step": DEFAULT_START_STEP},
                "household": {"max_households": 2, "production_scale_factor": 0.0, "metadata_file": ""},
                "battery": {"capacity_kwh": 1.0, "max_power_kw": 0.0, "initial_soc_pct": 0.0},
                "community_battery": {"capacity_kwh": 0.0, "max_power_kw": 0.0},
                "grid_price": {"sell_price": 0.0, "peak_buy_price": 0.5, "offpeak_buy_price": 0.5},
                "grid_capacity": {"use_capacity_limits": False},
                "forecaster": {"kind": "perfect", "horizon_steps": 1},
                "optimizer": {"p2p_transaction_cost": 0.0, "unserved_penalty": 0.0, "curtailment_penalty": 0.0},
            }
        )
    )
    result = cli("simulate", "--params", str(params), "--results", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "r")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["fallback"]["steps"] == 0, summary["fallback"]
    assert summary["optimum"]["status"] == "optimal"
    verified = cli("verify", str(run))
    assert verified.exit_code == 0, verified.output


def test_an_optimum_not_found_is_null_in_the_summary_and_verifies() -> None:
    """Where the bound's solver fails, ``summary.json`` said NaN (no JSON number) and ``ets verify``
    rejected its own recomputation (NaN is not NaN). The figures are null now."""
    from ets.check.bound import Gap
    from ets.check.claims import compare_claims

    claims = Gap(float("nan"), 1.0, 2.0, "infeasible", 0.1, 3.0).to_json()
    written = json.loads(json.dumps(claims, allow_nan=False))
    assert written["gap"] is None and written["optimum_value_cost"] is None
    assert written["run_value_cost"] == 1.0 and written["baseline_value_cost"] == 2.0
    compare_claims(written, claims, Path("summary.json"), "optimum")
