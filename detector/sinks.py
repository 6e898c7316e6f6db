"""Output stage: event JSONL, per-frame CSV, and the run summary.

Sinks write as results arrive and flush every record, so an interrupted run
(Ctrl-C, camera lost, truncated file) leaves valid files with everything found
so far.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.events import Event
from detector.facs import AU_NAMES, EMOTIONS


class OutputError(RuntimeError):
    """An output file cannot be written (one-line message)."""


def _open_for_writing(path: str | Path):
    p = Path(path)
    try:
        if p.parent and not p.parent.exists():
            raise OutputError(f"{p}: folder {p.parent} does not exist")
        return open(p, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise OutputError(f"{p}: cannot write ({e.strerror})") from None


class JsonlEventSink:
    """Writes one JSON object per event and flushes it at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = _open_for_writing(path)

    def write(self, event: Event) -> None:
        self._f.write(event.to_json() + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> "JsonlEventSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_events(path: str | Path) -> list[Event]:
    """Events of a JSONL file written by :class:`JsonlEventSink`."""
    import json

    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(Event.from_dict(json.loads(line)))
    return out


class FramesCsvSink:
    """One row per frame and face (OpenFace-like columns), flushed every frame.

    Columns: ``timestamp`` (s), ``frame`` (0-based), ``face``, ``success`` (1 if
    a face was found), ``pose_Rx, pose_Ry, pose_Rz`` (pitch, yaw, roll in
    degrees), ``pose_Tx, pose_Ty, pose_Tz`` (translation, IOD units), the 52
    blendshapes (``bs_<name>``), then the AU estimates (``AU01_L_r`` ...,
    intensity 0..1 relative to the face's neutral baseline).
    A frame without any face gets one row with ``face`` -1 and ``success`` 0.
    """

    def __init__(self, path: str | Path, blendshape_names: tuple[str, ...], pose_names: tuple[str, ...]) -> None:
        self.path = Path(path)
        self._f = _open_for_writing(path)
        self._w = csv.writer(self._f)
        self._n_bs = len(blendshape_names)
        self._n_pose = len(pose_names)
        self._n_au = len(AU_NAMES)
        self._w.writerow(
            ["timestamp", "frame", "face", "success"]
            + [f"pose_{n}" for n in pose_names]
            + [f"bs_{n}" for n in blendshape_names]
            + [f"{n}_r" for n in AU_NAMES]
        )
        self._empty = [""] * (self._n_pose + self._n_bs + self._n_au)

    def write(self, timestamp: float, frame: int, face: int, pose=None, blendshapes=None, aus=None) -> None:
        """One row; ``face`` < 0 (and no arrays) marks a frame without a face."""
        head = [f"{timestamp:.6f}", frame, face]
        if pose is None:
            self._w.writerow(head + [0] + self._empty)
        else:
            vals = np.concatenate([pose, blendshapes, aus]).astype(np.float64)
            self._w.writerow(head + [1] + [f"{v:.5g}" for v in vals])

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


@dataclass
class Summary:
    """Counts for the end-of-run table."""

    source: str = ""
    frames: int = 0
    frames_with_face: int = 0
    faces: set[int] = field(default_factory=set)
    events: Counter = field(default_factory=Counter)  # (kind, emotion) -> count
    seconds: float = 0.0  # wall-clock processing time
    duration: float = 0.0  # media time covered, seconds
    interrupted: bool = False

    def record_run(self, frames: int, frames_with_face: int, faces: set[int], seconds: float, duration: float,
                   interrupted: bool) -> str | None:
        """Fill in a finished run's counts; returns the no-face warning to show, if any."""
        self.frames, self.frames_with_face, self.faces = frames, frames_with_face, faces
        self.seconds, self.duration, self.interrupted = seconds, duration, interrupted
        if frames and not frames_with_face:
            return f"{self.source}: no face found in any of {frames} frames"
        return None

    def add_event(self, e: Event) -> None:
        self.events[(e.kind, e.emotion)] += 1

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def table(self) -> str:
        out = io.StringIO()
        w = out.write
        w(f"source            {self.source}\n")
        w(f"frames            {self.frames} ({self.duration:.2f} s of video)\n")
        pct = 100.0 * self.frames_with_face / self.frames if self.frames else 0.0
        w(f"frames with face  {self.frames_with_face} ({pct:.1f} %)\n")
        w(f"faces (tracks)    {len(self.faces)}\n")
        w(f"processing        {self.fps:.1f} fps ({self.seconds:.2f} s)\n")
        kinds = sorted({k for k, _ in self.events})
        total = sum(self.events.values())
        w(f"events            {total}\n")
        if total:
            emos = [e for e in EMOTIONS if any(self.events[(k, e)] for k in kinds)]
            w("  " + "kind".ljust(8) + "".join(e[:9].rjust(10) for e in emos) + "total".rjust(8) + "\n")
            for k in kinds:
                row = [self.events[(k, e)] for e in emos]
                w("  " + k.ljust(8) + "".join(str(v).rjust(10) for v in row) + str(sum(row)).rjust(8) + "\n")
        if self.interrupted:
            w("(interrupted: results cover the frames processed so far)\n")
        return out.getvalue()
