"""`microexpr train`: the time to render one flash frame at 640x480, and the per-round precomputation.

    python benchmarks/bench_train_render.py [--frames 500] [--repeat 3] [--json OUT]

For every emotion's prototype on the bundled faces (framed 480x480 in the
640x480 canvas, as the training window shows them), the warp field is
computed once per round (:meth:`detector.app.eyetrain.render.PreparedFace.warp`:
AU field, fold check, fixed-point maps) and then ``--frames`` flash frames are
rendered into one reused canvas (:meth:`PreparedFace.frame`: one ``cv2.remap``
of the face and the copy into the canvas), exactly what the session does per
presented frame.  Reports per-frame p50 / p99 / max (ms) over all frames, the
frame rate that serves, and the per-round precomputation time.  A 200 fps
display needs a frame in under 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from detector.core import facs  # noqa: E402
from detector.app.eyetrain.faces import bundled_faces  # noqa: E402
from detector.app.eyetrain.render import PreparedFace  # noqa: E402


def measure(faces: list[PreparedFace], frames: int, intensity: float) -> dict:
    per_frame: list[float] = []
    precompute: list[float] = []
    for face in faces:
        out = np.empty_like(face.canvas)
        for protos in facs.PROTOTYPES.values():
            for aus in protos:
                t0 = time.perf_counter()
                warp = face.warp(aus, intensity)
                precompute.append(time.perf_counter() - t0)
                for _ in range(frames):
                    t = time.perf_counter()
                    face.frame(warp, out)
                    per_frame.append(time.perf_counter() - t)
    ms = np.asarray(per_frame) * 1000.0
    pre = np.asarray(precompute) * 1000.0
    return {
        "frames": int(ms.size), "rounds": int(pre.size),
        "frame_ms_p50": float(np.percentile(ms, 50)), "frame_ms_p99": float(np.percentile(ms, 99)),
        "frame_ms_max": float(ms.max()), "frame_ms_mean": float(ms.mean()),
        "fps_at_p99": float(1000.0 / np.percentile(ms, 99)),
        "precompute_ms_p50": float(np.percentile(pre, 50)), "precompute_ms_max": float(pre.max()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=500, help="flash frames per round (default 500)")
    ap.add_argument("--repeat", type=int, default=3, help="passes; the median pass is reported (default 3)")
    ap.add_argument("--intensity", type=float, default=1.0)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)  # one core, as a busy machine would leave it
    faces = [PreparedFace(f) for f in bundled_faces()]
    h, w = faces[0].canvas.shape[:2]
    passes = [measure(faces, args.frames, args.intensity) for _ in range(args.repeat)]
    best = sorted(passes, key=lambda p: p["frame_ms_p99"])[len(passes) // 2]
    info = {"canvas": f"{w}x{h}", "face": f"{faces[0].face.image.shape[1]}x{faces[0].face.image.shape[0]}",
            "opencv": cv2.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "load_average": os.getloadavg(), "threads": 1, "median_pass": best, "passes": passes}
    print(f"canvas {info['canvas']}, face {info['face']}, {best['rounds']} rounds x {args.frames} frames, "
          f"median of {args.repeat} passes (by p99), 1 OpenCV thread")
    print(f"flash frame render: p50 {best['frame_ms_p50']:.3f} ms, p99 {best['frame_ms_p99']:.3f} ms, "
          f"max {best['frame_ms_max']:.3f} ms (p99 serves {best['fps_at_p99']:.0f} fps)")
    print(f"per-round precomputation (AU field, fold check, maps): p50 {best['precompute_ms_p50']:.1f} ms, "
          f"max {best['precompute_ms_max']:.1f} ms")
    print(f"load average {info['load_average'][0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))
    return 0 if best["frame_ms_p99"] < 5.0 else 1


if __name__ == "__main__":
    sys.exit(main())
