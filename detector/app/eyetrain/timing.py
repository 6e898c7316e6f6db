"""Timing honesty: the display's frame time, flash durations in whole frames, paced presentation.

OpenCV's HighGUI cannot wait for vertical sync, so the frame time is the longer
of the display's refresh period (asked of the X server through RandR, or given
with ``--refresh-hz``, or :data:`DEFAULT_REFRESH_HZ` assumed) and the measured
interval of the presentation loop (``imshow`` + ``waitKey(1)``).  A flash lasts
a whole number of those frames, at least one; the duration shown is logged
beside the one asked for, and the one measured between the presentation
timestamps of its first frame and of the first frame after it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from dataclasses import dataclass

import numpy as np

from detector.app.eyetrain.options import DEFAULT_REFRESH_HZ


@dataclass(frozen=True)
class FrameTiming:
    """The frame time a session presents with, and where it came from."""

    refresh_hz: float
    refresh_source: str  # "randr", "option" or "assumed"
    loop_ms: float  # measured presentation interval (p90), ms; 0 before it is measured

    @property
    def frame_ms(self) -> float:
        return max(1000.0 / self.refresh_hz, self.loop_ms)

    def describe(self) -> str:
        return (f"display {self.refresh_hz:.2f} Hz ({self.refresh_source}), presentation loop "
                f"{self.loop_ms:.1f} ms (p90): one frame = {self.frame_ms:.2f} ms")


def frames_for(duration_ms: float, frame_ms: float) -> int:
    """Whole frames closest to ``duration_ms``, never fewer than one."""
    if frame_ms <= 0:
        raise ValueError("frame time must be positive")
    return max(1, int(round(duration_ms / frame_ms)))


def shown_ms(frames: int, frame_ms: float) -> float:
    """What ``frames`` frames last on screen, ms."""
    return frames * frame_ms


def loop_interval_ms(stamps: list[float]) -> float:
    """90th percentile of the intervals between presentation timestamps (seconds), ms."""
    if len(stamps) < 2:
        return 0.0
    return float(np.percentile(np.diff(np.asarray(stamps)) * 1000.0, 90))


class _XRRScreenConfiguration(ctypes.Structure):
    pass


def randr_refresh_hz() -> float | None:
    """The current refresh rate of the X screen (RandR), or None where there is no X server or RandR."""
    if not os.environ.get("DISPLAY"):
        return None
    x11_name, xrr_name = ctypes.util.find_library("X11"), ctypes.util.find_library("Xrandr")
    if not x11_name or not xrr_name:
        return None
    x11, xrr = ctypes.CDLL(x11_name), ctypes.CDLL(xrr_name)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xrr.XRRGetScreenInfo.restype = ctypes.POINTER(_XRRScreenConfiguration)
    xrr.XRRGetScreenInfo.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xrr.XRRConfigCurrentRate.restype = ctypes.c_short
    xrr.XRRConfigCurrentRate.argtypes = [ctypes.POINTER(_XRRScreenConfiguration)]
    xrr.XRRFreeScreenConfigInfo.argtypes = [ctypes.POINTER(_XRRScreenConfiguration)]
    display = x11.XOpenDisplay(None)
    if not display:
        return None
    try:
        conf = xrr.XRRGetScreenInfo(display, x11.XDefaultRootWindow(display))
        if not conf:
            return None
        rate = int(xrr.XRRConfigCurrentRate(conf))
        xrr.XRRFreeScreenConfigInfo(conf)
    finally:
        x11.XCloseDisplay(display)
    return float(rate) if rate > 0 else None


def display_refresh(option_hz: float | None) -> tuple[float, str]:
    """(refresh rate, where it came from): the option, else RandR, else the assumed default."""
    if option_hz is not None:
        return float(option_hz), "option"
    hz = randr_refresh_hz()
    if hz is not None:
        return hz, "randr"
    return DEFAULT_REFRESH_HZ, "assumed"


class Pacer:
    """Presents frames on a fixed tick: :meth:`wait` sleeps until the next tick after the last one."""

    def __init__(self, frame_ms: float, clock=time.perf_counter, sleep=time.sleep) -> None:
        self.frame_s = frame_ms / 1000.0
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def reset(self) -> None:
        self._next = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is None:
            self._next = now
        delay = self._next - now
        if delay > 0:
            self._sleep(delay)
        else:
            self._next = now  # late: start the tick over from now, never catch up with short frames
        self._next += self.frame_s
