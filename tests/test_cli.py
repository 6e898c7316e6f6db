"""The analyze command as a user runs it: bad input, outputs, interruption."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector.app.sinks import part_path
from detector.core.events import Event, KINDS, EVENT_REGIONS
from detector.core.facs import EMOTIONS

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def microexpr(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def assert_one_line_error(r: subprocess.CompletedProcess, fragment: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("microexpr: error: ")
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "missing.mp4", "no such file"),
        (lambda d: _write(d / "empty.mp4", b""), "empty"),
        (lambda d: _write(d / "notes.mp4", b"this is a text file, not a video\n" * 20), "not a readable video"),
        (lambda d: _write(d / "cut.mp4", (DATA / "single_face.mp4").read_bytes()[:60_000]), "not a readable video"),
    ],
    ids=["missing", "empty", "text-as-mp4", "truncated-header"],
)
def test_bad_video_input_is_one_line_exit_2(tmp_path, make, fragment):
    path = make(tmp_path)
    r = microexpr("analyze", str(path), "-o", str(tmp_path / "e.jsonl"))
    assert_one_line_error(r, fragment)


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_truncated_video_keeps_frames_and_exits_2(tmp_path):
    # Keep the header (moov atom at the front of this file) but cut the media data:
    # frames before the cut decode, the rest are gone.
    raw = (DATA / "WolfgangLanger_Pexels.mp4").read_bytes()
    moov = raw.find(b"moov")
    mdat = raw.find(b"mdat")
    if not (0 < moov < mdat):
        pytest.skip("sample clip has its index at the end; cannot make a decodable truncated copy")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(raw[: mdat + (len(raw) - mdat) // 2])
    r = microexpr("analyze", str(cut), "-o", str(tmp_path / "e.jsonl"), "--no-progress")
    assert r.returncode == 2
    assert "truncated" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "e.jsonl").exists()


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    r = microexpr("analyze", str(tmp_path), "--fps", "200")
    assert_one_line_error(r, "no images")


def test_folder_needs_fps(tmp_path):
    r = microexpr("analyze", str(tmp_path))
    assert_one_line_error(r, "--fps")


def test_unwritable_output(tmp_path):
    r = microexpr("analyze", str(DATA / "single_face.mp4"), "-o", str(tmp_path / "nope" / "e.jsonl"))
    assert_one_line_error(r, "does not exist")


def test_bad_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[segmenter]\nno_such_threshold = 3\n")
    r = microexpr("analyze", str(DATA / "single_face.mp4"), "--config", str(cfg))
    assert_one_line_error(r, "no_such_threshold")
    cfg.write_text("[segmenter\n")
    r = microexpr("analyze", str(DATA / "single_face.mp4"), "--config", str(cfg))
    assert_one_line_error(r, "not valid TOML")


def test_no_face_video_is_a_warning_not_an_error(tmp_path):
    out = tmp_path / "e.jsonl"
    r = microexpr("analyze", str(DATA / "no_face.mp4"), "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "no face" in r.stderr
    assert "Traceback" not in r.stderr
    assert out.read_text() == ""
    assert "frames with face  0" in r.stdout


def _check_event_schema(d: dict) -> None:
    keys = {"face", "onset", "apex", "offset", "onset_frame", "apex_frame", "offset_frame", "duration_ms",
            "kind", "region", "emotion", "confidence", "scores", "action_units", "intensity"}
    assert keys <= set(d)
    assert d["onset"] <= d["apex"] <= d["offset"]
    assert d["onset_frame"] <= d["apex_frame"] <= d["offset_frame"]
    assert d["kind"] in KINDS and d["region"] in EVENT_REGIONS and d["emotion"] in EMOTIONS
    assert set(d["scores"]) == set(EMOTIONS)
    assert abs(sum(d["scores"].values()) - 1.0) < 1e-3
    assert 0.0 <= d["confidence"] <= 1.0
    assert d["confidence"] == pytest.approx(d["scores"][d["emotion"]], abs=1e-3)
    assert d["duration_ms"] == pytest.approx((d["offset"] - d["onset"]) * 1000, abs=0.01)
    if d["kind"] == "micro":
        assert d["duration_ms"] < 500
    elif d["kind"] == "macro":
        assert 500 <= d["duration_ms"] <= 4000


def test_face_then_no_face_clip_outputs(tmp_path):
    """Faces lost mid-clip: exit 0, per-frame CSV marks the frames without a face."""
    out, frames = tmp_path / "e.jsonl", tmp_path / "f.csv"
    r = microexpr("analyze", str(DATA / "face_noface.mov"), "-o", str(out), "--frames-csv", str(frames),
                  "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(frames.open()))
    assert len(rows) == 169
    success = [int(row["success"]) for row in rows]
    assert success[0] == 1 and success[-10] == 0  # face at the start, gone near the end
    ts = [float(row["timestamp"]) for row in rows]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert {"pose_yaw", "bs_mouthSmileLeft", "AU12_L_r"} <= set(rows[0])
    for line in out.read_text().splitlines():
        _check_event_schema(json.loads(line))


def test_talking_face_clip_end_to_end(tmp_path):
    out = tmp_path / "e.jsonl"
    r = microexpr("analyze", str(DATA / "WolfgangLanger_Pexels.mp4"), "-o", str(out), "--no-progress",
                  "--include-blinks")
    assert r.returncode == 0, r.stderr
    assert "frames            472" in r.stdout
    n_face = int(r.stdout.split("frames with face")[1].split()[0])
    assert n_face > 400  # the face is visible throughout
    events = [json.loads(x) for x in out.read_text().splitlines()]
    for d in events:
        _check_event_schema(d)
    onsets = [d["onset"] for d in events]
    assert all(0 <= t <= 20.0 for t in onsets)


def test_ctrl_c_leaves_valid_jsonl(tmp_path):
    out = tmp_path / "e.jsonl"
    p = subprocess.Popen(
        [sys.executable, "-m", "detector", "analyze", str(DATA / "WolfgangLanger_Pexels.mp4"), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    # Interrupt as soon as the first event has been written (the clip's one event ends about
    # 10 s into its 19.7 s, so several seconds of frames are still to come), not after a fixed
    # sleep that a fast machine outruns.
    deadline = time.time() + 120
    part = part_path(out)  # written there until the run ends, then renamed to out
    while time.time() < deadline and p.poll() is None and not (part.exists() and part.read_text().endswith("\n")):
        time.sleep(0.02)
    assert p.poll() is None, "finished before it could be interrupted"
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "472/472 frames" not in stderr  # stopped part-way
    assert "Traceback" not in stderr
    assert "interrupted" in stdout
    lines = out.read_text().splitlines()
    assert lines  # the event found before Ctrl-C is kept
    for line in lines:
        Event.from_dict(json.loads(line))


def test_version():
    r = microexpr("--version")
    assert r.returncode == 0 and r.stdout.startswith("microexpr ")


def test_version_and_help_load_no_heavy_module():
    # issue 18: `microexpr --version` / `--help` in well under 0.3 s: no numpy, cv2, numba, onnxruntime, MediaPipe
    code = ("import sys\nfrom detector.app.cli import main\n"
            "for argv in (['--version'], ['--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = sorted(m for m in ('numpy', 'cv2', 'numba', 'onnxruntime', 'mediapipe') if m in sys.modules)\n"
            "print('HEAVY', heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr
