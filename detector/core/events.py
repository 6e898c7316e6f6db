"""The result record: one facial expression event, and its JSON form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

KINDS: tuple[str, ...] = ("micro", "macro", "blink", "closure", "gaze")
#: Eye kinds, never emotion events: a blink (<= blink_max_s), a longer eye closure (AU43) and both lids
#: lowered by the eyes alone (looking down).  Written only with --include-blinks; scoring leaves them
#: out on both sides.
EYE_KINDS: frozenset[str] = frozenset({"blink", "closure", "gaze"})
EVENT_REGIONS: tuple[str, ...] = ("full", "upper", "lower")


@dataclass(frozen=True)
class Event:
    """One expression event of one face.

    Times are seconds on the source's clock (video presentation time, or
    ``frame / fps`` for image folders); frame indices are 0-based indices of
    the source's frames.
    """

    face: int
    onset: float
    apex: float
    offset: float
    onset_frame: int
    apex_frame: int
    offset_frame: int
    kind: str  # "micro" (< 0.5 s), "macro" (0.5-4 s), "blink", "closure" (eyes shut longer) or "gaze" (lids lowered: looking down); the last three only with --include-blinks
    region: str  # "full", "upper" or "lower"
    emotion: str  # one of detector.core.facs.EMOTIONS
    confidence: float  # probability of ``emotion``, 0..1
    scores: dict[str, float] = field(default_factory=dict)  # all eight probabilities
    action_units: dict[str, float] = field(default_factory=dict)  # AU name -> intensity at apex (0..1)
    intensity: float = 0.0  # peak activation, in noise standard deviations
    head_motion: bool = False  # the head moved faster than [segmenter] head_rot_speed_dps/head_trans_speed
    #                            during the event (such events are kept only with head_motion = "flag")
    # Ekman's labels (rules: detector.stages.ekman; README "Event fields"); older files read with these defaults
    subtle: bool = False  # one region only, low intensity against the person's own range
    symmetry: float | None = None  # -1 (right side only) .. 0 (symmetric) .. 1 (left only); None: not measurable
    onset_speed: float | None = None  # 1/s of the event's peak, rise from 20 % to 80 %; None: not measurable
    offset_speed: float | None = None  # 1/s of the event's peak, fall from 80 % to 20 %; None: not measurable
    timing: str = "unclear"  # "felt" | "deliberate" | "unclear"
    duchenne: bool | None = None  # happiness: AU6 beside AU12 at the apex; None: not happiness or AU6 unmeasurable
    masks: dict | None = None  # the earlier micro of another emotion this macro masks (emotion, kind, onset, onset_frame, offset)
    speech: bool = False  # the person was talking: mouth and jaw were left out of the emotion (upper face only)

    @property
    def duration_ms(self) -> float:
        """Onset to offset, milliseconds."""
        return (self.offset - self.onset) * 1000.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["duration_ms"] = round(self.duration_ms, 3)
        for k in ("onset", "apex", "offset"):
            d[k] = round(d[k], 6)
        d["confidence"] = round(d["confidence"], 4)
        d["intensity"] = round(d["intensity"], 4)
        d["scores"] = {k: round(v, 4) for k, v in d["scores"].items()}
        d["action_units"] = {k: round(v, 4) for k, v in d["action_units"].items()}
        for k in ("symmetry", "onset_speed", "offset_speed"):
            d[k] = None if d[k] is None else round(d[k], 4)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        d = dict(d)
        d.pop("duration_ms", None)
        return cls(**d)
