"""Suites: the tune/test suite plans and the real-like band, built into clips, written with annotations."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from detector.core import facs
from detector.lab.facewarp import (
    DEFAULT_IOD_PX,
    DEFAULT_SIZE,
    Face,
    _base,
    _Geom,
    _side,
    expand_aus,
)
from detector.core.facs import PARTIALS

from benchmarks.synthkit.events import EventSpec, drawn_length, read_truth
from benchmarks.synthkit.faces import load_face, SPLIT_KEYS, SPLITS
from benchmarks.synthkit.fields import calibrate
from benchmarks.synthkit.plan import blink_event, drift_event, expression_event, flicker_event, light_step_event, schedule
from benchmarks.synthkit.render import Clip, make_clip
from benchmarks.synthkit.speaking import build_speaking_clip, speaking_plan

# ---------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------

_NOISE_LEVELS = (0.5, 1.0, 2.0, 3.0)


def suite_plan(split: str, seed: int, n_clips: int | None = None) -> list[dict]:
    """Deterministic clip recipes of a split: which face and which items, in order (see :func:`build_clip`)."""
    faces = SPLITS[split]
    rng = np.random.default_rng([seed, 7, SPLIT_KEYS[split]])
    emotions = [e for e in facs.EMOTIONS if e != "neutral"]
    expr: list[tuple] = []
    for emo in emotions:
        variants = ["one_sided"] if emo == "contempt" else ["prototype"] + [f"partial_{r}" for r in PARTIALS[emo]]
        for i, band in enumerate(("weak", "medium", "strong") * 2):
            expr.append(("micro", emo, variants[i % len(variants)], band))
        for i in range(2):
            expr.append(("macro", emo, variants[i % len(variants)], "strong"))
    order = rng.permutation(len(expr))
    expr = [expr[i] for i in order]
    per_clip = 4
    n = n_clips if n_clips is not None else math.ceil(len(expr) / per_clip)
    clips = []
    for c in range(n):
        chunk = [expr[(c * per_clip + j) % len(expr)] for j in range(per_clip)]
        extras = ["blink"]
        if c % 2 == 0:
            extras.append("head_drift")
        if c % 3 == 1:
            extras.append("flicker")
        if c % 4 == 2:
            extras.append("light_step")
        if c % 2 == 1:
            extras.append("blink")
        items: list = [("expr",) + e for e in chunk] + [(x,) for x in extras]
        perm = rng.permutation(len(items))
        clips.append(
            {
                "face": faces[c % len(faces)],
                "items": [items[i] for i in perm],
                "noise_sigma": _NOISE_LEVELS[c % len(_NOISE_LEVELS)],
                "sway_iod": 0.004 if c % 2 == 0 else 0.0,
                "seed": int(rng.integers(2**31)),
            }
        )
    return clips


_suite_plan = suite_plan  # the earlier private name


def build_clip(face: Face, recipe: dict, fps: float) -> Clip:
    """Render-ready clip from a recipe of :func:`suite_plan` (the same events at any ``fps``)."""
    rng = np.random.default_rng(recipe["seed"])
    g = _Geom(face)
    makers = []
    for it in recipe["items"]:
        sub = np.random.default_rng(rng.integers(2**31))
        if it[0] == "expr":
            _, kind, emo, variant, band = it
            makers.append(lambda t, s=sub, k=kind, e=emo, v=variant, b=band: expression_event(s, g, t, e, k, v, b))
        elif it[0] == "blink":
            makers.append(lambda t, s=sub: blink_event(s, t))
        elif it[0] == "head_drift":
            makers.append(lambda t, s=sub: drift_event(s, t))
        elif it[0] == "flicker":
            makers.append(lambda t, s=sub: flicker_event(s, t))
        elif it[0] == "light_step":
            makers.append(lambda t, s=sub: light_step_event(s, t))
    events, duration = schedule(rng, makers)
    return make_clip(
        face, events, fps, duration, noise_sigma=recipe["noise_sigma"], seed=recipe["seed"],
        sway_iod=recipe["sway_iod"],
    )  # fmt: skip


def suite_clips(
    split: str = "tune",
    fps: float = 200.0,
    seed: int = 0,
    n_clips: int | None = None,
    iod_px: float = DEFAULT_IOD_PX,
    size: int = DEFAULT_SIZE,
) -> Iterator[tuple[str, Clip]]:
    """The clips of a suite, as ``(name, Clip)`` pairs, without writing anything (see :func:`make_suite`)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    faces: dict[str, Face] = {}
    for i, recipe in enumerate(suite_plan(split, seed, n_clips)):
        name = recipe["face"]
        if name not in faces:
            faces[name] = load_face(name, iod_px, size)
        yield f"{split}_{i:02d}_{name}", build_clip(faces[name], recipe, fps)


