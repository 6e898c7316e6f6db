"""Bad input and faults, the way a new user meets them (issue 11): one place for the whole matrix.

Rules checked here: every bad input gives one line ``microexpr: error: ...`` and a non-zero
exit code, never a traceback; inputs are never written; outputs are replaced atomically (a part
file beside the target, renamed at the end); an interrupted or failed run keeps what it found,
the event in progress included.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector.app.sinks import JsonlEventSink, OutputError, part_path

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SAMPLE = DATA / "WolfgangLanger_Pexels.mp4"  # 472 frames, one event ending about 10 s in
SHORT = DATA / "single_face.mp4"  # 72 frames


def microexpr(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detector", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def one_line_error(r: subprocess.CompletedProcess, fragment: str, code: int = 2) -> str:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "compiling the segmenter" not in ln]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("microexpr: error: ") and fragment in lines[0], lines[0]
    return lines[0]


def events_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


# --------------------------------------------------------------------------- 1. an output is never an input


@pytest.mark.parametrize("flag", ["-o", "--frames-csv"])
def test_output_that_is_the_input_is_refused_and_input_untouched(tmp_path, flag):
    video = tmp_path / "c.mp4"
    video.write_bytes(SHORT.read_bytes())
    r = microexpr("analyze", video, flag, video, "--no-progress")
    one_line_error(r, "is also an input")
    assert video.read_bytes() == SHORT.read_bytes()


def test_output_that_is_the_input_by_another_name_is_refused(tmp_path):
    video = tmp_path / "c.mp4"
    video.write_bytes(SHORT.read_bytes())
    (tmp_path / "link.mp4").symlink_to(video)
    r = microexpr("analyze", video, "-o", tmp_path / "link.mp4", "--no-progress")
    one_line_error(r, "is also an input")
    assert video.read_bytes() == SHORT.read_bytes()


def test_events_and_frames_csv_must_differ(tmp_path):
    out = tmp_path / "same.txt"
    r = microexpr("analyze", SHORT, "-o", out, "--frames-csv", out, "--no-progress")
    one_line_error(r, "same file")
    assert not out.exists()


# --------------------------------------------------------------------------- 2. nothing opened before every check


def test_usage_error_leaves_an_earlier_result_untouched(tmp_path):
    prior = tmp_path / "prior.jsonl"
    prior.write_text('{"earlier": "result"}\n')
    r = microexpr("analyze", SHORT, "-o", prior, "--frames-csv", "/nonexistent/f.csv", "--no-progress")
    one_line_error(r, "does not exist")
    assert prior.read_text() == '{"earlier": "result"}\n'
    assert not part_path(prior).exists()


def test_failed_input_leaves_an_earlier_result_untouched(tmp_path):
    prior = tmp_path / "prior.jsonl"
    prior.write_text('{"earlier": "result"}\n')
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 10)
    r = microexpr("analyze", bad, "-o", prior, "--no-progress")
    one_line_error(r, "not a readable video")
    assert prior.read_text() == '{"earlier": "result"}\n'


# --------------------------------------------------------------------------- 3. interruption keeps the event in progress


def _interrupt_at(frame: int):
    """A progress callback of cli._analyze_one that stops the run the way a signal does, after ``frame`` frames."""
    def progress(total):
        def update(done, final=False):
            if done == frame and not final:
                raise KeyboardInterrupt
        return update
    return progress


def test_interrupt_flushes_the_event_in_progress_like_end_of_file(tmp_path):
    from detector.app.cli import _analyze_one
    from detector.run.config import load_config
    from detector.run.pipeline import Analyzer, run
    from detector.stages.landmarks import Landmarker
    from detector.stages.source import open_source

    cfg = load_config()
    out = tmp_path / "e.jsonl"
    summary, interrupted, error = _analyze_one(SAMPLE, cfg, output=out, progress=_interrupt_at(212))
    assert interrupted and error is None and summary.frames == 212
    with open_source(SAMPLE) as src, Landmarker(cfg.landmarks) as lm:  # the same file ending at frame 212
        expected = run(itertools.islice(src, 212), lm, Analyzer(cfg))
    got = events_of(out)
    assert len(got) >= 1  # the event in progress at frame 212 (0 before the fix)
    assert got == [e.to_dict() for e in expected]


def _wait_for_first_event(p: subprocess.Popen, out: Path) -> None:
    part = part_path(out)
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None and not (part.exists() and part.read_bytes().endswith(b"\n")):
        time.sleep(0.02)
    assert p.poll() is None, "finished before it could be interrupted"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_with_workers_keeps_events_prints_summary_no_leaks(tmp_path, sig, code):
    out = tmp_path / "e.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "detector", "analyze", str(SAMPLE), "-o", str(out), "--workers", "2",
                          "--chunk-s", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _wait_for_first_event(p, out)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == code, stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    assert "interrupted" in stdout and "events" in stdout  # the summary
    assert events_of(out) and not part_path(out).exists()


# --------------------------------------------------------------------------- 4. a full disk


def test_full_device_is_one_line_exit_1(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    r = microexpr("analyze", SAMPLE, "-o", "/dev/full", "--no-progress", "--include-blinks")
    one_line_error(r, "No space left on device", code=1)


def _file_size_limit(n_bytes: int):
    def limit():  # a disk that fills up during the run: writes past n_bytes fail (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))
    return limit


def test_disk_filling_up_keeps_whole_rows_and_events(tmp_path):
    out, frames = tmp_path / "e.jsonl", tmp_path / "f.csv"
    r = microexpr("analyze", SAMPLE, "-o", out, "--frames-csv", frames, "--no-progress", "--include-blinks",
                  preexec_fn=_file_size_limit(300_000))
    one_line_error(r, "cannot write", code=1)
    rows = list(csv.reader(frames.open(newline="")))
    assert 10 < len(rows) < 473  # cut short...
    assert {len(row) for row in rows} == {len(rows[0])}  # ...after a whole row
    assert frames.stat().st_size <= 300_000
    for d in events_of(out):  # the events found up to then, flushed
        assert d["kind"] in ("micro", "macro", "blink")
    assert events_of(out), "the events found before the disk filled up are kept"
    assert not part_path(out).exists() and not part_path(frames).exists()


# --------------------------------------------------------------------------- 9. two runs, one output


def test_second_writer_of_the_same_output_is_refused(tmp_path):
    out = tmp_path / "e.jsonl"
    first = JsonlEventSink(out)
    with pytest.raises(OutputError, match="another microexpr run is writing it"):
        JsonlEventSink(out)
    first.close()
    JsonlEventSink(out).close()  # free again once the first is done


def test_run_writing_an_output_in_use_is_refused_and_changes_nothing(tmp_path):
    out = tmp_path / "e.jsonl"
    out.write_text('{"earlier": "result"}\n')
    holder = JsonlEventSink(out)  # another run, still writing
    try:
        r = microexpr("analyze", SHORT, "-o", out, "--no-progress")
        one_line_error(r, "another microexpr run is writing it")
        assert out.read_text() == '{"earlier": "result"}\n'
    finally:
        holder.close()


# --------------------------------------------------------------------------- 8. the Python API


def _truncated_sample(tmp_path: Path, fraction: float) -> Path:
    raw = SAMPLE.read_bytes()
    mdat = raw.find(b"mdat")
    assert 0 < raw.find(b"moov") < mdat  # index at the front: frames before the cut decode
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(raw[: mdat + int((len(raw) - mdat) * fraction)])
    return cut


def test_api_truncated_file_raises_with_the_events_found(tmp_path):
    import detector
    from detector.stages.source import SourceError

    with pytest.raises(SourceError, match="truncated") as info:
        detector.analyze(_truncated_sample(tmp_path, 0.6))
    assert info.value.events, "the events found before the cut (the one in progress flushed) are attached"
    assert all(e.offset_frame < 0.6 * 472 for e in info.value.events)


def test_api_missing_file_is_file_not_found(tmp_path):
    import detector
    from detector.stages.source import SourceError

    with pytest.raises(FileNotFoundError) as info:
        detector.analyze(tmp_path / "missing.mp4")
    assert isinstance(info.value, SourceError) and "no such file" in str(info.value)


def test_api_folder_without_fps_names_the_parameter(tmp_path):
    import detector

    (tmp_path / "f001.png").write_bytes(b"")
    with pytest.raises(Exception, match="fps="):
        detector.analyze(tmp_path)


def test_api_prints_no_ffmpeg_or_opencv_lines(tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(SHORT.read_bytes()[:60_000])  # index at the end: "moov atom not found"
    code = ("import detector, sys\nfrom detector.stages.source import SourceError\n"
            f"try:\n    detector.analyze({str(cut)!r})\nexcept SourceError as e:\n    print('raised', e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}  # as a user's shell has it
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert "raised" in r.stdout and "not a readable video" in r.stdout
    assert r.stderr == ""


# --------------------------------------------------------------------------- 7. head motion is marked


def test_head_motion_flag_marks_the_event_in_jsonl():
    import numpy as np

    from detector.core.events import Event
    from detector.run.config import load_config
    from detector.run.pipeline import Analyzer
    from detector.stages.segmenter import Segment

    from detector.stages.features import CHANNEL_REGIONS

    c = len(CHANNEL_REGIONS)
    seg = Segment(10, 12, 14, 0.4, 0.48, 0.56, "micro", "upper", np.zeros(6), 6.0, np.zeros(c, np.float32),
                  np.full(c, 0.1, np.float32), head_motion=True)
    analyzer = Analyzer(load_config().replace("segmenter", head_motion="flag"))
    (event,) = analyzer._events(0, [seg])
    d = json.loads(event.to_json())
    assert d["head_motion"] is True
    assert Event.from_dict(d).head_motion is True
    assert Event.from_dict({k: v for k, v in d.items() if k != "head_motion"}).head_motion is False  # older files


# --------------------------------------------------------------------------- 5. configuration values


@pytest.mark.parametrize("toml, fragment", [
    ("[landmarks]\nmax_faces = 0\n", "max_faces must be >= 1"),
    ("[landmarks]\nmode = \"foo\"\n", "mode must be one of"),
    ("[landmarks]\ndelegate = \"tpu\"\n", "delegate must be one of"),
    ("[landmarks]\nmin_detection_confidence = 5\n", "min_detection_confidence must be <= 1"),
    ("[landmarks]\ntimestamp_scale = 0\n", "timestamp_scale must be > 0"),
    ("[classifier]\ndevice = \"tpu\"\n", "device must be one of"),
    ("max_faces = 2\n", "outside any section"),
], ids=["max_faces-0", "mode-foo", "delegate-tpu", "confidence-5", "timestamp_scale-0", "device-tpu", "top-level-key"])
def test_bad_config_value_is_one_line(tmp_path, toml, fragment):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    one_line_error(microexpr("analyze", SHORT, "--config", cfg, "-q"), fragment)


def test_bad_max_faces_flag_names_the_flag():
    one_line_error(microexpr("analyze", SHORT, "--max-faces", "0", "-q"), "--max-faces")


def test_gpu_delegate_without_gpu_falls_back_to_cpu(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[landmarks]\ndelegate = \"gpu\"\n")
    r = microexpr("analyze", SHORT, "--config", cfg, "-q")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) <= 1  # at most the one "running on CPU" line


# --------------------------------------------------------------------------- 6. frame rates


@pytest.mark.parametrize("fps", ["inf", "1e-9", "nan", "0", "-5"])
def test_unusable_fps_is_one_line(tmp_path, fps):
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(str(SHORT))
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i:03d}.png"), cap.read()[1])
    cap.release()
    one_line_error(microexpr("analyze", frames, "--fps", fps, "-q"), "--fps must be a number of frames per second")


def test_api_unusable_fps_is_source_error(tmp_path):
    import detector
    from detector.stages.source import SourceError

    (tmp_path / "f001.png").write_bytes(b"")
    with pytest.raises(SourceError, match="frames per second"):
        detector.analyze(tmp_path, fps=float("inf"))


# --------------------------------------------------------------------------- 10. smaller ones


def test_single_image_is_not_a_one_frame_video(tmp_path):
    import cv2

    img = tmp_path / "face.jpg"
    cv2.imwrite(str(img), cv2.VideoCapture(str(SHORT)).read()[1])
    one_line_error(microexpr("analyze", img, "-q"), "single image")


def test_pipe_is_not_called_empty():
    r = subprocess.run([sys.executable, "-m", "detector", "analyze", "/dev/stdin", "-q"], input=SHORT.read_bytes(),
                       capture_output=True, cwd=ROOT, timeout=120)
    r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())
    one_line_error(r, "not a regular file")


def test_output_dash_is_standard_output(tmp_path):
    r = subprocess.run([sys.executable, "-m", "detector", "analyze", str(SAMPLE), "-o", "-", "--no-progress",
                        "--include-blinks"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "-").exists()
    events = [json.loads(x) for x in r.stdout.splitlines()]  # only events: the summary went to stderr
    assert events and all("onset_frame" in d for d in events)
    assert "events" in r.stderr


def test_compile_notice_only_when_the_kernel_cache_is_cold(tmp_path):
    from detector.app.cli import _kernel_cache_warm

    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    src = tmp_path / "kernels.py"
    src.write_text("x = 1\n")
    assert not _kernel_cache_warm(tmp_path)  # nothing compiled yet
    (tmp_path / "__pycache__").mkdir()
    index = tmp_path / "__pycache__" / f"kernels.step-10.{tag}.nbi"
    index.write_bytes(b"")
    os.utime(src, (1_000_000, 1_000_000))
    assert _kernel_cache_warm(tmp_path)  # compiled from the current source
    os.utime(src, None)
    os.utime(index, (1_000_000, 1_000_000))
    assert not _kernel_cache_warm(tmp_path)  # the source changed since


def test_ctrl_c_waits_for_the_landmarker_to_close():
    from detector.stages.landmarks import _signals_blocked

    inside_done = False
    with pytest.raises(KeyboardInterrupt):
        with _signals_blocked():
            os.kill(os.getpid(), signal.SIGINT)
            inside_done = True  # not interrupted half-way: the signal waits for the end of the block
    assert inside_done


def test_data_readme_frame_count_is_what_decodes():
    import cv2

    cap = cv2.VideoCapture(str(DATA / "no_face.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    row = next(ln for ln in (DATA / "README.md").read_text().splitlines() if "`no_face.mp4`" in ln)
    assert row.split("|")[2].strip().split()[0] == str(n)


@pytest.mark.parametrize("flag", ["--events", "--record"])
def test_live_output_that_is_the_source_is_refused(tmp_path, flag):
    video = tmp_path / "c.mp4"
    video.write_bytes(SHORT.read_bytes())
    r = microexpr("live", "--source", video, "--as-fast-as-possible", "--no-window", flag, video)
    one_line_error(r, "is also an input")
    assert video.read_bytes() == SHORT.read_bytes()


def test_more_max_faces_than_faces_warns_about_the_noise():
    r = microexpr("analyze", SHORT, "--max-faces", "2", "-q")
    assert r.returncode == 0, r.stderr
    assert "max_faces is 2 but 1 face(s) found" in r.stderr and "--max-faces 1" in r.stderr


def test_live_failing_before_the_start_leaves_an_earlier_result_untouched(tmp_path):
    prior = tmp_path / "prior.jsonl"
    prior.write_text('{"earlier": "result"}\n')
    r = microexpr("live", "--source", SHORT, "--as-fast-as-possible", "--no-window", "--events", prior,
                  "--record", tmp_path / "no-such-folder" / "out.mp4")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert prior.read_text() == '{"earlier": "result"}\n'
    assert not part_path(prior).exists()


@pytest.mark.parametrize("name, text, fragment", [
    ("cut.jsonl", '{"onset_frame": 1, "offset_frame": 5}\n{"onset_frame": 1, "emotion": "hap\n',
     "line 2 is not valid JSON (Unterminated string starting at: column 31)"),
    ("cut.json", '[{"onset_frame": 1, "emotion": "hap', "(Unterminated string starting at: line 1 column 32)"),
])
def test_json_error_says_where(tmp_path, name, text, fragment):
    f = tmp_path / name
    f.write_text(text)
    one_line_error(microexpr("evaluate", "--truth", f, "--pred", f), fragment)
