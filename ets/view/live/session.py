"""Wiring the live view into a run: blocks in (decoded by the caller, or raw from the coordinator's
publisher), a redraw at most every ``REDRAW_INTERVAL_S``, and the last picture saved as ``live.png``.

The window is drawn as soon as the session starts. Raw blocks from a cluster are only tallied as they
arrive; the launcher calls ``idle`` once it has passed on every block that had arrived, and the picture
is redrawn then, so a slow redraw never leaves the view behind the run (it skips to the latest block)."""

from __future__ import annotations

import time
from pathlib import Path

from matplotlib.figure import Figure

from chain.blocks import Block
from chain.crypto import Verifier
from chain.errors import EtsError
from chain.genesis import Genesis
from chain.reading import read_block
from ets.results.read import BASELINE_CSV
from ets.view.live.tally import LiveTally, baseline_series
from ets.view.live.window import FIGSIZE_IN, LiveWindow

REDRAW_INTERVAL_S = 0.25
"""At most four redraws a second, so that drawing takes little from the run."""
PICTURE = "live.png"
NON_INTERACTIVE = ("agg", "pdf", "svg", "ps", "cairo", "template")


class LiveSession:
    """The live view of the run in ``run_dir``. Without ``fig`` it opens a window (pyplot's default
    backend); where there is no display it draws off screen and only saves the picture."""

    def __init__(self, run_dir: Path, genesis: Genesis, fig: Figure | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.genesis = genesis
        self.interactive = False
        if fig is None:
            import matplotlib.pyplot as plt

            self.interactive = plt.get_backend().lower() not in NON_INTERACTIVE
            fig = plt.figure(figsize=FIGSIZE_IN, num=f"ets live: {self.run_dir.name}")
        self.fig = fig
        self.tally = LiveTally(genesis)
        self.window = LiveWindow(fig, baseline_series(self.run_dir / BASELINE_CSV, genesis.steps))
        self.verifier = Verifier()
        self.last_draw = 0.0
        self.drawn = -1
        """``tally.cleared`` when the picture was last drawn."""
        if self.interactive:
            import matplotlib.pyplot as plt

            plt.show(block=False)
            self.fig.canvas.draw()
            self.fig.canvas.flush_events()

    def on_raw(self, raw: bytes) -> None:
        """A message from the coordinator's publisher, tallied only (``idle`` draws); anything but a valid
        block of this run is ignored (the nodes check blocks; this is display only)."""
        try:
            _, block = read_block(raw, self.genesis, self.verifier)
        except EtsError:
            return
        self.tally.add(block)

    def on_block(self, block: Block) -> None:
        """A block of the in-process engine, which waits for the redraw: tallied, and drawn at most every
        ``REDRAW_INTERVAL_S``."""
        if self.tally.add(block):
            self.redraw()

    def idle(self) -> None:
        """Every block that had arrived is tallied: draw them (at most every ``REDRAW_INTERVAL_S``), and
        keep the window responsive meanwhile."""
        if self.tally.cleared != self.drawn:
            self.redraw()
        elif self.interactive:
            self.fig.canvas.flush_events()

    def redraw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_draw < REDRAW_INTERVAL_S:
            return
        self.last_draw = now
        self.drawn = self.tally.cleared
        self.window.update(self.tally.series(), self.tally.cleared)
        if self.interactive:
            self.fig.canvas.draw_idle()
            self.fig.canvas.flush_events()

    def finish(self) -> Path:
        """Draw the final state, save it as ``live.png`` in the run directory and, with a window, keep it
        open until it is closed. Returns the picture's path."""
        self.redraw(force=True)
        path = self.run_dir / PICTURE
        self.fig.savefig(path, dpi=90)
        if self.interactive:
            import matplotlib.pyplot as plt

            plt.show()
        return path
