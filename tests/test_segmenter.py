"""Segmenter on synthetic signals with known onset / apex / offset.

Amplitudes are per-frame SNR (apex displacement / frame-noise std) on AR(1)
noise correlated over 10 ms, only 2-4 of 60 channels move, as in real
micro-expressions (SNR 1-8).  Everything is seeded, so results are repeatable.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from detector.core.facs import REGIONS
from detector.stages.segmenter import Segment, Segmenter, SegmenterConfig, segment
from synthetic_signals import (
    SynthEvent,
    channel_layout,
    event_bank,
    make_clip,
    make_times,
    match,
    plateau_profile,
)

FPS = 200.0
BROWS, EYES, CHEEKS, NOSE, MOUTH, JAW = (REGIONS.index(r) for r in REGIONS)
BLINK = (10, 11, 12, 13)  # blink channels of channel_layout()


def ch(region: int, i: int) -> int:
    """Channel ``i`` (0..9) of a region in channel_layout(); i >= 4 in the eyes region is a non-blink channel."""
    return region * 10 + i


def run(clip, config: SegmenterConfig | None = None) -> list[Segment]:
    return segment(clip.times, clip.X, clip.pose, clip.regions, clip.blink, config)


def stream(clip, config: SegmenterConfig | None = None, frames=None) -> list[Segment]:
    seg = Segmenter(clip.regions, clip.blink, config)
    out: list[Segment] = []
    for i, t in enumerate(clip.times):
        out += seg.update(t, clip.X[i], clip.pose[i], None if frames is None else int(frames[i]))
    return out + seg.flush()


def expressions(segs: list[Segment]) -> list[Segment]:
    return [s for s in segs if s.kind in ("micro", "macro")]


# --------------------------------------------------------------------------- timing


@pytest.mark.parametrize("fps", [200.0, 100.0])
def test_clean_events_recovered_within_one_frame(fps):
    # High SNR, motion starting and stopping at full speed (triangular profile): onset,
    # apex and offset are sharply defined, so they must be recovered to within one frame.
    durations = [0.04, 0.06, 0.1, 0.16, 0.25, 0.35, 0.45]
    chans = [(ch(BROWS, 0), ch(BROWS, 1)), (ch(MOUTH, 2), ch(MOUTH, 3)), (ch(CHEEKS, 0), ch(CHEEKS, 1), ch(NOSE, 4)),
             (ch(NOSE, 3), ch(NOSE, 4)), (ch(BROWS, 5), ch(BROWS, 6)), (ch(JAW, 1), ch(JAW, 2), ch(BROWS, 3)),
             (ch(CHEEKS, 5), ch(CHEEKS, 6))]
    events, t = [], 1.6
    for d, c in zip(durations, chans):
        events.append(SynthEvent(t, t + 0.4 * d, t + d, c, 40.0, shape="linear"))
        t += d + 1.3
    for seed in (0, 1):
        clip = make_clip(t + 0.5, fps, events, seed=seed)
        found = run(clip)
        pairs, false_alarms, missed = match(found, clip.events)
        assert not false_alarms and not missed
        for s, ev in pairs:
            truth = ev.frames(clip.times)
            got = (s.onset_frame, s.apex_frame, s.offset_frame)
            assert max(abs(g - w) for g, w in zip(got, truth)) <= 1, (ev, got, truth)
            assert s.kind == "micro"
            # seconds are the timestamps of those frames
            assert s.onset == clip.times[s.onset_frame] and s.offset == clip.times[s.offset_frame]


@pytest.mark.parametrize("snr, min_recall", [(4.0, 0.85), (6.0, 0.9), (8.0, 0.9)])
def test_realistic_snr_micro_events_detected(snr, min_recall):
    # Per-frame SNR 4-8 on 2-4 of 60 channels: found by integrating over the event's frames.
    # MEGC criterion: a detection counts when its IoU with the true interval is >= 0.5.
    clip = event_bank(snr, n_events=20, seed=3, micro=True)
    found = run(clip)
    pairs, false_alarms, missed = match(found, clip.events, iou_min=0.5)
    assert len(pairs) >= min_recall * len(clip.events)
    assert len(false_alarms) <= 1
    assert all(s.kind == "micro" for s, _ in pairs)
    onset_err = np.array([abs(s.onset - ev.onset) for s, ev in pairs])
    assert np.median(onset_err) <= 0.02  # seconds (4 frames)


def test_realistic_snr_macro_events_detected():
    clip = event_bank(6.0, n_events=12, seed=4, micro=False)
    found = run(clip)
    pairs, false_alarms, missed = match(found, clip.events, iou_min=0.5)
    assert len(pairs) >= 11 and len(false_alarms) <= 1
    assert all(s.kind == "macro" for s, _ in pairs)


def test_weak_events_at_snr_2_are_mostly_not_invented():
    # At SNR 2 few events are detectable; what is reported must still be mostly real.
    clip = event_bank(2.0, n_events=20, seed=5, micro=True)
    pairs, false_alarms, _ = match(run(clip), clip.events, iou_min=0.3)
    assert len(false_alarms) <= 2


# --------------------------------------------------------------------------- kinds


def test_micro_vs_macro_by_duration():
    durations = [0.2, 0.42, 0.6, 1.5, 3.0]
    events, t = [], 1.6
    for i, d in enumerate(durations):
        events.append(SynthEvent(t, t + 0.4 * d, t + d, (ch(MOUTH, 2 * i), ch(MOUTH, 2 * i + 1)), 25.0, shape="linear"))
        t += d + 1.5
    clip = make_clip(t + 0.5, FPS, events, seed=11)
    pairs, false_alarms, missed = match(run(clip), clip.events, iou_min=0.7)
    assert not false_alarms and not missed
    for s, ev in pairs:
        assert s.kind == ("micro" if ev.offset - ev.onset < 0.5 else "macro")
        assert s.kind == ("micro" if s.duration < 0.5 else "macro")


@pytest.mark.parametrize("fps", [200.0, 100.0])
def test_40ms_event_is_resolved(fps):
    # 1/25 s: 8 frames at 200 fps, 4 at 100 fps; SNR 6 on a pair of channels.
    ev = SynthEvent(2.0, 2.02, 2.04, (ch(BROWS, 2), ch(BROWS, 3)), 6.0)
    clip = make_clip(4.0, fps, [ev], seed=21)
    found = run(clip)
    assert len(found) == 1
    s = found[0]
    assert s.kind == "micro" and s.region == "upper"
    assert abs(s.apex_frame - ev.frames(clip.times)[1]) <= 1
    assert s.onset <= 2.02 <= s.offset and s.duration < 0.1


def test_two_40ms_events_150ms_apart_are_two_events():
    # (brows: mouth events in quick succession are what syllables look like; see the speech tests)
    evs = [SynthEvent(2.0, 2.02, 2.04, (ch(BROWS, 0), ch(BROWS, 1)), 10.0),
           SynthEvent(2.19, 2.21, 2.23, (ch(BROWS, 0), ch(BROWS, 1)), 10.0)]
    clip = make_clip(4.0, FPS, evs, seed=22)
    pairs, false_alarms, missed = match(run(clip), clip.events)
    assert len(pairs) == 2 and not false_alarms


def test_blinks_are_tagged_not_reported_as_expressions():
    # Blink channels (eyeBlink*, eye apertures) close hard for 150-350 ms; a little coupling
    # into other eye channels.  A real expression in the mouth between them stays an expression.
    events = []
    for t0, d in ((2.0, 0.15), (4.0, 0.25), (6.0, 0.35)):
        events.append(SynthEvent(t0, t0 + 0.35 * d, t0 + d, BLINK, 30.0, signs=(1, 1, -1, -1)))
        events.append(SynthEvent(t0, t0 + 0.35 * d, t0 + d, (ch(EYES, 5),), 3.0))
    events.append(SynthEvent(5.0, 5.1, 5.25, (ch(MOUTH, 4), ch(MOUTH, 5)), 8.0))
    clip = make_clip(7.5, FPS, events, seed=31)
    found = run(clip)
    blinks = [s for s in found if s.kind == "blink"]
    assert len(blinks) == 3
    for s, t0 in zip(blinks, (2.0, 4.0, 6.0)):
        assert abs(s.onset - t0) < 0.03 and s.region == "upper"
    expr = expressions(found)
    assert len(expr) == 1 and expr[0].region == "lower" and abs(expr[0].apex - 5.1) < 0.02


def test_blink_moving_brows_and_lips_is_a_blink_and_closure_separates_it_from_a_lid_tightener():
    # Real blinks in MediaPipe move brows and lips as well (half the eye channels' z here); with
    # closure gauges the blink is still a blink.  An eye-only event whose gauges barely rise
    # (a lid tightener, AU7: 0.05 score units) is an expression, not a blink.
    fps = 100.0
    rng = np.random.default_rng(3)
    t = np.arange(int(6.0 * fps)) / fps
    regions = np.array([REGIONS.index(r) for r in ("eyes", "eyes", "eyes", "brows", "brows", "mouth", "mouth")])
    blink_ch = regions == REGIONS.index("eyes")
    closure = np.array([True, True, False, False, False, False, False])
    X = rng.normal(0.0, 0.01, (t.size, 7))
    b = (t >= 2.0) & (t < 2.2)
    bump = np.sin(np.pi * (t[b] - 2.0) / 0.2)
    X[b, 0:2] += 0.6 * bump[:, None]  # both eyes close (eyeBlink +0.6)
    X[b, 2] += 0.3 * bump
    X[b, 3:5] += 0.15 * bump[:, None]  # brows and lips follow the lids a little
    X[b, 5] += 0.1 * bump
    a7 = (t >= 4.0) & (t < 4.3)
    X[a7, 0:3] += 0.05 * np.sin(np.pi * (t[a7] - 4.0) / 0.3)[:, None]  # lid tightener
    found = segment(t, X, None, regions, blink_ch, closure_channels=closure)
    assert [(s.kind, round(s.apex)) for s in found] == [("blink", 2), ("micro", 4)], [(s.kind, s.apex) for s in found]
    # without closure gauges the lid tightener looks like a blink
    assert [s.kind for s in segment(t, X, None, regions, blink_ch)] == ["blink", "blink"]
    with pytest.raises(ValueError, match="closure_channels"):
        segment(t, X, None, regions, blink_ch, closure_channels=closure[:3])


def _lids_clip(fps: float, lowered: list[tuple[float, float, float]], seed: int = 5, seconds: float = 9.0,
               ramp_s: float = 0.02, gaze_rise: float | None = None):
    """Eye channels (eyeBlink L/R = the closure gauges, a squint) lowered by ``rise`` score units for
    ``dur`` s at ``t0`` for each (t0, dur, rise), with ``ramp_s`` ramps; the other channels still.
    With ``gaze_rise``, downward gaze gauges that rise by that much with each lowering (MediaPipe reads
    lowered lids as looking down as well), else None.  Returns t, X, regions, blink_ch, closure, gaze."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps)) / fps
    regions = np.array([REGIONS.index(r) for r in ("eyes", "eyes", "eyes", "brows", "brows", "mouth", "mouth")])
    X = rng.normal(0.0, 0.01, (t.size, 7))
    gaze = None if gaze_rise is None else rng.normal(0.05, 0.01, (t.size, 2))
    for t0, dur, rise in lowered:
        m = (t >= t0) & (t < t0 + dur)
        edge = np.clip(np.minimum(t[m] - t0, t0 + dur - t[m]) / ramp_s, 0.0, 1.0)
        X[m, 0:3] += rise * edge[:, None]
        if gaze is not None:
            gaze[m] += gaze_rise * edge[:, None]
    closure = np.array([True, True, False, False, False, False, False])
    return t, X, regions, regions == REGIONS.index("eyes"), closure, gaze


