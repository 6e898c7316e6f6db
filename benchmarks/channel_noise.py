"""Frame-to-frame noise of every feature channel on the bundled real clips.

Runs MediaPipe FaceLandmarker over each clip three ways -- VIDEO mode with the
container's timestamps (MediaPipe's landmark smoothing active), VIDEO mode
with timestamps x1000 (smoothing defeated, ROI tracking kept) and IMAGE mode
(every frame independent) -- and writes, per clip, mode and channel:

* ``diff_std``: standard deviation of first differences (motion included);
* ``resid_std``: standard deviation of the residual around a centred 5-frame
  running median;
* ``sigma_d2``: robust white-noise sigma from second differences,
  1.4826 x MAD(x[t-1] - 2 x[t] + x[t+1]) / sqrt(6) (smooth motion cancels);
* ``hold_std`` (single_face.mp4 only): robust sigma (1.4826 x MAD) around a
  linear trend within the two held expressions (neutral frames 0-15, smile
  26-66), so blinks in the holds do not count -- white noise plus slow wander;
* ``lag_frames``: how many frames the mode's smile onset in single_face.mp4
  trails IMAGE mode's (smoothing delay), from the geometry lip-corner height.

``pose_sensitivity`` relates the channels to head rotation over the
talking-face clip (see :func:`pose_sensitivity`).

It also measures how each mode passes a brief expression: a real frame with a
synthetic brow raise (image warp, about 4 % IOD in ``geo_brow_inner``) held for
1-16 frames between copies of the unwarped frame, at 30 and 200 fps
timestamps; ``attenuation`` gives the peak response relative to IMAGE mode.

Units: blendshapes are raw scores (0..1); ``geo_*`` channels are IOD units
(0.01 = 1 % of the inter-ocular distance).  The classifier's training script
reads ``recommended.noise_sigma`` (per channel) as realistic per-frame noise.

    python benchmarks/channel_noise.py [--out benchmarks/channel_noise.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.stages.features import CHANNELS, FeatureExtractor  # noqa: E402
from detector.stages.landmarks import Landmarker, LandmarkerOptions  # noqa: E402
from detector.stages.source import open_source  # noqa: E402

CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")
MODES = {
    "video": LandmarkerOptions(mode="video", timestamp_scale=1.0),
    "video_ts1000": LandmarkerOptions(mode="video", timestamp_scale=1000.0),
    "image": LandmarkerOptions(mode="image"),
}
RECOMMENDED = "video_ts1000"


def _run(path: Path, options: LandmarkerOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channels (N, C), pose (N, 6) and inter-ocular distance in pixels (N,) of the first face; NaN where none."""
    fx = FeatureExtractor()
    rows, poses, iods = [], [], []
    with open_source(path) as src, Landmarker(options) as lm:
        for frame in src:
            faces = lm.detect(frame.image, frame.timestamp)
            if faces:
                L = faces[0].landmarks
                f = fx(faces[0])
                rows.append(f.channels)
                poses.append(f.pose)
                iods.append(float(np.linalg.norm((L[33] + L[133]) / 2 - (L[263] + L[362]) / 2)))
            else:
                rows.append(np.full(len(CHANNELS), np.nan, np.float32))
                poses.append(np.full(6, np.nan, np.float32))
                iods.append(np.nan)
    return np.array(rows, dtype=np.float64), np.array(poses, dtype=np.float64), np.array(iods)


