"""``microexpr analyze --cluster ray``: chunk tasks on a local Ray with 2 CPUs (detector.run.cluster).

What is asserted:

* several files analysed on Ray give byte-identical events and frame CSVs to
  ``--workers 1`` (the same chunk grid, the segmenter in order on the driver;
  tasks of two chunks each, so seeks, borders inside a task and between
  tasks are all covered; one chunk per task in the killed-worker test);
* a bad file among good ones is reported in one line, the others go on;
* a chunk task whose worker process is killed (SIGKILL, by its pid) is run
  again by Ray and the result is unchanged;
* ``--resume`` skips inputs whose outputs are complete (NAME.done.json) and
  redoes the rest (no marker: interrupted, failed or never run);
* Ctrl-C ends the run with exit 130, valid outputs, no Ray process left;
* without the [cluster] extra: one line saying what to install, exit 2.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector.app.sinks import done_path, is_done, write_done
from detector.core.events import Event
from detector.run.cluster import KILL_ONCE_ENV, parse_address, task_runs
import procs

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
CLIP = DATA / "WolfgangLanger_Pexels.mp4"  # 472 frames, 19.7 s: 4 chunks at chunk_s = 5
GOOD = [CLIP, DATA / "single_face.mp4", DATA / "face_noface.mov"]
NAMES = ["WolfgangLanger_Pexels", "single_face", "face_noface"]
COMMON = ("--chunk-s", "5", "--include-blinks", "--no-progress")

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason='needs the [cluster] extra (pip install -e ".[cluster]")')


def microexpr(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("microexpr: error:")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same inputs (three good files and a broken one) with ``--workers 1`` and with ``--cluster ray``."""
    tmp = tmp_path_factory.mktemp("cluster")
    broken = tmp / "broken.mp4"
    broken.write_bytes(b"not a video\n" * 50)
    inputs = [str(p) for p in (GOOD[0], broken, *GOOD[1:])]
    local = microexpr("analyze", *inputs, "-o", str(tmp / "local"), "--frames-csv", str(tmp / "local"),
                      "--workers", "1", *COMMON)
    ray = microexpr("analyze", *inputs, "-o", str(tmp / "ray"), "--frames-csv", str(tmp / "ray"),
                    "--cluster", "ray", "--workers", "2", "--task-s", "10", *COMMON) if HAVE_RAY else None
    return tmp, local, ray


