"""How a run's outcome is valued: everything a household ends with, not only its cash.

``value cost = cash cost - terminal_value * energy stored at the end + value_of_lost_load * unserved``

(kWh, $/kWh, $). Both runs start with the same storage, so the saving (baseline value cost minus the
market's) counts what each has left at the end and what each left unserved, alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

Num = TypeVar("Num", float, npt.NDArray[np.float64])


@dataclass(frozen=True, slots=True)
class Valuation:
    terminal_value: float
    """$/kWh of energy stored at the end."""
    value_of_lost_load: float
    """$/kWh of demand left unserved."""

    def cost(self, cash: Num, stored_end_kwh: Num, unserved_kwh: Num) -> Num:
        """The value cost ($) of a cash cost, the energy stored at the end and the unserved energy."""
        return cash - self.terminal_value * stored_end_kwh + self.value_of_lost_load * unserved_kwh
