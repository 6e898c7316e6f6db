"""Using every core for recorded video: one long video in chunks, or many files at once.

One long video (``microexpr analyze --workers N``)
--------------------------------------------------
MediaPipe is the expensive stage (about 8-12 ms a frame on one core);
everything after it costs about 0.1 ms a frame.  So worker processes find the
faces (one FaceLandmarker per process; features are extracted there too) and
the main process runs the face tracker, the segmenter and the classifier over
every frame in order, exactly as a single process does.  The segmenter thus
sees the whole history: no baseline is re-learnt at a chunk border, and no
event is cut, duplicated or lost there.  Frame indices and timestamps are the
video's own (global); events are written in order, each as soon as the main
process reaches it (the first worker's part streams live, later parts are
buffered in compact form, ~0.7 KB a frame, until their turn).

What cannot be carried across a border is MediaPipe's own state: in VIDEO
mode it tracks the face from the previous frame's landmarks, and a landmarker
started afresh never again gives bit-identical landmarks to one that has run
from the start (measured on the bundled clip: differences of 0.1-1 px that
persist, the size of the frame-to-frame noise; 4-11 px on the first frame
after a cold start, settled after about 5 frames).  Hence the design:

* The video is cut at a fixed grid of media time: ``round(duration /
  chunk_s)`` equal chunks (:func:`chunk_borders`).  The grid depends only on
  the video's duration (from its header) and ``chunk_s``, never on the
  number of workers.  At every border the landmarker is restarted and first
  shown the ``warmup_frames`` frames before the border (results discarded),
  in every run, one worker or many.
* A worker processes a contiguous run of chunks, decoding sequentially and
  restarting its landmarker at each border; an idle worker takes the back
  half of the largest unstarted remainder of another worker's run (the
  split falls on a border, so results do not depend on who does what).  The
  main process is one of the workers (its run goes between consuming the
  others' messages), so ``--workers 2`` spawns one process.
* Each worker seeks to its first border, and checks that the frames it saw
  before and at the border (timestamps and CRC-32 of the decoded pixels) are
  those the previous run saw; otherwise (a file whose seeking is not exact)
  the rest of the video is analysed by one worker decoding from the start,
  with a warning.

**What equals what.**  For a given video, configuration and ``chunk_s`` the
result is identical for every ``--workers N``: the same events with the same
frame indices, timestamps and values, and the same per-frame CSV, byte for
byte (tested, ``tests/test_parallel.py``; measured on 78.7 s and 10 min
videos, ``benchmarks/bench_workers.py``).  Videos shorter than two chunks are
not cut at all and give exactly what the plain pipeline
(:func:`detector.run.pipeline.analyze_single_stream`) gives.  Against an *uncut* run of a long
video, frames after each border follow another, equally valid, MediaPipe
tracking trajectory (frames before the first border are identical), so an
event close to a threshold can appear or vanish and matched events can move
by a few frames: on a 78.7 s talking-face video with 7 borders, 5 of 6
events matched (IoU >= 0.5) with shifts up to 8 frames, 21 of 23 with a more
sensitive configuration (``benchmarks/cut_vs_uncut.py``).  The test bounds
this on the bundled clip: per-frame deviation below the frame-to-frame
jitter, at most one event more or less.

Many files (``microexpr analyze A.mp4 B.mp4 ...``): :mod:`detector.run.files`.

Many machines (``microexpr analyze ... --cluster ray``): :mod:`detector.run.cluster` runs the same chunk
grid as Ray tasks, one per chunk, and feeds :func:`run_chunked` through its ``runner``.

Processes are started with ``spawn`` (MediaPipe is not fork-safe once
initialised); workers ignore SIGINT and SIGTERM, so Ctrl-C reaches the main process only,
which stops them and keeps its outputs valid.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import queue as queue_mod
import signal
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.core.options import MEDIA


#: Default chunk length, seconds of media time.
DEFAULT_CHUNK_S = 10.0
#: Frames before a border shown to the fresh landmarker before the border's frame.
WARMUP_FRAMES = 8
#: Frames per message from a worker.
BATCH_FRAMES = 16


_log = logging.getLogger(__name__)


class ParallelError(RuntimeError):
    """A worker process failed in a way that is not the input's fault (one-line message)."""


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def chunk_borders(duration_s: float | None, chunk_s: float = DEFAULT_CHUNK_S, t0: float = 0.0) -> list[float]:
    """Chunk borders, seconds of media time, for a video of ``duration_s`` seconds starting at ``t0``.

    ``K = round(duration_s / chunk_s)`` chunks of equal length (so that runs
    of chunks split evenly); empty (do not cut) when the video is shorter
    than two chunks (``duration_s < 2 * chunk_s``) or its duration is unknown.
    """
    if not duration_s or not math.isfinite(duration_s) or not chunk_s or chunk_s <= 0:
        return []
    if duration_s < 2.0 * chunk_s:
        return []
    k = max(2, int(round(duration_s / chunk_s)))
    step = duration_s / k
    return [t0 + i * step for i in range(1, k)]


