"""Rendering: a Clip's frames as a pure function of the frame index, and make_clip."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from detector.lab.facewarp import (
    Face,
    _Geom,
    _grid,
    au_field,
    min_jacobian,
    peak_displacement,
)

from benchmarks.synthkit.events import _frames_of, _Timed, _truth_row, EventSpec, profile_values, write_truth
from benchmarks.synthkit.faces import SYNTH_VERSION
from benchmarks.synthkit.fields import _drift_peak, _lip_gap_darkness, _sided

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



#: an AU field whose map's Jacobian falls to this anywhere folds the image (make_clip refuses it)
FOLD_MIN_JACOBIAN = 0.05


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
            if mj <= FOLD_MIN_JACOBIAN:
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
