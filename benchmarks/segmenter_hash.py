"""One SHA-256 over every event the segmenter reports, to prove a refactor changes nothing.

Runs :func:`detector.stages.segmenter.segment` and the streaming :class:`detector.stages.segmenter.Segmenter`
(``update`` / ``gap`` / ``reset_baseline`` / ``flush``) over

a) synthetic signals from ``tests/synthetic_signals.py`` (many seeds; several configs: defaults,
   speech off, ``head_motion="flag"``, ``noise_adapt_s=0``, ``min_duration_s`` > 0, ``top_k=1``,
   a small ``max_fps`` so that the streaming ring grows, ...), with blinks, mouth/jaw oscillations
   like speech, head turns, long states, NaN rows and time jumps longer than ``gap_s`` and
   ``recalibrate_gap_s``;
b) cached feature tracks of ``benchmarks/run_suite.py`` (``--work``, default
   ``/tmp/microexpr_suite``), through the pipeline's channel masks (:func:`detector.run.pipeline.new_segmenter`).

Every field of every Segment goes into the hash (frames, times as ``float.hex``, kind, region,
the bytes of region_activation / baseline / apex_values, intensity, head_motion); a second hash
covers the streaming segmenter's per-frame ``state``, ``speech_mode`` and ``last_activation``.

The tracks hashed are an explicit list: ``--save-files F.json`` globs the work folder and saves
the list, ``--files F.json`` hashes exactly the files listed there (the folder may have grown).

Usage::

    python benchmarks/segmenter_hash.py --save-files benchmarks/segmenter_hash_files.json
    python benchmarks/segmenter_hash.py --files benchmarks/segmenter_hash_files.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``detector``, ``benchmarks`` and ``tests`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.run_suite import DEFAULT_WORK, Track  # noqa: E402
from detector.run.config import load_config  # noqa: E402
from detector.stages.features import BLINK_CHANNELS, CHANNEL_REGIONS, EYE_CLOSURE_CHANNELS, SPEECH_CHANNELS  # noqa: E402
from detector.run.pipeline import new_segmenter  # noqa: E402
from detector.stages.segmenter import Segmenter, SegmenterConfig, segment  # noqa: E402
from tests.synthetic_signals import SynthEvent, event_bank, make_clip, make_times, plateau_profile  # noqa: E402

PER_REGION = 10
MOUTH, JAW, BROWS, EYES = 4, 5, 0, 1

CONFIGS: dict[str, SegmenterConfig] = {
    "default": SegmenterConfig(),
    "speech_off": SegmenterConfig(speech_cycles=0),
    "flag": SegmenterConfig(head_motion="flag"),
    "no_adapt": SegmenterConfig(noise_adapt_s=0.0),
    "min_dur": SegmenterConfig(min_duration_s=0.1),
    "top1": SegmenterConfig(top_k=1),
    "small_ring": SegmenterConfig(max_fps=20.0),
    "no_lookahead_nokeep": SegmenterConfig(speech_lookahead_s=0.0, recalibrate_keeps_noise=False),
    "short_max": SegmenterConfig(max_duration_s=1.5, micro_max_s=0.3, tail_max_s=0.3, backtrack_widen=0.0),
    "smooth_wide": SegmenterConfig(smooth_s=0.06, end_hold_s=0.0, refine_z=6.0, top_k=3),
}


# --------------------------------------------------------------------------- hashing


def _seg_bytes(s) -> bytes:
    parts = [
        str(s.onset_frame), str(s.apex_frame), str(s.offset_frame),
        float(s.onset).hex(), float(s.apex).hex(), float(s.offset).hex(),
        s.kind, s.region, float(s.intensity).hex(), str(bool(s.head_motion)),
    ]
    b = "|".join(parts).encode()
    for a in (s.region_activation, s.baseline, s.apex_values):
        a = np.ascontiguousarray(a, dtype=np.float64)
        b += b"|" + str(a.shape).encode() + b":" + a.tobytes()
    return b + b"\n"


class Hasher:
    def __init__(self) -> None:
        self.events = hashlib.sha256()
        self.states = hashlib.sha256()
        self.counts: dict[str, int] = {}

    def add(self, name: str, segs) -> None:
        self.events.update(name.encode() + b"\n")
        for s in segs:
            self.events.update(_seg_bytes(s))
        self.counts[name] = len(segs)


# --------------------------------------------------------------------------- runners


def _stream(h: Hasher, name: str, sg: Segmenter, times, X, pose, frames=None, gaps=(), resets=(), pass_pose=True,
            gaze=None):
    """Feed every row (NaN rows too: the kernel skips them) with the optional gap()/reset_baseline() calls."""
    out = []
    st = h.states
    gaps, resets = set(gaps), set(resets)
    for i in range(times.shape[0]):
        if i in gaps:
            out += sg.gap()
        if i in resets:
            sg.reset_baseline()
        fr = None if frames is None else int(frames[i])
        out += sg.update(float(times[i]), X[i], pose[i] if pass_pose else None, fr, None if gaze is None else gaze[i])
        la = sg.last_activation()
        st.update(f"{sg.state}{int(sg.speech_mode)}{int(sg.calibrating)}".encode())
        if la is not None:
            st.update(float(la[0]).hex().encode() + float(la[1]).hex().encode() + la[2].tobytes())
    out += sg.flush()
    b = sg.baseline
    st.update(b"none" if b is None else b.tobytes())
    st.update(str(sg.ring_frames).encode())
    h.add(name, out)


def _both(h: Hasher, name: str, cfg: SegmenterConfig, times, X, pose, regions, blink, closure=None, speech=None,
          gaps=(), resets=(), frames=None):
    h.add(name + "/segment", segment(times, X, pose, regions, blink, cfg, frames=frames, closure_channels=closure,
                                     speech_channels=speech))
    sg = Segmenter(regions, blink, cfg, closure_channels=closure, speech_channels=speech)
    _stream(h, name + "/stream", sg, times, X, pose, frames=frames, gaps=gaps, resets=resets)


def _closure_mask(C: int) -> np.ndarray:
    m = np.zeros(C, bool)
    m[EYES * PER_REGION:EYES * PER_REGION + 2] = True
    return m


def _speech_mask(regions: np.ndarray) -> np.ndarray:
    return (regions == MOUTH) | (regions == JAW)


def _blinks_and_speech_clip(seed: int, fps: float, jitter: float):
    """Blinks (eye channels with closure gauges), syllable-like mouth/jaw oscillation with a brow raise
    during it, a single smile, a long (> 4 s) plateau, head turns, events on top."""
    rng = np.random.default_rng(seed)
    dur = 26.0
    times = make_times(dur, fps, rng, jitter)
    C = 6 * PER_REGION
    extra = []
    # blinks: both closure gauges and two more eye channels, 0.15-0.3 s
    blink_sig = np.zeros((times.shape[0], 4))
    for t0 in (2.0, 5.5, 21.0):
        d = rng.uniform(0.15, 0.3)
        p = np.clip(np.sin(np.pi * np.clip((times - t0) / d, 0.0, 1.0)), 0.0, None)
        blink_sig += rng.uniform(10, 40) * p[:, None]
    extra.append((list(range(EYES * PER_REGION, EYES * PER_REGION + 4)), blink_sig))
    # speech: 4-5 Hz mouth/jaw oscillation 7-11 s and 18-20 s
    hz = rng.uniform(3.5, 5.5)
    osc = np.where(((times > 7.0) & (times < 11.0)) | ((times > 18.0) & (times < 20.0)),
                   np.maximum(0.0, np.sin(2 * np.pi * hz * times)), 0.0)
    mj = [MOUTH * PER_REGION, MOUTH * PER_REGION + 1, JAW * PER_REGION]
    extra.append((mj, rng.uniform(8, 20) * osc[:, None] * np.ones(3)))
    # long plateau (> max_duration_s) on cheeks 12.5-17.5 s
    plateau = plateau_profile(times, 12.5, 0.3, 4.6, 0.3)
    extra.append(([2 * PER_REGION + 3, 2 * PER_REGION + 4], rng.uniform(8, 15) * plateau))
    events = [
        SynthEvent(9.0, 9.08, 9.2, (BROWS * PER_REGION + 1, BROWS * PER_REGION + 2), float(rng.uniform(6, 20))),
        SynthEvent(3.5, 3.6, 3.9, (MOUTH * PER_REGION + 5, MOUTH * PER_REGION + 6), float(rng.uniform(6, 20))),
        SynthEvent(22.5, 22.7, 23.6, (3 * PER_REGION + 1, 3 * PER_REGION + 2, 5), float(rng.uniform(5, 30)),
                   shape="linear"),
        SynthEvent(24.5, 24.55, 24.62, (BROWS * PER_REGION + 7, 2 * PER_REGION + 8), float(rng.uniform(15, 40))),
    ]
    turns = [(4.5, 0.4, float(rng.uniform(10, 40))), (23.0, 0.5, float(rng.uniform(5, 40)))]
    clip = make_clip(dur, fps, events, seed=seed, jitter=jitter, head_turns=turns, extra=extra, times=times)
    assert clip.X.shape[1] == C
    return clip


def _with_gaps(times: np.ndarray, X: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """NaN rows (a lost face), time jumps of 0.4 s (> gap_s) and 3 s (> recalibrate_gap_s)."""
    N = times.shape[0]
    X = X.copy()
    times = times.copy()
    a = int(rng.integers(N // 6, N // 4))
    X[a:a + int(rng.integers(3, 40))] = np.nan
    b = int(rng.integers(N // 3, N // 2))
    times[b:] += 0.4
    c = int(rng.integers(N // 2 + 10, 3 * N // 4))
    times[c:] += 3.0
    d = int(rng.integers(3 * N // 4 + 5, N - 5))
    X[d, int(rng.integers(0, X.shape[1]))] = np.inf
    return times, X, [a, b, c, d]


def synthetic(h: Hasher, n_seeds: int) -> None:
    regions = np.repeat(np.arange(6, dtype=np.int64), PER_REGION)
    blink = np.zeros(regions.shape[0], bool)
    blink[EYES * PER_REGION:EYES * PER_REGION + 4] = True
    closure = _closure_mask(regions.shape[0])
    speech = _speech_mask(regions)
    names = list(CONFIGS)
    for seed in range(n_seeds):
        rng = np.random.default_rng(1000 + seed)
        # event banks: micro and macro, strong and weak, 200 and 30 fps, jitter
        for micro in (True, False):
            snr = (5.0, 9.0, 25.0)[seed % 3]
            fps = (200.0, 30.0, 60.0)[seed % 3]
            clip = event_bank(snr, n_events=8, fps=fps, seed=seed, micro=micro, jitter=0.2 * (seed % 2),
                              shape=("cosine", "linear")[seed % 2])
            for cname in (names[seed % len(names)], names[(seed + 3) % len(names)], "default"):
                cfg = CONFIGS[cname]
                _both(h, f"bank{seed}/{'micro' if micro else 'macro'}/{cname}", cfg, clip.times, clip.X, clip.pose,
                      clip.regions, clip.blink)
        # blinks, speech, long states, head turns; with and without gaps
        fps = (200.0, 60.0, 30.0, 120.0)[seed % 4]
        clip = _blinks_and_speech_clip(seed, fps, 0.15 * (seed % 2))
        for cname in (names[seed % len(names)], names[(seed + 5) % len(names)], "default", "speech_off"):
            cfg = CONFIGS[cname]
            _both(h, f"bs{seed}/{cname}", cfg, clip.times, clip.X, clip.pose, clip.regions, clip.blink,
                  closure=closure, speech=speech if seed % 2 else None)
        times, X, marks = _with_gaps(clip.times, clip.X, rng)
        for cname in ("default", names[(seed + 1) % len(names)]):
            cfg = CONFIGS[cname]
            frames = np.arange(times.shape[0], dtype=np.int64) * 2 + 7
            _both(h, f"bsgap{seed}/{cname}", cfg, times, X, clip.pose, clip.regions, clip.blink, closure=closure,
                  speech=speech, gaps=(marks[0] + 50, marks[3] - 3), resets=(marks[1] + 400,),
                  frames=frames if seed % 2 else None)
        # float32 input to the streaming path, pose omitted
        sg = Segmenter(clip.regions, clip.blink, CONFIGS["small_ring"], closure_channels=closure)
        _stream(h, f"bs{seed}/f32/small_ring", sg, clip.times, clip.X.astype(np.float32),
                clip.pose.astype(np.float32), pass_pose=(seed % 2 == 0))
        # pose with NaNs (a missing pose value repeats the last one)
        pose = clip.pose.copy()
        pose[int(rng.integers(10, pose.shape[0] - 10)), int(rng.integers(0, 6))] = np.nan
        _both(h, f"bsposenan{seed}/flag", CONFIGS["flag"], clip.times, clip.X, pose, clip.regions, clip.blink,
              closure=closure)


def tracks(h: Hasher, files: list[str]) -> None:
    config = load_config()
    variants = {"config": config.segmenter, "speech_off": replace(config.segmenter, speech_cycles=0),
                "flag": replace(config.segmenter, head_motion="flag")}
    for f in files:
        tr = Track.load(Path(f))
        if tr is None:
            raise SystemExit(f"cannot load track {f}")
        name = Path(f).parent.name + "/" + Path(f).name
        gaze = tr.gaze()
        for vname, seg_cfg in variants.items():
            h.add(f"{name}/{vname}/segment",
                  segment(tr.times, tr.X, tr.pose, CHANNEL_REGIONS, BLINK_CHANNELS, seg_cfg,
                          closure_channels=EYE_CLOSURE_CHANNELS, speech_channels=SPEECH_CHANNELS, gaze=gaze))
        # streaming as run_suite.segmenter_states feeds it: face frames only, caller frame indices
        sg = new_segmenter(config)
        idx = np.flatnonzero(tr.present)
        _stream(h, f"{name}/config/stream", sg, tr.times[idx], tr.X[idx], tr.pose[idx], frames=idx,
                gaze=gaze[idx])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--files", type=Path, help="JSON list of the track files to hash (exactly these)")
    ap.add_argument("--save-files", type=Path, help="glob the work folder's *.npz and save the list here")
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--counts", action="store_true", help="print the event count of every input")
    a = ap.parse_args(argv)
    if a.files:
        files = json.loads(a.files.read_text())
    else:
        files = sorted(str(p) for p in a.work.rglob("*.npz") if not p.name.endswith(".tmp.npz"))
        if a.save_files:
            a.save_files.write_text(json.dumps(files, indent=1) + "\n")
    h = Hasher()
    synthetic(h, a.seeds)
    n_syn = len(h.counts)
    ev_syn = sum(h.counts.values())
    tracks(h, files)
    if a.counts:
        for k, v in h.counts.items():
            print(f"{v:6d}  {k}")
    print(f"synthetic inputs {n_syn} ({ev_syn} events); tracks {len(files)} "
          f"({len(h.counts) - n_syn} runs, {sum(h.counts.values()) - ev_syn} events)")
    print(f"events sha256 {h.events.hexdigest()}")
    print(f"states sha256 {h.states.hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
