"""Dataset loaders on tiny fixture folders that mimic CASME II, SAMM, SAMM-LV, CAS(ME)^2 and the generic CSV layout."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from detector.lab.datasets import (
    Annotation,
    DatasetError,
    find_header,
    load_dataset,
    loso_splits,
    numbered_frames,
    read_sheet,
    read_sheets,
)

_spec = importlib.util.spec_from_file_location("me_datasets", Path(__file__).parent / "fixtures" / "me_datasets.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def _ev(clip, i=0) -> Annotation:
    return clip.events[i]


# ----------------------------------------------------------------------------- frames


def test_numbered_frames_sort_numerically(tmp_path):
    fx.write_frames(tmp_path, [10, 9, 1, 100, 2])
    (tmp_path / "notes.txt").write_text("x")
    names = [p.name for _, p in numbered_frames(tmp_path)]
    assert names == ["img1.jpg", "img2.jpg", "img9.jpg", "img10.jpg", "img100.jpg"]
    fx.write_frames(tmp_path, [0], "cover.png")  # no number: first, as the analysis' image source reads it
    assert [n for n, _ in numbered_frames(tmp_path)] == [-1, 1, 2, 9, 10, 100]


def test_numbered_frames_duplicate_number_is_an_error(tmp_path):
    fx.write_frames(tmp_path, [1, 2])
    fx.write_frames(tmp_path, [2], "img{}.png")
    with pytest.raises(DatasetError, match="two images with frame number 2"):
        numbered_frames(tmp_path)


# ----------------------------------------------------------------------------- sheets


@pytest.mark.parametrize("inline", [False, True])
def test_xlsx_reader_reads_strings_numbers_and_gaps(tmp_path, inline):
    rows = [["a", None, "c"], [1, 2.5, None], [], ["x & <y>", None, 7]]
    p = fx.write_xlsx(tmp_path / "t.xlsx", {"First": rows, "Second": [["only"]]}, inline_strings=inline)
    sheets = read_sheets(p)
    assert list(sheets) == ["First", "Second"]
    got = sheets["First"]
    assert got[0] == ["a", None, "c"]
    assert got[1] == [1.0, 2.5]
    assert got[2] == []
    assert got[3] == ["x & <y>", None, 7.0]
    assert read_sheet(p, "Second") == [["only"]]
    assert read_sheet(p, 1) == [["only"]]


def test_csv_and_xlsx_give_the_same_casme2_clips(tmp_path):
    a = load_dataset("casme2", fx.make_casme2(tmp_path / "x", "xlsx"))
    b = load_dataset("casme2", fx.make_casme2(tmp_path / "c", "csv"))

    def strip(clips):
        return [
            (c.key, c.n_frames, [(e.onset_frame, e.apex_frame, e.offset_frame, e.emotion) for e in c.events])
            for c in clips
        ]

    assert strip(a) == strip(b)


def test_find_header_below_title_rows():
    rows = [["Title"], [], ["Subject", "Filename", "Onset Frame"], [6, "006_1_2", 5562]]
    i, cols = find_header(rows, ["subject", "onset frame"], "x")
    assert i == 2 and cols["onsetframe"] == 2


def test_corrupt_xlsx_gives_a_clear_error(tmp_path):
    p = tmp_path / "CASME2-coding-20140508.xlsx"
    p.write_bytes(b"this is not a zip file")
    with pytest.raises(DatasetError, match="not a readable .xlsx"):
        read_sheets(p)


def test_legacy_xls_is_refused_with_advice(tmp_path):
    p = tmp_path / "sheet.xls"
    p.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DatasetError, match="save it as .xlsx or .csv"):
        read_sheets(p)


# ----------------------------------------------------------------------------- CASME II


def test_casme2_layout(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="microexpr.datasets"):
        clips = load_dataset("casme2", fx.make_casme2(tmp_path))
    assert [c.key for c in clips] == ["sub01/EP02_01f", "sub01/EP03_02", "sub02/EP01_11f"]
    assert "EP99_99" in caplog.text  # annotated clip without frames is reported, not silently dropped
    c = clips[0]
    assert c.fps == 200.0 and c.n_frames == 10
    assert [p.name for p in c.frames[3:6]] == ["img8.jpg", "img9.jpg", "img10.jpg"]
    e = _ev(c)
    # file numbers 6, 9, 12 among img5..img14 -> positions 1, 4, 7
    assert (e.onset_frame, e.apex_frame, e.offset_frame) == (1, 4, 7)
    assert c.frames[e.apex_frame].name == "img9.jpg"
    assert e.onset == pytest.approx(1 / 200) and e.offset == pytest.approx(7 / 200)
    assert (e.kind, e.emotion, e.label) == ("micro", "disgust", "disgust")
    r = _ev(clips[1])
    assert (r.onset_frame, r.apex_frame, r.offset_frame) == (10, None, 25)  # apex "/" = not coded
    assert r.emotion is None and r.label == "repression" and r.kind == "micro"
    h = _ev(clips[2])
    assert (h.onset_frame, h.apex_frame, h.offset_frame, h.emotion) == (2, 9, 19, "happiness")


def test_casme2_bad_sheet_names_missing_columns(tmp_path):
    root = fx.make_casme2(tmp_path)
    fx.write_xlsx(root / "CASME2-coding-20140508.xlsx", {"S": [["Subject", "File", "Onset"], [1, "EP02_01f", 6]]})
    with pytest.raises(DatasetError, match="no header row with columns .*OffsetFrame"):
        load_dataset("casme2", root)


def test_casme2_offset_before_onset_is_an_error(tmp_path):
    root = fx.make_casme2(tmp_path, "csv")
    fx.write_csv(root / "CASME2-coding-20140508.csv", [fx.CASME2_HEADER, [1, "EP02_01f", 12, 9, 6, "4", "disgust"]])
    with pytest.raises(DatasetError, match="offset frame 6 is before onset frame 12"):
        load_dataset("casme2", root)


def test_missing_sheet_and_missing_root(tmp_path):
    fx.write_frames(tmp_path / "CASME2_RAW_selected" / "sub01" / "EP01", range(3))
    with pytest.raises(DatasetError, match="no CASME II annotation sheet"):
        load_dataset("casme2", tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset("samm", tmp_path / "nope")
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("smic", tmp_path)


# ----------------------------------------------------------------------------- SAMM


def test_samm_layout_with_title_rows(tmp_path):
    clips = load_dataset("samm", fx.make_samm(tmp_path))
    assert [c.key for c in clips] == ["006/006_1_2", "007/007_6_1"]
    a, b = clips
    assert a.fps == 200.0 and a.n_frames == 40 and a.frame_numbers[0] == 5560
    e = _ev(a)
    assert (e.onset_frame, e.apex_frame, e.offset_frame) == (2, 10, 30)
    assert (e.kind, e.emotion) == ("micro", "anger")
    f = _ev(b)
    assert (f.onset_frame, f.apex_frame, f.offset_frame) == (1, 2, 4)
    assert f.emotion is None and f.label == "Other"


def test_samm_long_videos_micro_and_macro(tmp_path):
    clips = load_dataset("samm_long", fx.make_samm_long(tmp_path))
    assert [c.key for c in clips] == ["006/006_1"]
    (c,) = clips
    assert c.n_frames == 200
    assert [(e.onset_frame, e.apex_frame, e.offset_frame, e.kind) for e in c.events] == [
        (9, 19, 39, "micro"),
        (49, 99, 189, "macro"),
        (149, 159, 169, "micro"),  # offset -1 (not coded) -> 2 * apex - onset = 170
    ]
    assert c.duration == pytest.approx(1.0)


# ----------------------------------------------------------------------------- CAS(ME)^2


def test_casme_sq_naming_rules(tmp_path):
    clips = load_dataset("casme_sq", fx.make_casme_sq(tmp_path))
    assert [c.key for c in clips] == ["s15/15_0101disgustingteeth", "s16/16_0102eatingworms"]
    a, b = clips
    assert a.fps == 30.0
    assert [(e.onset_frame, e.apex_frame, e.offset_frame, e.kind, e.emotion) for e in a.events] == [
        (4, 7, 11, "micro", None),  # "negative" is a valence, not one of our emotions
        (19, 29, 49, "macro", "surprise"),
    ]
    # offset 0 (not coded) -> 2 * apex - onset = 20 -> position 19
    assert [(e.onset_frame, e.apex_frame, e.offset_frame) for e in b.events] == [(9, 14, 19)]


def test_casme_sq_unknown_stimulus_is_an_error(tmp_path):
    root = fx.make_casme_sq(tmp_path)
    fx.write_xlsx(
        root / "CAS(ME)^2code_final.xlsx",
        {
            "CASFEcode_final": [[1, "anger9_1", 5, 8, 12, "4", "negative", "micro-expression", "anger"]],
            "naming rule1": [[15, "ZJR", 1]],
            "naming rule2": [["0101", "disgust1"]],
        },
    )
    with pytest.raises(DatasetError, match="anger9.*naming rule2"):
        load_dataset("casme_sq", root)


def test_casme_sq_without_naming_rules_is_an_error(tmp_path):
    root = fx.make_casme_sq(tmp_path)
    fx.write_xlsx(root / "CAS(ME)^2code_final.xlsx", {"CASFEcode_final": [[1, "disgust1_1", 5, 8, 12]]})
    with pytest.raises(DatasetError, match="naming rule1"):
        load_dataset("casme_sq", root)


# ----------------------------------------------------------------------------- generic CSV


def test_csv_layout(tmp_path):
    clips = load_dataset("csv", fx.make_csv_dataset(tmp_path))
    assert [c.key for c in clips] == ["alice/clipA", "bob/clipB"]
    a, b = clips
    assert a.fps == 30.0 and a.n_frames == 30 and b.fps == 100.0
    assert [(e.onset_frame, e.apex_frame, e.offset_frame, e.kind, e.emotion) for e in a.events] == [
        (2, 5, 9, "micro", "happiness"),  # kind derived: 7 frames / 30 fps < 0.5 s
        (15, 20, 28, "macro", None),
    ]
    assert (_ev(b).kind, _ev(b).emotion) == ("micro", "sadness")


def test_csv_layout_unknown_column_and_missing_fps(tmp_path):
    root = fx.make_csv_dataset(tmp_path)
    fx.write_csv(
        root / "annotations.csv", [["clip", "onset_frame", "offset_frame", "onset_franme"], ["clipA", 1, 2, 3]]
    )
    with pytest.raises(DatasetError, match="unknown column.*onset_franme"):
        load_dataset("csv", root)
    fx.write_csv(root / "annotations.csv", [["clip", "onset_frame", "offset_frame"], ["clipA", 1, 2]])
    with pytest.raises(DatasetError, match="fps unknown"):
        load_dataset("csv", root)
    assert load_dataset("csv", root, fps=25.0)[0].fps == 25.0


# ----------------------------------------------------------------------------- LOSO


def test_loso_splits_hold_out_each_subject_once():
    samples = [{"subject": s} for s in ["sub10", "sub2", "sub2", "sub1", "sub10", "sub2"]]
    splits = list(loso_splits(samples))
    assert [s for s, _, _ in splits] == ["sub1", "sub2", "sub10"]
    seen = []
    for subj, train, test in splits:
        assert all(samples[i]["subject"] == subj for i in test)
        assert all(samples[i]["subject"] != subj for i in train)
        assert sorted(train + test) == list(range(len(samples)))
        seen += test
    assert sorted(seen) == list(range(len(samples)))


def test_loso_needs_two_subjects():
    with pytest.raises(DatasetError, match="at least 2 subjects"):
        list(loso_splits(["a", "a"]))