def make_suite(
    out_dir: str | Path,
    fps: float = 200.0,
    seed: int = 0,
    split: str = "tune",
    n_clips: int | None = None,
    fmt: str = "ffv1",
    iod_px: float = DEFAULT_IOD_PX,
    size: int = DEFAULT_SIZE,
    progress: bool = False,
) -> list[Path]:
    """Write a suite of clips of one split's faces (``tune`` and ``test`` share no face).

    By default 14 clips of 11-19 s (about 214 s in all): every emotion micro
    (x6: weak, medium, strong, twice, prototype and partial/one-sided
    variants) and macro (x2), i.e. 42 micro and 14 macro events, plus 21
    blinks, 7 head drifts, 5 flicker bursts, 3 light steps; noise 0.5-3 grey
    levels, slow sway in every other clip.  The events depend on ``seed`` and
    ``split`` only, not on ``fps``, so suites at 200 and 30 fps hold the same
    events.  Writes ``suite.json`` and ``annotations.csv`` beside the clips.
    Size: FFV1 of noisy frames is ~180 KB per 400x400 frame, so ~7.8 GB for a
    200 fps suite (~1.2 GB at 30 fps); ``fmt="mp4v"`` is ~1 KB per frame but
    lossy (see :func:`probe_mediapipe`).  Returns the paths of the videos.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    listing = []
    for stem, clip in suite_clips(split, fps, seed, n_clips, iod_px, size):
        paths.append(clip.write(out, stem, fmt))
        meta = {k: v for k, v in clip.meta.items() if k != "distractors"}
        listing.append({"name": stem, "video": paths[-1].name, "truth": f"{stem}.truth.jsonl", **meta})
        if progress:
            print(f"{paths[-1]}: {clip.n_frames} frames, {clip.meta['n_events']} expression events", file=sys.stderr)
    suite = {"split": split, "fps": fps, "seed": seed, "faces": list(SPLITS[split]), "clips": listing}
    (out / "suite.json").write_text(json.dumps(suite, indent=1) + "\n")
    sheet = [(c["name"], c["face"], read_truth(out / c["truth"])) for c in listing]
    write_annotations_csv(out / "annotations.csv", sheet)
    return paths


def write_annotations_csv(path: str | Path, clips: Sequence[tuple[str, str, Sequence[dict]]]) -> None:
    """One sheet for ``microexpr evaluate --dataset csv``: rows of (clip name, subject, truth rows)."""
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["clip", "subject", "onset_frame", "apex_frame", "offset_frame", "emotion", "kind", "fps", "notes"])
        for name, subject, rows in clips:
            for r in rows:
                notes = ";".join(f"{k}={r[k]}" for k in ("band", "variant", "peak_disp_iod", "region"))
                w.writerow(
                    [name, subject, r["onset_frame"], r["apex_frame"], r["offset_frame"], r["emotion"], r["kind"]]
                    + [r["fps"], notes]
                )




# ---------------------------------------------------------------------------
# Real-like band: micro-expressions as MediaPipe sees them on real faces
# ---------------------------------------------------------------------------

#: Aggregate figures of 73 real spontaneous micro-expressions (25 people, 200 fps) as MediaPipe
#: FaceLandmarker sees them: quantiles p10, p25, p50, p75, p90 over events (a copy of the
#: project's shared ``real_me_stats.json``; aggregate figures only, no data).
REAL_STATS_PATH = Path(__file__).resolve().parents[1] / "data" / "real_me_stats.json"
_QUANTILE_LEVELS = (0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 1.0)

#: (weight, emotion, AUs) of the real-like events.  AU4 is in about half of them, then AU7,
#: AU12, AU14, AU1, AU17, AU2, AU10, AU15, AU9, AU6, as in the coders' labels of real
#: micro-expressions; most move one region only.
REAL_LIKE_PATTERNS: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (0.16, "anger", ("AU04",)),
    (0.12, "anger", ("AU04", "AU07")),
    (0.08, "sadness", ("AU01", "AU04")),
    (0.06, "disgust", ("AU04", "AU09")),
    (0.06, "fear", ("AU01", "AU02", "AU04")),
    (0.10, "anger", ("AU07",)),
    (0.10, "happiness", ("AU12",)),
    (0.03, "happiness", ("AU06", "AU12")),
    (0.08, "contempt", ("AU14",)),
    (0.06, "surprise", ("AU01", "AU02")),
    (0.06, "sadness", ("AU17",)),
    (0.04, "sadness", ("AU15", "AU17")),
    (0.03, "disgust", ("AU10",)),
    (0.02, "disgust", ("AU09",)),
)
#: Peak landmark displacement of a real-like event, percent IOD, log-uniform.  Chosen so that
#: MediaPipe's strongest-channel deviation and per-frame SNR fall in the real ranges (see
#: benchmarks/RESULTS.md, "Real-like band": measured against real_me_stats.json).
REAL_LIKE_PEAK_PCT = (0.35, 2.0)
REAL_LIKE_ONE_SIDED = 0.4  # share of bilateral patterns shown on one side only (AU14 always)
REAL_LIKE_PARTIAL_BLINK = 0.8  # share of AU4/AU7 events whose lids also close partway
#: how far those lids close (AU45, fraction of the aperture), uniform.  From 0.3: below it MediaPipe's
#: eyeBlink hardly answers, and real events move it (issue 10: eyeBlink the strongest channel in 26 of 70).
REAL_LIKE_CLOSURE = (0.3, 0.55)


def real_stats() -> dict:
    """The aggregate figures of real micro-expressions (:data:`REAL_STATS_PATH`)."""
    return json.loads(REAL_STATS_PATH.read_text())


def _from_quantiles(rng: np.random.Generator, q: Sequence[float], lo: float, hi: float) -> float:
    """A draw from the distribution whose p10..p90 are ``q`` (linear between quantiles, ``lo``/``hi`` at p0/p100)."""
    return float(np.interp(rng.uniform(), _QUANTILE_LEVELS, [lo, *q, hi]))


def real_like_event(rng: np.random.Generator, g: _Geom, onset: float, stats: dict) -> list[EventSpec]:
    """A micro-expression shaped like the real ones, and the head movement that comes with it.

    Duration, rise and fall times and the level the face settles at after the offset
    (``residual``) are drawn from the real distributions in ``stats``; the AUs from
    :data:`REAL_LIKE_PATTERNS`, one-sided in :data:`REAL_LIKE_ONE_SIDED` of the bilateral
    ones; AU4/AU7 events close the lids partway (the partial blink real lid tightening
    shows).  The head turns a little during the event (0.1-0.45 deg of roll, 0.8-2.5 % IOD of
    translation, kept afterwards), as real heads do.  Returns [expression, head move]; the
    head move's ``drift`` is relative to the pose before it (:func:`build_real_like_clip`
    makes it absolute).
    """
    weights = np.array([w for w, _, _ in REAL_LIKE_PATTERNS])
    _, emotion, aus = REAL_LIKE_PATTERNS[int(rng.choice(len(weights), p=weights / weights.sum()))]
    side = ("L", "R")[int(rng.integers(2))]
    one_sided = emotion == "contempt" or rng.uniform() < REAL_LIKE_ONE_SIDED
    sided: dict[str, float] = {}
    for a in expand_aus(aus):
        if _side(a) is None or not one_sided or _side(a) == side:
            sided[a] = float(rng.uniform(0.6, 1.0))
    if set(aus) & {"AU04", "AU07"} and rng.uniform() < REAL_LIKE_PARTIAL_BLINK:
        lids = [f"AU45_{side}"] if one_sided else ["AU45_L", "AU45_R"]
        closure = float(rng.uniform(*REAL_LIKE_CLOSURE))
        sided.update({a: closure for a in lids})
    moving = {a: r for a, r in sided.items() if _base(a) != "AU45"}
    top = max(moving.values())
    peak_pct = float(np.exp(rng.uniform(*np.log(REAL_LIKE_PEAK_PCT))))
    intens = calibrate(g, {a: r / top for a, r in moving.items()}, peak_pct)
    intens.update({a: r for a, r in sided.items() if _base(a) == "AU45"})
    dur = _from_quantiles(rng, [x / 1000 for x in stats["duration_ms"]], 0.15, 0.495)
    rise = _from_quantiles(rng, [x / 1000 for x in stats["onset_to_peak_ms_of_strongest_channel"]], 0.06, 0.45)
    fall = _from_quantiles(rng, [x / 1000 for x in stats["peak_to_offset_ms_of_strongest_channel"]], 0.01, 0.32)
    rise = dur * float(np.clip(rise / (rise + fall), 0.25, 0.9))
    residual = _from_quantiles(rng, stats["offset_residual_over_peak_deviation_strongest_channel"], 0.0, 0.95)
    expr = EventSpec(onset, rise, dur - rise, 0.0, intens, "micro", emotion, "real_like", residual=residual)
    sgn = lambda: 1.0 if rng.uniform() < 0.5 else -1.0  # noqa: E731
    move = (sgn() * float(rng.uniform(0.008, 0.025)), sgn() * float(rng.uniform(0.008, 0.025)),
            sgn() * float(rng.uniform(0.1, 0.45)), 1.0)
    head = EventSpec(max(0.0, onset - 0.05), (dur + 0.1) / 2, (dur + 0.1) / 2, 0.0, {}, "distractor", "neutral",
                     "head_drift", drift=move)
    return [expr, head]


def eye_closure_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """Eyes closed on purpose (AU43): both lids shut for 0.6-3.3 s in all: a distractor, not an expression."""
    dur = float(rng.uniform(0.6, 3.3))
    rise, fall = float(rng.uniform(0.08, 0.2)), float(rng.uniform(0.1, 0.25))
    return EventSpec(onset, rise, fall, dur - rise - fall, {"AU45": round(float(rng.uniform(0.9, 1.0)), 4)},
                     "distractor", "neutral", "eye_closure")


def gaze_down_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A look down and back (AU64: iris and upper lids down), held 0.15-2 s: a distractor, not an expression."""
    rise, fall = float(rng.uniform(0.08, 0.25)), float(rng.uniform(0.08, 0.25))
    hold = float(np.exp(rng.uniform(np.log(0.15), np.log(2.0))))
    return EventSpec(onset, rise, fall, hold, {"AU64": round(float(rng.uniform(0.6, 1.0)), 4)},
                     "distractor", "neutral", "gaze_down")


