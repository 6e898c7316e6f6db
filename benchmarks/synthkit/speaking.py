"""The speaking band: a face that talks, plainly or with an emotion (speech-aware labels, issue 17).

Each clip has a still lead-in, then three utterances with pauses between them:

* ``plain``: talking with no expression.  What fires there is a false alarm, and its label should
  be ``neutral``;
* ``mouth``: an emotion the mouth (and cheeks, brows) *holds* across the syllables, a macro
  expression from the utterance's first syllables to its end (a smile while talking, the corners
  held down in sadness, a one-sided contempt, a raised upper lip in disgust);
* ``upper``: an emotion of the brows and lids only (a micro or macro expression while talking).

Syllables are opening-closing cycles of the jaw and lips (AU26 + AU25 at 3.5-5.5 per second,
some with a lip press, AU24, or a rounding, AU23), drawn as distractors (``variant``
``syllable``); they are not truth events.
"""

from __future__ import annotations

import numpy as np

from detector.core import facs
from detector.lab.facewarp import Face, _Geom, au_field, expand_aus, min_jacobian

from benchmarks.synthkit.events import EventSpec
from benchmarks.synthkit.faces import SPLIT_KEYS, SPLITS
from benchmarks.synthkit.fields import calibrate
from benchmarks.synthkit.plan import blink_event
from benchmarks.synthkit.render import FOLD_MIN_JACOBIAN, Clip, make_clip

SPEAKING_CLIPS = 8  # per split
SYLLABLE_RATE_HZ = (3.5, 5.5)
UTTERANCE_S = (2.5, 4.0)
#: emotions held by the mouth while talking, and emotions of the upper face only; clip c shows
#: the (c mod n)-th of each (recipe keys ``mouth``, ``upper``: indices)
MOUTH_HELD: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("happiness", facs.PROTOTYPES["happiness"][0]),
    ("sadness", facs.PROTOTYPES["sadness"][0]),
    ("contempt", facs.PROTOTYPES["contempt"][0]),
    ("disgust", facs.PROTOTYPES["disgust"][1]),
    ("happiness", facs.PROTOTYPES["happiness"][0]),
    ("sadness", facs.PROTOTYPES["sadness"][0]),
    ("contempt", facs.PROTOTYPES["contempt"][1]),
    ("disgust", facs.PROTOTYPES["disgust"][0]),
)
UPPER_ONLY: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (e, facs.PARTIALS[e]["upper"]) for e in ("surprise", "anger", "fear", "sadness")
)


def syllable_events(rng: np.random.Generator, g: _Geom, start: float, end: float) -> list[EventSpec]:
    """Jaw and lip cycles from ``start`` to ``end`` s: each 0.12-0.26 s, jaw drop 0.15-0.45 of AU26's
    maximum (2.7-8 % IOD), lips parted, a quarter of them rounded (AU23); a quarter of the syllables are a lip press
    (AU24) instead.  A syllable that would fold the face's image (``g``) is drawn at 0.8x until it does not."""
    out = []
    t = start
    while True:
        rise, fall = float(rng.uniform(0.06, 0.12)), float(rng.uniform(0.06, 0.14))
        if t + rise + fall > end:
            return out
        if rng.uniform() < 0.25:  # /p b m/: the lips press together
            aus = {"AU24": float(rng.uniform(0.5, 1.0))}
        else:
            aus = {"AU26": float(rng.uniform(0.15, 0.45)), "AU25": float(rng.uniform(0.5, 1.0))}
            if rng.uniform() < 0.25:  # a rounded vowel
                aus["AU23"] = float(rng.uniform(0.3, 0.8))
        while min_jacobian(au_field(g, aus)) <= FOLD_MIN_JACOBIAN:
            aus = {a: 0.8 * v for a, v in aus.items()}
        out.append(EventSpec(t, rise, fall, 0.0, aus, "distractor", "neutral", "syllable"))
        t += float(rng.uniform(0.8, 1.2)) / float(rng.uniform(*SYLLABLE_RATE_HZ))


