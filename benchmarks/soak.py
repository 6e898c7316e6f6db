"""Soak test: a long looped video through ``microexpr analyze`` and ``microexpr live --as-fast-as-possible``.

    python benchmarks/make_long_clip.py --seconds 3600 --lossless -o /tmp/soak_60min.mkv   # the 60-minute soak
    python benchmarks/soak.py /tmp/soak_60min.mkv --json /tmp/soak.json

Each command runs as a child process; every ``--every`` seconds the script
samples its process tree from /proc (Linux): resident memory (sum over the
tree, MB), open file descriptors and threads (main process), live processes.
It then checks:

* memory flat: peak RSS of the last third of the run against the peak of the
  second third (the first third holds start-up and the numba/MediaPipe
  warm-up) grows by less than ``--max-growth-mb``;
* no handle or thread leak: descriptors and threads of the main process at
  the last sample are no more than at the first sample after start-up;
* events: ``live`` (one stream) gives exactly the events of a single
  uninterrupted pass (``analyze --chunk-s 1e9 --workers 1``, also soaked);
  ``analyze`` with workers cuts the video on its chunk grid, so its events
  are compared with the single pass and the matches (IoU >= 0.5) reported.
  Also reported: events per loop of the clip (no trend expected; loops are
  not identical, since the running baseline, noise scale and MediaPipe's
  tracking carry over each seam) and whether the first loop gives the events
  of the clip alone.

Exit code 1 if a check fails.  Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "WolfgangLanger_Pexels.mp4"


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/*/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _status(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(pid: int) -> dict:
    procs = _tree(pid)
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = 0
    return {"rss_mb": round(sum(_status(p, "VmRSS") for p in procs) / 1024.0, 1), "fds": fds,
            "threads": _status(pid, "Threads"), "procs": len(procs)}


def watch(cmd: list[str], every: float) -> tuple[int, float, list[dict], str]:
    """Run ``cmd``; return (exit code, seconds, samples, stderr tail)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        samples = []
        while p.poll() is None:
            s = sample(p.pid)
            s["t_s"] = round(time.monotonic() - t0, 1)
            if s["rss_mb"]:
                samples.append(s)
            time.sleep(every)
        err.seek(0)
        tail = err.read()[-2000:]
    return p.returncode, time.monotonic() - t0, samples, tail