REAL_LIKE_CLIPS = 12  # per split
REAL_LIKE_SHORT_LEAD_EVERY = 4  # every 4th clip has a lead-in of only 1 s (the rest 2-2.5 s)


def real_like_plan(split: str, seed: int, n_clips: int | None = None) -> list[dict]:
    """Recipes of the real-like band of a split (see :func:`build_real_like_clip`).

    Each clip: a still lead-in (2-2.5 s; 1 s in every :data:`REAL_LIKE_SHORT_LEAD_EVERY`-th
    clip), a real-like event first, then two more and, in random order, a blink and an
    eye closure or a downward gaze shift (alternating), with 1.2-2 s between items.
    Sensor noise 1.5-3 grey levels, slow sway in every other clip.
    """
    faces = SPLITS[split]
    rng = np.random.default_rng([seed, 17, SPLIT_KEYS[split]])
    clips = []
    for c in range(n_clips if n_clips is not None else REAL_LIKE_CLIPS):
        rest = ["real", "real", "blink", "eye_closure" if c % 2 == 0 else "gaze_down"]
        if c % 3 == 2:
            rest.append("blink")
        order = rng.permutation(len(rest))
        clips.append({
            "face": faces[c % len(faces)],
            "items": [("real",)] + [(rest[i],) for i in order],
            "lead_s": 1.0 if c % REAL_LIKE_SHORT_LEAD_EVERY == REAL_LIKE_SHORT_LEAD_EVERY - 1
            else float(rng.uniform(2.0, 2.5)),
            "noise_sigma": (1.5, 2.0, 3.0)[c % 3],
            "sway_iod": 0.002 if c % 2 == 1 else 0.0,
            "seed": int(rng.integers(2**31)),
        })
    return clips


