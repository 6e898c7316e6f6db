"""Live overlay: one small annotator per on-screen element, drawing kept apart from data.

In the spirit of ``supervision``'s annotators, every element is a class with
``annotate(frame, data) -> frame`` that draws in place on a BGR ``uint8``
frame and returns it; the data is a plain value (faces, a probability vector,
an activation history, events).  :class:`Overlay` composes them from one
:class:`OverlayState` per frame.  Nothing here computes pipeline results.

Drawing is on the hot path of ``microexpr live``, so annotators use OpenCV
primitives only, and panels pre-render their static parts (background, labels,
threshold lines) once per frame size and blit them with one blend.

Layout (all sizes scale with frame height, ``u = max(1, height / 360)``):
status line on top; down the left edge the emotion bars, the region activation
timelines and the event log (so a face in the middle of the frame stays clear);
the micro-expression banner top-centre; the calibration ring around the face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from detector.core.events import Event
from detector.core.facs import EMOTIONS, REGIONS
from detector.stages.ekman import banner_text, overlay_tags
from detector.stages.landmarks import FaceObservation

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
GREY = (170, 170, 170)
DARK = (24, 24, 24)
ACCENT = (0, 215, 255)  # amber
OK_GREEN = (90, 210, 90)
WARN_RED = (40, 40, 255)

#: Colour of each emotion (BGR), in ``facs.EMOTIONS`` order.
EMOTION_COLORS: dict[str, tuple[int, int, int]] = {
    "neutral": (170, 170, 170),
    "anger": (50, 50, 225),
    "contempt": (170, 90, 190),
    "disgust": (60, 170, 60),
    "fear": (200, 110, 150),
    "happiness": (40, 210, 245),
    "sadness": (210, 140, 50),
    "surprise": (40, 150, 255),
}

#: Colour of each facial region's timeline (BGR), in ``facs.REGIONS`` order.
REGION_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 190, 80),  # brows
    (120, 230, 120),  # eyes
    (90, 160, 255),  # cheeks
    (230, 120, 230),  # nose
    (80, 220, 255),  # mouth
    (200, 200, 120),  # jaw
)


def unit(shape: tuple[int, ...]) -> float:
    """Size unit of the overlay for a frame of ``shape`` (H, W, ...): 1 at 360 px height."""
    return max(1.0, shape[0] / 360.0)


@dataclass(frozen=True)
class Rect:
    """Pixel rectangle ``x, y, w, h`` (top-left corner, size)."""

    x: int
    y: int
    w: int
    h: int

    def clip(self, shape: tuple[int, ...]) -> "Rect":
        H, W = shape[:2]
        x0, y0 = max(0, min(self.x, W)), max(0, min(self.y, H))
        x1, y1 = max(x0, min(self.x + self.w, W)), max(y0, min(self.y + self.h, H))
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def roi(self, frame: np.ndarray) -> np.ndarray:
        return frame[self.y : self.y + self.h, self.x : self.x + self.w]


def _text(img, s, org, scale, color=WHITE, thick=1) -> None:
    cv2.putText(img, s, (int(org[0]), int(org[1])), FONT, scale, color, thick, cv2.LINE_AA)


class _Panel:
    """A pre-rendered, semi-transparent panel: background + static drawing, blitted with one blend.

    ``render(canvas)`` draws the static parts on a black canvas of the
    panel's size; pixels it touches (other than the background) are copied
    opaque, the rest of the panel darkens the video by ``alpha``.
    """

    def __init__(self, alpha: float = 0.6) -> None:
        self.alpha = alpha
        self._key: tuple | None = None
        self._bg: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self.rect = Rect(0, 0, 0, 0)

    def prepare(self, rect: Rect, shape: tuple[int, ...], render) -> None:
        key = (rect, shape[:2])
        if key == self._key:
            return
        self._key = key
        self.rect = rect.clip(shape)
        canvas = np.zeros((rect.h, rect.w, 3), np.uint8)
        render(canvas)
        canvas = canvas[: self.rect.h, : self.rect.w]
        self._mask = canvas.any(axis=2).astype(np.uint8)
        self._fg = canvas
        self._bg = np.full_like(canvas, DARK[0])

    def blit(self, frame: np.ndarray) -> np.ndarray:
        """The panel's region of ``frame`` after blending in the background and static parts."""
        roi = self.rect.roi(frame)
        if roi.size == 0:
            return roi
        cv2.addWeighted(roi, 1.0 - self.alpha, self._bg, self.alpha, 0.0, dst=roi)
        cv2.copyTo(self._fg, self._mask, roi)  # in place: roi is a view of frame
        return roi