def pose_sensitivity(X: np.ndarray, P: np.ndarray) -> dict:
    """How channels co-vary with head rotation over a clip (multiple regression on yaw, pitch, roll).

    ``slope_per_10deg``: channel change per 10 degrees of yaw / pitch / roll;
    ``r2``: variance share explained by the three angles.  A talking,
    laughing face also moves its features *with* its head (looking down while
    laughing), so this bounds pose leakage from above.  ``lr_asymmetry``
    regresses left-minus-right differences on yaw: a real expression is
    rarely tied to the direction the head turns, so a slope there is mostly
    leakage (the far side of the face is seen obliquely).
    """
    ok = np.isfinite(X).all(axis=1) & np.isfinite(P).all(axis=1)
    X, P = X[ok], P[ok]
    A = np.column_stack([P[:, :3], np.ones(len(P))])
    coef, *_ = np.linalg.lstsq(A, X, rcond=None)
    res = X - A @ coef
    var = X.var(axis=0)
    r2 = np.where(var > 0, 1 - res.var(axis=0) / np.where(var > 0, var, 1), 0.0)
    lr = {}
    for j, name in enumerate(CHANNELS):
        for a, b in (("Left", "Right"), ("_L", "_R")):
            if name.endswith(a) and name[: -len(a)] + b in CHANNELS:
                d = X[:, j] - X[:, CHANNELS.index(name[: -len(a)] + b)]
                c, *_ = np.linalg.lstsq(A, d, rcond=None)
                rr = d - A @ c
                lr[name[: -len(a)]] = {
                    "yaw_slope_per_10deg": round(float(c[0] * 10), 5),
                    "r2": round(float(1 - rr.var() / d.var()) if d.var() > 0 else 0.0, 3),
                }
    return {
        "angles": "yaw, pitch, roll",
        "pose_range_deg": {
            k: [round(float(P[:, i].min()), 1), round(float(P[:, i].max()), 1)]
            for i, k in enumerate(("yaw", "pitch", "roll"))
        },
        "slope_per_10deg": {n: [round(float(v * 10), 5) for v in coef[:3, j]] for j, n in enumerate(CHANNELS)},
        "r2": {n: round(float(r2[j]), 3) for j, n in enumerate(CHANNELS)},
        "lr_asymmetry": lr,
    }


def _running_median(x: np.ndarray, k: int = 5) -> np.ndarray:
    h = k // 2
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=0)  # (N-k+1, C, k)
    out = np.full_like(x, np.nan)
    out[h : len(x) - h] = np.median(win, axis=-1)
    return out


def _mad_sigma(x: np.ndarray) -> np.ndarray:
    return 1.4826 * np.median(np.abs(x - np.median(x, axis=0)), axis=0)


def noise(X: np.ndarray) -> dict[str, list[float]]:
    d = np.diff(X, axis=0)
    d = d[np.isfinite(d).all(axis=1)]
    d2 = X[:-2] - 2 * X[1:-1] + X[2:]
    d2 = d2[np.isfinite(d2).all(axis=1)]
    r = X - _running_median(X)
    r = r[np.isfinite(r).all(axis=1)]
    return {
        "diff_std": d.std(axis=0).tolist(),
        "resid_std": r.std(axis=0).tolist(),
        "sigma_d2": (_mad_sigma(d2) / np.sqrt(6.0)).tolist(),
    }


def hold_std(X: np.ndarray, holds: tuple[tuple[int, int], ...]) -> list[float]:
    """Robust sigma around a per-hold linear trend; holds are inclusive frame ranges."""
    res = []
    for a, b in holds:
        seg = X[a : b + 1]
        t = np.arange(len(seg), dtype=np.float64)
        A = np.column_stack([t, np.ones_like(t)])
        coef, *_ = np.linalg.lstsq(A, seg, rcond=None)
        res.append(seg - A @ coef)
    return _mad_sigma(np.concatenate(res)).tolist()


def attenuation(path: Path) -> dict:
    """Peak response to a brief synthetic brow raise, each mode relative to IMAGE mode."""
    import cv2

    from detector.stages.source import open_source as _open

    with _open(path) as src:
        f0 = next(iter(src)).image
    with Landmarker(MODES["image"]) as lm:
        L = lm.detect(f0, 0.0)[0].landmarks
    iod = float(np.linalg.norm((L[33] + L[133]) / 2 - (L[263] + L[362]) / 2))
    h, w = f0.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    my = np.zeros_like(yy)
    for ids in ((105, 66, 107), (334, 296, 336)):  # raise both brows by 6 % IOD, Gaussian falloff
        c = L[list(ids), :2].mean(axis=0)
        my += -0.06 * iod * np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * (0.25 * iod) ** 2))
    raised = cv2.remap(f0, xx, yy - my, cv2.INTER_CUBIC)
    cols = [CHANNELS.index("geo_brow_inner_L"), CHANNELS.index("geo_brow_inner_R")]
    out: dict = {"channel": "mean of geo_brow_inner_L/R", "events": []}
    for fps in (30.0, 200.0):
        for n in (1, 2, 4, 8, 16):
            seq = [f0] * 30 + [raised] * n + [f0] * 30
            peaks = {}
            for name, opts in MODES.items():
                fx = FeatureExtractor()
                with Landmarker(opts) as lm:
                    g = np.array([fx(lm.detect(im, i / fps)[0]).channels[cols].mean() for i, im in enumerate(seq)])
                peaks[name] = float(g[30 : 30 + n + 10].max() - np.median(g[10:30]))
            out["events"].append(
                {
                    "fps": fps,
                    "frames": n,
                    "duration_ms": round(1000 * n / fps, 1),
                    "peak_iod": {k: round(v, 5) for k, v in peaks.items()},
                    "attenuation": {k: round(v / peaks["image"], 3) for k, v in peaks.items()},
                }
            )
    return out


