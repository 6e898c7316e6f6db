"""View models of the report's parts: one card per event and the summary table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from detector.app.report.data import ReportData
from detector.app.report.frames import Thumbnails
from detector.app.report.settings import EMOTION_COLORS, ReportSettings
from detector.app.report.timeline import span_color
from detector.core.events import KINDS, Event
from detector.core.facs import AU_DESCRIPTIONS, EMOTIONS
from detector.stages.ekman import card_labels, label_counts, mask_links


@dataclass(frozen=True)
class AuBar:
    """One AU on a card: left and right intensity (bilateral AUs), or ``both`` (midline AUs), 0..1."""

    name: str
    description: str
    left: float | None
    right: float | None
    both: float | None


@dataclass(frozen=True)
class ScoreBar:
    emotion: str
    value: float
    color: str


@dataclass(frozen=True)
class Card:
    index: int
    anchor: str
    event: Event
    color: str
    thumbs: Thumbnails | None
    aus: list[AuBar]
    scores: list[ScoreBar]
    labels: tuple[str, ...] = ()  # Ekman's labels (detector.stages.ekman.card_labels)
    masks: int | None = None  # index of the card of the earlier event this one masks
    masked_by: int | None = None  # index of the card of the later event that masks this one


def au_bars(action_units: dict[str, float], minimum: float) -> list[AuBar]:
    """The AUs that reach ``minimum`` on either side, in FACS order."""
    bars = []
    for au, desc in AU_DESCRIPTIONS.items():
        left, right, both = action_units.get(f"{au}_L"), action_units.get(f"{au}_R"), action_units.get(au)
        if max((v for v in (left, right, both) if v is not None), default=0.0) >= minimum:
            bars.append(AuBar(au, desc, left, right, both))
    return bars


def score_bars(scores: dict[str, float]) -> list[ScoreBar]:
    """All eight emotion scores, in the classifier's order."""
    return [ScoreBar(e, float(scores.get(e, 0.0)), EMOTION_COLORS[e]) for e in EMOTIONS]


def anchor_of(index: int) -> str:
    return f"ev-{index}"


def build_cards(events: list[Event], thumbs: dict[int, Thumbnails], settings: ReportSettings) -> list[Card]:
    fwd, back = mask_links(events)
    return [Card(i, anchor_of(i), e, span_color(e), thumbs.get(i), au_bars(e.action_units, settings.au_min),
                 score_bars(e.scores), tuple(card_labels(e)), fwd.get(i), back.get(i)) for i, e in enumerate(events)]


@dataclass(frozen=True)
class SummaryTable:
    """Events by kind (rows) and emotion (columns), and the run's counts."""

    emotions: list[str]
    rows: list[tuple[str, list[int], int]]  # kind, count per emotion, total
    total: int
    frames: int
    frames_with_face: int | None
    duration_s: float
    fps: float
    processing_fps: float | None
    thumbs_shown: int
    labels: dict[str, int] | None = None  # Ekman's labels -> count (masked, subtle, Duchenne, ...)


def summary_table(data: ReportData, thumbs_shown: int) -> SummaryTable:
    counts = Counter((e.kind, e.emotion) for e in data.events)
    kinds = [k for k in KINDS if any(counts[(k, em)] for em in EMOTIONS)]
    emotions = [em for em in EMOTIONS if any(counts[(k, em)] for k in kinds)]
    rows = [(k, [counts[(k, em)] for em in emotions], sum(counts[(k, em)] for em in emotions)) for k in kinds]
    labels: Counter = Counter()
    for e in data.events:
        labels.update(label_counts(e))
    return SummaryTable(emotions, rows, len(data.events), data.video.frames, data.frames_with_face,
                        data.video.duration, data.video.fps, data.processing_fps, thumbs_shown,
                        {k: v for k, v in labels.items() if v})
