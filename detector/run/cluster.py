"""Many videos over a Ray cluster (``microexpr analyze INPUTS... -o OUTDIR --cluster ray[://HOST:PORT|auto]``).

The work unit is the fixed chunk grid of :mod:`detector.run.parallel`: one Ray
task per chunk of a video (:func:`chunk_task`; or per run of consecutive
chunks of at most ``task_s`` seconds of video)
decodes those chunks from the input's path (seeking to the border and showing the fresh landmarker the
``warmup_frames`` frames before it, exactly as a pool worker does), finds the
faces and their features, and returns the packed per-frame arrays.  The
driver (the ``microexpr`` process) keeps the tracker, the segmenter and the
classifier: it takes the videos one after the other and feeds each one's
chunks in order (:func:`detector.run.parallel.run_chunked` with a ``runner``),
so events and frame CSVs are byte-identical to ``--workers 1``.  While it
segments one video, the tasks of the next ones run on the cluster
(:class:`Session` keeps ``ahead`` tasks per CPU in flight).

* Inputs are opened by path on the driver (header, chunk grid) and in the
  tasks: they must be visible under the same path on every node (a shared
  filesystem, or object storage mounted as one).
* A task whose worker process dies is run again by Ray (``max_retries``);
  when retries run out, that video fails (reported, the others go on).
* The border check of :class:`detector.run.parallel._Order` applies: if a file
  seeks inexactly, the rest of it is analysed by one task decoding from the
  start, with a warning.
* Only the driver writes outputs (atomically, :mod:`detector.app.sinks`).
  Ctrl-C cancels every task (``ray.cancel``); finished files are kept.

Ray is optional (``pip install "microexpr[cluster]"``) and imported lazily.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from detector.run.parallel import (
    WARMUP_FRAMES,
    _Job,
    _Order,
    _Run,
    deliver,
    error_message,
    initial_runs,
    scan,
    video_borders,
)

#: What to install when Ray is missing (the one-line error).
INSTALL_HINT = 'the --cluster option needs Ray: pip install "microexpr[cluster]"'
#: ``--cluster`` values: ``ray`` (start a local Ray), ``ray://HOST:PORT`` (Ray client), ``auto`` (the cluster
#: this machine belongs to, as ``ray start`` left it, or ``RAY_ADDRESS``).
CLUSTER_HELP = "ray | ray://HOST:PORT | auto"
#: Default of :attr:`ClusterOptions.task_s`.
DEFAULT_TASK_S = 0.0
#: Test hook: a marker file path; the first chunk task to create it SIGKILLs its own worker process.
KILL_ONCE_ENV = "MICROEXPR_TEST_KILL_WORKER_ONCE"


class ClusterError(RuntimeError):
    """The cluster cannot be used (one-line message for the user)."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach Ray and how to use it; every default is here."""

    #: None: start a local Ray in this process; otherwise ``ray.init(address=...)``.
    address: str | None = None
    #: CPUs of the local Ray (None: all of this machine's); ignored when joining a cluster.
    num_cpus: int | None = None
    #: Seconds of video per task at most: a task is a run of whole chunks of the grid, decoded in one
    #: pass (fewer seeks and task starts; the events do not depend on it).  0: one chunk per task
    #: (measured the faster on 2 cores, benchmarks/README.md).
    task_s: float = DEFAULT_TASK_S
    #: Times Ray reruns a chunk task whose worker process died.
    max_retries: int = 3
    #: Unfinished tasks kept in flight per cluster CPU (the next videos' chunks run meanwhile).
    ahead: int = 2
    #: At most this many videos submitted but not yet segmented (bounds the driver's memory).
    files_ahead: int = 32
    #: Seconds between checks for a stop request (Ctrl-C) while waiting on tasks.
    poll_s: float = 0.2


def parse_address(value: str) -> str | None:
    """``--cluster`` value -> ``ray.init`` address (None: start a local Ray); ValueError if malformed."""
    v = value.strip()
    if v == "ray":
        return None
    if v == "auto":
        return "auto"
    if v.startswith("ray://") and len(v) > len("ray://"):
        return v
    raise ValueError(f"--cluster {value!r}: expected {CLUSTER_HELP}")


def import_ray():
    """The ``ray`` module, or :class:`ClusterError` saying what to install."""
    try:
        import ray
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return ray


# --------------------------------------------------------------------------- tasks (on the cluster)


