"""Micro-benchmarks: the segmenter alone over long synthetic signals, and the classifier per event.

    python benchmarks/bench_segmenter.py [--seconds 600] [--fps 200] [--repeat 3] [--json OUT]

Segmenter: one face, ``features.N_CHANNELS`` channels of white noise (0.01,
the order of MediaPipe's blendshape noise) with an event every 2 s (two
channels, 8 noise sigmas, 60-300 ms), at ``--fps``.  Timed three ways:

* ``stream-f32``: ``Segmenter.update`` once per frame with float32 channels
  and pose, exactly as ``pipeline.Analyzer`` calls it (the per-frame cost in
  the product, Python call and dtype conversion included);
* ``stream-f64``: the same with float64 rows (no conversion);
* ``whole-file``: ``segment()`` over the whole array (the same numba kernel
  looped inside numba: the kernel's own cost).

Classifier: ``EmotionClassifier.predict`` on one event's (32,) AU delta, and
the whole per-event cost in the pipeline (``Analyzer._events``: AU deltas,
ONNX inference, the Event record), per event.

Numba compilation is not in these numbers (one warm-up call first); see
``bench.py``'s start-up section for cold vs warm start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def synthetic_signal(seconds: float, fps: float, seed: int = 0):
    """(times (N,), X (N, C) float64, pose (N, 6) float64, number of planted events)."""
    from detector.stages.features import BLINK_CHANNELS, N_CHANNELS

    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    t = np.arange(n) / fps
    sigma = 0.01
    X = 0.3 + sigma * rng.standard_normal((n, N_CHANNELS))
    pose = np.zeros((n, 6))
    candidates = np.flatnonzero(~BLINK_CHANNELS)
    planted = 0
    for t0 in np.arange(2.0, seconds - 1.0, 2.0):
        dur = rng.uniform(0.06, 0.3)
        chans = rng.choice(candidates, 2, replace=False)
        m = (t >= t0) & (t <= t0 + dur)
        X[np.ix_(m, chans)] += 8 * sigma * np.sin(np.pi * (t[m] - t0) / dur)[:, None]
        planted += 1
    return t, X, pose, planted


def bench_segmenter(seconds: float = 600.0, fps: float = 200.0, repeat: int = 3, motion_lag_s: float | None = None) -> dict:
    from detector.stages.features import BLINK_CHANNELS, CHANNEL_REGIONS
    from detector.stages.segmenter import Segmenter, SegmenterConfig, segment

    t, X, pose, planted = synthetic_signal(seconds, fps)
    n = len(t)
    cfg = SegmenterConfig() if motion_lag_s is None else SegmenterConfig(motion_lag_s=motion_lag_s)
    X32, pose32 = X.astype(np.float32), pose.astype(np.float32)
    # warm-up: compile / load the numba kernels
    segment(t[:2000], X[:2000], pose[:2000], CHANNEL_REGIONS, BLINK_CHANNELS, cfg)
    w = Segmenter(CHANNEL_REGIONS, BLINK_CHANNELS, cfg)
    for i in range(200):
        w.update(t[i], X32[i], pose32[i])
    w.flush()

    def stream(Xs, Ps) -> tuple[float, int]:
        seg = Segmenter(CHANNEL_REGIONS, BLINK_CHANNELS, cfg)
        found = 0
        t0 = time.perf_counter()
        for i in range(n):
            found += len(seg.update(t[i], Xs[i], Ps[i]))
        found += len(seg.flush())
        return time.perf_counter() - t0, found

    def whole() -> tuple[float, int]:
        t0 = time.perf_counter()
        ev = segment(t, X, pose, CHANNEL_REGIONS, BLINK_CHANNELS, cfg)
        return time.perf_counter() - t0, len(ev)

    out: dict = {"frames": n, "fps": fps, "seconds": seconds, "channels": int(X.shape[1]), "planted_events": planted}
    for name, fn in (("stream-f32", lambda: stream(X32, pose32)), ("stream-f64", lambda: stream(X, pose)),
                     ("whole-file", whole)):
        runs = [fn() for _ in range(repeat)]
        best = min(r[0] for r in runs)
        med = float(np.median([r[0] for r in runs]))
        out[name] = {
            "us_per_frame_best": 1e6 * best / n,
            "us_per_frame_median": 1e6 * med / n,
            "frames_per_s_per_face": n / best,
            "events_found": runs[0][1],
        }
    return out


def bench_classifier(n: int = 3000, device: str = "cpu") -> dict:
    from detector.stages.classifier import EmotionClassifier
    from detector.run.config import load_config
    from detector.core.facs import AU_NAMES
    from detector.stages.features import N_CHANNELS
    from detector.run.pipeline import Analyzer
    from detector.stages.segmenter import Segment

    clf = EmotionClassifier(device=device)
    rng = np.random.default_rng(1)
    deltas = rng.uniform(0, 0.5, (n, len(AU_NAMES))).astype(np.float32)
    for i in range(50):
        clf.predict(deltas[i])
    ts = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        clf.predict(deltas[i])
        ts[i] = time.perf_counter_ns() - t0
    batch_t0 = time.perf_counter()
    clf.predict(deltas)
    batch = time.perf_counter() - batch_t0

    an = Analyzer(load_config(), classifier=clf)
    segs = []
    for i in range(n):
        base = rng.uniform(0, 0.3, N_CHANNELS)
        segs.append(Segment(10, 12, 15, 1.0, 1.1, 1.2, "micro", "full", np.zeros(6), 6.0,
                            base, base + rng.uniform(0, 0.2, N_CHANNELS), False))
    for s in segs[:50]:
        an._events(0, [s])
    te = np.empty(n)
    for i, s in enumerate(segs):
        t0 = time.perf_counter_ns()
        an._events(0, [s])
        te[i] = time.perf_counter_ns() - t0

    def stats(a):
        a = a / 1e6  # ms
        return {"mean_ms": float(a.mean()), "p50_ms": float(np.percentile(a, 50)),
                "p95_ms": float(np.percentile(a, 95)), "p99_ms": float(np.percentile(a, 99))}

    return {
        "provider": clf.provider,
        "events": n,
        "predict_one": stats(ts),
        "per_event_in_pipeline": stats(te),
        "predict_batch_ms_per_event": 1e3 * batch / n,
    }


def report(seg: dict | None, clf: dict | None) -> str:
    lines = []
    if seg:
        lines.append(f"segmenter, one face, {seg['channels']} channels, {seg['frames']} frames "
                     f"({seg['seconds']:.0f} s at {seg['fps']:.0f} fps, {seg['planted_events']} planted events)")
        for k in ("stream-f32", "stream-f64", "whole-file"):
            r = seg[k]
            lines.append(f"  {k:<11} {r['us_per_frame_best']:7.2f} us/frame (median {r['us_per_frame_median']:.2f})"
                         f"  {r['frames_per_s_per_face']:10.0f} frames/s/face  {r['events_found']} events")
    if clf:
        p, e = clf["predict_one"], clf["per_event_in_pipeline"]
        lines.append(f"classifier ({clf['provider']}), {clf['events']} events")
        lines.append(f"  predict(one)      mean {p['mean_ms']:.3f} ms  p50 {p['p50_ms']:.3f}  p95 {p['p95_ms']:.3f}"
                     f"  p99 {p['p99_ms']:.3f}")
        lines.append(f"  per event (all)   mean {e['mean_ms']:.3f} ms  p50 {e['p50_ms']:.3f}  p95 {e['p95_ms']:.3f}"
                     f"  p99 {e['p99_ms']:.3f}")
        lines.append(f"  predict(batch)    {clf['predict_batch_ms_per_event']:.4f} ms/event")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="synthetic signal length, s (default 600)")
    ap.add_argument("--fps", type=float, default=200.0, help="synthetic frame rate (default 200)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--events", type=int, default=3000, help="classifier calls")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--motion-lag", type=float, default=None, metavar="S",
                    help="segmenter motion_lag_s (default: the config default, 0.15; 0 turns the rest rule off)")
    a = ap.parse_args(argv)
    seg = bench_segmenter(a.seconds, a.fps, a.repeat, a.motion_lag)
    clf = bench_classifier(a.events, a.device)
    print(report(seg, clf))
    if a.json:
        Path(a.json).write_text(json.dumps({"segmenter": seg, "classifier": clf}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
