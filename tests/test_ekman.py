"""Ekman's labels (detector/stages/ekman.py): each rule on synthetic signals, including the unclear / null cases."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from detector.stages import ekman
from detector.core.options import EkmanOptions
from detector.stages.ekman import EkmanTracker
from detector.core.facs import AU_NAMES, EMOTIONS
from detector.stages.features import CHANNELS

OPTS = EkmanOptions()


def au(**values: float) -> np.ndarray:
    x = np.zeros(len(AU_NAMES))
    for k, v in values.items():
        x[AU_NAMES.index(k)] = v
    return x


def raised_cosine(fps: float, rise: float, hold: float, fall: float, lead: float = 0.3, tail: float = 0.3,
                  noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int((lead + rise + hold + fall + tail) * fps)) / fps
    s = np.zeros_like(t)
    r = (t > lead) & (t < lead + rise)
    s[r] = 0.5 - 0.5 * np.cos(np.pi * (t[r] - lead) / rise)
    s[(t >= lead + rise) & (t <= lead + rise + hold)] = 1.0
    a = lead + rise + hold
    f = (t > a) & (t < a + fall)
    s[f] = 0.5 + 0.5 * np.cos(np.pi * (t[f] - a) / fall)
    if noise:
        s = s + np.random.default_rng(seed).normal(0, noise, s.shape)
    return t, s


# --------------------------------------------------------------------------- symmetry


def ch(**values: float) -> np.ndarray:
    """A channel vector (features.CHANNELS order), 0 but the named channels."""
    x = np.zeros(len(CHANNELS))
    for k, v in values.items():
        x[CHANNELS.index(k)] = v
    return x


#: a smile's channel change on both sides (blendshapes 0..1, geometry in IOD), the right side ``r`` x the left
def smile(left: float = 1.0, right: float = 1.0) -> np.ndarray:
    side = {"mouthSmile{}": 0.4, "mouthDimple{}": 0.1, "cheekSquint{}": 0.05}
    geo = {"geo_corner_up_{}": 0.02, "geo_cheek_{}": 0.006}
    x = ch()
    for k, v in side.items():
        x[CHANNELS.index(k.format("Left"))] = left * v
        x[CHANNELS.index(k.format("Right"))] = right * v
    for k, v in geo.items():
        x[CHANNELS.index(k.format("L"))] = left * v
        x[CHANNELS.index(k.format("R"))] = right * v
    return x


def sym(x: np.ndarray, tolerance: float | None = None) -> float | None:
    """The symmetry with the default [ekman] settings (or another pair tolerance)."""
    tol = OPTS.symmetry_pair_tolerance if tolerance is None else tolerance
    return ekman.symmetry(x, OPTS.symmetry_min, tol)


def test_symmetry_is_zero_for_both_sides_and_plus_minus_one_for_one_side():
    assert sym(smile()) == pytest.approx(0.0)
    assert sym(ch(browOuterUpLeft=0.3, geo_brow_outer_L=0.04)) == pytest.approx(1.0)
    assert sym(smile(left=0.0)) == pytest.approx(-1.0)
    # each side's change in AU scale: 0.04 IOD of corner lift weighs as much as 0.8 of mouthSmile
    assert sym(ch(geo_corner_up_L=0.04, mouthSmileRight=0.8)) == pytest.approx(0.0)
    assert sym(ch(geo_corner_up_L=0.03, geo_corner_up_R=0.01), tolerance=0.0) == pytest.approx(0.5)
    assert sym(smile() + ch(jawOpen=0.5, geo_mouth_open=0.1)) == pytest.approx(0.0)  # midline: no side


def test_symmetry_is_null_when_nothing_bilateral_moved_and_ignores_blinks_and_sideways_shifts():
    assert sym(ch(jawOpen=0.4, geo_mouth_open=0.05)) is None  # jaw drop only: nothing to compare
    assert sym(ch(mouthSmileLeft=0.005)) is None  # below symmetry_min
    assert sym(ch(eyeBlinkLeft=0.9)) is None  # a one-eyed blink is not an asymmetric expression
    assert sym(ch(jawLeft=0.3, mouthLeft=0.3)) is None  # one sideways movement, not one side of the face
    assert sym(ch(geo_corner_out_L=0.05)) is None  # the per-side corner distance leaks head yaw
    x = smile()
    x[CHANNELS.index("mouthPressLeft")] = np.nan  # a channel that could not be measured is left out
    assert sym(x) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="channels"):
        sym(np.zeros(len(AU_NAMES)))  # AU estimates are no channel change


def test_a_falling_side_counts_and_is_not_cancelled_by_the_other_corner():
    # a one-sided sadness: the right corner drops (a fall is a movement too); AU14's corner-over-corner reading
    # would put a dimpler on the left and make it look two-sided
    x = ch(geo_corner_up_R=-0.02, mouthFrownRight=0.3, geo_corner_up_L=-0.002)
    assert sym(x) < -OPTS.symmetry_deliberate


def test_symmetric_smile_on_a_slightly_asymmetric_neutral_face_is_symmetric():
    """A face that rests lopsided (left corner 4 % IOD and cheek higher, MediaPipe's left smile and dimple higher
    at rest) smiles with both sides alike (the right 10 % less): measured against that neutral, the segmenter's
    baseline, the event is symmetric and felt; on its absolute apex values it would read one-sided."""
    neutral = ch(mouthSmileLeft=0.2, mouthSmileRight=0.02, geo_corner_up_L=0.03, geo_corner_up_R=-0.01,
                 geo_cheek_L=0.02, mouthDimpleLeft=0.1, mouthPressRight=0.1)
    apex = neutral + smile(left=1.0, right=0.9)
    value = sym(apex - neutral)
    assert abs(value) <= OPTS.symmetry_felt
    assert sym(apex) > OPTS.symmetry_deliberate
    # the same through the tracker: the event's symmetry is measured from its baseline
    fps = 30.0
    tr = EkmanTracker(OPTS, keep_s=10.0)
    t, s = raised_cosine(fps, rise=0.6, hold=0.8, fall=0.6, lead=0.5)
    for k, v in enumerate(s):
        tr.push(k, float(t[k]), (neutral + v * (apex - neutral)).astype(np.float32))
    ev = seg(14, 30, len(s) - 8, fps, "macro")
    ev.baseline, ev.apex_values = neutral.astype(np.float32), apex.astype(np.float32)
    d = tr.describe(ev, "happiness", au(AU12_L=0.3, AU12_R=0.27))
    assert d["symmetry"] == pytest.approx(value, abs=1e-6) and d["timing"] == "felt"


def test_one_sided_smile_is_one_sided_and_deliberate():
    neutral = ch(mouthSmileLeft=0.05, mouthSmileRight=0.05, geo_corner_up_L=0.01, geo_corner_up_R=0.01)
    apex = neutral + smile(left=1.0, right=0.1)  # the right corner hardly follows
    value = sym(apex - neutral)
    assert value > OPTS.symmetry_deliberate
    assert ekman.timing_label("macro", 2.0, 2.0, 2.0, value, "happiness", OPTS) == "deliberate"
    right = sym(neutral + smile(left=0.0, right=1.0) - neutral)
    assert right == pytest.approx(-1.0)


def test_smile_aware_pairs_that_rise_on_both_sides_count_only_beyond_the_tolerance():
    graded = smile(left=1.0, right=0.7)  # both corners rise, the right a little less: a symmetric smile
    plain = ekman.symmetry(graded, 0.02, 0.0)
    aware = ekman.symmetry(graded, 0.02, 0.1)
    assert plain == pytest.approx(0.3 / 1.7)
    assert aware == pytest.approx((0.3 / 1.7 - 0.1) / 0.9)
    # a side that stayed still, or moved the other way, still counts in full
    assert ekman.symmetry(smile(left=1.0, right=0.0), 0.02, 0.1) == pytest.approx(1.0)
    opposite = ch(geo_brow_inner_L=0.03, geo_brow_inner_R=-0.01)
    assert ekman.symmetry(opposite, 0.02, 0.1) == pytest.approx(ekman.symmetry(opposite, 0.02, 0.0))


def test_one_function_for_symmetry_and_the_classifiers_one_sidedness():
    from detector.lab import training

    rng = np.random.default_rng(0)
    x = rng.uniform(-0.1, 0.5, (20, len(AU_NAMES)))
    f = training.features(x)
    xk = np.maximum(x[:, training.KEEP], 0.0)
    n = np.maximum(np.linalg.norm(xk, axis=1, keepdims=True), training.EPS)
    asym = f[:, len(training.KEEP): len(training.KEEP) + len(training.PAIR_L)]
    np.testing.assert_allclose(asym, np.abs(ekman.side_difference(xk, training.PAIR_L, training.PAIR_R)) / n)


# --------------------------------------------------------------------------- speeds and timing


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_onset_and_offset_speed_of_a_raised_cosine(fps):
    t, s = raised_cosine(fps, rise=0.6, hold=0.8, fall=0.4)
    on, off = ekman.phase_speeds(t, s)
    assert on == pytest.approx(1.456 / 0.6, rel=0.12)
    assert off == pytest.approx(1.456 / 0.4, rel=0.12)
    t, s = raised_cosine(fps, rise=0.06, hold=0.8, fall=0.06)
    on, off = ekman.phase_speeds(t, s)
    assert on > OPTS.onset_abrupt and off > OPTS.offset_abrupt


def test_speeds_are_normalised_to_the_peak():
    t, s = raised_cosine(100.0, rise=0.5, hold=0.5, fall=0.5)
    assert ekman.phase_speeds(t, 7.0 * s) == pytest.approx(ekman.phase_speeds(t, s))


def test_speed_is_null_when_not_measurable():
    assert ekman.phase_speeds(np.arange(2) / 30, np.array([0.0, 1.0])) == (None, None)  # too few frames
    assert ekman.phase_speeds(np.arange(10) / 30, np.zeros(10)) == (None, None)  # nothing moved
    t, s = raised_cosine(100.0, rise=0.4, hold=0.5, fall=0.5)
    keep = t < 0.3 + 0.4 + 0.5 + 0.1  # the event ended (max duration, settling) before the fall
    on, off = ekman.phase_speeds(t[keep], s[keep])
    assert on is not None and off is None
    on, off = ekman.phase_speeds(t[t > 0.5], s[t > 0.5])  # the trace starts already above 20 %
    assert on is None and off is not None


def test_timing_felt_deliberate_and_unclear():
    smooth, abrupt, medium = 2.0, 15.0, 5.0
    assert ekman.timing_label("macro", 2.0, smooth, 2.0, 0.05, "happiness", OPTS) == "felt"
    assert ekman.timing_label("macro", 2.0, abrupt, 2.0, 0.05, "happiness", OPTS) == "deliberate"
    assert ekman.timing_label("macro", 2.0, smooth, 20.0, 0.05, "happiness", OPTS) == "deliberate"  # stops suddenly
    assert ekman.timing_label("macro", 2.0, smooth, 2.0, 0.8, "surprise", OPTS) == "deliberate"  # one-sided
    assert ekman.timing_label("macro", 2.0, smooth, 2.0, 0.8, "contempt", OPTS) == "felt"  # one-sided by nature
    assert ekman.timing_label("macro", 4.5, smooth, 2.0, 0.0, "happiness", OPTS) == "deliberate"  # too long
    assert ekman.timing_label("macro", 2.0, smooth, None, None, "sadness", OPTS) == "felt"
    # unclear: in between, a micro, not measurable, neutral, half one-sided
    assert ekman.timing_label("macro", 2.0, medium, 2.0, 0.05, "happiness", OPTS) == "unclear"
    assert ekman.timing_label("micro", 0.3, abrupt, abrupt, 0.9, "fear", OPTS) == "unclear"
    assert ekman.timing_label("macro", 2.0, None, 2.0, 0.0, "happiness", OPTS) == "unclear"
    assert ekman.timing_label("macro", 2.0, smooth, 2.0, 0.0, "neutral", OPTS) == "unclear"
    half = (OPTS.symmetry_felt + OPTS.symmetry_deliberate) / 2  # neither symmetric enough nor one-sided
    assert OPTS.symmetry_felt < half < OPTS.symmetry_deliberate
    assert ekman.timing_label("macro", 2.0, smooth, 2.0, half, "happiness", OPTS) == "unclear"


# --------------------------------------------------------------------------- Duchenne


def test_duchenne_smile_social_smile_and_null():
    assert ekman.duchenne("happiness", au(AU06_L=0.2, AU06_R=0.18, AU12_L=0.3, AU12_R=0.3), OPTS) is True
    assert ekman.duchenne("happiness", au(AU12_L=0.3, AU12_R=0.3, AU06_L=0.05), OPTS) is False  # cheek leak only
    assert ekman.duchenne("happiness", au(AU12_L=0.3, AU12_R=0.3), OPTS) is False
    assert ekman.duchenne("happiness", au(AU06_L=0.2, AU12_L=0.3, AU45_L=0.8, AU45_R=0.9), OPTS) is None  # eyes shut
    assert ekman.duchenne("surprise", au(AU06_L=0.2, AU12_L=0.3), OPTS) is None  # not a smile
    x = au(AU06_L=0.2, AU12_L=0.3)
    x[AU_NAMES.index("AU06_L")] = np.nan
    assert ekman.duchenne("happiness", x, OPTS) is None  # cannot be measured


# --------------------------------------------------------------------------- subtle


def test_subtle_is_one_region_and_weak_against_the_persons_range():
    assert ekman.is_subtle("micro", "upper", 5.0, [], OPTS)  # the default reference before any history
    assert not ekman.is_subtle("micro", "full", 5.0, [], OPTS)  # two regions: not subtle however weak
    assert not ekman.is_subtle("micro", "lower", 30.0, [], OPTS)
    assert not ekman.is_subtle("blink", "upper", 1.0, [], OPTS)
    # a person whose expressions are all weak: a weak one is their normal, not subtle
    assert not ekman.is_subtle("micro", "upper", 5.0, [6.0, 5.5, 7.0], OPTS)
    # a person with strong expressions: the same event is subtle for them
    assert ekman.is_subtle("micro", "upper", 5.0, [40.0, 30.0, 50.0], OPTS)


# --------------------------------------------------------------------------- tracker: trace, masking


#: the tracker tests' apex change: both brows down alike (browDownLeft/Right), inner brows up (midline)
APEX = ch(browDownLeft=1.0, browDownRight=1.0, browInnerUp=0.5).astype(np.float32)


def seg(onset_frame: int, apex_frame: int, offset_frame: int, fps: float, kind: str, region: str = "full",
        intensity: float = 20.0) -> SimpleNamespace:
    base = np.zeros(len(CHANNELS), np.float32)
    apex = APEX
    return SimpleNamespace(onset_frame=onset_frame, apex_frame=apex_frame, offset_frame=offset_frame,
                           onset=onset_frame / fps, apex=apex_frame / fps, offset=offset_frame / fps, kind=kind,
                           region=region, intensity=intensity, baseline=base, apex_values=apex)


def feed(tr: EkmanTracker, fps: float, t: np.ndarray, s: np.ndarray, start: int = 0) -> None:
    for k, v in enumerate(s):
        tr.push(start + k, start / fps + float(t[k]), (APEX * v + ch(cheekPuff=0.01)).astype(np.float32))


def test_tracker_measures_speeds_on_the_projected_trace():
    fps = 30.0
    tr = EkmanTracker(OPTS, keep_s=10.0)
    t, s = raised_cosine(fps, rise=0.6, hold=0.8, fall=0.6, lead=0.5)
    feed(tr, fps, t, s)
    n = len(s)
    d = tr.describe(seg(14, 30, n - 8, fps, "macro"), "happiness", au(AU06_L=0.2, AU06_R=0.2, AU12_L=0.3, AU12_R=0.3))
    assert d["onset_speed"] == pytest.approx(1.456 / 0.6, rel=0.15)
    assert d["offset_speed"] == pytest.approx(1.456 / 0.6, rel=0.15)
    assert d["timing"] == "felt" and d["duchenne"] is True and d["symmetry"] == pytest.approx(0.0)
    assert d["masks"] is None and d["subtle"] is False


def test_history_older_than_keep_s_is_dropped():
    tr = EkmanTracker(OPTS, keep_s=1.0)
    for k in range(100):
        tr.push(k, k / 30.0, np.zeros(len(CHANNELS)))
    assert len(tr._frames) <= 32
    times, trace = tr.trace(0, 10, np.zeros(len(CHANNELS)), np.ones(len(CHANNELS)))  # frames gone: nothing measurable
    assert trace.size == 0
    assert tr.describe(seg(0, 5, 10, 30.0, "macro"), "happiness", au())["onset_speed"] is None


def masking_run(events: list[tuple[float, float, str, str]], window: float = 1.0) -> list[dict]:
    """(onset s, offset s, kind, emotion) in order -> the tracker's fields of each."""
    fps = 30.0
    tr = EkmanTracker(EkmanOptions(mask_window_s=window), keep_s=10.0)
    out = []
    for on, off, kind, emo in events:
        a, b = int(round(on * fps)), int(round(off * fps))
        out.append(tr.describe(seg(a, (a + b) // 2, b, fps, kind), emo, au()))
    return out


def test_masking_micro_then_macro_of_another_emotion():
    out = masking_run([(1.0, 1.3, "micro", "fear"), (1.6, 3.5, "macro", "happiness")])
    assert out[0]["masks"] is None
    assert out[1]["masks"] == {"emotion": "fear", "kind": "micro", "onset": 1.0, "onset_frame": 30, "offset": 1.3}


@pytest.mark.parametrize("events", [
    [(1.0, 1.3, "micro", "fear"), (2.6, 4.5, "macro", "happiness")],  # too late (1.3 s after the offset)
    [(1.0, 1.3, "micro", "happiness"), (1.6, 3.5, "macro", "happiness")],  # the same emotion
    [(1.0, 1.3, "micro", "neutral"), (1.6, 3.5, "macro", "happiness")],  # nothing was masked
    [(1.0, 1.3, "micro", "fear"), (1.6, 1.9, "micro", "happiness")],  # covered by a micro, not a macro
    [(1.0, 1.8, "macro", "fear"), (2.0, 3.5, "macro", "happiness")],  # the first was no micro
])
def test_no_masking_link(events):
    assert all(d["masks"] is None for d in masking_run(events))


def test_masking_window_is_configurable_and_the_latest_micro_is_linked():
    ev = [(1.0, 1.3, "micro", "fear"), (2.6, 4.5, "macro", "happiness")]
    assert masking_run(ev, window=1.5)[1]["masks"]["emotion"] == "fear"
    out = masking_run([(1.0, 1.2, "micro", "anger"), (1.4, 1.6, "micro", "fear"), (1.8, 3.5, "macro", "happiness")])
    assert out[2]["masks"]["emotion"] == "fear"


def test_analyzer_events_carry_the_labels_and_a_mask_link():
    """Through the real Analyzer (fixed classifier output), as written to events.jsonl."""
    from detector.run.config import load_config
    from detector.core.events import Event
    from detector.stages.features import CHANNEL_REGIONS
    from detector.run.pipeline import Analyzer
    from detector.stages.segmenter import Segment

    class Fixed:
        def __init__(self):
            self.emotions = []

        def predict(self, delta):
            p = np.full(len(EMOTIONS), 0.01)
            p[EMOTIONS.index(self.emotions.pop(0))] = 0.93
            return p

    c = len(CHANNEL_REGIONS)
    clf = Fixed()
    an = Analyzer(load_config(), classifier=clf)
    tr = an._track(0)
    for k in range(120):
        tr.ekman.push(k, k / 30.0, np.zeros(c, np.float32))

    def segment(a, p, b, kind):
        return Segment(a, p, b, a / 30.0, p / 30.0, b / 30.0, kind, "full", np.zeros(6), 20.0,
                       np.zeros(c, np.float32), np.full(c, 0.1, np.float32), head_motion=False)

    clf.emotions = ["fear", "happiness"]
    (e1,) = an._events(0, [segment(30, 34, 39, "micro")])
    (e2,) = an._events(0, [segment(48, 60, 100, "macro")])
    assert e1.masks is None and e2.masks["emotion"] == "fear" and e2.masks["onset_frame"] == 30
    d = json.loads(e2.to_json())
    assert d["masks"]["onset_frame"] == 30 and d["timing"] in ekman.TIMINGS
    assert Event.from_dict(d).to_dict() == d
    old = {k: v for k, v in json.loads(e1.to_json()).items()
           if k not in ("subtle", "symmetry", "onset_speed", "offset_speed", "timing", "duchenne", "masks")}
    o = Event.from_dict(old)  # an events file written before these fields
    assert o.timing == "unclear" and o.duchenne is None and o.masks is None and not o.subtle
    assert ekman.masked_by([e1, e2]) == {(0, 30): e2}
    assert ekman.mask_links([e1, e2]) == ({1: 0}, {0: 1})
    assert ekman.mask_text(e2) == "masked: fear \u2192 smile"
    assert ekman.banner_text(e2) == "masked: fear -> smile  social" and ekman.banner_text(e1) is None  # no AU6
    assert "masks fear" in ekman.overlay_tags(e2)


# --------------------------------------------------------------------------- outputs


def _event(**kw):
    from detector.core.events import Event

    base = dict(face=0, onset=1.0, apex=1.5, offset=2.0, onset_frame=30, apex_frame=45, offset_frame=60,
                kind="macro", region="full", emotion="happiness", confidence=0.9)
    return Event(**(base | kw))


def test_summary_counts_masked_events_and_smiles():
    from detector.app.sinks import Summary

    s = Summary(source="x")
    s.add_event(_event(emotion="fear", kind="micro"))
    s.add_event(_event(duchenne=True, masks={"emotion": "fear", "kind": "micro", "onset": 0.5, "onset_frame": 15,
                                             "offset": 0.8}, timing="felt"))
    s.add_event(_event(duchenne=False, timing="deliberate"))
    table = s.table()
    assert "labels            masked 1, Duchenne 1, social 1, felt 1, deliberate 1" in table
    assert "labels" not in Summary(source="y").table()


def test_overlay_text_names_duchenne_social_and_masking():
    from detector.app.overlay import _event_text

    assert "Duchenne" in _event_text(_event(duchenne=True))
    assert "social" in _event_text(_event(duchenne=False))
    assert "Duchenne" not in _event_text(_event()) and "social" not in _event_text(_event())
    masking = _event(duchenne=True, masks={"emotion": "anger", "kind": "micro", "onset": 0.5, "onset_frame": 15,
                                           "offset": 0.8})
    assert "masks anger" in _event_text(masking)
    assert ekman.banner_text(masking) == "masked: anger -> smile  Duchenne"


def test_report_cards_link_masked_and_masking_events():
    pytest.importorskip("jinja2")
    from detector.app.report.cards import build_cards
    from detector.app.report.settings import ReportSettings

    a = _event(emotion="fear", kind="micro", onset=0.5, offset=0.8, onset_frame=15, subtle=True, symmetry=0.1)
    b = _event(duchenne=False, masks={"emotion": "fear", "kind": "micro", "onset": 0.5, "onset_frame": 15,
                                      "offset": 0.8})
    cards = build_cards([a, b], {}, ReportSettings())
    assert cards[0].masked_by == 1 and cards[1].masks == 0
    assert "subtle" in cards[0].labels and "symmetry +0.10" in cards[0].labels
    assert "social" in cards[1].labels and "masked: fear \u2192 smile" in cards[1].labels


def test_config_section_is_validated():
    from detector.run.config import ConfigError, load_config

    cfg = load_config().replace("ekman", mask_window_s=0.5)
    assert cfg.ekman.mask_window_s == 0.5
    with pytest.raises(ConfigError, match="ekman"):
        load_config().replace("ekman", mask_window_s=-1.0)
    with pytest.raises(ConfigError, match="onset_smooth"):
        load_config().replace("ekman", onset_smooth=20.0)
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config().replace("ekman", nope=1.0)


# --------------------------------------------------------------------------- the benchmark's scoring


def test_benchmark_scores_a_masking_pair_only_when_the_link_points_at_the_right_event():
    from benchmarks import synth_ekman

    plan = synth_ekman.ekman_plan("test", 0)
    assert plan == synth_ekman.ekman_plan("test", 0) and {r["kind"] for r in plan} == set(synth_ekman.CLIPS_PER_KIND)
    assert all(r["face"] in ("woman_pexels", "posed_f1") for r in plan)  # the test faces only

    def row(v, on, off, kind):
        return {"variant": v, "onset": on, "offset": off, "kind": kind, "onset_frame": int(on * 30)}

    truth = [row("ek_mask_a", 1.0, 1.3, "micro"), row("ek_mask_b", 1.6, 3.5, "macro"),
             row("ek_control_a", 5.0, 5.3, "micro"), row("ek_control_b", 7.5, 9.5, "macro")]
    link = {"emotion": "fear", "kind": "micro", "onset": 1.0, "onset_frame": 30, "offset": 1.3}
    good = [_event(kind="micro", emotion="fear", onset=1.0, offset=1.3, onset_frame=30),
            _event(onset=1.6, offset=3.5, masks=link),
            _event(kind="micro", emotion="anger", onset=5.0, offset=5.3, onset_frame=150),
            _event(onset=7.5, offset=9.5)]
    r = synth_ekman.score([("c", truth, {}, None)], load_config_default(), lambda tr, cfg: good)
    assert (r["mask"]["tp"], r["mask"]["pred"], r["mask"]["truth"]) == (1, 1, 1)
    wrong = good[:3] + [_event(onset=7.5, offset=9.5, masks=dict(link, onset_frame=150))]  # a control linked
    wrong[1] = _event(onset=1.6, offset=3.5)
    r = synth_ekman.score([("c", truth, {}, None)], load_config_default(), lambda tr, cfg: wrong)
    assert (r["mask"]["tp"], r["mask"]["pred"], r["mask"]["truth"]) == (0, 1, 1)


def test_benchmark_says_why_a_smile_has_no_duchenne_answer():
    """A smile read as another emotion is null for that reason, not for AU6; a smile not detected lists its peak."""
    from benchmarks import synth_ekman

    def row(v, on, off, peak):
        return {"variant": v, "onset": on, "offset": off, "kind": "macro", "onset_frame": int(on * 30),
                "peak_disp_iod": peak}

    truth = [row("ek_social_medium", 1.0, 2.5, 1.1), row("ek_duchenne_medium", 4.0, 5.5, 0.8),
             row("ek_duchenne_medium", 7.0, 8.5, 1.2), row("ek_social_medium", 10.0, 11.5, 0.9)]
    events = [_event(onset=1.0, offset=2.5, emotion="contempt"),  # duchenne None: not a smile for the classifier
              _event(onset=7.0, offset=8.5, duchenne=True),
              _event(onset=10.0, offset=11.5, duchenne=None)]  # happiness, AU6 not measurable (eyes closed)
    r = synth_ekman.score([("c", truth, {}, None)], load_config_default(), lambda tr, cfg: events)
    c = r["duchenne_accuracy"]["medium_macro"]
    assert (c["n"], c["correct"], c["missed"], c["null"]) == (4, 1, 1, 2)
    assert (c["null_other_emotion"], c["null_unmeasurable"], c["missed_peaks_iod"]) == (1, 1, [0.8])
    assert "1 read as another emotion, 1 AU6 not measurable" in synth_ekman.format_score(r)


def load_config_default():
    from detector.run.config import load_config

    return load_config()


def test_synthetic_cases_have_the_truth_they_claim():
    """The cases of benchmarks/synth_ekman.py: social smiles are AU12 alone, masked pairs are close, controls far,
    one-sided events have a weak other side, subtle events are one region and weak."""
    from benchmarks import synth, synth_ekman

    face = synth.load_face("man_video")
    plan = {r["kind"]: r for r in synth_ekman.ekman_plan("tune", 0)}
    truth = {k: synth_ekman.build_ekman_clip(face, r, 30.0).truth for k, r in plan.items()}
    for r in truth["smile"]:
        has6 = any(a.startswith("AU06") for a in r["action_units"])
        assert has6 == r["variant"].startswith("ek_duchenne") and any(a.startswith("AU12") for a in r["action_units"])
        assert r["band"] == ("medium" if "medium" in r["variant"] else "strong")
    rows = truth["mask"]
    for a, b in zip(rows[::2], rows[1::2]):
        assert (a["variant"][:-2], a["kind"], b["kind"], b["emotion"]) == (b["variant"][:-2], "micro", "macro", "happiness")
        gap = b["onset"] - a["offset"]
        assert (0.1 < gap < 0.6) if a["variant"] == "ek_mask_a" else gap > 1.9
        assert a["emotion"] in synth_ekman.MASK_EMOTIONS
    for r in truth["timing"]:
        if r["variant"] == "ek_onesided":
            side = {a[-1]: v for a, v in r["action_units"].items() if a[-2] == "_"}
            assert side and r["kind"] == "macro"
            by = {s: sum(v for a, v in r["action_units"].items() if a.endswith("_" + s)) for s in "LR"}
            assert min(by.values()) <= 0.2 * max(by.values())
    for r in truth["subtle"]:
        if r["variant"] == "ek_subtle":
            assert r["region"] in ("upper", "lower") and r["band"] == "weak"
