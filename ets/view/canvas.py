"""Figures on the Agg canvas, made without pyplot's global state: for saved playback, reports and tests.
Imported only by the playback, report and live modules (never by a node)."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def headless_figure(figsize: tuple[float, float]) -> Figure:
    """A figure of ``figsize`` inches that draws and saves without a display."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig
