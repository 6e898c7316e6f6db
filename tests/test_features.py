"""Feature extraction: channels, pose removal, AU estimates (detector.stages.features)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.core.facs import AU_NAMES, REGIONS
from detector.stages import features as F
from detector.stages.landmarks import BLENDSHAPE_NAMES, FaceObservation, Landmarker, LandmarkerOptions

DATA = Path(__file__).parent / "data"

# MediaPipe face-mesh brow contours (upper and lower edge), per side.
BROW_R = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
BROW_L = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
GEO = slice(len(F.CHANNELS) - len(F.GEOMETRY_CHANNELS), None)


def _au(name: str) -> int:
    return AU_NAMES.index(name)


def _ch(name: str) -> int:
    return F.CHANNELS.index(name)


def _iod_px(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm((landmarks[33] + landmarks[133]) / 2 - (landmarks[263] + landmarks[362]) / 2))


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    """single_face.mp4: frame 0 is a neutral face, frame 45 a broad smile (same person)."""
    cap = cv2.VideoCapture(str(DATA / "single_face.mp4"))
    out = {}
    for i in range(46):
        ok, img = cap.read()
        assert ok, "single_face.mp4 could not be decoded"
        if i in (0, 45):
            out[i] = img
    cap.release()
    return out


@pytest.fixture(scope="module")
def landmarker():
    with Landmarker(LandmarkerOptions(mode="image")) as lm:
        yield lm


@pytest.fixture(scope="module")
def neutral_face(landmarker, frames) -> FaceObservation:
    faces = landmarker.detect(frames[0], 0.0)
    assert len(faces) == 1
    return faces[0]


def _with_landmarks(face: FaceObservation, landmarks: np.ndarray) -> FaceObservation:
    return dataclasses.replace(face, landmarks=landmarks.astype(np.float32))


# ---- layout -----------------------------------------------------------------


def test_channel_layout_regions_and_blink_masks():
    C = len(F.CHANNELS)
    assert len(set(F.CHANNELS)) == C
    assert not any(n == "_neutral" or n.startswith("eyeLook") for n in F.CHANNELS)
    assert {n for n in BLENDSHAPE_NAMES if n != "_neutral" and not n.startswith("eyeLook")} <= set(F.CHANNELS)
    assert F.CHANNEL_REGIONS.shape == (C,) and F.CHANNEL_REGIONS.dtype == np.int64
    assert ((F.CHANNEL_REGIONS >= 0) & (F.CHANNEL_REGIONS < len(REGIONS))).all()
    assert set(F.CHANNEL_REGIONS.tolist()) == set(range(len(REGIONS))), "every region has a channel"
    assert F.BLINK_CHANNELS.shape == (C,) and F.BLINK_CHANNELS.dtype == bool
    for i, n in enumerate(F.CHANNELS):
        if n.startswith("eyeBlink") or n.startswith("geo_eye_open"):
            assert F.BLINK_CHANNELS[i], n
        if F.BLINK_CHANNELS[i]:
            assert REGIONS[F.CHANNEL_REGIONS[i]] == "eyes", n
        if n.startswith("brow") or n.startswith("geo_brow"):
            assert REGIONS[F.CHANNEL_REGIONS[i]] == "brows", n
        if n.startswith("mouthSmile") or n.startswith("geo_corner"):
            assert REGIONS[F.CHANNEL_REGIONS[i]] == "mouth", n
    assert F.POSE_NAMES == ("yaw", "pitch", "roll", "tx", "ty", "tz")


def test_au_table_covers_every_au_with_existing_channels():
    assert tuple(F.AU_TABLE) == AU_NAMES
    for au, terms in F.AU_TABLE.items():
        assert terms, au
        cues = [t for t in terms if t.corrects is None]
        assert sum(t.weight for t in cues) == pytest.approx(1.0), au
        assert all(t.weight > 0 for t in cues), au
        for t in terms:
            assert t.channel in F.CHANNELS, (au, t.channel)
            assert t.full != 0
            assert t.corrects is None or t.corrects in {c.channel for c in cues}, (au, t)
        side = au[-2:]
        if side in ("_L", "_R"):  # a one-sided AU reads only its own side (mouth width aside)
            other = "Right" if side == "_L" else "Left"
            other_geo = "_R" if side == "_L" else "_L"
            foreign = [
                t.channel
                for t in terms
                if (t.channel.endswith(other) or t.channel.endswith(other_geo))
                and not t.channel.startswith("geo_corner_out")
                # AU14's one-sidedness cue: its corner's lift beyond the other corner's
                and not (au.startswith("AU14") and t.corrects == f"geo_corner_up{side}")
            ]
            assert not foreign, (au, foreign)


def test_blendshape_names_match_mediapipe_categories(frames):
    """detector.stages.landmarks.BLENDSHAPE_NAMES is the order MediaPipe reports (features index by it)."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from detector.core.resources import verified_model

    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(verified_model(None, "face_landmarker.task"))),
        running_mode=vision.RunningMode.IMAGE,
        output_face_blendshapes=True,
    )
    rgb = cv2.cvtColor(frames[0], cv2.COLOR_BGR2RGB)
    with vision.FaceLandmarker.create_from_options(opts) as lm:
        result = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
    names = tuple(c.category_name for c in result.face_blendshapes[0])
    assert names == BLENDSHAPE_NAMES


