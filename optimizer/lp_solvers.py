"""Linear programmes handed to PIQP or Clarabel as matrices: minimise ``c . x`` subject to ``A x = b``,
``G x <= h`` and bounds on ``x`` (``Vectors``), by the configured solver and then by Clarabel where it
reports no optimum. What the direct clearings (``optimizer.clearing_lp``, ``optimizer.ring_lp``) solve with.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import clarabel
import numpy as np
import piqp
import scipy.sparse as sp

from optimizer.flows import Array, Mask
from optimizer.programme import FALLBACK_SOLVER, OPTIMAL, SOLVER_OPTIONS

DIRECT_SOLVERS = ("PIQP", "CLARABEL")
"""Solvers the direct path hands its matrices to; any other runs through CVXPY."""
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
