"""Emotion-classifier data from real faces: what the AU estimator reads on warped prototypes.

The classifier is fed ``estimate_au_deltas(apex_channels - baseline_channels)``
(``detector.run.pipeline``).  On real faces that vector is not the clean EMFACS
prototype: the landmarker and the linear AU map leak one action into others.
This script measures that leak: for each built-in face of one or more splits
(``benchmarks.synth.SPLITS``; tune faces train, test faces only evaluate), it
renders each emotion's prototype and its partial / one-region / one-sided
variants at several peak landmark displacements (0.5-6 % IOD) with
``benchmarks.synth`` (one event per short clip, sensor noise 1 grey level),
plus neutral events (noise only, blinks, lips part, chin raiser, lip
pressor), runs MediaPipe FaceLandmarker (IMAGE mode) on the apex frame and on
4 noisy neutral frames (their mean is the baseline), and writes one CSV row
per event in the ``python -m detector.lab.training --dataset`` format: the 32
``facs.AU_NAMES`` columns and ``emotion``, plus ``face``, ``split``,
``variant``, ``aus``, ``peak_pct`` (requested peak displacement, % IOD),
``band`` (``synth.band_of``) that training ignores.

``--low-res [PX]`` renders the same events as small grey photos, the condition of the issue's
real posed pairs (48 px faces, upscaled): every frame is shrunk until the inter-ocular distance
is PX pixels (default 18, a 48 px face), turned grey, and scaled back up (bicubic) before
MediaPipe sees it.

Channel deltas are cached (``--cache``, .npz per face and seed) so that a
change to ``detector.stages.features.AU_TABLE`` only re-runs the cheap linear map.
Deterministic for a given seed (each event's relative AU weights, sides and
noise come from ``numpy.random.default_rng([seed, face, case])``).

Usage::

    python benchmarks/build_au_dataset.py --split tune --out benchmarks/data/au_tune.csv
    python benchmarks/build_au_dataset.py --split test --out benchmarks/data/au_test.csv
    python benchmarks/build_au_dataset.py --evaluate models/emotion.onnx benchmarks/data/au_test.csv
    python benchmarks/build_au_dataset.py --split test --low-res --out benchmarks/data/au_test_lowres.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
import zlib
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import synth as S  # noqa: E402
from detector.lab.facewarp import _Geom  # noqa: E402
from detector.core import facs  # noqa: E402

#: Requested peak landmark displacements, percent of IOD (micro 0.5-2, macro 3-6).
PEAKS: tuple[float, ...] = (0.5, 0.8, 1.2, 1.6, 2.0, 3.0, 4.5, 6.0)
#: Reported intensity bands of the requested peak (% IOD): (name, upper bound).
EVAL_BANDS: tuple[tuple[str, float], ...] = (("0.5-1", 1.0), ("1-2", 2.01), ("3-6", 99.0))
N_NEUTRAL_FRAMES = 4
NOISE_SIGMA = 1.0  # grey levels, as synth.smoke_clip
FPS = 100.0
#: ``--low-res``: inter-ocular distance of the shrunk photo, pixels (a face about 48 px wide).
LOW_RES_IOD_PX = 18.0
VERSION = "1"  # bump when the cases or rendering change (invalidates the cache)


def cases() -> list[tuple[str, str, tuple[str, ...]]]:
    """(emotion, variant, AUs) of every rendered event; neutral actions last."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for emo, alts in facs.PROTOTYPES.items():
        for k, alt in enumerate(alts):
            out.append((emo, f"prototype{k}" if len(alts) > 1 else "prototype", tuple(alt)))
    for emo, parts in S.PARTIALS.items():
        for region, aus in parts.items():
            out.append((emo, f"partial_{region}", tuple(aus)))
    # one-sided variants of the bilateral lower-face actions that define an emotion
    out.append(("happiness", "one_sided_L", ("AU06_L", "AU12_L", "AU06_R", "AU12_R:0.5")))
    out.append(("disgust", "partial_nose", ("AU09",)))
    out.append(("disgust", "partial_lip", ("AU10", "AU25")))
    out.append(("fear", "no_jaw", ("AU01", "AU02", "AU04", "AU05", "AU20")))
    out.append(("surprise", "no_lids", ("AU01", "AU02", "AU26")))
    out.append(("sadness", "no_brow_lowerer", ("AU01", "AU15")))
    out.append(("anger", "brows_lids", ("AU04", "AU07")))
    for aus in (("AU25",), ("AU17",), ("AU24",), ("AU25", "AU26:0.3")):
        out.append(("neutral", "action_" + "+".join(a.split(":")[0] for a in aus), aus))
    return out


