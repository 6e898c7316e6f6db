"""Chunked multi-process analysis and the multi-file pool (detector.run.parallel, ``analyze --workers``).

What is asserted (see the module docstring of detector.run.parallel):

* the result of a cut video is identical, frame for frame and event for
  event, whatever the number of workers (real clip, 4 chunks);
* the main process puts runs that arrive interleaved back into video order:
  every frame once, global indices, the same events as one Analyzer over the
  whole signal, including events that straddle chunk borders (synthetic
  signal, no MediaPipe);
* against an *uncut* run, frames before the first border are identical and
  later ones differ only at MediaPipe's tracking-noise level (the stated
  tolerance);
* many files: a bad file among good ones is reported in one line and skipped.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from detector.core.events import Event
from detector.run import parallel
from detector.run.config import load_config
from detector.run.pipeline import Analyzer
from detector.run.stats import RunStats
from detector.stages.features import GAZE_IDX, N_CHANNELS, FaceFeatures
from detector.stages.landmarks import FaceObservation
import procs

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
CLIP = DATA / "WolfgangLanger_Pexels.mp4"  # 472 frames, 19.7 s: 4 chunks at chunk_s = 5


def microexpr(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


# --------------------------------------------------------------------------- planning


@pytest.mark.parametrize("duration, chunk", [(19.7, 5.0), (78.7, 10.0), (600.0, 10.0), (61.0, 30.0)])
def test_chunk_grid_depends_on_duration_only(duration, chunk):
    b = parallel.chunk_borders(duration, chunk, t0=0.5)
    assert len(b) >= 1
    assert all(0.5 < x < 0.5 + duration for x in b)
    edges = np.diff([0.5, *b, 0.5 + duration])
    assert np.allclose(edges, edges[0])  # equal chunks, so runs of chunks split evenly
    assert abs(edges[0] - chunk) <= chunk / 2  # about chunk_s long


def test_short_video_is_not_cut():
    assert parallel.chunk_borders(19.7, 10.0) == []  # the bundled clip at the default chunk length
    assert parallel.chunk_borders(None, 10.0) == []
    assert parallel.chunk_borders(100.0, 0.0) == []


@pytest.mark.parametrize("n_chunks, workers", [(1, 4), (3, 2), (8, 2), (7, 3), (12, 5)])
def test_initial_runs_partition_the_chunks(n_chunks, workers):
    runs = parallel.initial_runs(n_chunks, workers)
    assert len(runs) == min(n_chunks, workers)
    assert runs[0][0] == 0 and runs[-1][1] == n_chunks
    assert all(a < b for a, b in runs)
    assert all(runs[i][1] == runs[i + 1][0] for i in range(len(runs) - 1))
    sizes = [b - a for a, b in runs]
    assert max(sizes) - min(sizes) <= 1


# --------------------------------------------------------------------------- stitching, synthetic signal


FPS = 100.0
SIGMA = 0.01


def _synthetic(seconds: float, borders: list[float], seed: int = 3):
    """Channels with events at random times and one straddling every border (10 noise sigmas, 2 channels)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    X = 0.3 + SIGMA * rng.standard_normal((n, N_CHANNELS))
    starts = list(np.arange(2.5, seconds - 1.0, 3.1)) + [b - 0.08 for b in borders]
    for t0 in starts:
        dur = rng.uniform(0.12, 0.3)
        m = (t >= t0) & (t <= t0 + dur)
        ch = rng.choice(np.arange(10, 40), 2, replace=False)
        X[np.ix_(m, ch)] += 10 * SIGMA * np.sin(np.pi * (t[m] - t0) / dur)[:, None]
    return t, X.astype(np.float32)


def _face(ch: np.ndarray) -> tuple:
    return (np.array([320.0, 180.0], np.float32), 150.0, np.zeros(52, np.float32), np.eye(4, dtype=np.float32),
            ch, np.zeros(6, np.float32), np.zeros(32, np.float32))


def _messages(t, X, borders, start, end, jid, warmup=parallel.WARMUP_FRAMES):
    """What scan() sends for the run of chunks [start, end); fake CRCs = frame index."""
    n_chunks = len(borders) + 1
    lo = 0 if start == 0 else int(np.searchsorted(t, borders[start - 1]))
    hi = len(t) if end >= n_chunks else int(np.searchsorted(t, borders[end - 1]))
    out = []
    if start > 0:
        out.append((jid, "head", [(t[i], i) for i in range(max(0, lo - warmup), lo)] + [(t[lo], lo)]))
    packer = parallel._Packer()
    for i in range(lo, hi):
        packer.add(float(t[i]), [_face(X[i])])
        if len(packer) == 16:
            out.append((jid, "frames", packer.pack()))
    if len(packer):
        out.append((jid, "frames", packer.pack()))
    tail = [(t[i], i) for i in range(max(0, hi - warmup), hi)] + [(t[hi], hi) if hi < len(t) else None]
    out.append((jid, "end", end, tail, end >= n_chunks, hi - lo))
    return out