def onset_lag(x: np.ndarray, ref: np.ndarray) -> float:
    """Frames by which ``x`` crosses the half-way level of the step later than ``ref``."""

    def crossing(s: np.ndarray) -> float:
        lo, hi = np.median(s[:12]), np.median(s[30:])
        level = (lo + hi) / 2
        i = int(np.argmax(s > level))
        return i - 1 + (level - s[i - 1]) / (s[i] - s[i - 1])

    return float(crossing(x) - crossing(ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "channel_noise.json"))
    args = ap.parse_args()

    import mediapipe

    result: dict = {
        "description": " ".join(__doc__.split("\n\n")[1:4]).replace("\n", " "),
        "command": "python benchmarks/channel_noise.py",
        "units": {"blendshapes": "score 0..1", "geo_*": "IOD units (0.01 = 1 % IOD)"},
        "machine": {"python": platform.python_version(), "mediapipe": mediapipe.__version__},
        "channels": list(CHANNELS),
        "modes": {k: {"mode": o.mode, "timestamp_scale": o.timestamp_scale} for k, o in MODES.items()},
        "clips": {},
    }
    corner = [CHANNELS.index("geo_corner_up_L"), CHANNELS.index("geo_corner_up_R")]
    for clip in CLIPS:
        entry: dict = {}
        series = {}
        for name, opts in MODES.items():
            X, P, iod = _run(ROOT / "tests" / "data" / clip, opts)
            series[name] = X
            if name == RECOMMENDED and clip == "WolfgangLanger_Pexels.mp4":
                result["pose_sensitivity"] = {"clip": clip, "mode": name, **pose_sensitivity(X, P)}
            entry[name] = noise(X)
            entry["frames"] = int(len(X))
            entry["frames_with_face"] = int(np.isfinite(X[:, 0]).sum())
            entry["iod_px_median"] = float(np.nanmedian(iod))
        if clip == "single_face.mp4":  # neutral -> broad smile at about frame 17
            ref = series["image"][:, corner].mean(axis=1)
            for name in MODES:
                entry[name]["lag_frames"] = onset_lag(series[name][:, corner].mean(axis=1), ref)
                entry[name]["hold_std"] = hold_std(series[name], ((0, 15), (26, 66)))
        result["clips"][clip] = entry
        print(f"{clip}: done", file=sys.stderr)
    result["attenuation"] = attenuation(ROOT / "tests" / "data" / "single_face.mp4")
    print("attenuation: done", file=sys.stderr)
    # Recommended per-frame noise for training: in the recommended landmarker
    # mode, the larger of the two clips' white-noise sigmas (second
    # differences) and the held-expression std (a conservative choice).
    sig = np.max(
        [result["clips"][c][RECOMMENDED]["sigma_d2"] for c in CLIPS]
        + [result["clips"]["single_face.mp4"][RECOMMENDED]["hold_std"]],
        axis=0,
    )
    result["recommended"] = {
        "mode": RECOMMENDED,
        "timestamp_scale": MODES[RECOMMENDED].timestamp_scale,
        "statistic": "max(sigma_d2 over clips, hold_std of single_face.mp4)",
        "noise_sigma": [round(float(v), 5) for v in sig],
    }
    for c in CLIPS:
        for m in MODES:
            for k, v in result["clips"][c][m].items():
                if isinstance(v, list):
                    result["clips"][c][m][k] = [round(float(x), 5) for x in v]
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
