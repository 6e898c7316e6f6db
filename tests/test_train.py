"""`microexpr train`: the ladder, frame rounding, the seeded plan, scoring and its CSVs, the mirror round's
AU check, one-line errors, and a whole session in a real window under Xvfb (keys by xdotool, the frames
read back from the X server)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.app.cli import main
from detector.app.eyetrain import ladder, score
from detector.app.eyetrain.faces import BUNDLED_DIR
from detector.app.eyetrain.ladder import Level
from detector.app.eyetrain.mirror import MirrorAttempt, MirrorJudge, advice, missing_aus, mirror_session
from detector.app.eyetrain.options import EMOTIONS, FACE_IOD_PX, FACE_SIZE, TrainOptions
from detector.app.eyetrain.plan import emotion_of_key, key_of, round_aus, session_plan
from detector.app.eyetrain.render import PreparedFace
from detector.app.eyetrain.score import Answer, ScoreBook
from detector.app.eyetrain.session import WINDOW_NAME
from detector.app.eyetrain.timing import FrameTiming, Pacer, frames_for, shown_ms
from detector.core import facs
from detector.lab.facewarp import _grid, au_field, load_face_image
from detector.stages.landmarks import Landmarker, LandmarkerOptions
from detector.stages.source import VideoFileSource
from xwindow import Reader, find_window, need_xdotool, send_key, window_ids

OPTS = TrainOptions()


# --------------------------------------------------------------------------- timing


@pytest.mark.parametrize("asked, frame_ms, frames", [
    (40, 1000 / 60, 2),  # 33.3 ms: the nearest whole number of 60 Hz frames
    (500, 1000 / 60, 30),
    (5, 1000 / 60, 1),  # never less than one frame
    (40, 1000 / 25, 1),
    (40, 1000 / 144, 6),
    (100, 1000 / 200, 20),
])
def test_durations_are_whole_frames_never_less_than_one(asked, frame_ms, frames):
    assert frames_for(asked, frame_ms) == frames
    assert shown_ms(frames, frame_ms) == pytest.approx(frames * frame_ms)


def test_frame_time_is_the_slower_of_the_display_and_the_loop():
    assert FrameTiming(60.0, "randr", 2.5).frame_ms == pytest.approx(16.667, abs=1e-3)
    assert FrameTiming(240.0, "option", 9.0).frame_ms == 9.0  # a loop slower than the display sets the pace
    with pytest.raises(ValueError):
        frames_for(40, 0)


def test_pacer_presents_on_the_tick_and_restarts_after_a_late_frame():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 6))
        now[0] += s

    p = Pacer(10.0, clock=lambda: now[0], sleep=sleep)
    p.wait()  # first frame: at once
    now[0] += 0.003
    p.wait()  # 7 ms to the next tick
    now[0] += 0.025  # late by 15 ms: no catching up with short frames
    p.wait()
    now[0] += 0.001
    p.wait()
    assert slept == [0.007, 0.009]


# --------------------------------------------------------------------------- ladder and plan


def test_right_answers_shorten_the_flash_down_to_40_ms_and_lower_the_intensity():
    lv = ladder.first_level(OPTS)
    assert lv == Level(500.0, 1.0)
    seen = [lv]
    for _ in range(20):
        lv = ladder.next_level(lv, True, OPTS)
        seen.append(lv)
    durations = [x.duration_ms for x in seen]
    assert durations[1] == 375.0 and durations == sorted(durations, reverse=True)
    assert min(durations) == 40.0 and durations[-1] == 40.0
    assert seen[-1].intensity == OPTS.min_intensity
    up = ladder.next_level(Level(40.0, 0.35), False, OPTS)
    assert up.duration_ms > 40.0 and up.intensity > 0.35
    top = ladder.next_level(Level(500.0, 1.0), False, OPTS)
    assert top == Level(500.0, 1.0)  # never longer than 500 ms nor stronger than the start


def test_subtle_and_masked_rounds_only_at_short_flashes():
    assert ladder.round_kind(Level(300, 1), 0.0, "fear", OPTS) == "full"
    assert ladder.round_kind(Level(150, 1), 0.1, "fear", OPTS) == "subtle"
    assert ladder.round_kind(Level(150, 1), 0.9, "fear", OPTS) == "full"
    assert ladder.round_kind(Level(80, 1), 0.1, "fear", OPTS) == "masked"
    assert ladder.round_kind(Level(80, 1), 0.5, "fear", OPTS) == "subtle"
    assert ladder.round_kind(Level(80, 1), 0.1, "happiness", OPTS) != "masked"  # the mask is a smile
    assert ladder.round_kind(Level(150, 1), 0.1, "disgust", OPTS) == "full"  # no one-region subset


def test_the_seed_fixes_the_emotions_in_balanced_blocks():
    a, b = session_plan(7, 21, 3), session_plan(7, 21, 3)
    assert a == b
    assert [p.emotion for p in session_plan(8, 21, 3)] != [p.emotion for p in a]
    for block in range(3):
        assert sorted(p.emotion for p in a[7 * block:7 * block + 7]) == sorted(EMOTIONS)
    assert {p.face_index for p in a} == {0, 1, 2}


def test_keys_name_the_emotions():
    assert [key_of(e) for e in EMOTIONS] == list("1234567")
    assert emotion_of_key(ord("1")) == "anger" and emotion_of_key(ord("7")) == "surprise"
    assert emotion_of_key(0x100000 | ord("4")) == "fear"
    assert emotion_of_key(ord("8")) is None and emotion_of_key(-1) is None


def test_subtle_rounds_show_one_region_of_the_prototype():
    rp = session_plan(0, 7, 1)[[p.emotion for p in session_plan(0, 7, 1)].index("fear")]
    assert round_aus(rp, "full") == facs.PROTOTYPES["fear"][0]
    assert round_aus(rp, "subtle") in facs.PARTIALS["fear"].values()


# --------------------------------------------------------------------------- scores


def _answer(k: int, emotion: str, correct: bool, shown: float, session: str = "s1") -> Answer:
    return Answer(session, 1, k, "f", emotion, "full", "AU01", 1.0, shown, 3, 16.67, shown, shown + 0.2,
                  emotion if correct else "anger", correct, 900.0)


def test_accuracy_per_emotion_per_duration_and_before_after():
    answers = [_answer(1, "fear", False, 500), _answer(2, "fear", True, 366.7), _answer(3, "sadness", True, 83.3),
               _answer(4, "fear", True, 33.3)]
    assert score.per_emotion(answers) == {"fear": score.Tally(3, 2), "sadness": score.Tally(1, 1)}
    assert score.per_duration(answers) == {"<=50": score.Tally(1, 1), "50-100": score.Tally(1, 1),
                                           ">350": score.Tally(2, 1)}
    h = score.halves(answers)
    assert (h.before, h.after) == (score.Tally(2, 1), score.Tally(2, 2))
    assert h.before_ms == pytest.approx(433.35) and h.after_ms == pytest.approx(58.3)
    rows = {(r["group"], r["key"]): r for r in score.summary_rows(answers)}
    assert rows[("emotion", "fear")]["accuracy"] == "0.667" and rows[("all", "all")]["correct"] == 3
    assert "after  (rounds 3-4): 2/2 (100 %)" in "\n".join(score.summary_lines(answers))


def test_score_files_keep_earlier_sessions_and_are_written_whole(tmp_path):
    first = ScoreBook(tmp_path, "s1")
    first.add(_answer(1, "fear", True, 100, "s1"))
    second = ScoreBook(tmp_path, "s2")
    second.add(_answer(1, "anger", False, 200, "s2"))
    second.add(_answer(2, "anger", True, 150, "s2"))
    rows = list(csv.DictReader(open(tmp_path / score.ANSWERS_FILE)))
    assert [(r["session"], r["round"], r["correct"]) for r in rows] == [("s1", "1", "1"), ("s2", "1", "0"),
                                                                        ("s2", "2", "1")]
    assert tuple(rows[0]) == score.ANSWER_FIELDS
    summary = list(csv.DictReader(open(tmp_path / score.SUMMARY_FILE)))
    assert {r["session"] for r in summary} == {"s1", "s2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [score.ANSWERS_FILE, score.SUMMARY_FILE]  # no temp left


def test_a_foreign_csv_is_not_overwritten(tmp_path):
    (tmp_path / score.ANSWERS_FILE).write_text("a,b\n1,2\n")
    with pytest.raises(OSError, match="not a microexpr train file"):
        ScoreBook(tmp_path, "s")
    assert (tmp_path / score.ANSWERS_FILE).read_text() == "a,b\n1,2\n"


def test_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("MICROEXPR_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert score.data_dir() == tmp_path / "xdg" / "microexpr"
    monkeypatch.setenv("MICROEXPR_DATA", str(tmp_path / "env"))
    assert score.data_dir() == tmp_path / "env"
    assert score.data_dir(tmp_path / "opt") == tmp_path / "opt"


# --------------------------------------------------------------------------- mirror round


def _aus(**values: float) -> np.ndarray:
    v = np.zeros(len(facs.AU_NAMES), np.float32)
    for name, x in values.items():
        v[facs.AU_NAMES.index(name)] = x
    return v


def test_mirror_names_the_missing_aus():
    surprise = _aus(AU01_L=0.3, AU01_R=0.3, AU02_L=0.4, AU02_R=0.2, AU26=0.5)
    assert missing_aus("surprise", surprise, 0.12) == ("AU05",)
    assert advice(("AU05",)) == "raise the upper lids: AU5"
    assert missing_aus("surprise", surprise + _aus(AU05_R=0.2), 0.12) == ()
    # contempt is one-sided: both AUs on the same side
    assert missing_aus("contempt", _aus(AU12_L=0.3, AU14_L=0.2), 0.12) == ()
    assert missing_aus("contempt", _aus(AU12_L=0.3, AU14_R=0.05), 0.12) == ("AU14",)


def test_mirror_passes_only_when_held():
    a = MirrorAttempt("happiness", 0.12)
    full = _aus(AU06_L=0.3, AU12_L=0.4)
    assert a.update(full) == () and a.update(None) is None and not a.passed
    for _ in range(3):
        a.update(full)
    assert a.passed and a.verdict() == "mirror happiness: shown"
    b = MirrorAttempt("happiness", 0.12)
    b.update(_aus(AU12_R=0.5))
    assert b.verdict() == "mirror happiness: missing raise the cheeks: AU6"


@pytest.fixture(scope="module")
def man_face():
    return load_face_image(BUNDLED_DIR / "man_video.png", FACE_IOD_PX, FACE_SIZE)


def _neutral_then_surprise(face, path: Path, neutral_frames: int, frames: int) -> Path:
    """A 30 fps clip of the face: neutral, then surprise at full intensity (a webcam stand-in)."""
    grid = _grid(*face.image.shape[:2])
    field = au_field(face, {a: 1.0 for a in facs.PROTOTYPES["surprise"][0]})
    surprised = cv2.remap(face.image, grid - field, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, face.image.shape[1::-1])
    for k in range(frames):
        w.write(face.image if k < neutral_frames else surprised)
    w.release()
    return path


def test_mirror_round_on_a_warped_face_played_as_the_camera(man_face, tmp_path):
    """Neutral, then surprise: asked for happiness the judge names AU6 and AU12 missing; surprise passes."""
    path = _neutral_then_surprise(man_face, tmp_path / "cam.avi", 45, 195)
    opts = TrainOptions(mirror_neutral_s=1.2, mirror_s=2.0)
    with VideoFileSource(path) as src, Landmarker(LandmarkerOptions(mode="video")) as lm:
        happy, surprise = mirror_session(src, MirrorJudge(lm), opts, ("happiness", "surprise"))
    assert not happy.passed and set(happy.best_missing) == {"AU06", "AU12"}
    assert "pull the lip corners up: AU12" in happy.verdict()
    assert surprise.passed


# --------------------------------------------------------------------------- the warp


def test_every_flash_moves_the_face_without_folding(man_face):
    face = PreparedFace(man_face)
    neutral = face.frame(None)
    assert neutral.shape == (480, 640, 3)
    for emotion in EMOTIONS:
        for aus in facs.PROTOTYPES[emotion]:
            warp = face.warp(aus, 0.35)
            diff = np.abs(face.frame(warp).astype(int) - neutral).max(axis=2)
            assert (diff > 20).sum() > 50, (emotion, aus)  # visible
            assert warp.intensity == pytest.approx(0.35)  # weak enough: not scaled down to avoid folds


# --------------------------------------------------------------------------- one-line errors


@pytest.mark.parametrize("argv, message", [
    (["--duration-ms", "30"], "--duration-ms must be within 40..500 (got 30)"),
    (["--duration-ms", "501"], "--duration-ms must be within 40..500 (got 501)"),
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--faces", "/nonexistent/faces"], "--faces /nonexistent/faces: no such folder"),
    (["--refresh-hz", "5"], "--refresh-hz must be within 20..1000"),
    (["--mirror-seconds", "0"], "--mirror-seconds must be within 0.5..60"),
    (["--source", "/nonexistent.mp4"], "--source /nonexistent.mp4: no such file"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"microexpr: error: {message}")


def test_a_photo_without_a_face_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")  # the window is opened only after the faces load
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((300, 300, 3), 128, np.uint8))
    assert main(["train", "--faces", str(tmp_path), "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"microexpr: error: no face found in {tmp_path / 'wall.png'} (use a frontal photo with one " \
                      "face, eyes open)"
    assert not (tmp_path / "d").exists()


def test_an_empty_folder_and_no_display_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    assert main(["train", "--faces", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"microexpr: error: --faces {tmp_path}: no photos in it " \
                                              "(.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp)"
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["train", "--faces", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith("microexpr: error: no display to open a window on")


# --------------------------------------------------------------------------- a whole session, under Xvfb

#: Seed 3, four rounds from 80 ms: the emotions, the kinds the ladder gives with the answers below, and
#: the flashes in 60 Hz frames (80 ms -> 5 frames; right: x0.75 -> 60 ms = 4; 45 ms = 3; wrong: 60 ms = 4).
SEED = 3
EMOTIONS_OF_SEED = ["sadness", "surprise", "disgust", "contempt"]
ANSWERS = ["sadness", "surprise", "happiness", "contempt"]
KINDS = ["masked", "subtle", "full", "masked"]
REQUESTED = [80.0, 60.0, 45.0, 60.0]
FRAMES = [5, 4, 3, 4]
MASK_FRAMES = 36  # 600 ms of smile


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b)


def _check_round_frames(d: Path, flash_frames: int, masked: bool) -> None:
    """The frames read back from the X server: each is exactly the neutral, flash or mask frame, and the
    flash is on screen for exactly ``flash_frames`` consecutive frames, between neutral and mask/neutral."""
    refs = {"neutral": cv2.imread(str(d / "ref_neutral.png")), "flash": cv2.imread(str(d / "ref_flash.png"))}
    if masked:
        refs["mask"] = cv2.imread(str(d / "ref_mask.png"))
    assert not _same(refs["neutral"], refs["flash"])
    log = [json.loads(line) for line in (d / "frames.jsonl").read_text().splitlines()]
    seen = []
    for row in log:
        grab = cv2.imread(str(d / row["file"]))
        matches = [name for name, ref in refs.items() if _same(grab, ref)]
        assert len(matches) == 1, (d.name, row)
        seen.append(matches[0])
        expected = {"fore": "neutral", "after": "neutral"}.get(row["phase"], row["phase"])
        assert matches[0] == expected, (d.name, row)
    runs = "".join({"neutral": "n", "flash": "F", "mask": "m"}[s] for s in seen)
    core = runs.strip("n")
    assert core == "F" * flash_frames + ("m" * MASK_FRAMES if masked else ""), (d.name, runs)
    assert runs.startswith("n") and runs.endswith("n")


def test_a_whole_session_under_xvfb(xvfb, tmp_path):
    need_xdotool()
    if not (BUNDLED_DIR / "man_video.png").is_file():
        pytest.skip("bundled faces not in this checkout")
    assert [p.emotion for p in session_plan(SEED, 4, 3)] == EMOTIONS_OF_SEED
    env = dict(os.environ, DISPLAY=xvfb)
    data, grabs = tmp_path / "data", tmp_path / "grabs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "train", "--seed", str(SEED), "--rounds", "4", "--duration-ms", "80",
         "--refresh-hz", "60", "--data-dir", str(data), "--grab-dir", str(grabs)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, err = Reader(proc.stdout), Reader(proc.stderr)
    try:
        wid = find_window(WINDOW_NAME, env, proc)
        assert wid, f"no window appeared; stderr:\n{err.text}"
        assert err.wait_for("one frame = 16.67 ms"), err.text
        send_key(wid, "space", env)
        for k, (emotion, answer) in enumerate(zip(EMOTIONS_OF_SEED, ANSWERS, strict=True), 1):
            assert err.wait_for(f"round {k}/4: which emotion?"), err.text
            send_key(wid, key_of(answer), env)
            assert err.wait_for(f"round {k}/4: {emotion} ("), err.text
            send_key(wid, "space", env)
        send_key(wid, "q", env)  # the summary screen
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.join()
    assert rc == 0, err.text
    assert window_ids(WINDOW_NAME, env) == []  # the window is gone
    assert "quit" not in err.lines[-1:] and "Traceback" not in err.text

    rows = list(csv.DictReader(open(data / score.ANSWERS_FILE)))
    assert [r["emotion"] for r in rows] == EMOTIONS_OF_SEED
    assert [r["answer"] for r in rows] == ANSWERS
    assert [r["correct"] for r in rows] == ["1", "1", "0", "1"]
    assert [r["kind"] for r in rows] == KINDS
    assert [float(r["requested_ms"]) for r in rows] == REQUESTED
    assert [int(r["frames"]) for r in rows] == FRAMES
    assert {r["frame_ms"] for r in rows} == {"16.67"}
    for r in rows:
        assert float(r["shown_ms"]) == pytest.approx(int(r["frames"]) * 1000 / 60, abs=0.01)
        assert abs(float(r["measured_ms"]) - float(r["shown_ms"])) < 1000 / 60  # within a frame
        assert r["seed"] == str(SEED)
    assert rows[1]["aus"] == " ".join(facs.PARTIALS["surprise"]["upper"])  # the subtle round: brows and lids
    summary = {(r["group"], r["key"]): r for r in csv.DictReader(open(data / score.SUMMARY_FILE))}
    assert summary[("half", "before")]["correct"] == "2" and summary[("half", "after")]["correct"] == "1"
    assert summary[("emotion", "disgust")]["accuracy"] == "0.000"
    assert "accuracy 3/4 (75 %)" in out.text
    for k, line in enumerate(x for x in err.lines if "measured" in x):
        assert f"asked {REQUESTED[k]:.0f} ms, shown {FRAMES[k]} frames" in line  # logged with each answer

    for k in range(4):
        d = grabs / f"round{k + 1:02d}"
        _check_round_frames(d, FRAMES[k], KINDS[k] == "masked")
        # the feedback holds the expression: between its text bands, exactly the flash frame
        fb, flash = cv2.imread(str(d / "feedback.png")), cv2.imread(str(d / "ref_flash.png"))
        assert _same(fb[70:380], flash[70:380])


def test_camera_face_and_mirror_rounds_in_the_window(xvfb, tmp_path, man_face):
    """``--faces camera`` takes its face from the (stand-in) webcam; ``--mirror`` then judges each emotion:
    the clip shows surprise, so surprise is shown and happiness lacks AU6 and AU12."""
    need_xdotool()
    clip = _neutral_then_surprise(man_face, tmp_path / "cam.avi", 60, 60 + 30 * 8)
    env = dict(os.environ, DISPLAY=xvfb)
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "train", "--faces", "camera", "--source", str(clip), "--mirror",
         "--mirror-seconds", "1", "--rounds", "1", "--seed", "0", "--refresh-hz", "60",
         "--data-dir", str(tmp_path / "data")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, err = Reader(proc.stdout), Reader(proc.stderr)
    try:
        wid = find_window(WINDOW_NAME, env, proc)
        assert wid, f"no window appeared; stderr:\n{err.text}"
        assert err.wait_for("faces: camera") and err.wait_for("one frame"), err.text
        send_key(wid, "space", env)
        assert err.wait_for("round 1/1: which emotion?"), err.text
        send_key(wid, "1", env)
        assert err.wait_for("round 1/1: "), err.text
        send_key(wid, "space", env)
        send_key(wid, "space", env)  # the summary screen; then the mirror rounds
        assert err.wait_for("mirror surprise:", timeout=120), err.text
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.join()
    assert rc == 0, err.text
    assert "mirror surprise: shown" in err.text
    assert "mirror happiness: missing raise the cheeks: AU6; pull the lip corners up: AU12" in err.text
    assert err.count("mirror ") == 7
    assert len(list(csv.DictReader(open(tmp_path / "data" / score.ANSWERS_FILE)))) == 1
    mirror = {r["emotion"]: r for r in csv.DictReader(open(tmp_path / "data" / score.MIRROR_FILE))}
    assert list(mirror) == list(EMOTIONS)
    assert mirror["surprise"]["shown"] == "1" and mirror["surprise"]["missing"] == ""
    assert (mirror["happiness"]["shown"], mirror["happiness"]["missing"]) == ("0", "AU06 AU12")


def test_an_unreachable_x_display_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    """Qt would abort the process; the display is checked first."""
    monkeypatch.setenv("DISPLAY", ":7999")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if not (BUNDLED_DIR / "man_video.png").is_file():
        pytest.skip("bundled faces not in this checkout")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "man.png").write_bytes((BUNDLED_DIR / "man_video.png").read_bytes())
    assert main(["train", "--faces", str(tmp_path / "f"), "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "microexpr: error: cannot open the X display :7999 (is the X server running, and may this " \
                      "user use it?)"
