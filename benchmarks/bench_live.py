"""``microexpr live`` with a window (run it under ``xvfb-run -a``) on files played as cameras.

Modes, each a fresh process, in turn (``--baseline DIR`` also runs that checkout, alternating):

* ``fast``: ``--source F120 --as-fast-as-possible``: every frame processed as fast as it can be,
  the processed fps is the live loop's capacity;
* ``paced120`` / ``paced100``: ``--source F --fps`` at the file's own rate (120 and 100 fps):
  frames dropped and grab-to-result latency as a camera at that rate would see them.

Prints the lines of each run's summary table (dropped, per-frame work, latency, overlay, rates).
Make the files with ``--make-files`` (a real talking clip, woman2.mp4, forwards then backwards,
re-timed to 120 and 100 fps; in /tmp/microexpr_e2e, not committed).

Usage::

    python benchmarks/bench_live.py --make-files
    xvfb-run -a python benchmarks/bench_live.py --runs 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = Path("/tmp/microexpr_e2e")
KEYS = ("frames grabbed", "frames dropped", "per-frame work", "latency", "overlay drawing", "rates")


def make_files() -> None:
    import cv2

    cap = cv2.VideoCapture("/tmp/microexpr_talking/woman2.mp4")
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    h, w = frames[0].shape[:2]
    FILES.mkdir(parents=True, exist_ok=True)
    for fps in (120, 100):
        out = cv2.VideoWriter(str(FILES / f"woman2_{fps}fps.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for img in frames + frames[::-1]:
            out.write(img)
        out.release()


def modes() -> dict[str, list[str]]:
    return {"fast": ["--source", str(FILES / "woman2_120fps.mp4"), "--as-fast-as-possible"],
            "paced120": ["--source", str(FILES / "woman2_120fps.mp4")],
            "paced100": ["--source", str(FILES / "woman2_100fps.mp4")]}


def run_live(checkout: Path, extra: list[str]) -> list[str]:
    r = subprocess.run([sys.executable, "-m", "detector", "live", *extra], cwd=checkout, capture_output=True,
                       text=True, timeout=300)
    return [line for line in (r.stdout + r.stderr).splitlines() if line.startswith(KEYS)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--make-files", action="store_true")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--baseline", metavar="DIR", help="also run this checkout, alternating")
    args = ap.parse_args(argv)
    if args.make_files:
        make_files()
        return 0
    checkouts = {"after": ROOT} | ({"before": Path(args.baseline)} if args.baseline else {})
    for mode, extra in modes().items():
        for i in range(args.runs):
            for name, checkout in checkouts.items():
                print(f"== {mode} {name} run {i + 1}", flush=True)
                for line in run_live(checkout, extra):
                    print("   " + line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
