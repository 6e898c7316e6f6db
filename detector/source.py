"""Stage 1: frame sources — video files and folders of numbered images.

Every frame carries its own timestamp in seconds.  For video files it is the
container's presentation time of that frame (so variable frame rate is
handled); for image folders it is ``index / fps``.  Nothing downstream may
assume ``frame_index / nominal_fps``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


class SourceError(RuntimeError):
    """The input cannot be read as a video or image sequence (one-line message)."""


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
    only), ``size`` (width, height in pixels).
    """

    name: str = ""
    total_frames: int | None = None
    nominal_fps: float = 0.0
    size: tuple[int, int] = (0, 0)

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

    def __init__(self, path: str | Path) -> None:
        import cv2

        self._cv2 = cv2
        p = Path(path)
        self.name = str(p)
        if not p.exists():
            raise SourceError(f"{p}: no such file")
        if p.is_dir():
            raise SourceError(f"{p}: is a folder (give --fps to read it as numbered images)")
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
        self._first = first
        self._first_ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.total_frames = n if n > 0 else None
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.nominal_fps = fps if 0.0 < fps < 10000.0 else 0.0
        self.size = (first.shape[1], first.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        cv2 = self._cv2
        cap = self._cap
        if cap is None:
            return
        step = 1.0 / self.nominal_fps if self.nominal_fps else 1.0 / 30.0
        image, ts = self._first, self._first_ts
        self._first = None
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
        if n is not None and index < 0.9 * n and n - index > 2:
            raise SourceError(f"{self.name}: video is truncated or corrupt: decoded {index} of {n} frames")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _frame_number(path: Path) -> tuple[int, str]:
    nums = re.findall(r"\d+", path.stem)
    return (int(nums[-1]) if nums else -1, path.name)


def numbered_images(folder: str | Path) -> list[Path]:
    """Image files of ``folder`` sorted by the last number in their names (img9 before img10)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=_frame_number)


class ImageFolderSource(FrameSource):
    """A folder of numbered images (the CASME II / SAMM layout), timestamps ``index / fps`` seconds."""

    def __init__(self, folder: str | Path, fps: float) -> None:
        import cv2

        self._cv2 = cv2
        p = Path(folder)
        self.name = str(p)
        if not p.exists():
            raise SourceError(f"{p}: no such folder")
        if not p.is_dir():
            raise SourceError(f"{p}: not a folder")
        if fps is None or not (fps > 0):
            raise SourceError(f"{p}: a folder of images needs --fps (frames per second, > 0)")
        self._files = numbered_images(p)
        if not self._files:
            raise SourceError(f"{p}: folder contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        first = cv2.imread(str(self._files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise SourceError(f"{self._files[0]}: not a readable image")
        self.total_frames = len(self._files)
        self.nominal_fps = float(fps)
        self.size = (first.shape[1], first.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        for i, f in enumerate(self._files):
            img = self._cv2.imread(str(f), self._cv2.IMREAD_COLOR)
            if img is None:
                raise SourceError(f"{f}: not a readable image")
            yield Frame(i, i / self.nominal_fps, img)


def open_source(path: str | Path, fps: float | None = None) -> FrameSource:
    """Open a video file, or a folder of numbered images (``fps`` required)."""
    p = Path(path)
    if p.is_dir():
        return ImageFolderSource(p, fps)  # type: ignore[arg-type]
    return VideoFileSource(p)
