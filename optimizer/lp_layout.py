"""What both direct clearings are built from: where each variable block lies in ``x``, the storage
dynamics rows and the storage blocks' costs and bounds, the checks of a step's inputs, and the horizon's
totals after a solve (``optimizer.clearing_lp`` for the pool, ``optimizer.ring_lp`` for the ring)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from optimizer.flows import Array
from optimizer.lp_solvers import Solution
from optimizer.programme import Costs, MarketInputs, Units


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


def coo(
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


def horizon_totals(last: Solution | None, lay: Layout, unserved: str, curtailed: str) -> tuple[float, float, float]:
    """After a solve (``last``): storage throughput and the ``unserved`` and ``curtailed`` blocks summed over
    the whole horizon (kWh); zeros before any solve."""
    if last is None:
        return 0.0, 0.0, 0.0
    x = last.x
    throughput = float(x[lay.block("ch")].sum() + x[lay.block("dis")].sum())
    return throughput, float(x[lay.block(unserved)].sum()), float(x[lay.block(curtailed)].sum())
