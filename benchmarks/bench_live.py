"""``microexpr live`` with a window (run it under ``xvfb-run -a``) on files played as cameras.

Modes, each a fresh process, in turn (``--baseline DIR`` also runs that checkout, alternating, the one that
goes first swapping from run to run):

* ``fast``: ``--source F120 --as-fast-as-possible``: every frame processed as fast as it can be,
  the processed fps is the live loop's capacity;
* ``paced120`` / ``paced100``: ``--source F --fps`` at the file's own rate (120 and 100 fps):
  frames dropped and grab-to-result latency as a camera at that rate would see them.

Prints the lines of each run's summary table (dropped, per-frame work, latency, overlay, rates), the load
average before it and the CPU seconds the run's process used (user + system; the Xvfb server not included),
then per mode and checkout the median of each figure over the runs.  ``--modes`` picks the modes.
``--landmark-threads 1,2`` runs this checkout once per listed thread count (``live --landmark-threads N``),
alternating like a baseline (names ``lt1``, ``lt2``); without it ``live`` runs with its default.
Make the files with ``--make-files`` (a real talking clip, woman2.mp4, forwards then backwards,
re-timed to 120 and 100 fps; in /tmp/microexpr_e2e, not committed).

Usage::

    python benchmarks/bench_live.py --make-files
    xvfb-run -a python benchmarks/bench_live.py --runs 2
    xvfb-run -a python benchmarks/bench_live.py --runs 4 --modes fast,paced100 --baseline /tmp/base
    xvfb-run -a python benchmarks/bench_live.py --runs 3 --landmark-threads 1,2
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = Path("/tmp/microexpr_e2e")
KEYS = ("frames grabbed", "frames dropped", "per-frame work", "latency", "overlay drawing", "rates")
#: The figures read from a run's summary lines: name -> (pattern, unit).
FIGURES = {
    "dropped": (r"frames dropped\s+(\d+)", "frames"),
    "processed": (r"processed ([\d.]+) fps", "fps"),
    "drawn": (r"drawn ([\d.]+) fps", "fps"),
    "landmarks": (r"landmarks ([\d.]+) ms on (?:their own thread|\d+ threads)", "ms/frame"),
    "rest": (r"the rest ([\d.]+) ms", "ms/frame"),
    "p50": (r"grab -> result p50 ([\d.]+) ms", "ms"),
    "p95": (r"grab -> result p50 [\d.]+ ms, p95 ([\d.]+) ms", "ms"),
}


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


def run_live(checkout: Path, extra: list[str]) -> tuple[list[str], float]:
    """The summary lines of one ``microexpr live`` run in ``checkout``, and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-m", "detector", "live", *extra], cwd=checkout, capture_output=True,
                       text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return [line for line in (r.stdout + r.stderr).splitlines() if line.startswith(KEYS)], cpu_s


def figures(lines: list[str]) -> dict[str, float]:
    """The :data:`FIGURES` found in a run's summary lines."""
    text = "\n".join(lines)
    found = {name: re.search(pattern, text) for name, (pattern, _) in FIGURES.items()}
    return {name: float(m.group(1)) for name, m in found.items() if m}


def print_medians(results: dict[tuple[str, str], list[dict[str, float]]]) -> None:
    """Per mode and checkout, the median of each figure over its runs."""
    print("== medians", flush=True)
    for (mode, name), runs in results.items():
        keys = [k for k in (*FIGURES, "cpu_s") if all(k in r for r in runs)]
        print(f"   {mode:9s} {name:7s} " + ", ".join(f"{k} {statistics.median(r[k] for r in runs):.1f}" for k in keys))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--make-files", action="store_true")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--baseline", metavar="DIR", help="also run this checkout, alternating")
    ap.add_argument("--modes", default=",".join(modes()), help="comma-separated, of: " + ", ".join(modes()))
    ap.add_argument("--landmark-threads", metavar="N,M", help="run this checkout with each of these thread counts")
    args = ap.parse_args(argv)
    if args.make_files:
        make_files()
        return 0
    threads = args.landmark_threads.split(",") if args.landmark_threads else []
    checkouts = ({f"lt{n}": (ROOT, ["--landmark-threads", n]) for n in threads} or {"after": (ROOT, [])}) | (
        {"before": (Path(args.baseline), [])} if args.baseline else {})
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for mode in args.modes.split(","):
        for i in range(args.runs):
            order = list(checkouts.items())[:: -1 if i % 2 else 1]  # who goes first alternates too
            for name, (checkout, extra) in order:
                print(f"== {mode} {name} run {i + 1} (load {os.getloadavg()[0]:.1f})", flush=True)
                lines, cpu_s = run_live(checkout, modes()[mode] + extra)
                for line in lines:
                    print("   " + line, flush=True)
                print(f"   cpu               {cpu_s:.2f} s", flush=True)
                results.setdefault((mode, name), []).append(figures(lines) | {"cpu_s": cpu_s})
    print_medians(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
