"""The report's limits and look: every default in one place."""

from __future__ import annotations

from dataclasses import dataclass

from detector.core.events import EYE_KINDS
from detector.core.facs import EMOTIONS

#: Span colour per emotion (timeline spans, card headers, score bars).
EMOTION_COLORS: dict[str, str] = {
    "neutral": "#9e9e9e",
    "anger": "#d62728",
    "contempt": "#8c564b",
    "disgust": "#2ca02c",
    "fear": "#9467bd",
    "happiness": "#ffb000",
    "sadness": "#1f77b4",
    "surprise": "#17becf",
}
assert set(EMOTION_COLORS) == set(EMOTIONS)

#: Blinks, eye closures, gaze and events flagged with head motion: grey, not an emotion.
GREY = "#8a8a8a"

#: Timeline lanes, top to bottom: which event kinds each holds.
LANES: tuple[tuple[str, frozenset[str]], ...] = (
    ("micro", frozenset({"micro"})),
    ("macro", frozenset({"macro"})),
    ("eyes", EYE_KINDS),
)


@dataclass(frozen=True)
class ReportSettings:
    """Sizes and caps that keep a long video's report small and quick to open."""

    #: Points per activation curve on the timeline (max per bin, so brief peaks survive).
    curve_points: int = 2000
    #: Timeline image size, pixels, and resolution.
    timeline_width_px: int = 1400
    timeline_height_px: int = 560
    timeline_dpi: int = 100
    #: Longest side of a face thumbnail, pixels.
    thumb_px: int = 128
    #: JPEG quality of thumbnails (0-100).
    jpeg_quality: int = 80
    #: Events that get thumbnails: micro and macro first, strongest first; the rest get text-only cards.
    max_thumb_events: int = 150
    #: Motion magnification of the amplified apex: onset + gain * (apex - onset).
    magnify_gain: float = 4.0
    #: Gain of the difference image: 128 + gain * (apex - onset).
    diff_gain: float = 3.0
    #: Face crop margin around the landmarks' box, fraction of its size.
    crop_margin: float = 0.25
    #: AUs shown on a card: those reaching this intensity on either side (0..1).
    au_min: float = 0.02
