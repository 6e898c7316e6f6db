"""Adaptive difficulty: a staircase on flash duration and intensity.

A correct answer shortens the next flash (``x duration_step``, down to 40 ms)
and lowers the intensity (``- intensity_step``, down to ``min_intensity``); a
wrong answer undoes one step.  Short flashes unlock subtle (one-region) and
then masked (micro-expression, then a smile) rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from detector.app.eyetrain.options import MAX_DURATION_MS, MIN_DURATION_MS, TrainOptions
from detector.core.facs import PARTIALS

ROUND_KINDS: tuple[str, ...] = ("full", "subtle", "masked")


@dataclass(frozen=True)
class Level:
    """Where the staircase stands: the next flash's requested duration and AU intensity."""

    duration_ms: float
    intensity: float


def first_level(opts: TrainOptions) -> Level:
    return Level(float(opts.start_duration_ms), float(opts.start_intensity))


def next_level(level: Level, correct: bool, opts: TrainOptions) -> Level:
    """The level after an answer."""
    if correct:
        duration = max(MIN_DURATION_MS, level.duration_ms * opts.duration_step)
        intensity = max(opts.min_intensity, level.intensity - opts.intensity_step)
    else:
        duration = min(MAX_DURATION_MS, level.duration_ms / opts.duration_step)
        intensity = min(opts.start_intensity, level.intensity + opts.intensity_step)
    return replace(level, duration_ms=round(duration, 3), intensity=round(intensity, 3))


def round_kind(level: Level, draw: float, emotion: str, opts: TrainOptions) -> str:
    """``full``, ``subtle`` or ``masked`` for a round at ``level``; ``draw`` is the round's uniform 0..1 number.

    Masked rounds need an emotion other than happiness (the mask is a smile); subtle ones an emotion
    with a one-region subset (see :data:`detector.core.facs.PARTIALS`); otherwise the round is full.
    """
    if level.duration_ms < opts.masked_below_ms and draw < opts.masked_share and emotion != "happiness":
        return "masked"
    subtle_lo = opts.masked_share if level.duration_ms < opts.masked_below_ms else 0.0
    if (level.duration_ms <= opts.subtle_below_ms and subtle_lo <= draw < subtle_lo + opts.subtle_share
            and has_partial(emotion)):
        return "subtle"
    return "full"


def has_partial(emotion: str) -> bool:
    """Whether the emotion has a one-region subset to show in a subtle round."""
    return bool(PARTIALS.get(emotion))
