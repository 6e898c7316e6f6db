"""Does MediaPipe see the warps?  (a measurement, not a test)"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from detector.lab.facewarp import (
    Face,
    _Geom,
    expand_aus,
    forward_displacement,
)

from benchmarks.synthkit.events import EventSpec
from benchmarks.synthkit.fields import calibrate
from benchmarks.synthkit.render import make_clip

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