# ---- real frames ---------------------------------------------------------------


def test_real_frames_give_finite_features_of_declared_shape(landmarker, frames):
    fx = F.FeatureExtractor()
    for i, img in frames.items():
        (face,) = landmarker.detect(img, 0.0)
        f = fx(face)
        assert f.channels.shape == (len(F.CHANNELS),) and f.channels.dtype == np.float32
        assert f.pose.shape == (len(F.POSE_NAMES),) and f.pose.dtype == np.float32
        assert f.aus.shape == (len(AU_NAMES),) and f.aus.dtype == np.float32
        # the downward gaze gauges are the eyeLookDown blendshapes, kept out of the channels
        assert f.gaze.dtype == np.float32 and np.array_equal(
            f.gaze, [face.blendshapes[BLENDSHAPE_NAMES.index(n)] for n in ("eyeLookDownLeft", "eyeLookDownRight")])
        assert not set(F.GAZE_NAMES) & set(F.CHANNELS)
        assert np.isfinite(f.channels).all() and np.isfinite(f.pose).all()
        assert ((f.aus >= 0) & (f.aus <= 1)).all()
        assert abs(f.pose[0]) < 30 and abs(f.pose[1]) < 30 and abs(f.pose[2]) < 30, "a near-frontal face"
        assert f.pose[5] < 0, "the face is in front of the camera"
        # geometry in IOD units: a real face is within a fraction of an IOD of the canonical one
        assert np.abs(f.channels[GEO]).max() < 0.5