def memory_checks(samples: list[dict], max_growth_mb: float) -> dict:
    n = len(samples)
    if n < 6:
        return {"ok": False, "why": f"only {n} samples"}
    second = samples[n // 3: 2 * n // 3]
    last = samples[2 * n // 3:]
    first_after_start = samples[n // 3]
    growth = max(s["rss_mb"] for s in last) - max(s["rss_mb"] for s in second)
    out = {
        "peak_rss_mb_second_third": max(s["rss_mb"] for s in second),
        "peak_rss_mb_last_third": max(s["rss_mb"] for s in last),
        "rss_growth_mb": round(growth, 1),
        "fds_start_end": (first_after_start["fds"], samples[-1]["fds"]),
        "threads_start_end": (first_after_start["threads"], samples[-1]["threads"]),
    }
    out["ok"] = (growth < max_growth_mb and samples[-1]["fds"] <= first_after_start["fds"]
                 and samples[-1]["threads"] <= first_after_start["threads"])
    return out


def read_events(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def key(e: dict, offset: int = 0) -> tuple:
    return (e["face"], e["onset_frame"] - offset, e["apex_frame"] - offset, e["offset_frame"] - offset, e["kind"],
            e["region"], e["emotion"])


def per_loop(events: list[dict], loop_frames: int) -> list[list[tuple]]:
    """Events by loop, frames relative to the loop's first frame; an event across a seam goes to its onset's loop."""
    loops: dict[int, list[tuple]] = {}
    for e in events:
        k = e["onset_frame"] // loop_frames
        loops.setdefault(k, []).append(key(e, k * loop_frames))
    n = max(loops) + 1 if loops else 0
    return [sorted(loops.get(i, [])) for i in range(n)]


def iou_matches(a: list[dict], b: list[dict]) -> int:
    """Events of ``a`` with an event of ``b`` overlapping at IoU >= 0.5 (frames)."""
    n = 0
    for x in a:
        for y in b:
            inter = min(x["offset_frame"], y["offset_frame"]) - max(x["onset_frame"], y["onset_frame"]) + 1
            union = max(x["offset_frame"], y["offset_frame"]) - min(x["onset_frame"], y["onset_frame"]) + 1
            if inter > 0 and inter / union >= 0.5:
                n += 1
                break
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video", help="the looped video (benchmarks/make_long_clip.py --lossless: loops decode identically)")
    ap.add_argument("--clip", default=str(CLIP), help="the clip it loops (default: the bundled sample)")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    ap.add_argument("--workers", type=int, default=2, help="analyze --workers")
    ap.add_argument("--include-blinks", action="store_true", help="more events to compare")
    ap.add_argument("--max-growth-mb", type=float, default=50.0)
    ap.add_argument("--json", help="write every figure and sample here")
    args = ap.parse_args(argv)

    import cv2

    def frames(p: str) -> int:
        cap = cv2.VideoCapture(p)
        n = 0
        while cap.grab():
            n += 1
        cap.release()
        return n

    loop_frames, total = frames(args.clip), frames(args.video)
    exe = [sys.executable, "-m", "detector"]
    extra = ["--include-blinks"] if args.include_blinks else []
    report: dict = {"video": args.video, "frames": total, "loop_frames": loop_frames, "loops": total / loop_frames}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        runs = {
            "analyze": exe + ["analyze", args.video, "-o", str(tmp_p / "analyze.jsonl"), "-q", "--workers",
                              str(args.workers)] + extra,
            "live": exe + ["live", "--source", args.video, "--as-fast-as-possible", "--no-window", "-q",
                           "--events", str(tmp_p / "live.jsonl")] + extra,
            "single_pass": exe + ["analyze", args.video, "-o", str(tmp_p / "single_pass.jsonl"), "-q", "--workers", "1",
                                  "--chunk-s", "1e9"] + extra,
            "clip": exe + ["analyze", args.clip, "-o", str(tmp_p / "clip.jsonl"), "-q"] + extra,
        }
        ok = True
        for name, cmd in runs.items():
            code, secs, samples, tail = watch(cmd, args.every)
            r = {"exit": code, "seconds": round(secs, 1)}
            if name != "clip":
                r["fps"] = round(total / secs, 1)
                r["memory"] = memory_checks(samples, args.max_growth_mb)
                r["samples"] = samples
                ok &= r["memory"]["ok"]
            ok &= code == 0
            if code != 0:
                r["stderr"] = tail
            report[name] = r
            print(f"{name}: exit {code}, {secs:.0f} s" + (f", {r['memory']}" if "memory" in r else ""), flush=True)
        ev = {n: read_events(tmp_p / f"{n}.jsonl") for n in runs}
    loops = per_loop(ev["live"], loop_frames)
    clip = sorted(key(e) for e in ev["clip"] if e["offset_frame"] < loop_frames - 1)
    first = [k for k in loops[0] if k[3] < loop_frames - 1] if loops else []
    live_equal = sorted(map(key, ev["live"])) == sorted(map(key, ev["single_pass"]))
    report["events"] = {
        "single_pass": len(ev["single_pass"]), "live": len(ev["live"]), "analyze_workers": len(ev["analyze"]),
        "live_equals_single_pass": live_equal,
        "analyze_workers_matching_single_pass_iou_0_5": iou_matches(ev["analyze"], ev["single_pass"]),
        "live_events_per_loop": [len(x) for x in loops],
        "first_loop_equals_clip_alone": first == clip,
    }
    ok &= live_equal
    print(json.dumps(report["events"]), flush=True)
    for name in ("analyze", "live", "single_pass"):
        curve = report[name]["samples"]
        step = max(1, len(curve) // 12)
        print(f"{name} RSS curve (t s: MB / fds / threads / procs): " + ", ".join(
            f"{s['t_s']:.0f}: {s['rss_mb']:.0f}/{s['fds']}/{s['threads']}/{s['procs']}" for s in curve[::step]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    print("soak: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