def _config():
    return load_config().replace("events", include_blinks=True)


def test_runs_arriving_interleaved_give_the_single_analyzer_result():
    seconds = 60.0
    borders = parallel.chunk_borders(seconds, 5.0)
    t, X = _synthetic(seconds, borders)
    cfg = _config()

    # reference: one Analyzer over every frame in order
    ref = Analyzer(cfg)
    ref_events = []
    no_lm = np.zeros((0, 3), np.float32)
    for i in range(len(t)):
        f = _face(X[i])
        obs = [FaceObservation(0, no_lm, f[2], f[3])]
        ref_events += ref.step(i, float(t[i]), obs, [FaceFeatures(f[4], f[5], f[6], f[2][GAZE_IDX])]).events
    ref_events += ref.finish()
    straddling = [e for e in ref_events if any(e.onset < b <= e.offset for b in borders)]
    assert len(straddling) >= 3, "the signal must have events across chunk borders for this test to mean anything"

    # runs as work stealing would leave them, messages shuffled across runs (order kept within each run)
    runs = [(0, 3), (3, 4), (4, 8), (8, 11), (11, 12)]
    queues = [_messages(t, X, borders, s, e, jid) for jid, (s, e) in enumerate(runs)]
    rng = np.random.default_rng(0)
    order = parallel._Order(len(borders) + 1)
    for jid, (s, e) in enumerate(runs):
        order.add(parallel._Run(parallel._Job(jid, "x", None, tuple(borders), s, e, 8, True), jid))
    seen = []
    consumer = parallel._Consumer(Analyzer(cfg), lambda fr, res: seen.append((fr.index, fr.timestamp)), None,
                                  RunStats())
    while any(queues):
        k = rng.choice([i for i, q in enumerate(queues) if q])
        order.put(queues[k].pop(0))
        for item in order.take():
            assert item[0] == "frames"
            consumer.feed(item[1])
    assert order.finished
    consumer.emit(consumer.analyzer.finish())

    assert [i for i, _ in seen] == list(range(len(t)))  # every frame once, in order, global indices
    assert np.array_equal([ts for _, ts in seen], t)
    assert [e.to_json() for e in consumer.events] == [e.to_json() for e in ref_events]


def test_border_mismatch_stops_before_the_next_run():
    seconds = 20.0
    borders = parallel.chunk_borders(seconds, 5.0)
    t, X = _synthetic(seconds, borders)
    a = _messages(t, X, borders, 0, 2, 0)
    b = _messages(t, X, borders, 2, 4, 1)
    b[0] = (1, "head", b[0][2][:-1] + [(b[0][2][-1][0], -1)])  # the frame at the border differs
    order = parallel._Order(len(borders) + 1)
    for jid, (s, e) in enumerate([(0, 2), (2, 4)]):
        order.add(parallel._Run(parallel._Job(jid, "x", None, tuple(borders), s, e, 8, True), jid))
    for m in b + a:
        order.put(m)
    items = order.take()
    frames = sum(len(x[1]["ts"]) for x in items if x[0] == "frames")
    assert items[-1] == ("mismatch", 2)
    assert frames == int(np.searchsorted(t, borders[1]))  # only the first run's frames were released
    assert order.finished


# --------------------------------------------------------------------------- real clip


def _permissive():
    # The default thresholds find no event in this talking-face clip; these find some, so that the
    # comparison below covers events too, not only per-frame data.
    return _config().replace("segmenter", calibration_s=4.0, noise_floor=0.01, head_motion="flag")


def _collect(cfg, **kw):
    frames = []

    def on_result(fr, res):
        frames.append((fr.index, fr.timestamp, [f.track_id for f in res.faces],
                       [res.features[f.track_id].channels for f in res.faces],
                       [res.features[f.track_id].pose for f in res.faces]))

    if kw.pop("uncut", False):
        from detector.run.pipeline import run
        from detector.stages.landmarks import Landmarker
        from detector.stages.source import open_source

        with open_source(CLIP) as src, Landmarker(cfg.landmarks) as lm:
            events = run(src, lm, Analyzer(cfg), on_result=on_result)
    else:
        events = parallel.run_chunked(CLIP, cfg, Analyzer(cfg), on_result=on_result, **kw)
    return frames, events