def _lids_lowered_clip(gaze_rise: float, seed: int = 4):
    """Both lids lowered 0.07 (under lids_lowered_min) for 1.2 s at 2 s and for 0.3 s at 5 s (a brief
    lid tightening), 100 ms ramps, at 100 fps; the downward gaze gauges rise by ``gaze_rise`` with both."""
    return _lids_clip(100.0, [(2.0, 1.2, 0.07), (5.0, 0.3, 0.07)], seed, seconds=7.0, ramp_s=0.1, gaze_rise=gaze_rise)


def test_both_lids_lowered_partway_is_an_incomplete_blink_a_lid_tightening_or_a_look_down_by_its_length():
    # Both lids lowered 0.15 (over lids_lowered_min, under blink_min_closure): over within 0.15 s it
    # is an incomplete blink (a turned head's far eye), for 0.33 s a lid tightening (an expression,
    # as in anger), for 1.2 s a look down.  gaze_min_s = 0 is the old rule: all three are looks down.
    t, X, regions, blink_ch, closure, _ = _lids_clip(FPS, [(2.0, 0.15, 0.15), (4.0, 0.33, 0.15), (6.0, 1.2, 0.15)])
    kinds = lambda cfg: [(s.kind, round(s.onset)) for s in segment(t, X, None, regions, blink_ch, cfg,  # noqa: E731
                                                                   closure_channels=closure)]
    assert kinds(SegmenterConfig()) == [("blink", 2), ("micro", 4), ("gaze", 6)], kinds(SegmenterConfig())
    assert kinds(SegmenterConfig(gaze_min_s=0.0)) == [("gaze", 2), ("gaze", 4), ("gaze", 6)]
    assert kinds(SegmenterConfig(blink_partial_max_s=0.0)) == [("micro", 2), ("micro", 4), ("gaze", 6)]
    seg = Segmenter(regions, blink_ch, closure_channels=closure)
    streamed = [s for i in range(t.size) for s in seg.update(t[i], X[i], None)] + seg.flush()
    assert [s.key() for s in streamed] == [s.key() for s in segment(t, X, None, regions, blink_ch,
                                                                     closure_channels=closure)]


