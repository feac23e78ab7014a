"""``ets report``: PNG figures and one HTML page (``index.html``) about a run directory, readable without
the program."""

from __future__ import annotations

from pathlib import Path

from chain.errors import InputError
from ets.results.read import load_run, read_summary
from ets.view.report.figures import FIGURES, report_data, require_columns
from ets.view.report.page import render

REPORT_DIR = "report"
PAGE = "index.html"
DPI = 110


def write_report(run_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Write the figures and the page into ``out_dir`` (default: ``RUN_DIR/report``); return their paths,
    the page last."""
    run = load_run(run_dir)
    require_columns(run)  # before the summary, which may have to be computed from them
    data = report_data(run, read_summary(run))
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / REPORT_DIR
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the report folder: {exc}") from exc
    written = []
    for spec in FIGURES:
        path = out / spec.filename
        spec.make(data).savefig(path, dpi=DPI)
        written.append(path)
    page = out / PAGE
    page.write_text(render(data.summary, Path(run_dir).resolve().name, FIGURES), encoding="utf-8")
    written.append(page)
    return written
