"""``ets playback`` and ``ets report``: looking at a run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from chain.errors import InputError
from ets.cli.common import fail_cleanly, progress

if TYPE_CHECKING:
    from ets.view.playback.model import Playback


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--save",
    "save_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a file instead of opening a window: .gif or .mp4 (every step) or .png (the step of --frame).",
)
@click.option(
    "--speed",
    type=click.FloatRange(0.25, 10.0),
    default=1.0,
    show_default=True,
    help="Playback speed, 0.25x-10x; 1x is 2 steps per second.",
)
@click.option("--frame", "frame_step", type=int, default=None, help="The step to show first, or to save as .png.")
@click.option("--dpi", type=click.IntRange(30, 300), default=100, show_default=True, help="Resolution of saved files.")
@fail_cleanly
def playback(run_dir: Path, save_path: Path | None, speed: float, frame_step: int | None, dpi: int) -> None:
    """Play a run back: households on a circle around the city grid, energy arrows, status, and the wallet,
    grid, battery, energy and P2P plots (baseline vs optimized). Opens a window unless --save is given."""
    from ets.view.playback.model import load_playback

    if save_path is not None and frame_step is not None and save_path.suffix.lower() != ".png":
        raise InputError(
            f"--frame {frame_step}: a {save_path.suffix or 'movie'} has every step of the run; --frame picks "
            "the step of a .png (or the first step the window shows)"
        )
    model = load_playback(run_dir)
    index = _frame_index(model, frame_step)
    if save_path is None:
        from ets.view.playback.interactive import play

        play(model, speed, index)
        return
    if not save_path.parent.is_dir():
        raise InputError(f"{save_path.parent}: no such directory")
    if save_path.suffix.lower() == ".png":
        from ets.view.playback.save import save_frame

        save_frame(model, index, save_path, dpi)
    else:
        from ets.view.playback.save import movie_writer, save_movie

        movie_writer(save_path, speed)  # checks the format before any frame is drawn
        with progress(False, model.length, "frames") as advance:
            save_movie(model, save_path, speed, dpi, on_frame=advance)
    click.echo(f"wrote {save_path}")


def _frame_index(model: Playback, frame_step: int | None) -> int:
    if frame_step is None:
        return 0
    try:
        return model.index_of(frame_step)
    except ValueError:
        raise InputError(f"--frame {frame_step}: the run has steps {model.steps[0]} to {model.steps[-1]}") from None


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the page and the figures (default: RUN_DIR/report).",
)
@fail_cleanly
def report(run_dir: Path, out: Path | None) -> None:
    """Write PNG figures and an HTML page (KPI table, saving per household, grid import duration curve
    against the limit, prices, battery use) about a run."""
    from ets.view.report import write_report

    written = write_report(run_dir, out)
    for path in written:
        click.echo(str(path))
