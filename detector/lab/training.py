"""Deterministic training of the emotion classifier (``models/emotion.onnx``).

Run ``python -m detector.lab.training [--out models/emotion.onnx] [--seed 0]
[--dataset CSV [--replace]] [--au-dataset CSV | --no-au-dataset] [--noise SIGMA] [--channel-noise FILE] [--members K]``.  The same seed, options and
platform give a byte-identical ONNX file (no clock, no threads in the random
stream, fixed opset/IR version).  Needs numpy and the optional ``onnx``
package (``pip install microexpr[train]``); inference needs only onnxruntime.

Input of the model
------------------
``au_delta``: float32 (N, 32), the event's apex-minus-baseline action-unit
vector in ``facs.AU_NAMES`` order (0..1 intensity scale, so values lie in
-1..1).  The runtime feeds the raw delta; everything else is in the graph.

Graph (all float32)::

    xs   = x[:, keep]                          # AU45 (blink) dropped
    xk   = relu(xs)                            # increases (see below)
    n    = ||xk||                              # event strength
    u    = xk / max(n, EPS)                    # direction: the AU pattern, intensity-free
    asym = |xk[:, L] - xk[:, R]| / max(n, EPS)  # one-sidedness of each bilateral AU
    s    = clip(log(n + EPS), log EPS, log 4)  # strength, log scale
    dec  = relu(-xs) / max(||xs||, EPS)        # decreases, as shares of the whole change (0..1; version 3)
    f    = [u, asym, s, dec]                   # 30 + 12 + 1 + 30 = 73 features
    h    = tanh(f @ W1 + b1)                   # hidden layer (feature standardisation folded in)
    p    = softmax(h @ W2 + b2)                # (N, 8) over facs.EMOTIONS

With ``--members K`` the hidden layer holds K networks side by side, each trained from its own
random stream, and ``W2`` averages their logits (an ensemble in the same graph).  The bundled
model is one network (K = 1): five were steadier on the tune faces but labelled the test suite's
events worse (RESULTS.md, issue 17, fourth round).

So the same AU pattern at intensity 0.05 and 0.8 gives the same direction
``u``; the strength ``s`` only decides between an emotion and ``neutral``
(a zero or noise-sized vector is neutral).  The direction and the strength
read only increases: an AU estimator reports an action's antagonists as
negative changes (a smile lowers the AU15 estimate, a brow raise lowers AU4),
and such decreases are no prototype AU.  They are evidence all the same: the
lid opening of fear and surprise lowers AU7, a lip stretch thickens the lips
and lowers AU23/AU24.  Since version 3 the graph also reads them, as ``dec``,
each AU's decrease over the norm of the whole signed change (bounded 0..1).
The synthetic prototypes carry noise-sized decreases only, so what ``dec``
means is learned from the estimator rows (``au_tune.csv``) and the suite
events (leave-one-tune-face-out, ``benchmarks/emotion_cv.py``: matched-event
accuracy 0.861 without ``dec``, 0.886 with it; RESULTS.md, issue 17).

Training data (synthetic, FACS/EMFACS-grounded)
-----------------------------------------------
No licensed emotion dataset is reachable, so samples are drawn from the
prototypes in ``facs.PROTOTYPES`` (happiness 6+12; sadness 1+4+15; surprise
1+2+5+26; fear 1+2+4+5+7+20+26; anger 4+5+7+23; disgust 9+15+16 or 10;
contempt one-sided 12+14):

* intensity: a base intensity log-uniform in 0.015..1 (micro-expressions
  reach only 0.02-0.3), each AU scaled by U(0.6, 1.4);
* variants: the full prototype (45 %), one region only (upper face = AUs 1,
  2, 4, 5, 6, 7, lower face = the rest; 25 %), or a random subset of its AUs
  (30 %);
* bilateral AUs get asymmetry jitter (one side x U(0.7, 1)); contempt is
  one-sided: the other side gets at most 0.5 of the active side (estimators
  leak a one-sided action onto the other side).  10 % of the happiness
  samples are a *symmetric* dimpled smile (AU12+AU14 on both sides),
  labelled happiness, so that contempt needs one-sidedness;
* estimator cross-talk: in half the samples each active AU leaks U(0, 0.3)
  of its intensity into one random AU of the same face half and side;
* co-occurring EMFACS extras that carry no label (each with p = 0.3): AU25 in
  surprise/fear/happiness/disgust, AU17 in sadness/anger/disgust, AU24 in
  anger; blinks (AU45) in 10 % of all samples;
* labels are soft: a sample whose active AUs are a subset of several
  prototypes (partial variants are ambiguous: AU4 alone fits sadness, anger
  and fear) gets probabilities proportional to coverage^4, coverage being the
  fraction of the prototype's (per-side) AUs that are present;
* noise: Gaussian, independent per AU, sigma = nominal x log-uniform(0.5, 2);
  a sample whose clean signal is weak against the noise (SNR =
  ||signal / sigma|| below 3) is blended towards ``neutral`` (fully neutral
  at SNR <= 1);
* neutral: noise only (sigma x 0.1..2, some near-zero vectors), small random
  AU activity (|N(0, 2 sigma)| on ~1 random AU), and non-emotional actions
  (lips part AU25, chin raiser AU17, blinks; not the lip pressor AU24, see ``SKIPPED_VARIANTS``).

Nominal noise per AU = sqrt(measured^2 + floor^2):

* measured (``MEASURED_AU_NOISE``, 0.001-0.026): the per-channel white noise
  of the first ``benchmarks/channel_noise.json`` (real clips, MediaPipe
  smoothing defeated) pushed through the linear AU map of
  ``detector.stages.features`` (``--channel-noise FILE`` derives it from a given
  file at build time, ``--derive-noise FILE`` prints it);
* floor (``NOISE_FLOOR`` = 0.015, ``--noise``): what that measurement misses.
  Blendshapes resting at 0 hardly jitter but do during an expression; the apex
  frame is picked as a maximum (biased towards a noise peak); the baseline
  wanders; and on 200 fps lab video landmarks jitter by 0.15-0.4 % IOD,
  which the geometry cues (full scale 2-8 % IOD) turn into 0.02-0.06 per AU.

Estimator-output data (real faces)
----------------------------------
The prototypes above are what an ideal AU estimator would report.  The real
one (``detector.stages.features``: MediaPipe + a linear AU map) leaks actions into
each other on real faces: a synthetic happiness warp of 2 % IOD reads mostly
AU6/AU7 with little AU12, a jaw drop reads AU14/AU20 and *negative* AU23/25.
So, by default, the training set also holds
``benchmarks/data/au_tune.csv``: ``estimate_au_deltas(apex - neutral)``
measured by ``benchmarks/build_au_dataset.py`` on the TUNE faces of
``benchmarks/synth.py`` (prototypes, partial / one-sided variants and neutral
events at 0.5-6 % IOD; the TEST faces are kept for evaluation), each row
added ``--au-copies`` (:data:`AU_COPIES`) times with mirror / strength / noise jitter
(:func:`augment_estimator_rows`).  ``--au-dataset CSV`` picks another file,
``--no-au-dataset`` trains on the prototypes alone.  Score a model on the test
faces with ``python benchmarks/build_au_dataset.py --evaluate MODEL
benchmarks/data/au_test.csv``.

Pipeline events (issue 17)
--------------------------
The IMAGE-mode rows above are single frames against a 4-frame neutral; the
pipeline's events are smaller and smoother (segmenter baseline, smoothed apex).
``benchmarks/data/au_suite_tune.csv`` holds ``estimate_au_deltas`` of the
pipeline's own events on the TUNE split of the synthetic suite and its
real-like band, seeds 0 and 1 (``benchmarks/suite_au_dataset.py``), labelled with the matched
truth emotion; each row is added ``--suite-copies`` (:data:`SUITE_COPIES`) times with the same
jitter, labels kept (``--suite-dataset CSV``, ``--no-suite-dataset``).
Estimator rows of ``SKIPPED_VARIANTS`` (lip press) are left out.

User datasets
-------------
``--dataset CSV`` adds labelled rows to the synthetic set (``--replace``:
train on the CSV only).  Format: a header with the 32 AU names of
``facs.AU_NAMES`` (apex-minus-baseline deltas, 0..1 scale) and a column
``emotion`` holding one of ``facs.EMOTIONS``; other columns are ignored.
Each CSV row gets a one-hot label.  Rows are used in file order, so the
result stays deterministic.

Outputs: the ONNX file (with metadata_props: emotions, input name, AU names,
seed, version, noise, accuracies) and ``<out stem>.json`` beside it with the
same metadata plus the file's sha256 (the classifier checks the bundled model
against it).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# One BLAS thread: the matrices are small and OpenBLAS threads spin when the
# cores are busy (a full build took 5 s with one thread, 46 s with two, on a
# loaded 2-core machine; same bytes either way).  Only takes effect when numpy
# is not imported yet (``python -m detector.lab.training``).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from detector.core import facs  # noqa: E402
from detector.core.files import replace_atomically  # noqa: E402
from detector.stages.ekman import side_difference  # noqa: E402

#: Version of the recipe (bump when the data recipe or graph changes).
MODEL_VERSION = "3"
INPUT_NAME = "au_delta"
OUTPUT_NAME = "probabilities"
OPSET = 17
IR_VERSION = 8
EPS = 1e-3  # AU units; norms below this count as "no movement"
LOGN_MIN = float(np.log(EPS))
LOGN_MAX = float(np.log(4.0))
N_AU = len(facs.AU_NAMES)
N_EMO = len(facs.EMOTIONS)
#: Noise floor (0..1 AU scale) added in quadrature to every AU's measured noise; see module docstring.
NOISE_FLOOR = 0.015
#: Per-AU white noise (0..1 AU scale) measured on real video: the first version of
#: benchmarks/channel_noise.json ("recommended": VIDEO mode with smoothing defeated, max over
#: the two bundled clips of the residual sigma around a 5-frame running median) pushed through
#: detector.stages.features' linear AU map, sigma_AU = sqrt(sum_j (dAU/dchannel_j * sigma_j)^2).
#: The committed channel_noise.json now recommends a larger statistic (second-difference sigma
#: or the wander within held expressions; 0.012-0.12 per AU through the same map).  Trained on
#: that, the model lost recognition of fear and sadness on warped faces (39 % vs 48 % overall,
#: see the classifier notes), so it is not the default; ``--channel-noise FILE`` trains on it,
#: ``--derive-noise FILE`` prints it.
MEASURED_AU_NOISE: dict[str, float] = {
    "AU01_L": 0.0039, "AU01_R": 0.0028, "AU02_L": 0.0075, "AU02_R": 0.0039, "AU04_L": 0.0059, "AU04_R": 0.0057,
    "AU05_L": 0.0115, "AU05_R": 0.0116, "AU06_L": 0.0069, "AU06_R": 0.0070, "AU07_L": 0.0090, "AU07_R": 0.0091,
    "AU09_L": 0.0066, "AU09_R": 0.0079, "AU10_L": 0.0131, "AU10_R": 0.0103, "AU12_L": 0.0013, "AU12_R": 0.0016,
    "AU14_L": 0.0064, "AU14_R": 0.0086, "AU15_L": 0.0055, "AU15_R": 0.0048, "AU16": 0.0097, "AU17": 0.0120,
    "AU20_L": 0.0054, "AU20_R": 0.0071, "AU23": 0.0257, "AU24": 0.0148, "AU25": 0.0030, "AU26": 0.0038,
    "AU45_L": 0.0037, "AU45_R": 0.0037,
}

_IDX = {name: i for i, name in enumerate(facs.AU_NAMES)}
_EMO = {e: i for i, e in enumerate(facs.EMOTIONS)}
#: AUs that are not fed to the network (blink: the segmenter's business, not an emotion cue).
IGNORED_AUS: tuple[str, ...] = ("AU45",)
#: Upper face (brows, eyes, cheeks): FACS upper-face AUs, as in facs.UPPER_REGIONS.
UPPER_AUS = frozenset({"AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU45"})
#: EMFACS actions that often accompany an emotion but do not define it (label-free extras).
EXTRAS: dict[str, tuple[str, ...]] = {
    "surprise": ("AU25",),
    "fear": ("AU25",),
    "happiness": ("AU25",),
    "disgust": ("AU25", "AU17"),
    "sadness": ("AU17",),
    "anger": ("AU17", "AU24"),
}
#: Non-emotional actions that appear in neutral events (speech, swallowing, blinks).
NEUTRAL_ACTIONS: tuple[tuple[str, float, float], ...] = (
    ("AU25", 0.3, 0.4),  # (AU, probability, max intensity)
    ("AU17", 0.2, 0.2),
    ("AU45", 0.2, 1.0),
)
#: Estimator-output rows of these ``variant``\ s are not used for training.  ``action_AU24``: a
#: lip press reads as AU23 + AU24 on warped faces, the same as anger's lip tightener (per-AU table,
#: benchmarks/RESULTS.md, issue 17), and EMFACS anger itself holds AU24; labelled neutral, these rows
#: taught the model that anger's lower face is neutral.  (AU24 also left NEUTRAL_ACTIONS then.)
SKIPPED_VARIANTS: frozenset[str] = frozenset({"action_AU24"})


def _base(name: str) -> str:
    return name.split("_")[0]


def _units(au: str) -> tuple[int, ...]:
    """Indices in AU_NAMES of an AU written as in facs.PROTOTYPES ("AU12", "AU12_R", "AU16")."""
    if au in _IDX:
        return (_IDX[au],)
    if au in facs.BILATERAL:
        return (_IDX[f"{au}_L"], _IDX[f"{au}_R"])
    raise KeyError(au)


def _mirror(i: int) -> int:
    name = facs.AU_NAMES[i]
    if name.endswith("_L"):
        return _IDX[name[:-2] + "_R"]
    if name.endswith("_R"):
        return _IDX[name[:-2] + "_L"]
    return i


KEEP = np.array([i for i, n in enumerate(facs.AU_NAMES) if _base(n) not in IGNORED_AUS], dtype=np.int64)
_KEPT_NAMES = [facs.AU_NAMES[i] for i in KEEP]
PAIR_L = np.array([j for j, n in enumerate(_KEPT_NAMES) if n.endswith("_L")], dtype=np.int64)
PAIR_R = np.array([_KEPT_NAMES.index(_KEPT_NAMES[j][:-2] + "_R") for j in PAIR_L], dtype=np.int64)
N_FEATURES = len(KEEP) + len(PAIR_L) + 1 + len(KEEP)


def _neighbours(i: int) -> np.ndarray:
    """Units an estimator may leak AU ``i`` into: same face half, same side (or midline), not AU45."""
    name = facs.AU_NAMES[i]
    upper = _base(name) in UPPER_AUS
    side = name[-2:] if name.endswith(("_L", "_R")) else ""
    out = []
    for j in KEEP:
        other = facs.AU_NAMES[j]
        if j == i or _base(other) == _base(name) or (_base(other) in UPPER_AUS) != upper:
            continue
        oside = other[-2:] if other.endswith(("_L", "_R")) else ""
        if side and oside and oside != side:
            continue
        out.append(j)
    return np.asarray(out, dtype=np.int64)


_NEIGHBOURS: tuple[np.ndarray, ...] = tuple(_neighbours(i) for i in range(N_AU))


@dataclass(frozen=True)
class _Proto:
    emotion: str
    groups: tuple[tuple[int, ...], ...]  # one group per AU; bilateral AUs = (L, R)
    one_sided: bool  # contempt: the mirror side stays weak

    @property
    def units(self) -> frozenset[int]:
        return frozenset(i for g in self.groups for i in g)


def _prototypes() -> list[_Proto]:
    out = []
    for emo, alts in facs.PROTOTYPES.items():
        for alt in alts:
            sided = any(a.endswith(("_L", "_R")) for a in alt)
            out.append(_Proto(emo, tuple(_units(a) for a in alt), sided))
    return out


PROTOS = _prototypes()


def soft_label(active: frozenset[int], power: float = 4.0) -> np.ndarray:
    """Label distribution over EMOTIONS for a set of active AU units (see module docstring).

    Returns zeros if the set fits no prototype.
    """
    score = np.zeros(N_EMO)
    if not active:
        return score
    for p in PROTOS:
        u = p.units
        if active <= u:
            cov = len(active) / len(u)
            k = _EMO[p.emotion]
            score[k] = max(score[k], cov**power)
    s = score.sum()
    return score / s if s > 0 else score


# ----------------------------------------------------------------------------- data


@dataclass
class Recipe:
    """Knobs of the synthetic data; every field is recorded in the model metadata."""

    n_per_class: int = 5000
    noise: float = NOISE_FLOOR  # per-AU noise floor (sigma, 0..1 AU scale), added in quadrature
    intensity_range: tuple[float, float] = (0.015, 1.0)
    variant_probs: tuple[float, float, float] = (0.45, 0.25, 0.30)  # full, one region, random subset
    asym_min: float = 0.7  # weak/strong side ratio for bilateral AUs of symmetric emotions
    contempt_other_side_max: float = 0.5
    dimpled_smile_frac: float = 0.10
    extra_prob: float = 0.3
    leak_prob: float = 0.5  # probability that a sample has estimator cross-talk
    leak_max: float = 0.3  # cross-talk: each active AU leaks up to this share into one neighbour
    blink_prob: float = 0.10
    snr_neutral: tuple[float, float] = (1.0, 3.0)  # below first: neutral; above second: emotion
    label_power: float = 4.0
    noise_scale_range: tuple[float, float] = (0.5, 2.0)
    #: estimator-output rows: rectified-delta norm below the first value is labelled neutral, above the
    #: second the row's emotion, linear in between (noise-only rows of the tune faces: median 0.046, 90 % 0.083)
    au_neutral_norm: tuple[float, float] = (0.04, 0.08)
    #: measured per-AU sigma (AU_NAMES -> sigma), combined with ``noise`` in quadrature
    au_noise: dict[str, float] = field(default_factory=lambda: dict(MEASURED_AU_NOISE))

    def as_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        d["au_noise"] = dict(sorted(self.au_noise.items()))
        return d


def _noise_vec(recipe: Recipe) -> np.ndarray:
    """Nominal per-AU noise sigma (32,), AU_NAMES order: sqrt(measured^2 + floor^2)."""
    v = np.zeros(N_AU, dtype=np.float64)
    for name, sigma in recipe.au_noise.items():
        v[_IDX[name]] = sigma
    return np.sqrt(v * v + recipe.noise**2)


def derive_au_noise(channel_noise_json: str | Path) -> dict[str, float]:
    """Per-AU noise from measured per-channel noise, through ``detector.stages.features``' AU map.

    Reads ``recommended.noise_sigma`` and ``channels`` of a file written by
    ``benchmarks/channel_noise.py``.  The AU map is linear, so its Jacobian
    (probed with small steps of ``estimate_au_deltas``) gives
    ``sigma_AU = sqrt(sum_j (dAU/dchannel_j * sigma_j)^2)`` (channels taken as independent).
    """
    from detector.stages import features

    try:
        d = json.loads(Path(channel_noise_json).read_text(encoding="utf-8"))
        names, sig = d["channels"], np.asarray(d["recommended"]["noise_sigma"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"cannot read channel noise from {channel_noise_json}: {e}") from None
    if tuple(names) != tuple(features.CHANNELS) or sig.shape != (len(names),):
        raise ValueError(f"{channel_noise_json}: channels differ from detector.stages.features.CHANNELS; re-run it")
    step = 1e-3
    rows = np.asarray(features.estimate_au_deltas(np.diag(sig * step).astype(np.float32)), dtype=np.float64) / step
    au = np.sqrt(np.sum(rows**2, axis=0))
    return {name: round(float(v), 4) for name, v in zip(facs.AU_NAMES, au)}


def _emotion_sample(
    rng: np.random.Generator,
    proto: _Proto,
    recipe: Recipe,
    variant: str,
    a: float,
    noise_scale: float,
    dimpled: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One emotion sample: (x (32,), target (8,))."""
    clean = np.zeros(N_AU)
    groups = list(proto.groups)
    if dimpled:  # symmetric AU12+AU14 (+AU6 half the time): a controlled smile, not contempt
        groups = [_units("AU12"), _units("AU14")] + ([_units("AU06")] if rng.random() < 0.5 else [])
    elif variant == "upper" or variant == "lower":
        want_upper = variant == "upper"
        sel = [g for g in groups if (_base(facs.AU_NAMES[g[0]]) in UPPER_AUS) == want_upper]
        groups = sel or groups
    elif variant == "subset" and len(groups) > 1:
        keep = rng.random(len(groups)) < 0.6
        if not keep.any():
            keep[rng.integers(len(groups))] = True
        groups = [g for g, k in zip(groups, keep) if k]
    active: set[int] = set()
    for g in groups:
        v = min(1.0, a * rng.uniform(0.6, 1.4))
        if len(g) == 2:
            r = rng.uniform(recipe.asym_min, 1.0)
            weak = rng.integers(2)
            clean[g[weak]] = v * r
            clean[g[1 - weak]] = v
        else:
            clean[g[0]] = v
        active.update(g)
    if proto.one_sided and not dimpled:
        r = rng.uniform(0.0, recipe.contempt_other_side_max)
        for i in list(active):
            clean[_mirror(i)] = r * clean[i]
    if rng.random() < recipe.leak_prob:
        for i in sorted(active):
            nb = _NEIGHBOURS[i]
            clean[nb[rng.integers(len(nb))]] += clean[i] * rng.uniform(0.0, recipe.leak_max)
    sigma = _noise_vec(recipe) * noise_scale
    snr = float(np.sqrt(np.sum((clean / sigma) ** 2)))
    if dimpled:
        label = np.zeros(N_EMO)
        label[_EMO["happiness"]] = 1.0
    else:
        label = soft_label(frozenset(active), recipe.label_power)
    for extra in EXTRAS.get(proto.emotion, ()):
        if rng.random() < recipe.extra_prob:
            for i in _units(extra):
                clean[i] += a * rng.uniform(0.3, 1.0)
    if rng.random() < recipe.blink_prob:
        v = rng.uniform(0.1, 1.0)
        for i in _units("AU45"):
            clean[i] += v
    x = clean + rng.normal(0.0, 1.0, N_AU) * sigma
    lo, hi = recipe.snr_neutral
    w = float(np.clip((snr - lo) / (hi - lo), 0.0, 1.0))
    target = w * label
    target[_EMO["neutral"]] += 1.0 - w
    return x, target


