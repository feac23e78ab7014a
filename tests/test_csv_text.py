"""``runtime.csv_text`` writes what pandas' CSV writer writes, byte for byte."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runtime.csv_text import csv_text


def _pandas(frame: pd.DataFrame, header: bool = True) -> str:
    return frame.to_csv(index=False, header=header, float_format="%.17g")


def test_same_bytes_as_pandas_on_awkward_values() -> None:
    rng = np.random.default_rng(3)
    floats = np.concatenate(
        [rng.normal(0, 1e3, 200), [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300, 5e-324, 0.1, 1 / 3, 1e22]]
    )
    n = floats.size
    frame = pd.DataFrame(
        {
            "step": np.arange(n),
            "x": floats,
            "whole": np.arange(n) * 2.0,
            "flag": np.arange(n) % 3 == 0,
            "text": [["h01", "a,b", 'say "hi"', "two\nlines", "", None, "h02:0.5-h03:0.25"][i % 7] for i in range(n)],
            "odd, name": np.zeros(n, dtype=np.int32),
        }
    )
    assert csv_text(frame) == _pandas(frame)
    assert csv_text(frame, header=False) == _pandas(frame, header=False)


@pytest.mark.parametrize("rows", [0, 1])
def test_small_frames(rows: int) -> None:
    frame = pd.DataFrame({"a": np.ones(rows), "b": ["x"] * rows})
    assert csv_text(frame) == _pandas(frame)
