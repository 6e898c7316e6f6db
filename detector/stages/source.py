"""Stage 1: frame sources — video files and folders of numbered images.

Every frame carries its own timestamp in seconds.  For video files it is the
container's presentation time of that frame (so variable frame rate is
handled); for image folders it is ``index / fps``.  Nothing downstream may
assume ``frame_index / nominal_fps``.
"""

from __future__ import annotations

import os
import re
import sys
import time
import types
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.core.options import MEDIA
from detector.core.producer import ProducerThread

IMAGE_SUFFIXES = MEDIA.image_suffixes
VIDEO_SUFFIXES = MEDIA.video_suffixes
#: Frame rates an image folder (or a camera request) may have, frames per second.  Below 1 fps no
#: expression (at most 4 s long) spans two frames; far outside the range timestamps overflow
#: MediaPipe's microsecond clock.
FPS_RANGE = (1.0, 10000.0)


def fps_problem(fps: float | None) -> str | None:
    """Why ``fps`` is not a usable frame rate (None if it is)."""
    lo, hi = FPS_RANGE
    if fps is None or not (lo <= fps <= hi):  # NaN and inf fail too
        return f"must be a number of frames per second from {lo:g} to {hi:g}, got {fps}"
    return None


class SourceError(RuntimeError):
    """The input cannot be read as a video or image sequence (one-line message).

    Raised by :func:`detector.analyze` after part of the input was analysed
    (a truncated file), it carries the events found up to there, the one in
    progress flushed, in ``events`` (empty otherwise).
    """

    events: list = []


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The input file or folder does not exist."""

    def __init__(self, message: str) -> None:
        SourceError.__init__(self, message)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Frame:
    """One decoded frame: 0-based ``index``, ``timestamp`` in seconds, BGR ``image`` (H, W, 3) uint8."""

    index: int
    timestamp: float
    image: np.ndarray


class FrameSource:
    """Iterable of :class:`Frame` in time order; a context manager.

    Attributes: ``name`` (for messages), ``total_frames`` (expected count, or
    None if unknown), ``nominal_fps`` (container or given rate, for display
    only), ``size`` (width, height in pixels), ``first_image`` (the frame
    iteration starts with, BGR, read when the source was opened or seeked; a
    video or camera lets it go once iteration starts; None if not known).
    """

    name: str = ""
    total_frames: int | None = None
    nominal_fps: float = 0.0
    size: tuple[int, int] = (0, 0)
    first_image: np.ndarray | None = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoFileSource(FrameSource):
    """A video file decoded with OpenCV (FFmpeg backend).

    Raises :class:`SourceError` at open for a missing, empty or undecodable
    file, and at the end of iteration if the stream ends well before the
    container's frame count (a truncated file) — after yielding every frame
    that could be decoded, so callers keep what they found.
    """

    def __init__(self, path: str | Path, decode_ahead: int = 0) -> None:
        import cv2

        self._cv2 = cv2
        self._ahead = int(decode_ahead)
        self._reader: ThreadedCapture | None = None
        p = Path(path)
        self.name = str(p)
        if not p.exists():
            raise SourceNotFoundError(f"{p}: no such file")
        if p.is_dir():
            raise SourceError(f"{p}: is a folder (give its frame rate to read it as numbered images: "
                              "--fps, or fps= in Python)")
        if not p.is_file():
            raise SourceError(f"{p}: not a regular file (a pipe or device); give a video file")
        if p.suffix.lower() in IMAGE_SUFFIXES:
            raise SourceError(f"{p}: is a single image; put the frames in a folder and give their frame rate "
                              "(--fps, or fps= in Python)")
        if p.stat().st_size == 0:
            raise SourceError(f"{p}: file is empty (0 bytes)")
        if not os.access(p, os.R_OK):
            raise SourceError(f"{p}: permission denied")
        cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{p}: not a readable video (unknown format or corrupt file)")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{p}: video has no decodable frames")
        self._cap = cap
        self.first_image = first
        self._first_ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.total_frames = n if n > 0 else None
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.nominal_fps = fps if 0.0 < fps < 10000.0 else 0.0
        self.size = (first.shape[1], first.shape[0])
        self._seeked = False
        self.first_timestamp = self._first_ts if np.isfinite(self._first_ts) else 0.0  # seconds

    def seek(self, seconds: float) -> None:
        """Make iteration start near ``seconds`` (FFmpeg seek; verify what you get).

        For ``detector.run.parallel``.  Iteration then starts at the frame FFmpeg
        lands on (usually the first at or after ``seconds``), frame indices
        count from 0 there, and the truncation check is skipped (it needs the
        whole file): callers count frames and check timestamps themselves.
        """
        cv2 = self._cv2
        if self._cap is None:
            return
        self._cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, float(seconds)) * 1000.0)
        ok, first = self._cap.read()
        self.first_image = first if ok else None
        self._first_ts = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        self._seeked = True

    def __iter__(self) -> Iterator[Frame]:
        """The frames in order; with ``decode_ahead`` > 0 they are decoded on a reader thread (a lossless
        :class:`ThreadedCapture`), that many frames ahead of the consumer (same frames, same errors, at the
        same place in the stream)."""
        if self._ahead <= 0 or self._cap is None:
            return self._decode()
        self._stop_reader()
        self._reader = ThreadedCapture(self._decode(), lossless=True, queue_size=self._ahead).start()
        return (Frame(f.index, f.timestamp, f.image) for f in self._reader)

    def _decode(self) -> Iterator[Frame]:
        cv2 = self._cv2
        cap = self._cap
        if cap is None:
            return
        step = 1.0 / self.nominal_fps if self.nominal_fps else 1.0 / 30.0
        image, ts = self.first_image, self._first_ts
        self.first_image = None  # held no longer than needed (a 4K frame is 24 MB)
        index = 0
        last_ts = -np.inf
        while image is not None:
            if not np.isfinite(ts) or ts <= last_ts:
                # Some containers report no (or repeated) PTS for a frame: step on from the last one.
                ts = last_ts + step if np.isfinite(last_ts) else 0.0
            yield Frame(index, float(ts), image)
            last_ts = ts
            index += 1
            ok, image = cap.read()
            if not ok:
                break
            ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        self.decoded_frames = index
        n = self.total_frames
        if not self._seeked and truncated(index, n):
            raise SourceError(f"{self.name}: video is truncated or corrupt: decoded {index} of {n} frames")

    def close(self) -> None:
        self._stop_reader()
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.stop(timeout=None)  # the thread is off the capture before it is released
            self._reader = None


def frame_number(path: str | Path) -> int | None:
    """The frame number in an image file name: the last run of digits in its stem (None: no digits)."""
    runs = re.findall(r"\d+", Path(path).stem)
    return int(runs[-1]) if runs else None


def _frame_order(path: Path) -> tuple[int, str]:
    n = frame_number(path)
    return (-1 if n is None else n, path.name)


def numbered_images(folder: str | Path) -> list[Path]:
    """Image files of ``folder`` sorted by the last number in their names (img9 before img10); a name
    without a number sorts first (as number -1), equal numbers by name."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=_frame_order)