def _rel(rng: np.random.Generator, aus: Sequence[str]) -> dict[str, float]:
    """Sided AU -> relative share (max 1), as synth.expression_event draws them; ``AU:0.5`` fixes a share."""
    rel: dict[str, float] = {}
    for a in aus:
        name, _, share = a.partition(":")
        for s in S.expand_aus([name]):
            rel[s] = float(share) if share else float(rng.uniform(0.6, 1.0))
    top = max(rel.values())
    return {a: r / top for a, r in rel.items()}


def _one_event_frames(face: S.Face, aus: dict[str, float], seed: int) -> tuple[np.ndarray, int]:
    spec = S.EventSpec(0.05, 0.03, 0.03, 0.0, aus, "micro", "x", "x")
    clip = S.make_clip(face, [spec], fps=FPS, duration=0.2, noise_sigma=NOISE_SIGMA, seed=seed)
    k = int(clip.truth[0]["apex_frame"])
    return clip.frame(k), k


def low_resolution(img: np.ndarray, scale: float) -> np.ndarray:
    """``img`` (H, W, 3) uint8 shrunk by ``scale`` (area average), made grey, and scaled back up (bicubic)."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return cv2.resize(grey, (w, h), interpolation=cv2.INTER_CUBIC)


def measure_face(face_name: str, seed: int, cache: Path | None, low_res_iod: float | None = None) -> dict[str, np.ndarray]:
    """Channel deltas (apex - neutral mean) of every case x peak on one face (cached); ``low_res_iod``:
    MediaPipe sees each frame through :func:`low_resolution`, shrunk to that inter-ocular distance (px)."""
    key = f"{face_name}_s{seed}_v{VERSION}" + (f"_lowres{low_res_iod:g}" if low_res_iod else "")
    if cache is not None:
        f = cache / f"{key}.npz"
        if f.is_file():
            d = np.load(f, allow_pickle=False)
            return {k: d[k] for k in d.files}
    from detector.stages.features import FeatureExtractor
    from detector.stages.landmarks import Landmarker, LandmarkerOptions

    face = S.load_face(face_name)
    g = _Geom(face)
    scale = low_res_iod / face.iod if low_res_iod else None
    fx = FeatureExtractor()
    fid = zlib.crc32(face_name.encode())
    emo, var, aus_s, peak, got, delta = [], [], [], [], [], []
    with Landmarker(LandmarkerOptions(mode="image", max_faces=1)) as lm:

        def channels(img: np.ndarray) -> np.ndarray | None:
            fs = lm.detect(img if scale is None else low_resolution(img, scale), 0.0)
            return fx(fs[0]).channels.astype(np.float64) if fs else None

        still = S.make_clip(face, [], fps=FPS, duration=0.2, noise_sigma=NOISE_SIGMA, seed=seed)
        base = [channels(still.frame(k)) for k in range(N_NEUTRAL_FRAMES)]
        if any(b is None for b in base):
            raise ValueError(f"no face found on the neutral frames of {face_name}")
        neutral = np.mean(base, axis=0)
        # neutral events: noise only (another noisy frame) and blinks
        for j in range(12):
            ch = channels(still.frame(N_NEUTRAL_FRAMES + j))
            if ch is not None:
                emo.append("neutral"), var.append("noise"), aus_s.append(""), peak.append(0.0), got.append(0.0)
                delta.append(ch - neutral)
        for j, closure in enumerate((0.3, 0.6, 1.0)):
            img, _ = _one_event_frames(face, {"AU45": closure}, seed * 1000 + 900 + j)
            ch = channels(img)
            if ch is not None:
                emo.append("neutral"), var.append("blink"), aus_s.append("AU45"), peak.append(0.0), got.append(0.0)
                delta.append(ch - neutral)
        for ci, (e, v, aus) in enumerate(cases()):
            for pi, p in enumerate(PEAKS):
                rng = np.random.default_rng([seed, fid, ci, pi])
                inten = S.calibrate(g, _rel(rng, aus), p)
                f = S.au_field(g, inten)
                reached = S.peak_displacement(face, f)
                img, _ = _one_event_frames(face, inten, seed * 1000 + ci * 10 + pi)
                ch = channels(img)
                if ch is None:
                    continue
                emo.append(e), var.append(v), aus_s.append("+".join(aus)), peak.append(p), got.append(reached)
                delta.append(ch - neutral)
    out = {
        "emotion": np.array(emo),
        "variant": np.array(var),
        "aus": np.array(aus_s),
        "peak_pct": np.array(peak),
        "peak_reached": np.array(got),
        "delta": np.array(delta, dtype=np.float64),
    }
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache / f"{key}.npz", **out)
    return out


def band(peak_pct: float) -> str:
    for name, hi in EVAL_BANDS:
        if peak_pct < hi:
            return name
    return EVAL_BANDS[-1][0]


def build(splits: Sequence[str], out: Path, seed: int, cache: Path | None, faces: Sequence[str] | None = None,
          low_res_iod: float | None = None) -> int:
    """Write the rows of ``faces`` (default: every face of ``splits``) to ``out``; returns the row count."""
    from detector.stages.features import estimate_au_deltas

    names = list(faces) if faces else [f for sp in splits for f in S.SPLITS[sp]]
    rows = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*facs.AU_NAMES, "emotion", "face", "split", "variant", "aus", "peak_pct", "peak_reached", "band"])
        for name in names:
            d = measure_face(name, seed, cache, low_res_iod)
            au = estimate_au_deltas(d["delta"])
            for i in range(len(au)):
                p = float(d["peak_pct"][i])
                w.writerow(
                    [f"{v:.5f}" for v in au[i]]
                    + [d["emotion"][i], name, S.BUILTIN_FACES[name][1], d["variant"][i], d["aus"][i],
                       f"{p:g}", f"{float(d['peak_reached'][i]):.3f}", band(p) if p > 0 else "-"]
                )
                rows += 1
    return rows


def read_rows(path: Path) -> tuple[np.ndarray, list[dict]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    X = np.array([[float(r[a]) for a in facs.AU_NAMES] for r in rows], dtype=np.float32)
    return X, rows


def evaluate(model: Path | None, path: Path) -> str:
    """Accuracy per emotion and band, and the confusion matrix, as a text table."""
    from detector.stages.classifier import EmotionClassifier

    X, rows = read_rows(path)
    p = EmotionClassifier(model).predict(X).argmax(1)
    y = np.array([facs.EMOTIONS.index(r["emotion"]) for r in rows])
    bands = np.array([r["band"] for r in rows])
    lines = [f"model {model or 'bundled'}  data {path}  (n={len(y)})"]
    hdr = f"{'emotion':<10}" + "".join(f"{b:>8}" for b, _ in EVAL_BANDS) + f"{'all':>8}{'n':>5}"
    lines.append(hdr)
    for k, e in enumerate(facs.EMOTIONS):
        m = y == k
        if not m.any():
            continue
        cells = []
        for b, _ in EVAL_BANDS:
            mb = m & (bands == b)
            cells.append(f"{np.mean(p[mb] == k):8.2f}" if mb.any() else f"{'-':>8}")
        lines.append(f"{e:<10}" + "".join(cells) + f"{np.mean(p[m] == k):8.2f}{int(m.sum()):5d}")
    em = y != 0
    cells = [f"{np.mean(p[em & (bands == b)] == y[em & (bands == b)]):8.2f}" for b, _ in EVAL_BANDS]
    lines.append(f"{'7 emotions':<10}" + "".join(cells) + f"{np.mean(p[em] == y[em]):8.2f}{int(em.sum()):5d}")
    lines.append("confusion (rows truth, cols predicted): " + " ".join(e[:4] for e in facs.EMOTIONS))
    for k, e in enumerate(facs.EMOTIONS):
        if (y == k).any():
            c = np.bincount(p[y == k], minlength=len(facs.EMOTIONS))
            lines.append(f"  {e:<10}" + "".join(f"{v:5d}" for v in c))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=tuple(S.SPLITS), nargs="+", default=["tune"],
                    help="face splits (default: tune, the faces the shipped model learns from)")
    ap.add_argument("--face", action="append", help="built-in face (repeatable; default: every face of --split)")
    ap.add_argument("--out", type=Path, help="CSV to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "microexpr" / "au_dataset", help="channel-delta cache folder")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--low-res", type=float, nargs="?", const=LOW_RES_IOD_PX, default=None, metavar="PX",
                    help=f"small grey photos: MediaPipe sees each frame shrunk to an inter-ocular distance of PX "
                         f"pixels (default {LOW_RES_IOD_PX:g}: a 48 px face), grey, and scaled back up")
    ap.add_argument("--evaluate", nargs=2, metavar=("MODEL", "CSV"), help="score MODEL ('-' = bundled) on CSV")
    a = ap.parse_args(argv)
    if a.evaluate:
        m, path = a.evaluate
        print(evaluate(None if m == "-" else Path(m), Path(path)))
        return 0
    if a.out is None:
        ap.error("--out is required unless --evaluate")
    if a.low_res is not None and not 4.0 <= a.low_res <= S.DEFAULT_IOD_PX:
        ap.error(f"--low-res: the inter-ocular distance must be 4-{S.DEFAULT_IOD_PX:g} pixels (the faces' own)")
    n = build(a.split, a.out, a.seed, None if a.no_cache else a.cache, a.face, a.low_res)
    print(f"wrote {n} rows to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
