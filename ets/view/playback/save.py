"""Headless output: one frame as PNG, or the whole run as GIF (Pillow) or MP4 (ffmpeg, from the
``imageio-ffmpeg`` package or the system's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib import rcParams
from matplotlib.animation import AbstractMovieWriter, FFMpegWriter, PillowWriter

from chain.errors import InputError
from ets.view.playback.model import Playback
from ets.view.playback.view import PlaybackView, playback_figure

FRAMES_PER_SECOND_AT_1X = 2.0
"""Playback rate at speed 1 (steps per second); ``--speed`` multiplies it."""
FRAME_FORMATS = (".png",)
MOVIE_FORMATS = (".gif", ".mp4")


def save_frame(playback: Playback, index: int, path: Path, dpi: int = 100) -> Path:
    """Position ``index`` of the run as a still image (format by suffix: PNG)."""
    fig = playback_figure()
    view = PlaybackView(fig, playback)
    view.show(index)
    fig.savefig(path, dpi=dpi)
    return path


def ffmpeg_available() -> bool:
    """Whether an ffmpeg binary can be found: ``imageio-ffmpeg``'s, else one on PATH."""
    try:
        import imageio_ffmpeg

        rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        pass
    return bool(FFMpegWriter.isAvailable())


PALETTE_SAMPLES = 12
"""Frames (evenly spread over the run) whose colours make the GIF's one palette."""


class OnePaletteGifWriter(PillowWriter):
    """A GIF whose frames share one palette, made from frames across the whole run: Pillow would give each
    frame a palette of its own, and the same colour would shift from frame to frame."""

    def finish(self) -> None:
        from PIL import Image

        frames = [f.convert("RGB") for f in self._frames]  # type: ignore[attr-defined]
        if not frames:
            return
        picks = frames[:: max(1, len(frames) // PALETTE_SAMPLES)][:PALETTE_SAMPLES]
        width, height = picks[0].size
        sample = Image.new("RGB", (width, height * len(picks)))
        for i, frame in enumerate(picks):
            sample.paste(frame, (0, i * height))
        palette = sample.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
        indexed[0].save(
            self.outfile,
            save_all=True,
            append_images=indexed[1:],
            duration=int(1000 / self.fps),
            loop=0,
            optimize=False,
            palette=indexed[0].getpalette(),  # the file's global palette: then no frame gets one of its own
        )


def movie_writer(path: Path, fps: float) -> AbstractMovieWriter:
    suffix = path.suffix.lower()
    if suffix == ".gif":
        # matplotlib's stubs say int, but both writers take fractional rates (0.5 fps at speed 0.25)
        return OnePaletteGifWriter(fps=fps)  # type: ignore[arg-type]
    if suffix == ".mp4":
        if not ffmpeg_available():
            raise InputError(
                f"{path}: writing MP4 needs ffmpeg; install it with `uv sync --extra video` (imageio-ffmpeg) "
                "or save a .gif instead"
            )
        return FFMpegWriter(fps=fps, codec="libx264", extra_args=["-pix_fmt", "yuv420p"])  # type: ignore[arg-type]
    raise InputError(f"{path}: unknown format {suffix!r}; use one of {', '.join(FRAME_FORMATS + MOVIE_FORMATS)}")


def save_movie(
    playback: Playback,
    path: Path,
    speed: float = 1.0,
    dpi: int = 100,
    on_frame: Callable[[int], None] | None = None,
) -> Path:
    """Every step of the run as an animation at ``speed`` x ``FRAMES_PER_SECOND_AT_1X`` frames per second;
    ``on_frame(n)`` is called after the n-th frame is written."""
    writer = movie_writer(path, FRAMES_PER_SECOND_AT_1X * speed)
    fig = playback_figure()
    view = PlaybackView(fig, playback)
    with writer.saving(fig, str(path), dpi):
        for index in range(playback.length):
            view.show(index)
            writer.grab_frame()
            if on_frame is not None:
                on_frame(index + 1)
    return path
