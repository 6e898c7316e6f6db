"""A producer on its own thread, handing what it makes to one consumer in order through a bounded queue.

The building block of the capture thread (:class:`detector.stages.source.ThreadedCapture`), the decode-ahead
reader of video files and the live loop's landmark thread (:class:`detector.app.live.LandmarkThread`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

#: What ``produce()`` returns for "nothing yet": the thread checks stop and pause, then asks again.
NOTHING = object()
#: Sleep between checks of ``paused`` while the producer is paused, seconds.
PAUSE_POLL_S = 0.005
#: Longest wait of a producer on a full queue between checks of :meth:`ProducerThread.stop`, seconds
#: (``stop`` also wakes it at once).
FULL_POLL_S = 0.1


class ProducerThread:
    """Runs ``produce()`` on its own thread and delivers its items in order through a queue of ``depth`` items.

    ``produce()`` returns the next item, :data:`NOTHING` for "nothing yet" (the thread checks stop and pause,
    then calls it again at once, so a ``produce`` that returns it waits a little first), or raises :class:`StopIteration` at the end of the stream (:meth:`over` wraps an
    iterable).  Any other exception ends the stream too: :meth:`get` raises it once the items produced before
    it have been taken.

    When the queue is full the producer waits for the consumer (lossless), or with ``keep_newest`` the oldest
    waiting item is discarded and counted in ``dropped`` (a live camera: the newest frame wins).  While
    ``paused`` is true ``produce`` is not called.  :meth:`stop` ends the thread (after the item it is on).

    Counts: ``queued`` (items that entered the queue), ``dropped`` (discarded by ``keep_newest``),
    ``delivered`` (taken by :meth:`get`).  ``on_queued(item)``, if given, is called with each item as it
    enters the queue (on the producer thread).
    """

    def __init__(self, produce: Callable[[], object], *, depth: int = 1, keep_newest: bool = False,
                 name: str = "microexpr-producer", on_queued: Callable[[object], None] | None = None) -> None:
        self._produce = produce
        self.depth = max(1, int(depth))
        self.keep_newest = keep_newest
        self.name = name
        self._on_queued = on_queued
        self._cond = threading.Condition()
        self._items: deque = deque()
        self._done = False  # the producer has ended (end of stream, error or stop)
        self._stopping = False
        self._error: BaseException | None = None
        self.paused = False
        self.queued = 0
        self.dropped = 0
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @classmethod
    def over(cls, items: Iterable, **options) -> "ProducerThread":
        """A producer thread that delivers the items of an iterable (a generator runs on the thread)."""
        return cls(iter(items).__next__, **options)

    # -- producer side
    def _run(self) -> None:
        try:
            while not self._stopping:
                if self.paused:
                    time.sleep(PAUSE_POLL_S)
                    continue
                item = self._produce()
                if item is not NOTHING and not self._put(item):
                    break
        except StopIteration:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised by get()
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _put(self, item) -> bool:
        """Queue ``item``; False if :meth:`stop` came while it waited for room."""
        with self._cond:
            while len(self._items) >= self.depth and not self.keep_newest and not self._stopping:
                self._cond.wait(FULL_POLL_S)
            if self._stopping:
                return False
            while len(self._items) >= self.depth:  # keep_newest: the oldest waiting item goes
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.queued += 1
            if self._on_queued is not None:
                self._on_queued(item)
            self._cond.notify_all()
            return True

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called (a producer that waits, e.g. to pace frames, checks it)."""
        return self._stopping

    # -- consumer side
    def start(self) -> "ProducerThread":
        self._thread.start()
        return self

    def get(self, timeout: float | None = None):
        """The next item; None at the end of the stream (and on every call after it).

        Raises the producer's exception once every item produced before it has been taken (then None), and
        :class:`TimeoutError` if nothing came within ``timeout`` seconds (None: wait as long as it takes).
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._done, timeout):
                raise TimeoutError(f"nothing from {self.name} within {timeout} s")
            if self._items:
                self.delivered += 1
                self._cond.notify_all()
                return self._items.popleft()
            err, self._error = self._error, None
        if err is not None:
            raise err
        return None

    def __iter__(self) -> Iterator:
        """The items as :meth:`get` gives them, to the end of the stream (where the producer's error is raised)."""
        while (item := self.get()) is not None:
            yield item

    def skip_pending(self) -> int:
        """Discard the items waiting in the queue (e.g. while paused); returns how many."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return n

    @property
    def finished(self) -> bool:
        """True once the producer has ended and nothing is left to take."""
        with self._cond:
            return self._done and not self._items

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 3.0) -> None:
        """Ask the thread to end and wait for it up to ``timeout`` seconds (None: as long as it takes).  A
        producer waiting for room ends at once; one inside ``produce()`` ends when that returns."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