def chunk_task(path: str, options, borders: tuple[float, ...], start: int, end: int, warmup: int,
               seek: bool) -> list[tuple]:
    """Chunks [start, end) of a video: the :func:`detector.run.parallel.scan` messages, as ``(start, kind, ...)``.

    A failure of the input (or of the analysis) becomes an ``error`` message, as
    in a pool worker; only a dead worker process is left to Ray (a retry).
    """
    _maybe_die_for_test()
    job = _Job(start, path, options, borders, start, end, warmup, seek)
    msgs: list[tuple] = []
    try:
        for msg in scan(job):
            msgs.append((start, *msg))
    except Exception as e:  # noqa: BLE001 - reported to the driver, as a pool worker does
        msgs.append((start, "error", *error_message(e)))
    return msgs


def _maybe_die_for_test() -> None:
    marker = os.environ.get(KILL_ONCE_ENV)
    if not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------- driver


@dataclass
class _Video:
    path: str
    borders: tuple[float, ...]
    runs: list[tuple[int, int]]  # chunks [start, end) of each task
    chunks: dict[int, object] = field(default_factory=dict)  # start -> its task's ObjectRef once done

    @property
    def n_chunks(self) -> int:
        return len(self.borders) + 1


def task_runs(n_chunks: int, chunk_s: float, task_s: float) -> list[tuple[int, int]]:
    """The chunks of a video in runs of at most about ``task_s`` seconds (whole chunks, as even as possible)."""
    per_task = max(1, int(task_s // chunk_s)) if task_s > 0 and chunk_s > 0 else 1
    return initial_runs(n_chunks, -(-n_chunks // per_task))


class Session:
    """A Ray connection plus the chunk tasks of a list of videos, submitted ahead of their turn.

    Use as a context manager; :meth:`runner` gives the ``runner`` of
    :func:`detector.run.parallel.run_chunked` for video ``k``.  Leaving the
    context (normally, after an error or Ctrl-C) cancels every unfinished task.
    """

    def __init__(self, paths: list[str], config, chunk_s: float, options: ClusterOptions = ClusterOptions(),
                 warmup_frames: int = WARMUP_FRAMES) -> None:
        self.paths = [str(p) for p in paths]
        self.config = config
        self.chunk_s = chunk_s
        self.options = options
        self.warmup = warmup_frames
        self.ray = import_ray()
        self.dashboard_url: str | None = None
        self.cpus = 1
        self.nodes = 1
        self._videos: dict[int, _Video | None] = {}
        self._refs: dict = {}  # ObjectRef -> (video index, start chunk)
        self._next = 0  # next video to submit
        self._current = 0  # video being segmented
        self._remote = None
        self._connected = False

    # -- connection

    def __enter__(self) -> "Session":
        self._connect()
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()
        if self._connected:
            self.ray.shutdown()

    def _connect(self) -> None:
        ray, o = self.ray, self.options
        if ray.is_initialized():  # a caller (a test, a notebook) already connected
            ctx = None
        else:
            # "local": a new Ray of our own, even where another one runs on this machine
            kw: dict = {"address": o.address or "local", "log_to_driver": False, "logging_level": "ERROR"}
            if o.address is None:
                kw["num_cpus"] = o.num_cpus
            try:
                ctx = ray.init(**kw)
            except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError ...: one line for the user
                where = o.address or "a local Ray"
                raise ClusterError(f"cannot start or reach {where}: {str(e).strip().splitlines()[0]}") from None
            self._connected = True
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        url = getattr(ctx, "dashboard_url", None) if ctx is not None else None
        self.dashboard_url = (url if url.startswith("http") else f"http://{url}") if url else None
        self._remote = ray.remote(chunk_task).options(max_retries=o.max_retries, retry_exceptions=False,
                                                      num_cpus=1)

    # -- submission

    def _probe(self, k: int) -> _Video | None:
        """The chunk grid of video ``k`` from its header (None if it cannot be opened here: the driver
        reports that error itself when the video's turn comes)."""
        from detector.stages.source import VideoFileSource

        path = self.paths[k]
        if Path(path).is_dir():
            return None  # an image sequence is analysed on the driver
        try:
            with VideoFileSource(path) as src:
                borders = tuple(float(b) for b in video_borders(src, self.chunk_s))
        except Exception:  # noqa: BLE001 - reported when its turn comes
            return None
        return self._video(path, borders)

    def _video(self, path: str, borders: tuple[float, ...]) -> _Video:
        return _Video(path, borders, task_runs(len(borders) + 1, self.chunk_s, self.options.task_s))

    def _submit(self, k: int, start: int, end: int, seek: bool) -> None:
        v = self._videos[k]
        ref = self._remote.remote(v.path, self.config.landmarks, v.borders, start, end, self.warmup, seek)
        self._refs[ref] = (k, start)

    def top_up(self) -> None:
        """Submit the chunks of the next videos while fewer than ``ahead`` tasks per CPU are unfinished."""
        o = self.options
        while (self._next < len(self.paths) and len(self._refs) < o.ahead * self.cpus
               and self._next - self._current < o.files_ahead):
            k = self._next
            self._next += 1
            v = self._videos[k] = self._probe(k)
            if v is None:
                continue
            for start, end in v.runs:
                self._submit(k, start, end, seek=start > 0)

    def poll(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for a task, then note every finished one (its results are fetched
        at its video's turn: until then they stay in Ray's object store, which spills to disk)."""
        ray = self.ray
        if not self._refs:
            return
        refs = list(self._refs)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout, fetch_local=False)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        for ref in ready:
            k, start = self._refs.pop(ref)
            v = self._videos.get(k)
            if v is not None:
                v.chunks[start] = ref

    def _fetch(self, ref, start: int) -> list[tuple]:
        """The messages of a finished task; its failure (a worker that died after its retries, a lost
        node) as an ``error`` message of the video."""
        try:
            return self.ray.get(ref)
        except Exception as e:  # noqa: BLE001 - ray.exceptions.*: one line
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return [(start, "error", "other", f"chunk task failed ({type(e).__name__}): {text}")]

    def cancel(self, k: int | None = None) -> None:
        """Cancel the unfinished tasks (of video ``k`` only, if given)."""
        for ref, (kk, _) in list(self._refs.items()):
            if k is None or kk == k:
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
                del self._refs[ref]

    # -- consumption (driver, one video at a time)

    def runner(self, k: int) -> Callable:
        """``runner`` of :func:`detector.run.parallel.run_chunked` for video ``k``."""

        def run(path, config, borders, warmup, consumer, on_progress, warn) -> None:
            self._current = k
            self.top_up()
            v = self._videos.get(k)
            if v is None or v.borders != tuple(borders):  # not probed here (or the header changed)
                v = self._videos[k] = self._video(str(path), tuple(borders))
                for start, end in v.runs:
                    self._submit(k, start, end, seek=start > 0)
            try:
                self._consume(k, v, consumer, on_progress, warn)
            finally:
                self.cancel(k)
                self._videos[k] = None  # its results are no longer needed
                self._current = k + 1
            self.top_up()

        return run

    def _consume(self, k: int, v: _Video, consumer, on_progress, warn) -> None:
        order = _Order(v.n_chunks)
        for start, end in v.runs:
            order.add(_Run(_Job(start, v.path, None, v.borders, start, end, self.warmup, start > 0), start))
        filed: set[int] = set()
        while not order.finished:
            for c, ref in list(v.chunks.items()):
                if c not in filed:
                    filed.add(c)
                    for m in self._fetch(ref, c):
                        order.put(m)
            for item in order.take():
                pos = deliver(item, consumer)
                if pos is not None:
                    warn(f"{v.path}: seeking in this file is not exact (frames differ at {v.borders[pos - 1]:.2f} s); "
                         "analysing the rest in one task")
                    self._rest_in_one_task(k, v, pos, consumer, on_progress)
                    return
            if order.finished:
                break
            self.poll(self.options.poll_s)
            self.top_up()
            if on_progress is not None:
                on_progress(consumer.index)

    def _rest_in_one_task(self, k: int, v: _Video, pos: int, consumer, on_progress) -> None:
        """Chunks pos.. of video ``k`` by one task decoding from the start (no seek)."""
        self.cancel(k)
        v.chunks = {}
        self._submit(k, pos, v.n_chunks, seek=False)
        while v.chunks.get(pos) is None:
            self.poll(self.options.poll_s)
            if on_progress is not None:
                on_progress(consumer.index)
        for m in self._fetch(v.chunks[pos], pos):
            deliver(m[1:], consumer)  # (job, message...): no seek, so no mismatch


def describe(session: Session) -> str:
    """One line about the cluster in use (for stderr at the start of a run)."""
    where = session.options.address or "local Ray"
    nodes = f"{session.nodes} nodes, " if session.nodes > 1 else ""
    line = f"Ray ({where}): {nodes}{session.cpus} CPUs"
    if session.dashboard_url:
        line += f"; dashboard {session.dashboard_url}"
    return line