def truncated(decoded: int, total: int | None) -> bool:
    """Whether ``decoded`` frames of a video said to have ``total`` is a truncated or corrupt file."""
    return total is not None and decoded < MEDIA.truncated_below * total and total - decoded > 2


class ImageFolderSource(FrameSource):
    """A folder of numbered images (the CASME II / SAMM layout), timestamps ``index / fps`` seconds."""

    def __init__(self, folder: str | Path, fps: float) -> None:
        import cv2

        self._cv2 = cv2
        p = Path(folder)
        self.name = str(p)
        if not p.exists():
            raise SourceNotFoundError(f"{p}: no such folder")
        if not p.is_dir():
            raise SourceError(f"{p}: not a folder")
        if fps is None:
            raise SourceError(f"{p}: a folder of images needs its frame rate (--fps, or fps= in Python)")
        if fps_problem(fps):
            raise SourceError(f"{p}: the frame rate (--fps, fps=) {fps_problem(fps)}")
        self._files = numbered_images(p)
        if not self._files:
            raise SourceError(f"{p}: folder contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        first = cv2.imread(str(self._files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise SourceError(f"{self._files[0]}: not a readable image")
        self.total_frames = len(self._files)
        self.nominal_fps = float(fps)
        self.size = (first.shape[1], first.shape[0])
        self.first_image = first

    def __iter__(self) -> Iterator[Frame]:
        for i, f in enumerate(self._files):
            img = self._cv2.imread(str(f), self._cv2.IMREAD_COLOR)
            if img is None:
                raise SourceError(f"{f}: not a readable image")
            yield Frame(i, i / self.nominal_fps, img)


def open_source(path: str | Path, fps: float | None = None, decode_ahead: int = 0) -> FrameSource:
    """Open a video file (decoded ``decode_ahead`` frames ahead on a reader thread, see
    :class:`VideoFileSource`), or a folder of numbered images (``fps`` required)."""
    p = Path(path)
    if p.is_dir():
        return ImageFolderSource(p, fps)  # type: ignore[arg-type]
    return VideoFileSource(p, decode_ahead)


# --------------------------------------------------------------------------- live capture


def _fourcc_text(code: float) -> str:
    c = int(code)
    s = "".join(chr((c >> (8 * i)) & 0xFF) for i in range(4))
    return s if s.isprintable() and s.strip() else "?"


class CameraSource(FrameSource):
    """A camera opened with OpenCV; ``timestamp`` of each frame = ``time.monotonic()`` at grab, seconds.

    Asks for ``width`` x ``height`` at ``fps`` (MJPG where the camera offers it:
    uncompressed YUYV over USB 2 rarely exceeds 30 fps at 640x480).  What the
    camera actually negotiated is in ``size``, ``nominal_fps`` and ``fourcc``.
    Iteration raises :class:`SourceError` when the camera stops delivering
    frames (unplugged, or taken by another program).

    Parameters
    ----------
    index : int
        Camera number (0 = the first; ``/dev/video0`` on Linux).
    width, height : int, optional
        Requested frame size in pixels; None keeps the camera's default.
    fps : float
        Requested frame rate, frames per second.
    fourcc : str
        Requested pixel format ("MJPG"); "" leaves the camera's default.
    """

    def __init__(
        self,
        index: int = 0,
        width: int | None = None,
        height: int | None = None,
        fps: float = 120.0,
        fourcc: str = "MJPG",
        fail_after_s: float = 2.0,
    ) -> None:
        import cv2

        self._cv2 = cv2
        self._clock = time.monotonic
        self._sleep = time.sleep
        self.index = int(index)
        self.name = f"camera {index}"
        self.requested = (width, height, fps)
        self._fail_after_s = fail_after_s
        if sys.platform.startswith("linux"):
            backend = cv2.CAP_V4L2
        elif sys.platform == "darwin":
            backend = cv2.CAP_AVFOUNDATION
        else:
            backend = cv2.CAP_ANY
        cap = cv2.VideoCapture(self.index, backend)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"camera {index}: cannot open it (no such camera, or another program is using it)")
        if fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*fourcc[:4].ljust(4)))
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"camera {index}: opened but delivers no frames (is another program using it?)")
        self.first_image = first
        self._first_ts = self._clock()
        self._cap = cap
        self.size = (first.shape[1], first.shape[0])
        got = float(cap.get(cv2.CAP_PROP_FPS))
        self.nominal_fps = got if 0.0 < got < 10000.0 else 0.0
        self.fourcc = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        self.total_frames = None

    def describe(self) -> str:
        """What was negotiated, in one line, e.g. ``camera 0: 640x480 MJPG at 120.0 fps``."""
        w, h = self.size
        fps = f"{self.nominal_fps:.1f} fps" if self.nominal_fps else "unknown fps"
        return f"{self.name}: {w}x{h} {self.fourcc} at {fps}"

    def __iter__(self) -> Iterator[Frame]:
        cap, clock = self._cap, self._clock
        if cap is None:
            return
        image, ts = self.first_image, self._first_ts
        self.first_image = None  # held no longer than needed (a 4K frame is 24 MB)
        index = 0
        if image is not None:
            yield Frame(index, ts, image)
            index += 1
        failing_since = None
        while self._cap is not None:
            ok, image = cap.read()
            now = clock()
            if not ok or image is None:
                # A USB hiccup can lose a frame or two; a camera that stays silent is gone.
                failing_since = failing_since if failing_since is not None else now
                if now - failing_since >= self._fail_after_s:
                    raise SourceError(
                        f"{self.name} stopped delivering frames (unplugged, or taken by another program)"
                    )
                self._sleep(0.01)  # read() may fail at once after an unplug: don't spin
                continue
            failing_since = None
            yield Frame(index, now, image)
            index += 1

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


