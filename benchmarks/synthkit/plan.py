"""Planning events: emotions, variants, intensities, distractors, schedules, and the fixed smoke clip."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from detector.core import facs
from detector.lab.facewarp import (
    Face,
    _Geom,
    _side,
    expand_aus,
)
from detector.core.facs import PARTIALS

from benchmarks.synthkit.events import EventSpec, drawn_length
from benchmarks.synthkit.faces import load_face
from benchmarks.synthkit.fields import calibrate
from benchmarks.synthkit.render import Clip, make_clip

# ---------------------------------------------------------------------------
# Planning events: emotions, variants, intensities calibrated to a peak
# ---------------------------------------------------------------------------

MICRO_PEAK_RANGE = {"weak": (0.3, 0.7), "medium": (0.7, 1.5), "strong": (1.5, 2.0)}  # percent IOD
MACRO_PEAK_RANGE = (2.0, 8.0)  # percent IOD




def _choose_aus(rng: np.random.Generator, emotion: str, variant: str) -> tuple[str, ...]:
    alts = facs.PROTOTYPES[emotion]
    if emotion == "contempt":
        return alts[int(rng.integers(len(alts)))]
    if variant.startswith("partial_"):
        return PARTIALS[emotion][variant.split("_", 1)[1]]
    return alts[int(rng.integers(len(alts)))]


def expression_event(
    rng: np.random.Generator,
    g: _Geom,
    onset: float,
    emotion: str,
    kind: str,
    variant: str = "prototype",
    band: str | None = None,
    peak_pct: float | None = None,
) -> EventSpec:
    """A micro or macro event of ``emotion`` at ``onset`` s, intensities calibrated to a peak displacement.

    ``variant``: ``prototype``, ``partial_upper``, ``partial_lower`` (see
    :data:`PARTIALS`) or ``one_sided`` (contempt).  Micro: 40-450 ms, peak in
    ``band`` (:data:`MICRO_PEAK_RANGE`); macro: 0.8-3 s, peak 2-8 % IOD.
    """
    aus = expand_aus(_choose_aus(rng, emotion, variant))
    asym = {a: (rng.uniform(0.8, 1.0) if _side(a) else 1.0) for a in aus}
    rel = {a: float(rng.uniform(0.6, 1.0) * asym[a]) for a in aus}
    top = max(rel.values())
    rel = {a: r / top for a, r in rel.items()}
    if kind == "micro":
        dur = float(rng.uniform(0.04, 0.45))
        hold = float(rng.uniform(0.0, 0.2) * dur) if dur > 0.15 else 0.0
        if peak_pct is None:
            lo, hi = MICRO_PEAK_RANGE[band or "medium"]
            peak_pct = float(rng.uniform(lo, hi))
    else:
        dur = float(rng.uniform(0.8, 3.0))
        hold = float(rng.uniform(0.2, 0.5) * dur)
        if peak_pct is None:
            peak_pct = float(rng.uniform(*MACRO_PEAK_RANGE))
    rise = float(rng.uniform(0.3, 0.6)) * (dur - hold)
    fall = dur - hold - rise
    intens = calibrate(g, rel, peak_pct)
    return EventSpec(onset, rise, fall, hold, intens, kind, emotion, variant)


def blink_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A blink (AU45 both eyes, 100-400 ms, 75-100 % closure): a distractor."""
    dur = float(rng.uniform(0.1, 0.4))
    rise = dur * float(rng.uniform(0.3, 0.45))
    hold = min(0.03, dur * 0.1) * float(rng.uniform(0, 1))
    inten = float(rng.uniform(0.75, 1.0))
    return EventSpec(onset, rise, dur - rise - hold, hold, {"AU45": round(inten, 4)}, "blink", "neutral", "blink")


