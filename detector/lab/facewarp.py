"""Warping a real face photo into facial action units (AUs): the generator behind the synthetic clips
(``benchmarks/synth.py``) and the flashes of ``microexpr train``.

:func:`frame_face` finds the face with MediaPipe FaceLandmarker (IMAGE mode),
scales and crops the photo to a ``size`` x ``size`` frame with the
inter-ocular distance (IOD, between the iris centres) at ``iod_px`` pixels,
and finds the 478 landmarks again on that frame.  Each AU is a displacement
field defined in the face's own frame (``u`` towards the subject's left, ``v``
towards the chin, both in IOD units) by Gaussian blobs on landmark anchors and
by vertical profiles between landmark curves (see :data:`AU_AMPLITUDE` and
``_au_field``).  :func:`au_field` sums them into a *backward* pixel field ``B``:
the face showing the AUs is ``cv2.remap(face.image, grid - B)``, and
:func:`min_jacobian` checks that the map does not fold.  Intensity 1.0 is a
maximal posed action (e.g. inner brow up 12 % IOD).

The module holds no randomness: the same face and intensities give the same
field, so ``benchmarks/synth.py`` (which re-exports these names) keeps its
``SYNTH_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from detector.core import facs
from detector.stages.landmarks import Landmarker, LandmarkerOptions

DEFAULT_IOD_PX = 125.0  # like the 200 fps lab recordings
DEFAULT_SIZE = 400  # frame side, pixels (brows to chin with a margin at IOD 125)

# ---------------------------------------------------------------------------
# MediaPipe landmark groups (subject's own left/right; in a non-mirrored photo
# the subject's left is on the image's right).
# ---------------------------------------------------------------------------
_IRIS = {"R": 468, "L": 473}
_EYE_UPPER = {
    "R": (33, 246, 161, 160, 159, 158, 157, 173, 133),
    "L": (263, 466, 388, 387, 386, 385, 384, 398, 362),
}
_EYE_LOWER = {
    "R": (33, 7, 163, 144, 145, 153, 154, 155, 133),
    "L": (263, 249, 390, 373, 374, 380, 381, 382, 362),
}
_BROW_UPPER = {"R": (70, 63, 105, 66, 107), "L": (300, 293, 334, 296, 336)}
_BROW_LOWER = {"R": (46, 53, 52, 65, 55), "L": (276, 283, 282, 295, 285)}
_BROW_INNER = {"R": 107, "L": 336}
_BROW_OUTER = {"R": 70, "L": 300}
_ALA = {"R": 129, "L": 358}
_CORNER = {"R": 61, "L": 291}
_UPPER_LIP_LATERAL = {"R": 40, "L": 270}
_LIP_TOP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
_LIP_BOTTOM = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
_LIP_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
_LIP_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
_JAW = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397)
_NOSE_BASE = (98, 97, 2, 326, 327)

#: Displacement of the main moving point at intensity 1.0 (a maximal posed
#: action), IOD units.  AU45 is the fraction of the eye aperture closed.
AU_AMPLITUDE: dict[str, float] = {
    "AU01": 0.12,  # inner brow up
    "AU02": 0.10,  # outer brow up
    "AU04": 0.07,  # brow down (and 0.6x that inwards)
    "AU05": 0.045,  # upper lid margin up
    "AU06": 0.05,  # lower lid and cheek up
    "AU07": 0.04,  # lower lid up, upper lid down 0.3x
    "AU09": 0.06,  # nose sides up (upper lip 0.4x, inner brow down 0.3x)
    "AU10": 0.07,  # upper lip up
    "AU12": 0.14,  # lip corner up (0.6x) and out (0.8x)
    "AU14": 0.04,  # lip corner in
    "AU15": 0.07,  # lip corner down
    "AU16": 0.06,  # lower lip down
    "AU17": 0.05,  # chin boss and lower lip up
    "AU20": 0.09,  # lip corner out (sideways)
    "AU23": 0.04,  # corners in, lip red narrowed
    "AU24": 0.03,  # lips pressed together
    "AU25": 0.05,  # lower lip down, lips part
    "AU26": 0.18,  # jaw (chin) down
    "AU45": 1.0,  # upper lid down to the lower lid (fraction of the aperture)
    "AU64": 0.06,  # eyes down: iris and upper lid move down together (gaze shift, not an expression)
}
#: Fraction of an AU's amplitude that opens (+) the lip line, for the width of
#: the lip-line transition (which must grow with the opening to stay fold-free).
_LIP_OPENING = {"AU09": 0.4, "AU10": 1.0, "AU16": 1.0, "AU25": 1.0, "AU26": 0.75}
_W0_LIP = 0.03  # narrowest lip-line transition, IOD (about the contact shadow)
_UPPER_AUS = frozenset({"AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU45", "AU64"})


def _base(au: str) -> str:
    return au.split("_")[0]


def _side(au: str) -> str | None:
    parts = au.split("_")
    return parts[1] if len(parts) > 1 else None


# ---------------------------------------------------------------------------
# Faces
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Face:
    """A neutral face ready to animate.

    ``image``: (size, size, 3) uint8 BGR frame; ``landmarks``: (478, 2) float32
    pixel x, y found on that frame; ``iod``: inter-ocular distance in pixels
    (iris centre to iris centre).
    """

    name: str
    image: np.ndarray
    landmarks: np.ndarray
    iod: float
    source: str
    split: str | None = None


def _detect_landmarks(image_bgr: np.ndarray) -> np.ndarray | None:
    with Landmarker(LandmarkerOptions(mode="image", max_faces=1)) as lm:
        faces = lm.detect(image_bgr, 0.0)
    return faces[0].landmarks[:, :2].astype(np.float32) if faces else None


def _eye_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin (eye midpoint), unit x (towards the subject's left), unit y (towards the chin), IOD px."""
    r, l = lm[_IRIS["R"]].astype(np.float64), lm[_IRIS["L"]].astype(np.float64)
    iod = float(np.hypot(*(l - r)))
    ex = (l - r) / iod
    ey = np.array([-ex[1], ex[0]])
    return (l + r) / 2, ex, ey, iod



