"""The live view, headless: fed with a real run's published blocks (its ledger records, byte for byte)
it ends where the run's CSV ends; `--live` through the CLI; and no plotting without it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from chain.crypto import Verifier
from chain.genesis import Genesis
from chain.ledger import read_records
from chain.reading import read_block
from ets.run.setup import RunLayout
from ets.view.canvas import headless_figure
from ets.view.live.session import PICTURE, LiveSession
from ets.view.live.window import FIGSIZE_IN
from tests.conftest import cli, only_run_dir, write_params

matplotlib.use("Agg")  # `--live` draws off screen in the tests


def pixels(session: LiveSession) -> np.ndarray:
    session.fig.canvas.draw()
    return np.array(session.fig.canvas.buffer_rgba(), copy=True)  # type: ignore[attr-defined]


def test_live_view_follows_the_blocks_to_the_csv(engine_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(engine_run, run)
    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    records = read_records(layout.coordinator_ledger)
    session = LiveSession(run, genesis, headless_figure(FIGSIZE_IN))
    blank = pixels(session)

    half = genesis.steps // 2
    for raw in records[:half]:
        session.on_raw(raw)
    session.on_raw(b"not a block")  # ignored, as anything else on the publisher
    session.redraw(force=True)
    middle = pixels(session)
    series = session.tally.series()
    assert session.tally.cleared == half
    assert np.isnan(series.wallet_usd[half:]).all() and not np.isnan(series.wallet_usd[:half]).any()

    verifier = Verifier()
    for raw in records:  # again from the start: blocks seen before are not counted twice
        session.on_block(read_block(raw, genesis, verifier)[1])
    picture = session.finish()

    optimized = pd.read_csv(run / "optimized_results.csv").groupby("step")[["wallet", "grid_buy"]].sum()
    series = session.tally.series()
    np.testing.assert_allclose(series.wallet_usd, optimized["wallet"].to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(series.grid_buy_kwh, optimized["grid_buy"].to_numpy(), rtol=0, atol=1e-12)
    end = pixels(session)
    assert (blank != middle).any(axis=-1).sum() > 500 and (middle != end).any(axis=-1).sum() > 500
    assert picture == run / PICTURE
    assert f"{genesis.steps} of {genesis.steps} steps cleared" in session.window.title.get_text()
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (720, 540)


def test_simulate_live_through_the_cli(tmp_path: Path) -> None:
    params = write_params(tmp_path / "params.json", {"simulation": {"steps": 4}})
    result = cli("simulate", "--params", str(params), "--results", str(tmp_path / "r"), "--quiet", "--live")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "r")
    with Image.open(run / PICTURE) as image:
        assert image.size == (720, 540)


@pytest.mark.parametrize("command", ["run", "simulate"])
def test_live_is_an_option_of_both_runs(command: str, tmp_path: Path) -> None:
    """--live is parsed; the run then stops on its bad parameter, before anything starts."""
    params = write_params(tmp_path / "params.json", {"household": {"max_households": 0}})
    result = cli(command, "--live", "--params", str(params), "--results", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 2 and "max_households" in result.output
    assert "No such option" not in result.output


def test_no_plotting_without_live() -> None:
    code = (
        "import sys, ets.cli, ets.run.workflow, ets.run.engine, ets.run.launcher; "
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('matplotlib', 'PIL') or m.startswith('ets.view.live')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_the_view_skips_to_the_latest_block_when_the_launcher_is_idle(
    engine_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks from the publisher are only tallied as they arrive; once the launcher has passed on every
    block that had arrived it calls ``idle``, which draws them all at once: the picture never lags the run
    by the blocks that queued up while it was drawing."""
    run = tmp_path / "run"
    shutil.copytree(engine_run, run)
    layout = RunLayout(run)
    genesis = Genesis.load(layout.genesis)
    records = read_records(layout.coordinator_ledger)
    session = LiveSession(run, genesis, headless_figure(FIGSIZE_IN))
    drawn: list[int] = []
    update = session.window.update
    monkeypatch.setattr(
        session.window, "update", lambda series, cleared: (drawn.append(cleared), update(series, cleared))
    )
    for raw in records[: genesis.steps - 2]:
        session.on_raw(raw)
    assert drawn == []
    session.idle()
    assert drawn == [genesis.steps - 2]
    assert f"{genesis.steps - 2} of {genesis.steps} steps cleared" in session.window.title.get_text()
    session.idle()
    assert drawn == [genesis.steps - 2]  # nothing new: nothing drawn


def test_the_live_window_is_drawn_when_the_run_starts(
    engine_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a display, the window shows (titled with the run) before the first block arrives."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    run = tmp_path / "run"
    shutil.copytree(engine_run, run)
    draws: list[object] = []
    real_draw = FigureCanvasAgg.draw
    monkeypatch.setattr(plt, "get_backend", lambda: "tkagg")
    monkeypatch.setattr(plt, "show", lambda block=None: draws.append("show"))
    monkeypatch.setattr(FigureCanvasAgg, "draw", lambda self: (draws.append("draw"), real_draw(self))[1])
    session = LiveSession(run, Genesis.load(RunLayout(run).genesis))
    try:
        assert session.interactive and draws[:2] == ["show", "draw"]
        assert session.window.title.get_text() == "waiting for the first block"
        manager = session.fig.canvas.manager
        assert manager is not None and manager.get_window_title() == f"ets live: {run.name}"
    finally:
        plt.close(session.fig)