@needs_ray
def test_events_identical_to_local_pool(runs):
    tmp, local, ray = runs
    assert local.returncode == 1, local.stderr  # the broken file
    assert ray.returncode == 1, ray.stderr
    assert "Traceback" not in ray.stderr
    assert "Ray (local Ray): 2 CPUs" in ray.stderr
    n_events = 0
    for name in NAMES:
        for suffix in (".events.jsonl", ".frames.csv"):
            a, b = (tmp / "local" / (name + suffix)).read_bytes(), (tmp / "ray" / (name + suffix)).read_bytes()
            assert a == b, name + suffix
        n_events += len((tmp / "ray" / (name + ".events.jsonl")).read_text().splitlines())
    assert n_events >= 1  # the comparison covers events, not only empty files
    rows = (tmp / "ray" / "WolfgangLanger_Pexels.frames.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[1]) for r in rows] == list(range(472))  # 4 chunks, every frame once, in order


@needs_ray
def test_bad_file_reported_others_go_on(runs):
    tmp, _, ray = runs
    errors = _errors(ray.stderr)
    assert len(errors) == 1 and "broken.mp4" in errors[0] and "not a readable video" in errors[0]
    assert "3 done" in ray.stdout and "1 failed" in ray.stdout
    assert not (tmp / "ray" / "broken.events.jsonl").exists()
    assert not (tmp / "ray" / "broken.done.json").exists()
    for name in NAMES:  # complete: marked
        assert (tmp / "ray" / f"{name}.done.json").is_file()
    assert not list((tmp / "ray").glob(".*part"))  # every output put in place


@needs_ray
def test_killed_worker_is_retried(runs, tmp_path):
    tmp, _, _ = runs
    marker = tmp_path / "killed.pid"
    r = microexpr("analyze", str(CLIP), str(GOOD[1]), "-o", str(tmp_path / "out"), "--cluster", "ray",
                  "--workers", "2", "--task-s", "0", *COMMON, env={KILL_ONCE_ENV: str(marker)})
    assert r.returncode == 0, r.stderr
    pid = int(marker.read_text())  # the chunk task that killed its own worker process (SIGKILL)
    assert pid != os.getpid() and not Path(f"/proc/{pid}").exists()
    for name in NAMES[:2]:
        assert ((tmp_path / "out" / f"{name}.events.jsonl").read_bytes()
                == (tmp / "local" / f"{name}.events.jsonl").read_bytes())


@needs_ray
def test_single_input_on_ray(runs, tmp_path):
    tmp, _, _ = runs
    out = tmp_path / "e.jsonl"
    r = microexpr("analyze", str(CLIP), "-o", str(out), "--cluster", "ray", "--workers", "2", *COMMON)
    assert r.returncode == 0, r.stderr
    assert "frames            472" in r.stdout
    assert out.read_bytes() == (tmp / "local" / "WolfgangLanger_Pexels.events.jsonl").read_bytes()


@needs_ray
def test_resume_skips_complete_outputs(runs, tmp_path):
    tmp, _, _ = runs
    out = tmp_path / "out"
    shutil.copytree(tmp / "ray", out)
    (out / "single_face.done.json").unlink()  # as after Ctrl-C: output there, no marker
    (out / "single_face.events.jsonl").write_text("")
    (out / "face_noface.events.jsonl").unlink()  # marker without its output
    before = (out / "WolfgangLanger_Pexels.done.json").stat().st_mtime_ns
    inputs = [str(p) for p in GOOD]
    r = microexpr("analyze", *inputs, "-o", str(out), "--frames-csv", str(out), "--cluster", "ray", "--workers",
                  "2", "--resume", *COMMON)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stdout and "2 done, 1 already done" in r.stdout
    assert (out / "WolfgangLanger_Pexels.done.json").stat().st_mtime_ns == before  # not redone
    for name in NAMES:
        assert (out / f"{name}.events.jsonl").read_bytes() == (tmp / "local" / f"{name}.events.jsonl").read_bytes()
        assert (out / f"{name}.done.json").is_file()


@needs_ray
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads process ids from /proc")
def test_ctrl_c_cancels_and_keeps_finished_files(tmp_path):
    out = tmp_path / "out"
    p = subprocess.Popen(
        [sys.executable, "-m", "detector", "analyze", str(GOOD[1]), str(CLIP), str(CLIP), "-o", str(out),
         "--cluster", "ray", "--workers", "2", "--chunk-s", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    children: set[int] = set()
    deadline = time.time() + 180
    while time.time() < deadline and p.poll() is None and not (out / "single_face.done.json").exists():
        children |= procs.descendants(p.pid)
        time.sleep(0.2)
    assert (out / "single_face.done.json").exists(), "the first file did not finish"
    time.sleep(1.0)
    children |= procs.descendants(p.pid)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stdout
    assert (out / "single_face.events.jsonl").exists()  # finished before Ctrl-C: kept
    for f in out.glob("*.events.jsonl"):
        for line in f.read_text().splitlines():
            Event.from_dict(json.loads(line))
    assert not list(out.glob(".*part"))
    assert not (out / "WolfgangLanger_Pexels-2.done.json").exists()  # not complete: a --resume redoes it
    deadline = time.time() + 30
    while time.time() < deadline and [c for c in children if procs.alive(c)]:
        time.sleep(0.5)
    assert not [c for c in children if procs.alive(c)], "Ray processes left running"






# --------------------------------------------------------------------------- without Ray, no Ray started


def test_missing_extra_is_one_line_exit_2(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from detector.app.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "analyze", str(GOOD[1]), str(DATA / "no_face.mp4"), "-o",
                        str(tmp_path / "o"), "--cluster", "ray"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and 'pip install "microexpr[cluster]"' in lines[0], r.stderr
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


@pytest.mark.parametrize("value", ["spark", "ray:/x", "ray://"])
def test_bad_cluster_value_is_one_line_exit_2(value):
    r = microexpr("analyze", str(GOOD[1]), "--cluster", value)
    assert r.returncode == 2
    assert len(_errors(r.stderr)) == 1 and "--cluster" in r.stderr and "Traceback" not in r.stderr


def test_resume_needs_several_inputs():
    r = microexpr("analyze", str(GOOD[1]), "--resume")
    assert r.returncode == 2 and "--resume" in _errors(r.stderr)[0]


def test_task_runs_are_whole_chunks_of_the_grid():
    assert task_runs(8, 10.0, 60.0) == [(0, 4), (4, 8)]  # a 79 s video: two tasks of 4 chunks
    assert task_runs(8, 10.0, 0.0) == [(c, c + 1) for c in range(8)]
    assert task_runs(1, 10.0, 60.0) == [(0, 1)]
    assert task_runs(4, 5.0, 10.0) == [(0, 2), (2, 4)]


def test_parse_address():
    assert parse_address("ray") is None
    assert parse_address("auto") == "auto"
    assert parse_address("ray://head:10001") == "ray://head:10001"
    with pytest.raises(ValueError):
        parse_address("ray://")


def test_done_marker_names_input_settings_and_outputs(tmp_path):
    src = tmp_path / "a.mp4"
    src.write_bytes(b"x" * 10)
    out = tmp_path / "a.events.jsonl"
    out.write_text("")
    assert done_path(out).name == "a.done.json" and done_path(tmp_path / "a.b.frames.csv").name == "a.b.done.json"
    assert not is_done(src, [str(out)], "f1")
    write_done(src, [str(out)], "f1", {"frames": 0})
    assert is_done(src, [str(out)], "f1")
    assert not is_done(src, [str(out)], "f2")  # other settings
    assert not is_done(src, [str(out), str(tmp_path / "a.frames.csv")], "f1")  # another output asked for
    src.write_bytes(b"y" * 11)  # the input changed
    assert not is_done(src, [str(out)], "f1")