def _neutral_sample(rng: np.random.Generator, recipe: Recipe) -> np.ndarray:
    u = rng.random()
    if u < 0.05:
        scale = np.exp(rng.uniform(np.log(1e-4), np.log(0.05)))  # near-zero vectors
    else:
        scale = np.exp(rng.uniform(np.log(0.1), np.log(recipe.noise_scale_range[1])))
    nominal = _noise_vec(recipe)
    x = rng.normal(0.0, 1.0, N_AU) * nominal * scale
    for _ in range(rng.poisson(1.0)):  # small random AU activity
        i = rng.integers(N_AU)
        x[i] += abs(rng.normal(0.0, 2.0 * nominal[i]))
    for au, p, vmax in NEUTRAL_ACTIONS:
        if rng.random() < p:
            v = rng.uniform(0.0, vmax)
            for i in _units(au):
                x[i] += v
    return x


def synthetic_dataset(seed: int, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """Training set: X (M, 32) float64 AU deltas, T (M, 8) soft targets; deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    lo, hi = np.log(recipe.intensity_range[0]), np.log(recipe.intensity_range[1])
    nlo, nhi = np.log(recipe.noise_scale_range[0]), np.log(recipe.noise_scale_range[1])
    variants = ("full", "region", "subset")
    neutral_t = np.zeros(N_EMO)
    neutral_t[_EMO["neutral"]] = 1.0
    for emo in facs.EMOTIONS:
        if emo == "neutral":
            for _ in range(recipe.n_per_class):
                xs.append(_neutral_sample(rng, recipe))
                ts.append(neutral_t)
            continue
        alts = [p for p in PROTOS if p.emotion == emo]
        for _ in range(recipe.n_per_class):
            proto = alts[rng.integers(len(alts))]
            variant = variants[rng.choice(3, p=recipe.variant_probs)]
            if variant == "region":
                variant = "upper" if rng.random() < 0.5 else "lower"
            a = float(np.exp(rng.uniform(lo, hi)))
            ns = float(np.exp(rng.uniform(nlo, nhi)))
            dimpled = emo == "happiness" and rng.random() < recipe.dimpled_smile_frac
            x, t = _emotion_sample(rng, proto, recipe, variant, a, ns, dimpled)
            if t.sum() == 0:  # cannot happen with subsets of a prototype; kept as a guard
                continue
            xs.append(x)
            ts.append(t)
    return np.asarray(xs), np.asarray(ts)


#: Estimator-output data committed with the repository (benchmarks/build_au_dataset.py, TUNE faces only):
#: the default of ``--au-dataset``, relative to the working directory (training runs in a source checkout;
#: the package itself reads nothing under benchmarks/).
DEFAULT_AU_DATASET = Path("benchmarks") / "data" / "au_tune.csv"
#: the pipeline's own events on the tune split of the synthetic suite (benchmarks/suite_au_dataset.py)
DEFAULT_SUITE_DATASET = Path("benchmarks") / "data" / "au_suite_tune.csv"
#: jittered copies of each estimator-output row (``--au-copies``)
AU_COPIES = 24
#: jittered copies of each suite-event row (``--suite-copies``)
SUITE_COPIES = 64


def augment_estimator_rows(
    X: np.ndarray, T: np.ndarray, seed: int, recipe: Recipe, copies: int,
    neutral_norm: tuple[float, float] | None = None, stream: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` jittered copies of each measured AU-delta row (deterministic in ``seed``).

    Each copy: mirrored left/right with p = 0.5 (a mirrored face is as real as
    the face), strength scaled by log-U(0.7, 1.4) (the rows sample a few peak
    displacements only), plus Gaussian noise at 0.5 x the nominal per-AU noise
    (the rows already hold one real frame's noise).  A copy whose rectified
    norm is noise-sized (``recipe.au_neutral_norm``) gets its label blended
    towards ``neutral``, as the synthetic samples do by SNR (``neutral_norm``
    overrides ``recipe.au_neutral_norm``; ``(0, 0)`` keeps every label: the
    pipeline's own events were already found by the segmenter).
    """
    rng = np.random.default_rng([seed, stream])
    mirror = np.array([_mirror(i) for i in range(N_AU)])
    sigma = _noise_vec(recipe)
    lo, hi = recipe.au_neutral_norm if neutral_norm is None else neutral_norm
    hi = max(hi, lo + 1e-9)
    neutral = np.zeros(N_EMO)
    neutral[_EMO["neutral"]] = 1.0
    xs, ts = [], []
    for _ in range(copies):
        flip = rng.random(len(X)) < 0.5
        x = np.where(flip[:, None], X[:, mirror], X)
        x = x * np.exp(rng.uniform(np.log(0.7), np.log(1.4), (len(X), 1)))
        x = x + rng.normal(0.0, 0.5, x.shape) * sigma
        # a copy that the jitter made as weak as noise is labelled towards neutral
        n = np.sqrt(np.sum(np.maximum(x[:, KEEP], 0.0) ** 2, axis=1, keepdims=True))
        w = np.clip((n - lo) / (hi - lo), 0.0, 1.0)
        t = np.where(T[:, :1] == 1.0, T, w * T + (1.0 - w) * neutral)
        xs.append(x)
        ts.append(t)
    return np.concatenate(xs), np.concatenate(ts)


BANDS: tuple[tuple[float, float], ...] = ((0.02, 0.05), (0.05, 0.1), (0.1, 0.3), (0.3, 1.0))


def heldout_sets(seed: int, recipe: Recipe, n: int = 300) -> dict[tuple[str, str, str], np.ndarray]:
    """Held-out synthetic prototypes (a separate random stream from training).

    Keys (emotion, variant, band) -> X (n, 32) at nominal noise (scale 1);
    variant is "full" or "region" (one region, the one with more AUs of the
    prototype: upper for surprise/fear/anger/sadness, lower otherwise); band a
    label of BANDS.  Neutral: ("neutral", "noise", "-").
    """
    rng = np.random.default_rng([seed, 1])
    out: dict[tuple[str, str, str], np.ndarray] = {}
    for emo in facs.EMOTIONS[1:]:
        alts = [p for p in PROTOS if p.emotion == emo]
        n_up = sum(_base(facs.AU_NAMES[g[0]]) in UPPER_AUS for g in alts[0].groups)
        region = "upper" if n_up * 2 > len(alts[0].groups) else "lower"
        for variant in ("full", region):
            for lo, hi in BANDS:
                X = np.empty((n, N_AU))
                for k in range(n):
                    proto = alts[k % len(alts)]
                    a = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
                    X[k], _ = _emotion_sample(rng, proto, recipe, variant, a, 1.0)
                out[(emo, "full" if variant == "full" else "region", f"{lo:g}-{hi:g}")] = X
    out[("neutral", "noise", "-")] = np.asarray(
        [rng.normal(0.0, 1.0, N_AU) * _noise_vec(recipe) for _ in range(n)]
    )
    return out


def read_dataset_csv(path: str | Path, skip_variants: frozenset[str] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """Read a labelled CSV (32 AU-name columns + ``emotion``) -> X (M, 32), one-hot T (M, 8).

    Rows whose optional ``variant`` column is in ``skip_variants`` are left out.

    Raises ValueError with a one-line message on a malformed file.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"dataset file not found: {p}")
    try:
        with open(p, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            missing = [c for c in (*facs.AU_NAMES, "emotion") if c not in cols]
            if missing:
                raise ValueError(f"{p}: missing column(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
            xs, ts = [], []
            for line, row in enumerate(reader, start=2):
                if skip_variants and row.get("variant") in skip_variants:
                    continue
                emo = (row["emotion"] or "").strip().lower()
                if emo not in _EMO:
                    raise ValueError(f"{p}:{line}: unknown emotion {row['emotion']!r} (expected one of {', '.join(facs.EMOTIONS)})")
                try:
                    x = [float(row[c]) for c in facs.AU_NAMES]
                except (TypeError, ValueError):
                    raise ValueError(f"{p}:{line}: AU values must be numbers") from None
                if not all(np.isfinite(x)):
                    raise ValueError(f"{p}:{line}: AU values must be finite")
                t = np.zeros(N_EMO)
                t[_EMO[emo]] = 1.0
                xs.append(x)
                ts.append(t)
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a UTF-8 CSV file") from None
    if not xs:
        raise ValueError(f"{p}: no data rows")
    return np.asarray(xs, dtype=np.float64), np.asarray(ts)


# ----------------------------------------------------------------------------- model


def features(x: np.ndarray) -> np.ndarray:
    """NumPy reference of the graph's feature block: (N, 32) -> (N, N_FEATURES)."""
    xk = np.maximum(x[:, KEEP], 0.0)
    n = np.sqrt(np.sum(xk * xk, axis=1, keepdims=True))
    d = np.maximum(n, EPS)
    u = xk / d
    asym = np.abs(side_difference(xk, PAIR_L, PAIR_R)) / d  # the one-sidedness measure of detector.stages.ekman.symmetry
    s = np.clip(np.log(n + EPS), LOGN_MIN, LOGN_MAX)
    xs = x[:, KEEP]
    dec = np.maximum(-xs, 0.0) / np.maximum(np.sqrt(np.sum(xs * xs, axis=1, keepdims=True)), EPS)
    return np.concatenate([u, asym, s, dec], axis=1)


@dataclass
class Weights:
    W1: np.ndarray  # (F, H), applied to raw features (standardisation folded in)
    b1: np.ndarray  # (H,)
    W2: np.ndarray  # (H, 8)
    b2: np.ndarray  # (8,)

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = np.tanh(features(x) @ self.W1 + self.b1) @ self.W2 + self.b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


@dataclass
class TrainConfig:
    hidden: int = 48
    epochs: int = 40
    batch: int = 512
    lr: float = 3e-3
    lr_final: float = 2e-4
    weight_decay: float = 1e-4
    members: int = 1  # networks trained from their own random streams, their logits averaged (1: one network)


def _width(cfg: TrainConfig) -> str:
    """The hidden layer as the model's metadata names it: ``48``, or ``5 x 48`` for averaged members."""
    return str(cfg.hidden) if cfg.members == 1 else f"{cfg.members} x {cfg.hidden}, logits averaged"


def train(X: np.ndarray, T: np.ndarray, seed: int, cfg: TrainConfig) -> Weights:
    """Fit ``cfg.members`` MLPs and average their logits: one network whose hidden layer holds them all.

    Averaging logits is exact in that form (``tanh`` units side by side, output weights / members),
    so the exported graph is the same 1-hidden-layer MLP, ``members * hidden`` units wide.
    """
    if cfg.members < 1:
        raise ValueError(f"members must be >= 1, got {cfg.members}")
    if cfg.members == 1:
        return _train_one(X, T, np.random.default_rng([seed, 2]), cfg)
    nets = [_train_one(X, T, np.random.default_rng([seed, 2, j]), cfg) for j in range(cfg.members)]
    k = float(cfg.members)
    return Weights(np.concatenate([w.W1 for w in nets], axis=1), np.concatenate([w.b1 for w in nets]),
                   np.concatenate([w.W2 for w in nets], axis=0) / k, sum(w.b2 for w in nets) / k)


def _train_one(X: np.ndarray, T: np.ndarray, rng: np.random.Generator, cfg: TrainConfig) -> Weights:
    """Fit one 1-hidden-layer MLP with minibatch Adam in float64 (soft-target cross-entropy)."""
    F = features(X)
    mu = F.mean(axis=0)
    sd = F.std(axis=0)
    sd[sd < 1e-6] = 1.0
    Z = (F - mu) / sd
    m, nf = Z.shape
    h = cfg.hidden
    lim1 = np.sqrt(6.0 / (nf + h))
    lim2 = np.sqrt(6.0 / (h + N_EMO))
    params = [
        rng.uniform(-lim1, lim1, (nf, h)),
        np.zeros(h),
        rng.uniform(-lim2, lim2, (h, N_EMO)),
        np.zeros(N_EMO),
    ]
    mom = [np.zeros_like(p) for p in params]
    vel = [np.zeros_like(p) for p in params]
    b1_, b2_, eps = 0.9, 0.999, 1e-8
    steps_per_epoch = (m + cfg.batch - 1) // cfg.batch
    total = cfg.epochs * steps_per_epoch
    step = 0
    for _ in range(cfg.epochs):
        order = rng.permutation(m)
        for s in range(steps_per_epoch):
            idx = order[s * cfg.batch : (s + 1) * cfg.batch]
            zb, tb = Z[idx], T[idx]
            W1, c1, W2, c2 = params
            a1 = np.tanh(zb @ W1 + c1)
            lo = a1 @ W2 + c2
            lo -= lo.max(axis=1, keepdims=True)
            p = np.exp(lo)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - tb) / len(idx)
            gW2 = a1.T @ g + cfg.weight_decay * W2
            gc2 = g.sum(axis=0)
            ga1 = (g @ W2.T) * (1.0 - a1 * a1)
            gW1 = zb.T @ ga1 + cfg.weight_decay * W1
            gc1 = ga1.sum(axis=0)
            grads = [gW1, gc1, gW2, gc2]
            step += 1
            lr = cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1.0 + np.cos(np.pi * (step - 1) / total))
            for k in range(4):
                mom[k] = b1_ * mom[k] + (1 - b1_) * grads[k]
                vel[k] = b2_ * vel[k] + (1 - b2_) * grads[k] ** 2
                mh = mom[k] / (1 - b1_**step)
                vh = vel[k] / (1 - b2_**step)
                params[k] = params[k] - lr * mh / (np.sqrt(vh) + eps)
    W1, c1, W2, c2 = params
    # fold standardisation: ((f - mu) / sd) @ W1 + c1 == f @ (W1 / sd) + (c1 - (mu / sd) @ W1)
    return Weights(W1 / sd[:, None], c1 - (mu / sd) @ W1, W2, c2)