def test_a_blink_at_30_fps_is_judged_by_how_far_the_lids_closed_not_by_the_smoothed_closure():
    # Three frames of a blink at 30 fps: the lids close 0.3 for one frame, the smoothing over 3 frames
    # leaves under blink_min_closure (0.2).  It is still a blink, also where it is too long to pass for
    # an incomplete one (blink_partial_max_s = 0); a lid tightening as high and as long is an expression.
    fps = 30.0
    t, X, regions, blink_ch, closure, _ = _lids_clip(fps, [(3.0, 0.1, 0.3)])
    f = int(3.0 * fps)
    assert X[f - 1:f + 2, 0:2].mean(axis=0).max() < 0.2 < X[f - 1:f + 2, 0:2].min(axis=1).max()
    cfg = SegmenterConfig(blink_partial_max_s=0.0, smooth_s=3 / fps)
    assert [s.kind for s in segment(t, X, None, regions, blink_ch, cfg, closure_channels=closure)] == ["blink"]
    _, X2, *_ = _lids_clip(fps, [(3.0, 0.33, 0.15)])
    assert [s.kind for s in segment(t, X2, None, regions, blink_ch, cfg, closure_channels=closure)] == ["micro"]


def test_lids_lowered_longer_than_a_micro_expression_with_both_irises_down_is_a_look_down():
    # A look down lowers the lids less than lids_lowered_min on some faces (a tune face: 0.04-0.1);
    # both downward gaze gauges rising by gaze_down_min (median over the state) tell it apart.  A
    # brief lid tightening that moves them as much stays a micro-expression, a blink inside a long
    # state is no look down, and without gauges (or with NaN) nothing changes.
    t, X, regions, blink_ch, closure, gaze = _lids_lowered_clip(0.2)
    kinds = lambda g: [(s.kind, round(s.onset)) for s in segment(t, X, None, regions, blink_ch, closure_channels=closure,  # noqa: E731
                                                                gaze=g)]
    assert kinds(gaze) == [("gaze", 2), ("micro", 5)], kinds(gaze)
    assert kinds(None) == [("macro", 2), ("micro", 5)]
    assert kinds(np.full_like(gaze, np.nan)) == kinds(None)
    assert kinds(_lids_lowered_clip(0.04)[5]) == kinds(None)  # irises barely down: not a look down
    blink_inside = gaze.copy()
    blink_inside[(t > 2.5) & (t < 2.7)] += 0.35  # a blink moves the gauges as much as a look down, for a moment
    assert kinds(_lids_lowered_clip(0.0)[5] + blink_inside - gaze) == kinds(None)
    off = segment(t, X, None, regions, blink_ch, SegmenterConfig(gaze_down_min=0.0), closure_channels=closure, gaze=gaze)
    assert [s.kind for s in off] == ["macro", "micro"]
    seg = Segmenter(regions, blink_ch, closure_channels=closure)
    streamed = [s for i in range(t.size) for s in seg.update(t[i], X[i], None, None, gaze[i].astype(np.float32))]
    assert [s.key() for s in streamed + seg.flush()] == [s.key() for s in segment(
        t, X, None, regions, blink_ch, closure_channels=closure, gaze=gaze)]
    with pytest.raises(ValueError, match="gaze"):
        seg.update(t[-1] + 1.0, X[0], None, None, np.zeros(3))
    with pytest.raises(ValueError, match="gaze"):
        segment(t, X, None, regions, blink_ch, gaze=gaze[:, :1])


