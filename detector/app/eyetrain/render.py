"""What the window shows: flash frames from warp maps precomputed per round, and the text screens.

A round's warp (:func:`detector.lab.facewarp.au_field` of its AUs at its intensity)
is computed once, before the round, and converted to OpenCV's fixed-point maps;
a flash frame is then one ``cv2.remap`` of the framed face plus a copy into the
640x480 canvas (``benchmarks/bench_train_render.py`` times it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detector.app.eyetrain.options import CANVAS_H, CANVAS_W, EMOTIONS
from detector.core import facs
from detector.lab.facewarp import Face, _Geom, _grid, au_field, min_jacobian

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, GREEN, RED, GREY = (255, 255, 255), (90, 220, 90), (80, 80, 255), (170, 170, 170)
PANEL = (32, 32, 32)
#: Smallest Jacobian of a warp map that counts as fold-free; stronger warps are scaled down to it.
MIN_JACOBIAN = 0.2


@dataclass(frozen=True)
class Warp:
    """A precomputed warp: fixed-point maps for ``cv2.remap`` and the intensity it really shows."""

    map1: np.ndarray
    map2: np.ndarray
    intensity: float
    aus: tuple[str, ...]


class PreparedFace:
    """A framed face, its pixel geometry (computed once) and its canvas with the face in the middle."""

    def __init__(self, face: Face) -> None:
        self.face = face
        self.geom = _Geom(face)
        h, w = face.image.shape[:2]
        if h > CANVAS_H or w > CANVAS_W:
            raise ValueError(f"face frame {w}x{h} does not fit the {CANVAS_W}x{CANVAS_H} canvas")
        self.x0, self.y0 = (CANVAS_W - w) // 2, (CANVAS_H - h) // 2
        self.grid = _grid(h, w)
        self.canvas = np.empty((CANVAS_H, CANVAS_W, 3), np.uint8)
        self.canvas[:] = PANEL
        self.place(self.canvas, face.image)

    @property
    def name(self) -> str:
        return self.face.name

    def place(self, canvas: np.ndarray, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        canvas[self.y0:self.y0 + h, self.x0:self.x0 + w] = image

    def warp(self, aus: tuple[str, ...], intensity: float) -> Warp:
        """The warp showing ``aus`` at ``intensity``, scaled down until it does not fold the image."""
        field = au_field(self.geom, {a: intensity for a in aus})
        scale = 1.0
        while min_jacobian(field * scale) < MIN_JACOBIAN and scale > 0.05:
            scale *= 0.85
        m = self.grid - field * np.float32(scale)
        map1, map2 = cv2.convertMaps(np.ascontiguousarray(m[..., 0]), np.ascontiguousarray(m[..., 1]),
                                     cv2.CV_16SC2)
        return Warp(map1, map2, intensity * scale, tuple(aus))

    def warped(self, warp: Warp) -> np.ndarray:
        """The face image under ``warp`` (one remap)."""
        return cv2.remap(self.face.image, warp.map1, warp.map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def frame(self, warp: Warp | None, out: np.ndarray | None = None) -> np.ndarray:
        """A full canvas: the neutral face (``warp`` None) or the warped one; into ``out`` if given."""
        out = np.empty_like(self.canvas) if out is None else out
        np.copyto(out, self.canvas)
        if warp is not None:
            self.place(out, self.warped(warp))
        return out


# --------------------------------------------------------------------------- text


def text(img: np.ndarray, s: str, org: tuple[int, int], scale: float = 0.55, color=WHITE, thick: int = 1) -> None:
    """Text on a band darkened by :func:`shade` (no outline: OpenCV 5 widens text drawn thicker)."""
    cv2.putText(img, s, org, FONT, scale, color, thick, cv2.LINE_AA)


def shade(img: np.ndarray, y0: int, y1: int) -> None:
    """Darken a band of rows so text on it reads over the face."""
    img[y0:y1] = (img[y0:y1] // 3).astype(np.uint8)


def wrap(words: list[str], width_px: int, scale: float = 0.5, sep: str = ", ") -> list[str]:
    lines: list[str] = []
    cur = ""
    for w in words:
        cand = w if not cur else cur + sep + w
        if cv2.getTextSize(cand, FONT, scale, 1)[0][0] > width_px and cur:
            lines.append(cur + sep.rstrip())
            cur = w
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return lines


def au_label(au: str) -> str:
    """``AU05`` -> ``AU5 upper lid raiser``; a side is kept (``AU12_R`` -> ``AU12 (right) ...``)."""
    base, _, side = au.partition("_")
    where = {"L": " (left)", "R": " (right)"}.get(side, "")
    return f"AU{int(base[2:])}{where} {facs.AU_DESCRIPTIONS.get(base, '')}".rstrip()


def key_legend() -> list[str]:
    keys = [f"{i + 1} {e}" for i, e in enumerate(EMOTIONS)]
    return ["   ".join(keys[:4]), "   ".join(keys[4:])]


def start_screen(face: PreparedFace, rounds: int) -> np.ndarray:
    img = face.frame(None)
    shade(img, 0, CANVAS_H)
    lines = ["Train your eye", "",
             "A neutral face flashes an emotion for a moment.",
             "Name it with keys 1-7:", *key_legend(), "",
             f"{rounds} rounds; right answers make the flash shorter.",
             "space: start      q: quit"]
    for i, s in enumerate(lines):
        text(img, s, (40, 80 + 30 * i), 0.8 if i == 0 else 0.55, GREEN if i == 0 else WHITE, 2 if i == 0 else 1)
    return img


def question_screen(face: PreparedFace, index: int, rounds: int) -> np.ndarray:
    img = face.frame(None)
    shade(img, CANVAS_H - 70, CANVAS_H)
    text(img, f"{index + 1}/{rounds}  Which emotion?", (12, CANVAS_H - 50))
    for i, s in enumerate(key_legend()):
        text(img, s, (12, CANVAS_H - 28 + 20 * i), 0.5)
    return img


@dataclass(frozen=True)
class Feedback:
    """What the feedback screen says about one answer."""

    emotion: str
    answer: str
    aus: tuple[str, ...]
    kind: str
    requested_ms: float
    frames: int
    shown_ms: float
    measured_ms: float

    @property
    def correct(self) -> bool:
        return self.emotion == self.answer


def feedback_screen(face: PreparedFace, warp: Warp, fb: Feedback) -> np.ndarray:
    """The right answer with its expression held and its AUs named."""
    img = face.frame(warp)
    shade(img, 0, 62)
    verdict = f"Right: {fb.emotion}" if fb.correct else f"It was {fb.emotion} (you said {fb.answer})"
    text(img, verdict, (12, 26), 0.75, GREEN if fb.correct else RED, 2)
    kind = {"full": "", "subtle": "subtle (one region), ", "masked": "masked by a smile, "}[fb.kind]
    text(img, f"{kind}shown {fb.frames} frame{'s' * (fb.frames != 1)} = {fb.shown_ms:.0f} ms "
              f"(asked {fb.requested_ms:.0f}, measured {fb.measured_ms:.0f})", (12, 50), 0.45, GREY)
    labels = wrap([au_label(a) for a in warp.aus], CANVAS_W - 24, 0.5)
    y0 = CANVAS_H - 26 - 20 * len(labels)
    shade(img, y0 - 18, CANVAS_H)
    for i, s in enumerate(labels):
        text(img, s, (12, y0 + 20 * i), 0.5)
    text(img, "space: next round    q: quit", (12, CANVAS_H - 10), 0.45, GREY)
    return img


def summary_screen(face: PreparedFace, lines: list[str]) -> np.ndarray:
    img = face.frame(None)
    shade(img, 0, CANVAS_H)
    text(img, "Session summary", (40, 50), 0.8, GREEN, 2)
    for i, s in enumerate(lines[:16]):
        text(img, s, (40, 85 + 22 * i), 0.5)
    text(img, "any key: quit", (40, CANVAS_H - 16), 0.45, GREY)
    return img
