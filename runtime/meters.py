"""A household's own meter series for a run, in a small file a node reads with numpy alone.

Run setup cuts each household's window (up to 28 days of its past, the run and the horizon beyond) out of the
data file once; a node then needs neither the whole data file nor a dataframe library, which keeps
its start fast and its memory small. Units: kWh per run step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from chain.errors import InputError


@dataclass(frozen=True, slots=True)
class MeterSeries:
    household: str
    first_step: int
    """Run step of position 0."""
    production_kwh: npt.NDArray[np.float64]
    consumption_kwh: npt.NDArray[np.float64]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            np.savez(
                f,
                household=np.array(self.household),
                first_step=np.array(self.first_step),
                production_kwh=self.production_kwh,
                consumption_kwh=self.consumption_kwh,
            )

    @classmethod
    def load(cls, path: Path, household: str) -> MeterSeries:
        """Read ``path``; ``InputError`` names the file when it is missing, damaged or someone else's."""
        try:
            with np.load(path, allow_pickle=False) as z:
                series = cls(
                    str(z["household"]),
                    int(z["first_step"]),
                    np.asarray(z["production_kwh"], dtype=np.float64),
                    np.asarray(z["consumption_kwh"], dtype=np.float64),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: not a readable meter file ({exc})") from exc
        if series.household != household:
            raise InputError(f"{path}: meter series of {series.household!r}, not {household!r}")
        p, c = series.production_kwh, series.consumption_kwh
        if p.ndim != 1 or p.shape != c.shape:
            raise InputError(f"{path}: production and consumption must be series of one length")
        if not (np.isfinite(p).all() and np.isfinite(c).all() and (p >= 0).all() and (c >= 0).all()):
            raise InputError(f"{path}: production and consumption must be finite and non-negative")
        return series
