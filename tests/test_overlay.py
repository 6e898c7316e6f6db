"""Overlay annotators: each draws its data where its layout says, and the data changes the picture."""

from __future__ import annotations

import numpy as np
import pytest

from detector.core.events import Event
from detector.core.facs import EMOTIONS, REGIONS
from detector.stages.landmarks import FaceObservation
from detector.app.overlay import (
    ActivationTimelineAnnotator,
    BannerAnnotator,
    BoxAnnotator,
    CalibrationAnnotator,
    CalibrationView,
    EmotionBarsAnnotator,
    EventLogAnnotator,
    LandmarkAnnotator,
    Overlay,
    OverlayState,
    Status,
    StatusAnnotator,
    unit,
)

SHAPE = (360, 640, 3)


def _frame(shape=SHAPE) -> np.ndarray:
    return np.full(shape, 128, np.uint8)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


def _face(tid: int = 0, cx: float = 320, cy: float = 180, size: float = 120) -> FaceObservation:
    rng = np.random.default_rng(tid)
    lm = np.zeros((478, 3), np.float32)
    lm[:, 0] = cx + rng.uniform(-size / 2, size / 2, 478)
    lm[:, 1] = cy + rng.uniform(-size / 2, size / 2, 478)
    return FaceObservation(tid, lm, np.zeros(52, np.float32), np.eye(4, dtype=np.float32))


def _event(kind="micro", emotion="surprise", conf=0.8, onset=1.0, dur=0.24) -> Event:
    return Event(face=0, onset=onset, apex=onset + dur / 2, offset=onset + dur, onset_frame=0, apex_frame=1,
                 offset_frame=2, kind=kind, region="full", emotion=emotion, confidence=conf)


@pytest.mark.parametrize("shape", [SHAPE, (720, 1280, 3)])
def test_panels_draw_inside_their_layout_only(shape):
    cases = [
        (EmotionBarsAnnotator(), np.linspace(0, 1, len(EMOTIONS))),
        (ActivationTimelineAnnotator(4.0), np.abs(np.random.default_rng(0).normal(0, 3, (6, 80)))),
        (EventLogAnnotator(), [_event(), _event("macro", "happiness", 0.6, 2.0, 1.2)]),
        (StatusAnnotator(), Status(119.8, 87.0, 11.2, 3)),
    ]
    for ann, data in cases:
        raw = _frame(shape)
        out = ann.annotate(raw.copy(), data)
        rect = ann.layout(shape).clip(shape)
        ch = _changed(out, raw)
        inside = np.zeros_like(ch)
        inside[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w] = True
        assert ch[inside].mean() > 0.5, type(ann).__name__  # the panel is visible
        assert not ch[~inside].any(), type(ann).__name__  # and nothing leaks out of it