def build_real_like_clip(face: Face, recipe: dict, fps: float) -> Clip:
    """Render-ready clip from a recipe of :func:`real_like_plan` (the same events at any ``fps``)."""
    rng = np.random.default_rng(recipe["seed"])
    g = _Geom(face)
    stats = real_stats()
    makers = {
        "real": lambda t, s: real_like_event(s, g, t, stats),
        "blink": lambda t, s: [blink_event(s, t)],
        "eye_closure": lambda t, s: [eye_closure_event(s, t)],
        "gaze_down": lambda t, s: [gaze_down_event(s, t)],
    }
    events: list[EventSpec] = []
    t = recipe["lead_s"]
    pose = np.array([0.0, 0.0, 0.0, 1.0])
    for (item,) in recipe["items"]:
        made = makers[item](t, np.random.default_rng(rng.integers(2**31)))
        for i, e in enumerate(made):
            if e.variant == "head_drift":  # the event's head move is relative: the head stays where it went
                pose = pose + np.array(e.drift) - np.array([0.0, 0.0, 0.0, 1.0])
                made[i] = replace(e, drift=tuple(float(x) for x in pose))
        events += made
        t = made[0].onset + drawn_length(made[0]) + float(rng.uniform(1.2, 2.0))
    return make_clip(face, events, fps, t + float(rng.uniform(0.5, 1.0)), noise_sigma=recipe["noise_sigma"],
                     seed=recipe["seed"], sway_iod=recipe["sway_iod"])


