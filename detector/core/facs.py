"""FACS vocabulary shared by every stage: action units, emotions, prototypes.

This module holds domain constants only (no computation), so that the feature
extractor, the segmenter, the classifier and its training script agree on one
naming.  How each action unit is *estimated* from MediaPipe output lives in
``detector.stages.features`` (the AU table there).

Intensities are on a 0..1 scale: 0 = absent, 1 = the strongest the estimator
produces for a maximal posed action (roughly FACS intensity E).  Real
micro-expressions reach only about 0.02-0.3 on this scale.
"""

from __future__ import annotations

#: Emotion labels, in classifier output order.  ``neutral`` first, then Ekman's seven.
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
)

#: Action units with a FACS name.  Bilateral AUs are estimated per side
#: (``_L`` = the subject's left, ``_R`` = the subject's right).
AU_DESCRIPTIONS: dict[str, str] = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU16": "lower lip depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU24": "lip pressor",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU45": "blink",
}

#: AUs scored separately on each side of the face.
BILATERAL: frozenset[str] = frozenset(
    {"AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15", "AU20", "AU45"}
)


def _au_names() -> tuple[str, ...]:
    names: list[str] = []
    for au in AU_DESCRIPTIONS:
        if au in BILATERAL:
            names += [f"{au}_L", f"{au}_R"]
        else:
            names.append(au)
    return tuple(names)


#: The AU vector layout used everywhere (feature output, classifier input).
AU_NAMES: tuple[str, ...] = _au_names()

#: EMFACS-style prototypes: emotion -> list of alternative AU combinations.
#: Bilateral AUs are written without a side and mean "both sides", except
#: where a side is given (contempt is one-sided by definition).
PROTOTYPES: dict[str, list[tuple[str, ...]]] = {
    "happiness": [("AU06", "AU12")],
    "sadness": [("AU01", "AU04", "AU15")],
    "surprise": [("AU01", "AU02", "AU05", "AU26")],
    "fear": [("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26")],
    "anger": [("AU04", "AU05", "AU07", "AU23")],
    "disgust": [("AU09", "AU15", "AU16"), ("AU10",)],
    "contempt": [("AU12_R", "AU14_R"), ("AU12_L", "AU14_L")],
}

#: Region-only subsets of the prototypes that still point at the emotion (AU6
#: alone is not happiness, AU26 alone is not surprise).
PARTIALS: dict[str, dict[str, tuple[str, ...]]] = {
    "happiness": {"lower": ("AU12",)},
    "sadness": {"upper": ("AU01", "AU04"), "lower": ("AU15",)},
    "surprise": {"upper": ("AU01", "AU02", "AU05")},
    "fear": {"upper": ("AU01", "AU02", "AU04", "AU05"), "lower": ("AU20", "AU26")},
    "anger": {"upper": ("AU04", "AU05", "AU07"), "lower": ("AU23",)},
    "disgust": {},
    "contempt": {},
}

#: Facial regions used by the segmenter; upper = brows + eyes + cheeks (FACS
#: upper-face AUs 1, 2, 4, 5, 6, 7), lower = nose + mouth + jaw.
REGIONS: tuple[str, ...] = ("brows", "eyes", "cheeks", "nose", "mouth", "jaw")
UPPER_REGIONS: frozenset[str] = frozenset({"brows", "eyes", "cheeks"})
