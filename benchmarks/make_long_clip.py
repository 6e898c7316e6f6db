"""Make a long test video by looping (and optionally upscaling) a clip: for the worker and memory benchmarks.

    python benchmarks/make_long_clip.py --loops 4 -o /tmp/long_4x.mp4              # 78.7 s, 640x360
    python benchmarks/make_long_clip.py --seconds 610 --size 1280x720 -o /tmp/10min_720p.mp4
    python benchmarks/make_long_clip.py --seconds 3600 --lossless -o /tmp/soak_60min.mkv   # benchmarks/soak.py

Frames are written with ``cv2.VideoWriter`` (mp4v) at the source's frame
rate, so timestamps continue across loops.  Not committed: the outputs go to
/tmp.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIP = ROOT / "tests" / "data" / "WolfgangLanger_Pexels.mp4"


def make(src: Path, out: Path, loops: int, size: tuple[int, int] | None, lossless: bool = False) -> tuple[int, float]:
    """Write ``loops`` copies of ``src`` to ``out``; returns (frames, fps)."""
    cap = cv2.VideoCapture(str(src), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise SystemExit(f"{src}: cannot open")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img if size is None else cv2.resize(img, size, interpolation=cv2.INTER_CUBIC))
    cap.release()
    h, w = frames[0].shape[:2]
    out.parent.mkdir(parents=True, exist_ok=True)
    vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*("FFV1" if lossless else "mp4v")), fps, (w, h))
    if not vw.isOpened():
        raise SystemExit(f"{out}: cannot write")
    n = 0
    for _ in range(loops):
        for img in frames:
            vw.write(img)
            n += 1
    vw.release()
    return n, fps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP))
    ap.add_argument("-o", "--output", required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--loops", type=int, default=None, help="copies of the clip")
    g.add_argument("--seconds", type=float, default=None, help="at least this long (whole loops)")
    ap.add_argument("--size", default=None, help="WxH to resize to, e.g. 1280x720")
    ap.add_argument("--lossless", action="store_true",
                    help="FFV1 (give -o x.mkv): every loop decodes to the very same pixels (benchmarks/soak.py)")
    a = ap.parse_args(argv)
    size = tuple(int(v) for v in a.size.lower().split("x")) if a.size else None
    loops = a.loops or 1
    if a.seconds:
        cap = cv2.VideoCapture(a.clip, cv2.CAP_FFMPEG)
        dur = cap.get(cv2.CAP_PROP_FRAME_COUNT) / (cap.get(cv2.CAP_PROP_FPS) or 30.0)
        cap.release()
        loops = max(1, math.ceil(a.seconds / dur))
    n, fps = make(Path(a.clip), Path(a.output), loops, size, a.lossless)  # type: ignore[arg-type]
    print(f"{a.output}: {n} frames, {n / fps:.1f} s at {fps:.3f} fps, {loops} loops", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
