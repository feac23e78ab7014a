"""Playback: the model read from a real run directory, frames rendered headless, the player's widgets
driven through real matplotlib events, GIF/MP4/PNG output and the CLI's errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.backend_bases import KeyEvent, MouseEvent
from PIL import Image, ImageChops

from ets.results.read import parse_trades
from ets.results.tables import ORIGINAL_COLUMNS
from ets.view.playback.interactive import Player
from ets.view.playback.model import STATUS_MARGIN_USD, load_playback, status_of
from ets.view.playback.save import ffmpeg_available
from ets.view.playback.view import PlaybackView, playback_figure
from tests.conftest import cli

matplotlib.use("Agg")  # `ets playback` without --save must never open a window in the tests


def rgba(fig: object) -> np.ndarray:
    canvas = fig.canvas  # type: ignore[attr-defined]
    canvas.draw()
    return np.array(canvas.buffer_rgba(), copy=True)


def test_trades_cell_with_exponents_and_dashed_ids() -> None:
    trades = parse_trades("h02:1.5e-05-house-3:0.25-h04:2", "h01")
    assert [(t.seller, t.buyer, t.kwh) for t in trades] == [
        ("h02", "h01", 1.5e-05),
        ("house-3", "h01", 0.25),
        ("h04", "h01", 2.0),
    ]
    with pytest.raises(ValueError, match="seller:kWh"):
        parse_trades("h02:lots", "h01")


def test_status_rules() -> None:
    assert status_of(100.0, 100.0, 0.0) == "normal"
    assert status_of(100.0 + 2 * STATUS_MARGIN_USD, 100.0, 0.0) == "doing well"
    assert status_of(100.0 - 2 * STATUS_MARGIN_USD, 100.0, 0.0) == "struggling"
    assert status_of(105.0, 100.0, 0.5) == "struggling"  # unserved demand outweighs money


def test_model_matches_the_csv(engine_run: Path) -> None:
    model = load_playback(engine_run)
    df = pd.read_csv(engine_run / "optimized_results.csv")
    assert model.length == df["step"].nunique() == 12
    assert model.household_ids == tuple(df["household_id"].unique())
    for index, step in enumerate(model.steps):
        frame = model.frame(index)
        rows = df[df["step"] == step]
        assert frame.p2p_kwh == pytest.approx(rows["p2p_buy_amount"].sum(), abs=1e-9)
        assert frame.grid_buy_kwh == pytest.approx(rows["grid_buy"].sum(), abs=1e-12)
        bought = {h.household_id: h.p2p_buy_kwh for h in frame.households}
        for hid, kwh in bought.items():
            assert sum(t.kwh for t in frame.trades if t.buyer == hid) == pytest.approx(kwh, abs=1e-9)
    assert model.when(0).startswith(f"step {model.steps[0]}, ")


def test_first_middle_and_last_frames_render_and_differ(engine_run: Path) -> None:
    model = load_playback(engine_run)
    fig = playback_figure()
    view = PlaybackView(fig, model)
    images = []
    for index in (0, model.length // 2, model.length - 1):
        view.show(index)
        image = rgba(fig)
        assert image.shape[:2] == (800, 1400)
        assert image[..., :3].std() > 10  # not a blank canvas
        images.append(image)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        assert (images[a] != images[b]).any(axis=-1).sum() > 1000


def test_player_controls_and_hover(engine_run: Path) -> None:
    model = load_playback(engine_run)
    fig = playback_figure()
    fig.set_dpi(30)  # every step redraws the canvas: keep it small
    player = Player(fig, model, speed=2.0, start=0)
    assert player.index == 0 and player.timer.interval == 250
    player.tick()  # paused: nothing moves
    assert player.index == 0
    player.toggle()
    assert player.playing and player.button.label.get_text() == "Pause"
    player.tick()
    player.tick()
    assert player.index == 2 and player.slider.val == 2
    player.speed_slider.set_val(10.0)
    assert player.timer.interval == 50
    canvas = fig.canvas
    KeyEvent("key_press_event", canvas, " ")._process()
    assert not player.playing
    KeyEvent("key_press_event", canvas, "right")._process()
    assert player.index == 3
    player.slider.set_val(model.length - 2)
    player.toggle()
    player.tick()
    player.tick()  # at the end: stops there
    assert not player.playing and player.index == model.length - 1
    player.toggle()  # play again from the start
    assert player.playing and player.index == 0
    rgba(fig)  # lay out, so that data coordinates map to pixels
    x, y = player.view.scene.ax.transData.transform(player.view.scene.positions[1])
    MouseEvent("motion_notify_event", canvas, x, y)._process()
    assert player.tip.get_visible() and player.tip.get_text().startswith(model.household_ids[1])
    MouseEvent("motion_notify_event", canvas, 2, 2)._process()
    assert not player.tip.get_visible()


def test_cli_saves_one_frame_as_png(engine_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "frame.png"
    result = cli("playback", str(engine_run), "--frame", "6", "--save", str(out), "--dpi", "50")
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (700, 400)


def test_cli_saves_a_playable_gif(engine_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.gif"
    result = cli("playback", str(engine_run), "--save", str(out), "--speed", "5", "--dpi", "30")
    assert result.exit_code == 0, result.output
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.n_frames == 12
        assert gif.info["duration"] == 100  # 2 steps per second at 1x, times 5
        frames = []
        for i in (0, gif.n_frames - 1):
            gif.seek(i)
            frames.append(gif.convert("RGB"))
    assert ImageChops.difference(*frames).getbbox() is not None


def test_cli_saves_an_mp4(engine_run: Path, tmp_path: Path) -> None:
    if not ffmpeg_available():
        pytest.skip("no ffmpeg: install the video extra (imageio-ffmpeg)")
    import imageio_ffmpeg

    out = tmp_path / "run.mp4"
    result = cli("playback", str(engine_run), "--save", str(out), "--dpi", "30")
    assert result.exit_code == 0, result.output
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert meta["size"] == (420, 240)
    assert sum(1 for _ in reader) == 12


def test_cli_errors_name_the_file(engine_run: Path, tmp_path: Path) -> None:
    result = cli("playback", str(tmp_path / "nowhere"), "--save", str(tmp_path / "x.gif"))
    assert result.exit_code == 2 and "nowhere: no such run directory" in result.output

    run = tmp_path / "run"
    shutil.copytree(engine_run, run)
    result = cli("playback", str(run), "--save", str(tmp_path / "x.avi"))
    assert result.exit_code == 2 and "unknown format '.avi'" in result.output
    result = cli("playback", str(run), "--frame", "99", "--save", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "--frame 99: the run has steps 0 to 11" in result.output

    df = pd.read_csv(run / "optimized_results.csv", keep_default_na=False)
    bad = df[df["p2p_trades"] != ""].index[0]
    df.loc[bad, "p2p_trades"] = "h02:plenty"
    df.to_csv(run / "optimized_results.csv", index=False)
    result = cli("playback", str(run), "--save", str(tmp_path / "x.png"))
    assert result.exit_code == 2
    assert f"optimized_results.csv: column 'p2p_trades', row {bad} (line {bad + 2})" in result.output

    df.drop(columns=["wallet"]).to_csv(run / "optimized_results.csv", index=False)
    result = cli("playback", str(run), "--save", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "optimized_results.csv: missing column(s) wallet" in result.output

    (run / "baseline_results.csv").unlink()
    result = cli("playback", str(run), "--save", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "baseline_results.csv: no such file" in result.output


def test_without_a_display_the_window_is_refused(engine_run: Path) -> None:
    result = cli("playback", str(engine_run))
    assert result.exit_code == 1 and "no interactive display" in result.output and "--save" in result.output


def test_plays_the_original_projects_csvs(engine_run: Path, tmp_path: Path) -> None:
    """Runs of the original project have only the original columns and no params.json."""
    for name in ("baseline_results.csv", "optimized_results.csv"):
        df = pd.read_csv(engine_run / name, keep_default_na=False)
        df[list(ORIGINAL_COLUMNS)].to_csv(tmp_path / name, index=False)
    model = load_playback(tmp_path)
    assert model.clock is None and model.when(3) == "step 3"
    result = cli("playback", str(tmp_path), "--frame", "3", "--save", str(tmp_path / "f.png"), "--dpi", "30")
    assert result.exit_code == 0, result.output
