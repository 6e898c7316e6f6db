"""Whole-process benchmark: ``microexpr analyze`` against a bare MediaPipe loop, process start to exit.

For each file, ``--runs`` pairs are timed, alternating (bare, analyze, bare, analyze, ...), each a
fresh ``python`` process timed from ``Popen`` to exit; the medians and their ratio are printed.

* **bare**: ``python benchmarks/bench_e2e.py --bare FILE``: imports cv2 and mediapipe only, decodes
  with ``cv2.VideoCapture``, converts BGR to RGB and calls ``detect_for_video`` (blendshapes and
  the transformation matrix on, the same options and the same timestamps as
  ``detector.stages.landmarks.Landmarker``: ``round(pos_msec * timestamp_scale)``, kept strictly
  increasing), reading the results through MediaPipe's public API.
* **analyze**: ``python -m detector analyze FILE -j 1 -q --no-progress -o OUT.jsonl``.

``--breakdown`` also runs ``analyze`` once more per file (``--breakdown-runs K``: K times, alternating with
the ``--baseline`` checkout, medians) with timers wrapped around the stages
(monkey-patched in the child process): start-up (process start to the first frame decoded),
decode (``VideoFileSource`` iteration), landmarks (``Landmarker.detect_untracked``, which
includes the fresh landmarkers of the chunk borders), features (``FeatureExtractor.__call__``),
segmenter (``Segmenter.update``), output (event and frames-CSV sinks) and the rest.

``--make-clips`` writes the test clips to ``/tmp/microexpr_e2e`` (not committed): a cut of
franck.mp4 (``--long-frames`` frames, re-encoded mp4v), and 720p and 4K upscales of the first
3 s of woman2.mp4 (real talking clips from ``benchmarks/fetch_talking_clips.py``).

Usage::

    python benchmarks/bench_e2e.py --make-clips
    python benchmarks/bench_e2e.py --runs 3 --breakdown
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TALKING = Path("/tmp/microexpr_talking")
CLIPS = Path("/tmp/microexpr_e2e")
SHORT = ROOT / "tests" / "data" / "single_face.mp4"


def default_files() -> dict[str, Path]:
    return {"short": SHORT, "long": CLIPS / "franck_cut.mp4", "720p": CLIPS / "woman2_720p.mp4",
            "4k": CLIPS / "woman2_4k.mp4"}


# ----------------------------------------------------------------------------- clips


def _copy_frames(src: Path, dst: Path, n: int, size: tuple[int, int] | None = None) -> None:
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = None
    for _ in range(n):
        ok, img = cap.read()
        if not ok:
            break
        if size is not None:
            img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
        if out is None:
            out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (img.shape[1], img.shape[0]))
        out.write(img)
    out.release()
    cap.release()


def make_clips(long_frames: int) -> None:
    CLIPS.mkdir(parents=True, exist_ok=True)
    _copy_frames(TALKING / "franck.mp4", CLIPS / "franck_cut.mp4", long_frames)
    _copy_frames(TALKING / "woman2.mp4", CLIPS / "woman2_720p.mp4", 90, (1280, 720))
    _copy_frames(TALKING / "woman2.mp4", CLIPS / "woman2_4k.mp4", 90, (3840, 2160))


# ----------------------------------------------------------------------------- bare loop


def bare(path: str, fast: bool = False) -> int:
    """MediaPipe alone over a video: decode + detect_for_video; returns the frames seen.

    ``fast``: the results are read from MediaPipe's C result struct (``detector.stages.mp_results``,
    as ``analyze`` does) instead of MediaPipe's public API, which builds Python objects for every
    landmark, and MediaPipe is imported as ``analyze`` imports it (``import_mediapipe``: its drawing
    helpers, and so matplotlib, not loaded): the lower bound of the landmark stage itself."""
    import cv2

    sys.path.insert(0, str(ROOT))
    if fast:  # as analyze imports it: without MediaPipe's drawing helpers (matplotlib)
        from detector.stages.landmarks import import_mediapipe

        import_mediapipe()
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from detector.core.options import LandmarkerOptions
    from detector.core.resources import resource_path

    o = LandmarkerOptions()
    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(resource_path("models", "face_landmarker.task"))),
        running_mode=vision.RunningMode.VIDEO, num_faces=o.max_faces,
        min_face_detection_confidence=o.min_detection_confidence,
        min_face_presence_confidence=o.min_presence_confidence,
        min_tracking_confidence=o.min_tracking_confidence,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    n, last = 0, -1
    with vision.FaceLandmarker.create_from_options(opts) as lm:
        if fast:
            from detector.stages.mp_results import fast_result_reader

            read = fast_result_reader()
        while True:
            ok, img = cap.read()
            if not ok:
                break
            ts = max(int(round(cap.get(cv2.CAP_PROP_POS_MSEC) * o.timestamp_scale)), last + 1)
            last = ts
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            img = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            n += (len(read(lm, img, ts)) if fast else len(lm.detect_for_video(img, ts).face_landmarks)) >= 0
    return n


# ----------------------------------------------------------------------------- timing


def _timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def commands(path: Path, out: Path, baseline: Path | None) -> dict[str, tuple[list[str], Path]]:
    """name -> (command, working directory); ``analyze_before`` runs the checkout ``baseline``."""
    analyze = [sys.executable, "-m", "detector", "analyze", str(path.resolve()), "-j", "1", "-q", "--no-progress",
               "-o", str(out)]
    me = [sys.executable, str(Path(__file__).resolve())]
    cmds = {"bare": (me + ["--bare", str(path)], ROOT), "bare_fast": (me + ["--bare-fast", str(path)], ROOT),
            "analyze": (analyze, ROOT)}
    if baseline is not None:
        cmds["analyze_before"] = (analyze, baseline)
    return cmds


def paired(path: Path, runs: int, tmp: Path, baseline: Path | None = None) -> dict:
    """``runs`` rounds of bare, analyze (and analyze_before), in turn; medians and ratios to bare."""
    cmds = commands(path, tmp / "events.jsonl", baseline)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, (cmd, cwd) in cmds.items():
            times[name].append(_timed(cmd, cwd))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = {f"{k}/{b}": med[k] / med[b] for b in ("bare", "bare_fast") for k in med if k.startswith("analyze")}
    return {"times": times, "median": med, "ratio": ratio}


_BREAKDOWN_CHILD = r"""
import os, sys, time, json
t_start = float(os.environ["E2E_T0"])
acc = {}
first = []  # time the first frame was decoded: start-up ends; the stage timers count from then on
seen = []  # time the first frame reached the segmenter
def add(key, t):
    if first:
        acc[key] = acc.get(key, 0.0) + time.perf_counter() - t