def _mouth_clip(syllables_from: float | None, seed: int = 0):
    """10 s at 100 fps: one 200 ms mouth event (lip corner + chin, 2.5 noise units of the
    articulation channel's rise) at 5 s; optional syllables (articulation channels opening
    and closing at 4 Hz) from ``syllables_from`` to 8 s."""
    fps = 100.0
    rng = np.random.default_rng(seed)
    t = np.arange(int(10.0 * fps)) / fps
    regions = np.array([REGIONS.index(r) for r in ("brows", "mouth", "mouth", "jaw", "eyes")])
    speech = np.array([False, False, True, True, False])  # channel 1: a lip corner (expression channel)
    X = rng.normal(0.0, 0.01, (t.size, 5))
    ev = (t >= 5.0) & (t < 5.2)
    X[ev, 2] += 0.25 * np.sin(np.pi * (t[ev] - 5.0) / 0.2)
    if syllables_from is not None:
        talk = (t >= syllables_from) & (t < 8.0)
        X[talk, 2:4] += (0.3 * (1.0 - np.cos(2 * np.pi * 4.0 * (t[talk] - syllables_from))))[:, None]
    return t, X, regions, speech


def test_mouth_event_is_held_for_the_speech_look_ahead_and_dropped_when_syllables_follow():
    t, X, regions, speech = _mouth_clip(None)
    alone = segment(t, X, None, regions, speech_channels=speech)
    assert [round(s.apex, 1) for s in alone] == [5.1]
    # the same event as the first "syllable" of an utterance that starts 0.3 s after it: speech
    t, X, regions, speech = _mouth_clip(5.5)
    found = segment(t, X, None, regions, speech_channels=speech)
    assert not any(abs(s.apex - 5.1) < 0.1 for s in found), [(s.onset, s.offset) for s in found]
    # no look-ahead: the first syllable is reported (what the look-ahead is for)
    cfg = SegmenterConfig(speech_lookahead_s=0.0)
    assert any(abs(s.apex - 5.1) < 0.1 for s in segment(t, X, None, regions, config=cfg, speech_channels=speech))
    # streaming: the held event comes out speech_lookahead_s after it ended, not at once
    t, X, regions, speech = _mouth_clip(None)
    seg = Segmenter(regions, None, SegmenterConfig(), speech_channels=speech)
    when = [t[i] for i in range(t.size) if seg.update(float(t[i]), X[i])]
    assert len(when) == 1 and 5.2 + 0.5 <= when[0] < 5.2 + 0.5 + 0.3


def test_mouth_flickers_sooner_than_a_syllable_after_a_mouth_event_are_one_re_rise_not_speech():
    # a mouth event, then two flickers of the articulation channel 90 ms apart (noise in the event's
    # tail; syllables come at most 7-8 a second): one re-rise, so the event is not taken for speech
    for seed in range(4):
        t, X, regions, speech = _mouth_clip(None, seed)
        for c in (5.3, 5.39):
            X[(t >= c) & (t < c + 0.02), 2] += 0.3
        kept = segment(t, X, None, regions, speech_channels=speech)
        assert [round(s.apex, 1) for s in kept] == [5.1], seed
        # counted as two re-rises (the rule off), the event and its flickers are three: speech, dropped
        off = SegmenterConfig(speech_min_gap_s=0.0)
        assert segment(t, X, None, regions, config=off, speech_channels=speech) == [], seed


def test_mouth_rises_later_than_the_speech_window_after_a_held_event_do_not_make_it_speech():
    # A held mouth event waits for its look-ahead from the end of its state, and a state may end
    # long after the event it reports (a tail that waits for the return, a rise held at a level).
    # Re-rises more than speech_window_s after the event's offset are not its syllables: two mouth
    # blips 1.7 and 1.95 s after the 200 ms event, inside a 2 s look-ahead, leave it standing.
    for seed in range(4):
        t, X, regions, speech = _mouth_clip(None, seed)
        for c in (6.9, 7.15):
            X[(t >= c) & (t < c + 0.03), 2] += 0.3
        late = SegmenterConfig(speech_lookahead_s=2.0)
        kept = segment(t, X, None, regions, config=late, speech_channels=speech)
        assert [round(s.apex, 1) for s in kept][:1] == [5.1], seed
        # a speech window that reaches them: the event and the two blips are three re-rises, speech
        wide = SegmenterConfig(speech_lookahead_s=2.0, speech_window_s=2.5)
        assert segment(t, X, None, regions, config=wide, speech_channels=speech) == [], seed


def test_mouth_blips_before_a_mouth_event_of_a_still_face_are_not_its_syllables():
    # A still face is not talking: the re-rises that count against a held mouth event are those from
    # its trigger on (the syllables after a first one), not noise before it.  Two mouth blips 1.2
    # and 0.8 s before the event leave it standing; on a face taken as moving (still_motion_max 0)
    # the same blips and the event are three re-rises within speech_window_s: speech, dropped.
    for seed in range(4):
        t, X, regions, speech = _mouth_clip(None, seed)
        X *= 0.2  # a still face (channel noise 0.002)
        for c in (3.9, 4.3):
            X[(t >= c) & (t < c + 0.03), 2] += 0.06
        still = segment(t, X, None, regions, speech_channels=speech)
        assert any(abs(s.apex - 5.1) < 0.05 for s in still), seed
        moving = SegmenterConfig(still_motion_max=0.0)
        assert not any(abs(s.apex - 5.1) < 0.05 for s in segment(t, X, None, regions, config=moving,
                                                                  speech_channels=speech)), seed


def test_speech_mode_is_reported_while_syllables_go_on():
    t, X, regions, speech = _mouth_clip(5.5)
    seg = Segmenter(regions, None, SegmenterConfig(), speech_channels=speech)
    on = []
    for i in range(t.size):
        seg.update(float(t[i]), X[i])
        on.append(seg.speech_mode)
    on = np.array(on)
    assert not on[t < 5.5].any()  # quiet face, one mouth event: not speech
    assert on[(t > 6.0) & (t < 8.0)].mean() > 0.5  # 4 syllables a second
    t, X, regions, speech = _mouth_clip(5.5)
    seg = Segmenter(regions, None, SegmenterConfig(speech_cycles=0), speech_channels=speech)
    off = []
    for i in range(t.size):
        seg.update(float(t[i]), X[i])
        off.append(seg.speech_mode)
    assert not any(off)  # speech rule off


