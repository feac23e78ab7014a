"""A data frame as CSV text, byte for byte what ``frame.to_csv(index=False, float_format="%.17g")`` writes,
built a column at a time: about 2.5x faster than pandas' writer, which formats every float through its
own machinery (a year's two result tables are 25 million numbers).

Floats are ``%.17g`` (every bit kept; NaN empty), integers and booleans ``str``, anything else ``str``
quoted as the ``csv`` module's minimal quoting does (a field with a comma, quote or line break is quoted,
quotes doubled; ``None`` empty)."""

from __future__ import annotations

import numpy as np
import pandas as pd

_NEEDS_QUOTES = (",", '"', "\n", "\r")


def csv_text(frame: pd.DataFrame, header: bool = True) -> str:
    """The CSV of ``frame`` without its index, its column names first when ``header``."""
    columns = [_column(frame.iloc[:, i]) for i in range(frame.shape[1])]
    lines = [",".join(_field(str(name)) for name in frame.columns)] if header else []
    lines.extend(map(",".join, zip(*columns, strict=True)))
    return "".join(line + "\n" for line in lines) if lines else ""


def _column(series: pd.Series) -> list[str]:
    kind = series.dtype.kind
    if kind == "f":
        values = series.to_numpy()
        text = list(map("%.17g".__mod__, values.tolist()))
        for i in np.flatnonzero(np.isnan(values)).tolist():
            text[i] = ""
        return text
    if kind in "iub":
        return list(map(str, series.tolist()))
    return [_field(value) for value in series.tolist()]


def _field(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    if any(c in text for c in _NEEDS_QUOTES):
        return '"' + text.replace('"', '""') + '"'
    return text