def frame_face(
    image: np.ndarray,
    name: str,
    source: str,
    split: str | None = None,
    iod_px: float = DEFAULT_IOD_PX,
    size: int = DEFAULT_SIZE,
) -> Face:
    """Frame a BGR photo (``size`` x ``size`` px, IOD = ``iod_px``) and find its landmarks.

    Runs MediaPipe FaceLandmarker in IMAGE mode twice (on the photo, then on
    the framed result).  Raises ``ValueError`` with a one-line message naming
    ``source`` when the photo holds no face.
    """
    lm = _detect_landmarks(image)
    if lm is None:
        raise ValueError(f"no face found in {source}")
    origin, ex, ey, iod = _eye_frame(lm)
    scale = iod_px / iod
    centre = origin + 0.65 * iod * ey  # below the nose tip: brows to chin in view
    m = np.array(
        [[scale, 0.0, size / 2 - scale * centre[0]], [0.0, scale, size / 2 - scale * centre[1]]], dtype=np.float64
    )
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    frame = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    lm2 = _detect_landmarks(frame)
    if lm2 is None:
        raise ValueError(f"no face found in {source} after framing it at IOD {iod_px:g} px in {size} px")
    iod2 = _eye_frame(lm2)[3]
    return Face(name, frame, lm2, iod2, source, split)

def load_face_image(path: str | Path, iod_px: float = DEFAULT_IOD_PX, size: int = DEFAULT_SIZE,
                    split: str | None = None, name: str | None = None) -> Face:
    """:func:`frame_face` of an image file; ``ValueError`` when it is unreadable or holds no face."""
    p = Path(path)
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {p}")
    return frame_face(img, name or p.stem, str(p), split, iod_px, size)