def test_panels_fit_in_a_small_frame_without_overlapping():
    ov = Overlay(4.0)
    regs = ov.regions(SHAPE)
    for name, r in regs.items():
        assert r.w > 0 and r.h > 0 and r.x + r.w <= SHAPE[1] and r.y + r.h <= SHAPE[0], name
    names = list(regs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ra, rb = regs[a], regs[b]
            overlap = not (ra.x + ra.w <= rb.x or rb.x + rb.w <= ra.x or ra.y + ra.h <= rb.y or rb.y + rb.h <= ra.y)
            assert not overlap, (a, b)


def test_emotion_bar_length_follows_probability():
    ann = EmotionBarsAnnotator()
    raw = _frame()
    empty = ann.annotate(raw.copy(), None)
    probs = np.zeros(len(EMOTIONS))
    probs[EMOTIONS.index("happiness")] = 0.9
    probs[EMOTIONS.index("anger")] = 0.1
    out = ann.annotate(raw.copy(), probs)
    rect = ann.layout(SHAPE)
    u = unit(SHAPE)
    diff = _changed(out, empty)

    def row_pixels(emotion: str) -> int:
        i = EMOTIONS.index(emotion)
        y0 = rect.y + int(16 * u + 13 * u * i)
        return int(diff[y0 : y0 + int(13 * u)].sum())

    assert row_pixels("happiness") > 5 * row_pixels("anger") > 0
    assert row_pixels("sadness") == 0


def _timeline_rows(ann, value: float) -> int:
    """Lowest changed row of the brows strip after drawing a flat history at ``value`` sigma."""
    raw = _frame()
    base = ann.annotate(raw.copy(), np.zeros((6, 0)))
    hist = np.zeros((6, 60))
    hist[0] = value
    out = ann.annotate(raw.copy(), hist)
    rect = ann.layout(SHAPE)
    ch = _changed(out, base)[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]
    top, bot = ann._geom(unit(SHAPE), 0)
    rows = np.flatnonzero(ch[top : bot + 1, -20:].any(axis=1))
    return int(top + rows.mean())


def test_timeline_height_follows_activation_and_marks_threshold_crossings():
    ann = ActivationTimelineAnnotator(threshold=4.0)
    y_low, y_mid, y_high = (_timeline_rows(ann, v) for v in (0.5, 4.0, 7.5))
    assert y_high < y_mid < y_low  # higher activation draws higher (smaller row)
    # a dot marks the newest sample when it is above threshold, not below
    raw = _frame()
    hist = np.zeros((6, 60))
    hist[2, -1] = 6.0
    above = ann.annotate(raw.copy(), hist)
    hist[2, -1] = 2.0
    below = ann.annotate(raw.copy(), hist)
    top, bot = ann._geom(unit(SHAPE), 2)
    rect = ann.layout(SHAPE)
    end = rect.x + int(48 * unit(SHAPE)) + ann.capacity - 1  # x of the newest sample
    near_end = (slice(rect.y + top, rect.y + bot + 1), slice(end - 3, end + 4))
    red = lambda img: int(((img[..., 2] > 230) & (img[..., 1] < 70) & (img[..., 0] < 70)).sum())  # noqa: E731
    assert red(above[near_end]) > 4
    assert red(below[near_end]) == 0


def test_box_and_landmarks_are_drawn_at_the_face():
    raw = _frame()
    face = _face(cx=400, cy=200, size=100)
    box = _changed(BoxAnnotator().annotate(raw.copy(), [face]), raw)
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    assert box[y0, x0 + 5 : x1 - 5].all()  # top edge
    assert not box[y0 + 10 : y1 - 10, x0 + 10 : x1 - 10].any()  # hollow
    lm = _changed(LandmarkAnnotator().annotate(raw.copy(), [face]), raw)
    pts = np.rint(face.landmarks[:, :2]).astype(int)
    assert lm[pts[:, 1], pts[:, 0]].all()
    assert lm.sum() <= 478  # 1 px dots at this size
    # landmarks outside the frame are clipped, not an IndexError
    off = FaceObservation(1, face.landmarks + np.float32([600, 400, 0]), face.blendshapes, face.transform)
    LandmarkAnnotator().annotate(raw.copy(), [off])


def test_landmarks_only_when_toggled():
    ov = Overlay(4.0)
    raw = _frame()
    face = _face()
    a = ov.annotate(raw.copy(), OverlayState(faces=[face], show_landmarks=False))
    b = ov.annotate(raw.copy(), OverlayState(faces=[face], show_landmarks=True))
    pts = np.rint(face.landmarks[:, :2]).astype(int)
    assert _changed(a, b)[pts[:, 1], pts[:, 0]].mean() > 0.5


def test_banner_shows_the_event_and_fades_out():
    ann = BannerAnnotator(hold_s=1.5)
    raw = _frame()
    assert not _changed(ann.annotate(raw.copy(), []), raw).any()
    fresh = _changed(ann.annotate(raw.copy(), [(_event(), 0.1)]), raw)
    assert fresh[: SHAPE[0] // 3].sum() > 500  # a banner near the top
    assert not fresh[SHAPE[0] // 2 :].any()
    faded = ann.annotate(raw.copy(), [(_event(), 1.49)])
    live = ann.annotate(raw.copy(), [(_event(), 0.1)])
    assert np.abs(faded.astype(int) - raw).sum() < np.abs(live.astype(int) - raw).sum()


def test_event_log_lists_newest_first_and_limits_lines():
    ann = EventLogAnnotator(lines=3)
    raw = _frame()
    one = _changed(ann.annotate(raw.copy(), [_event(onset=1.0)]), ann.annotate(raw.copy(), []))
    many = _changed(ann.annotate(raw.copy(), [_event(onset=float(k)) for k in range(10)]), ann.annotate(raw.copy(), []))
    assert many.sum() > 2 * one.sum() > 0


def test_calibration_ring_progress_and_no_face_message():
    ann = CalibrationAnnotator()
    raw = _frame()
    assert not _changed(ann.annotate(raw.copy(), None), raw).any()
    a = ann.annotate(raw.copy(), CalibrationView(0.25, (320, 180), 60))
    b = ann.annotate(raw.copy(), CalibrationView(0.75, (320, 180), 60))
    amber = lambda img: int(((img[:, :, 2] > 200) & (img[:, :, 1] > 150) & (img[:, :, 0] < 80)).sum())  # noqa: E731
    assert amber(b) > amber(a) > 0  # more of the ring filled
    c = ann.annotate(raw.copy(), CalibrationView(0.5, None, None, face_found=False))
    assert _changed(c, raw).any()


def test_status_line_shows_pause():
    ann = StatusAnnotator()
    raw = _frame()
    run = ann.annotate(raw.copy(), Status(100, 90, 10, 0, paused=False))
    paused = ann.annotate(raw.copy(), Status(100, 90, 10, 0, paused=True))
    mid = slice(SHAPE[0] // 2 - 20, SHAPE[0] // 2 + 10)
    assert _changed(paused, run)[mid].sum() > 100


def test_full_overlay_draws_each_element():
    ov = Overlay(4.0)
    raw = _frame()
    st = OverlayState(
        faces=[_face()],
        probs=np.full(len(EMOTIONS), 1 / len(EMOTIONS)),
        activation_history=np.ones((len(REGIONS), 50)),
        banners=[(_event(), 0.2)],
        log=[_event()],
        status=Status(120, 100, 9.5, 2),
    )
    out = ov.annotate(raw.copy(), st)
    ch = _changed(out, raw)
    for name, r in ov.regions(SHAPE).items():
        assert ch[r.y : r.y + r.h, r.x : r.x + r.w].mean() > 0.5, name