def test_held_mouth_event_is_not_lost_at_the_end_of_the_stream_or_a_gap():
    # an event held for the look-ahead when the stream ends (flush) or the face is lost (gap)
    t, X, regions, speech = _mouth_clip(None)
    end = t < 5.45  # the stream stops 0.25 s after the event, inside its look-ahead
    seg = Segmenter(regions, None, SegmenterConfig(), speech_channels=speech)
    got = [e for i in np.flatnonzero(end) for e in seg.update(float(t[i]), X[i])]
    assert got == []  # still held
    assert [round(e.apex, 1) for e in seg.flush()] == [5.1]
    seg = Segmenter(regions, None, SegmenterConfig(), speech_channels=speech)
    got = [e for i in np.flatnonzero(end) for e in seg.update(float(t[i]), X[i])]
    got += seg.update(7.0, X[-1])  # face back after a 1.5 s gap: the held event comes out
    assert [round(e.apex, 1) for e in got] == [5.1]


def test_smile_while_talking_is_kept_when_speech_channels_leave_out_the_lip_corners():
    # A lip-corner event among syllables: not carried by the articulation channels, so kept.
    t, X, regions, speech = _mouth_clip(5.5)
    X = X.copy()
    ev = (t >= 5.0) & (t < 5.2)
    X[ev, 2] -= 0.25 * np.sin(np.pi * (t[ev] - 5.0) / 0.2)  # move the event to the lip corner
    X[ev, 1] += 0.25 * np.sin(np.pi * (t[ev] - 5.0) / 0.2)
    found = segment(t, X, None, regions, speech_channels=speech)
    assert any(abs(s.apex - 5.1) < 0.1 for s in found), [(s.onset, s.offset) for s in found]


def _talking_face(event_channels: tuple[str, ...], seed: int = 3):
    """10 s at 100 fps of the pipeline's 66 channels: noise, a 200 ms bilateral event on
    ``event_channels`` at 5 s, then syllables (jaw and lips opening at 4 Hz) from 5.5 s to 8 s."""
    from detector.stages.features import CHANNELS

    fps = 100.0
    rng = np.random.default_rng(seed)
    t = np.arange(int(10.0 * fps)) / fps
    X = rng.normal(0.0, 0.005, (t.size, len(CHANNELS)))
    idx = [CHANNELS.index(n) for n in event_channels]
    ev = (t >= 5.0) & (t < 5.2)
    X[np.ix_(ev, idx)] += 0.08 * np.sin(np.pi * (t[ev] - 5.0) / 0.2)[:, None]
    talk = (t >= 5.5) & (t < 8.0)
    syl = [CHANNELS.index(n) for n in ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "geo_mouth_open")]
    X[np.ix_(talk, syl)] += (0.15 * (1.0 - np.cos(2 * np.pi * 4.0 * (t[talk] - 5.5))))[:, None]
    return t, X


@pytest.mark.parametrize("channels, kept", [
    (("mouthPressLeft", "mouthPressRight"), False),  # lips pressed (bilabial /p b m/): articulation
    (("mouthStretchLeft", "mouthStretchRight"), False),  # lips spread (/i/): articulation
    (("mouthSmileLeft", "mouthSmileRight"), True),  # AU12: an expression, even while talking
    (("mouthFrownLeft", "mouthFrownRight"), True),  # AU15
    (("mouthDimpleLeft", "mouthDimpleRight"), True),  # AU14
])
def test_pipeline_speech_channels_drop_lip_press_before_talking_but_keep_lip_corners(channels, kept):
    from detector.stages.features import CHANNEL_REGIONS, SPEECH_CHANNELS

    t, X = _talking_face(channels)
    alone = segment(t[t < 5.45], X[t < 5.45], None, CHANNEL_REGIONS, speech_channels=SPEECH_CHANNELS)
    assert [round(s.apex, 1) for s in alone] == [5.1]  # visible on its own
    found = segment(t, X, None, CHANNEL_REGIONS, speech_channels=SPEECH_CHANNELS)
    assert any(abs(s.apex - 5.1) < 0.1 for s in found) == kept, [(s.onset, s.offset) for s in found]


def test_head_turn_rejected_by_default_and_flagged_on_request():
    # A 20 degree head turn in 0.4 s makes the face-frame geometry channels move too.
    ev = SynthEvent(2.0, 2.2, 2.4, (ch(BROWS, 3), ch(EYES, 5), ch(CHEEKS, 5), ch(NOSE, 3), ch(MOUTH, 4)), 10.0)
    turned = make_clip(4.0, FPS, [ev], seed=41, head_turns=[(2.0, 0.4, 20.0)])
    assert run(turned) == []
    flagged = run(turned, SegmenterConfig(head_motion="flag"))
    assert len(flagged) == 1 and flagged[0].head_motion
    still = make_clip(4.0, FPS, [ev], seed=41)  # same expression without the turn: kept
    kept = run(still)
    assert len(kept) == 1 and not kept[0].head_motion and kept[0].region == "full"


def test_sustained_expression_not_reported_and_detector_recovers():
    # A 6 s expression (rise 0.3 s, hold 5.4 s, fall 0.3 s) is a state, not an event; a micro
    # event 4 s after it ended must still be found.
    times = make_times(14.0, FPS)
    p = plateau_profile(times, 2.0, 0.3, 5.4, 0.3)
    sustained = ((ch(MOUTH, 2), ch(MOUTH, 3), ch(CHEEKS, 2)), np.stack([10 * p, -10 * p, 8 * p], axis=1))
    micro = SynthEvent(12.0, 12.1, 12.3, (ch(BROWS, 0), ch(BROWS, 1)), 8.0)
    clip = make_clip(14.0, FPS, [micro], seed=51, extra=[sustained])
    found = run(clip)
    assert len(found) == 1
    assert abs(found[0].apex - 12.1) < 0.02 and found[0].kind == "micro"


