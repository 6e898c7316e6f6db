"""Many files (``microexpr analyze A.mp4 B.mp4 ...``): one file per worker process at a time.

:class:`FilePool` runs ``fn(arg, progress)`` over the files on a
:class:`concurrent.futures.ProcessPoolExecutor` (``spawn``: MediaPipe is not fork-safe once
initialised).  Each worker gets, from the pool's initializer, a queue for progress messages and the
stop flag; workers ignore SIGINT and SIGTERM, so Ctrl-C reaches the main process only, which sets
the flag: a file in progress then ends at its next ``progress`` call (raising :class:`Stopped`) with
its outputs closed and valid.  A failing file is reported in one line and skipped.
"""

from __future__ import annotations

import os
import queue as queue_mod
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from detector.core.options import MEDIA
from detector.run.parallel import ParallelError

#: Seconds a file in progress gets to stop after Ctrl-C before its worker is killed.
STOP_GRACE_S = 10.0
#: Seconds between two progress messages of one file, at least.
PROGRESS_EVERY_S = 0.2


class Stopped(KeyboardInterrupt):
    """Raised inside a pool task when the main process asks the workers to stop (Ctrl-C)."""


def video_files(folder: str | Path) -> list[Path]:
    """Video files directly inside ``folder`` (by suffix), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in MEDIA.video_suffixes)


_worker: dict[str, Any] = {}  # in a worker process: its progress queue, the stop flag, the main process's pid


def _init_worker(progress_queue, stop, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker.update(queue=progress_queue, stop=stop, parent=parent_pid)


def _run_task(idx: int, fn: Callable, arg: Any) -> tuple[str, Any]:
    """One file in a worker: ``("done", result)``, ``("failed", one-line message)`` or ``("stopped", None)``."""
    last = [0.0]

    def progress(done: int) -> None:
        if _worker["stop"].is_set() or os.getppid() != _worker["parent"]:
            raise Stopped
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            _worker["queue"].put((idx, done))

    try:
        return "done", fn(arg, progress)
    except KeyboardInterrupt:
        return "stopped", None
    except BaseException as e:  # noqa: BLE001 - one line per failed file
        return "failed", str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


class FilePool:
    """Run ``fn(arg, progress) -> result`` for each arg in ``workers`` processes.

    ``fn`` must be importable (a module-level function) and call ``progress(frames_done)`` now and
    then: that is how progress is reported and how a stop request reaches it.  An exception in
    ``fn`` fails that item only: :meth:`run` yields ``(index, "failed", one-line message)`` and goes on.
    """

    def __init__(self, fn: Callable, workers: int) -> None:
        self.fn = fn
        self.workers = max(1, int(workers))
        #: ``(index, kind, payload)`` of items that finished after the caller stopped iterating (Ctrl-C)
        self.late: list[tuple[int, str, Any]] = []

    def run(self, args: list, on_progress: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, str, Any]]:
        """Yield ``(index, "done", result)`` or ``(index, "failed", message)`` as items finish."""
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        progress_queue, stop = ctx.Queue(), ctx.Event()
        pool = ProcessPoolExecutor(min(self.workers, len(args)), mp_context=ctx, initializer=_init_worker,
                                   initargs=(progress_queue, stop, os.getpid()))
        futures = {pool.submit(_run_task, i, self.fn, a): i for i, a in enumerate(args)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=PROGRESS_EVERY_S, return_when=FIRST_COMPLETED)
                _drain(progress_queue, on_progress)
                for f in sorted(done, key=futures.__getitem__):
                    kind, payload = _outcome(f)
                    if kind != "stopped":
                        yield futures[f], kind, payload
        finally:
            stop.set()
            self._stop(pool, futures, pending)
            progress_queue.cancel_join_thread()

    def _stop(self, pool: ProcessPoolExecutor, futures: dict[Future, int], pending: set[Future]) -> None:
        """Cancel the files not started; keep what the running ones return within the grace time."""
        running = {f for f in pending if not f.cancel()}
        done, left = wait(running, timeout=STOP_GRACE_S)
        for f in sorted(done, key=futures.__getitem__):
            if f.exception() is None and f.result()[0] in ("done", "failed"):
                self.late.append((futures[f], *f.result()))
        if left:  # a file that does not call progress(): its worker is killed
            for p in list(getattr(pool, "_processes", {}).values()):
                p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _outcome(f: Future) -> tuple[str, Any]:
    try:
        return f.result()
    except BrokenProcessPool:
        raise ParallelError("worker processes ended before finishing every file") from None


def _drain(progress_queue, on_progress) -> None:
    while True:
        try:
            idx, done = progress_queue.get_nowait()
        except queue_mod.Empty:
            return
        if on_progress is not None:
            on_progress(idx, done)