# --------------------------------------------------------------------------- faces


class BoxAnnotator:
    """Face box with the track id (``data``: list of :class:`FaceObservation`)."""

    def __init__(self, color=ACCENT) -> None:
        self.color = color

    def annotate(self, frame: np.ndarray, faces: list[FaceObservation]) -> np.ndarray:
        u = unit(frame.shape)
        t = max(1, int(round(u)))
        for f in faces:
            x0, y0, x1, y1 = (int(round(v)) for v in f.box)
            cv2.rectangle(frame, (x0, y0), (x1, y1), self.color, t, cv2.LINE_AA)
            _text(frame, f"face {f.track_id}", (x0 + 2, max(y0 - 4, 12)), 0.4 * u, self.color, t)
        return frame


class LandmarkAnnotator:
    """The 478 landmarks as 1-2 px dots (``data``: list of :class:`FaceObservation`).

    Dots are written with one NumPy fancy-index assignment per face, not one
    ``cv2.circle`` call per point.
    """

    def __init__(self, color=(255, 255, 200)) -> None:
        self.color = np.array(color, np.uint8)

    def annotate(self, frame: np.ndarray, faces: list[FaceObservation]) -> np.ndarray:
        H, W = frame.shape[:2]
        r = 1 if H < 600 else 2
        for f in faces:
            xy = np.rint(f.landmarks[:, :2]).astype(np.int32)
            for dx in range(r):
                for dy in range(r):
                    x = np.clip(xy[:, 0] + dx, 0, W - 1)
                    y = np.clip(xy[:, 1] + dy, 0, H - 1)
                    frame[y, x] = self.color
        return frame


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class CalibrationView:
    """Calibration in progress.

    ``progress`` 0..1; ring ``center`` and ``radius`` in pixels (None = frame
    centre, default size); ``face_found`` False shows "no face" instead.
    """

    progress: float
    center: tuple[float, float] | None = None
    radius: float | None = None
    face_found: bool = True


