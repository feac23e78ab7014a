"""Parameters: every field documented; each kind of bad value rejected with a message naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.errors import InputError
from runtime.params import Params, describe
from tests.conftest import cli


def test_round_trip_through_json(tmp_path: Path) -> None:
    p = Params().replace(battery={"capacity_kwh": 20.0}, simulation={"steps": 10})
    p.save(tmp_path / "p.json")
    assert Params.load(tmp_path / "p.json") == p
    assert Params.load(tmp_path / "p.json").digest() == p.digest()


def test_every_field_has_help() -> None:
    rows = describe(Params())
    assert len(rows) > 30
    for key, _value, _unit, help_text in rows:
        assert len(help_text) > 10, key


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"batery": {}}, "unknown parameter group 'batery'"),
        ({"battery": {"capcity_kwh": 1}}, "battery.capcity_kwh: unknown parameter"),
        ({"battery": {"capacity_kwh": "big"}}, "battery.capacity_kwh: expected a number"),
        ({"battery": {"capacity_kwh": -1}}, "battery.capacity_kwh: -1.0 is below the minimum 0"),
        ({"battery": {"charge_efficiency": 1.5}}, "battery.charge_efficiency: 1.5 is above the maximum 1"),
        ({"simulation": {"steps": 1.5}}, "simulation.steps: expected an integer"),
        ({"simulation": {"steps": True}}, "simulation.steps: expected an integer"),
        ({"simulation": {"steps": 0}}, "simulation.steps: 0 is below the minimum 1"),
        ({"optimizer": {"pricing_rule": "auction"}}, "optimizer.pricing_rule: 'auction' is not one of"),
        (
            {"grid_capacity": {"use_capacity_limits": "yes"}},
            "grid_capacity.use_capacity_limits: expected true or false",
        ),
        ({"battery": {"initial_soc_pct": 120}}, "battery.initial_soc_pct: 120.0 is above the maximum 100"),
        ({"grid_price": {"mode": "file"}}, "grid_price.file must name a file"),
        ({"grid_price": {"sell_price": 0.5}}, "grid_price.sell_price must be below both buy prices"),
        ({"simulation": {"time_step_hours": 0.4}}, "simulation.time_step_hours (0.4) must be a multiple"),
        ({"battery": {"capacity_kwh": float("nan")}}, "battery.capacity_kwh: expected a finite number"),
        ([1, 2], "expected an object of parameter groups"),
        ({"battery": 3}, "battery: expected an object"),
    ],
)
def test_bad_values_name_the_key(tree: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        Params.from_dict(tree)
    assert message in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"p\.json: cannot read parameters"):
        Params.load(bad)


def test_cli_rejects_bad_params_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"battery": {"max_power_kw": -2}}))
    result = cli("run", "--params", str(bad), "--results", str(tmp_path / "results"), "--quiet")
    assert result.exit_code == 2
    assert "battery.max_power_kw: -2.0 is below the minimum 0" in result.output
    assert not (tmp_path / "results").exists()


def test_cli_params_show_prints_help_text() -> None:
    result = cli("params", "show")
    assert result.exit_code == 0
    assert "[battery]" in result.output and "capacity_kwh = 13.5 kWh" in result.output
    assert "Usable capacity of each household battery" in result.output


def test_cli_params_save_and_show_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    assert cli("params", "save", str(path)).exit_code == 0
    shown = cli("params", "show", "--params", str(path), "--json")
    assert json.loads(shown.output) == Params().to_dict()