@dataclass(frozen=True)
class CapturedFrame:
    """A frame as delivered by :class:`ThreadedCapture`.

    ``seq`` counts every frame the source delivered (0-based, dropped frames
    included), ``index`` is the source's own frame index, ``timestamp`` the
    source's timestamp (presentation time for files, monotonic grab time for
    cameras), ``grab_time`` the ``clock()`` reading when the frame was
    grabbed, seconds.
    """

    seq: int
    index: int
    timestamp: float
    grab_time: float
    image: np.ndarray


class ThreadedCapture:
    """Reads a frame source in a background thread so that processing never blocks grabbing.

    Two modes:

    * default (live): a one-slot mailbox.  The newest grabbed frame replaces
      one not yet taken, which is counted in ``dropped``.  Each frame keeps
      the time it was grabbed, so drops never bend timestamps.
    * ``lossless=True``: a bounded queue; the capture thread waits for the
      consumer, so every frame is delivered (``--as-fast-as-possible``, and
      the decode-ahead reader of :class:`VideoFileSource`).

    Both are a :class:`~detector.core.producer.ProducerThread` over the
    frames, stamped with their grab time.  With ``pace=True`` frames are
    released at the source's own rate (their timestamps, relative to the
    first one), as a camera would deliver them; use it to play a file "live".

    Parameters
    ----------
    frames : iterable of Frame
        The source (a :class:`FrameSource`, or any iterable of frames).  An
        exception raised by it ends the stream: :meth:`get` re-raises it after
        the frames grabbed before it have been delivered.
    lossless, pace : bool
        See above.
    clock, sleep : callable
        Monotonic clock in seconds (``time.monotonic``) and ``time.sleep``;
        tests inject fake ones.
    queue_size : int
        Depth of the lossless queue, frames.
    """

    #: Grab times kept for :attr:`capture_fps`, frames.
    RATE_WINDOW = 32
    #: Longest sleep of a paced capture between checks of :meth:`stop`, seconds.
    PACE_SLEEP_S = 0.05

    def __init__(
        self,
        frames,
        *,
        lossless: bool = False,
        pace: bool = False,
        clock=None,
        sleep=None,
        queue_size: int = 4,
    ) -> None:
        self._frames = frames
        self.lossless = lossless
        self.pace = pace
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._recent: deque[float] = deque(maxlen=self.RATE_WINDOW)  # grab times of the last frames, seconds
        self._producer = ProducerThread.over(
            self._stamped(), depth=queue_size if lossless else 1, keep_newest=not lossless,
            name="microexpr-capture", on_queued=self._note_grab)

    # -- producer (on the capture thread)
    def _stamped(self) -> Iterator[CapturedFrame]:
        """The source's frames, each stamped with its grab time (after waiting for its time, with ``pace``)."""
        paced_from = None  # (clock, timestamp) of the first frame, seconds
        for seq, frame in enumerate(self._frames):
            if self._producer.stopping:
                return
            if self.pace and paced_from is None:
                paced_from = (self._clock(), frame.timestamp)
            elif self.pace:
                self._wait_until(paced_from[0] + (frame.timestamp - paced_from[1]))
            yield CapturedFrame(seq, frame.index, frame.timestamp, self._clock(), frame.image)

    def _wait_until(self, when: float) -> None:
        """Sleep until ``clock()`` reaches ``when`` seconds (or the capture is stopped)."""
        wait = when - self._clock()
        while wait > 0 and not self._producer.stopping:
            self._sleep(min(wait, self.PACE_SLEEP_S))
            wait = when - self._clock()

    def _note_grab(self, item: CapturedFrame) -> None:
        """Keep the grab time of a frame that entered the mailbox/queue, for :attr:`capture_fps`."""
        self._recent.append(item.grab_time)

    # -- consumer
    def start(self) -> "ThreadedCapture":
        self._producer.start()
        return self

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
        """The next frame (the newest one, in live mode); None at the end of the stream.

        Raises the source's exception once every frame grabbed before it has
        been delivered, and :class:`TimeoutError` if no frame came within
        ``timeout`` seconds.
        """
        return self._producer.get(timeout)

    def __iter__(self) -> Iterator[CapturedFrame]:
        """The frames as :meth:`get` gives them, to the end of the stream (where the source's error is raised)."""
        return iter(self._producer)

    def skip_pending(self) -> int:
        """Discard frames waiting in the mailbox/queue (e.g. while paused); returns how many."""
        return self._producer.skip_pending()

    @property
    def grabbed(self) -> int:
        """Frames the source delivered (dropped ones included)."""
        return self._producer.queued

    @property
    def dropped(self) -> int:
        """Frames replaced in the mailbox by a newer one before they were taken (live mode)."""
        return self._producer.dropped

    @property
    def delivered(self) -> int:
        """Frames taken by :meth:`get`."""
        return self._producer.delivered

    @property
    def capture_fps(self) -> float:
        """Rate at which the source delivered the last frames, frames per second (0 if unknown)."""
        r = tuple(self._recent)
        if len(r) < 2 or r[-1] <= r[0]:
            return 0.0
        return (len(r) - 1) / (r[-1] - r[0])

    @property
    def finished(self) -> bool:
        """True once the source is exhausted (or failed) and nothing is left to take."""
        return self._producer.finished

    @property
    def alive(self) -> bool:
        """Whether the capture thread is running."""
        return self._producer.alive

    def stop(self, timeout: float | None = 3.0) -> None:
        """Ask the capture thread to end and wait for it (``timeout`` None: as long as it takes); close the
        source afterwards.  A generator given as ``frames`` is closed here once the thread has ended."""
        self._producer.stop(timeout)
        if isinstance(self._frames, types.GeneratorType) and not self._producer.alive:
            self._frames.close()

    def __enter__(self) -> "ThreadedCapture":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
