"""Pictures a newcomer looks at: in every frame of the playback no two texts overlap and every text lies
inside the figure (also in a smaller window); the window has a title; a GIF has one palette for all its
frames; the report's P2P price is drawn above the grid prices, marked at every traded step."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from ets.view.canvas import headless_figure
from ets.view.playback.interactive import CONTROLS_IN, Player, window_title
from ets.view.playback.model import load_playback
from ets.view.playback.save import save_movie
from ets.view.playback.view import FIGSIZE_IN, PlaybackView, playback_figure
from tests.conftest import cli, only_run_dir, write_params
from tests.text_boxes import layout_problems

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def busy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default community's 10 households in the evening of the default day, when they trade most."""
    root = tmp_path_factory.mktemp("busy")
    params = write_params(
        root / "p.json",
        {"simulation": {"steps": 16, "start_step": 11_424 + 62}, "household": {"max_households": 10}},
    )
    result = cli("simulate", "--params", str(params), "--results", str(root / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    return only_run_dir(root / "r")


@pytest.mark.parametrize(
    ("size", "controls"), [(FIGSIZE_IN, 0.0), (FIGSIZE_IN, CONTROLS_IN), ((10.0, 6.0), CONTROLS_IN)]
)
def test_no_text_of_any_frame_overlaps_another_or_leaves_the_figure(
    busy_run: Path, size: tuple[float, float], controls: float
) -> None:
    playback = load_playback(busy_run)
    fig = headless_figure(size)
    view = PlaybackView(fig, playback, controls_in=controls)
    trades = 0
    for index in range(playback.length):
        view.show(index)
        assert layout_problems(fig) == [], f"step {playback.steps[index]}"
        trades += len(playback.frame(index).trades)
    assert trades > 30  # busy enough for labels to compete


def test_the_wallet_difference_has_no_negative_zero(busy_run: Path) -> None:
    playback = load_playback(busy_run)
    fig = playback_figure()
    view = PlaybackView(fig, playback)
    view.show(0)
    assert not [t for t in view.scene.ax.texts if "(-0.00 vs alone)" in t.get_text()]


def test_the_window_is_titled_with_the_run(busy_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    from ets.view.playback import interactive

    playback = load_playback(busy_run)
    titles: list[str] = []

    def show() -> None:
        manager = plt.gcf().canvas.manager
        assert manager is not None
        titles.append(manager.get_window_title())

    monkeypatch.setattr(plt, "get_backend", lambda: "tkagg")
    monkeypatch.setattr(plt, "show", show)
    interactive.play(playback)
    plt.close("all")
    assert titles == [window_title(playback)] and busy_run.name in titles[0]


def test_a_resized_window_is_laid_out_again(busy_run: Path) -> None:
    playback = load_playback(busy_run)
    fig = headless_figure(FIGSIZE_IN)
    player = Player(fig, playback, start=5)
    fig.set_size_inches(10.0, 6.0)
    player.relayout()
    assert layout_problems(fig) == []


def local_colour_tables(gif: bytes) -> tuple[bool, int, int]:
    """(has a global colour table, images, images with a colour table of their own) of a GIF file."""
    assert gif[:6] in (b"GIF87a", b"GIF89a")
    packed = gif[10]
    pos = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
    images = local = 0

    def skip_blocks(p: int) -> int:
        while gif[p]:
            p += gif[p] + 1
        return p + 1

    while gif[pos] != 0x3B:
        if gif[pos] == 0x21:  # extension: label, then data sub-blocks
            pos = skip_blocks(pos + 2)
        elif gif[pos] == 0x2C:  # image descriptor
            flags = gif[pos + 9]
            images += 1
            pos += 10
            if flags & 0x80:
                local += 1
                pos += 3 * 2 ** ((flags & 7) + 1)
            pos = skip_blocks(pos + 1)  # LZW minimum code size, then the image data
        else:
            raise AssertionError(f"unexpected GIF block {gif[pos]:#x} at {pos}")
    return bool(packed & 0x80), images, local


def test_a_gif_has_one_palette_for_every_frame(busy_run: Path, tmp_path: Path) -> None:
    playback = load_playback(busy_run)
    path = save_movie(playback, tmp_path / "day.gif", speed=4, dpi=40)
    has_global, images, local = local_colour_tables(path.read_bytes())
    assert has_global and images == playback.length and local == 0


def test_the_p2p_price_is_drawn_above_the_grid_prices_and_marked(busy_run: Path) -> None:
    from ets.results.read import load_run, read_summary
    from ets.view.report.figures import prices_figure, report_data

    run = load_run(busy_run)
    data = report_data(run, read_summary(run))
    fig = prices_figure(data)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    sell = lines["grid sell price"]
    marked = lines["P2P price (steps with trades)"]
    assert marked.get_marker() not in (None, "", "None") and marked.get_zorder() > sell.get_zorder()
    assert sum(1 for v in marked.get_ydata() if v == v) > 0  # traded steps carry a marker
    assert layout_problems(fig) == []
