"""Size and browser open time of the HTML report of a long video (issue 13: 1 hour < 3 s to open).

    python benchmarks/report_long.py --minutes 60 --out /tmp/report_1h

Synthesises a long input instead of running MediaPipe for an hour: the video is
the bundled clip looped (``make_long_clip.py``, written once to OUT/long.mp4),
the frames CSV is written with ``FramesCsvSink`` (every column, noise plus a
bump per event in the region activations), and the events with
``JsonlEventSink`` (EVENTS_PER_MIN expression events and BLINKS_PER_MIN blinks
per minute, random times, emotions and AUs, seed 0).  Then it times
``microexpr report VIDEO --events --frames-csv -o OUT/report.html --png``, and
headless Chromium opening the report (``--dump-dom``: the page's own
``performance.now()`` at its load event, and the browser process's wall time,
median of --repeat runs).  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.make_long_clip import DEFAULT_CLIP, make
from detector.core.events import Event
from detector.core.facs import AU_NAMES, EMOTIONS, REGIONS
from detector.stages.features import POSE_NAMES
from detector.stages.landmarks import BLENDSHAPE_NAMES
from detector.app.report.data import probe_video
from detector.app.sinks import FramesCsvSink, JsonlEventSink

ROOT = Path(__file__).resolve().parent.parent


def long_video(out: Path, minutes: float) -> Path:
    video = out / f"long_{minutes:g}min.mp4"
    if not video.exists():
        clip = probe_video(DEFAULT_CLIP)
        loops = int(np.ceil(minutes * 60.0 / clip.duration))
        make(DEFAULT_CLIP, video, loops, None)
    return video


def synth_events(n_frames: int, fps: float, per_min: float, blinks_per_min: float, rng) -> list[Event]:
    minutes = n_frames / fps / 60.0
    out = []
    for kind, count in (("expr", int(per_min * minutes)), ("blink", int(blinks_per_min * minutes))):
        for on in rng.integers(0, n_frames - 120, count):
            length = int(rng.integers(3, 11)) if kind == "blink" else int(rng.choice([rng.integers(4, 12),
                                                                                      rng.integers(13, 90)]))
            apex, off = on + length // 3, on + length
            dur = length / fps
            k = "blink" if kind == "blink" else ("micro" if dur < 0.5 else "macro")
            scores = rng.dirichlet(np.ones(len(EMOTIONS)))
            emo = "neutral" if k == "blink" else EMOTIONS[int(np.argmax(scores))]
            aus = {a: float(v) for a, v in zip(AU_NAMES, rng.uniform(0, 0.4, len(AU_NAMES)))}
            out.append(Event(0, on / fps, apex / fps, off / fps, int(on), int(apex), int(off), k, "full", emo,
                             float(scores.max()), dict(zip(EMOTIONS, map(float, scores))), aus,
                             float(rng.uniform(4.5, 30)), bool(rng.random() < 0.05)))
    return sorted(out, key=lambda e: e.onset)


def synth_frames_csv(path: Path, n_frames: int, fps: float, events: list[Event], rng) -> None:
    act = np.abs(rng.normal(0, 1.2, (n_frames, len(REGIONS))))
    for e in events:
        r = int(rng.integers(0, len(REGIONS)))
        act[e.onset_frame:e.offset_frame + 1, r] += e.intensity
    sink = FramesCsvSink(path, BLENDSHAPE_NAMES, POSE_NAMES)
    pose = np.zeros(len(POSE_NAMES))
    for i in range(n_frames):
        sink.write(i / fps, i, 0, pose, rng.uniform(0, 0.1, len(BLENDSHAPE_NAMES)), rng.uniform(0, 0.1, len(AU_NAMES)),
                   act[i])
        if i % 2000 == 0:
            sink.flush()
    sink.close()


def chromium_open(html: Path, repeat: int) -> dict | None:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        return None
    load_ms, wall_s = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1400", "--dump-dom",
                            html.resolve().as_uri()], capture_output=True, text=True, timeout=120)
        wall_s.append(time.perf_counter() - t0)
        root = re.search(r"<html[^>]*>", r.stdout).group(0)  # the page's flags are on its root element
        assert 'data-ready="1"' in root and "data-js-error" not in root, root
        load_ms.append(float(root.split('data-load-ms="')[1].split('"')[0]))
    return {"browser": exe, "load_event_ms_median": statistics.median(load_ms), "load_event_ms": load_ms,
            "process_wall_s_median": round(statistics.median(wall_s), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--events-per-min", type=float, default=12.0)
    ap.add_argument("--blinks-per-min", type=float, default=15.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="/tmp/report_long")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    video = long_video(out, a.minutes)
    info = probe_video(video)
    events = synth_events(info.frames, info.fps, a.events_per_min, a.blinks_per_min, rng)
    ev_path, csv_path, html, png = out / "events.jsonl", out / "frames.csv", out / "report.html", out / "timeline.png"
    with JsonlEventSink(ev_path) as sink:
        for e in events:
            sink.write(e)
    synth_frames_csv(csv_path, info.frames, info.fps, events, rng)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "detector", "report", str(video), "--events", str(ev_path),
                        "--frames-csv", str(csv_path), "-o", str(html), "--png", str(png)],
                       capture_output=True, text=True, cwd=ROOT)
    build_s = time.perf_counter() - t0
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    print(json.dumps({
        "video": str(video), "frames": info.frames, "duration_s": round(info.duration, 1),
        "events": len(events), "frames_csv_mb": round(csv_path.stat().st_size / 1e6, 1),
        "report_mb": round(html.stat().st_size / 1e6, 2), "timeline_png_kb": round(png.stat().st_size / 1e3),
        "report_build_s": round(build_s, 1), "open": chromium_open(html, a.repeat),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
