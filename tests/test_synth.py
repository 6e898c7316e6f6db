"""The synthetic ground-truth generator (benchmarks/synth.py): determinism, truth, fields, rendering."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import synth as S  # noqa: E402
from benchmarks.synthkit.events import _frames_of  # noqa: E402
from detector.core import facs  # noqa: E402
from detector.lab.facewarp import _BROW_UPPER, _Geom  # noqa: E402


@pytest.fixture(scope="module")
def face() -> S.Face:
    return S.load_face("man_video")


@pytest.fixture(scope="module")
def geom(face) -> _Geom:
    return _Geom(face)


def _lm_disp(face: S.Face, aus: dict[str, float]) -> np.ndarray:
    """Forward displacement of the 478 landmarks, percent of IOD, (478, 2)."""
    return S.forward_displacement(S.au_field(face, aus), face.landmarks) / face.iod * 100.0


# ----------------------------------------------------------------------------- faces and splits


def test_builtin_faces_exist_and_splits_share_no_face():
    for name, (fname, split) in S.BUILTIN_FACES.items():
        assert (S.FACES_DIR / fname).is_file(), name
        assert split in S.SPLITS
    splits = list(S.SPLITS)
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            assert set(S.SPLITS[a]).isdisjoint(S.SPLITS[b]), (a, b)
    assert len(S.SPLITS["tune"]) >= 2 and len(S.SPLITS["test"]) >= 2 and S.SPLITS["tune2"] and S.SPLITS["tune3"]
    assert (S.FACES_DIR / "README.md").is_file()


def test_the_extra_tune_splits_draw_schedules_of_their_own():
    # tune2's and tune3's clips must not replay another split's event schedules on other faces
    for plan in (S.suite_plan, S.real_like_plan, S.speaking_plan):
        for split in ("tune2", "tune3"):
            key = "items" if "items" in plan(split, 0, None)[0] else "seed"  # the speaking band: its own draws
            own = [p[key] for p in plan(split, 0, None)]
            for other in S.SPLITS:
                if other != split:
                    assert own != [p[key] for p in plan(other, 0, None)], (plan.__name__, split, other)


def test_speaking_clip_talks_plainly_with_a_held_and_with_an_upper_face_emotion(face):
    recipe = dict(S.speaking_plan("tune", 0)[1], face="man_video")
    clip = S.build_speaking_clip(face, recipe, 30.0)
    expr = [r for r in clip.truth if r["kind"] in ("micro", "macro")]
    syl = [d for d in clip.meta["distractors"] if d["variant"] == "syllable"]
    assert sorted(r["variant"] for r in expr) == ["speaking_mouth", "speaking_upper"]
    held = next(r for r in expr if r["variant"] == "speaking_mouth")
    upper = next(r for r in expr if r["variant"] == "speaking_upper")
    assert held["kind"] == "macro" and held["emotion"] == S.MOUTH_HELD[recipe["mouth"]][0]
    assert upper["emotion"] == S.UPPER_ONLY[recipe["upper"]][0]
    assert all(facs.AU_NAMES.index(a) >= 0 and a[:4] in ("AU01", "AU02", "AU04", "AU05", "AU07")
               for a in upper["action_units"])
    # syllables run through each utterance, 3.5-5.5 a second, and through the held expression
    on = np.array([d["onset"] for d in syl])
    assert len(syl) >= 3 * 2.5 * 3.0
    assert ((on > held["onset"]) & (on < held["offset"])).sum() >= 3
    gaps = np.diff(on)
    assert np.median(gaps[gaps < 0.5]) < 1.0 / 3.5
    # the lead-in is still: nothing starts before it ends
    first = min([r["onset"] for r in clip.truth] + list(on))
    assert first >= recipe["lead_s"] - 1e-6


def test_load_face_frames_at_requested_iod(face):
    assert face.image.shape == (S.DEFAULT_SIZE, S.DEFAULT_SIZE, 3)
    assert face.landmarks.shape == (478, 2)
    assert abs(face.iod - S.DEFAULT_IOD_PX) < 0.05 * S.DEFAULT_IOD_PX
    # subject's left eye (473) is on the image's right in a non-mirrored photo
    assert face.landmarks[473, 0] > face.landmarks[468, 0]


def test_load_face_rejects_missing_and_faceless(tmp_path):
    with pytest.raises(ValueError, match="neither a built-in face"):
        S.load_face(tmp_path / "nope.png")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    with pytest.raises(ValueError, match="no face"):
        S.load_face(blank)


# ----------------------------------------------------------------------------- AU fields


def test_au12_left_moves_left_lip_corner_up_and_out_and_not_the_brows(face):
    d = _lm_disp(face, {"AU12_L": 0.5})
    corner_l, corner_r = d[291], d[61]
    assert corner_l[1] < -2.0  # up (image y down), percent IOD
    assert corner_l[0] > 2.0  # out = towards the subject's left = image right
    assert np.hypot(*corner_r) < 0.1 * np.hypot(*corner_l)
    for brow in (*_BROW_UPPER["L"], *_BROW_UPPER["R"], 468, 473):
        assert np.hypot(*d[brow]) < 0.02 * np.hypot(*corner_l)


def test_each_au_moves_its_own_region(face):
    checks = {
        # AU: (landmark that must move, direction sign on image y or x, landmarks that must stay)
        "AU01_R": (107, ("y", -1), (291, 61, 152)),
        "AU02_L": (300, ("y", -1), (291, 61, 152)),
        "AU04_L": (336, ("y", +1), (291, 61, 152)),
        "AU05_R": (159, ("y", -1), (145, 291, 61)),
        "AU07_L": (374, ("y", -1), (291, 61, 336)),
        "AU09_L": (358, ("y", -1), (152, 17)),
        "AU10_R": (40, ("y", -1), (17, 152)),
        "AU15_R": (61, ("y", +1), (107, 336, 468)),
        "AU16": (17, ("y", +1), (0, 37, 267, 107)),
        "AU17": (152, ("y", -1), (0, 107, 336)),
        "AU20_L": (291, ("x", +1), (107, 336, 61)),
        "AU25": (17, ("y", +1), (0, 37, 267, 107)),
        "AU26": (152, ("y", +1), (0, 37, 267, 107, 1)),
        "AU45_L": (386, ("y", +1), (374, 336, 291)),
    }
    # (13/14, the inner lip midpoints, sit on the contact line of a closed mouth: the
    # opening AUs stretch that line, so they are neither upper nor lower lip here)
    for au, (moved, (axis, sign), still) in checks.items():
        d = _lm_disp(face, {au: 0.5})
        mag = np.hypot(d[:, 0], d[:, 1])
        comp = d[moved, 1 if axis == "y" else 0]
        assert sign * comp > 0.3 * mag.max(), au
        for i in still:
            assert mag[i] < 0.15 * mag.max(), (au, i)


def test_unit_fields_are_fold_free_and_intensity_one_is_a_maximal_action(face, geom):
    for base in S.AU_AMPLITUDE:
        name = f"{base}_L" if base in facs.BILATERAL else base
        f = S.au_field(geom, {name: 1.0})
        assert S.min_jacobian(f) > 0.2, base
        peak = S.peak_displacement(face, f)
        if base != "AU45":
            assert 0.5 * S.AU_AMPLITUDE[base] * 100 < peak < 1.5 * S.AU_AMPLITUDE[base] * 100, base


def test_rendered_warp_moves_the_image_by_the_true_displacement(face):
    """Lucas-Kanade flow on the rendered image (no noise) agrees with the field, down to a quarter pixel."""
    g0 = cv2.cvtColor(face.image, cv2.COLOR_BGR2GRAY)
    idx = [291, 61, 336, 1]  # left lip corner moves; right corner, left inner brow, nose tip stay
    pts = face.landmarks[idx].reshape(-1, 1, 2).astype(np.float32)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    for inten in (0.02, 0.1, 0.2):  # about 0.35, 1.8 and 3.5 % IOD at the corner
        f = S.au_field(face, {"AU12_L": inten})
        g1 = cv2.cvtColor(S.Clip.remap_image(face.image, f), cv2.COLOR_BGR2GRAY)
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(g0, g1, pts, None, winSize=(15, 15), maxLevel=2, criteria=crit)
        seen = (nxt - pts).reshape(-1, 2)
        true = S.forward_displacement(f, face.landmarks[idx])
        assert status.all()
        assert np.hypot(*(seen[0] - true[0])) < 0.1 * np.hypot(*true[0]) + 0.03, inten
        assert np.abs(seen[1:]).max() < 0.05


# ----------------------------------------------------------------------------- events, profiles, truth


@pytest.mark.parametrize("fps", [30.0, 60.0, 100.0, 200.0])
def test_truth_frames_match_the_profile(fps):
    specs = [
        S.EventSpec(1.5, 0.012, 0.028, 0.0, {"AU12": 0.1}),  # 40 ms
        S.EventSpec(3.0, 0.1, 0.2, 0.05, {"AU04": 0.1}),
        S.EventSpec(5.0, 0.4, 0.8, 0.6, {"AU01": 0.3}),
    ]
    for spec in specs:
        t = _frames_of(spec, fps)
        k = np.arange(t.onset_frame - 3, t.offset_frame + 4)
        p = S.profile_values(t, k)
        prof = dict(zip(k.tolist(), p.tolist()))
        assert t.onset_frame < t.apex_frame < t.offset_frame
        assert prof[t.onset_frame] == 0.0 and prof[t.onset_frame + 1] > 0.0
        assert prof[t.offset_frame] == 0.0 and prof[t.offset_frame - 1] > 0.0
        assert prof[t.apex_frame] == p.max() == 1.0
        assert np.all(np.diff(p[: t.apex_start - k[0] + 1]) >= 0)  # rises monotonically
        assert np.all(np.diff(p[t.apex_end - k[0] :]) <= 0)  # falls monotonically


def test_rendered_frames_follow_the_truth(face):
    """No noise: frames equal the photo up to onset_frame and from offset_frame, and differ in between."""
    fps = 100.0
    spec = S.EventSpec(1.5, 0.05, 0.1, 0.02, {"AU12": 0.1, "AU06": 0.2}, emotion="happiness")
    clip = S.make_clip(face, [spec], fps, noise_sigma=0.0)
    (row,) = clip.truth
    on, ap, off = row["onset_frame"], row["apex_frame"], row["offset_frame"]
    assert row["kind"] == "micro" and row["emotion"] == "happiness" and row["region"] == "full"
    assert np.array_equal(clip.frame(on), face.image)
    assert np.array_equal(clip.frame(off), face.image)
    diffs = [np.abs(clip.frame(k).astype(int) - face.image).sum() for k in range(on + 1, off)]
    assert all(d > 0 for d in diffs)
    assert int(np.argmax(diffs)) + on + 1 in range(ap - 1, ap + 2)
    assert math.isclose(row["onset"], on / fps) and math.isclose(row["offset"], off / fps)
    assert set(row["action_units"]) == {"AU12_L", "AU12_R", "AU06_L", "AU06_R"}


def test_weak_event_peak_displacement_is_in_the_micro_range(face, geom):
    rng = np.random.default_rng(3)
    for emo in ("happiness", "surprise", "anger", "contempt", "disgust"):
        variant = "one_sided" if emo == "contempt" else "prototype"
        spec = S.expression_event(rng, geom, 1.5, emo, "micro", variant, band="weak")
        clip = S.make_clip(face, [spec], 200.0, noise_sigma=0.0)
        row = clip.truth[0]
        assert 0.3 <= row["peak_disp_iod"] < 0.7, (emo, row["peak_disp_iod"])
        assert row["band"] == "weak"
        assert row["kind"] == "micro" and 0.04 <= row["duration_ms"] / 1000 <= 0.455
        # the truth peak is what the rendered field does to the landmarks
        assert math.isclose(row["peak_disp_iod"], S.peak_displacement(face, clip._fields[0]), rel_tol=1e-3)
        if emo == "contempt":
            sides = {a.split("_")[1] for a in row["action_units"]}
            assert len(sides) == 1  # one-sided


def test_bands_and_regions():
    bands = [S.band_of(p) for p in (0.3, 0.69, 0.7, 1.49, 1.5, 5.0)]
    assert bands == ["weak", "weak", "medium", "medium", "strong", "strong"]
    assert S.region_of(["AU01_L", "AU02_R"]) == "upper"
    assert S.region_of(["AU12_L", "AU26"]) == "lower"
    assert S.region_of(["AU06_L", "AU12_L"]) == "full"


def test_micro_or_macro_follows_the_drawn_length_not_the_frame_rounding(face):
    # 0.16 + 0.16 + 0.16 s rounds to 5 + 5 + 5 frames at 30 fps: it lasts 0.500 s in the truth's
    # frames, but the face drew a 0.48 s micro-expression; 0.5 s and longer as drawn is macro
    events = [S.EventSpec(1.5, 0.16, 0.16, 0.16, {"AU15": 0.1}), S.EventSpec(3.5, 0.2, 0.2, 0.1, {"AU15": 0.1}),
              S.EventSpec(5.5, 0.3, 0.5, 0.3, {"AU15": 0.1})]
    clip = S.make_clip(face, events, 30.0, noise_sigma=0.0)
    assert [r["offset_frame"] - r["onset_frame"] for r in clip.truth][:1] == [15]
    assert [r["kind"] for r in clip.truth] == ["micro", "macro", "macro"]
    assert [S.drawn_length(e) for e in events][:1] == [pytest.approx(0.48)]


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_frames_and_truth_different_seed_differs(face):
    a = S.random_clip(face, 100.0, seed=5, duration=6.0)
    b = S.random_clip(face, 100.0, seed=5, duration=6.0)
    c = S.random_clip(face, 100.0, seed=6, duration=6.0)
    assert a.truth == b.truth and a.n_frames == b.n_frames
    ks = sorted({0, a.n_frames - 1, *[r["apex_frame"] for r in a.truth]})
    for k in ks:
        assert a.frame(k).tobytes() == b.frame(k).tobytes()
        assert a.frame(k).tobytes() == a.frame(k).tobytes()  # random access is repeatable
    assert a.truth != c.truth
    assert a.frame(0).tobytes() != c.frame(0).tobytes()  # different noise
    short = S.make_clip(face, [S.EventSpec(0.05, 0.05, 0.05, 0.0, {"AU12": 0.2})], 100.0, 0.3, 1.0, 0, sway_iod=0.004)
    for k, (x, y) in enumerate(zip(short.frames(), short.frames(threads=2))):
        assert np.array_equal(x, y), k  # rendering ahead in threads changes nothing


def test_suite_events_do_not_depend_on_fps(face):
    recipe = S.suite_plan("tune", 0, 1)[0]
    fast = S.build_clip(face, recipe, 200.0)
    slow = S.build_clip(face, recipe, 30.0)
    assert len(fast.truth) == len(slow.truth)
    for r200, r30 in zip(fast.truth, slow.truth):
        assert r200["emotion"] == r30["emotion"] and r200["action_units"] == r30["action_units"]
        assert abs(r200["onset"] - r30["onset"]) <= 1 / 30 + 1e-9


def test_suite_plan_covers_emotions_bands_variants_and_distractors():
    for split in ("tune", "test"):
        plan = S.suite_plan(split, 0, None)
        assert {p["face"] for p in plan} == set(S.SPLITS[split])
        exprs = [it for p in plan for it in p["items"] if it[0] == "expr"]
        emotions = set(facs.EMOTIONS) - {"neutral"}
        assert {e[2] for e in exprs if e[1] == "micro"} == emotions
        assert {e[2] for e in exprs if e[1] == "macro"} == emotions
        assert {e[4] for e in exprs if e[1] == "micro"} == {"weak", "medium", "strong"}
        variants = {e[3] for e in exprs}
        assert {"prototype", "partial_upper", "partial_lower", "one_sided"} <= variants
        others = {it[0] for p in plan for it in p["items"]}
        assert {"blink", "head_drift", "flicker", "light_step"} <= others


def test_schedule_leaves_neutral_lead_and_gaps(face):
    recipe = S.suite_plan("tune", 1, 2)[1]
    clip = S.build_clip(face, recipe, 200.0)
    rows = sorted(clip.truth + clip.meta["distractors"], key=lambda r: r["onset"])
    assert rows[0]["onset"] >= 1.5
    for a, b in zip(rows, rows[1:]):
        assert b["onset"] - a["offset"] >= 1.0 - 1 / 200 - 1e-9
    assert clip.n_frames / clip.fps - rows[-1]["offset"] >= 0.99


# ----------------------------------------------------------------------------- files and CLI


def test_write_is_lossless_and_truth_loads_in_the_evaluator(face, tmp_path):
    clip = S.make_clip(
        face,
        [
            S.EventSpec(0.1, 0.05, 0.05, 0.0, {"AU12": 0.2}, emotion="happiness"),
            S.EventSpec(0.3, 0.05, 0.05, 0.0, {"AU45": 1.0}, kind="blink", variant="blink"),
        ],
        50.0,
        duration=0.6,
        noise_sigma=2.0,
        seed=1,
    )
    video = clip.write(tmp_path, "c")
    cap = cv2.VideoCapture(str(video))
    k = 0
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        assert np.array_equal(fr, clip.frame(k)), k
        k += 1
    assert k == clip.n_frames
    meta = json.loads((tmp_path / "c.json").read_text())
    assert meta["n_frames"] == clip.n_frames and meta["fps"] == 50.0 and meta["seed"] == 1
    rows = S.read_truth(tmp_path / "c.truth.jsonl")
    assert [r["kind"] for r in rows] == ["micro", "blink"]
    evaluate = pytest.importorskip("detector.lab.evaluate")
    ann = evaluate.load_events(tmp_path / "c.truth.jsonl")
    assert [a.kind for a in ann] == ["micro", "blink"] and ann[0].emotion == "happiness"
    result = evaluate.score(ann, ann)
    assert result["overall"]["f1"] == 1.0


def test_cli_writes_a_clip_and_rejects_bad_input(tmp_path, capsys):
    assert S.main(["--out", str(tmp_path), "--fps", "30", "--seed", "2", "--face", "man_video", "--duration", "4"]) == 0
    assert (tmp_path / "man_video_s2.mkv").is_file()
    assert (tmp_path / "man_video_s2.truth.jsonl").is_file()
    assert json.loads((tmp_path / "man_video_s2.json").read_text())["fps"] == 30.0
    capsys.readouterr()
    assert S.main(["--out", str(tmp_path), "--face", str(tmp_path / "missing.jpg")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("synth: error:") and "\n" not in err


# ----------------------------------------------------------------------------- MediaPipe sees strong warps


def test_mediapipe_sees_a_strong_au12_in_the_right_direction(face):
    from detector.stages.landmarks import Landmarker, LandmarkerOptions

    f = S.au_field(face, {"AU12_L": 0.5})  # about 7 % IOD at the corner
    warped = S.Clip.remap_image(face.image, f)
    true = S.forward_displacement(f, face.landmarks[[291]])[0]
    with Landmarker(LandmarkerOptions(mode="image")) as lm:
        before = lm.detect(face.image, 0.0)[0].landmarks[:, :2]
        after = lm.detect(warped, 0.0)[0].landmarks[:, :2]
    seen_l = after[291] - before[291]
    seen_r = after[61] - before[61]
    assert seen_l[1] < -0.3 * abs(true[1])  # up
    assert seen_l[0] > 0.3 * true[0]  # outwards (image right)
    assert np.dot(seen_l, true) / (np.linalg.norm(seen_l) * np.linalg.norm(true)) > 0.8
    assert np.linalg.norm(seen_r) < 0.5 * np.linalg.norm(seen_l)


def test_smoke_clip_is_the_documented_fixed_set(face):
    clip = S.smoke_clip(face, fps=100.0)
    rows = clip.truth
    assert [r["kind"] for r in rows] == ["micro", "blink", "micro", "macro", "micro", "micro"]
    assert [r["emotion"] for r in rows] == ["happiness", "neutral", "sadness", "surprise", "anger", "contempt"]
    for r, peak in zip(rows, (1.8, None, 1.2, 4.0, 1.6, 1.8)):
        if peak is not None:
            assert abs(r["peak_disp_iod"] - peak) <= 0.02 * peak
    assert rows == S.smoke_clip(face, fps=100.0).truth


def test_make_suite_writes_a_dataset_the_csv_loader_reads(tmp_path):
    datasets = pytest.importorskip("detector.lab.datasets")
    paths = S.make_suite(tmp_path, fps=10.0, seed=0, split="test", n_clips=1)
    assert len(paths) == 1 and paths[0].suffix == ".mkv"
    suite = json.loads((tmp_path / "suite.json").read_text())
    assert suite["split"] == "test" and suite["clips"][0]["face"] in S.SPLITS["test"]
    truth = S.read_truth(tmp_path / suite["clips"][0]["truth"])
    (clip,) = datasets.load_csv_dataset(tmp_path)
    assert clip.subject == suite["clips"][0]["face"]
    assert clip.n_frames == suite["clips"][0]["n_frames"]
    assert [(e.onset_frame, e.offset_frame, e.kind) for e in clip.events] == [
        (r["onset_frame"], r["offset_frame"], r["kind"]) for r in truth
    ]


def test_every_suite_clip_name_maps_back_to_its_own_face():
    # emotion_cv.py leaves one face out, and run_suite.py scores each face, by the clip names:
    # posed_f1 must not catch posed_f13's or posed_f15's clips, and tune2's and tune3's faces are found
    for split, faces in S.SPLITS.items():
        for i, face in enumerate(faces):
            assert S.face_of_clip(f"{split}_{i:02d}_{face}") == face
    with pytest.raises(ValueError):
        S.face_of_clip("tune_00_nobody")


def test_au_table_of_the_pipelines_events_reads_each_au_from_the_channels(tmp_path):
    # two kinds of matched real-like events, written as suite_au_dataset.py --channels rows: a one-sided
    # smile (the left lip corner up 2 % IOD) and a brow lowering that moved no channel.  The table
    # recomputes the AUs from the channel deltas: AU12 separates the smiles (AUC 1), AU4 is blind
    # (hit 0), and the suite set's rows are left out with --set real_like.
    from benchmarks import au_table
    from detector.stages.features import CHANNELS

    cols = list(facs.AU_NAMES) + ["emotion", "set", "clip", "fps", "seed", "kind", "band", "truth_aus"]
    cols += [f"ch_{n}" for n in CHANNELS]
    rows = []
    for i in range(12):
        smile = i % 2 == 0
        ch = {f"ch_{n}": 0.0 for n in CHANNELS}
        if smile:
            ch["ch_geo_corner_up_L"] = 0.02
        rows.append({**{a: 0.0 for a in facs.AU_NAMES}, **ch, "emotion": "happiness" if smile else "anger",
                     "set": "real_like" if i < 10 else "suite", "clip": "tune_00_man_video", "fps": 200,
                     "seed": 0, "kind": "micro", "band": "weak",
                     "truth_aus": "AU12_L" if smile else "AU04_L+AU04_R"})
    path = tmp_path / "ev.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    table = au_table.events_table([path], "real_like")
    assert "(10; set real_like" in table
    line = {ln.split(" | ")[0].strip("| "): ln.split(" | ") for ln in table.splitlines() if ln.startswith("| AU")}
    assert line["AU12"][2] == "5" and line["AU12"][5] == "1.00"  # n+, AUC
    assert line["AU04"][2] == "5" and line["AU04"][6] == "0.00"  # n+, hit


def test_low_resolution_photos_lose_fine_detail_and_colour_and_have_their_own_cache(tmp_path):
    # build_au_dataset.py --low-res: the real posed pairs are 48 px grey faces, upscaled.  A frame
    # shrunk to an 18 px inter-ocular distance keeps its size and its broad shading, loses colour and
    # every 1-pixel detail; a low-res run never reads the full-resolution cache of the same face.
    from benchmarks import build_au_dataset as B

    yy, xx = np.mgrid[0:400, 0:400]
    img = np.zeros((400, 400, 3), np.uint8)
    img[..., 2] = 200  # red
    img[..., 1] = (xx * 0.5).astype(np.uint8)  # broad gradient
    img[(yy + xx) % 2 == 0, 0] = 255  # 1-pixel checkerboard in blue
    out = B.low_resolution(img, B.LOW_RES_IOD_PX / 125.0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])  # grey
    inner = out[20:-20, 20:-20, 0].astype(float)
    assert np.abs(np.diff(inner, axis=0)).max() < 8  # the checkerboard is gone (it swung by 255)
    assert inner[:, -1].mean() - inner[:, 0].mean() > 20  # the gradient is kept

    fake = {"emotion": np.array(["anger"]), "variant": np.array(["prototype"]), "aus": np.array(["AU04"]),
            "peak_pct": np.array([1.0]), "peak_reached": np.array([1.0]), "delta": np.zeros((1, 66))}
    np.savez(tmp_path / f"man_video_s0_v{B.VERSION}.npz", **fake)
    np.savez(tmp_path / f"man_video_s0_v{B.VERSION}_lowres18.npz", **{**fake, "emotion": np.array(["fear"])})
    assert B.measure_face("man_video", 0, tmp_path)["emotion"][0] == "anger"
    assert B.measure_face("man_video", 0, tmp_path, B.LOW_RES_IOD_PX)["emotion"][0] == "fear"
    with pytest.raises(SystemExit):
        B.main(["--split", "test", "--low-res", "2", "--out", str(tmp_path / "x.csv")])


def test_event_dataset_takes_several_splits_each_with_its_own_seeds(capsys):
    # suite_au_dataset.py --split tune:0,1 tune2:0 tune3 --seeds 5: tune with two seeds, tune2 with one,
    # tune3 with --seeds; an unknown split or bad seeds is a one-line usage error, not a traceback
    from benchmarks import suite_au_dataset as SA

    assert SA.split_seeds(["tune:0,1", "tune2:0", "tune3"], [5]) == [("tune", [0, 1]), ("tune2", [0]), ("tune3", [5])]
    for bad in ("tune9", "tune:x", "tune:"):
        with pytest.raises(SystemExit) as e:
            SA.main(["--split", bad, "--out", "/nonexistent/x.csv"])
        assert e.value.code == 2
        assert bad.split(":")[0] in capsys.readouterr().err.splitlines()[-1]


def test_blink_drag_is_each_channels_change_per_unit_of_lid_closure():
    # benchmarks/blink_drag.py: two blinks of a 30 fps track (eyeBlink +0.5, then +0.4) that drag the left
    # inner brow up by 0.01 and 0.008 IOD: both read +0.02 IOD per unit of eyeBlink.  A lid flicker of 0.1
    # (noise, a squint) is no blink; the frames before a blink must be still and seen (a face lost there:
    # no reference, no blink).
    from benchmarks.blink_drag import blink_drags
    from benchmarks.run_suite import Track
    from detector.stages.features import CHANNELS

    t = np.arange(0, 6, 1 / 30)
    X = np.zeros((len(t), len(CHANNELS)), np.float32)
    lids = [CHANNELS.index("eyeBlinkLeft"), CHANNELS.index("eyeBlinkRight")]
    brow = CHANNELS.index("geo_brow_inner_L")
    for start, depth in ((1.0, 0.5), (2.5, 0.4), (4.0, 0.1), (5.0, 0.5)):
        m = (t >= start) & (t < start + 0.15)
        X[np.ix_(m, lids)] = depth
        X[m, brow] = 0.02 * depth
    present = np.ones(len(t), bool)
    present[(t > 4.45) & (t < 4.95)] = False  # the face is lost just before the last blink
    d = blink_drags(Track(t, X, np.zeros((len(t), 6), np.float32), present))
    assert d.shape == (2, len(CHANNELS))
    assert np.allclose(d[:, brow], 0.02, atol=1e-5)
    assert np.allclose(d[:, lids], 1.0, atol=1e-5)