class CalibrationAnnotator:
    """A progress ring around the face with "hold a neutral face" while the neutral baseline is learned."""

    def __init__(self, message: str = "calibrating: hold a neutral face",
                 no_face: str = "no face found: look at the camera") -> None:
        self.message = message
        self.no_face = no_face

    def annotate(self, frame: np.ndarray, view: CalibrationView | None) -> np.ndarray:
        if view is None:
            return frame
        u = unit(frame.shape)
        H, W = frame.shape[:2]
        cx, cy = view.center if view.center is not None else (W / 2, H / 2)
        c = (int(cx), int(cy))
        r = int(view.radius) if view.radius else int(40 * u)
        r = max(int(20 * u), min(r, int(0.45 * H)))
        t = max(2, int(3 * u))
        cv2.circle(frame, c, r, (70, 70, 70), t, cv2.LINE_AA)
        p = float(np.clip(view.progress, 0.0, 1.0))
        if view.face_found:
            cv2.ellipse(frame, c, (r, r), -90.0, 0.0, 360.0 * p, ACCENT, t + 1, cv2.LINE_AA)
        # the message goes where the banner would (nothing is reported while calibrating)
        msg = f"{self.message}  {int(100 * p)}%" if view.face_found else self.no_face
        scale, thick = 0.55 * u, max(1, int(round(1.2 * u)))
        (mw, mh), _ = cv2.getTextSize(msg, FONT, scale, thick)
        x, y = max(4, (W - mw) // 2), int(26 * u) + mh + int(7 * u)
        cv2.rectangle(frame, (x - int(8 * u), int(26 * u)), (x + mw + int(8 * u), y + int(7 * u)), DARK, -1)
        _text(frame, msg, (x, y), scale, ACCENT if view.face_found else WARN_RED, thick)
        return frame


# --------------------------------------------------------------------------- panels


class EmotionBarsAnnotator:
    """Live emotion probabilities as horizontal bars (``data``: (8,) in ``facs.EMOTIONS`` order, or None).

    None (no face, or still calibrating) draws the empty panel.
    """

    def __init__(self, labels: tuple[str, ...] = EMOTIONS) -> None:
        self.labels = labels
        self._panel = _Panel()

    def layout(self, shape: tuple[int, ...]) -> Rect:
        u = unit(shape)
        return Rect(int(6 * u), int(24 * u), int(150 * u), int(16 * u + 13 * u * len(self.labels)))

    def _render(self, canvas: np.ndarray, u: float) -> None:
        _text(canvas, "emotion (now)", (5 * u, 12 * u), 0.38 * u, GREY)
        for i, lab in enumerate(self.labels):
            y = 16 * u + 13 * u * i
            _text(canvas, lab[:9], (5 * u, y + 10 * u), 0.36 * u, WHITE)

    def annotate(self, frame: np.ndarray, probs: np.ndarray | None) -> np.ndarray:
        u = unit(frame.shape)
        self._panel.prepare(self.layout(frame.shape), frame.shape, lambda c: self._render(c, u))
        roi = self._panel.blit(frame)
        if probs is None or roi.size == 0:
            return frame
        x0, w = int(66 * u), int(78 * u)
        for i, lab in enumerate(self.labels):
            y = int(16 * u + 13 * u * i + 2 * u)
            p = float(probs[i])
            n = int(round(w * min(max(p, 0.0), 1.0))) if np.isfinite(p) else 0
            if n >= 1:
                cv2.rectangle(roi, (x0, y), (x0 + n - 1, y + int(9 * u)), EMOTION_COLORS.get(lab, GREY), -1)
        return frame


class ActivationTimelineAnnotator:
    """Scrolling activation timeline of each facial region with its threshold line.

    ``data``: array (n_regions, n) of activation in noise sigmas, oldest
    first (the newest sample is drawn at the right edge); NaN = no face.
    The vertical axis runs from 0 to ``2 * threshold`` (clipped).

    Parameters
    ----------
    threshold : float
        Activation (noise sigmas) at which the segmenter opens an event.
    capacity : int
        Samples shown, one pixel each at 360 px frame height.
    """

    def __init__(self, threshold: float, capacity: int = 120, regions: tuple[str, ...] = REGIONS) -> None:
        self.threshold = float(threshold)
        self.capacity = int(capacity)
        self.regions = regions
        self._panel = _Panel()
        self._key: tuple | None = None

    def layout(self, shape: tuple[int, ...]) -> Rect:
        u = unit(shape)
        top = int(24 * u) + int(16 * u + 13 * u * len(EMOTIONS)) + int(6 * u)
        return Rect(int(6 * u), top, int(48 * u) + int(self.capacity * u) + int(6 * u),
                    int(16 * u + 18 * u * len(self.regions)))

    def _geom(self, u: float, i: int) -> tuple[int, int]:
        """Top and bottom pixel rows (in the panel) of region ``i``'s strip."""
        top = int(16 * u + 18 * u * i)
        return top + int(2 * u), top + int(16 * u)

    def _render(self, canvas: np.ndarray, u: float) -> None:
        _text(canvas, f"region activation  (- - {self.threshold:g} sd)", (5 * u, 12 * u), 0.36 * u, GREY)
        x0 = int(48 * u)
        x1 = x0 + int(self.capacity * u)
        for i, name in enumerate(self.regions):
            top, bot = self._geom(u, i)
            _text(canvas, name, (5 * u, bot - 3 * u), 0.36 * u, REGION_COLORS[i % len(REGION_COLORS)])
            cv2.line(canvas, (x0, bot), (x1, bot), (90, 90, 90), 1)
            yt = bot - int(round((bot - top) * 0.5))
            for xs in range(x0, x1, int(6 * u)):  # dashed threshold line
                cv2.line(canvas, (xs, yt), (min(xs + int(3 * u), x1), yt), (110, 110, 200), 1)

    def annotate(self, frame: np.ndarray, history: np.ndarray | None) -> np.ndarray:
        u = unit(frame.shape)
        self._panel.prepare(self.layout(frame.shape), frame.shape, lambda c: self._render(c, u))
        roi = self._panel.blit(frame)
        if history is None or roi.size == 0 or history.shape[-1] == 0:
            return frame
        h = np.asarray(history, np.float32)[: len(self.regions), -self.capacity :]
        r, n = h.shape
        key = (u, n, r)
        if key != self._key:  # pixel geometry, recomputed only when the frame size or fill level changes
            self._key = key
            x0 = int(48 * u)
            self._xs = x0 + (np.arange(self.capacity - n, self.capacity) * u).astype(np.int32)
            g = np.array([self._geom(u, i) for i in range(r)], np.float32)
            self._bot, self._span = g[:, 1:2], (g[:, 1] - g[:, 0])[:, None]
            self._pts = np.empty((r, n, 1, 2), np.int32)
            self._pts[:, :, 0, 0] = self._xs
        ymax = 2.0 * self.threshold if self.threshold > 0 else 1.0
        v = np.nan_to_num(h, nan=0.0)
        ys = self._bot - np.clip(v * (1.0 / ymax), 0.0, 1.0) * self._span
        self._pts[:, :, 0, 1] = ys
        for i in range(r):
            cv2.polylines(roi, [self._pts[i]], False, REGION_COLORS[i % len(REGION_COLORS)], 1, cv2.LINE_AA)
        for i in np.flatnonzero(v[:, -1] >= self.threshold):
            d = (int(self._pts[i, -1, 0, 0]), int(self._pts[i, -1, 0, 1]))
            cv2.circle(roi, d, max(2, int(2.5 * u)), WARN_RED, -1, cv2.LINE_AA)
        return frame


def _event_text(e: Event) -> str:
    return f"{e.emotion} {100 * e.confidence:.0f}%  {e.duration_ms:.0f} ms{overlay_tags(e)}"


class BannerAnnotator:
    """A banner per detected micro-expression (emotion, confidence, duration in ms).

    ``data``: list of ``(event, age_s)``; the caller keeps each for about
    ``hold_s`` seconds (the newest drawn on top).  The banner fades in its
    last quarter.
    """

    def __init__(self, hold_s: float = 1.5) -> None:
        self.hold_s = hold_s

    def annotate(self, frame: np.ndarray, banners: list[tuple[Event, float]]) -> np.ndarray:
        if not banners:
            return frame
        u = unit(frame.shape)
        H, W = frame.shape[:2]
        scale, thick = 0.62 * u, max(1, int(round(1.5 * u)))
        y = int(26 * u)
        for e, age in banners[-2:][::-1]:
            s = banner_text(e) or f"{e.kind.upper()}  {_event_text(e)}"
            (tw, th), _ = cv2.getTextSize(s, FONT, scale, thick)
            x = max(2, (W - tw) // 2)
            col = EMOTION_COLORS.get(e.emotion, ACCENT)
            box = Rect(x - int(8 * u), y, tw + int(16 * u), th + int(14 * u)).clip(frame.shape)
            roi = box.roi(frame)
            if roi.size:
                fade = 1.0 if age < 0.75 * self.hold_s else max(0.0, (self.hold_s - age) / (0.25 * self.hold_s))
                a = 0.75 * fade
                roi[:] = cv2.addWeighted(roi, 1.0 - a, np.full_like(roi, 20), a, 0.0)
                cv2.rectangle(frame, (box.x, box.y), (box.x + box.w - 1, box.y + box.h - 1), col,
                              max(1, int(2 * u)))
                _text(frame, s, (x, y + th + int(7 * u)), scale, col if fade > 0.3 else GREY, thick)
            y += th + int(20 * u)
        return frame


class EventLogAnnotator:
    """The last events with their onset times (``data``: list of :class:`Event`, oldest first)."""

    def __init__(self, lines: int = 4) -> None:
        self.lines = lines
        self._panel = _Panel()

    def layout(self, shape: tuple[int, ...]) -> Rect:
        u = unit(shape)
        H, W = shape[:2]
        w, h = int(226 * u), int(18 * u + 13 * u * self.lines)
        return Rect(int(6 * u), H - h - int(6 * u), w, h)  # bottom-left, under the timelines

    def _render(self, canvas: np.ndarray, u: float) -> None:
        _text(canvas, "events  (onset s, kind, emotion, duration)", (5 * u, 12 * u), 0.34 * u, GREY)

    def annotate(self, frame: np.ndarray, events: list[Event]) -> np.ndarray:
        u = unit(frame.shape)
        self._panel.prepare(self.layout(frame.shape), frame.shape, lambda c: self._render(c, u))
        roi = self._panel.blit(frame)
        if roi.size == 0:
            return frame
        if not events:
            _text(roi, "none yet", (5 * u, 18 * u + 10 * u), 0.36 * u, GREY)
            return frame
        for i, e in enumerate(events[-self.lines :][::-1]):
            y = 18 * u + 13 * u * i + 10 * u
            col = EMOTION_COLORS.get(e.emotion, WHITE) if e.kind == "micro" else GREY
            _text(roi, f"{e.onset:7.2f}  {e.kind:<5} {_event_text(e)}", (5 * u, y), 0.36 * u, col)
        return frame


@dataclass(frozen=True)
class Status:
    """Numbers for the status line: rates in frames per second, latency in milliseconds."""

    capture_fps: float = 0.0
    processing_fps: float = 0.0
    latency_ms: float = float("nan")
    dropped: int = 0
    paused: bool = False
    note: str = ""


class StatusAnnotator:
    """One status line at the top: capture fps, processing fps, grab-to-result latency, dropped frames."""

    def __init__(self) -> None:
        self._panel = _Panel(alpha=0.7)

    def layout(self, shape: tuple[int, ...]) -> Rect:
        u = unit(shape)
        return Rect(0, 0, shape[1], int(18 * u))

    def _render(self, canvas: np.ndarray, u: float) -> None:
        hint = "q quit  space pause  s snapshot  l landmarks  c calibrate"
        (tw, _), _ = cv2.getTextSize(hint, FONT, 0.32 * u, 1)
        _text(canvas, hint, (canvas.shape[1] - tw - 5 * u, 12 * u), 0.32 * u, GREY)

    def annotate(self, frame: np.ndarray, status: Status) -> np.ndarray:
        u = unit(frame.shape)
        self._panel.prepare(self.layout(frame.shape), frame.shape, lambda c: self._render(c, u))
        roi = self._panel.blit(frame)
        lat = "-" if not np.isfinite(status.latency_ms) else f"{status.latency_ms:.1f}"
        s = (f"capture {status.capture_fps:5.1f} fps   processing {status.processing_fps:5.1f} fps   "
             f"latency {lat} ms   dropped {status.dropped}")
        _text(roi, s, (5 * u, 12 * u), 0.36 * u, WHITE)
        if status.paused or status.note:
            tag = "PAUSED" if status.paused else status.note
            (tw, th), _ = cv2.getTextSize(tag, FONT, 0.6 * u, max(1, int(u)))
            H, W = frame.shape[:2]
            x, y = (W - tw) // 2, H // 2
            cv2.rectangle(frame, (x - 6, y - th - 6), (x + tw + 6, y + 6), DARK, -1)
            _text(frame, tag, (x, y), 0.6 * u, ACCENT, max(1, int(u)))
        return frame


# --------------------------------------------------------------------------- composition


@dataclass
class OverlayState:
    """Everything the overlay shows for one frame (built by the live loop)."""

    faces: list[FaceObservation] = field(default_factory=list)
    show_landmarks: bool = False
    calibration: CalibrationView | None = None
    probs: np.ndarray | None = None  # (8,) EMOTIONS order
    activation_history: np.ndarray | None = None  # (6, n) noise sigmas, oldest first
    banners: list[tuple[Event, float]] = field(default_factory=list)  # (event, age in s)
    log: list[Event] = field(default_factory=list)
    status: Status = field(default_factory=Status)


class Overlay:
    """All annotators, drawn in a fixed order; ``annotate(frame, state)`` draws in place.

    Parameters
    ----------
    threshold : float
        Region activation threshold (noise sigmas) for the timeline's line.
    history : int
        Samples in the activation timeline.
    banner_s : float
        Seconds a micro-expression banner stays.
    """

    def __init__(self, threshold: float, history: int = 120, banner_s: float = 1.5, log_lines: int = 4) -> None:
        self.box = BoxAnnotator()
        self.landmarks = LandmarkAnnotator()
        self.calibration = CalibrationAnnotator()
        self.bars = EmotionBarsAnnotator()
        self.timeline = ActivationTimelineAnnotator(threshold, history)
        self.banner = BannerAnnotator(banner_s)
        self.log = EventLogAnnotator(log_lines)
        self.status = StatusAnnotator()

    def regions(self, shape: tuple[int, ...]) -> dict[str, Rect]:
        """Where the panels go on a frame of ``shape`` (for tests and layout checks)."""
        return {
            "status": self.status.layout(shape).clip(shape),
            "bars": self.bars.layout(shape).clip(shape),
            "timeline": self.timeline.layout(shape).clip(shape),
            "log": self.log.layout(shape).clip(shape),
        }

    def annotate(self, frame: np.ndarray, state: OverlayState) -> np.ndarray:
        if state.show_landmarks:
            self.landmarks.annotate(frame, state.faces)
        self.box.annotate(frame, state.faces)
        self.calibration.annotate(frame, state.calibration)
        self.bars.annotate(frame, state.probs)
        self.timeline.annotate(frame, state.activation_history)
        self.log.annotate(frame, state.log)
        self.banner.annotate(frame, state.banners)
        self.status.annotate(frame, state.status)
        return frame