def test_region_labels_and_payload():
    evs = [SynthEvent(2.0, 2.1, 2.3, (ch(BROWS, 1), ch(BROWS, 2)), 10.0),
           SynthEvent(4.0, 4.1, 4.3, (ch(JAW, 1), ch(MOUTH, 2)), 10.0),
           SynthEvent(6.0, 6.1, 6.3, (ch(BROWS, 1), ch(MOUTH, 3)), 10.0, signs=(1, 1))]
    clip = make_clip(7.5, FPS, evs, seed=61)
    found = run(clip)
    assert [s.region for s in found] == ["upper", "lower", "full"]
    for s, ev in zip(found, evs):
        assert s.region_activation.shape == (6,) and s.baseline.shape == (60,) and s.apex_values.shape == (60,)
        delta = (s.apex_values - s.baseline) / clip.sigma
        moved = list(ev.channels)
        signs = ev.signs or [1 if i % 2 == 0 else -1 for i in range(len(moved))]
        assert np.all(np.sign(delta[moved]) == signs)
        still = np.setdiff1d(np.arange(60), moved)
        assert np.abs(delta[moved]).min() > 3 * np.abs(delta[still]).max() / 2
        assert s.intensity >= SegmenterConfig().start_z
    # region activation at the apex is highest in a region the event moved
    assert int(np.argmax(found[0].region_activation)) == BROWS
    assert int(np.argmax(found[1].region_activation)) in (MOUTH, JAW)


# --------------------------------------------------------------------------- streaming


def test_streaming_equals_whole_file_with_gaps_and_explicit_frames():
    evs = [SynthEvent(2.0, 2.05, 2.12, (ch(BROWS, 0), ch(BROWS, 1)), 6.0),
           SynthEvent(3.5, 3.9, 4.6, (ch(MOUTH, 0), ch(MOUTH, 1), ch(NOSE, 2)), 8.0),
           SynthEvent(5.0, 5.05, 5.25, BLINK, 25.0, signs=(1, 1, -1, -1)),
           SynthEvent(7.0, 7.1, 7.3, (ch(CHEEKS, 3), ch(CHEEKS, 4)), 5.0),
           SynthEvent(9.2, 9.3, 9.5, (ch(JAW, 3), ch(JAW, 4)), 12.0)]
    clip = make_clip(11.0, FPS, evs, seed=71, jitter=0.2)
    # a face lost for 0.4 s (rows of NaN: no frames are fed) and an odd frame without features
    X = clip.X.copy()
    X[(clip.times > 6.0) & (clip.times < 6.4)] = np.nan
    X[1500, 7] = np.nan
    frames = np.arange(clip.times.shape[0]) + 1000
    whole = segment(clip.times, X, clip.pose, clip.regions, clip.blink, frames=frames)
    seg = Segmenter(clip.regions, clip.blink)
    streamed: list[Segment] = []
    for i, t in enumerate(clip.times):
        if np.isnan(X[i]).all():
            continue  # the pipeline does not call update() for frames without a face
        streamed += seg.update(t, X[i], clip.pose[i], frame=int(frames[i]))
    streamed += seg.flush()
    assert len(whole) >= 4
    assert [s.key() for s in streamed] == [s.key() for s in whole]
    for a, b in zip(streamed, whole):
        assert (a.onset, a.apex, a.offset, a.intensity) == (b.onset, b.apex, b.offset, b.intensity)
        assert np.array_equal(a.apex_values, b.apex_values) and np.array_equal(a.baseline, b.baseline)
        assert a.onset_frame >= 1000


def _all_fields(s: Segment) -> tuple:
    return (s.onset_frame, s.apex_frame, s.offset_frame, s.onset, s.apex, s.offset, s.kind, s.region,
            s.region_activation.tobytes(), s.intensity, s.baseline.tobytes(), s.apex_values.tobytes(), s.head_motion)


def test_streaming_equals_whole_file_bit_for_bit_with_speech_blinks_long_states_and_ring_growth():
    # Every field, bit for bit: a blink with closure gauges, syllable-like mouth/jaw oscillation
    # (speech mode, a held mouth event), a state longer than max_duration_s, a head turn flagged,
    # a gap and a jump past recalibrate_gap_s, and a ring that must grow while streaming.
    times = make_times(16.0, FPS)
    times[times > 9.0] += 0.4  # a gap
    times[times > 12.0] += 3.0  # a gap long enough to recalibrate
    osc = np.where((times > 5.0) & (times < 8.0), np.maximum(0.0, np.sin(2 * np.pi * 4.5 * times)), 0.0)
    blink = np.clip(np.sin(np.pi * np.clip((times - 2.0) / 0.2, 0.0, 1.0)), 0.0, None)
    extra = [([ch(MOUTH, 0), ch(JAW, 0)], 15.0 * osc[:, None] * np.ones(2)),
             (list(BLINK), 30.0 * blink[:, None] * np.ones(4)),
             ([ch(CHEEKS, 5), ch(CHEEKS, 6)], 10.0 * plateau_profile(times, 9.5, 0.2, 4.5, 0.2))]
    evs = [SynthEvent(3.0, 3.05, 3.15, (ch(BROWS, 0), ch(BROWS, 1)), 9.0),
           SynthEvent(4.0, 4.1, 4.3, (ch(MOUTH, 5), ch(MOUTH, 6)), 9.0),
           SynthEvent(6.5, 6.55, 6.7, (ch(BROWS, 3), ch(BROWS, 4)), 12.0),
           SynthEvent(17.5, 17.6, 17.8, (ch(NOSE, 0), ch(NOSE, 1)), 20.0, shape="linear")]
    clip = make_clip(0.0, FPS, evs, seed=5, extra=extra, head_turns=[(3.9, 0.4, 30.0)], times=times)
    closure = np.zeros(clip.regions.shape[0], bool)
    closure[[BLINK[0], BLINK[2]]] = True  # blendshape-like channels (noise 0.01-0.02: 30 sigma > blink_min_closure)
    cfg = SegmenterConfig(max_fps=30.0, head_motion="flag")
    whole = segment(clip.times, clip.X, clip.pose, clip.regions, clip.blink, cfg, closure_channels=closure)
    seg = Segmenter(clip.regions, clip.blink, cfg, closure_channels=closure)
    size = seg.ring_frames
    streamed: list[Segment] = []
    for i, t in enumerate(clip.times):
        streamed += seg.update(t, clip.X[i], clip.pose[i])
    streamed += seg.flush()
    assert seg.ring_frames > size
    assert len(whole) >= 4 and {s.kind for s in whole} >= {"micro", "blink"} and any(s.head_motion for s in whole)
    assert [_all_fields(s) for s in streamed] == [_all_fields(s) for s in whole]