@pytest.mark.parametrize("angle", [10.0, -10.0])
def test_geometry_ignores_inplane_rotation_and_scale_and_roll_follows(landmarker, frames, angle):
    img = cv2.copyMakeBorder(frames[0], 120, 120, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    (face,) = landmarker.detect(img, 0.0)
    centre = tuple(float(v) for v in face.landmarks[:, :2].mean(axis=0))
    M = cv2.getRotationMatrix2D(centre, angle, 0.8)  # angle > 0: counter-clockwise in the image
    moved = cv2.warpAffine(img, M, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR)
    (face2,) = landmarker.detect(moved, 0.0)
    fx = F.FeatureExtractor()
    a, b = fx(face), fx(face2)

    change = np.abs(b.channels[GEO] - a.channels[GEO])
    # MediaPipe itself re-places landmarks by ~0.3-1 % IOD on a resampled image
    assert change.max() < 0.03, dict(zip(F.GEOMETRY_CHANNELS, change.round(4)))
    assert np.median(change) < 0.012

    # The same brow height read in image coordinates (no pose removal) moves
    # far more, so the tolerance above does detect a missing alignment.
    def naive_outer_brow(L):
        return float(((L[33, 1] + L[133, 1]) / 2 - L[list(BROW_R[:2]), 1].mean()) / _iod_px(L))

    assert abs(naive_outer_brow(face2.landmarks) - naive_outer_brow(face.landmarks)) > 0.05

    droll = float(b.pose[2] - a.pose[2])
    assert droll == pytest.approx(angle, abs=1.5)
    assert abs(b.pose[0] - a.pose[0]) < 3 and abs(b.pose[1] - a.pose[1]) < 3


def test_geometry_is_exactly_invariant_to_3d_similarity(neutral_face):
    """Rotating/scaling/moving the landmark cloud rigidly (any head pose) leaves geometry unchanged."""
    L = neutral_face.landmarks.astype(np.float64)
    c = L.mean(axis=0)
    yaw, pitch, roll = np.radians([25.0, -15.0, 8.0])
    Ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    Rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    L2 = (L - c) @ (Rz @ Ry @ Rx).T * 1.7 + c + np.array([40.0, -25.0, 3.0])
    fx = F.FeatureExtractor()
    a = fx(neutral_face)
    b = fx(_with_landmarks(neutral_face, L2))
    np.testing.assert_allclose(b.channels, a.channels, atol=2e-4)


def test_pose_without_transform_comes_from_the_landmarks(neutral_face):
    fx = F.FeatureExtractor()
    ref = fx(neutral_face).pose
    bad = dataclasses.replace(neutral_face, transform=np.full((4, 4), np.nan, np.float32))
    pose = fx(bad).pose
    assert np.isfinite(pose).all()
    np.testing.assert_allclose(pose[:3], ref[:3], atol=4.0)


# ---- synthetic perturbations of a real face --------------------------------------


def test_brow_lift_raises_brow_channels_and_au01_au02_only(neutral_face):
    L = neutral_face.landmarks.copy()
    lift = 0.01 * _iod_px(L)  # 1 % IOD, image up (the face is near frontal)
    L[list(BROW_L + BROW_R), 1] -= lift
    fx = F.FeatureExtractor()
    a = fx(neutral_face).channels
    b = fx(_with_landmarks(neutral_face, L)).channels
    for side in "LR":
        for part in ("inner", "outer"):
            d = b[_ch(f"geo_brow_{part}_{side}")] - a[_ch(f"geo_brow_{part}_{side}")]
            assert 0.006 < d < 0.014, (part, side, d)
    others = [i for i, n in enumerate(F.CHANNELS) if not n.startswith("geo_brow")]
    np.testing.assert_allclose(b[others], a[others], atol=1e-5)

    au = F.estimate_au_deltas(b - a)
    raised = [_au(n) for n in ("AU01_L", "AU01_R", "AU02_L", "AU02_R")]
    assert (au[raised] > 0.05).all(), au[raised]
    assert (au[[_au("AU04_L"), _au("AU04_R")]] < 0).all(), "a brow raise is the opposite of AU4"
    unrelated = [i for i, n in enumerate(AU_NAMES) if n[:4] not in ("AU01", "AU02", "AU04")]
    np.testing.assert_allclose(au[unrelated], 0.0, atol=1e-4)
    # absolute estimates relative to the person's neutral agree
    np.testing.assert_allclose(F.estimate_aus(b, neutral=a)[raised], au[raised], atol=1e-6)


def test_one_sided_lip_corner_raise_moves_au12_of_that_side_only(neutral_face):
    L = neutral_face.landmarks.copy()
    assert L[291, 0] > L[61, 0], "landmark 291 is the subject's left corner (image right)"
    L[[291, 308], 1] -= 0.02 * _iod_px(L)  # subject's left corner up 2 % IOD
    fx = F.FeatureExtractor()
    a = fx(neutral_face).channels
    b = fx(_with_landmarks(neutral_face, L)).channels
    assert b[_ch("geo_corner_up_L")] - a[_ch("geo_corner_up_L")] > 0.012
    assert abs(b[_ch("geo_corner_up_R")] - a[_ch("geo_corner_up_R")]) < 1e-5

    au = F.estimate_au_deltas(b - a)
    assert au[_au("AU12_L")] > 0.03
    assert au[_au("AU15_L")] < 0
    assert abs(au[_au("AU12_R")]) < 1e-4
    right = [i for i, n in enumerate(AU_NAMES) if n.endswith("_R") and n != "AU14_R"]
    # AU20 reads the mouth width (both corners), which moves a hair because
    # the face is slightly rolled; everything else on the right stays put, but
    # AU14 (one-sidedness: a corner's lift beyond the other's) goes the other way.
    np.testing.assert_allclose(au[right], 0.0, atol=0.01)
    assert au[_au("AU14_L")] > 0.1 and au[_au("AU14_R")] < 0
    assert au[_au("AU12_L")] > 5 * np.abs(au[right]).max()


def test_jaw_drop_lowers_the_corners_without_reading_as_au15(neutral_face):
    # A jaw drop carries the lip corners down with it (0.5-0.9 % IOD per 1 % of chin drop on the tune
    # warps); AU15 subtracts half the chin's drop from the corners' (issue 17: the jaw drop of fear
    # read as sadness's AU15 0.1).  The same corner drop with the jaw still is AU15.
    L0 = neutral_face.landmarks.copy()
    iod = _iod_px(L0)
    corners = [291, 308, 61, 78]
    fx = F.FeatureExtractor()
    a = fx(neutral_face).channels

    frown = L0.copy()
    frown[corners, 1] += 0.015 * iod  # image down
    d_frown = fx(_with_landmarks(neutral_face, frown)).channels - a
    jaw = frown.copy()
    jaw[152, 1] += 0.03 * iod  # chin tip down 3 % IOD
    d_jaw = fx(_with_landmarks(neutral_face, jaw)).channels - a
    assert d_jaw[_ch("geo_jaw")] > 0.02 and abs(d_frown[_ch("geo_jaw")]) < 1e-4
    for side in "LR":
        assert d_jaw[_ch(f"geo_corner_up_{side}")] < -0.01
        au_frown = F.estimate_au_deltas(d_frown)[_au(f"AU15_{side}")]
        au_jaw = F.estimate_au_deltas(d_jaw)[_au(f"AU15_{side}")]
        assert au_frown > 0.1, au_frown
        assert abs(au_jaw) < 0.03, au_jaw
    assert F.estimate_au_deltas(d_jaw)[_au("AU26")] > 0.05
    # a jaw that rises (mouth closing) is no corner depressor either way: the correction reads drops only
    up = L0.copy()
    up[152, 1] -= 0.03 * iod
    d_up = fx(_with_landmarks(neutral_face, up)).channels - a
    np.testing.assert_allclose(F.estimate_au_deltas(d_up)[[_au("AU15_L"), _au("AU15_R")]], 0.0, atol=1e-3)


def test_real_smile_reads_as_au6_au12_au25_not_as_other_actions(landmarker, frames):
    fx = F.FeatureExtractor()
    (neutral,) = landmarker.detect(frames[0], 0.0)
    (smile,) = landmarker.detect(frames[45], 0.0)
    d = F.estimate_au_deltas(fx(smile).channels - fx(neutral).channels)
    for n in ("AU12_L", "AU12_R", "AU25"):
        assert d[_au(n)] > 0.6, (n, d[_au(n)])
    for n in ("AU06_L", "AU06_R"):
        assert d[_au(n)] > 0.4, (n, d[_au(n)])
    for n in ("AU04", "AU09", "AU10", "AU15", "AU20", "AU23", "AU24", "AU26"):
        idx = [i for i, a in enumerate(AU_NAMES) if a.startswith(n)]
        assert (d[idx] < 0.3).all(), (n, d[idx])


# ---- estimate_aus ------------------------------------------------------------


def test_estimate_aus_batch_equals_per_row(landmarker, frames):
    fx = F.FeatureExtractor()
    rows = [fx(landmarker.detect(img, 0.0)[0]).channels for img in frames.values()]
    rng = np.random.default_rng(0)
    X = np.vstack(rows + [rows[0] + rng.normal(0, 0.05, rows[0].shape).astype(np.float32) for _ in range(4)])
    neutral = rows[0]
    batch = F.estimate_aus(X)
    assert batch.shape == (len(X), len(AU_NAMES))
    # equal up to float32 rounding (BLAS may sum a matrix product in another order)
    np.testing.assert_allclose(batch, np.stack([F.estimate_aus(x) for x in X]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        F.estimate_aus(X, neutral=neutral), np.stack([F.estimate_aus(x, neutral=neutral) for x in X]), rtol=0, atol=1e-6
    )
    D = X - neutral
    np.testing.assert_allclose(
        F.estimate_au_deltas(D), np.stack([F.estimate_au_deltas(d) for d in D]), rtol=0, atol=1e-6
    )
    assert ((batch >= 0) & (batch <= 1)).all()
    deltas = F.estimate_au_deltas(D)
    assert ((deltas >= -1) & (deltas <= 1)).all() and (deltas < 0).any()


def test_extractor_aus_use_the_given_neutral(neutral_face):
    ch = F.FeatureExtractor()(neutral_face).channels
    fx = F.FeatureExtractor(neutral=ch)
    np.testing.assert_allclose(fx(neutral_face).aus, 0.0, atol=1e-6)
    fx.set_neutral(None)
    np.testing.assert_array_equal(fx(neutral_face).aus, F.estimate_aus(ch))


def test_bad_shapes_are_rejected(neutral_face):
    with pytest.raises(ValueError):
        F.estimate_aus(np.zeros(len(F.CHANNELS) + 1))
    with pytest.raises(ValueError):
        F.estimate_au_deltas(np.zeros((2, 3, len(F.CHANNELS))))
    with pytest.raises(ValueError):
        F.FeatureExtractor(neutral=np.zeros(3))
    with pytest.raises(ValueError):
        F.FeatureExtractor()(_with_landmarks(neutral_face, np.zeros((10, 3))))
