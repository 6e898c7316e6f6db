"""Output stage: event JSONL, per-frame CSV, and the run summary.

Sinks write as results arrive, every record whole, to a locked part file
beside the target that is renamed into place when the run ends, however it
ends (:class:`OutputFile`): an interrupted run (Ctrl-C, SIGTERM, camera lost,
truncated file, disk full) leaves valid files with everything found so far,
and no run truncates an input or an earlier result before it starts writing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.core.events import Event
from detector.core.facs import AU_NAMES, EMOTIONS, REGIONS
from detector.core.files import replace_atomically
from detector.stages.ekman import label_counts, summary_line

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class OutputError(RuntimeError):
    """An output file cannot be written (one-line message).  ``code``: the CLI's exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


#: ``-o -``: write to standard output.
STDOUT = "-"


def part_path(target: str | Path) -> Path:
    """Where an output is written until the run ends: ``.NAME.part`` beside ``target`` (also its lock)."""
    t = Path(target)
    return t.with_name(f".{t.name}.part")


def check_output(path: str | Path, inputs: tuple[str | Path, ...] = ()) -> None:
    """Raise :class:`OutputError` unless ``path`` can be an output: its folder exists, it is not a
    folder, and it is none of ``inputs`` (an output is never an input).  Opens nothing."""
    if str(path) == STDOUT:
        return
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p}: is a folder (give a file name)")
    if not p.parent.is_dir():
        raise OutputError(f"{p}: folder {p.parent} does not exist")
    for src in inputs:
        if _same_file(p, Path(src)):
            raise OutputError(f"{p}: is also an input (an output must never be an input)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


class OutputFile:
    """One output, written so that no run loses or destroys data.

    * Records go to :func:`part_path` beside the target; :meth:`close` renames
      it over the target (``os.replace``) — at the end of the run, after
      Ctrl-C and after an error alike — so the target is never seen half
      written and is not touched before the run starts writing.
    * The part file is locked (``fcntl.flock``, exclusive): a second run
      writing the same target at the same time is refused with
      :class:`OutputError`.
    * A record is written whole or not at all: after a failed write (disk
      full) the file is cut back to the last complete record and
      :class:`OutputError` (code 1) is raised; later writes are dropped.
    * ``"-"`` is standard output; a target that exists and is not a regular
      file (``/dev/null``, ``/dev/full``, a FIFO) is written in place.
    """

    def __init__(self, path: str | Path) -> None:
        self.target = Path(path)
        self.records = 0  # complete records written
        self.failed = False
        self._pending: list[str] = []
        self._good = 0  # file size after the last complete record
        self._part: Path | None = None
        if str(path) == STDOUT:
            sys.stdout.flush()
            self._fd = 1
            return
        check_output(path)
        try:
            if self.target.exists() and not self.target.is_file():  # a device or FIFO: written in place
                self._fd = os.open(self.target, os.O_WRONLY | os.O_CLOEXEC)
            else:
                self._part = part_path(self.target)
                self._fd = _open_locked(self._part, self.target)
        except OSError as e:
            raise OutputError(f"{self.target}: cannot write ({e.strerror})") from None

    def write(self, text: str) -> None:
        """Queue ``text`` (whole records); it reaches the file at :meth:`commit`."""
        self._pending.append(text)

    def commit(self) -> None:
        """Write the queued records; on failure cut the file back to the last whole record."""
        if not self._pending or self.failed or self._fd is None:
            self._pending.clear()
            return
        data = "".join(self._pending).encode("utf-8")
        n = len(self._pending)
        self._pending.clear()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as e:
            self.failed = True
            if self._part is not None:
                try:
                    os.ftruncate(self._fd, self._good)
                except OSError:
                    pass
            raise OutputError(f"{self.target}: cannot write ({e.strerror}); "
                              f"kept the {self.records} complete records written before", code=1) from None
        self._good += len(data)
        self.records += n

    def close(self) -> None:
        """Write what is queued, then put the file in place (see the class docstring)."""
        if self._fd is None:
            return
        try:
            self.commit()
        finally:
            fd, self._fd = self._fd, None
            if fd != 1:
                if self._part is not None:
                    try:
                        os.fsync(fd)
                    except OSError:
                        pass
                    os.replace(self._part, self.target)  # still holding the lock
                os.close(fd)

    def discard(self) -> None:
        """Give up before the run started (another output or resource failed): the target is left as it was."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self._part is not None:
            try:
                os.unlink(self._part)
            except FileNotFoundError:
                pass
        if fd != 1:
            os.close(fd)

    def __enter__(self) -> "OutputFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open_locked(part: Path, target: Path) -> int:
    """Open ``part`` for writing, empty, holding an exclusive lock on it; refuse if another run holds it."""
    while True:
        fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        if fcntl is None:  # no flock (Windows): no protection against a concurrent run
            os.ftruncate(fd, 0)
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"{target}: another microexpr run is writing it (its {part.name} is locked)") from None
        try:  # the other run may have renamed it into place between our open and our lock
            same = os.path.samestat(os.fstat(fd), os.stat(part))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            return fd
        os.close(fd)


class JsonlEventSink:
    """Writes one JSON object per event, each written at once (see :class:`OutputFile`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = OutputFile(path)

    def write(self, event: Event) -> None:
        self._f.write(event.to_json() + "\n")
        self._f.commit()

    def close(self) -> None:
        self._f.close()

    def discard(self) -> None:
        self._f.discard()

    def __enter__(self) -> "JsonlEventSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InputFileError(ValueError):
    """An input file written by a sink (events JSONL, frames CSV) cannot be read (one-line message)."""


def read_events(path: str | Path) -> list[Event]:
    """Events of a JSONL file written by :class:`JsonlEventSink`.

    Raises :class:`InputFileError` naming the file and line for a line that is
    not an event, and for a file that cannot be read.
    """
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    out.append(_event_of_line(line, path, n))
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    return out


def _event_of_line(line: str, path: str | Path, n: int) -> Event:
    try:
        d = json.loads(line)
        if not isinstance(d, dict):
            raise TypeError("not a JSON object")
        return Event.from_dict(d)
    except (ValueError, TypeError) as e:
        why = str(e).splitlines()[0][:120]
        raise InputFileError(f"{path}: line {n} is not a microexpr event ({why})") from None


#: The key columns of a frames CSV, parsed as numbers by :func:`read_frames_csv`.
FRAME_KEY_COLUMNS: tuple[str, ...] = ("timestamp", "frame", "face", "success")


def read_frames_csv(path: str | Path, columns: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The columns of a CSV written by :class:`FramesCsvSink`: :data:`FRAME_KEY_COLUMNS` plus those of
    ``columns`` the file has, each a float64 array (NaN where a row has no face).

    Raises :class:`InputFileError` for a file that is not such a CSV.
    """
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or list(header[:4]) != list(FRAME_KEY_COLUMNS):
                raise InputFileError(f"{path}: not a microexpr frames CSV (its header does not start with "
                                     f"{','.join(FRAME_KEY_COLUMNS)})")
            names = [c for c in FRAME_KEY_COLUMNS + tuple(columns) if c in header]
            idx = [header.index(c) for c in names]
            rows = [[row[i] for i in idx] for row in reader if row]
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    except IndexError:
        raise InputFileError(f"{path}: a row has fewer columns than the header") from None
    try:
        table = np.array([[float(v) if v != "" else np.nan for v in r] for r in rows], dtype=np.float64)
    except ValueError as e:
        raise InputFileError(f"{path}: not a number in the table ({e})") from None
    table = table.reshape(len(rows), len(names))
    return {c: table[:, k] for k, c in enumerate(names)}


def write_file_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (:func:`detector.core.files.replace_atomically`).
    On failure ``path`` is left as it was; raises :class:`OutputError`."""
    target = Path(path)
    check_output(target)
    try:
        replace_atomically(target, data)
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror})", code=1) from None


#: The frames CSV's region activation columns, in :data:`detector.core.facs.REGIONS` order.
ACTIVATION_COLUMNS: tuple[str, ...] = tuple(f"act_{r}" for r in REGIONS)


class FramesCsvSink:
    """One row per frame and face (OpenFace-like columns), flushed every frame.

    Columns: ``timestamp`` (s), ``frame`` (0-based), ``face``, ``success`` (1 if
    a face was found), ``pose_Rx, pose_Ry, pose_Rz`` (pitch, yaw, roll in
    degrees), ``pose_Tx, pose_Ty, pose_Tz`` (translation, IOD units), the 52
    blendshapes (``bs_<name>``), the AU estimates (``AU01_L_r`` ...,
    intensity 0..1 relative to the face's neutral baseline), then the
    segmenter's region activations (``act_brows`` ... ``act_jaw``, largest |z|
    per :data:`detector.core.facs.REGIONS` in noise units, of its latest centred
    frame: one frame behind the row with the default smoothing; 0 or empty while it
    calibrates).
    A frame without any face gets one row with ``face`` -1 and ``success`` 0.
    """

    def __init__(self, path: str | Path, blendshape_names: tuple[str, ...], pose_names: tuple[str, ...]) -> None:
        self.path = Path(path)
        self._f = OutputFile(path)
        self._buf = io.StringIO()
        self._w = csv.writer(self._buf)
        self._n_bs = len(blendshape_names)
        self._n_pose = len(pose_names)
        self._n_au = len(AU_NAMES)
        self._n_act = len(REGIONS)
        self._w.writerow(
            ["timestamp", "frame", "face", "success"]
            + [f"pose_{n}" for n in pose_names]
            + [f"bs_{n}" for n in blendshape_names]
            + [f"{n}_r" for n in AU_NAMES]
            + list(ACTIVATION_COLUMNS)
        )
        try:
            self.flush()
        except OutputError:
            self._f.discard()
            raise
        self._empty = [""] * (self._n_pose + self._n_bs + self._n_au + self._n_act)

    def write(self, timestamp: float, frame: int, face: int, pose=None, blendshapes=None, aus=None,
              activation=None) -> None:
        """One row; ``face`` < 0 (and no arrays) marks a frame without a face.  ``activation``: the
        region activations (6,), None while the segmenter calibrates."""
        head = [f"{timestamp:.6f}", frame, face]
        if pose is None:
            self._w.writerow(head + [0] + self._empty)
        else:
            vals = np.concatenate([pose, blendshapes, aus]).astype(np.float64)
            act = [""] * self._n_act if activation is None else [f"{v:.4g}" for v in activation]
            self._w.writerow(head + [1] + [f"{v:.5g}" for v in vals] + act)

    def flush(self) -> None:
        """Write the rows given since the last flush (whole rows only, see :class:`OutputFile`)."""
        self._f.write(self._buf.getvalue())
        self._buf.seek(0)
        self._buf.truncate()
        self._f.commit()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._f.close()

    def discard(self) -> None:
        self._f.discard()


@dataclass
class Summary:
    """Counts for the end-of-run table."""

    source: str = ""
    frames: int = 0
    frames_with_face: int = 0
    faces: set[int] = field(default_factory=set)
    events: Counter = field(default_factory=Counter)  # (kind, emotion) -> count
    labels: Counter = field(default_factory=Counter)  # Ekman's labels: masked, subtle, Duchenne, ... -> count
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
        self.labels.update(label_counts(e))

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
        w(summary_line(self.labels))
        if self.interrupted:
            w("(interrupted: results cover the frames processed so far)\n")
        return out.getvalue()


# --------------------------------------------------------------------------- resumable batches


def done_path(output: str | Path) -> Path:
    """The marker that says the outputs of one input are complete: ``NAME.done.json`` beside
    ``output`` (``NAME.events.jsonl`` -> ``NAME.done.json``)."""
    p = Path(output)
    name = p.name
    for suffix in (".events.jsonl", ".frames.csv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(f"{name}.done.json")


def _input_identity(source: str | Path) -> dict:
    st = Path(source).stat()
    return {"source": str(Path(source).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def write_done(source: str | Path, outputs: list[str], fingerprint: str, counts: dict) -> Path:
    """Write the :func:`done_path` marker of ``outputs`` (written last, atomically, after every output
    was put in place): the input's path, size and modification time, the settings' ``fingerprint``,
    the outputs and ``counts``."""
    marker = done_path(outputs[0])
    record = {**_input_identity(source), "fingerprint": fingerprint,
              "outputs": [Path(o).name for o in outputs], **counts}
    write_file_atomic(marker, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
    return marker


def is_done(source: str | Path, outputs: list[str], fingerprint: str) -> bool:
    """True if ``outputs`` are complete for this input and settings: the marker exists, names the same
    input (same path, size and modification time), settings and outputs, and every output exists.
    An interrupted or failed run writes no marker, so its input is done again."""
    if not outputs:
        return False
    try:
        record = json.loads(done_path(outputs[0]).read_text(encoding="utf-8"))
        ident = _input_identity(source)
    except (OSError, ValueError):
        return False
    return (all(record.get(k) == v for k, v in ident.items()) and record.get("fingerprint") == fingerprint
            and record.get("outputs") == [Path(o).name for o in outputs] and all(Path(o).is_file() for o in outputs))
