"""README against the code: the parameter defaults it quotes are the ones `ets params show` prints, and
its quick start is two commands, the second being the test command `.ci/run` calls."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest

from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[1]
README = " ".join((ROOT / "README.md").read_text().split())  # one line: quotes may wrap anywhere


def shown_defaults() -> dict[str, object]:
    """``group.key`` -> value, parsed from what `ets params show` prints (``  key = value unit``)."""
    result = cli("params", "show")
    assert result.exit_code == 0, result.output
    values: dict[str, object] = {}
    group = ""
    for line in result.output.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line.strip()):
            group = m[1]
        elif m := re.fullmatch(r"  (\w+) = ('[^']*'|\S+).*", line):
            values[f"{group}.{m[1]}"] = ast.literal_eval(m[2])
    return values


DEFAULTS = shown_defaults()


def quoted(pattern: str) -> tuple[str, ...]:
    m = re.search(pattern, README)
    assert m is not None, f"README no longer says {pattern!r}"
    return m.groups()


def number(key: str) -> float:
    value = DEFAULTS[key]
    assert isinstance(value, int | float), key
    return float(value)


QUOTES = [
    (
        r"`time_of_use` \(default: ([\d.]+) \$/kWh from (\d+):00 to (\d+):00, ([\d.]+) otherwise, feed-in ([\d.]+)\)",
        ["grid_price.peak_buy_price", "grid_price.peak_start_hour", "grid_price.peak_end_hour",
         "grid_price.offpeak_buy_price", "grid_price.sell_price"],
    ),
    (
        r"`scaled` \(default: ([\d.]+) kW import and ([\d.]+) kW export per household",
        ["grid_capacity.import_kw_per_household", "grid_capacity.export_kw_per_household"],
    ),
    (r"a horizon of H steps \(default (\d+) = one day of 15 minutes\)", ["forecaster.horizon_steps"]),
    (r"A step lasts `dt` hours \(default ([\d.]+)\)", ["simulation.time_step_hours"]),
    (r"The default run takes the first (\d+) households", ["household.max_households"]),
    (r"`ets run` prints .*? (\d+) households, (\d+) steps", ["household.max_households", "simulation.steps"]),
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "keys"), QUOTES, ids=[keys[0] for _, keys in QUOTES])
def test_a_default_readme_quotes_is_the_one_params_show_prints(pattern: str, keys: list[str]) -> None:
    assert [float(v) for v in quoted(pattern)] == [number(k) for k in keys]


def test_the_limits_of_the_default_run_readme_quotes() -> None:
    """The transformer limits of the quick start's run: per-household figures times its households."""
    households = number("household.max_households")
    export_kw, for_households = quoted(r"export limit \((\d+) kW for (\d+) households\)")
    (import_kw,) = quoted(r"its import limit \((\d+) kW\)")
    assert float(for_households) == households
    assert float(export_kw) == number("grid_capacity.export_kw_per_household") * households
    assert float(import_kw) == number("grid_capacity.import_kw_per_household") * households


def test_the_default_day_data_and_rules_readme_quotes() -> None:
    day = dt.date(2010, 1, 1) + dt.timedelta(
        hours=number("simulation.start_step") * number("simulation.time_step_hours")
    )
    assert day.strftime("%-d %B") == quoted(r"households on (\d+ \w+)\.")[0]
    assert quoted(r"The default data set, `([^`]+)`")[0] == DEFAULTS["household.data_file"]
    assert quoted(r"\| `(\w+)` \(default\) \| Liu et al\.")[0] == DEFAULTS["optimizer.pricing_rule"]
    assert quoted(r"`(\w+)` \(default\), everyone trades with everyone")[0] == DEFAULTS["optimizer.topology"]
    assert quoted(r"With `(\w+)` \(default\), the closing block")[0] == DEFAULTS["optimizer.settlement_rule"]
    assert quoted(r"`forecaster\.kind`\): `(\w+)`\s+\(default\)")[0] == DEFAULTS["forecaster.kind"]


def test_the_quick_start_is_two_commands_and_ci_runs_its_test_command() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert len(commands) == 2 and commands[0] == "uv run --no-dev ets run", commands
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci, f".ci/run does not call README's test command {commands[1]!r}"
