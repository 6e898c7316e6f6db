"""Report data: a run's events and per-frame region activations, checked against their video.

Reads with :mod:`detector.app.sinks`' own readers (the files ``analyze`` writes)
and refuses, in one line, an events file or frames CSV that does not belong to
the video: a frame past the video's end, or frame times that do not match the
video's frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.app.sinks import ACTIVATION_COLUMNS, InputFileError, read_events, read_frames_csv
from detector.core.events import Event
from detector.core.facs import REGIONS
from detector.stages.source import SourceError, VideoFileSource


class ReportError(RuntimeError):
    """Bad input for a report (one-line message); ``code``: the CLI's exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VideoInfo:
    """What the report needs to know about the video file."""

    path: str
    fps: float
    frames: int
    size: tuple[int, int]
    first_timestamp: float

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    def time_of(self, frame: int | np.ndarray):
        """Nominal time of a frame, seconds (constant frame rate)."""
        return self.first_timestamp + np.asarray(frame) / self.fps


def probe_video(path: str | Path) -> VideoInfo:
    """Frame rate, frame count and size of a video file (:class:`SourceError` if it cannot be read)."""
    with VideoFileSource(path) as src:
        if not src.nominal_fps or not src.total_frames:
            raise SourceError(f"{path}: the video does not state its frame rate and frame count")
        return VideoInfo(str(path), src.nominal_fps, src.total_frames, src.size, src.first_timestamp)


@dataclass(frozen=True)
class Curves:
    """Per video frame: time (s), region activations (frames, 6) in noise units (NaN: no face or
    calibrating), and whether a face was found (max over faces where several were tracked)."""

    t: np.ndarray
    activation: np.ndarray
    face: np.ndarray

    @property
    def has_activation(self) -> bool:
        return bool(np.isfinite(self.activation).any())


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, from any source (files or a run just finished)."""

    video: VideoInfo
    events: list[Event]
    curves: Curves | None  # None: no frames CSV given
    threshold: float  # region activation that makes a region active, noise units
    processing_fps: float | None = None  # None: the analysis was not run by this command
    events_source: str = ""

    @property
    def frames_with_face(self) -> int | None:
        return None if self.curves is None else int(self.curves.face.sum())


def load_report_data(video: str | Path, events_path: str | Path, frames_csv: str | Path | None, *,
                     threshold: float, processing_fps: float | None = None,
                     events_label: str | None = None) -> ReportData:
    """Read and check the inputs of a report; :class:`ReportError` or :class:`SourceError` (one line).
    ``events_label``: where the report says the events come from (default: ``events_path``)."""
    info = probe_video(video)
    events = _read(read_events, events_path)
    check_frame_times(info, [(f, t) for e in events for f, t in _event_points(e)], events_path)
    curves = None
    if frames_csv is not None:
        table = _read(read_frames_csv, frames_csv, ACTIVATION_COLUMNS)
        check_frame_times(info, sample_points(table), frames_csv)
        curves = curves_of_table(info, table)
    return ReportData(info, sorted(events, key=lambda e: (e.onset, e.face)), curves, float(threshold),
                      processing_fps, events_label or str(events_path))


def _read(reader, path, *args):
    if not Path(path).is_file():
        raise ReportError(f"{path}: no such file" if not Path(path).exists() else f"{path}: not a file")
    try:
        return reader(path, *args)
    except InputFileError as e:
        raise ReportError(str(e)) from None


def _event_points(e: Event) -> tuple[tuple[int, float], ...]:
    return (e.onset_frame, e.onset), (e.apex_frame, e.apex), (e.offset_frame, e.offset)


def time_tolerance(info: VideoInfo, t: float) -> float:
    """How far a frame's recorded time may be from its nominal time: 2.5 frames, or 2 % of the time
    (variable frame rate).  Another frame rate (24 vs 25 or 30 fps) is off by more within seconds."""
    return max(2.5 / info.fps, 0.02 * abs(t))


def check_frame_times(info: VideoInfo, points, what) -> None:
    """Every ``(frame, seconds)`` pair of ``what`` belongs to the video, or :class:`ReportError`."""
    for frame, t in points:
        if frame < 0 or frame >= info.frames:
            raise ReportError(f"{what}: frame {frame} ({t:.2f} s) is outside {info.path} ({info.frames} frames, "
                              f"{info.duration:.2f} s): it was not made from this video")
        expected = float(info.time_of(frame))
        if abs(t - expected) > time_tolerance(info, t):
            raise ReportError(f"{what}: frame {frame} is at {t:.3f} s there but at {expected:.3f} s in "
                              f"{info.path} ({info.fps:g} fps): it was not made from this video "
                              "(another frame rate)")


def sample_points(table: dict[str, np.ndarray], n: int = 500) -> list[tuple[int, float]]:
    """About ``n`` ``(frame, seconds)`` pairs of a frames CSV, evenly spread, its last frame included."""
    frames, times = table["frame"].astype(np.int64), table["timestamp"]
    if not len(frames):
        return []
    idx = np.unique(np.r_[np.arange(0, len(frames), max(1, len(frames) // n)), np.argmax(frames)])
    return [(int(frames[i]), float(times[i])) for i in idx]


def curves_of_table(info: VideoInfo, table: dict[str, np.ndarray]) -> Curves:
    """Per-frame curves from a frames CSV table (several faces: the largest activation per frame)."""
    n = info.frames
    frames = table["frame"].astype(np.int64)
    t = info.time_of(np.arange(n)).astype(np.float64)
    t[frames] = table["timestamp"]
    face = np.zeros(n, dtype=bool)
    face[frames[table["success"] > 0]] = True
    act = np.full((n, len(REGIONS)), np.nan)
    if all(c in table for c in ACTIVATION_COLUMNS):
        vals = np.column_stack([table[c] for c in ACTIVATION_COLUMNS])
        np.fmax.at(act, frames, vals)
    return Curves(t, act, face)
