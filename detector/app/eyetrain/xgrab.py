"""Reading the window back from the X server (``XGetImage`` through ctypes; no extra package).

A test hook (``microexpr train --grab-dir DIR``): after a frame is presented
(``imshow`` + ``waitKey``), the pixels the X server holds for the window's image
area are copied, so a test can check what was on screen, not what the program
meant to show.  Linux/X11 only; :func:`open_grabber` says why it cannot grab.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import cv2
import numpy as np

_ALL_PLANES = 0xFFFFFFFF
_Z_PIXMAP = 2


class _XImage(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int), ("format", ctypes.c_int),
        ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int), ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
    ]


class GrabError(RuntimeError):
    pass


def x_display_problem() -> str | None:
    """Why the X display in ``$DISPLAY`` cannot be opened, or None (also where X11 is not in use).

    Qt aborts the whole process when its display is unreachable; asking Xlib first gives a one-line error.
    """
    display = os.environ.get("DISPLAY")
    name = ctypes.util.find_library("X11")
    if not display or not name or os.environ.get("WAYLAND_DISPLAY"):
        return None
    x = ctypes.CDLL(name)
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = x.XOpenDisplay(None)
    if not handle:
        return f"cannot open the X display {display} (is the X server running, and may this user use it?)"
    x.XCloseDisplay(handle)
    return None


class XGrabber:
    """Grabs the image area of an OpenCV window (by name) from the X screen as a BGR array."""

    def __init__(self, window_name: str) -> None:
        name = ctypes.util.find_library("X11")
        if not name or not os.environ.get("DISPLAY"):
            raise GrabError("screen grabs need an X display and libX11")
        x = ctypes.CDLL(name)
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XDefaultRootWindow.restype = ctypes.c_ulong
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XGetImage.restype = ctypes.POINTER(_XImage)
        x.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                                ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
        x.XFree.argtypes = [ctypes.c_void_p]
        x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._x = x
        self._display = x.XOpenDisplay(None)
        if not self._display:
            raise GrabError("cannot open the X display for screen grabs")
        self._root = x.XDefaultRootWindow(self._display)
        self.window_name = window_name

    def grab(self) -> np.ndarray:
        rx, ry, w, h = cv2.getWindowImageRect(self.window_name)
        if w <= 0 or h <= 0:
            raise GrabError(f"window {self.window_name!r} has no image area to grab")
        ptr = self._x.XGetImage(self._display, self._root, rx, ry, w, h, _ALL_PLANES, _Z_PIXMAP)
        if not ptr:
            raise GrabError("XGetImage failed")
        img = ptr.contents
        try:
            if img.bits_per_pixel != 32:
                raise GrabError(f"screen depth {img.bits_per_pixel} bpp is not supported (need 32)")
            buf = ctypes.string_at(img.data, img.bytes_per_line * img.height)
            rows = np.frombuffer(buf, np.uint8).reshape(img.height, img.bytes_per_line // 4, 4)
            return rows[:, :w, :3].copy()  # BGRX on little-endian TrueColor screens
        finally:  # what XDestroyImage (a macro) does for an image from XGetImage
            self._x.XFree(img.data)
            self._x.XFree(ptr)

    def close(self) -> None:
        if self._display:
            self._x.XCloseDisplay(self._display)
            self._display = None