def drift_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A slow head move to a new pose (1-3 s; up to 0.15 IOD, 3 deg, 3 % scale): a distractor."""
    dur = float(rng.uniform(1.0, 3.0))
    pose = (
        float(rng.uniform(-0.15, 0.15)),
        float(rng.uniform(-0.1, 0.1)),
        float(rng.uniform(-3.0, 3.0)),
        float(rng.uniform(0.97, 1.03)),
    )
    return EventSpec(onset, dur / 2, dur / 2, 0.0, {}, "distractor", "neutral", "head_drift", drift=pose)


def flicker_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A burst of brightness flicker (1-2.5 s, 1-4 % at 2-12 Hz): a distractor."""
    dur = float(rng.uniform(1.0, 2.5))
    return EventSpec(
        onset, 0.2 * dur, 0.2 * dur, 0.6 * dur, {}, "distractor", "neutral", "flicker",
        flicker=(float(rng.uniform(0.01, 0.04)), float(rng.uniform(2.0, 12.0))),
    )  # fmt: skip


def light_step_event(rng: np.random.Generator, onset: float) -> EventSpec:
    """A lasting brightness change of 3-8 % over 50-300 ms (a light switched): a distractor."""
    dur = float(rng.uniform(0.05, 0.3))
    change = float(rng.uniform(0.03, 0.08)) * (1 if rng.random() < 0.5 else -1)
    return EventSpec(onset, dur / 2, dur / 2, 0.0, {}, "distractor", "neutral", "light_step", flicker=(change, 0.0))


def schedule(
    rng: np.random.Generator,
    items: Sequence,
    lead: float = 1.5,
    gap: tuple[float, float] = (1.0, 1.6),
) -> tuple[list[EventSpec], float]:
    """Place items one after another: ``lead`` s of neutral first, ``gap`` s of neutral between.

    ``items`` are callables ``onset -> EventSpec``.  Returns the events and the
    clip duration (1-1.5 s of neutral after the last one).
    """
    t = lead + float(rng.uniform(0.0, 0.3))
    out: list[EventSpec] = []
    for make in items:
        e = make(t)
        out.append(e)
        t = e.onset + drawn_length(e) + float(rng.uniform(*gap))
    return out, t + float(rng.uniform(0.0, 0.5))


def smoke_clip(face: Face | None = None, fps: float = 100.0, seed: int = 0) -> Clip:
    """A small fixed clip for end-to-end tests (about 10 s; cheap at 100 fps).

    Events, in order: happiness micro (300 ms, 1.8 % IOD), a blink, sadness
    micro (350 ms, 1.2 %), surprise macro (1.5 s, 4 %), anger micro (250 ms,
    1.6 %), contempt (one-sided) micro (400 ms, 1.8 %).  Noise 1 grey level,
    no head motion.  Default face: ``man_video`` (tune split).
    """
    face = face if face is not None else load_face("man_video")
    g = _Geom(face)
    rng = np.random.default_rng([seed, 5])
    plan = [
        ("happiness", "prototype", 0.30, 1.8),
        ("blink", "", 0.20, 0.0),
        ("sadness", "prototype", 0.35, 1.2),
        ("surprise", "prototype", 1.50, 4.0),
        ("anger", "prototype", 0.25, 1.6),
        ("contempt", "one_sided", 0.40, 1.8),
    ]
    t = 1.6
    events = []
    for emo, variant, dur, peak in plan:
        if emo == "blink":
            events.append(EventSpec(t, 0.08, 0.12, 0.0, {"AU45": 1.0}, "blink", "neutral", "blink"))
        else:
            aus = expand_aus(_choose_aus(rng, emo, variant))
            inten = calibrate(g, {a: 1.0 for a in aus}, peak)
            hold = 0.3 * dur if dur > 0.5 else 0.0
            rise = 0.4 * (dur - hold)
            kind = "micro" if dur < 0.5 else "macro"
            events.append(EventSpec(t, rise, dur - hold - rise, hold, inten, kind, emo, variant))
        t += dur + 1.2
    return make_clip(face, events, fps, duration=t, noise_sigma=1.0, seed=seed)