def test_cli_cut_video_output_is_identical_for_any_worker_count(tmp_path):
    outs = {}
    for w in (1, 2):
        ev, csv = tmp_path / f"e{w}.jsonl", tmp_path / f"f{w}.csv"
        r = microexpr("analyze", str(CLIP), "-o", str(ev), "--frames-csv", str(csv), "--chunk-s", "5",
                      "--workers", str(w), "--include-blinks", "--no-progress")
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        assert "frames            472" in r.stdout
        outs[w] = (ev.read_bytes(), csv.read_text())
    assert outs[1] == outs[2]
    rows = outs[2][1].splitlines()[1:]
    assert [int(r.split(",")[1]) for r in rows] == list(range(472))  # global frame indices, each once
    ts = [float(r.split(",")[0]) for r in rows]
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_cut_run_against_uncut_run_within_stated_tolerance():
    cfg = _permissive()
    borders = parallel.chunk_borders(472 / 23.976, 5.0)
    cut, cut_events = _collect(cfg, workers=2, borders=borders)
    ref, ref_events = _collect(cfg, uncut=True)
    assert [f[:3] for f in cut] == [f[:3] for f in ref]  # same frames, indices, timestamps, track ids
    first = next(i for i, f in enumerate(ref) if f[1] >= borders[0])
    for a, b in zip(cut[:first], ref[:first]):  # before the first border: the same landmarker run
        assert all(np.array_equal(x, y) for x, y in zip(a[3], b[3]))
    # after it: another MediaPipe tracking trajectory, at the level of the frame-to-frame noise
    A = np.array([f[3][0] for f in ref if f[3]])
    B = np.array([f[3][0] for f in cut if f[3]])
    dev = np.median(np.abs(B - A)[first:], axis=0)
    jitter = np.median(np.abs(np.diff(A, axis=0)), axis=0)
    assert np.all(dev <= jitter + 1e-6), (dev / np.maximum(jitter, 1e-9)).max()
    assert not np.array_equal(A[first:], B[first:])  # (the test would be vacuous otherwise)
    # events: each uncut event has a cut one overlapping it, at most one appears or vanishes
    assert ref_events, "permissive config should find events in this clip"

    def overlaps(e, others):
        return any(min(e.offset_frame, o.offset_frame) >= max(e.onset_frame, o.onset_frame) for o in others)

    assert sum(not overlaps(e, cut_events) for e in ref_events) <= 1
    assert abs(len(cut_events) - len(ref_events)) <= 1


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker pids from /proc")
def test_ctrl_c_stops_workers_and_leaves_valid_jsonl(tmp_path):
    out = tmp_path / "e.jsonl"
    p = subprocess.Popen(
        [sys.executable, "-m", "detector", "analyze", str(CLIP), "-o", str(out), "--chunk-s", "2", "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    children: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not children:
        children |= procs.children(p.pid)
        time.sleep(0.1)
    assert children, "no worker process was started"
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stdout
    for line in out.read_text().splitlines():
        Event.from_dict(json.loads(line))
    time.sleep(0.5)
    assert not [c for c in children if Path(f"/proc/{c}").exists() and procs.alive(c)], "worker processes left running"






# --------------------------------------------------------------------------- many files


def test_many_files_bad_one_reported_and_skipped(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "single_face.mp4").write_bytes((DATA / "single_face.mp4").read_bytes())
    (folder / "broken.mp4").write_bytes(b"not a video\n" * 50)
    out = tmp_path / "out"
    r = microexpr("analyze", str(folder), str(DATA / "no_face.mp4"), "-o", str(out), "--workers", "2",
                  "--no-progress")
    assert r.returncode == 1, r.stderr  # some failed
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("microexpr: error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0] and "not a readable video" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["no_face.events.jsonl", "single_face.events.jsonl"]
    # the same result as analysing that file alone
    alone = tmp_path / "alone.jsonl"
    r1 = microexpr("analyze", str(DATA / "single_face.mp4"), "-o", str(alone), "-q")
    assert r1.returncode == 0, r1.stderr
    assert (out / "single_face.events.jsonl").read_bytes() == alone.read_bytes()
    assert "1 failed" in r.stdout and "2 done" in r.stdout


def test_many_files_all_failing_exit_2(tmp_path):
    r = microexpr("analyze", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-o", str(tmp_path / "o"),
                  "--no-progress")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("microexpr: error:")]
    assert len(errors) == 2 and all("no such file" in e for e in errors)


def test_many_files_output_must_be_a_folder(tmp_path):
    f = tmp_path / "events.jsonl"
    f.write_text("")
    r = microexpr("analyze", str(DATA / "single_face.mp4"), str(DATA / "no_face.mp4"), "-o", str(f))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "must be a folder" in lines[0]


def test_workers_must_be_positive():
    r = microexpr("analyze", str(DATA / "single_face.mp4"), "--workers", "0")
    assert r.returncode == 2 and "--workers" in r.stderr and "Traceback" not in r.stderr