BANDS_OF_SUITE = {"suite": (suite_plan, build_clip), "real_like": (real_like_plan, build_real_like_clip),
                  "speaking": (speaking_plan, build_speaking_clip)}


def random_clip(
    face: Face, fps: float, seed: int, duration: float | None = None, noise_sigma: float | None = None
) -> Clip:
    """A clip of random events (micro/macro of random emotions, bands, variants, and distractors)."""
    rng = np.random.default_rng([seed, 11])
    g = _Geom(face)
    emotions = [e for e in facs.EMOTIONS if e != "neutral"]

    def expr(t: float, s: np.random.Generator) -> EventSpec:
        emo = emotions[int(s.integers(len(emotions)))]
        kind = "micro" if s.random() < 0.7 else "macro"
        variants = ["one_sided"] if emo == "contempt" else ["prototype"] + [f"partial_{r}" for r in PARTIALS[emo]]
        variant = variants[int(s.integers(len(variants)))]
        band = ("weak", "medium", "strong")[int(s.integers(3))]
        return expression_event(s, g, t, emo, kind, variant, band)

    kinds = {
        "expr": expr,
        "blink": lambda t, s: blink_event(s, t),
        "head_drift": lambda t, s: drift_event(s, t),
        "flicker": lambda t, s: flicker_event(s, t),
        "light_step": lambda t, s: light_step_event(s, t),
    }
    names, probs = ["expr", "blink", "head_drift", "flicker", "light_step"], [0.6, 0.2, 0.1, 0.05, 0.05]
    t = 1.5 + float(rng.uniform(0.0, 0.3))
    events: list[EventSpec] = []
    limit = duration if duration is not None else 12.0
    while True:
        sub = np.random.default_rng(rng.integers(2**31))
        kind = names[int(rng.choice(len(names), p=probs))]
        e = kinds[kind](t, sub)
        if duration is not None and e.onset + drawn_length(e) + 1.0 > limit:
            break
        events.append(e)
        t = e.onset + drawn_length(e) + float(rng.uniform(1.0, 1.6))
        if duration is None and t > limit:
            break
    noise = _NOISE_LEVELS[int(rng.integers(len(_NOISE_LEVELS)))] if noise_sigma is None else noise_sigma
    return make_clip(face, events, fps, duration if duration is not None else t + 0.5, noise, seed)
