"""The live chart: community wallet and community grid buy per step, baseline (drawn in full before
the run) against the market (drawn as its blocks arrive) - what the original GUI showed while running."""

from __future__ import annotations

import warnings

import numpy as np
from matplotlib.figure import Figure

from ets.view.live.tally import Array, CommunitySeries

BASELINE_COLOR = "#7f7f7f"
OPTIMIZED_COLOR = "#1f77b4"
FIGSIZE_IN = (8.0, 6.0)


def _limits(*series: Array) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = float(np.nanmin([np.nanmin(s) for s in series]))
        hi = float(np.nanmax([np.nanmax(s) for s in series]))
    pad = max(0.05 * (hi - lo), 1e-3)
    return lo - pad, hi + pad


class LiveWindow:
    """Two panels on ``fig``; ``update`` draws the market's series so far."""

    def __init__(self, fig: Figure, baseline: CommunitySeries) -> None:
        self.fig = fig
        self.baseline = baseline
        self.x = np.arange(len(baseline.wallet_usd), dtype=np.float64)
        self.wallet_ax, self.grid_ax = fig.subplots(2, 1, sharex=True)
        self.wallet_ax.plot(self.x, baseline.wallet_usd, color=BASELINE_COLOR, lw=1.6, label="baseline (alone)")
        self.grid_ax.step(self.x, baseline.grid_buy_kwh, where="mid", color=BASELINE_COLOR, lw=1.4, label="baseline")
        (self.wallet_line,) = self.wallet_ax.plot([], [], color=OPTIMIZED_COLOR, lw=1.8, label="market")
        (self.grid_line,) = self.grid_ax.step([], [], where="mid", color=OPTIMIZED_COLOR, lw=1.6, label="market")
        self.wallet_ax.set_title("Community wallet ($)", fontsize=10)
        self.grid_ax.set_title("Community grid buy (kWh per step)", fontsize=10)
        self.grid_ax.set_xlabel("step", fontsize=9)
        for ax in (self.wallet_ax, self.grid_ax):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="upper left", frameon=False)
            ax.set_xlim(0, max(len(self.x) - 1, 1))
        self.title = fig.suptitle("waiting for the first block", fontsize=11)
        self.title.set_parse_math(False)
        fig.tight_layout()

    def update(self, market: CommunitySeries, cleared: int) -> None:
        """Show the market's series; ``cleared`` steps of the run have a block."""
        self.wallet_line.set_data(self.x, market.wallet_usd)
        self.grid_line.set_data(self.x, market.grid_buy_kwh)
        self.wallet_ax.set_ylim(*_limits(self.baseline.wallet_usd, market.wallet_usd))
        self.grid_ax.set_ylim(*_limits(self.baseline.grid_buy_kwh, market.grid_buy_kwh, np.zeros(1)))
        done = np.flatnonzero(~np.isnan(market.wallet_usd))
        if len(done):
            last = int(done[-1])
            self.title.set_text(
                f"{cleared} of {len(self.x)} steps cleared: community wallet ${market.wallet_usd[last]:.2f} "
                f"(alone ${self.baseline.wallet_usd[last]:.2f}) at step {last}"
            )
