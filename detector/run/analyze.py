"""The public entry point :func:`analyze`: one input in, its events out.

The only module that chooses between the one-stream run (:mod:`detector.run.pipeline`) and the
chunked run over processes (:mod:`detector.run.parallel`); both sit below it, so neither imports
the other's caller.
"""

from __future__ import annotations

from pathlib import Path

from detector.core.events import Event
from detector.run.config import Config, load_config
from detector.run.parallel import DEFAULT_CHUNK_S, WARMUP_FRAMES, run_chunked, video_borders
from detector.run.pipeline import Analyzer, analyze_single_stream, events_on_error
from detector.stages.source import VideoFileSource


def analyze(
    path: str | Path, config: Config | None = None, fps: float | None = None, workers: int = 1
) -> list[Event]:
    """All expression events of a video file or a folder of numbered images.

    Gives the same events as ``microexpr analyze``: a video longer than two
    chunks is cut on the same fixed grid (``detector.run.parallel``), whatever
    ``workers`` is.

    Parameters
    ----------
    path : str or Path
        Video file, or folder of numbered images (then ``fps`` is required).
    config : Config, optional
        Defaults to ``configs/default.toml``.
    fps : float, optional
        Frame rate of an image folder, frames per second.
    workers : int
        Processes finding landmarks in a long video (1 = this process only).

    Returns
    -------
    list of Event, in the order they were found.

    Raises
    ------
    FileNotFoundError
        No such file or folder (a :class:`detector.stages.source.SourceError` too).
    detector.stages.source.SourceError
        The input cannot be read.  If it breaks off part-way (a truncated
        file), the events found up to there, the one in progress included,
        are in the exception's ``events``.
    """
    if Path(path).is_dir():
        return analyze_single_stream(path, config, fps)
    return analyze_video(path, config, workers=workers)


def analyze_video(
    path: str | Path,
    config: Config | None = None,
    *,
    workers: int | None = None,
    chunk_s: float = DEFAULT_CHUNK_S,
    warmup_frames: int = WARMUP_FRAMES,
) -> list[Event]:
    """All events of a video file, chunked over ``workers`` processes (see :mod:`detector.run.parallel`).

    Videos shorter than two chunks are analysed exactly as
    :func:`detector.run.pipeline.analyze_single_stream` does.
    """
    config = config or load_config()
    with VideoFileSource(path) as probe:
        borders = video_borders(probe, chunk_s)
    if not borders:
        return analyze_single_stream(path, config)
    analyzer, found = Analyzer(config), []
    with events_on_error(analyzer, found):
        return run_chunked(path, config, analyzer, workers=workers, borders=borders, warmup_frames=warmup_frames,
                           on_event=found.append)
