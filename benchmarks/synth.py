"""Synthetic ground truth from real faces: clips with known expression events.

A real (near-)neutral face photo is warped, frame by frame, by smooth
displacement fields that mimic FACS action units (AUs), following an
onset -> apex -> offset intensity profile.  The truth (onset, apex, offset,
kind, emotion, region, AUs, peak landmark displacement) is written beside
each clip, so the spotting and the emotion recognition of ``microexpr`` can be
measured (``microexpr evaluate --truth clip.truth.jsonl --pred events.jsonl``).

How a clip is made
------------------
(Steps 1 and 2, framing a face and the AU displacement fields, live in the
package as :mod:`detector.lab.facewarp`, shared with ``microexpr train``; this
module re-exports those names.)

1. :func:`load_face` finds the face with MediaPipe FaceLandmarker (IMAGE mode),
   scales and crops the photo to a ``size`` x ``size`` frame with the
   inter-ocular distance (IOD, between the iris centres) at ``iod_px`` pixels,
   and finds the 478 landmarks again on that frame.
2. Each AU is a displacement field defined in the face's own frame
   (``u`` towards the subject's left, ``v`` towards the chin, both in IOD
   units) by Gaussian blobs on landmark anchors and by vertical profiles
   between landmark curves (brow edges, lid margins, lip line, chin), see
   :data:`AU_AMPLITUDE` and ``_au_field``.  Lid margins and the lip line are
   sharp boundaries: the lower lip can drop while the upper lip stays.
   Intensity 1.0 is a maximal posed action (e.g. inner brow up 12 % IOD).
3. A frame is ``cv2.remap`` of the neutral photo by a *backward* map
   ``x -> x - f(t) * B(x)`` where ``B`` is the event's displacement field at
   apex (precomputed once per event) and ``f(t)`` its 0..1 profile.  Every
   field is checked to be fold-free (the map's Jacobian stays positive).
   Head drift composes a similarity transform into the same map; brightness
   flicker is a gain; sensor noise is Gaussian.  One bilinear resampling of
   the photo per frame, at exact float positions (OpenCV 5's float-map path;
   its fixed-point maps would quantise positions to 1/32 px).  A lip gap that
   an opening AU stretches is darkened in proportion to the stretch.

Truth conventions (frames are 0-based, times are ``frame / fps`` seconds)
-----------------------------------------------------------------------
* ``onset_frame``: the last frame at neutral; motion starts right after it
  (the profile is exactly 0 at ``onset_frame`` and > 0 at ``onset_frame + 1``).
  This is the frame a segmenter finds by backtracking from the apex to where
  motion started.
* ``apex_frame``: the frame of maximum intensity (the middle of the plateau
  when the event holds its apex).
* ``offset_frame``: the first frame back at neutral (profile exactly 0).
* Event times are rounded to whole frames of the clip's rate, with at least
  one frame of rise and one of fall, so a 40 ms event lasts 2 frames
  (67 ms) at 30 fps.  ``kind`` follows the detector's rule: ``micro`` when
  ``offset - onset < 0.5 s``, else ``macro``.
* ``peak_disp_iod``: the largest displacement of any of the 478 landmarks at
  apex, in percent of the IOD, computed exactly by inverting the backward map
  at the landmarks (what a perfect landmarker would measure).  ``band``:
  ``weak`` < 0.7 %, ``medium`` 0.7-1.5 %, ``strong`` > 1.5 %.
* ``action_units``: AU name (``AU_NAMES`` spelling) -> intensity 0..1 at apex.
  ``intensity`` repeats ``peak_disp_iod`` (the detector's own ``intensity`` is
  in noise units, so do not compare the two).
* Blinks are truth rows with ``kind`` ``blink`` (``microexpr evaluate``
  drops them from both sides).  The other distractors (``variant``
  ``head_drift`` / ``flicker`` / ``light_step``, ``kind`` ``distractor``) are
  listed in ``NAME.json`` under ``distractors`` (the evaluator accepts only
  micro/macro/blink kinds).

Rows carry every key of ``detector.core.events.Event.to_dict`` plus ``clip``,
``fps``, ``clip_duration`` (read by ``microexpr evaluate``), ``variant``,
``peak_disp_iod`` and ``band``; read them with :func:`read_truth`.

Files: ``NAME.mkv`` (FFV1, lossless; or ``NAME/000000.png`` ... with
``--format png``), ``NAME.truth.jsonl``, ``NAME.json`` (fps, n_frames,
duration, face, seed, noise, distractors, ...).  :func:`make_suite` also
writes ``annotations.csv`` (the generic layout of ``microexpr evaluate
--dataset csv DIR``; band, variant and peak in its ``notes`` column) and
``suite.json``.

API: :func:`load_face`, :class:`EventSpec`, :func:`make_clip` -> :class:`Clip`
(``frame(k)``, ``frames()``, ``write()``, ``truth``, ``meta``),
:func:`expression_event` / :func:`blink_event` / :func:`drift_event` /
:func:`flicker_event` / :func:`light_step_event`, :func:`calibrate`,
:func:`suite_plan` + :func:`build_clip` (one clip of a suite, any fps),
:func:`suite_clips`, :func:`make_suite`, :func:`smoke_clip` (a small fixed set
for tests), :func:`probe_mediapipe`.  ``SYNTH_VERSION`` changes whenever the
same seed would give different frames or truth: put it in cache keys.

CLI::

    python benchmarks/synth.py --out DIR --fps 200 --seed 0 --clips N \\
        --face man_video|PATH [--duration S] [--noise SIGMA] [--format ffv1|png|mp4v]
    python benchmarks/synth.py --out DIR --split tune|test --fps 200 --seed 0
    python benchmarks/synth.py --out DIR --face man_video --probe raw|ffv1|mp4v|mjpg
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``detector`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.core import facs  # noqa: E402
from detector.lab.facewarp import (  # noqa: E402,F401  (the warp generator, re-exported for benchmarks and tests)
    _ALA,
    _BROW_INNER,
    _BROW_LOWER,
    _BROW_OUTER,
    _BROW_UPPER,
    _CORNER,
    _EYE_LOWER,
    _EYE_UPPER,
    _IRIS,
    _JAW,
    _LIP_BOTTOM,
    _LIP_INNER_LOWER,
    _LIP_INNER_UPPER,
    _LIP_OPENING,
    _LIP_TOP,
    _NOSE_BASE,
    _UPPER_AUS,
    _UPPER_LIP_LATERAL,
    _W0_LIP,
    AU_AMPLITUDE,
    DEFAULT_IOD_PX,
    DEFAULT_SIZE,
    Face,
    _au_field,
    _base,
    _eye_frame,
    _Geom,
    _grid,
    _lip_split,
    _sample,
    _side,
    _smoothstep,
    au_field,
    expand_aus,
    forward_displacement,
    frame_face,
    load_face_image,
    min_jacobian,
    peak_displacement,
)
from detector.core.facs import PARTIALS  # noqa: E402,F401

FACES_DIR = Path(__file__).resolve().parent / "faces"

# ---------------------------------------------------------------------------
# Built-in faces and the tune/test split (never the same person in both).
# ---------------------------------------------------------------------------

#: name -> (file in benchmarks/faces, split).  Provenance: benchmarks/faces/README.md.
BUILTIN_FACES: dict[str, tuple[str, str]] = {
    "man_video": ("man_video.png", "tune"),
    "boy_group": ("boy_group.png", "tune"),
    "posed_f13": ("posed_f13.jpg", "tune"),
    "woman_pexels": ("woman_pexels.png", "test"),
    "posed_f1": ("posed_f1.jpg", "test"),
}
SPLITS: dict[str, tuple[str, ...]] = {
    s: tuple(n for n, (_, sp) in BUILTIN_FACES.items() if sp == s) for s in ("tune", "test")
}

#: Bumped whenever the same seed would render different frames or truth
#: (include it in any cache key of features computed from generated clips).
SYNTH_VERSION = 3


#: Intensity bands of the peak landmark displacement, percent of IOD.
BANDS: tuple[tuple[str, float], ...] = (("weak", 0.7), ("medium", 1.5), ("strong", math.inf))



def band_of(peak_pct: float) -> str:
    """Intensity band of a peak landmark displacement given in percent of IOD."""
    for name, hi in BANDS:
        if peak_pct < hi:
            return name
    return BANDS[-1][0]


def region_of(aus: Sequence[str]) -> str:
    """``upper`` / ``lower`` / ``full`` from the AUs moved (FACS upper face = AU1-7, 45)."""
    up = {_base(a) in _UPPER_AUS for a in aus}
    if up == {True}:
        return "upper"
    if up == {False}:
        return "lower"
    return "full"


# ---------------------------------------------------------------------------
# Faces (the warp generator itself is detector.lab.facewarp)
# ---------------------------------------------------------------------------


def face_path(name_or_path: str | Path) -> tuple[Path, str, str | None]:
    """Resolve a built-in face name or an image path -> (path, name, split)."""
    key = str(name_or_path)
    if key in BUILTIN_FACES:
        fname, split = BUILTIN_FACES[key]
        return FACES_DIR / fname, key, split
    p = Path(key)
    if not p.is_file():
        raise ValueError(f"face {key!r} is neither a built-in face ({', '.join(BUILTIN_FACES)}) nor an image file")
    return p, p.stem, None


def load_face(name_or_path: str | Path, iod_px: float = DEFAULT_IOD_PX, size: int = DEFAULT_SIZE) -> Face:
    """Load a face photo, frame it (``size`` x ``size`` px, IOD = ``iod_px``) and find its landmarks.

    Runs MediaPipe FaceLandmarker in IMAGE mode twice (on the photo, then on
    the framed result), see :func:`detector.lab.facewarp.frame_face`.  Raises
    ``ValueError`` with a one-line message when the file is unreadable or holds
    no face.
    """
    path, name, split = face_path(name_or_path)
    return load_face_image(path, iod_px, size, split=split, name=name)



# ---------------------------------------------------------------------------
# Events and their profiles
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    """One event to render.  Times in seconds; they are rounded to frames of the clip.

    ``aus``: AU name -> intensity 0..1 at apex (``AU12`` = both sides).  For
    ``kind`` ``"distractor"`` use ``variant`` ``head_drift`` (``drift``:
    tx, ty [IOD], rotation [deg], scale factor, the pose reached at the end,
    relative to the neutral framing), ``flicker`` (``flicker``: amplitude
    [fraction], frequency [Hz]) or ``light_step`` (``flicker``: gain change
    [fraction], unused).
    """

    onset: float
    rise: float
    fall: float
    hold: float = 0.0
    aus: dict[str, float] = field(default_factory=dict)
    kind: str = "micro"  # micro | macro (set from the realised duration) | blink | distractor
    emotion: str = "neutral"
    variant: str = "prototype"
    drift: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    flicker: tuple[float, float] = (0.0, 0.0)
    residual: float = 0.0  # fraction of the apex kept after the offset: the face settles at a new neutral


@dataclass(frozen=True)
class _Timed:
    spec: EventSpec
    onset_frame: int
    apex_start: int
    apex_end: int
    offset_frame: int

    @property
    def apex_frame(self) -> int:
        return (self.apex_start + self.apex_end) // 2


def _frames_of(spec: EventSpec, fps: float) -> _Timed:
    k0 = int(round(spec.onset * fps))
    ka0 = k0 + max(1, int(round(spec.rise * fps)))
    ka1 = ka0 + max(0, int(round(spec.hold * fps)))
    k1 = ka1 + max(1, int(round(spec.fall * fps)))
    return _Timed(spec, k0, ka0, ka1, k1)


def profile_values(t: _Timed, frames: np.ndarray) -> np.ndarray:
    """0..1 intensity of an event at the given frame indices: raised-cosine rise, plateau, raised-cosine fall
    to ``spec.residual`` (0 = back at neutral), which then stays."""
    k = np.asarray(frames, dtype=np.float64)
    out = np.zeros(k.shape)
    rise = (k > t.onset_frame) & (k < t.apex_start)
    out[rise] = 0.5 - 0.5 * np.cos(np.pi * (k[rise] - t.onset_frame) / (t.apex_start - t.onset_frame))
    out[(k >= t.apex_start) & (k <= t.apex_end)] = 1.0
    fall = (k > t.apex_end) & (k < t.offset_frame)
    r = t.spec.residual
    out[fall] = r + (1.0 - r) * (0.5 + 0.5 * np.cos(np.pi * (k[fall] - t.apex_end) / (t.offset_frame - t.apex_end)))
    out[k >= t.offset_frame] = r
    return out


# ---------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------


@dataclass
class Clip:
    """A rendered-on-demand clip: frames are a pure function of the frame index.

    Use :meth:`frame` / :meth:`frames` for arrays, :meth:`write` for files;
    ``truth`` holds the truth rows, ``meta`` the clip description.
    """

    face: Face
    fps: float
    n_frames: int
    seed: int
    noise_sigma: float
    truth: list[dict]
    meta: dict
    _timed: list[_Timed]
    _fields: list[np.ndarray | None]
    _grid: np.ndarray
    _noise_bank: np.ndarray | None
    _drifts: list[tuple[int, int, tuple, tuple]]
    _shades: list[np.ndarray | None]
    _sway: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # amplitudes (4,K), freqs (K,), phases (4,K)

    # -- per-frame state -----------------------------------------------------
    def _expression(self, k: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Backward field (H, W, 2) px and darkening (H, W) of the lip gap at frame ``k`` (None: nothing)."""
        acc = dark = None
        for t, f, d in zip(self._timed, self._fields, self._shades):
            if f is None or not (t.onset_frame < k and (k < t.offset_frame or t.spec.residual > 0.0)):
                continue
            w = np.float32(profile_values(t, np.array([k]))[0])
            acc = f * w if acc is None else acc + f * w
            if d is not None:
                dark = d * w if dark is None else dark + d * w
        return acc, dark

    def pose(self, k: int) -> tuple[float, float, float, float]:
        """Head pose at frame ``k``: tx, ty (IOD), rotation (deg), scale, relative to the neutral framing."""
        pose = (0.0, 0.0, 0.0, 1.0)
        for k0, k1, before, after in self._drifts:
            if k <= k0:
                break
            w = 1.0 if k >= k1 else 0.5 - 0.5 * math.cos(math.pi * (k - k0) / (k1 - k0))
            pose = tuple(b + w * (a - b) for b, a in zip(before, after))
        if self._sway is not None:
            amp, freq, phase = self._sway
            d = (amp * np.sin(2 * np.pi * freq[None, :] * (k / self.fps) + phase)).sum(axis=1)
            pose = (pose[0] + d[0], pose[1] + d[1], pose[2] + d[2], pose[3] * (1.0 + d[3]))
        return tuple(float(x) for x in pose)  # type: ignore[return-value]

    def gain(self, k: int) -> float:
        """Brightness gain at frame ``k`` (1 = the photo's own brightness)."""
        g = 1.0
        for t in self._timed:
            v = t.spec.variant
            if v == "light_step" and k > t.onset_frame:
                k0, k1 = t.onset_frame, t.offset_frame
                w = 1.0 if k >= k1 else 0.5 - 0.5 * math.cos(math.pi * (k - k0) / (k1 - k0))
                g *= 1.0 + w * t.spec.flicker[0]
            elif v == "flicker" and t.onset_frame < k < t.offset_frame:
                env = float(profile_values(t, np.array([k]))[0])
                amp, freq = t.spec.flicker
                g *= 1.0 + env * amp * math.sin(2 * math.pi * freq * (k - t.onset_frame) / self.fps)
        return g

    @staticmethod
    def remap_image(image: np.ndarray, field_: np.ndarray) -> np.ndarray:
        """``image`` warped by a backward field (H, W, 2) px, exactly as clip frames are (no noise, no pose)."""
        import cv2

        grid = _grid(*image.shape[:2])
        return cv2.remap(image, grid - field_, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` (0-based) as (H, W, 3) uint8 BGR."""
        import cv2

        if not 0 <= k < self.n_frames:
            raise IndexError(f"frame {k} outside 0..{self.n_frames - 1}")
        img = self.face.image
        b, dark = self._expression(k)
        tx, ty, rot, sc = self.pose(k)
        moved = (tx, ty, rot, sc) != (0.0, 0.0, 0.0, 1.0)
        if moved:
            iod = self.face.iod
            h, w = img.shape[:2]
            c = (w / 2.0, h / 2.0)
            fwd = cv2.getRotationMatrix2D(c, -rot, sc)  # positive rot = counter-clockwise on screen
            fwd[:, 2] += (tx * iod, ty * iod)
            inv = cv2.invertAffineTransform(fwd)
            y = cv2.transform(self._grid.reshape(-1, 1, 2), inv).reshape(self._grid.shape)
            if b is not None:
                # the field is smooth: sampling it at 1/32 px (fixed-point maps) is plenty and faster;
                # the image itself is sampled at exact float positions (OpenCV's float-map path)
                m1, m2 = cv2.convertMaps(y, None, cv2.CV_16SC2)
                bs = cv2.remap(b, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                if dark is not None:
                    dark = cv2.remap(dark, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                y = y - bs
            out = cv2.remap(img, y, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        elif b is not None:
            out = cv2.remap(img, self._grid - b, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            out = img
        if dark is not None:
            out = cv2.multiply(out, cv2.merge([1.0 - dark] * 3), dtype=cv2.CV_8U)
        g = self.gain(k)
        if self._noise_bank is not None:
            rng = np.random.default_rng([self.seed, 1, k])
            j = int(rng.integers(len(self._noise_bank)))
            oy, ox = (int(v) for v in rng.integers(0, _NOISE_PAD, size=2))
            h, w = out.shape[:2]
            noise = self._noise_bank[j, oy : oy + h, ox : ox + w]
            out = cv2.addWeighted(out, g, noise, self.noise_sigma / _NOISE_UNIT, 0.0, dtype=cv2.CV_8U)
        elif g != 1.0:
            out = cv2.convertScaleAbs(out, alpha=g)
        elif out is img:
            out = img.copy()
        return out

    def frames(self, threads: int = 1) -> Iterator[np.ndarray]:
        """All frames in order.  ``threads`` > 1 renders ahead in worker threads (OpenCV and
        NumPy release the GIL), which overlaps rendering with whatever consumes the frames."""
        if threads <= 1:
            for k in range(self.n_frames):
                yield self.frame(k)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        ahead = 4 * threads
        with ThreadPoolExecutor(threads) as ex:
            pending = deque(ex.submit(self.frame, k) for k in range(min(ahead, self.n_frames)))
            nxt = len(pending)
            while pending:
                fr = pending.popleft().result()
                if nxt < self.n_frames:
                    pending.append(ex.submit(self.frame, nxt))
                    nxt += 1
                yield fr

    def write(self, out_dir: str | Path, name: str, fmt: str = "ffv1") -> Path:
        """Write ``NAME.mkv`` (or ``NAME/`` PNG frames, or ``NAME.mp4``), ``NAME.truth.jsonl``, ``NAME.json``.

        ``fmt``: ``ffv1`` (lossless, .mkv), ``png`` (folder of numbered frames,
        the layout of CASME II-style datasets) or ``mp4v`` (lossy MPEG-4, small).
        Returns the path of the video (or frame folder).
        """
        import cv2

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        h, w = self.face.image.shape[:2]
        if fmt == "png":
            video = out_dir / name
            video.mkdir(exist_ok=True)
            for k, fr in enumerate(self.frames(threads=2)):
                cv2.imwrite(str(video / f"{k:06d}.png"), fr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        elif fmt in ("ffv1", "mp4v"):
            video = out_dir / (name + (".mkv" if fmt == "ffv1" else ".mp4"))
            fourcc = cv2.VideoWriter_fourcc(*("FFV1" if fmt == "ffv1" else "mp4v"))
            wr = cv2.VideoWriter(str(video), fourcc, float(self.fps), (w, h))
            if not wr.isOpened():
                raise RuntimeError(f"cannot open a {fmt} video writer for {video}")
            try:
                for fr in self.frames(threads=2):
                    wr.write(fr)
            finally:
                wr.release()
        else:
            raise ValueError(f"unknown format {fmt!r} (ffv1, png, mp4v)")
        write_truth(out_dir / f"{name}.truth.jsonl", [dict(r, clip=name) for r in self.truth])
        meta = dict(self.meta, video=video.name, format=fmt)
        (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
        return video


_NOISE_PAD = 64  # noise bank margin for random offsets, pixels
_NOISE_UNIT = 16.0  # noise bank stores N(0, 1) * 16 as int16
_NOISE_BANK = 24  # frames of noise per clip


def write_truth(path: str | Path, rows: Sequence[dict]) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def read_truth(path: str | Path) -> list[dict]:
    """Truth rows of a ``.truth.jsonl`` file (dicts with the Event keys plus variant, peak_disp_iod, band)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _truth_row(t: _Timed, fps: float, aus: dict[str, float], peak: float, clip_duration: float) -> dict:
    s = t.spec
    dur = (t.offset_frame - t.onset_frame) / fps
    if s.kind in ("blink", "distractor"):
        kind = s.kind
    else:
        kind = "micro" if dur < 0.5 else "macro"
    region = "upper" if kind == "blink" else (region_of(list(aus)) if aus else "full")
    emotion = s.emotion if kind in ("micro", "macro") else "neutral"
    onset, apex, offset = t.onset_frame / fps, t.apex_frame / fps, t.offset_frame / fps
    return {
        "face": 0,
        "onset": round(onset, 6),
        "apex": round(apex, 6),
        "offset": round(offset, 6),
        "onset_frame": t.onset_frame,
        "apex_frame": t.apex_frame,
        "offset_frame": t.offset_frame,
        "kind": kind,
        "region": region,
        "emotion": emotion,
        "confidence": 1.0,
        "scores": {e: float(e == emotion) for e in facs.EMOTIONS},
        "action_units": {k: round(float(v), 4) for k, v in sorted(aus.items())},
        "intensity": round(peak, 4),
        "duration_ms": round((offset - onset) * 1000.0, 3),
        "variant": s.variant,
        "peak_disp_iod": round(peak, 4),
        "band": band_of(peak),
        "fps": fps,
        "clip_duration": round(clip_duration, 6),
    }


def _drift_peak(face: Face, before: tuple, after: tuple) -> float:
    """Largest landmark displacement (percent IOD) between two head poses."""
    import cv2

    h, w = face.image.shape[:2]

    def apply(pose):
        tx, ty, rot, sc = pose
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -rot, sc)
        m[:, 2] += (tx * face.iod, ty * face.iod)
        return face.landmarks @ m[:, :2].T + m[:, 2]

    d = apply(after) - apply(before)
    return float(np.max(np.hypot(d[:, 0], d[:, 1])) / face.iod * 100.0)


def _lip_gap_darkness(g: _Geom, field_: np.ndarray, aus: dict[str, float]) -> np.ndarray | None:
    """Darkening (0..0.85) of the lip gap an opening AU stretches open, at apex; None when nothing opens."""
    if not any(_base(a) in _LIP_OPENING for a in aus):
        return None
    dfx_dy, dfx_dx = np.gradient(field_[..., 0])
    dfy_dy, dfy_dx = np.gradient(field_[..., 1])
    det = (1 - dfx_dx) * (1 - dfy_dy) - dfx_dy * dfy_dx
    line = g.mid_curve(_LIP_INNER_UPPER, _LIP_INNER_LOWER)
    near = 1.0 - _smoothstep((np.abs(g.v - line) - 0.15) / 0.1)
    dark = np.clip((1.0 - det) * 1.2, 0.0, 0.85) * g.mouth_span(-0.02, 0.05) * near
    if float(dark.max()) < 1e-3:
        return None
    return np.ascontiguousarray(dark, dtype=np.float32)


def _sided(aus: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for a, v in aus.items():
        for sa in expand_aus([a]):
            out[sa] = out.get(sa, 0.0) + float(v)
    return out


def make_clip(
    face: Face,
    events: Sequence[EventSpec],
    fps: float = 200.0,
    duration: float | None = None,
    noise_sigma: float = 1.0,
    seed: int = 0,
    sway_iod: float = 0.0,
) -> Clip:
    """Build a clip of ``face`` with ``events``; frames are rendered on demand.

    ``duration`` (s) defaults to 1 s after the last event.  ``noise_sigma``:
    Gaussian sensor noise, grey levels (0 = none).  ``sway_iod``: continuous
    slow head sway (sum of 0.1-0.7 Hz sinusoids), translation amplitude in IOD
    (rotation 20 deg per IOD of that, scale 0.2 per IOD); 0 = a perfectly
    still head.  Same arguments, same frames and truth.
    """
    if fps <= 0:
        raise ValueError("fps must be positive")
    timed = sorted((_frames_of(e, fps) for e in events), key=lambda t: t.onset_frame)
    last = max((t.offset_frame for t in timed), default=0)
    n = int(round(duration * fps)) if duration is not None else last + int(round(fps))
    if n <= last:
        raise ValueError(f"duration {n / fps:.3f} s ends before the last event ({last / fps:.3f} s)")
    g = _Geom(face)
    fields: list[np.ndarray | None] = []
    shades: list[np.ndarray | None] = []
    rows: list[dict] = []
    pose = (0.0, 0.0, 0.0, 1.0)
    drifts: list[tuple[int, int, tuple, tuple]] = []
    for t in timed:
        s = t.spec
        f = shade = None
        sided: dict[str, float] = {}
        peak = 0.0
        if s.aus:
            f = au_field(g, s.aus)
            mj = min_jacobian(f)
            if mj <= 0.05:
                raise ValueError(f"AU field {s.aus} folds the image (min Jacobian {mj:.3f}); lower the intensities")
            peak = peak_displacement(face, f)
            shade = _lip_gap_darkness(g, f, s.aus)
            sided = _sided(s.aus)
        elif s.variant == "head_drift":
            after = tuple(float(x) for x in s.drift)
            peak = _drift_peak(face, pose, after)
            drifts.append((t.onset_frame, t.offset_frame, pose, after))
            pose = after
        fields.append(f)
        shades.append(shade)
        rows.append(_truth_row(t, fps, sided, peak, n / fps))
    bank = None
    if noise_sigma > 0:
        rng = np.random.default_rng([seed, 0])
        h, w = face.image.shape[:2]
        bank = rng.standard_normal((_NOISE_BANK, h + _NOISE_PAD, w + _NOISE_PAD, 3), dtype=np.float32)
        bank = np.round(bank * _NOISE_UNIT).astype(np.int16)
    sway = None
    if sway_iod > 0:
        rng = np.random.default_rng([seed, 2])
        k = 3
        freq = rng.uniform(0.1, 0.7, size=k)
        amp = rng.uniform(0.5, 1.0, size=(4, k)) * np.array([[1.0], [1.0], [20.0], [0.2]]) * sway_iod / k
        phase = rng.uniform(0, 2 * np.pi, size=(4, k))
        sway = (amp, freq, phase)
    meta = {
        "fps": fps,
        "n_frames": n,
        "duration": n / fps,
        "face": face.name,
        "face_source": face.source,
        "split": face.split,
        "iod_px": round(face.iod, 3),
        "size": [int(face.image.shape[1]), int(face.image.shape[0])],
        "seed": seed,
        "noise_sigma": noise_sigma,
        "sway_iod": sway_iod,
        "n_events": sum(r["kind"] in ("micro", "macro") for r in rows),
        "distractors": [r for r in rows if r["kind"] == "distractor"],
        "generator": f"benchmarks/synth.py v{SYNTH_VERSION}",
        "truth_conventions": "onset_frame = last neutral frame before motion; apex_frame = maximum "
        "(middle of the plateau); offset_frame = first frame back at neutral; times = frame / fps",
    }
    truth = [r for r in rows if r["kind"] != "distractor"]
    return Clip(
        face, fps, n, seed, noise_sigma, truth, meta, timed, fields,
        _grid(*face.image.shape[:2]), bank, drifts, shades, sway,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Planning events: emotions, variants, intensities calibrated to a peak
# ---------------------------------------------------------------------------

MICRO_PEAK_RANGE = {"weak": (0.3, 0.7), "medium": (0.7, 1.5), "strong": (1.5, 2.0)}  # percent IOD
MACRO_PEAK_RANGE = (2.0, 8.0)  # percent IOD


def calibrate(
    face: Face | _Geom, rel: dict[str, float], target_pct: float, tol: float = 0.01, min_jac: float = 0.2
) -> dict[str, float]:
    """AU intensities that move the landmarks by ``target_pct`` percent of IOD at most.

    ``rel`` gives each (sided) AU's share: AU ``k`` displaces about
    ``rel[k] * c`` IOD, ``c`` being solved for (secant steps on the measured
    peak).  Intensities are capped at 1, so a target beyond what the AUs can
    do at full intensity gives less; so does a combination that would fold
    the image (Jacobian of the map below ``min_jac``): ``c`` shrinks until it
    does not.  The event's truth records the peak actually reached.
    """
    g = face if isinstance(face, _Geom) else _Geom(face)
    lm = g.lm * g.iod @ np.stack([g.ex, g.ey]) + g.origin  # landmark pixels

    def aus_for(c: float) -> dict[str, float]:
        return {a: min(1.0, r * c / AU_AMPLITUDE[_base(a)]) for a, r in rel.items()}

    def peak(c: float) -> float:
        d = forward_displacement(au_field(g, aus_for(c)), lm)
        return float(np.max(np.hypot(d[:, 0], d[:, 1])) / g.iod * 100.0)

    c_max = max(AU_AMPLITUDE[_base(a)] / r for a, r in rel.items() if r > 0)  # every AU at 1
    c = min(target_pct / 100.0, c_max)
    for _ in range(8):
        p = peak(c)
        if abs(p - target_pct) <= tol * target_pct or (c >= c_max and p < target_pct):
            break
        c = min(c * target_pct / max(p, 1e-9), c_max)
    for _ in range(20):
        if min_jacobian(au_field(g, aus_for(c))) >= min_jac:
            break
        c *= 0.85
    return {a: round(v, 6) for a, v in aus_for(c).items()}


def _choose_aus(rng: np.random.Generator, emotion: str, variant: str) -> tuple[str, ...]:
    alts = facs.PROTOTYPES[emotion]
    if emotion == "contempt":
        return alts[int(rng.integers(len(alts)))]
    if variant.startswith("partial_"):
        return PARTIALS[emotion][variant.split("_", 1)[1]]
    return alts[int(rng.integers(len(alts)))]


def expression_event(
    rng: np.random.Generator,
    g: _Geom,
    onset: float,
    emotion: str,
    kind: str,
    variant: str = "prototype",
    band: str | None = None,
    peak_pct: float | None = None,
) -> EventSpec:
    """A micro or macro event of ``emotion`` at ``onset`` s, intensities calibrated to a peak displacement.

    ``variant``: ``prototype``, ``partial_upper``, ``partial_lower`` (see
    :data:`PARTIALS`) or ``one_sided`` (contempt).  Micro: 40-450 ms, peak in
    ``band`` (:data:`MICRO_PEAK_RANGE`); macro: 0.8-3 s, peak 2-8 % IOD.
    """
    aus = expand_aus(_choose_aus(rng, emotion, variant))
    asym = {a: (rng.uniform(0.8, 1.0) if _side(a) else 1.0) for a in aus}
    rel = {a: float(rng.uniform(0.6, 1.0) * asym[a]) for a in aus}
    top = max(rel.values())
    rel = {a: r / top for a, r in rel.items()}
    if kind == "micro":
        dur = float(rng.uniform(0.04, 0.45))
        hold = float(rng.uniform(0.0, 0.2) * dur) if dur > 0.15 else 0.0
        if peak_pct is None:
            lo, hi = MICRO_PEAK_RANGE[band or "medium"]
            peak_pct = float(rng.uniform(lo, hi))
    else:
        dur = float(rng.uniform(0.8, 3.0))
        hold = float(rng.uniform(0.2, 0.5) * dur)
        if peak_pct is None:
            peak_pct = float(rng.uniform(*MACRO_PEAK_RANGE))
    rise = float(rng.uniform(0.3, 0.6)) * (dur - hold)
    fall = dur - hold - rise
    intens = calibrate(g, rel, peak_pct)
    return EventSpec(onset, rise, fall, hold, intens, kind, emotion, variant)


def blink_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A blink (AU45 both eyes, 100-400 ms, 75-100 % closure): a distractor."""
    dur = float(rng.uniform(0.1, 0.4))
    rise = dur * float(rng.uniform(0.3, 0.45))
    hold = min(0.03, dur * 0.1) * float(rng.uniform(0, 1))
    inten = float(rng.uniform(0.75, 1.0))
    return EventSpec(onset, rise, dur - rise - hold, hold, {"AU45": round(inten, 4)}, "blink", "neutral", "blink")


def drift_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A slow head move to a new pose (1-3 s; up to 0.15 IOD, 3 deg, 3 % scale): a distractor."""
    dur = float(rng.uniform(1.0, 3.0))
    pose = (
        float(rng.uniform(-0.15, 0.15)),
        float(rng.uniform(-0.1, 0.1)),
        float(rng.uniform(-3.0, 3.0)),
        float(rng.uniform(0.97, 1.03)),
    )
    return EventSpec(onset, dur / 2, dur / 2, 0.0, {}, "distractor", "neutral", "head_drift", drift=pose)


def flicker_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A burst of brightness flicker (1-2.5 s, 1-4 % at 2-12 Hz): a distractor."""
    dur = float(rng.uniform(1.0, 2.5))
    return EventSpec(
        onset, 0.2 * dur, 0.2 * dur, 0.6 * dur, {}, "distractor", "neutral", "flicker",
        flicker=(float(rng.uniform(0.01, 0.04)), float(rng.uniform(2.0, 12.0))),
    )  # fmt: skip


def light_step_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A lasting brightness change of 3-8 % over 50-300 ms (a light switched): a distractor."""
    dur = float(rng.uniform(0.05, 0.3))
    change = float(rng.uniform(0.03, 0.08)) * (1 if rng.random() < 0.5 else -1)
    return EventSpec(onset, dur / 2, dur / 2, 0.0, {}, "distractor", "neutral", "light_step", flicker=(change, 0.0))


def _span(e: EventSpec) -> float:
    return e.rise + e.hold + e.fall


def schedule(
    rng: np.random.Generator,
    items: Sequence,
    lead: float = 1.5,
    gap: tuple[float, float] = (1.0, 1.6),
) -> tuple[list[EventSpec], float]:
    """Place items one after another: ``lead`` s of neutral first, ``gap`` s of neutral between.

    ``items`` are callables ``onset -> EventSpec``.  Returns the events and the
    clip duration (1-1.5 s of neutral after the last one).
    """
    t = lead + float(rng.uniform(0.0, 0.3))
    out: list[EventSpec] = []
    for make in items:
        e = make(t)
        out.append(e)
        t = e.onset + _span(e) + float(rng.uniform(*gap))
    return out, t + float(rng.uniform(0.0, 0.5))


def smoke_clip(face: Face | None = None, fps: float = 100.0, seed: int = 0) -> Clip:
    """A small fixed clip for end-to-end tests (about 10 s; cheap at 100 fps).

    Events, in order: happiness micro (300 ms, 1.8 % IOD), a blink, sadness
    micro (350 ms, 1.2 %), surprise macro (1.5 s, 4 %), anger micro (250 ms,
    1.6 %), contempt (one-sided) micro (400 ms, 1.8 %).  Noise 1 grey level,
    no head motion.  Default face: ``man_video`` (tune split).
    """
    face = face if face is not None else load_face("man_video")
    g = _Geom(face)
    rng = np.random.default_rng([seed, 5])
    plan = [
        ("happiness", "prototype", 0.30, 1.8),
        ("blink", "", 0.20, 0.0),
        ("sadness", "prototype", 0.35, 1.2),
        ("surprise", "prototype", 1.50, 4.0),
        ("anger", "prototype", 0.25, 1.6),
        ("contempt", "one_sided", 0.40, 1.8),
    ]
    t = 1.6
    events = []
    for emo, variant, dur, peak in plan:
        if emo == "blink":
            events.append(EventSpec(t, 0.08, 0.12, 0.0, {"AU45": 1.0}, "blink", "neutral", "blink"))
        else:
            aus = expand_aus(_choose_aus(rng, emo, variant))
            inten = calibrate(g, {a: 1.0 for a in aus}, peak)
            hold = 0.3 * dur if dur > 0.5 else 0.0
            rise = 0.4 * (dur - hold)
            kind = "micro" if dur < 0.5 else "macro"
            events.append(EventSpec(t, rise, dur - hold - rise, hold, inten, kind, emo, variant))
        t += dur + 1.2
    return make_clip(face, events, fps, duration=t, noise_sigma=1.0, seed=seed)


# ---------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------

_NOISE_LEVELS = (0.5, 1.0, 2.0, 3.0)


def suite_plan(split: str, seed: int, n_clips: int | None = None) -> list[dict]:
    """Deterministic clip recipes of a split: which face and which items, in order (see :func:`build_clip`)."""
    faces = SPLITS[split]
    rng = np.random.default_rng([seed, 7, 0 if split == "tune" else 1])
    emotions = [e for e in facs.EMOTIONS if e != "neutral"]
    expr: list[tuple] = []
    for emo in emotions:
        variants = ["one_sided"] if emo == "contempt" else ["prototype"] + [f"partial_{r}" for r in PARTIALS[emo]]
        for i, band in enumerate(("weak", "medium", "strong") * 2):
            expr.append(("micro", emo, variants[i % len(variants)], band))
        for i in range(2):
            expr.append(("macro", emo, variants[i % len(variants)], "strong"))
    order = rng.permutation(len(expr))
    expr = [expr[i] for i in order]
    per_clip = 4
    n = n_clips if n_clips is not None else math.ceil(len(expr) / per_clip)
    clips = []
    for c in range(n):
        chunk = [expr[(c * per_clip + j) % len(expr)] for j in range(per_clip)]
        extras = ["blink"]
        if c % 2 == 0:
            extras.append("head_drift")
        if c % 3 == 1:
            extras.append("flicker")
        if c % 4 == 2:
            extras.append("light_step")
        if c % 2 == 1:
            extras.append("blink")
        items: list = [("expr",) + e for e in chunk] + [(x,) for x in extras]
        perm = rng.permutation(len(items))
        clips.append(
            {
                "face": faces[c % len(faces)],
                "items": [items[i] for i in perm],
                "noise_sigma": _NOISE_LEVELS[c % len(_NOISE_LEVELS)],
                "sway_iod": 0.004 if c % 2 == 0 else 0.0,
                "seed": int(rng.integers(2**31)),
            }
        )
    return clips


_suite_plan = suite_plan  # the earlier private name


def build_clip(face: Face, recipe: dict, fps: float) -> Clip:
    """Render-ready clip from a recipe of :func:`suite_plan` (the same events at any ``fps``)."""
    rng = np.random.default_rng(recipe["seed"])
    g = _Geom(face)
    makers = []
    for it in recipe["items"]:
        sub = np.random.default_rng(rng.integers(2**31))
        if it[0] == "expr":
            _, kind, emo, variant, band = it
            makers.append(lambda t, s=sub, k=kind, e=emo, v=variant, b=band: expression_event(s, g, t, e, k, v, b))
        elif it[0] == "blink":
            makers.append(lambda t, s=sub: blink_event(s, t))
        elif it[0] == "head_drift":
            makers.append(lambda t, s=sub: drift_event(s, t))
        elif it[0] == "flicker":
            makers.append(lambda t, s=sub: flicker_event(s, t))
        elif it[0] == "light_step":
            makers.append(lambda t, s=sub: light_step_event(s, t))
    events, duration = schedule(rng, makers)
    return make_clip(
        face, events, fps, duration, noise_sigma=recipe["noise_sigma"], seed=recipe["seed"],
        sway_iod=recipe["sway_iod"],
    )  # fmt: skip


def suite_clips(
    split: str = "tune",
    fps: float = 200.0,
    seed: int = 0,
    n_clips: int | None = None,
    iod_px: float = DEFAULT_IOD_PX,
    size: int = DEFAULT_SIZE,
) -> Iterator[tuple[str, Clip]]:
    """The clips of a suite, as ``(name, Clip)`` pairs, without writing anything (see :func:`make_suite`)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    faces: dict[str, Face] = {}
    for i, recipe in enumerate(suite_plan(split, seed, n_clips)):
        name = recipe["face"]
        if name not in faces:
            faces[name] = load_face(name, iod_px, size)
        yield f"{split}_{i:02d}_{name}", build_clip(faces[name], recipe, fps)


def make_suite(
    out_dir: str | Path,
    fps: float = 200.0,
    seed: int = 0,
    split: str = "tune",
    n_clips: int | None = None,
    fmt: str = "ffv1",
    iod_px: float = DEFAULT_IOD_PX,
    size: int = DEFAULT_SIZE,
    progress: bool = False,
) -> list[Path]:
    """Write a suite of clips of one split's faces (``tune`` and ``test`` share no face).

    By default 14 clips of 11-19 s (about 214 s in all): every emotion micro
    (x6: weak, medium, strong, twice, prototype and partial/one-sided
    variants) and macro (x2), i.e. 42 micro and 14 macro events, plus 21
    blinks, 7 head drifts, 5 flicker bursts, 3 light steps; noise 0.5-3 grey
    levels, slow sway in every other clip.  The events depend on ``seed`` and
    ``split`` only, not on ``fps``, so suites at 200 and 30 fps hold the same
    events.  Writes ``suite.json`` and ``annotations.csv`` beside the clips.
    Size: FFV1 of noisy frames is ~180 KB per 400x400 frame, so ~7.8 GB for a
    200 fps suite (~1.2 GB at 30 fps); ``fmt="mp4v"`` is ~1 KB per frame but
    lossy (see :func:`probe_mediapipe`).  Returns the paths of the videos.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    listing = []
    for stem, clip in suite_clips(split, fps, seed, n_clips, iod_px, size):
        paths.append(clip.write(out, stem, fmt))
        meta = {k: v for k, v in clip.meta.items() if k != "distractors"}
        listing.append({"name": stem, "video": paths[-1].name, "truth": f"{stem}.truth.jsonl", **meta})
        if progress:
            print(f"{paths[-1]}: {clip.n_frames} frames, {clip.meta['n_events']} expression events", file=sys.stderr)
    suite = {"split": split, "fps": fps, "seed": seed, "faces": list(SPLITS[split]), "clips": listing}
    (out / "suite.json").write_text(json.dumps(suite, indent=1) + "\n")
    sheet = [(c["name"], c["face"], read_truth(out / c["truth"])) for c in listing]
    write_annotations_csv(out / "annotations.csv", sheet)
    return paths


def write_annotations_csv(path: str | Path, clips: Sequence[tuple[str, str, Sequence[dict]]]) -> None:
    """One sheet for ``microexpr evaluate --dataset csv``: rows of (clip name, subject, truth rows)."""
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["clip", "subject", "onset_frame", "apex_frame", "offset_frame", "emotion", "kind", "fps", "notes"])
        for name, subject, rows in clips:
            for r in rows:
                notes = ";".join(f"{k}={r[k]}" for k in ("band", "variant", "peak_disp_iod", "region"))
                w.writerow(
                    [name, subject, r["onset_frame"], r["apex_frame"], r["offset_frame"], r["emotion"], r["kind"]]
                    + [r["fps"], notes]
                )


# ---------------------------------------------------------------------------
# Does MediaPipe see the warps?  (a measurement, not a test)
# ---------------------------------------------------------------------------

#: Probe events: AUs (each moving about the same) and peak displacements, percent IOD.
PROBE_EVENTS: tuple[tuple[tuple[str, ...], float], ...] = tuple(
    (aus, pk)
    for aus in (("AU12_L",), ("AU01", "AU02"), ("AU04",), ("AU15",), ("AU06", "AU12"))
    for pk in (0.3, 0.5, 1.0, 2.0)
)
PROBE_MODES = ("video", "video_x1000", "image")


def _encode_roundtrip(frames: list[np.ndarray], fps: float, codec: str, tmp: Path) -> list[np.ndarray]:
    import cv2

    if codec == "raw":
        return frames
    ext, fourcc = {"ffv1": (".mkv", "FFV1"), "mp4v": (".mp4", "mp4v"), "mjpg": (".avi", "MJPG")}[codec]
    path = tmp / f"probe{ext}"
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        wr.write(f)
    wr.release()
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    if len(out) != len(frames):
        raise RuntimeError(f"{codec} round trip gave {len(out)} of {len(frames)} frames")
    return out


def probe_mediapipe(
    face: Face,
    fps: float = 200.0,
    noise_sigma: float = 1.0,
    codec: str = "raw",
    seed: int = 0,
    events: Sequence[tuple[tuple[str, ...], float]] = PROBE_EVENTS,
    duration_s: float = 0.24,
) -> list[dict]:
    """Measure how much of each warp MediaPipe's landmarks and blendshapes register, per mode.

    Renders a clip of ``events`` (AUs, peak % IOD; each lasting ``duration_s``,
    with a 40 ms apex plateau, 1.2 s apart), optionally round-trips it through
    ``codec`` (``raw``, ``ffv1``, ``mp4v``, ``mjpg``), and runs FaceLandmarker in
    VIDEO mode with real timestamps, VIDEO mode with timestamps x1000 and
    IMAGE mode.  For each event and mode: the moved landmarks (true
    displacement >= half the largest) are projected on their true direction
    and averaged; ``seen`` is that mean over the apex plateau minus the median
    over the 0.7 s before onset, ``ratio`` = seen / true, ``noise`` its
    standard deviation over those neutral frames (% IOD), ``snr`` = seen /
    noise; ``max_ratio`` / ``lag_ms``: the largest response up to 0.5 s after
    offset (over the true displacement) and how long after the true apex it
    comes (VIDEO mode's filter delays and smears); ``point_sd`` the
    per-landmark frame-to-frame SD (% IOD); ``bs`` the
    blendshape with the largest apex change in noise units, its change and
    its neutral SD.
    """
    import tempfile

    from detector.stages.landmarks import BLENDSHAPE_NAMES, Landmarker, LandmarkerOptions

    g = _Geom(face)
    specs = []
    t = 1.5
    for aus, pk in events:
        inten = calibrate(g, {a: 1.0 for a in expand_aus(list(aus))}, pk)
        rise = (duration_s - 0.04) * 0.4
        specs.append(EventSpec(t, rise, duration_s - 0.04 - rise, 0.04, inten, "micro", "neutral", "probe"))
        t += duration_s + 1.0
    clip = make_clip(face, specs, fps, duration=t + 0.3, noise_sigma=noise_sigma, seed=seed)
    frames = [clip.frame(k) for k in range(clip.n_frames)]
    with tempfile.TemporaryDirectory() as tmp:
        frames = _encode_roundtrip(frames, fps, codec, Path(tmp))
    opts = {
        "video": LandmarkerOptions(mode="video", timestamp_scale=1.0),
        "video_x1000": LandmarkerOptions(mode="video", timestamp_scale=1000.0),
        "image": LandmarkerOptions(mode="image"),
    }
    seen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for mode, opt in opts.items():
        lms = np.full((len(frames), 478, 2), np.nan, np.float32)
        bss = np.full((len(frames), 52), np.nan, np.float32)
        with Landmarker(opt) as lm:
            for k, fr in enumerate(frames):
                obs = lm.detect(fr, k / fps)
                if obs:
                    lms[k], bss[k] = obs[0].landmarks[:, :2], obs[0].blendshapes
        seen[mode] = (lms, bss)
    rows = []
    pre_n = int(round(0.7 * fps))
    for (aus, pk), tm, f in zip(events, clip._timed, clip._fields):
        d = forward_displacement(f, face.landmarks)
        mag = np.hypot(d[:, 0], d[:, 1])
        sel = np.where(mag >= 0.5 * mag.max())[0]
        dirs = d[sel] / mag[sel, None]
        true_pct = float(mag[sel].mean() / face.iod * 100)
        pre = np.arange(tm.onset_frame - pre_n, tm.onset_frame - 2)
        apex = np.arange(tm.apex_start, tm.apex_end + 1)
        for mode in PROBE_MODES:
            lms, bss = seen[mode]
            base = np.nanmedian(lms[pre][:, sel], axis=0)
            proj = np.nanmean(((lms[:, sel] - base) * dirs).sum(-1), axis=-1) / face.iod * 100
            s_ = float(np.nanmean(proj[apex]))
            nz = float(np.nanstd(proj[pre]))
            after = np.arange(tm.onset_frame, min(tm.offset_frame + int(0.5 * fps), len(proj)))
            kmax = int(after[np.nanargmax(proj[after])])
            pt = float(np.nanmean(np.nanstd(lms[pre][:, sel] - base, axis=0)) / face.iod * 100)
            bd = np.nanmean(bss[apex], axis=0) - np.nanmedian(bss[pre], axis=0)
            bn = np.nanstd(bss[pre], axis=0)
            j = int(np.nanargmax(np.abs(bd) / (bn + 0.002)))
            rows.append(
                {
                    "aus": "+".join(aus), "target_pct": pk, "true_pct": round(true_pct, 3), "mode": mode,
                    "seen_pct": round(s_, 3), "ratio": round(s_ / true_pct, 3), "noise_pct": round(nz, 4),
                    "max_ratio": round(float(proj[kmax]) / true_pct, 3),
                    "lag_ms": round((kmax - tm.apex_frame) / fps * 1000.0, 1),
                    "snr": round(s_ / max(nz, 1e-6), 2), "point_sd_pct": round(pt, 4),
                    "bs": BLENDSHAPE_NAMES[j], "bs_delta": round(float(bd[j]), 4), "bs_sd": round(float(bn[j]), 4),
                }
            )  # fmt: skip
    return rows


def format_probe(rows: Sequence[dict]) -> str:
    """A text table of :func:`probe_mediapipe` rows."""
    head = (
        f"{'AUs':14s}{'peak%':>6s}{'true%':>7s} {'mode':12s}{'seen%':>7s}{'ratio':>7s}{'noise%':>8s}{'snr':>7s}"
        f"{'max_r':>7s}{'lag_ms':>7s}{'pt_sd%':>8s}  blendshape (delta / sd)"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['aus']:14s}{r['target_pct']:6.1f}{r['true_pct']:7.2f} {r['mode']:12s}"
            f"{r['seen_pct']:7.2f}{r['ratio']:7.2f}"
            f"{r['noise_pct']:8.3f}{r['snr']:7.1f}{r['max_ratio']:7.2f}{r['lag_ms']:7.0f}{r['point_sd_pct']:8.3f}"
            f"  {r['bs']} ({r['bs_delta']:+.3f} / {r['bs_sd']:.3f})"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Real-like band: micro-expressions as MediaPipe sees them on real faces
# ---------------------------------------------------------------------------

#: Aggregate figures of 73 real spontaneous micro-expressions (25 people, 200 fps) as MediaPipe
#: FaceLandmarker sees them: quantiles p10, p25, p50, p75, p90 over events (a copy of the
#: project's shared ``real_me_stats.json``; aggregate figures only, no data).
REAL_STATS_PATH = Path(__file__).resolve().parent / "data" / "real_me_stats.json"
_QUANTILE_LEVELS = (0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 1.0)

#: (weight, emotion, AUs) of the real-like events.  AU4 is in about half of them, then AU7,
#: AU12, AU14, AU1, AU17, AU2, AU10, AU15, AU9, AU6, as in the coders' labels of real
#: micro-expressions; most move one region only.
REAL_LIKE_PATTERNS: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (0.16, "anger", ("AU04",)),
    (0.12, "anger", ("AU04", "AU07")),
    (0.08, "sadness", ("AU01", "AU04")),
    (0.06, "disgust", ("AU04", "AU09")),
    (0.06, "fear", ("AU01", "AU02", "AU04")),
    (0.10, "anger", ("AU07",)),
    (0.10, "happiness", ("AU12",)),
    (0.03, "happiness", ("AU06", "AU12")),
    (0.08, "contempt", ("AU14",)),
    (0.06, "surprise", ("AU01", "AU02")),
    (0.06, "sadness", ("AU17",)),
    (0.04, "sadness", ("AU15", "AU17")),
    (0.03, "disgust", ("AU10",)),
    (0.02, "disgust", ("AU09",)),
)
#: Peak landmark displacement of a real-like event, percent IOD, log-uniform.  Chosen so that
#: MediaPipe's strongest-channel deviation and per-frame SNR fall in the real ranges (see
#: benchmarks/RESULTS.md, "Real-like band": measured against real_me_stats.json).
REAL_LIKE_PEAK_PCT = (0.35, 2.0)
REAL_LIKE_ONE_SIDED = 0.4  # share of bilateral patterns shown on one side only (AU14 always)
REAL_LIKE_PARTIAL_BLINK = 0.8  # share of AU4/AU7 events whose lids also close partway (AU45 0.15-0.35)


def real_stats() -> dict:
    """The aggregate figures of real micro-expressions (:data:`REAL_STATS_PATH`)."""
    return json.loads(REAL_STATS_PATH.read_text())


def _from_quantiles(rng: np.random.Generator, q: Sequence[float], lo: float, hi: float) -> float:
    """A draw from the distribution whose p10..p90 are ``q`` (linear between quantiles, ``lo``/``hi`` at p0/p100)."""
    return float(np.interp(rng.uniform(), _QUANTILE_LEVELS, [lo, *q, hi]))


def real_like_event(rng: np.random.Generator, g: _Geom, onset: float, stats: dict) -> list[EventSpec]:
    """A micro-expression shaped like the real ones, and the head movement that comes with it.

    Duration, rise and fall times and the level the face settles at after the offset
    (``residual``) are drawn from the real distributions in ``stats``; the AUs from
    :data:`REAL_LIKE_PATTERNS`, one-sided in :data:`REAL_LIKE_ONE_SIDED` of the bilateral
    ones; AU4/AU7 events close the lids partway (the partial blink real lid tightening
    shows).  The head turns a little during the event (0.1-0.45 deg of roll, 0.8-2.5 % IOD of
    translation, kept afterwards), as real heads do.  Returns [expression, head move]; the
    head move's ``drift`` is relative to the pose before it (:func:`build_real_like_clip`
    makes it absolute).
    """
    weights = np.array([w for w, _, _ in REAL_LIKE_PATTERNS])
    _, emotion, aus = REAL_LIKE_PATTERNS[int(rng.choice(len(weights), p=weights / weights.sum()))]
    side = ("L", "R")[int(rng.integers(2))]
    one_sided = emotion == "contempt" or rng.uniform() < REAL_LIKE_ONE_SIDED
    sided: dict[str, float] = {}
    for a in expand_aus(aus):
        if _side(a) is None or not one_sided or _side(a) == side:
            sided[a] = float(rng.uniform(0.6, 1.0))
    if set(aus) & {"AU04", "AU07"} and rng.uniform() < REAL_LIKE_PARTIAL_BLINK:
        lids = [f"AU45_{side}"] if one_sided else ["AU45_L", "AU45_R"]
        closure = float(rng.uniform(0.15, 0.35))
        sided.update({a: closure for a in lids})
    moving = {a: r for a, r in sided.items() if _base(a) != "AU45"}
    top = max(moving.values())
    peak_pct = float(np.exp(rng.uniform(*np.log(REAL_LIKE_PEAK_PCT))))
    intens = calibrate(g, {a: r / top for a, r in moving.items()}, peak_pct)
    intens.update({a: r for a, r in sided.items() if _base(a) == "AU45"})
    dur = _from_quantiles(rng, [x / 1000 for x in stats["duration_ms"]], 0.15, 0.495)
    rise = _from_quantiles(rng, [x / 1000 for x in stats["onset_to_peak_ms_of_strongest_channel"]], 0.06, 0.45)
    fall = _from_quantiles(rng, [x / 1000 for x in stats["peak_to_offset_ms_of_strongest_channel"]], 0.01, 0.32)
    rise = dur * float(np.clip(rise / (rise + fall), 0.25, 0.9))
    residual = _from_quantiles(rng, stats["offset_residual_over_peak_deviation_strongest_channel"], 0.0, 0.95)
    expr = EventSpec(onset, rise, dur - rise, 0.0, intens, "micro", emotion, "real_like", residual=residual)
    sgn = lambda: 1.0 if rng.uniform() < 0.5 else -1.0  # noqa: E731
    move = (sgn() * float(rng.uniform(0.008, 0.025)), sgn() * float(rng.uniform(0.008, 0.025)),
            sgn() * float(rng.uniform(0.1, 0.45)), 1.0)
    head = EventSpec(max(0.0, onset - 0.05), (dur + 0.1) / 2, (dur + 0.1) / 2, 0.0, {}, "distractor", "neutral",
                     "head_drift", drift=move)
    return [expr, head]


def eye_closure_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """Eyes closed on purpose (AU43): both lids shut for 0.6-3.3 s in all: a distractor, not an expression."""
    dur = float(rng.uniform(0.6, 3.3))
    rise, fall = float(rng.uniform(0.08, 0.2)), float(rng.uniform(0.1, 0.25))
    return EventSpec(onset, rise, fall, dur - rise - fall, {"AU45": round(float(rng.uniform(0.9, 1.0)), 4)},
                     "distractor", "neutral", "eye_closure")


def gaze_down_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A look down and back (AU64: iris and upper lids down), held 0.15-2 s: a distractor, not an expression."""
    rise, fall = float(rng.uniform(0.08, 0.25)), float(rng.uniform(0.08, 0.25))
    hold = float(np.exp(rng.uniform(np.log(0.15), np.log(2.0))))
    return EventSpec(onset, rise, fall, hold, {"AU64": round(float(rng.uniform(0.6, 1.0)), 4)},
                     "distractor", "neutral", "gaze_down")


REAL_LIKE_CLIPS = 12  # per split
REAL_LIKE_SHORT_LEAD_EVERY = 4  # every 4th clip has a lead-in of only 1 s (the rest 2-2.5 s)


def real_like_plan(split: str, seed: int, n_clips: int | None = None) -> list[dict]:
    """Recipes of the real-like band of a split (see :func:`build_real_like_clip`).

    Each clip: a still lead-in (2-2.5 s; 1 s in every :data:`REAL_LIKE_SHORT_LEAD_EVERY`-th
    clip), a real-like event first, then two more and, in random order, a blink and an
    eye closure or a downward gaze shift (alternating), with 1.2-2 s between items.
    Sensor noise 1.5-3 grey levels, slow sway in every other clip.
    """
    faces = SPLITS[split]
    rng = np.random.default_rng([seed, 17, 0 if split == "tune" else 1])
    clips = []
    for c in range(n_clips if n_clips is not None else REAL_LIKE_CLIPS):
        rest = ["real", "real", "blink", "eye_closure" if c % 2 == 0 else "gaze_down"]
        if c % 3 == 2:
            rest.append("blink")
        order = rng.permutation(len(rest))
        clips.append({
            "face": faces[c % len(faces)],
            "items": [("real",)] + [(rest[i],) for i in order],
            "lead_s": 1.0 if c % REAL_LIKE_SHORT_LEAD_EVERY == REAL_LIKE_SHORT_LEAD_EVERY - 1
            else float(rng.uniform(2.0, 2.5)),
            "noise_sigma": (1.5, 2.0, 3.0)[c % 3],
            "sway_iod": 0.002 if c % 2 == 1 else 0.0,
            "seed": int(rng.integers(2**31)),
        })
    return clips


def build_real_like_clip(face: Face, recipe: dict, fps: float) -> Clip:
    """Render-ready clip from a recipe of :func:`real_like_plan` (the same events at any ``fps``)."""
    rng = np.random.default_rng(recipe["seed"])
    g = _Geom(face)
    stats = real_stats()
    makers = {
        "real": lambda t, s: real_like_event(s, g, t, stats),
        "blink": lambda t, s: [blink_event(s, t)],
        "eye_closure": lambda t, s: [eye_closure_event(s, t)],
        "gaze_down": lambda t, s: [gaze_down_event(s, t)],
    }
    events: list[EventSpec] = []
    t = recipe["lead_s"]
    pose = np.array([0.0, 0.0, 0.0, 1.0])
    for (item,) in recipe["items"]:
        made = makers[item](t, np.random.default_rng(rng.integers(2**31)))
        for i, e in enumerate(made):
            if e.variant == "head_drift":  # the event's head move is relative: the head stays where it went
                pose = pose + np.array(e.drift) - np.array([0.0, 0.0, 0.0, 1.0])
                made[i] = replace(e, drift=tuple(float(x) for x in pose))
        events += made
        t = made[0].onset + _span(made[0]) + float(rng.uniform(1.2, 2.0))
    return make_clip(face, events, fps, t + float(rng.uniform(0.5, 1.0)), noise_sigma=recipe["noise_sigma"],
                     seed=recipe["seed"], sway_iod=recipe["sway_iod"])


BANDS_OF_SUITE = {"suite": (suite_plan, build_clip), "real_like": (real_like_plan, build_real_like_clip)}


def random_clip(
    face: Face, fps: float, seed: int, duration: float | None = None, noise_sigma: float | None = None
) -> Clip:
    """A clip of random events (micro/macro of random emotions, bands, variants, and distractors)."""
    rng = np.random.default_rng([seed, 11])
    g = _Geom(face)
    emotions = [e for e in facs.EMOTIONS if e != "neutral"]

    def expr(t: float, s: np.random.Generator) -> EventSpec:
        emo = emotions[int(s.integers(len(emotions)))]
        kind = "micro" if s.random() < 0.7 else "macro"
        variants = ["one_sided"] if emo == "contempt" else ["prototype"] + [f"partial_{r}" for r in PARTIALS[emo]]
        variant = variants[int(s.integers(len(variants)))]
        band = ("weak", "medium", "strong")[int(s.integers(3))]
        return expression_event(s, g, t, emo, kind, variant, band)

    kinds = {
        "expr": expr,
        "blink": lambda t, s: blink_event(s, t),
        "head_drift": lambda t, s: drift_event(s, t),
        "flicker": lambda t, s: flicker_event(s, t),
        "light_step": lambda t, s: light_step_event(s, t),
    }
    names, probs = ["expr", "blink", "head_drift", "flicker", "light_step"], [0.6, 0.2, 0.1, 0.05, 0.05]
    t = 1.5 + float(rng.uniform(0.0, 0.3))
    events: list[EventSpec] = []
    limit = duration if duration is not None else 12.0
    while True:
        sub = np.random.default_rng(rng.integers(2**31))
        kind = names[int(rng.choice(len(names), p=probs))]
        e = kinds[kind](t, sub)
        if duration is not None and e.onset + _span(e) + 1.0 > limit:
            break
        events.append(e)
        t = e.onset + _span(e) + float(rng.uniform(1.0, 1.6))
        if duration is None and t > limit:
            break
    noise = _NOISE_LEVELS[int(rng.integers(len(_NOISE_LEVELS)))] if noise_sigma is None else noise_sigma
    return make_clip(face, events, fps, duration if duration is not None else t + 0.5, noise, seed)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Synthetic expression clips with ground truth from a real face photo.")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--fps", type=float, default=200.0, help="frame rate (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--clips", type=int, default=None, help="number of clips (default: 1 with --face, the whole suite with --split)"
    )
    ap.add_argument("--face", default=None, help=f"built-in face ({', '.join(BUILTIN_FACES)}) or an image path")
    ap.add_argument("--split", choices=tuple(SPLITS), default=None, help="write the tune or test suite instead")
    ap.add_argument("--duration", type=float, default=None, help="clip length, seconds (random clips)")
    ap.add_argument(
        "--format", choices=("ffv1", "png", "mp4v"), default="ffv1", help="ffv1 (lossless .mkv; default), png, mp4v"
    )
    ap.add_argument(
        "--iod", type=float, default=DEFAULT_IOD_PX, help=f"inter-ocular distance, pixels (default {DEFAULT_IOD_PX:g})"
    )
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"frame side, pixels (default {DEFAULT_SIZE})")
    ap.add_argument(
        "--noise", type=float, default=None, help="sensor noise, grey levels (default: random per clip; 1 for --probe)"
    )
    ap.add_argument("--probe", choices=("raw", "ffv1", "mp4v", "mjpg"), default=None,
                    help="measure how much of weak warps MediaPipe registers (VIDEO, VIDEO x1000, IMAGE modes) "
                    "after this encoding; writes OUT/probe_<face>_<codec>.json")  # fmt: skip
    args = ap.parse_args(argv)
    import cv2

    try:
        if args.fps <= 0 or args.iod <= 0 or args.size < 64:
            raise ValueError("--fps and --iod must be positive, --size at least 64")
        if args.split is not None:
            if args.face is not None:
                raise ValueError("give --face or --split, not both")
            make_suite(args.out, args.fps, args.seed, args.split, args.clips, args.format, args.iod, args.size, True)
            return 0
        face = load_face(args.face or "man_video", args.iod, args.size)
        if args.probe is not None:
            noise = 1.0 if args.noise is None else args.noise
            rows = probe_mediapipe(face, args.fps, noise, args.probe, args.seed)
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            info = {"face": face.name, "fps": args.fps, "noise_sigma": noise, "codec": args.probe, "iod_px": face.iod}
            report = json.dumps({**info, "rows": rows}, indent=1) + "\n"
            (out / f"probe_{face.name}_{args.probe}.json").write_text(report)
            print(json.dumps(info))
            print(format_probe(rows))
            return 0
        for i in range(args.clips or 1):
            clip = random_clip(face, args.fps, args.seed + i, args.duration, args.noise)
            path = clip.write(args.out, f"{face.name}_s{args.seed + i}", args.format)
            print(f"{path}: {clip.n_frames} frames, {clip.meta['n_events']} expression events", file=sys.stderr)
    except (ValueError, OSError, RuntimeError, cv2.error) as e:
        print(f"synth: error: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
