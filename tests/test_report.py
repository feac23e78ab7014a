"""``ets report`` on a real run directory: every figure and the page written, readable, and the page's
numbers the run's own."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
from PIL import Image

from ets.results.tables import ORIGINAL_COLUMNS
from ets.view.report import PAGE
from ets.view.report.figures import FIGURES
from tests.conftest import cli


def copy_run(engine_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / engine_run.name
    shutil.copytree(engine_run, run)
    return run


def test_report_writes_every_file(engine_run: Path, tmp_path: Path) -> None:
    run = copy_run(engine_run, tmp_path)
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    out = run / "report"
    expected = [out / f.filename for f in FIGURES] + [out / PAGE]
    assert result.output.split() == [str(p) for p in expected]
    for spec in FIGURES:
        with Image.open(out / spec.filename) as image:
            assert image.format == "PNG" and image.size[0] >= 900
            assert len(image.convert("L").getcolors(maxcolors=1 << 16) or ()) > 10  # a picture, not a blank
    page = (out / PAGE).read_text()
    assert re.findall(r'<img src="([^"]+)"', page) == [f.filename for f in FIGURES]  # relative, all of them
    summary = json.loads((run / "summary.json").read_text())
    assert f"<b>${abs(summary['saving']):.2f}</b>" in page
    for label in ("community cost ($)", "grid import (kWh)", "P2P volume (kWh)", "self-sufficiency (%)"):
        assert f"<td>{label}</td>" in page
    for hid, h in summary["per_household"].items():
        assert f"<td>{hid}</td><td>{h['baseline_cost']:.2f}</td>" in page
    assert "$" in page and "$kpi_rows" not in page


def test_report_into_another_folder_without_a_summary(engine_run: Path, tmp_path: Path) -> None:
    """Without summary.json the KPIs are computed again from the CSVs."""
    run = copy_run(engine_run, tmp_path)
    (run / "summary.json").unlink()
    result = cli("report", str(run), "--out", str(tmp_path / "elsewhere" / "report"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "elsewhere" / "report").iterdir()) == sorted(
        [f.filename for f in FIGURES] + [PAGE]
    )


def test_report_errors_name_the_file(engine_run: Path, tmp_path: Path) -> None:
    result = cli("report", str(tmp_path / "missing"))
    assert result.exit_code == 2 and "missing: no such run directory" in result.output

    run = copy_run(engine_run, tmp_path)
    (run / "summary.json").write_text("{not json")
    result = cli("report", str(run))
    assert result.exit_code == 2 and "summary.json: cannot read" in result.output

    (run / "summary.json").unlink()
    for name in ("baseline_results.csv", "optimized_results.csv"):
        df = pd.read_csv(run / name, keep_default_na=False)
        df[list(ORIGINAL_COLUMNS)].to_csv(run / name, index=False)
    result = cli("report", str(run))
    assert result.exit_code == 2
    assert "optimized_results.csv: missing column(s) dt_hours, cost" in result.output