def video_borders(src, chunk_s: float = DEFAULT_CHUNK_S) -> list[float]:
    """:func:`chunk_borders` of an open :class:`~detector.stages.source.VideoFileSource` (from its container header)."""
    n, fps = getattr(src, "total_frames", None), getattr(src, "nominal_fps", 0.0)
    if not n or not fps:
        return []
    return chunk_borders(n / fps, chunk_s, float(getattr(src, "first_timestamp", 0.0)))


def initial_runs(n_chunks: int, workers: int) -> list[tuple[int, int]]:
    """Split chunks 0..n_chunks-1 into ``min(workers, n_chunks)`` contiguous runs [start, end)."""
    w = max(1, min(workers, n_chunks))
    cuts = [round(i * n_chunks / w) for i in range(w + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(w)]


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class _Job:
    job_id: int
    path: str
    options: Any  # LandmarkerOptions
    borders: tuple[float, ...]
    start: int  # first chunk
    end: int  # chunk after the last one (may shrink while running: work stealing)
    warmup: int
    seek: bool
    batch: int = BATCH_FRAMES


def _crc(image: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(image).data)


class _Packer:
    """Per-frame face records packed into a few arrays (cheap to pickle, exact values)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.ts: list[float] = []
        self.nf: list[int] = []
        self.faces: list[tuple] = []

    def __len__(self) -> int:
        return len(self.ts)

    def add(self, ts: float, faces: list[tuple]) -> None:
        self.ts.append(ts)
        self.nf.append(len(faces))
        self.faces.extend(faces)

    def pack(self) -> dict[str, np.ndarray]:
        f = self.faces
        out = {"ts": np.asarray(self.ts, dtype=np.float64), "nf": np.asarray(self.nf, dtype=np.int32)}
        if f:
            names = ("centre", "size", "bs", "tf", "channels", "pose", "aus")
            for i, name in enumerate(names):
                out[name] = np.stack([np.asarray(x[i]) for x in f])
        self.clear()
        return out


def unpack(batch: dict[str, np.ndarray]) -> Iterator[tuple[float, list[tuple]]]:
    """Frames of a packed batch: (timestamp s, [(centre, size, blendshapes, transform, FaceFeatures), ...])."""
    from detector.stages.features import GAZE_IDX, FaceFeatures

    k = 0
    for ts, nf in zip(batch["ts"].tolist(), batch["nf"].tolist()):
        faces = []
        for j in range(k, k + nf):
            feats = FaceFeatures(batch["channels"][j], batch["pose"][j], batch["aus"][j], batch["bs"][j][GAZE_IDX])
            faces.append((batch["centre"][j], float(batch["size"][j]), batch["bs"][j], batch["tf"][j], feats))
        k += nf
        yield ts, faces


class _SeekTooLate(Exception):
    pass


def scan(job: _Job, end_of_run: Callable[[int], int] | None = None) -> Iterator[tuple]:
    """Landmarks and features of the frames of chunks [job.start, job.end): messages, in order.

    ``("head", [(ts, crc), ...])`` — the frames before the run's first border
    and the first frame at/after it (only when ``job.start > 0``);
    ``("frames", packed)`` — per-frame records (see :func:`unpack`);
    ``("end", end_chunk, tail, eof, n_frames)`` — the run stopped before chunk
    ``end_chunk`` (``tail`` as ``head`` for that border) or at the end of the
    file (``eof``).

    ``end_of_run(chunk)`` is called when the run enters ``chunk`` and returns
    the current end of the run (work stealing may have moved it).
    """
    from detector.stages.source import SourceError, VideoFileSource

    borders = job.borders
    n_chunks = len(borders) + 1
    start_t = borders[job.start - 1] if job.start > 0 else -math.inf
    margin = max(1.0, 3.0 * (job.warmup + 2) / 24.0)
    target: float | None = start_t - margin if (job.seek and job.start > 0) else None
    while True:
        try:
            yield from _scan_from(job, target, start_t, n_chunks, end_of_run, SourceError, VideoFileSource)
            return
        except _SeekTooLate:
            # FFmpeg landed after the frames we need: seek further back (eventually to the start)
            margin *= 3.0
            target = start_t - margin
            if target <= 0.0:
                target = None


def _scan_from(job, target, start_t, n_chunks, end_of_run, SourceError, VideoFileSource):
    from detector.stages.features import FeatureExtractor
    from detector.stages.landmarks import FaceObservation, Landmarker, face_centre_size

    borders = job.borders
    src = VideoFileSource(job.path, MEDIA.decode_ahead)
    lm = None
    try:
        seeked = target is not None and target > src.first_timestamp
        if seeked:
            src.seek(target)
        recent: collections.deque = collections.deque(maxlen=job.warmup)
        n_before = 0
        chunk = job.start
        end = job.end
        started = job.start == 0
        next_border = borders[chunk] if chunk < n_chunks - 1 else math.inf
        packer = _Packer()
        extractor = FeatureExtractor()
        n_frames = 0
        it = iter(src)
        while True:
            try:
                frame = next(it)
            except StopIteration:
                frame = None
            except SourceError:  # truncated: the caller checks the total frame count itself
                frame = None
            if frame is None:
                if len(packer):
                    yield ("frames", packer.pack())
                if not started:  # the file ends before this run's first border
                    yield ("head", [(f.timestamp, _crc(f.image)) for f in recent] + [None])
                yield ("end", end, [(f.timestamp, _crc(f.image)) for f in recent] + [None], True, n_frames)
                return
            ts = frame.timestamp
            if not started:
                if ts < start_t:
                    recent.append(frame)
                    n_before += 1
                    continue
                if seeked and n_before < job.warmup + 1:
                    raise _SeekTooLate
                head = [(f.timestamp, _crc(f.image)) for f in recent] + [(ts, _crc(frame.image))]
                yield ("head", head)
                started = True
                while ts >= next_border:  # a gap in the video longer than a chunk
                    chunk += 1
                    next_border = borders[chunk] if chunk < n_chunks - 1 else math.inf
                if chunk > job.start and end_of_run is not None:
                    end = end_of_run(chunk)
                if chunk >= end:  # no frame of this run's chunks exists
                    yield ("end", end, head, False, 0)
                    return
                lm = _fresh_landmarker(job.options, recent, Landmarker)
            elif ts >= next_border:
                while ts >= next_border:
                    chunk += 1
                    next_border = borders[chunk] if chunk < n_chunks - 1 else math.inf
                if end_of_run is not None:
                    end = end_of_run(chunk)
                if chunk >= end:
                    if len(packer):
                        yield ("frames", packer.pack())
                    tail = [(f.timestamp, _crc(f.image)) for f in recent] + [(ts, _crc(frame.image))]
                    yield ("end", end, tail, False, n_frames)
                    return
                lm.close()
                lm = _fresh_landmarker(job.options, recent, Landmarker)
            if lm is None:
                lm = _fresh_landmarker(job.options, recent, Landmarker)
            faces = []
            for pts, bs, tf in lm.detect_untracked(frame.image, ts):
                centre, size = face_centre_size(pts)
                f = extractor(FaceObservation(-1, pts, bs, tf))
                faces.append((centre, size, bs, tf, f.channels, f.pose, f.aus))
            packer.add(ts, faces)
            n_frames += 1
            recent.append(frame)
            if len(packer) >= job.batch:
                yield ("frames", packer.pack())
    finally:
        if lm is not None:
            lm.close()
        src.close()


def _fresh_landmarker(options, recent, Landmarker):
    """A new landmarker that has seen the frames before a border (results discarded)."""
    lm = Landmarker(options)
    for f in recent:
        lm.detect_untracked(f.image, f.timestamp)
    return lm


def _ignore_stop_signals() -> None:
    """Workers leave Ctrl-C and SIGTERM (sent to the whole process group) to the main process, which
    stops them and keeps its outputs; a worker whose main process is gone ends by itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _worker_main(slot: int, jobs, results, shared, lock, parent_pid: int) -> None:
    """Worker process: run jobs from ``jobs`` and put their messages on ``results``."""
    _ignore_stop_signals()

    def end_of_run(chunk: int) -> int:
        if os.getppid() != parent_pid:  # the main process is gone: stop
            os._exit(1)
        with lock:
            end = shared[2 * slot + 1]
            if chunk < end:
                shared[2 * slot] = chunk
            return end

    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue_mod.Empty:
            if os.getppid() != parent_pid:
                break
            continue
        if job is None:
            break
        try:
            for msg in scan(job, end_of_run):
                results.put((job.job_id, *msg))
                if os.getppid() != parent_pid:
                    os._exit(1)
        except Exception as e:  # noqa: BLE001 - reported to the main process
            results.put((job.job_id, "error", *error_message(e)))
    results.close()


def deliver(item: tuple, consumer, error_prefix: str = "") -> int | None:
    """Act on one message of an ordered run: frames go to ``consumer``; an error is raised
    (:class:`~detector.stages.source.SourceError` when it is the input's fault, else :class:`ParallelError`
    with ``error_prefix``); a seek mismatch returns the chunk position where frames differ."""
    from detector.stages.source import SourceError

    if item[0] == "frames":
        consumer.feed(item[1])
    elif item[0] == "error":
        if item[1] == "source":
            raise SourceError(item[2])
        raise ParallelError(f"{error_prefix}{item[2]}")
    elif item[0] == "mismatch":
        return item[1]
    return None


def error_message(e: BaseException) -> tuple[str, str]:
    """``(kind, one-line text)`` of a failure while scanning a run: ``"source"`` (the input's fault,
    its message as is) or ``"other"`` (prefixed with the exception's type)."""
    from detector.stages.source import SourceError

    kind = "source" if isinstance(e, SourceError) else "other"
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return kind, text if kind == "source" else f"{type(e).__name__}: {text}"


# --------------------------------------------------------------------------- main process


@dataclass
class _Run:
    job: _Job
    slot: int  # worker slot, -1 = in this process
    msgs: collections.deque = field(default_factory=collections.deque)
    head: list | None = None
    has_head: bool = False
    done: bool = False
    end: int = -1
    tail: list | None = None
    eof: bool = False
    error: tuple[str, str] | None = None
    landmarked: int = 0


class _Consumer:
    """Tracker + Analyzer over the frames of the runs, in order, with the callbacks of ``pipeline.run``."""

    def __init__(self, analyzer, on_result, on_event, stats) -> None:
        import numpy as _np

        from detector.stages.landmarks import FaceObservation, FaceTracker

        self.analyzer = analyzer
        self.on_result = on_result
        self.on_event = on_event
        self.stats = stats
        self.events: list = []
        self.tracker = FaceTracker()
        self.index = 0
        self._Obs = FaceObservation
        self._no_landmarks = _np.zeros((0, 3), dtype=_np.float32)

    def emit(self, evs) -> None:
        for e in evs:
            self.events.append(e)
            if self.on_event is not None:
                self.on_event(e)

    def feed(self, batch) -> None:
        from detector.stages.source import Frame

        for ts, faces in unpack(batch):
            ids = self.tracker.assign([f[0] for f in faces], [f[1] for f in faces], ts)
            order = sorted(range(len(faces)), key=lambda i: ids[i])
            obs = [self._Obs(ids[i], self._no_landmarks, faces[i][2], faces[i][3]) for i in order]
            feats = [faces[i][4] for i in order]
            result = self.analyzer.step(self.index, ts, obs, feats)
            self.stats.count(ts, obs)
            self.emit(result.events)
            if self.on_result is not None:
                self.on_result(Frame(self.index, ts, None), result)  # type: ignore[arg-type]
            self.index += 1


def run_chunked(
    path: str | Path,
    config,
    analyzer,
    *,
    workers: int | None = None,
    chunk_s: float = DEFAULT_CHUNK_S,
    warmup_frames: int = WARMUP_FRAMES,
    borders: list[float] | None = None,
    on_result: Callable | None = None,
    on_event: Callable | None = None,
    on_progress: Callable[[int], None] | None = None,
    stats=None,
    on_warning: Callable[[str], None] | None = None,
    runner: Callable | None = None,
) -> list:
    """Analyse a video file cut into chunks, landmarks in ``workers`` processes (see the module docstring).

    Same contract as :func:`detector.run.pipeline.run`: events go to ``on_event``
    as they are found, ``on_result(frame, result)`` is called for every frame
    in order (``frame.image`` is None, and the faces carry no landmarks:
    workers send only what the analysis needs), ``analyzer.finish()`` is
    emitted at the end; on an exception the open events are not flushed.

    Parameters
    ----------
    workers : int, optional
        Processes finding faces (default: number of cores).  1 = in this process.
    chunk_s : float
        Chunk length, seconds of media time (ignored when ``borders`` is given).
    warmup_frames : int
        Frames shown to the fresh landmarker before each border.
    on_progress : callable, optional
        Called with the number of frames landmarked so far (all workers).
    runner : callable, optional
        Finds the faces instead of this machine's processes (``detector.run.cluster``):
        ``runner(path, config, borders, warmup_frames, consumer, on_progress, warn)`` feeds
        ``consumer`` the packed frames of chunks 0.. in order, as :func:`_run_pool` does.
        It is used even when the video is not cut (one chunk).
    """
    from detector.run.stats import RunStats
    from detector.stages.source import SourceError, VideoFileSource, truncated

    stats = stats if stats is not None else RunStats()
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if warmup_frames < 0:
        raise ValueError("warmup_frames must be >= 0")
    warn = on_warning or (lambda m: warnings.warn(m, RuntimeWarning, stacklevel=2))
    with VideoFileSource(path) as probe:  # one-line errors for unreadable input, as the plain path
        total = probe.total_frames
        if borders is None:
            borders = video_borders(probe, chunk_s)
    borders_t = tuple(float(b) for b in borders)
    n_chunks = len(borders_t) + 1
    consumer = _Consumer(analyzer, on_result, on_event, stats)
    t0 = time.perf_counter()
    try:
        runs = initial_runs(n_chunks, workers)
        if runner is not None:
            runner(path, config, borders_t, warmup_frames, consumer, on_progress, warn)
        elif len(runs) == 1:
            _run_local(path, config, borders_t, 0, n_chunks, warmup_frames, consumer, on_progress, seek=False)
        else:
            _run_pool(path, config, borders_t, runs, warmup_frames, consumer, on_progress, warn)
        if truncated(consumer.index, total):
            raise SourceError(f"{path}: video is truncated or corrupt: decoded {consumer.index} of {total} frames")
        consumer.emit(analyzer.finish())
    finally:
        stats.wall_seconds = time.perf_counter() - t0
    return consumer.events


def _run_local(path, config, borders, start, end, warmup, consumer, on_progress, seek: bool) -> None:
    """Chunks [start, end) in this process (one worker, or the fallback)."""
    from detector.stages.source import SourceError

    job = _Job(0, str(path), config.landmarks, borders, start, end, warmup, seek)
    done = consumer.index
    for msg in scan(job):
        if msg[0] == "frames":
            consumer.feed(msg[1])
            done += len(msg[1]["ts"])
            if on_progress is not None:
                on_progress(done)
        elif msg[0] == "error":  # pragma: no cover - scan raises instead in-process
            raise SourceError(msg[2])


class _Order:
    """Puts the messages of runs (arriving interleaved, from any worker) back into video order.

    Runs are registered with :meth:`add` (start chunk), messages given to
    :meth:`put`; :meth:`take` returns what can be consumed now, in order:
    ``("frames", batch)``, then at most one of ``("mismatch", chunk)`` (the
    frames before/at the border of ``chunk`` differ between the two runs
    that meet there) or ``("error", kind, text)``.  ``finished`` is True once
    the last run has been taken (or after a mismatch/error).
    """

    def __init__(self, n_chunks: int) -> None:
        self.n_chunks = n_chunks
        self.runs: dict[int, _Run] = {}
        self.by_start: dict[int, int] = {}
        self.pos = 0
        self.prev_tail: list | None = None
        self.checked = False
        self.finished = False

    def add(self, run: _Run) -> None:
        self.runs[run.job.job_id] = run
        self.by_start[run.job.start] = run.job.job_id

    def put(self, msg: tuple) -> _Run | None:
        """File one message ``(job_id, kind, ...)``; returns its run (None for a superseded job)."""
        jid, kind = msg[0], msg[1]
        r = self.runs.get(jid)
        if r is None:
            return None
        if kind == "frames":
            r.msgs.append(msg[2])
            r.landmarked += len(msg[2]["ts"])
        elif kind == "head":
            r.head, r.has_head = msg[2], True
        elif kind == "end":
            r.end, r.tail, r.eof, r.done = msg[2], msg[3], msg[4], True
        elif kind == "error":
            r.error, r.done = (msg[2], msg[3]), True
        return r

    def take(self) -> list[tuple]:
        out: list[tuple] = []
        while not self.finished:
            jid = self.by_start.get(self.pos)
            if jid is None:
                break
            r = self.runs[jid]
            if self.pos > 0 and not self.checked:
                if not r.has_head and r.error is None:
                    break
                if r.error is None and r.head != self.prev_tail:
                    out.append(("mismatch", self.pos))
                    self.finished = True
                    break
                self.checked = True
            while r.msgs:
                out.append(("frames", r.msgs.popleft()))
            if r.error is not None:
                out.append(("error", *r.error))
                self.finished = True
                break
            if not r.done:
                break
            if r.eof or r.end >= self.n_chunks:
                self.finished = True
                break
            self.prev_tail = r.tail
            self.pos = r.end
            self.checked = False
        return out

    @property
    def landmarked(self) -> int:
        return sum(r.landmarked for r in self.runs.values())


def _run_pool(path, config, borders, runs, warmup, consumer, on_progress, warn) -> None:
    """Runs of chunks over ``len(runs)`` workers: this process (slot 0) and ``len(runs) - 1`` spawned ones.

    This process finds the faces of its own run between consuming messages,
    so the spawned workers' start-up (~1-2 s of imports) is not idle time.
    """
    import multiprocessing as mp

    t_start = time.perf_counter()
    ctx = mp.get_context("spawn")
    n = len(runs)
    n_chunks = len(borders) + 1
    lock = ctx.Lock()
    shared = ctx.RawArray("q", 2 * n)  # per slot: current chunk, end chunk
    results = ctx.Queue()
    job_queues: list = [None] + [ctx.Queue() for _ in range(1, n)]
    procs = [
        ctx.Process(target=_worker_main, args=(i, job_queues[i], results, shared, lock, os.getpid()),
                    name=f"microexpr-worker-{i}", daemon=True)
        for i in range(1, n)
    ]
    for p in procs:
        p.start()
    order = _Order(n_chunks)
    next_id = [0]
    local: list = [None, None]  # (generator, job id) of this process's current run

    def local_end(chunk: int) -> int:
        end = shared[1]
        if chunk < end:
            shared[0] = chunk
        return end

    def submit(slot: int, start: int, end: int) -> None:
        jid = next_id[0]
        next_id[0] += 1
        job = _Job(jid, str(path), config.landmarks, borders, start, end, warmup, True)
        with lock:
            shared[2 * slot] = start
            shared[2 * slot + 1] = end
        order.add(_Run(job, slot))
        _log.debug("%.3f submit job %d chunks [%d, %d) to slot %d", time.perf_counter() - t_start, jid, start, end, slot)
        if slot == 0:
            local[0], local[1] = scan(job, local_end), jid
        else:
            job_queues[slot].put(job)

    def steal(idle_slot: int) -> None:
        """Give the idle worker the back half of the largest unstarted remainder of a run."""
        best, best_rem = None, 0
        for r in order.runs.values():
            if r.done:
                continue
            with lock:
                rem = shared[2 * r.slot + 1] - shared[2 * r.slot] - 1
            if rem > best_rem:
                best, best_rem = r, rem
        if best is None:
            return
        with lock:
            cur, end = shared[2 * best.slot], shared[2 * best.slot + 1]
            m = end - (end - cur) // 2
            if m <= cur or m >= end:
                return
            shared[2 * best.slot + 1] = m
        submit(idle_slot, m, end)

    def file(msg) -> None:
        r = order.put(msg)
        if r is not None and msg[1] in ("head", "end", "error"):
            _log.debug("%.3f job %d %s %s", time.perf_counter() - t_start, msg[0], msg[1],
                       msg[2] if msg[1] == "end" else "")
        if r is not None and msg[1] in ("end", "error"):
            if r.slot == 0 and local[0] is not None:
                local[0].close()  # runs its finally: landmarker and file closed
                local[0] = None
            steal(r.slot)

    def pump(block: bool) -> None:
        try:
            msgs = [results.get(timeout=0.2) if block else results.get_nowait()]
        except queue_mod.Empty:
            if block:
                for p in procs:
                    if not p.is_alive() and p.exitcode not in (0, None):
                        raise ParallelError(f"a worker process died (exit code {p.exitcode})") from None
            return
        while True:  # and whatever else is there
            try:
                msgs.append(results.get_nowait())
            except queue_mod.Empty:
                break
        for msg in msgs:
            file(msg)

    try:
        for slot, (s, e) in enumerate(runs):
            submit(slot, s, e)
        while not order.finished:
            for item in order.take():
                pos = deliver(item, consumer, "worker failed: ")
                if pos is not None:
                    warn(f"{path}: seeking in this file is not exact (frames differ at {borders[pos - 1]:.2f} s); "
                         "analysing the rest with one worker")
                    _stop(procs, job_queues[1:])
                    if local[0] is not None:
                        local[0].close()
                        local[0] = None
                    _run_local(path, config, borders, pos, n_chunks, warmup, consumer, on_progress, seek=False)
                    return
            if order.finished:
                break
            if local[0] is not None:
                gen, jid = local
                try:
                    msg = next(gen)
                except Exception as e:  # noqa: BLE001 - same handling as a worker's error
                    msg = ("error", *error_message(e))
                file((jid, *msg))
                pump(False)
            else:
                pump(True)
            if on_progress is not None:
                on_progress(order.landmarked)
    finally:
        if local[0] is not None:
            local[0].close()
        _stop(procs, job_queues[1:])
        results.cancel_join_thread()
        results.close()


def _stop(procs, job_queues, timeout: float = 2.0) -> None:
    for q in job_queues:
        try:
            q.put(None)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + timeout
    for p in procs:
        if p.is_alive():
            p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(1.0)
        if p.is_alive():
            p.kill()
    for q in job_queues:
        q.cancel_join_thread()
        q.close()