def test_float32_features_stream_like_float64():
    # The feature extractor hands over float32 channels; they are used as they are.
    clip = event_bank(8.0, n_events=4, seed=75)
    X32 = clip.X.astype(np.float32)
    seg = Segmenter(clip.regions, clip.blink)
    out: list[Segment] = []
    for i, t in enumerate(clip.times):
        out += seg.update(t, X32[i], clip.pose[i].astype(np.float32))
    out += seg.flush()
    whole = segment(clip.times, X32.astype(np.float64), clip.pose, clip.regions, clip.blink)
    assert len(whole) == 4 and [s.key() for s in out] == [s.key() for s in whole]


def test_variable_frame_rate_uses_timestamps():
    # The frame rate changes (200 -> 60 -> 120 fps) and jitters by +-30 %; durations must
    # follow the timestamps: counting frames at any one nominal rate would be far off.
    rng = np.random.default_rng(82)
    parts, t0 = [], 0.0
    for dur, fps in ((3.0, 200.0), (2.5, 60.0), (2.5, 120.0)):
        p = make_times(dur, fps, rng, jitter=0.3, t0=t0)
        parts.append(p)
        t0 = p[-1] + 1.0 / fps
    times = np.concatenate(parts)
    evs = [SynthEvent(2.0, 2.1, 2.3, (ch(BROWS, 0), ch(BROWS, 1)), 40.0, shape="linear"),   # at ~200 fps
           SynthEvent(3.8, 3.95, 4.2, (ch(MOUTH, 0), ch(MOUTH, 1)), 40.0, shape="linear"),  # at ~60 fps
           SynthEvent(6.0, 6.2, 6.6, (ch(JAW, 0), ch(JAW, 1)), 40.0, shape="linear")]      # at ~120 fps
    clip = make_clip(0.0, 0.0, evs, seed=81, times=times)
    pairs, false_alarms, missed = match(run(clip), clip.events, iou_min=0.7)
    assert not false_alarms and not missed
    for s, ev in pairs:
        i = int(np.searchsorted(times, ev.apex))
        dt = np.diff(times[max(i - 80, 0):i + 80]).max()  # longest local frame interval
        assert abs(s.onset - ev.onset) <= 2 * dt and abs(s.offset - ev.offset) <= 2 * dt
        assert abs(s.duration - (ev.offset - ev.onset)) <= 3 * dt
        assert s.onset == times[s.onset_frame] and s.offset == times[s.offset_frame]
    assert [s.kind for s, _ in pairs] == ["micro", "micro", "macro"]


def test_no_false_alarms_on_a_minute_of_noise():
    # 60 s at 200 fps of AR(1) noise on 60 channels: at most one false alarm per minute.
    for corr_s in (0.005, 0.02):
        clip = make_clip(60.0, FPS, [], seed=91, corr_s=corr_s)
        assert len(run(clip)) <= 1


def test_flat_channels_do_not_blow_up():
    evs = [SynthEvent(3.0, 3.1, 3.3, (ch(MOUTH, 0), ch(MOUTH, 1)), 8.0)]
    clip = make_clip(20.0, FPS, evs, seed=101)
    clip.X[:, ch(CHEEKS, 7)] = 0.0  # a blendshape stuck at zero
    clip.X[:, ch(NOSE, 8)] = 0.25  # a constant geometry feature
    found = run(clip)
    assert len(found) == 1 and abs(found[0].apex - 3.1) < 0.02
    assert np.all(np.isfinite(found[0].region_activation)) and math.isfinite(found[0].intensity)


# --------------------------------------------------------------------------- state handling


def test_calibration_warm_up_and_reset_baseline():
    evs = [SynthEvent(0.5, 0.6, 0.8, (ch(MOUTH, 0), ch(MOUTH, 1)), 12.0),   # during warm-up
           SynthEvent(3.0, 3.1, 3.3, (ch(MOUTH, 0), ch(MOUTH, 1)), 12.0),
           SynthEvent(5.4, 5.5, 5.7, (ch(MOUTH, 0), ch(MOUTH, 1)), 12.0),   # just after reset
           SynthEvent(8.0, 8.1, 8.3, (ch(MOUTH, 0), ch(MOUTH, 1)), 12.0)]
    clip = make_clip(10.0, FPS, evs, seed=111)
    seg = Segmenter(clip.regions, clip.blink)
    assert seg.calibrating and seg.baseline is None
    found: list[Segment] = []
    for i, t in enumerate(clip.times):
        if abs(t - 5.0) < 1e-9:
            seg.reset_baseline()
            assert seg.calibrating
        found += seg.update(t, clip.X[i], clip.pose[i])
    found += seg.flush()
    assert not seg.calibrating
    # the neutral baseline is that of the face at rest, within a fraction of the noise
    rest = (clip.times > 8.6) & (clip.times < 9.9)
    assert np.all(np.abs(seg.baseline - clip.X[rest].mean(axis=0)) < clip.sigma)
    assert [round(s.apex, 1) for s in found] == [3.1, 8.1]


