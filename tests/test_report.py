"""``microexpr report`` and ``analyze --report`` (issue 13): one self-contained HTML file.

The bundled sample is analysed once (``analyze --report``, session fixture); the other tests
render reports from its events and frames CSV, or from events made up on its frames.  The
browser test opens the sample's report in headless Chromium (skipped when it is not installed).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.app import cli
from detector.app.sinks import InputFileError, read_events, read_frames_csv, write_file_atomic
from detector.core.events import Event

pytest.importorskip("matplotlib", reason='needs the [report] extra: pip install "microexpr[report]"')
pytest.importorskip("jinja2", reason='needs the [report] extra: pip install "microexpr[report]"')

from detector.stages.landmarks import LandmarkerOptions  # noqa: E402
from detector.app.report.build import make_report  # noqa: E402  (after the extra's skip)
from detector.app.report.data import load_report_data  # noqa: E402
from detector.app.report.settings import ReportSettings  # noqa: E402
from detector.app.report.timeline import downsample_max  # noqa: E402

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SAMPLE = DATA / "WolfgangLanger_Pexels.mp4"  # 472 frames at 23.976 fps
SHORT = DATA / "single_face.mp4"  # 72 frames at 30 fps
OTHER_FPS = DATA / "face_noface.mov"  # 169 frames at 26.4 fps
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def microexpr(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detector", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def one_line_error(r: subprocess.CompletedProcess, fragment: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "compiling the segmenter" not in ln]
    assert len(lines) == 1 and lines[0].startswith("microexpr: error: "), r.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The sample analysed once with ``analyze --report``: (events, frames CSV, report, timeline PNG)."""
    d = tmp_path_factory.mktemp("sample")
    ev, csv_, html = d / "events.jsonl", d / "frames.csv", d / "report.html"
    r = microexpr("analyze", SAMPLE, "-o", ev, "--frames-csv", csv_, "--include-blinks", "--no-progress",
                  "--report", html)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return ev, csv_, html


def made_up_events(real: Event, fps: float) -> list[Event]:
    """Five events on the sample's frames (two micro, a macro, a blink, one with head motion)."""
    specs = [(30, 5, 8, "micro", "happiness", False), (100, 6, 10, "micro", "surprise", False),
             (154, 44, 64, "macro", "fear", False), (300, 3, 6, "blink", "neutral", False),
             (400, 4, 9, "micro", "anger", True)]
    out = []
    for on, to_apex, to_off, kind, emo, head in specs:
        fr = (on, on + to_apex, on + to_off)
        out.append(dataclasses.replace(real, onset_frame=fr[0], apex_frame=fr[1], offset_frame=fr[2],
                                       onset=fr[0] / fps, apex=fr[1] / fps, offset=fr[2] / fps, kind=kind,
                                       emotion=emo, head_motion=head))
    return out


@pytest.fixture(scope="session")
def five_events(sample_run, tmp_path_factory):
    path = tmp_path_factory.mktemp("five") / "five.jsonl"
    real = read_events(sample_run[0])[0]
    path.write_text("".join(e.to_json() + "\n" for e in made_up_events(real, 24000 / 1001)))
    return path


def cards(html: str) -> list[str]:
    return re.findall(r'<section class="card" id="(ev-\d+)"', html)


# --------------------------------------------------------------------------- content


def test_analyze_report_of_the_sample_is_self_contained(sample_run):
    ev, _, html_path = sample_run
    html = html_path.read_text()
    n = len(read_events(ev))
    assert n >= 1
    assert len(cards(html)) == n
    assert len(re.findall(r'<a class="span" href="#ev-\d+"', html)) == n  # a timeline link per card
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)  # nothing loaded from the network
    assert "http://" not in html and "https://" not in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for s in srcs)
    assert len([s for s in srcs if s.startswith("data:image/jpeg")]) == 5 * n  # onset, apex, offset, diff, x4
    assert "Processing speed" in html and "not recorded" not in html  # the run's own speed is shown


def test_one_card_and_span_per_event_with_aus_scores_and_kinds(sample_run, five_events, tmp_path):
    out, png = tmp_path / "r.html", tmp_path / "t.png"
    r = microexpr("report", SAMPLE, "--events", five_events, "--frames-csv", sample_run[1], "-o", out, "--png", png)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    events = read_events(five_events)
    assert cards(html) == [f"ev-{i}" for i in range(5)]
    for i, e in enumerate(events):
        card = html.split(f'id="ev-{i}"')[1].split("</section>")[0]
        assert e.kind in card and f"{e.duration_ms:.0f} ms" in card
        assert card.count("<i ") >= 8 + 2 * 2  # 8 emotion score bars + left and right bars of AU05, AU15
        for emotion in e.scores:
            assert f"<td>{emotion}</td>" in card
        assert "AU05" in card and "AU15" in card  # the strongest AUs at the apex
        assert f"width:{round(80 * e.scores['fear'])}px;background:#9467bd" in card  # the fear score's bar
    grey = re.findall(r'id="ev-(\d+)" data-index="\d+" style="--c: ([^"]+)"', html)
    colors = dict((int(i), c) for i, c in grey)
    assert colors[3] == colors[4] == "#8a8a8a"  # the blink and the head-motion event are grey
    assert len({colors[0], colors[1], colors[2]}) == 3  # happiness, surprise, fear: each its colour
    assert "not recorded" in html  # no processing speed from files
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_runs_the_analysis_itself_without_events(tmp_path):
    out, png = tmp_path / "r.html", tmp_path / "t.png"
    r = microexpr("report", SHORT, "-o", out, "--png", png, "--no-progress")
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "events from this run" in html
    assert re.search(r"Processing speed: [\d.]+ fps", html)
    assert re.search(r"Frames with a face: \d+ of 72 ", html)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "t.png"]  # no events or CSV left behind