# ---------------------------------------------------------------------------
# Displacement fields
# ---------------------------------------------------------------------------


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class _Geom:
    """Face coordinates of every pixel and landmark curves, IOD units."""

    def __init__(self, face: Face) -> None:
        h, w = face.image.shape[:2]
        self.origin, self.ex, self.ey, self.iod = _eye_frame(face.landmarks)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        dx, dy = xs - self.origin[0], ys - self.origin[1]
        self.u = ((dx * self.ex[0] + dy * self.ex[1]) / self.iod).astype(np.float32)
        self.v = ((dx * self.ey[0] + dy * self.ey[1]) / self.iod).astype(np.float32)
        d = face.landmarks.astype(np.float64) - self.origin
        self.lm = np.stack([d @ self.ex, d @ self.ey], axis=1) / self.iod  # (478, 2) u, v
        self.shape = (h, w)

    def pt(self, i: int) -> np.ndarray:
        return self.lm[i]

    def curve(self, idx: Sequence[int], offset: float = 0.0) -> np.ndarray:
        """Per-pixel v of the polyline through landmarks ``idx`` (flat beyond its ends)."""
        p = self.lm[list(idx)]
        order = np.argsort(p[:, 0], kind="stable")
        us, vs = p[order, 0], p[order, 1]
        return (np.interp(self.u, us, vs) + offset).astype(np.float32)

    def mid_curve(self, a: Sequence[int], b: Sequence[int]) -> np.ndarray:
        return 0.5 * (self.curve(a) + self.curve(b))

    def window(self, lo: float, hi: float, soft: float) -> np.ndarray:
        """1 for ``lo <= u <= hi``, falling smoothly to 0 over ``soft`` outside."""
        left = _smoothstep((self.u - (lo - soft)) / soft)
        right = 1.0 - _smoothstep((self.u - hi) / soft)
        return (left * right).astype(np.float32)

    def gauss_u(self, c: float, sigma: float) -> np.ndarray:
        return np.exp(-0.5 * ((self.u - c) / sigma) ** 2).astype(np.float32)

    def blob(self, c: np.ndarray, ru: float, rv: float) -> np.ndarray:
        return np.exp(-0.5 * (((self.u - c[0]) / ru) ** 2 + ((self.v - c[1]) / rv) ** 2)).astype(np.float32)

    def profile(self, knots: Sequence[np.ndarray | float], values: Sequence[float]) -> np.ndarray:
        """Piecewise smoothstep of ``v`` through per-pixel ``knots`` (top to bottom) and ``values``."""
        out = np.full(self.shape, values[0], dtype=np.float32)
        k0 = np.broadcast_to(np.asarray(knots[0], dtype=np.float32), self.shape)
        for i in range(len(knots) - 1):
            k1 = np.maximum(np.asarray(knots[i + 1], dtype=np.float32), k0 + 1e-3)
            dv = values[i + 1] - values[i]
            if dv:
                out += dv * _smoothstep((self.v - k0) / (k1 - k0))
            k0 = k1
        return out

    def eye_bump(self, s: str) -> np.ndarray:
        """0 at the eye corners, 1 mid-eye: lid margins move most in the middle, not at the corners."""
        us = self.lm[list(_EYE_UPPER[s]), 0]
        lo, hi = float(us.min()), float(us.max())
        t = np.clip((self.u - lo) / (hi - lo), 0.0, 1.0)
        return np.sqrt(4.0 * t * (1.0 - t)).astype(np.float32)

    def eye_span(self, s: str, extra: float = 0.0, soft: float = 0.04) -> np.ndarray:
        us = self.lm[list(_EYE_UPPER[s]), 0]
        return self.window(float(us.min()) - extra, float(us.max()) + extra, soft)

    def mouth_span(self, extra: float = 0.0, soft: float = 0.08) -> np.ndarray:
        us = self.lm[[_CORNER["R"], _CORNER["L"]], 0]
        return self.window(float(us.min()) - extra, float(us.max()) + extra, soft)