def test_gap_abandons_active_event_and_keeps_frame_numbers():
    evs = [SynthEvent(2.0, 2.2, 2.5, (ch(BROWS, 0), ch(BROWS, 1)), 12.0),
           SynthEvent(4.0, 4.1, 4.3, (ch(MOUTH, 0), ch(MOUTH, 1)), 12.0)]
    clip = make_clip(5.0, FPS, evs, seed=121)
    lost = (clip.times > 2.15) & (clip.times < 2.6)  # face lost in the middle of the first event
    first_back = int(np.argmax(clip.times >= 2.6))
    seg = Segmenter(clip.regions, clip.blink)
    found: list[Segment] = []
    for i, t in enumerate(clip.times):
        if lost[i]:
            continue
        if i == first_back:
            found += seg.gap()
        found += seg.update(t, clip.X[i], clip.pose[i], frame=i)
    found += seg.flush()
    assert len(found) == 1 and found[0].region == "lower"
    assert abs(found[0].apex - 4.1) < 0.03
    assert found[0].apex == clip.times[found[0].apex_frame]  # explicit frame numbers kept
    # a long time step is a gap by itself; without explicit frames, frames count update() calls
    seg2 = Segmenter(clip.regions, clip.blink)
    out: list[Segment] = []
    for i, t in enumerate(clip.times):
        if not lost[i]:
            out += seg2.update(t, clip.X[i], clip.pose[i])
    out += seg2.flush()
    assert [s.apex_frame for s in out] == [found[0].apex_frame - int(lost.sum())]
    assert [s.apex for s in out] == [found[0].apex]


def test_ring_buffer_is_bounded_and_grows_when_frames_come_faster_than_max_fps():
    clip = make_clip(12.0, FPS, [SynthEvent(3.0, 3.1, 3.3, (ch(MOUTH, 0), ch(MOUTH, 1)), 8.0),
                                 SynthEvent(7.0, 7.6, 8.5, (ch(NOSE, 0), ch(NOSE, 1)), 8.0)], seed=131)
    seg = Segmenter(clip.regions, clip.blink)
    size = seg.ring_frames
    for i, t in enumerate(clip.times):
        seg.update(t, clip.X[i], clip.pose[i])
    assert seg.ring_frames == size < clip.times.shape[0]  # bounded, not the whole clip
    slow = SegmenterConfig(max_fps=30.0)
    seg = Segmenter(clip.regions, clip.blink, slow)
    small = seg.ring_frames
    streamed: list[Segment] = []
    for i, t in enumerate(clip.times):
        streamed += seg.update(t, clip.X[i], clip.pose[i])
    streamed += seg.flush()
    assert seg.ring_frames > small
    assert [s.key() for s in streamed] == [s.key() for s in run(clip, slow)] and len(streamed) == 2


# --------------------------------------------------------------------------- API


def test_config_from_dict_rejects_unknown_keys_and_bad_values():
    cfg = SegmenterConfig.from_dict({"start_z": 5.0, "smooth_s": 0.03, "top_k": 3})
    assert cfg.start_z == 5.0 and cfg.top_k == 3
    assert SegmenterConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="start_zz"):
        SegmenterConfig.from_dict({"start_zz": 5.0})
    with pytest.raises(ValueError, match="end_z"):
        SegmenterConfig(start_z=3.0, end_z=4.0)
    with pytest.raises(ValueError, match="head_motion"):
        SegmenterConfig(head_motion="ignore")
    with pytest.raises(ValueError, match="smooth_s"):
        SegmenterConfig(smooth_s=-0.01)


def test_bad_input_is_rejected_clearly():
    regions, blink = channel_layout()
    seg = Segmenter(regions, blink)
    seg.update(0.0, np.zeros(60))
    with pytest.raises(ValueError, match="increasing"):
        seg.update(0.0, np.zeros(60))
    with pytest.raises(ValueError, match="shape"):
        seg.update(0.1, np.zeros(59))
    with pytest.raises(ValueError, match="pose"):
        seg.update(0.2, np.zeros(60), np.zeros(5))
    with pytest.raises(ValueError, match="channel_regions"):
        Segmenter(np.full(60, 6), blink)
    with pytest.raises(ValueError, match="blink_channels"):
        Segmenter(regions, np.zeros(59, dtype=bool))
    with pytest.raises(ValueError, match="increasing"):
        segment(np.array([0.0, 0.1, 0.1]), np.zeros((3, 60)), None, regions, blink)
    with pytest.raises(ValueError, match="X must have shape"):
        segment(np.array([0.0, 0.1]), np.zeros((3, 60)), None, regions, blink)


def test_speech_mouth_oscillation_is_not_an_event_and_brow_event_still_found():
    """Mouth and jaw channels opening and closing at 4 Hz for 6 s (speech) give no event, and a
    brow raise during the speech is still reported (speech mode leaves mouth/jaw out)."""
    fps = 100.0
    rng = np.random.default_rng(0)
    n = int(10.0 * fps)
    t = np.arange(n) / fps
    regions = np.array([REGIONS.index(r) for r in ("brows", "brows", "mouth", "mouth", "jaw", "eyes")])
    X = rng.normal(0.0, 0.01, (n, 6))
    talk = (t >= 2.0) & (t < 8.0)
    X[talk, 2:5] += (0.3 * (1.0 - np.cos(2 * np.pi * 4.0 * t[talk])))[:, None]
    brow = (t >= 6.0) & (t < 6.3)
    X[brow, 0:2] += (0.2 * np.sin(np.pi * (t[brow] - 6.0) / 0.3))[:, None]
    found = segment(t, X, None, regions)
    assert [s for s in found if s.onset < 5.9 or s.onset > 6.4] == [], [(s.onset, s.offset) for s in found]
    assert any(abs(s.apex - 6.15) < 0.1 for s in found), [(s.onset, s.offset) for s in found]
    off = segment(t, X, None, regions, config=SegmenterConfig(speech_cycles=0))
    assert not any(abs(s.apex - 6.15) < 0.1 for s in off)  # without speech mode the brow raise is lost


def test_state_views_cover_the_packed_arrays_once():
    # The kernels see the state through named views of a few packed arrays (detector/stages/segmenter/state.py);
    # every element of those arrays belongs to exactly one view.
    from detector.stages.segmenter.state import SegmenterState

    st = SegmenterState(5, 32)
    for views, arrays in ((st.ring(), (st.xr, st.yr, st.fr)), (st.channels(), (st.chan,))):
        for a in arrays:
            a[...] = 0.0
        for v in views:
            v[...] += 1.0
        assert all(np.all(a == 1.0) for a in arrays), type(views).__name__
