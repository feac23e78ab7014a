"""Where a figure's texts land when it is drawn: every text box that is drawn, for the tests that check
that no two of them overlap and that each lies inside the figure."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox


def _tick_labels(axis: Axis) -> list[Text]:
    # the ticks that are drawn: within the view limits (the others exist but are not drawn)
    ticks = axis._update_ticks()
    return [t.label1 for t in ticks if t.label1.get_visible()] + [t.label2 for t in ticks if t.label2.get_visible()]


def _texts_of(ax: Axes) -> list[Text]:
    out = [*ax.texts, ax.title, ax._left_title, ax._right_title]
    legend = ax.get_legend()
    if legend is not None:
        out += legend.get_texts()
    if ax.axison:
        for axis in (ax.xaxis, ax.yaxis):
            out += [axis.label, *_tick_labels(axis)]
            offset = axis.get_offset_text()
            out.append(offset)
    return out


def drawn_texts(fig: Figure) -> list[tuple[Text, Bbox]]:
    """(text, its box in display pixels: the patch around it where it has one) for every non-empty,
    visible text of ``fig`` as drawn now."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    texts = list(fig.texts)
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for ax in fig.axes:
        if ax.get_visible():
            texts += _texts_of(ax)
    out = []
    for t in dict.fromkeys(texts):  # the suptitle is one of fig.texts too
        if not t.get_visible() or not t.get_text().strip():
            continue
        patch = t.get_bbox_patch()
        box = patch.get_window_extent(renderer) if patch is not None else t.get_window_extent(renderer)
        out.append((t, box))
    return out


def layout_problems(fig: Figure, margin_px: float = 0.0) -> list[str]:
    """Texts outside the figure and pairs of texts whose boxes overlap (more than ``margin_px``)."""
    boxes = drawn_texts(fig)
    width, height = fig.bbox.width, fig.bbox.height
    problems = []
    for t, b in boxes:
        if b.x0 < -margin_px or b.y0 < -margin_px or b.x1 > width + margin_px or b.y1 > height + margin_px:
            problems.append(f"outside the figure: {t.get_text()!r} at {b.bounds}")
    for i, (t, a) in enumerate(boxes):
        for u, b in boxes[i + 1 :]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            if overlap_x > margin_px and overlap_y > margin_px:
                problems.append(f"overlap: {t.get_text()!r} and {u.get_text()!r}")
    return problems