def _held(rng: np.random.Generator, g: _Geom, start: float, end: float, emotion: str,
          aus: tuple[str, ...]) -> EventSpec:
    """A macro expression from early in the utterance to its end (peak 2-5 % IOD)."""
    onset = start + float(rng.uniform(0.1, 0.6))
    rise, fall = float(rng.uniform(0.25, 0.5)), float(rng.uniform(0.3, 0.6))
    hold = max(0.3, end - onset - rise - float(rng.uniform(0.0, 0.4)))
    intens = calibrate(g, {a: float(rng.uniform(0.7, 1.0)) for a in expand_aus(aus)}, float(rng.uniform(2.0, 5.0)))
    return EventSpec(onset, rise, fall, hold, intens, "macro", emotion, "speaking_mouth")


def _upper(rng: np.random.Generator, g: _Geom, start: float, end: float, emotion: str,
           aus: tuple[str, ...]) -> EventSpec:
    """A micro (0.2-0.45 s, 0.8-2 % IOD) or macro (0.8-1.8 s, 2-5 %) upper-face expression while talking."""
    micro = rng.uniform() < 0.5
    dur = float(rng.uniform(0.2, 0.45) if micro else rng.uniform(0.8, 1.8))
    hold = 0.0 if micro else 0.4 * dur
    rise = float(rng.uniform(0.35, 0.55)) * (dur - hold)
    onset = start + float(rng.uniform(0.3, max(0.31, end - start - dur - 0.2)))
    peak = float(rng.uniform(0.8, 2.0) if micro else rng.uniform(2.0, 5.0))
    intens = calibrate(g, {a: float(rng.uniform(0.7, 1.0)) for a in expand_aus(aus)}, peak)
    return EventSpec(onset, rise, dur - hold - rise, hold, intens, "micro" if micro else "macro", emotion,
                     "speaking_upper")


def speaking_plan(split: str, seed: int, n_clips: int | None = None) -> list[dict]:
    """Recipes of the speaking band of a split (see :func:`build_speaking_clip`): a still lead-in of
    2-2.5 s, then a plain, a mouth-held and an upper-face utterance in random order, 1.2-2 s apart;
    sensor noise 1-3 grey levels, slow sway."""
    faces = SPLITS[split]
    rng = np.random.default_rng([seed, 23, SPLIT_KEYS[split]])
    clips = []
    for c in range(n_clips if n_clips is not None else SPEAKING_CLIPS):
        clips.append({
            "face": faces[c % len(faces)],
            "utterances": [str(u) for u in rng.permutation(["plain", "mouth", "upper"])],
            "mouth": c % len(MOUTH_HELD),
            "upper": c % len(UPPER_ONLY),
            "lead_s": float(rng.uniform(2.0, 2.5)),
            "noise_sigma": (1.0, 2.0, 3.0)[c % 3],
            "seed": int(rng.integers(2**31)),
        })
    return clips


def build_speaking_clip(face: Face, recipe: dict, fps: float) -> Clip:
    """Render-ready clip from a recipe of :func:`speaking_plan` (the same events at any ``fps``)."""
    rng = np.random.default_rng(recipe["seed"])
    g = _Geom(face)
    mouth = MOUTH_HELD[recipe["mouth"]]
    upper = UPPER_ONLY[recipe["upper"]]
    events: list[EventSpec] = []
    t = recipe["lead_s"]
    for kind in recipe["utterances"]:
        end = t + float(rng.uniform(*UTTERANCE_S))
        events += syllable_events(rng, g, t, end)
        if kind == "mouth":
            events.append(_held(rng, g, t, end, *mouth))
        elif kind == "upper":
            events.append(_upper(rng, g, t, end, *upper))
        t = end + float(rng.uniform(1.2, 2.0))
        if rng.uniform() < 0.5:  # a blink in the pause
            events.append(blink_event(rng, t - float(rng.uniform(0.6, 1.0))))
    return make_clip(face, events, fps, t + float(rng.uniform(0.3, 0.8)), noise_sigma=recipe["noise_sigma"],
                     seed=recipe["seed"], sway_iod=0.002)
