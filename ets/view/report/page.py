"""The report's HTML page: KPI table, households' savings (winners and losers) and the figures, which it
references by relative path so that the folder can be moved or mailed as a whole."""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

from ets.results.summary import optimum_line
from ets.view.report.figures import FigureSpec

SAVING_TOLERANCE_USD = 1e-6


@dataclass(frozen=True, slots=True)
class Kpi:
    label: str
    key: str
    fmt: str
    scale: float = 1.0
    lower_is_better: bool = True


KPIS = (
    Kpi("community cost ($)", "community_cost", "{:.2f}"),
    Kpi("grid purchases ($)", "grid_purchase_cost", "{:.2f}"),
    Kpi("grid sales ($)", "grid_sale_revenue", "{:.2f}", lower_is_better=False),
    Kpi("grid import (kWh)", "grid_import_kwh", "{:.1f}"),
    Kpi("grid export (kWh)", "grid_export_kwh", "{:.1f}", lower_is_better=False),
    Kpi("P2P volume (kWh)", "p2p_volume_kwh", "{:.1f}", lower_is_better=False),
    Kpi("peak grid import (kW)", "peak_import_kw", "{:.2f}"),
    Kpi("self-sufficiency (%)", "self_sufficiency", "{:.1f}", 100.0, lower_is_better=False),
    Kpi("self-consumption (%)", "self_consumption", "{:.1f}", 100.0, lower_is_better=False),
    Kpi("unserved energy (kWh)", "unserved_kwh", "{:.2f}"),
    Kpi("curtailed energy (kWh)", "curtailed_kwh", "{:.2f}"),
    Kpi("fees ($)", "fees", "{:.2f}"),
    Kpi("steps at the import limit", "import_limit_binding_steps", "{:.0f}"),
    Kpi("steps at the export limit", "export_limit_binding_steps", "{:.0f}"),
    Kpi("capacity violations", "capacity_violations", "{:.0f}"),
)


def kpi_rows(summary: dict[str, Any]) -> str:
    rows = []
    for k in KPIS:
        base, opt = summary["baseline"].get(k.key), summary["optimized"].get(k.key)
        if base is None or opt is None:
            continue
        b, o = float(base) * k.scale, float(opt) * k.scale
        change = o - b
        shown = k.fmt.format(change)
        better = change < 0 if k.lower_is_better else change > 0
        tiny = float(shown.lstrip("-+") or 0) == 0
        css = "" if tiny else ("better" if better else "worse")
        rows.append(
            f"<tr><td>{html.escape(k.label)}</td><td>{k.fmt.format(b)}</td><td>{k.fmt.format(o)}</td>"
            f'<td class="{css}">{"+" if change > 0 and not tiny else ""}{shown}</td></tr>'
        )
    return "\n".join(rows)


def headline(summary: dict[str, Any]) -> str:
    saving = float(summary["saving"])
    verb = "saves" if saving >= 0 else "loses"
    return (
        f"Trading peer-to-peer, the community {verb} <b>${abs(saving):.2f}</b> "
        f"({float(summary['saving_pct']):.1f}% of {html.escape(str(summary.get('saving_pct_basis', 'the baseline')))}) "
        f"against every household acting alone; <b>{int(summary['households_worse_off'])}</b> of "
        f"{int(summary['households'])} households end worse off."
    )


def extra(summary: dict[str, Any]) -> str:
    """Lines on the perfect-foresight optimum and the network, where the summary has them."""
    lines = []
    optimum = summary.get("optimum")
    if isinstance(optimum, dict) and optimum.get("status") == "optimal":
        lines.append(f"Perfect-foresight optimum: {html.escape(optimum_line(optimum))}.")
    network = summary.get("network")
    if isinstance(network, dict) and network.get("step_latency_p50_ms") is not None:
        lines.append(
            f"Network: step latency p50 {float(network['step_latency_p50_ms']):.0f} ms, "
            f"p99 {float(network['step_latency_p99_ms']):.0f} ms; "
            f"{float(network['bytes_per_step']) / 1024:.1f} KiB per step; "
            f"{int(network['rejected_messages'])} rejected messages; "
            f"{int(network['absent_household_steps'])} absent household-steps."
        )
    return "\n".join(f"<p>{html.escape(line)}</p>" for line in lines)


def household_rows(summary: dict[str, Any]) -> tuple[str, str]:
    """The households' table rows (largest market gain first) and a sentence on winners and losers."""
    per = summary["per_household"]
    ids = sorted(per, key=lambda h: -float(per[h]["saving_before_transfer"]))
    rows = []
    for hid in ids:
        h = per[hid]
        before = float(h["saving_before_transfer"])
        css = "win" if before > SAVING_TOLERANCE_USD else "lose" if before < -SAVING_TOLERANCE_USD else ""
        cells = [h["baseline_cost"], h["optimized_cost"], before, h["transfer"], h["saving"]]
        numbers = "".join(f"<td>{float(v):.2f}</td>" for v in cells)
        rows.append(f'<tr class="{css}"><td>{html.escape(hid)}</td>{numbers}</tr>')
    winners = sum(1 for h in per.values() if float(h["saving_before_transfer"]) > SAVING_TOLERANCE_USD)
    losers = sum(1 for h in per.values() if float(h["saving_before_transfer"]) < -SAVING_TOLERANCE_USD)
    text = (
        f"In the market itself {winners} households gain and {losers} lose against acting alone; after the "
        f"closing transfers {int(summary['households_worse_off'])} are worse off. A positive transfer is paid, "
        "a negative one received."
    )
    return "\n".join(rows), text


def figures_html(figures: tuple[FigureSpec, ...]) -> str:
    return "\n".join(
        f'<figure><img src="{f.filename}" alt="{html.escape(f.caption)}">'
        f"<figcaption>{html.escape(f.caption)}</figcaption></figure>"
        for f in figures
    )


def render(summary: dict[str, Any], run_name: str, figures: tuple[FigureSpec, ...]) -> str:
    template = Template(resources.files("ets.view.report").joinpath("template.html").read_text(encoding="utf-8"))
    rows, text = household_rows(summary)
    return template.substitute(
        title=html.escape(f"Energy trading run {run_name}"),
        subtitle=html.escape(f"{summary['households']} households, {summary['steps']} steps"),
        headline=headline(summary),
        kpi_rows=kpi_rows(summary),
        extra=extra(summary),
        households_text=html.escape(text),
        household_rows=rows,
        figures=figures_html(figures),
        run_dir=html.escape(run_name),
    )
