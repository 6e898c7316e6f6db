"""The seeded sequence of rounds: which emotion, on which face, with which draws.

Everything random in a session comes from here, drawn from the seed alone (not
from the answers), so a seed fixes the emotions in order: a test that knows the
seed knows the right answers.  The answers only move the difficulty
(:mod:`.ladder`), which picks among the round's pre-drawn options.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.app.eyetrain.options import EMOTIONS
from detector.core import facs

#: What a masked round shows after the micro-expression: a social smile.
MASK_AUS: tuple[str, ...] = ("AU06", "AU12")


@dataclass(frozen=True)
class RoundPlan:
    """One round's random draws.  ``kind_draw`` (0..1) picks full / subtle / masked at the round's level;
    ``variant_draw`` (0..1) picks among an emotion's prototypes or its one-region subsets."""

    index: int
    emotion: str
    face_index: int
    kind_draw: float
    variant_draw: float
    fore_jitter: float


def emotion_sequence(rng: np.random.Generator, rounds: int) -> list[str]:
    """Balanced order: blocks of the seven emotions, each block shuffled."""
    out: list[str] = []
    while len(out) < rounds:
        out += [EMOTIONS[i] for i in rng.permutation(len(EMOTIONS))]
    return out[:rounds]


def session_plan(seed: int, rounds: int, n_faces: int) -> list[RoundPlan]:
    """The rounds of a session with this seed (the same for any answers)."""
    rng = np.random.default_rng(seed)
    emotions = emotion_sequence(rng, rounds)
    face_order = rng.permutation(n_faces)
    draws = rng.random((rounds, 3))
    return [
        RoundPlan(k, emotions[k], int(face_order[k % n_faces]), float(d[0]), float(d[1]), float(d[2]))
        for k, d in enumerate(draws)
    ]


def _pick(options: list, draw: float):
    return options[min(int(draw * len(options)), len(options) - 1)]


def round_aus(plan: RoundPlan, kind: str) -> tuple[str, ...]:
    """The AUs the round's flash shows: a prototype of the emotion, or for a subtle round one region of it."""
    if kind == "subtle" and facs.PARTIALS.get(plan.emotion):
        regions = sorted(facs.PARTIALS[plan.emotion])
        return facs.PARTIALS[plan.emotion][_pick(regions, plan.variant_draw)]
    return _pick(facs.PROTOTYPES[plan.emotion], plan.variant_draw)


def key_of(emotion: str) -> str:
    """The key that names an emotion: ``"1"`` for anger ... ``"7"`` for surprise."""
    return str(EMOTIONS.index(emotion) + 1)


def emotion_of_key(key: int) -> str | None:
    """The emotion a ``cv2.waitKey`` code names (keys 1-7), or None."""
    ch = key & 0xFF if key >= 0 else -1
    k = ch - ord("1")
    return EMOTIONS[k] if 0 <= k < len(EMOTIONS) else None