def wrap(owner, name, key, gen=False):
    fn = getattr(owner, name)
    def w(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            add(key, t)
    def g(self, *a, **k):
        it = fn(self, *a, **k)
        while True:
            t = time.perf_counter()
            try:
                x = next(it)
            except StopIteration:
                add(key, t)
                return
            add(key, t)
            if not first:
                first.append(time.time())
            yield x
    setattr(owner, name, g if gen else w)
from detector.stages import source, landmarks, features
from detector.stages.segmenter import Segmenter
from detector.app import sinks
wrap(source.VideoFileSource, "__iter__", "decode", gen=True)
wrap(landmarks.Landmarker, "detect_untracked", "landmarks")
wrap(landmarks.Landmarker, "__init__", "landmarker_create")
wrap(features.FeatureExtractor, "__call__", "features")
wrap(Segmenter, "update", "segmenter")
_update = Segmenter.update
def first_update(self, *a, **k):
    if first and not seen:
        seen.append(time.time())
    return _update(self, *a, **k)
Segmenter.update = first_update
for cls in (sinks.JsonlEventSink, sinks.FramesCsvSink):
    wrap(cls, "write", "output")
from detector.app.cli import main
code = main(sys.argv[1:])
acc["total"] = time.time() - t_start
acc["startup"] = first[0] - t_start if first else float("nan")
acc["first_frame_processed"] = seen[0] - t_start if seen else float("nan")
print("E2E " + json.dumps(acc))
sys.exit(code)
"""


def breakdown(path: Path, tmp: Path, checkout: Path = ROOT) -> dict:
    cmd = [sys.executable, "-c", _BREAKDOWN_CHILD, "analyze", str(path.resolve()), "-j", "1", "-q", "--no-progress",
           "-o", str(tmp / "events.jsonl")]
    env = dict(os.environ, E2E_T0=repr(time.time()))
    out = subprocess.run(cmd, check=True, cwd=checkout, capture_output=True, text=True, env=env).stdout
    acc = json.loads(next(line[4:] for line in out.splitlines() if line.startswith("E2E ")))
    stages = ("decode", "landmarks", "landmarker_create", "features", "segmenter", "output")
    acc["rest"] = acc["total"] - acc["startup"] - sum(acc.get(k, 0.0) for k in stages)
    return acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bare", metavar="FILE", help="(child) run the bare MediaPipe loop over FILE")
    ap.add_argument("--bare-fast", metavar="FILE", help="(child) the bare loop, results read as analyze reads them")
    ap.add_argument("--make-clips", action="store_true", help="write the clips to /tmp/microexpr_e2e")
    ap.add_argument("--long-frames", type=int, default=1200, help="frames of franck.mp4 in the long clip")
    ap.add_argument("--files", nargs="*", metavar="NAME=PATH", help="files to time (default: short long 720p 4k)")
    ap.add_argument("--runs", type=int, default=3, help="pairs per file")
    ap.add_argument("--breakdown", action="store_true", help="also one timed-stages analyze run per file")
    ap.add_argument("--breakdown-runs", type=int, default=1, metavar="K",
                    help="timed-stages runs per file (and per --baseline, alternating); each figure is the median")
    ap.add_argument("--baseline", metavar="DIR", help="also time analyze from this checkout (e.g. a git archive)")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON")
    args = ap.parse_args(argv)
    if args.bare or args.bare_fast:
        print(bare(args.bare or args.bare_fast, fast=bool(args.bare_fast)))
        return 0
    if args.make_clips:
        make_clips(args.long_frames)
        return 0
    files = dict(f.split("=", 1) for f in args.files) if args.files else default_files()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in files.items():
            r = paired(Path(path), args.runs, Path(tmp), Path(args.baseline) if args.baseline else None)
            if args.breakdown:
                runs: dict[str, list[dict]] = {}
                for _ in range(max(1, args.breakdown_runs)):
                    runs.setdefault("breakdown", []).append(breakdown(Path(path), Path(tmp)))
                    if args.baseline:
                        runs.setdefault("breakdown_before", []).append(breakdown(Path(path), Path(tmp),
                                                                                 Path(args.baseline)))
                for key, rs in runs.items():
                    r[key] = {k: statistics.median(x.get(k, 0.0) for x in rs) for k in rs[0]}
                    if len(rs) > 1:
                        r[key + "_first_frame_runs"] = [x["first_frame_processed"] for x in rs]
            results[name] = r
            print(f"{name}: " + "; ".join(f"{k} {r['median'][k]:.2f} s ({_fmt(v)})" for k, v in r["times"].items())
                  + "; ratio " + ", ".join(f"{k} {v:.3f}" for k, v in r["ratio"].items()), flush=True)
            for key in ("breakdown", "breakdown_before"):
                if key in r:
                    print(f"  {key} (s): " + ", ".join(f"{k} {v:.2f}" for k, v in r[key].items())
                          + (f"; first frame per run {_fmt(r[key + '_first_frame_runs'])}"
                             if key + "_first_frame_runs" in r else ""), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def _fmt(xs: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in xs)


if __name__ == "__main__":
    sys.exit(main())
