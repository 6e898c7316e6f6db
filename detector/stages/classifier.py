"""Stage 5: emotion of an event from its action-unit deltas (ONNX, onnxruntime).

The model (``models/emotion.onnx``, rebuilt by ``python -m detector.lab.training``)
takes the event's apex-minus-baseline AU vector, shape (32,) in
``facs.AU_NAMES`` order (0..1 AU scale), and returns probabilities over
``facs.EMOTIONS`` (neutral + 7).  Intensity normalisation is inside the graph,
so callers feed the raw delta.  See ``detector.lab.training`` for the graph and
the training data.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from detector.core import facs
from detector.core.options import ClassifierOptions
from detector.core.resources import MODEL_SHA256, ResourceError, resource_path, verified_model
from detector.stages.features import ARTICULATED_CHANNELS, CHANNELS, estimate_au_deltas

MODEL_NAME = "emotion.onnx"
#: channels that gauge articulation: the lip gap, the jaw's opening, the lips' thickness (press, rounding)
ARTICULATION_GAUGES: tuple[str, ...] = ("geo_mouth_open", "jawOpen", "geo_lip_thickness")
_GAUGES = np.array([CHANNELS.index(n) for n in ARTICULATION_GAUGES], dtype=np.intp)
#: a gauge whose standard deviation in the window is under this share of the apex's distance from rest
#: is not fitted (the slope would be extrapolated that far)
ARTICULATION_MIN_SPREAD = 0.25
_N_AU = len(facs.AU_NAMES)
_N_EMO = len(facs.EMOTIONS)
NEUTRAL = facs.EMOTIONS.index("neutral")  # index of the no-emotion label in facs.EMOTIONS
_log = logging.getLogger(__name__)


def _bundled_sha256() -> str | None:
    """Known hash of the bundled model: resources.MODEL_SHA256, else models/emotion.json."""
    if MODEL_NAME in MODEL_SHA256:
        return MODEL_SHA256[MODEL_NAME]
    try:
        meta = json.loads(resource_path("models", "emotion.json").read_text(encoding="utf-8"))
        return str(meta["sha256"])
    except (ResourceError, OSError, ValueError, KeyError, TypeError):
        return None


class EmotionClassifier:
    """Emotion probabilities for events, from their AU deltas.

    Parameters
    ----------
    model_path
        ONNX file; default the bundled ``models/emotion.onnx`` (hash-checked).
    device
        ``"cpu"`` or ``"gpu"`` (onnxruntime's CUDA provider).  If CUDA is not
        available the classifier runs on the CPU and logs a warning; the
        provider in use is ``self.provider``.

    Raises
    ------
    ResourceError
        The model file is missing, corrupt or not an emotion model.
    ValueError
        Unknown ``device``.
    """

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu") -> None:
        import onnxruntime as ort

        dev = str(device).lower()
        if dev not in ("cpu", "gpu", "cuda"):
            raise ValueError(f"unknown device {device!r} (expected 'cpu' or 'gpu')")
        if model_path is None:
            sha = _bundled_sha256()
            if sha is None:
                raise ResourceError(f"no known sha256 for bundled models/{MODEL_NAME} (models/emotion.json missing?)")
            path = verified_model(None, MODEL_NAME, sha)
        else:
            path = verified_model(model_path, MODEL_NAME)
        providers = ["CPUExecutionProvider"]
        if dev in ("gpu", "cuda"):
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            else:
                _log.warning(
                    "emotion classifier: CUDAExecutionProvider not available in onnxruntime "
                    "(install microexpr[gpu]); running on CPU"
                )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ResourceError(f"cannot load emotion model {path}: {msg[:200]}") from None
        self.path = Path(path)
        self.provider: str = self._session.get_providers()[0]
        if dev in ("gpu", "cuda") and self.provider != "CUDAExecutionProvider" and providers[0] == "CUDAExecutionProvider":
            _log.warning("emotion classifier: CUDA provider failed to initialise; running on CPU")
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1 or inputs[0].shape[-1] != _N_AU or outputs[0].shape[-1] != _N_EMO:
            raise ResourceError(f"{path} is not an emotion model: expected input (N, {_N_AU}) and output (N, {_N_EMO})")
        meta = self._session.get_modelmeta().custom_metadata_map
        if "emotions" in meta and tuple(json.loads(meta["emotions"])) != facs.EMOTIONS:
            raise ResourceError(f"{path}: emotion order {meta['emotions']} differs from detector.core.facs.EMOTIONS")
        self.metadata: dict[str, str] = dict(meta)
        self._input = inputs[0].name
        self._output = outputs[0].name

    def predict(self, au_delta: np.ndarray) -> np.ndarray:
        """Probabilities over ``facs.EMOTIONS``.

        Parameters
        ----------
        au_delta
            Apex-minus-baseline AU intensities, shape (32,) or (N, 32), AU_NAMES order.

        Returns
        -------
        np.ndarray
            float32, shape (8,) or (N, 8); each row sums to 1.
        """
        try:
            x = np.asarray(au_delta, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError("au_delta must be a numeric array") from None
        single = x.ndim == 1
        if x.shape[-1:] != (_N_AU,) or x.ndim > 2:
            raise ValueError(f"au_delta must have shape ({_N_AU},) or (N, {_N_AU}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("au_delta contains NaN or infinite values")
        if single:
            x = x[None, :]
        if x.shape[0] == 0:
            return np.zeros((0, _N_EMO), dtype=np.float32)
        p = self._session.run([self._output], {self._input: np.ascontiguousarray(x)})[0]
        return p[0] if single else p

    def classify(self, au_delta: np.ndarray) -> tuple[str, float, dict[str, float]]:
        """(emotion, confidence, scores) for one event's AU delta (32,)."""
        p = self.predict(au_delta)
        if p.ndim != 1:
            raise ValueError("classify takes one event (32,); use predict for batches")
        k = int(np.argmax(p))
        return facs.EMOTIONS[k], float(p[k]), {e: float(v) for e, v in zip(facs.EMOTIONS, p)}


#: Action units of the mouth and jaw: while a person talks they move with articulation, so they are
#: no evidence of an emotion then.  The nose wrinkle (AU9) and the upper face stay.
ARTICULATION_AUS: frozenset[str] = frozenset(
    {"AU10", "AU12", "AU14", "AU15", "AU16", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26"}
)
_ARTICULATION_IDX = np.array([i for i, n in enumerate(facs.AU_NAMES) if n.split("_")[0] in ARTICULATION_AUS], dtype=np.intp)


def upper_face_delta(au_delta: np.ndarray) -> np.ndarray:
    """The AU delta with the mouth and jaw AUs (:data:`ARTICULATION_AUS`) set to 0 (a copy)."""
    x = np.array(au_delta, dtype=np.float32, copy=True)
    x[..., _ARTICULATION_IDX] = 0.0
    return x


def held_levels(deviations: np.ndarray, quantile: float) -> np.ndarray:
    """Per channel, the level a window of frames holds: what the mouth keeps between syllables.

    ``deviations`` (T, C): each frame's channels minus the person's baseline (channel units;
    NaN = no face).  A channel whose central range, ``quantile`` to ``1 - quantile`` over the
    frames, stays above 0 holds its lower edge, one that stays below 0 its upper edge; a channel
    whose range spans 0 (it came back to rest between syllables) holds 0.  Returns (C,) float64.
    """
    d = np.asarray(deviations, dtype=np.float64)
    if d.ndim != 2 or not 0.0 <= quantile <= 0.5:
        raise ValueError(f"deviations must be (T, C) and 0 <= quantile <= 0.5, got {d.shape} and {quantile!r}")
    ok = np.isfinite(d).all(axis=1)
    if not ok.any():
        return np.zeros(d.shape[1])
    lo, hi = np.quantile(d[ok], [quantile, 1.0 - quantile], axis=0)
    return np.where(lo > 0.0, lo, np.where(hi < 0.0, hi, 0.0))


def articulation_coupling(window: np.ndarray, apex: np.ndarray) -> np.ndarray:
    """How much each channel moves with the articulation through a window of frames (T, C): the
    least-squares slopes (R, C) on the :data:`ARTICULATION_GAUGES` (mouth opening, jaw opening, lip
    thickness; channel units per gauge unit), 0 for the articulated channels themselves.  ``apex``
    (C,): the event's channels at its apex, from the same baseline.  A gauge whose standard
    deviation in the window is under :data:`ARTICULATION_MIN_SPREAD` of the apex's distance from rest
    did not articulate enough there to be fitted: its slopes are 0 (they would be noise, and that
    distance would multiply it).  MediaPipe moves the lids, brows and nose a little with every
    syllable; this is that share."""
    w = np.asarray(window, dtype=np.float64)
    w = w[np.isfinite(w).all(axis=1)]
    slopes = np.zeros((len(_GAUGES), w.shape[1]))
    if len(w) < 2:
        return slopes
    g = w[:, _GAUGES] - w[:, _GAUGES].mean(axis=0)
    sd = g.std(axis=0)
    moved = (sd > 0.0) & (sd >= ARTICULATION_MIN_SPREAD * np.abs(np.asarray(apex, np.float64)[_GAUGES]))
    if len(w) <= int(moved.sum()) or not moved.any():
        return slopes
    slopes[moved] = np.linalg.lstsq(g[:, moved], w - w.mean(axis=0), rcond=None)[0]
    slopes[:, ARTICULATED_CHANNELS] = 0.0
    return slopes


def speaking_au_delta(change: np.ndarray, window: np.ndarray | None, quantile: float) -> np.ndarray:
    """AU delta (32,) of an event seen while the person talks.

    ``change`` (C,): the channels at the apex minus the baseline; ``window`` (T, C): the frames
    around the apex minus the baseline, or None.  The nose, mouth and jaw
    (:data:`ARTICULATED_CHANNELS`) count at the level they hold through the window
    (:func:`held_levels`), so a smile kept between syllables counts and the syllables' openings do
    not; the other channels count as they were at the apex, less what moves with the
    articulation (:func:`articulation_coupling`).  With no window (fewer than 2 frames) the mouth and jaw
    AUs are 0 (:func:`upper_face_delta`).
    """
    c = np.array(change, dtype=np.float64, copy=True)
    if window is None or len(window) < 2:
        return upper_face_delta(estimate_au_deltas(c))
    w = np.asarray(window, dtype=np.float64)
    c -= c[_GAUGES] @ articulation_coupling(w, c)
    c[ARTICULATED_CHANNELS] = held_levels(w[:, ARTICULATED_CHANNELS], quantile)
    return estimate_au_deltas(c).astype(np.float32)


def speaking_label(probs: np.ndarray, min_confidence: float, neutral_confidence: float,
                   au_delta: np.ndarray | None = None, min_au: float = 0.0) -> tuple[int, float]:
    """(emotion index, confidence) of an event seen while the person talks.

    ``probs`` are the classifier's probabilities on :func:`speaking_au_delta` (``au_delta``).
    An emotion at ``min_confidence`` or more is kept when some AU of ``au_delta`` changed by
    ``min_au`` or more (AU units, 0..1; the model scales every delta to one size, so it reads
    a confident emotion into what is left of the articulation too); otherwise the label is
    ``neutral`` with a confidence of at most ``neutral_confidence``.
    """
    p = np.asarray(probs, dtype=np.float64)
    k = int(np.argmax(p))
    acted = au_delta is None or float(np.max(np.abs(au_delta))) >= min_au
    if k != NEUTRAL and p[k] >= min_confidence and acted:
        return k, float(p[k])
    return NEUTRAL, float(min(p[NEUTRAL], neutral_confidence))


def speaking_emotion(classifier: EmotionClassifier, change: np.ndarray, window: np.ndarray | None,
                     opts: ClassifierOptions) -> tuple[int, float, np.ndarray]:
    """(emotion index, confidence, probabilities) of an event seen while the person talks:
    :func:`speaking_au_delta` of ``change`` (C,) and ``window`` (T, C; both minus the baseline),
    classified, then :func:`speaking_label` with the ``[classifier]`` speech options."""
    said = speaking_au_delta(change, window, opts.speech_hold_quantile)
    probs = classifier.predict(said)
    k, conf = speaking_label(probs, opts.speech_min_confidence, opts.speech_neutral_confidence, said, opts.speech_min_au)
    return k, conf, probs


def emotionless_macro(kind: str, probs: np.ndarray, opts: ClassifierOptions) -> bool:
    """Whether an event of ``kind`` with emotion probabilities ``probs`` (over ``facs.EMOTIONS``) is
    a slow change of the face with no emotion in it (a head drift, a posture): a macro event the model
    reads as neutral with at least ``opts.macro_neutral_max`` probability (1 = never).  Brief events
    keep their neutral label: a micro-expression's AU evidence is often too weak for the model."""
    limit = opts.macro_neutral_max
    return kind == "macro" and limit < 1.0 and float(probs[NEUTRAL]) >= limit