def test_no_events_gives_an_empty_report(tmp_path):
    ev, out = tmp_path / "none.jsonl", tmp_path / "r.html"
    ev.write_text("")
    assert microexpr("report", SHORT, "--events", ev, "-o", out).returncode == 0
    html = out.read_text()
    assert cards(html) == [] and 'data-events="0"' in html and 'class="timeline"' in html


def test_summary_counts_events_by_kind_and_emotion(sample_run, five_events, tmp_path):
    out = tmp_path / "r.html"
    assert microexpr("report", SAMPLE, "--events", five_events, "-o", out).returncode == 0
    table = out.read_text().split('id="summary"')[1].split("</table>")[0]
    rows = {m[0]: m[1] for m in re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", table)}
    header = re.findall(r"<th>(\w+)</th>", table)
    micro = dict(zip(header[1:], re.findall(r"<td>(\d*)</td>", rows["micro"])))
    assert micro["happiness"] == "1" and micro["surprise"] == "1" and micro["anger"] == "1" and micro["total"] == "3"
    assert "not known (no frames CSV)" in out.read_text()


def test_thumbnail_cap_keeps_a_card_for_every_event(five_events):
    data = load_report_data(SAMPLE, five_events, None, threshold=4.5)
    html = make_report(data, LandmarkerOptions(), ReportSettings(max_thumb_events=2)).html.decode()
    assert len(cards(html)) == 5
    assert html.count('alt="apex"') == 2 and html.count('class="nothumbs"') == 3
    assert "Thumbnails for 2 of 5 events" in html
    # the two strongest micro/macro events got them (all five share one intensity: the first two micro)
    with_thumbs = [i for i in range(5) if 'alt="apex"' in html.split(f'id="ev-{i}"')[1].split("</section>")[0]]
    assert with_thumbs == [0, 1]


def test_downsampling_keeps_a_one_frame_peak():
    t = np.arange(86_400) / 24.0  # one hour at 24 fps
    y = np.zeros_like(t)
    y[50_001] = 9.0  # one frame
    y[:10] = np.nan
    tb, yb = downsample_max(t, y, 2000)
    assert len(tb) == len(yb) == 2000
    assert np.nanmax(yb) == 9.0
    assert tb[np.nanargmax(yb)] <= t[50_001] < tb[np.nanargmax(yb)] + 86_400 / 24.0 / 2000 + 1e-9


def test_frames_csv_carries_region_activations(sample_run):
    table = read_frames_csv(sample_run[1], ("act_brows", "act_mouth"))
    assert set(table) >= {"timestamp", "frame", "act_brows", "act_mouth"}
    assert len(table["frame"]) == 472
    assert np.nanmax(table["act_mouth"]) > 4.5  # the event's mouth movement crosses the threshold


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def existing_report(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("earlier report")
    return out


def _untouched(out: Path) -> None:
    assert out.read_text() == "earlier report"
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_events_past_the_end_of_the_video(sample_run, existing_report):
    r = microexpr("report", SHORT, "--events", sample_run[0], "-o", existing_report)
    one_line_error(r, "outside")
    _untouched(existing_report)


def test_events_of_another_frame_rate(sample_run, existing_report):
    r = microexpr("report", OTHER_FPS, "--events", sample_run[0], "-o", existing_report)
    one_line_error(r, "another frame rate")
    _untouched(existing_report)


def test_frames_csv_of_another_video(sample_run, tmp_path, existing_report):
    ev = tmp_path / "early.jsonl"
    e = read_events(sample_run[0])[0]
    ev.write_text(dataclasses.replace(e, onset_frame=2, apex_frame=3, offset_frame=4, onset=2 / 30, apex=3 / 30,
                                      offset=4 / 30).to_json() + "\n")
    r = microexpr("report", SHORT, "--events", ev, "--frames-csv", sample_run[1], "-o", existing_report)
    one_line_error(r, "frames.csv")
    _untouched(existing_report)


@pytest.mark.parametrize("content, fragment", [
    ("{not json\n", "line 1 is not a microexpr event"),
    ('{"face": 0}\n', "line 1 is not a microexpr event"),
    ("[1, 2]\n", "line 1 is not a microexpr event"),
])
def test_unreadable_events_file(tmp_path, existing_report, content, fragment):
    ev = tmp_path / "bad.jsonl"
    ev.write_text(content)
    one_line_error(microexpr("report", SAMPLE, "--events", ev, "-o", existing_report), fragment)
    _untouched(existing_report)


@pytest.mark.parametrize("which", ["video", "events", "frames"])
def test_missing_inputs(sample_run, tmp_path, existing_report, which):
    args = {"video": SAMPLE, "events": sample_run[0], "frames": sample_run[1]}
    args[which] = tmp_path / "missing.file"
    r = microexpr("report", args["video"], "--events", args["events"], "--frames-csv", args["frames"],
                  "-o", existing_report)
    one_line_error(r, "missing.file: no such file")
    _untouched(existing_report)


def test_not_a_frames_csv(sample_run, tmp_path, existing_report):
    r = microexpr("report", SAMPLE, "--events", sample_run[0], "--frames-csv", sample_run[0], "-o", existing_report)
    one_line_error(r, "not a microexpr frames CSV")
    _untouched(existing_report)


def test_output_may_not_be_an_input(sample_run):
    before = sample_run[0].read_bytes()
    one_line_error(microexpr("report", SAMPLE, "--events", sample_run[0], "-o", sample_run[0]), "is also an input")
    assert sample_run[0].read_bytes() == before


def test_png_in_a_missing_folder(sample_run, tmp_path, existing_report):
    r = microexpr("report", SAMPLE, "--events", sample_run[0], "-o", existing_report, "--png", tmp_path / "no" / "t.png")
    one_line_error(r, "does not exist")
    _untouched(existing_report)


def test_frames_csv_alone_is_refused(sample_run, existing_report):
    one_line_error(microexpr("report", SAMPLE, "--frames-csv", sample_run[1], "-o", existing_report), "needs --events")


def test_analyze_report_needs_the_events_in_a_file(tmp_path):
    r = microexpr("analyze", SHORT, "-o", "-", "--report", tmp_path / "r.html")
    one_line_error(r, "--report needs the events in a file")
    assert not (tmp_path / "r.html").exists()


def test_report_of_several_analyze_inputs_is_refused(tmp_path):
    r = microexpr("analyze", SHORT, SHORT, "-o", tmp_path / "out", "--report", tmp_path / "r.html")
    one_line_error(r, "--report takes a single video input")


def test_without_the_report_extra_one_line_says_what_to_install(sample_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importlib.util.find_spec now says: not installed
    code = cli.main(["report", str(SAMPLE), "--events", str(sample_run[0]), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("microexpr: error: ") and 'pip install "microexpr[report]"' in err[0]
    assert not (tmp_path / "r.html").exists()


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    out = tmp_path / "report.html"
    out.write_text("old")

    def full_disk(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", full_disk)
    with pytest.raises(Exception, match="No space left"):
        write_file_atomic(out, b"new")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_read_events_names_the_bad_line(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_text('\n{"face": 0, "onset": 1}\n')
    with pytest.raises(InputFileError, match=r"line 2 is not a microexpr event"):
        read_events(p)


# --------------------------------------------------------------------------- real browser


def _chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1400,1400", "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(sample_run, tmp_path):
    import cv2

    url = sample_run[2].resolve().as_uri()
    dom = _chromium("--dump-dom", url)
    root = re.search(r"<html[^>]*>", dom.stdout).group(0)
    assert 'data-ready="1"' in root, root  # the load handler ran
    assert "data-js-error" not in root, root  # no script error
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], console
    boxes = {k: [int(v) for v in re.search(rf'{k}="([\d,]+)"', root).group(1).split(",")]
             for k in ("data-timeline-box", "data-first-card-box")}

    shot = tmp_path / "shot.png"
    r = _chromium(f"--screenshot={shot}", url)
    assert shot.exists(), r.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (1400, 1400)
    for name, (x, y, w, h) in boxes.items():
        assert w > 300 and h > 100, (name, w, h)
        area = img[y:min(y + h, 1400), x:x + w].astype(int)
        assert area.size, f"{name} is below the 1400 px screenshot"
        ink = (np.abs(area - 255).sum(axis=2) > 60).mean()  # share of pixels that are not white background
        assert ink > 0.05, (name, ink)
    # the first card's five thumbnails: photographs, many colours
    x, y, w, h = boxes["data-first-card-box"]
    thumbs = img[y + 40:y + 170, x:x + w]
    assert len(np.unique(thumbs.reshape(-1, 3) // 16, axis=0)) > 100


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_link_to_an_event_selects_its_card_and_span(sample_run, five_events, tmp_path):
    out = tmp_path / "r.html"
    assert microexpr("report", SAMPLE, "--events", five_events, "-o", out).returncode == 0
    dom = _chromium("--dump-dom", out.resolve().as_uri() + "#ev-2").stdout
    assert re.findall(r'<section class="card current" id="(ev-\d+)"', dom) == ["ev-2"]
    assert re.findall(r'<a class="span current" href="#(ev-\d+)"', dom) == ["ev-2"]
