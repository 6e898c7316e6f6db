"""MEGC-style matching and scoring, truth/prediction readers, dataset runs and the CLI of ``microexpr evaluate``."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from detector.core.events import Event
from detector.core.facs import EMOTIONS
from detector.lab import evaluate as ev
from detector.lab.datasets import Annotation, load_dataset
from detector.lab.evaluate import EvaluationError, interval_iou, load_events, match_events, run_dataset, score

FIX = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("me_datasets", FIX / "me_datasets.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def F(on, off, kind=None, emotion=None, clip=None, face=None, apex=None) -> Annotation:
    """An interval in frames."""
    return Annotation(
        onset_frame=on, apex_frame=apex, offset_frame=off, kind=kind, emotion=emotion, clip=clip, face=face
    )


def S(on, off, kind=None, emotion=None, clip=None) -> Annotation:
    """An interval in seconds."""
    return Annotation(onset=on, offset=off, kind=kind, emotion=emotion, clip=clip)


# ----------------------------------------------------------------------------- IoU and matching


def test_interval_iou_frames_are_inclusive_and_seconds_continuous():
    assert interval_iou((0, 3), (0, 1), frames=True) == 0.5  # 2 of 4 frames
    assert interval_iou((0, 3), (4, 5), frames=True) == 0.0
    assert interval_iou((5, 5), (5, 5), frames=True) == 1.0
    assert interval_iou((0.0, 1.0), (0.5, 1.5), frames=False) == pytest.approx(1 / 3)
    assert interval_iou((0.0, 1.0), (1.0, 2.0), frames=False) == 0.0


def test_iou_exactly_half_is_a_true_positive():
    truth = [F(0, 3, "micro")]
    assert match_events(truth, [F(0, 1, "micro")]) == [(0, 0, 0.5)]
    assert match_events(truth, [F(0, 0, "micro")]) == []  # IoU 0.25
    assert len(match_events([S(0.0, 1.0)], [S(0.0, 0.5)])) == 1  # 0.5 in seconds
    assert match_events([S(0.0, 1.0)], [S(0.0, 0.49)]) == []


def test_each_truth_is_matched_at_most_once():
    r = score([F(10, 20, "micro")], [F(10, 20, "micro"), F(10, 20, "micro"), F(11, 20, "micro")])
    o = r["overall"]
    assert (o["tp_truth"], o["tp_pred"], o["n_pred"]) == (1, 1, 3)
    assert o["precision"] == pytest.approx(1 / 3) and o["recall"] == 1.0
    assert r["false_alarms"] == 2


def test_prediction_overlapping_two_truths_takes_the_best_iou_first():
    a, b = F(0, 1, "micro"), F(2, 3, "micro")
    wide, exact = F(0, 3, "micro"), F(2, 3, "micro")  # wide has IoU 0.5 with both a and b
    for preds in ([wide, exact], [exact, wide]):
        pairs = match_events([a, b], preds)
        got = {(i, preds[j] is wide) for i, j, _ in pairs}
        assert got == {(1, False), (0, True)}  # exact -> b (IoU 1), wide -> a
    # a naive greedy (by truth or by prediction order) gives the wide one truth a, leaving exact_a unmatched
    exact_a = F(0, 1, "micro")
    for preds in ([wide, exact_a], [exact_a, wide]):
        r = score([a, b], preds)
        assert r["overall"]["tp_truth"] == 2 and r["false_alarms"] == 0
    # alone, the wide prediction is one true positive, the other truth a miss
    r = score([a, b], [wide])
    assert (r["overall"]["tp_truth"], r["counts"]["missed"]) == (1, 1)


def test_blinks_are_never_matched():
    assert match_events([F(0, 10, "micro")], [F(0, 10, "blink")]) == []
    assert match_events([F(0, 10, "blink")], [F(0, 10, "micro")]) == []


def test_matching_stays_within_clip_and_face():
    truth = [F(0, 10, clip="A"), F(0, 10, clip="B", face=1)]
    preds = [F(0, 10, clip="B", face=0), F(0, 10, clip="C")]
    assert match_events(truth, preds) == []
    assert match_events(truth, [F(0, 10, clip="B", face=1)]) == [(1, 0, 1.0)]
    assert match_events(truth, [F(0, 10, clip="B")]) == [(1, 0, 1.0)]  # prediction without a face: any face


def test_predictions_without_clip_need_a_single_clip():
    assert len(match_events([F(0, 10, clip="only")], [F(0, 10)])) == 1
    with pytest.raises(EvaluationError, match="name no clip"):
        match_events([F(0, 10, clip="A"), F(0, 10, clip="B")], [F(0, 10)])


def test_frames_against_seconds_needs_fps():
    truth = [F(30, 60, "micro")]
    pred = [S(1.0, 2.0, "micro")]
    with pytest.raises(EvaluationError, match="--fps"):
        score(truth, pred)
    assert score(truth, pred, fps=30.0)["overall"]["f1"] == 1.0


# ----------------------------------------------------------------------------- precision / recall / F1 by hand


def _mixed_case():
    truth = [
        S(0.0, 0.2, "micro", "happiness"),
        S(1.0, 1.3, "micro", "disgust"),
        S(2.0, 2.2, "micro"),
        S(3.0, 4.0, "macro", "surprise"),
        S(5.0, 6.0, "macro"),
    ]
    pred = [
        S(0.0, 0.2, "micro", "happiness"),  # -> truth 0
        S(1.0, 1.3, "micro", "anger"),  # -> truth 1, wrong emotion
        S(3.0, 4.0, "macro", "surprise"),  # -> truth 3
        S(5.0, 5.55, "micro", "neutral"),  # -> macro truth 4 (IoU 0.55), a micro prediction
        S(8.0, 8.2, "micro", "fear"),  # false alarm
        S(2.0, 2.2, "blink"),  # would match truth 2, but blinks are ignored
    ]
    return truth, pred


def test_precision_recall_f1_by_hand():
    r = score(*_mixed_case())
    o, mi, ma = r["overall"], r["micro"], r["macro"]
    assert (o["n_truth"], o["n_pred"], o["tp_truth"]) == (5, 5, 4)
    assert o["precision"] == pytest.approx(0.8) and o["recall"] == pytest.approx(0.8) and o["f1"] == pytest.approx(0.8)
    # micro: recall by truth kind 2/3 (truths 0, 1 of 0, 1, 2); precision by prediction kind 3/4
    assert mi["recall"] == pytest.approx(2 / 3) and mi["precision"] == pytest.approx(3 / 4)
    assert mi["f1"] == pytest.approx(2 * (3 / 4) * (2 / 3) / (3 / 4 + 2 / 3))
    assert (ma["recall"], ma["precision"], ma["f1"]) == (1.0, 1.0, 1.0)
    assert r["counts"]["pred_blinks_ignored"] == 1 and r["counts"]["kind_agree"] == 3


def test_strict_kind_matches_micro_with_micro_only():
    r = score(*_mixed_case(), strict_kind=True)
    assert r["overall"]["tp_truth"] == 3
    assert r["overall"]["precision"] == pytest.approx(3 / 5)
    assert (r["micro"]["recall"], r["micro"]["precision"]) == (pytest.approx(2 / 3), pytest.approx(2 / 4))
    assert (r["macro"]["recall"], r["macro"]["precision"]) == (pytest.approx(1 / 2), 1.0)


def test_kind_is_derived_from_duration_when_missing():
    r = score([S(0.0, 0.49), S(1.0, 1.5)], [])
    assert (r["micro"]["n_truth"], r["macro"]["n_truth"]) == (1, 1)  # 0.5 s exactly is macro
    r = score([F(0, 49), F(100, 150)], [], fps=100.0)
    assert (r["micro"]["n_truth"], r["macro"]["n_truth"]) == (1, 1)
    r = score([F(0, 49)], [])  # frames, no fps: kind unknown, counted overall only
    assert r["overall"]["n_truth"] == 1 and r["micro"]["n_truth"] == 0 and r["counts"]["truth_unknown_kind"] == 1


def test_nothing_predicted_scores_zero_and_undefined_precision():
    r = score([S(0.0, 0.2, "micro")], [])
    assert r["overall"]["recall"] == 0.0 and r["overall"]["precision"] is None and r["overall"]["f1"] == 0.0
    assert r["macro"]["f1"] is None  # nothing to find, nothing predicted


# ----------------------------------------------------------------------------- emotions, timing, false alarms


def test_emotion_accuracy_and_confusion_matrix():
    e = score(*_mixed_case())["emotion"]
    assert e["labels"] == list(EMOTIONS)
    assert (e["n"], e["correct"]) == (3, 2)  # truth 4 has no emotion: not counted
    assert e["accuracy"] == pytest.approx(2 / 3)
    m = e["confusion"]
    i = EMOTIONS.index
    assert m[i("happiness")][i("happiness")] == 1
    assert m[i("disgust")][i("anger")] == 1
    assert m[i("surprise")][i("surprise")] == 1
    assert sum(map(sum, m)) == 3


def test_onset_apex_offset_errors_in_ms():
    truth = [F(10, 20, "micro", apex=15), F(50, 60, "micro", apex=55)]
    pred = [F(12, 19, "micro", apex=15), F(48, 60, "micro", apex=56)]
    r = score(truth, pred, fps=100.0)
    t = r["timing_ms"]
    assert t["onset"]["mean_abs"] == pytest.approx(20.0) and t["onset"]["mean_signed"] == pytest.approx(0.0)
    assert t["apex"]["mean_abs"] == pytest.approx(5.0) and t["apex"]["mean_signed"] == pytest.approx(5.0)
    assert t["offset"]["mean_abs"] == pytest.approx(5.0) and t["offset"]["mean_signed"] == pytest.approx(-5.0)
    assert r["timing_frames"]["onset"]["mean_abs"] == pytest.approx(2.0)
    # without an apex on one side, apex is skipped but onset/offset are not
    r = score([F(10, 20, "micro")], [F(12, 19, "micro", apex=15)], fps=100.0)
    assert r["timing_ms"]["apex"]["n"] == 0 and r["timing_ms"]["onset"]["n"] == 1


def test_false_alarms_per_minute():
    truth, pred = _mixed_case()
    r = score(truth, pred, duration_s=120.0)
    assert r["false_alarms"] == 1 and r["false_alarms_per_minute"] == pytest.approx(0.5)
    assert r["duration_source"] == "--duration"
    # from clip metadata: the longest clip_duration per clip, summed over clips
    t2 = [
        Annotation(onset=0.0, offset=0.2, clip="a", clip_duration=30.0),
        Annotation(onset=1.0, offset=1.2, clip="b", clip_duration=90.0),
    ]
    p2 = [S(5.0, 5.2, clip="a"), S(7.0, 7.2, clip="b"), S(9.0, 9.1, clip="b")]
    r = score(t2, p2)
    assert r["duration_s"] == 120.0 and r["false_alarms_per_minute"] == pytest.approx(1.5)
    assert score(truth, pred)["false_alarms_per_minute"] is None  # no duration known


def test_events_accept_event_objects_and_dicts():
    e = Event(
        face=0,
        onset=1.0,
        apex=1.1,
        offset=1.2,
        onset_frame=30,
        apex_frame=33,
        offset_frame=36,
        kind="micro",
        region="full",
        emotion="fear",
        confidence=0.7,
    )
    r = score([e.to_dict()], [e])
    assert r["overall"]["f1"] == 1.0 and r["emotion"]["accuracy"] == 1.0


# ----------------------------------------------------------------------------- files


def test_fixture_files_score_as_computed_by_hand():
    truth = load_events(FIX / "evaluate" / "truth.csv")
    pred = load_events(FIX / "evaluate" / "pred.jsonl")
    r = score(truth, pred)
    assert r["overall"]["f1"] == pytest.approx(0.8)
    assert r["micro"]["recall"] == pytest.approx(2 / 3) and r["micro"]["precision"] == pytest.approx(3 / 4)
    assert r["false_alarms_per_minute"] == pytest.approx(0.5)  # clip_duration 120 s
    assert r["emotion"]["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("t.csv", "clip,onset_frame,offset_frame,onset_franme\na,1,2,3\n", "unknown column"),
        ("t.csv", "", "no rows"),
        ("t.csv", "clip,kind\na,micro\n", "no onset_frame or onset column"),
        ("t.csv", "onset_frame,offset_frame\n5,x\n", "'x' is not a number"),
        ("t.csv", "onset_frame,offset_frame\n5,2\n", "before onset_frame"),
        ("t.csv", "onset_frame,offset_frame,kind\n1,2,tiny\n", "is not one of micro, macro, blink"),
        ("t.jsonl", '{"onset": 1.0, "offset": 2.0}\n{"onset": 1.0,\n', "line 2 is not valid JSON"),
        ("t.jsonl", "\n\n", "no events"),
        ("t.jsonl", '{"onset": 1.0}\n', "needs onset and offset"),
        ("t.txt", "x", "unsupported file type"),
    ],
)
def test_bad_truth_files_give_one_line_errors(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(EvaluationError, match=message) as info:
        load_events(p)
    assert "\n" not in str(info.value)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(EvaluationError, match="file not found"):
        load_events(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------- datasets with a fake analysis


def _truth_as_events(clip) -> list[Event]:
    return [
        Event(
            face=0,
            onset=a.onset,
            apex=a.apex if a.apex is not None else a.onset,
            offset=a.offset,
            onset_frame=a.onset_frame,
            apex_frame=a.apex_frame if a.apex_frame is not None else a.onset_frame,
            offset_frame=a.offset_frame,
            kind=a.kind,
            region="full",
            emotion=a.emotion or "neutral",
            confidence=1.0,
        )
        for a in clip.events
    ]


@pytest.mark.parametrize(
    "dataset, make",
    [
        ("casme2", fx.make_casme2),
        ("samm", fx.make_samm),
        ("samm_long", fx.make_samm_long),
        ("casme_sq", fx.make_casme_sq),
        ("csv", fx.make_csv_dataset),
    ],
)
def test_run_dataset_perfect_when_analysis_returns_the_truth(tmp_path, dataset, make):
    root = make(tmp_path)
    by_path = {c.frames_dir: c for c in load_dataset(dataset, root)}
    calls = []

    def fake(path, config=None, fps=None):
        calls.append((path, fps))
        return _truth_as_events(by_path[path])

    r = run_dataset(dataset, root, analyze_fn=fake)
    assert sorted(p for p, _ in calls) == sorted(by_path)
    assert all(fps == by_path[p].fps for p, fps in calls)
    assert r["overall"]["f1"] == 1.0 and r["overall"]["precision"] == 1.0 and r["overall"]["recall"] == 1.0
    assert r["false_alarms"] == 0 and r["false_alarms_per_minute"] == 0.0
    assert r["timing_ms"]["onset"]["mean_abs"] == pytest.approx(0.0, abs=1e-3)  # Event rounds seconds to 1 us
    assert r["duration_s"] == pytest.approx(sum(c.duration for c in by_path.values()))
    if r["emotion"]["n"]:
        assert r["emotion"]["accuracy"] == 1.0


def test_run_dataset_zero_when_analysis_finds_nothing(tmp_path):
    root = fx.make_casme2(tmp_path)
    r = run_dataset("casme2", root, analyze_fn=lambda path, config=None, fps=None: [])
    assert r["overall"]["recall"] == 0.0 and r["overall"]["f1"] == 0.0
    assert r["overall"]["n_truth"] == 3 and r["n_clips"] == 3


def test_run_dataset_reports_a_failing_clip_and_scores_the_rest(tmp_path):
    root = fx.make_casme2(tmp_path)
    by_path = {c.frames_dir: c for c in load_dataset("casme2", root)}

    def flaky(path, config=None, fps=None):
        if path.name == "EP03_02":
            raise RuntimeError("decoder exploded\nsecond line")
        return _truth_as_events(by_path[path])

    r = run_dataset("casme2", root, analyze_fn=flaky)
    assert r["clips_failed"] == [{"clip": "sub01/EP03_02", "error": "decoder exploded"}]
    assert r["overall"]["n_truth"] == 2 and r["overall"]["f1"] == 1.0

    with pytest.raises(EvaluationError, match="failed on every clip"):
        run_dataset("casme2", root, analyze_fn=lambda *a, **k: 1 / 0)


# ----------------------------------------------------------------------------- CLI


def _parse(argv):
    p = argparse.ArgumentParser(prog="microexpr evaluate")
    ev.add_arguments(p)
    return p.parse_args(argv)


def test_cli_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = _parse(
        [
            "--truth",
            str(FIX / "evaluate" / "truth.csv"),
            "--pred",
            str(FIX / "evaluate" / "pred.jsonl"),
            "--json",
            str(out),
        ]
    )
    assert ev.run(args) == 0
    table = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()
        for line in table.splitlines()
        if line.split()[:1] in (["micro"], ["macro"], ["overall"])
    }
    assert rows["overall"][-1] == "0.800" and rows["micro"][-3:] == ["0.750", "0.667", "0.706"]
    assert "0.50 per minute" in table and "2/3" in table
    data = json.loads(out.read_text())
    assert data["overall"]["f1"] == pytest.approx(0.8) and data["counts"]["pred_blinks_ignored"] == 1


def test_cli_json_to_stdout_only(capsys):
    args = _parse(
        [
            "--truth",
            str(FIX / "evaluate" / "truth.csv"),
            "--pred",
            str(FIX / "evaluate" / "pred.jsonl"),
            "--json",
            "-",
            "--strict-kind",
        ]
    )
    assert ev.run(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["strict_kind"] is True and data["overall"]["tp_truth"] == 3


def test_cli_several_prediction_files_take_the_clip_from_the_file_name(tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("clip,onset_frame,offset_frame,kind\nA,10,20,micro\nB,10,20,micro\n")
    (tmp_path / "A.jsonl").write_text('{"onset_frame": 10, "offset_frame": 20, "kind": "micro"}\n')
    (tmp_path / "B.jsonl").write_text("")  # nothing detected in B
    args = _parse(
        ["--truth", str(truth), "--pred", str(tmp_path / "A.jsonl"), str(tmp_path / "B.jsonl"), "--json", "-"]
    )
    ev.run(args)
    data = json.loads(capsys.readouterr().out)
    assert data["clips"] == {"A": {"truth": 1, "pred": 1, "tp": 1}, "B": {"truth": 1, "pred": 0, "tp": 0}}


def test_cli_dataset_mode_uses_the_pipeline_hook(tmp_path, capsys, monkeypatch):
    root = fx.make_samm_long(tmp_path)
    (clip,) = load_dataset("samm_long", root)
    monkeypatch.setattr(ev, "_pipeline_analyze", lambda path, config=None, fps=None: _truth_as_events(clip))
    out = tmp_path / "r.json"
    assert (
        ev.run(_parse(["--dataset", "samm_long", str(root), "--json", str(out), "--save-pred", str(tmp_path / "p")]))
        == 0
    )
    captured = capsys.readouterr()
    assert "dataset samm_long (1 clips)" in captured.out and "[1/1] 006/006_1" in captured.err
    assert json.loads(out.read_text())["overall"]["f1"] == 1.0
    saved = load_events(tmp_path / "p" / "006" / "006_1.jsonl")
    assert [(a.onset_frame, a.offset_frame) for a in saved] == [(9, 39), (49, 189), (149, 169)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--truth", "missing.csv", "--pred", "missing.jsonl"], "file not found"),
        (["--truth", "x.csv"], "give --truth FILE and --pred FILE"),
        (["--dataset", "casme2"], "needs the dataset folder"),
        (["--dataset", "casme2", "no_such_dir"], "dataset folder not found"),
        (["some_root"], "ROOT needs --dataset"),
        (["--dataset", "casme2", ".", "--config", "nope.toml"], "nope.toml"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EvaluationError, match=message):
        ev.run(_parse(argv))
    assert ev.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("microexpr: error: ") and "\n" not in err and "Traceback" not in err