# ----------------------------------------------------------------------------- export


def to_onnx_bytes(w: Weights, metadata: dict[str, str]) -> bytes:
    """Serialise the model (float32) with its metadata; deterministic bytes."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError("training needs the 'onnx' package: pip install 'microexpr[train]'") from None

    def const(name: str, arr: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(np.ascontiguousarray(arr), name)

    f32 = np.float32
    inits = [
        const("keep_idx", KEEP),
        const("pair_l", PAIR_L),
        const("pair_r", PAIR_R),
        const("axis1", np.array([1], dtype=np.int64)),
        const("eps", np.array(EPS, dtype=f32)),
        const("logn_min", np.array(LOGN_MIN, dtype=f32)),
        const("logn_max", np.array(LOGN_MAX, dtype=f32)),
        const("W1", w.W1.astype(f32)),
        const("b1", w.b1.astype(f32)),
        const("W2", w.W2.astype(f32)),
        const("b2", w.b2.astype(f32)),
    ]
    N = helper.make_node

    def l2_norm(x: str, tag: str) -> list:
        """Nodes of norm{tag} = ||x|| per row and denom{tag} = max(norm{tag}, eps)."""
        return [
            N("Mul", [x, x], [f"sq{tag}"]),
            N("ReduceSum", [f"sq{tag}", "axis1"], [f"ss{tag}"], keepdims=1),
            N("Sqrt", [f"ss{tag}"], [f"norm{tag}"]),
            N("Max", [f"norm{tag}", "eps"], [f"denom{tag}"]),
        ]

    nodes = [
        N("Gather", [INPUT_NAME, "keep_idx"], ["xs"], axis=1),
        N("Relu", ["xs"], ["xk"]),
        *l2_norm("xk", ""),
        N("Div", ["xk", "denom"], ["u"]),
        N("Gather", ["xk", "pair_l"], ["xl"], axis=1),
        N("Gather", ["xk", "pair_r"], ["xr"], axis=1),
        N("Sub", ["xl", "xr"], ["dlr"]),
        N("Abs", ["dlr"], ["adlr"]),
        N("Div", ["adlr", "denom"], ["asym"]),
        N("Add", ["norm", "eps"], ["norm_eps"]),
        N("Log", ["norm_eps"], ["logn"]),
        N("Clip", ["logn", "logn_min", "logn_max"], ["strength"]),
        N("Neg", ["xs"], ["xneg"]),
        N("Relu", ["xneg"], ["xdec"]),
        *l2_norm("xs", "_all"),
        N("Div", ["xdec", "denom_all"], ["dec"]),
        N("Concat", ["u", "asym", "strength", "dec"], ["feat"], axis=1),
        N("MatMul", ["feat", "W1"], ["h0"]),
        N("Add", ["h0", "b1"], ["h1"]),
        N("Tanh", ["h1"], ["h"]),
        N("MatMul", ["h", "W2"], ["z0"]),
        N("Add", ["z0", "b2"], ["logits"]),
        N("Softmax", ["logits"], [OUTPUT_NAME], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "microexpr_emotion",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", N_AU])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", N_EMO])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="microexpr.detector.training",
        producer_version=MODEL_VERSION,
        doc_string=(
            "microexpr emotion classifier: apex-minus-baseline FACS AU deltas (N, 32) -> "
            "probabilities (N, 8) over neutral + 7 emotions. Trained on synthetic FACS/EMFACS prototypes."
        ),
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, dict(sorted(metadata.items())))
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


# ----------------------------------------------------------------------------- evaluation


def evaluate(w: Weights, seed: int, recipe: Recipe, n: int = 300) -> dict:
    """Top-1 accuracy on held-out synthetic prototypes, per emotion x variant x band."""
    res: dict[str, dict[str, float]] = {}
    for (emo, variant, band), X in heldout_sets(seed, recipe, n).items():
        pred = w.predict(X).argmax(axis=1)
        acc = float(np.mean(pred == _EMO[emo]))
        res.setdefault(f"{emo}/{variant}", {})[band] = round(acc, 4)
    return res


def build(
    seed: int = 0,
    recipe: Recipe | None = None,
    cfg: TrainConfig | None = None,
    dataset: str | Path | None = None,
    replace: bool = False,
    heldout_n: int = 300,
    au_dataset: str | Path | None = None,
    au_copies: int = AU_COPIES,
    suite_dataset: str | Path | None = None,
    suite_copies: int = SUITE_COPIES,
) -> tuple[bytes, dict]:
    """Build the model; returns (onnx bytes, metadata dict).  Deterministic.

    ``au_dataset``: estimator-output CSV (``benchmarks/build_au_dataset.py``
    format) whose rows are added ``au_copies`` times, jittered
    (:func:`augment_estimator_rows`); ``dataset``: a user's CSV, added as is.
    """
    recipe = recipe or Recipe()
    cfg = cfg or TrainConfig()
    parts_x, parts_t = [], []
    if not replace:
        X, T = synthetic_dataset(seed, recipe)
        parts_x.append(X)
        parts_t.append(T)
    ds_info = None
    au_info = None
    if au_dataset is not None and not replace:
        Xa, Ta = read_dataset_csv(au_dataset, SKIPPED_VARIANTS)
        Xa, Ta = augment_estimator_rows(Xa, Ta, seed, recipe, au_copies)
        parts_x.append(Xa)
        parts_t.append(Ta)
        au_info = {"path": Path(au_dataset).name, "rows": int(len(Xa) // max(au_copies, 1)), "copies": au_copies,
                   "sha256": hashlib.sha256(Path(au_dataset).read_bytes()).hexdigest()}
    suite_info = None
    if suite_dataset is not None and not replace:
        Xs, Ts = read_dataset_csv(suite_dataset)
        Xs, Ts = augment_estimator_rows(Xs, Ts, seed, recipe, suite_copies, neutral_norm=(0.0, 0.0), stream=4)
        parts_x.append(Xs)
        parts_t.append(Ts)
        suite_info = {"path": Path(suite_dataset).name, "rows": int(len(Xs) // max(suite_copies, 1)),
                      "copies": suite_copies, "sha256": hashlib.sha256(Path(suite_dataset).read_bytes()).hexdigest()}
    if dataset is not None:
        Xd, Td = read_dataset_csv(dataset)
        parts_x.append(Xd)
        parts_t.append(Td)
        ds_info = {"path": Path(dataset).name, "rows": int(len(Xd)), "sha256": hashlib.sha256(Path(dataset).read_bytes()).hexdigest()}
    elif replace:
        raise ValueError("--replace needs --dataset")
    X = np.concatenate(parts_x)
    T = np.concatenate(parts_t)
    w = train(X, T, seed, cfg)
    pred = w.predict(X).argmax(axis=1)
    train_acc = float(np.mean(pred == T.argmax(axis=1)))
    info: dict = {
        "version": MODEL_VERSION,
        "seed": seed,
        "emotions": list(facs.EMOTIONS),
        "input": {"name": INPUT_NAME, "shape": ["N", N_AU], "au_names": list(facs.AU_NAMES),
                  "meaning": "apex-minus-baseline AU intensity deltas, 0..1 AU scale"},
        "output": {"name": OUTPUT_NAME, "shape": ["N", N_EMO]},
        "architecture": f"features({N_FEATURES}: direction, asymmetry, log strength, decreases) -> tanh({_width(cfg)}) -> softmax({N_EMO})",
        "recipe": recipe.as_dict(),
        "train": {"hidden": cfg.hidden, "epochs": cfg.epochs, "batch": cfg.batch, "lr": cfg.lr,
                  "lr_final": cfg.lr_final, "weight_decay": cfg.weight_decay, "samples": int(len(X)),
                  **({"members": cfg.members} if cfg.members != 1 else {})},
        "dataset": ds_info,
        "estimator_dataset": au_info,
        "suite_dataset": suite_info,
        "synthetic": not replace,
        "train_accuracy": round(train_acc, 4),
    }
    if not replace:
        info["heldout_accuracy"] = evaluate(w, seed, recipe, heldout_n)
    meta = {
        "emotions": json.dumps(list(facs.EMOTIONS)),
        "input_name": INPUT_NAME,
        "au_names": json.dumps(list(facs.AU_NAMES)),
        "seed": str(seed),
        "version": MODEL_VERSION,
        "train_accuracy": f"{train_acc:.4f}",
        "noise_sigma": json.dumps([round(float(v), 4) for v in _noise_vec(recipe)]),
        "training": json.dumps({k: info[k] for k in ("recipe", "train", "dataset", "estimator_dataset", "suite_dataset", "synthetic")}, sort_keys=True),
    }
    if "heldout_accuracy" in info:
        meta["heldout_accuracy"] = json.dumps(info["heldout_accuracy"], sort_keys=True)
    data = to_onnx_bytes(w, meta)
    info["sha256"] = hashlib.sha256(data).hexdigest()
    return data, info


def _read_noise_json(path: Path) -> dict[str, float]:
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read noise file {path}: {e}") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object {{AU name: sigma}}")
    out = {}
    for k, v in d.items():
        if k not in _IDX:
            raise ValueError(f"{path}: unknown AU name {k!r}")
        if not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"{path}: sigma of {k} must be a positive number")
        out[k] = float(v)
    return out


def _default_out() -> Path:
    return Path(__file__).resolve().parents[2] / "models" / "emotion.onnx"


def _print_report(info: dict, seconds: float, out: Path) -> None:
    print(f"wrote {out} (sha256 {info['sha256']}) in {seconds:.1f} s; "
          f"{info['train']['samples']} samples, training accuracy {info['train_accuracy']:.3f}")
    ho = info.get("heldout_accuracy")
    if ho:
        bands = [f"{lo:g}-{hi:g}" for lo, hi in BANDS]
        print("held-out top-1 accuracy by intensity band (nominal noise):")
        print(f"  {'emotion/variant':<20}" + "".join(f"{b:>10}" for b in bands))
        for key, row in ho.items():
            cells = [row.get(b, row.get("-")) for b in bands] if "-" not in row else [row["-"]]
            print(f"  {key:<20}" + "".join(f"{c:>10.3f}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.lab.training", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output ONNX file (default: models/emotion.onnx)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", type=Path, default=None, help="labelled CSV: 32 AU columns + emotion")
    ap.add_argument("--replace", action="store_true", help="train on --dataset only (no synthetic data)")
    ap.add_argument("--au-dataset", type=Path, default=None,
                    help="estimator-output CSV from benchmarks/build_au_dataset.py (default: "
                         "benchmarks/data/au_tune.csv under the working directory, when present)")
    ap.add_argument("--no-au-dataset", action="store_true", help="train without the estimator-output CSV")
    ap.add_argument("--suite-dataset", type=Path, default=None,
                    help="the pipeline's events on the tune suite, from benchmarks/suite_au_dataset.py (default: "
                         "benchmarks/data/au_suite_tune.csv under the working directory, when present)")
    ap.add_argument("--no-suite-dataset", action="store_true", help="train without the suite-event CSV")
    ap.add_argument("--suite-copies", type=int, default=SUITE_COPIES, help="jittered copies of each suite-event row")
    ap.add_argument("--au-copies", type=int, default=AU_COPIES, help="jittered copies of each estimator-output row")
    ap.add_argument("--noise", type=float, default=NOISE_FLOOR,
                    help="per-AU noise floor (sigma, 0..1 AU scale), added in quadrature to the measured noise")
    ap.add_argument("--noise-json", type=Path, default=None,
                    help="JSON object {AU name: sigma}: measured per-AU noise replacing the built-in table")
    ap.add_argument("--channel-noise", type=Path, default=None,
                    help="derive the per-AU noise from a benchmarks/channel_noise.py result (needs detector.stages.features)")
    ap.add_argument("--derive-noise", type=Path, default=None, metavar="CHANNEL_NOISE_JSON",
                    help="print the per-AU noise derived from this file as JSON and exit")
    ap.add_argument("--n-per-class", type=int, default=Recipe.n_per_class, help="synthetic samples per class")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--members", type=int, default=TrainConfig.members,
                    help="networks trained from their own random streams, logits averaged (1: one network)")
    ap.add_argument("--au-neutral-norm", type=float, nargs=2, default=Recipe.au_neutral_norm, metavar=("LO", "HI"),
                    help="estimator-output rows: delta norm below LO is labelled neutral, above HI the row's emotion")
    ap.add_argument("--snr-neutral", type=float, nargs=2, default=Recipe.snr_neutral, metavar=("LO", "HI"),
                    help="synthetic samples: SNR below LO is neutral, above HI the emotion")
    ap.add_argument("--no-json", action="store_true", help="do not write <out>.json beside the model")
    args = ap.parse_args(argv)
    if args.noise <= 0 or not np.isfinite(args.noise):
        print("error: --noise must be a positive number", file=sys.stderr)
        return 2
    if args.n_per_class < 1 or args.epochs < 1 or args.members < 1:
        print("error: --n-per-class, --epochs and --members must be >= 1", file=sys.stderr)
        return 2
    if args.derive_noise is not None:
        try:
            print(json.dumps(derive_au_noise(args.derive_noise)))
        except (ValueError, ImportError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    out = args.out or _default_out()
    t0 = time.perf_counter()
    try:
        au_noise = dict(MEASURED_AU_NOISE)
        if args.channel_noise:
            au_noise = derive_au_noise(args.channel_noise)
        if args.noise_json:
            au_noise = _read_noise_json(args.noise_json)
        au_dataset = None
        if not args.no_au_dataset:
            au_dataset = args.au_dataset or (DEFAULT_AU_DATASET if DEFAULT_AU_DATASET.is_file() else None)
            if au_dataset is None:
                print(f"note: {DEFAULT_AU_DATASET} not found; training on synthetic prototypes only", file=sys.stderr)
        suite_dataset = None
        if not args.no_suite_dataset:
            suite_dataset = args.suite_dataset or (DEFAULT_SUITE_DATASET if DEFAULT_SUITE_DATASET.is_file() else None)
        data, info = build(
            args.seed,
            Recipe(n_per_class=args.n_per_class, noise=args.noise, au_noise=au_noise,
                   au_neutral_norm=tuple(args.au_neutral_norm), snr_neutral=tuple(args.snr_neutral)),
            TrainConfig(epochs=args.epochs, members=args.members),
            dataset=args.dataset,
            replace=args.replace,
            au_dataset=au_dataset,
            au_copies=args.au_copies,
            suite_dataset=suite_dataset,
            suite_copies=args.suite_copies,
        )
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(out, data)
        if not args.no_json:
            meta = {"file": out.name, **info}
            replace_atomically(out.with_suffix(".json"), (json.dumps(meta, indent=1) + "\n").encode("utf-8"))
    except OSError as e:
        print(f"error: cannot write {out}: {e.strerror}", file=sys.stderr)
        return 2
    _print_report(info, seconds, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