def _lip_split(g: _Geom, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Soft masks (above, below) of the lip line; transition ``width`` IOD inside the mouth, wider outside."""
    line = g.mid_curve(_LIP_INNER_UPPER, _LIP_INNER_LOWER)
    us = g.lm[[_CORNER["R"], _CORNER["L"]], 0]
    outside = np.maximum(0.0, np.maximum(us.min() - g.u, g.u - us.max()))
    w = width + 1.5 * outside  # the cut closes smoothly beyond the corners
    below = _smoothstep((g.v - (line - w / 2)) / w)
    return (1.0 - below).astype(np.float32), below.astype(np.float32)


def _au_field(g: _Geom, au: str, a: float, lip_w: float) -> tuple[np.ndarray, np.ndarray]:
    """Backward displacement (Bu, Bv) in IOD units of one AU (side in the name) at amplitude ``a`` IOD.

    ``lip_w`` is the lip-line transition width (IOD) for AUs that open the lips.
    """
    base, s = _base(au), _side(au)
    sg = 1.0 if s == "L" else -1.0  # +u is the subject's left
    zu = np.zeros(g.shape, np.float32)
    lm = g.lm

    if base in ("AU01", "AU02", "AU04"):
        brow_up, brow_lo = g.curve(_BROW_UPPER[s]), g.curve(_BROW_LOWER[s])
        lid = g.curve(_EYE_UPPER[s])
        bi, bo = lm[_BROW_INNER[s]], lm[_BROW_OUTER[s]]
        if base == "AU01":
            h = g.gauss_u(bi[0] + sg * 0.05, 0.16)
        elif base == "AU02":
            h = g.gauss_u((2 * bo[0] + bi[0]) / 3, 0.18)
        if base in ("AU01", "AU02"):
            p = g.profile([brow_up - 0.7, brow_up - 0.3, brow_up, lid - 0.03], [0, 1, 1, 0])
            return zu, -a * h * p
        h = g.gauss_u(0.6 * bi[0] + 0.4 * bo[0], 0.2)
        p = g.profile([brow_up - 0.5, brow_up - 0.05, brow_lo, lid - 0.02], [0, 1, 1, 0])
        hin = g.gauss_u(bi[0], 0.15)
        return -sg * 0.6 * a * hin * p, a * h * p

    if base == "AU05":
        lid = g.curve(_EYE_UPPER[s])
        p = g.profile([lid - 0.18, lid - 0.01, lid + 0.09], [0, 1, 0])
        return zu, -a * g.eye_bump(s) * p

    if base == "AU06":
        lid = g.curve(_EYE_LOWER[s])
        p = g.profile([lid - 0.05, lid, lid + 0.25, lid + 0.6], [0, 1, 0.8, 0])
        return zu, -a * g.eye_span(s, 0.1, 0.12) * p

    if base == "AU07":
        lo, up = g.curve(_EYE_LOWER[s]), g.curve(_EYE_UPPER[s])
        p = -g.profile([lo - 0.05, lo, lo + 0.1], [0, 1, 0]) + 0.3 * g.profile([up - 0.12, up, up + 0.05], [0, 1, 0])
        return zu, a * g.eye_bump(s) * p

    if base == "AU45":
        up, lo = g.curve(_EYE_UPPER[s]), g.curve(_EYE_LOWER[s])
        aperture = np.maximum(lo - up, 0.0)
        p = g.profile([up - 0.22, lo - 0.004, lo + 0.012], [0, 1, 0])
        return zu, a * aperture * g.eye_span(s, 0.0, 0.03) * p

    if base == "AU64":
        # looking down: the iris and the upper lid, which follows the gaze, move down together; the
        # lower lid stays (the moved content slides under it).  The rise sits in the lid skin, wide
        # enough to stay fold-free.
        bv = np.zeros(g.shape, np.float32)
        for side in ("R", "L"):
            up, lo = g.curve(_EYE_UPPER[side]), g.curve(_EYE_LOWER[side])
            p = g.profile([up - 0.2, up - 0.02, lo - 0.012, lo + 0.004], [0, 1, 1, 0])
            bv += a * g.eye_span(side, 0.02, 0.04) * p
        return zu, bv

    if base == "AU09":
        ala = lm[_ALA[s]]
        inner_eye = lm[_EYE_UPPER[s][-1]]
        side_nose = 0.5 * (ala + inner_eye) - np.array([sg * 0.03, 0.0])
        lip = lm[_UPPER_LIP_LATERAL[s]]
        above, _ = _lip_split(g, lip_w)
        bv = -(g.blob(ala, 0.1, 0.12) + 0.5 * g.blob(side_nose, 0.08, 0.1) + 0.4 * g.blob(lip, 0.1, 0.1)) * above
        # inner brow pulled down a little (the procerus/nasalis drag)
        brow_up, lid = g.curve(_BROW_UPPER[s]), g.curve(_EYE_UPPER[s])
        bi = lm[_BROW_INNER[s]]
        pb = g.profile([brow_up - 0.5, brow_up - 0.05, lid - 0.02], [0, 1, 0])
        bv = bv + 0.3 * g.gauss_u(bi[0], 0.12) * pb
        return zu, a * bv

    if base == "AU10":
        lip = lm[_UPPER_LIP_LATERAL[s]]
        above, _ = _lip_split(g, lip_w)
        bv = -(g.blob(lip + np.array([0.0, -0.05]), 0.17, 0.2)) * above
        # peak normalised to 1 at the upper lip point
        bv /= max(float(np.exp(-0.5 * (0.05 / 0.2) ** 2)), 1e-6)
        return zu, a * bv

    if base in ("AU12", "AU14", "AU15", "AU20"):
        c = lm[_CORNER[s]]
        if base == "AU12":
            b = g.blob(c, 0.2, 0.17)
            bu = sg * 0.8 * a * b
            bv = -0.6 * a * b - 0.3 * a * g.blob(c + np.array([sg * 0.12, -0.3]), 0.15, 0.15)
            return bu, bv
        if base == "AU14":
            b = g.blob(c, 0.1, 0.1)
            return -sg * a * b, -0.2 * a * b
        if base == "AU15":
            b = g.blob(c + np.array([0.0, 0.03]), 0.16, 0.2)
            return sg * 0.2 * a * b, a * b
        b = g.blob(c, 0.2, 0.15)  # AU20
        return sg * a * b, 0.15 * a * b

    line = g.mid_curve(_LIP_INNER_UPPER, _LIP_INNER_LOWER)
    top, bot = g.curve(_LIP_TOP), g.curve(_LIP_BOTTOM)
    chin = g.curve(_JAW)

    if base == "AU16":
        p = g.profile([line - lip_w / 2, line + lip_w / 2, bot + 0.05, bot + 0.3], [0, 1, 0.8, 0])
        return zu, a * g.mouth_span(-0.03, 0.1) * p

    if base == "AU25":
        p = g.profile([line - lip_w / 2, line + lip_w / 2, bot + 0.02, bot + 0.25], [0, 1, 1, 0])
        return zu, a * g.mouth_span(-0.03, 0.06) * p

    if base == "AU26":
        cu = 0.5 * (lm[_CORNER["R"], 0] + lm[_CORNER["L"], 0])
        h = g.window(cu - 0.55, cu + 0.55, 0.3)
        p = g.profile([line - lip_w / 2, line + lip_w / 2, bot, chin, chin + 0.3], [0, 0.75, 0.8, 1, 0])
        return zu, a * h * p

    if base == "AU17":
        p = g.profile([line - 0.01, line + 0.02, 0.5 * (bot + chin), chin, chin + 0.2], [0, 0.5, 1, 0.6, 0])
        return zu, -a * g.mouth_span(0.1, 0.15) * p

    if base == "AU23":
        cr, cl = lm[_CORNER["R"]], lm[_CORNER["L"]]
        bu = -0.6 * a * (g.blob(cl, 0.12, 0.1) - g.blob(cr, 0.12, 0.1))
        p = 0.5 * g.profile([top - 0.1, top, line - 0.01], [0, 1, 0]) - 0.5 * g.profile(
            [line + 0.01, bot, bot + 0.1], [0, 1, 0]
        )
        return bu, a * g.mouth_span(0.0, 0.08) * p

    if base == "AU24":
        p = g.profile([top - 0.15, top, line - 0.004, line + 0.004, bot, bot + 0.2], [0, 0.7, 1, -1, -0.7, 0])
        return zu, a * g.mouth_span(0.0, 0.08) * p

    raise ValueError(f"unknown action unit {au!r}")


def expand_aus(aus: Sequence[str]) -> tuple[str, ...]:
    """Sided AU names: a bilateral AU without a side means both sides (``AU12`` -> ``AU12_L``, ``AU12_R``)."""
    out: list[str] = []
    for a in aus:
        if _base(a) not in AU_AMPLITUDE:
            raise ValueError(f"unknown action unit {a!r}")
        if _base(a) in facs.BILATERAL and _side(a) is None:
            out += [f"{a}_L", f"{a}_R"]
        else:
            out.append(a)
    return tuple(out)


def au_field(face: Face | _Geom, intensities: dict[str, float]) -> np.ndarray:
    """Backward displacement field (H, W, 2) float32, pixels, of AUs at the given intensities (0..1).

    A frame showing these AUs is ``remap(face.image, grid - field)``.  Keys are
    ``AU_NAMES``-style (``AU12_L``, ``AU26``); a bilateral AU without a side
    means both sides.
    """
    g = face if isinstance(face, _Geom) else _Geom(face)
    amps: dict[str, float] = {}
    for name, inten in intensities.items():
        for a in expand_aus([name]):
            amps[a] = amps.get(a, 0.0) + float(inten) * AU_AMPLITUDE[_base(a)]
    opening = sum(_LIP_OPENING.get(_base(a), 0.0) * amp for a, amp in amps.items())
    lip_w = max(_W0_LIP, 2.5 * opening)
    bu = np.zeros(g.shape, np.float32)
    bv = np.zeros(g.shape, np.float32)
    for a, amp in amps.items():
        if amp == 0.0:
            continue
        du, dv = _au_field(g, a, amp, lip_w)
        bu += du
        bv += dv
    s = np.float32(g.iod)
    fx = (bu * g.ex[0] + bv * g.ey[0]) * s
    fy = (bu * g.ex[1] + bv * g.ey[1]) * s
    return np.ascontiguousarray(np.stack([fx, fy], axis=-1), dtype=np.float32)


def _grid(h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.ascontiguousarray(np.stack([xs, ys], axis=-1))


def _sample(field_: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear sample of an (H, W, 2) field at (N, 2) pixel points (clamped to the frame)."""
    h, w = field_.shape[:2]
    x = np.clip(pts[:, 0], 0, w - 1.001)
    y = np.clip(pts[:, 1], 0, h - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    f = field_
    return (
        f[y0, x0] * (1 - fx) * (1 - fy)
        + f[y0, x0 + 1] * fx * (1 - fy)
        + f[y0 + 1, x0] * (1 - fx) * fy
        + f[y0 + 1, x0 + 1] * fx * fy
    )


def forward_displacement(field_: np.ndarray, points: np.ndarray, iters: int = 60) -> np.ndarray:
    """Where points of the neutral image move under the backward field: (N, 2) pixel displacements.

    Solves ``q - field(q) = p`` for each point ``p`` by fixed-point iteration
    (the fields are fold-free, so it converges).
    """
    p = np.asarray(points, dtype=np.float64)
    q = p.copy()
    for _ in range(iters):
        q_new = p + _sample(field_, q)
        if np.max(np.abs(q_new - q)) < 1e-4:
            q = q_new
            break
        q = q_new
    return q - p


def min_jacobian(field_: np.ndarray) -> float:
    """Smallest Jacobian determinant of the backward map ``x - field(x)`` (> 0: no fold)."""
    dfx_dy, dfx_dx = np.gradient(field_[..., 0])
    dfy_dy, dfy_dx = np.gradient(field_[..., 1])
    det = (1 - dfx_dx) * (1 - dfy_dy) - dfx_dy * dfy_dx
    return float(det.min())


def peak_displacement(face: Face, field_: np.ndarray) -> float:
    """Largest landmark displacement under ``field_``, percent of IOD."""
    d = forward_displacement(field_, face.landmarks)
    return float(np.max(np.hypot(d[:, 0], d[:, 1])) / face.iod * 100.0)


