"""Emotion labels of the pipeline's own events, re-scored offline; leave-one-face-out on the tune faces.

The segmenter does not depend on ``detector.stages.features.AU_TABLE`` or on the
emotion model, so the channel deltas (apex - baseline) of the pipeline's events
can be stored once (``benchmarks/suite_au_dataset.py --channels``) and re-scored
in seconds under any AU map and any model:

* ``--model M``: score M (default: the bundled model) on the events of the CSVs;
* ``--lofo``: leave one tune face out.  For each face F of the scored events (tune, tune2, tune3
  splits), a model is trained
  with the recipe of ``python -m detector.lab.training`` (synthetic prototypes,
  ``au_tune.csv`` rows rebuilt under the current AU map from
  ``build_au_dataset.py``'s channel cache, suite-event rows), without any row of
  face F, and scored on F's events.  Since the test faces are new faces, this
  is the tune split's estimate of how the labels carry over to a face the model
  never saw; scoring the suite rows the model was trained on (``--model``) is
  not.

Only tune CSVs are meant for ``--lofo``; the test split is for reports.

Usage::

    python benchmarks/suite_au_dataset.py --split tune --seeds 0 1 --fps 200 30 --band suite real_like \\
        --channels --out /tmp/ev_tune.csv
    python benchmarks/suite_au_dataset.py --split tune2 tune3 --fps 200 30 --band suite real_like \\
        --channels --out /tmp/ev_tune23.csv
    python benchmarks/emotion_cv.py --set real_like /tmp/ev_tune23.csv      # the bundled model
    # the shipped recipe (tune faces' warps and events), each of the six tune faces left out in turn
    python benchmarks/emotion_cv.py --lofo --set real_like --train-suite /tmp/ev_tune.csv /tmp/ev_tune.csv /tmp/ev_tune23.csv
    # the same recipe on all six faces (warps of tune tune2 tune3, their events as training rows)
    python benchmarks/emotion_cv.py --lofo --set real_like --au-splits tune tune2 tune3 --suite-copies 32 \
        --train-suite /tmp/ev_tune.csv --train-suite /tmp/ev_tune23.csv /tmp/ev_tune.csv /tmp/ev_tune23.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import build_au_dataset as B  # noqa: E402
from benchmarks import synth as S  # noqa: E402
from detector.core import facs  # noqa: E402
from detector.lab import training as TR  # noqa: E402
from detector.stages import features as F  # noqa: E402
from detector.stages.classifier import upper_face_delta, speaking_label  # noqa: E402

EMO = facs.EMOTIONS
#: the splits whose faces a model may learn from (every split but test)
TUNE_SPLITS = [s for s in S.SPLITS if s != "test"]


def read_events(paths: list[Path]) -> list[dict]:
    rows: list[dict] = []
    for p in paths:
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                if f"ch_{F.CHANNELS[0]}" not in r:
                    raise SystemExit(f"{p}: no channel columns (make it with suite_au_dataset.py --channels)")
                r["_ch"] = np.array([float(r[f"ch_{n}"]) for n in F.CHANNELS], dtype=np.float32)
                r["_face"] = S.face_of_clip(r["clip"])
                r["_src"] = p.name
                rows.append(r)
    return rows


def au_rows(rows: list[dict]) -> np.ndarray:
    """AU deltas of the events under the current AU map."""
    return F.estimate_au_deltas(np.stack([r["_ch"] for r in rows]))


def labels(rows: list[dict], predict) -> np.ndarray:
    """Predicted emotion index per event, as the pipeline labels it (speech mode: upper face)."""
    X = au_rows(rows)
    P = predict(X)
    Pu = predict(upper_face_delta(X))
    out = np.empty(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        if int(r.get("speech", 0) or 0):
            out[i] = speaking_label(Pu[i], 0.5, 0.3)[0]
        else:
            out[i] = int(np.argmax(P[i]))
    return out


def score(rows: list[dict], pred: np.ndarray) -> dict:
    """Accuracy on matched events (truth emotion not neutral), recall per emotion, confusion."""
    truth = np.array([EMO.index(r["emotion"]) for r in rows])
    m = truth != 0
    conf = np.zeros((len(EMO), len(EMO)), dtype=np.int64)
    for t, p in zip(truth[m], pred[m]):
        conf[t, p] += 1
    rec = {e: (int(conf[k, k]), int(conf[k].sum())) for k, e in enumerate(EMO) if k and conf[k].sum()}
    return {"acc": float(np.mean(pred[m] == truth[m])) if m.any() else float("nan"), "n": int(m.sum()),
            "recall": rec, "conf": conf}


def report(title: str, res: dict) -> str:
    lines = [f"{title}: accuracy on matched {res['acc']:.3f} ({int(round(res['acc'] * res['n']))}/{res['n']})",
             "  recall: " + ", ".join(f"{e} {a}/{b}" for e, (a, b) in res["recall"].items()),
             "  confusion (rows truth):      " + " ".join(f"{e[:4]:>5}" for e in EMO)]
    for k, e in enumerate(EMO):
        if k and res["conf"][k].sum():
            lines.append(f"  {e:>26}: " + " ".join(f"{v:5d}" for v in res["conf"][k]))
    return "\n".join(lines)


def print_errors(rows: list[dict], pred: np.ndarray) -> None:
    """One line per wrongly labelled matched event: clip, fps, truth AUs, label, AU deltas >= 0.03."""
    X = au_rows(rows)
    for i, r in enumerate(rows):
        if r["emotion"] == "neutral" or EMO[pred[i]] == r["emotion"]:
            continue
        big: dict[str, float] = {}
        for n, v in zip(facs.AU_NAMES, X[i]):
            b = n.split("_")[0]
            big[b] = max(big.get(b, -1.0), float(v))
        aus = sorted({t.split("_")[0] for t in r["truth_aus"].split("+") if t})
        print(f"  {r['clip']} {r['fps']} {r['kind']}/{r['band']} {r['emotion']} ({'+'.join(a[2:] for a in aus)}) -> "
              f"{EMO[pred[i]]}: " + " ".join(f"{k[2:]} {v:+.2f}" for k, v in big.items() if abs(v) >= 0.03))


def onnx_predict(model: Path | None):
    from detector.stages.classifier import EmotionClassifier

    clf = EmotionClassifier(model)
    return clf.predict


def _suite_xy(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    X = au_rows(rows).astype(np.float64)
    T = np.zeros((len(rows), len(EMO)))
    T[np.arange(len(rows)), [EMO.index(r["emotion"]) for r in rows]] = 1.0
    return X, T


def train_weights(suite_rows: list[dict], au_csv: Path | None, skip_face: str | None, seed: int,
                  suite_copies: int, au_copies: int, synth_cache: dict, members: int = 1) -> TR.Weights:
    """The recipe of detector.lab.training.build, without the rows of ``skip_face``."""
    recipe = TR.Recipe()
    cfg = TR.TrainConfig(members=members)
    if "xy" not in synth_cache:
        synth_cache["xy"] = TR.synthetic_dataset(seed, recipe)
    parts_x, parts_t = [synth_cache["xy"][0]], [synth_cache["xy"][1]]
    if au_csv is not None:
        with open(au_csv, newline="") as f:
            keep = [r for r in csv.DictReader(f) if r.get("face") != skip_face and r.get("variant") not in TR.SKIPPED_VARIANTS]
        Xa = np.array([[float(r[n]) for n in facs.AU_NAMES] for r in keep])
        Ta = np.zeros((len(keep), len(EMO)))
        Ta[np.arange(len(keep)), [EMO.index(r["emotion"]) for r in keep]] = 1.0
        Xa, Ta = TR.augment_estimator_rows(Xa, Ta, seed, recipe, au_copies)
        parts_x.append(Xa)
        parts_t.append(Ta)
    srows = [r for r in suite_rows if r["_face"] != skip_face]
    if srows:
        Xs, Ts = _suite_xy(srows)
        Xs, Ts = TR.augment_estimator_rows(Xs, Ts, seed, recipe, suite_copies, neutral_norm=(0.0, 0.0), stream=4)
        parts_x.append(Xs)
        parts_t.append(Ts)
    return TR.train(np.concatenate(parts_x), np.concatenate(parts_t), seed, cfg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("events", type=Path, nargs="+", help="event CSVs of suite_au_dataset.py --channels")
    ap.add_argument("--model", type=Path, default=None, help="ONNX model to score (default: the bundled one)")
    ap.add_argument("--lofo", action="store_true", help="leave one tune face out: one model per face of the scored events")
    ap.add_argument("--au-splits", nargs="+", default=["tune"], choices=TUNE_SPLITS,
                    help="--lofo: the faces whose IMAGE-mode warps (build_au_dataset.py) are training rows (default: tune, "
                         "as the shipped recipe)")
    ap.add_argument("--train-suite", type=Path, action="append", default=[],
                    help="--lofo: an event CSV whose rows are training's suite rows; repeatable (tune seed 0 in the shipped recipe)")
    ap.add_argument("--au-cache", type=Path, default=Path.home() / ".cache" / "microexpr" / "au_dataset",
                    help="build_au_dataset.py's channel-delta cache (tune faces)")
    ap.add_argument("--no-au-dataset", action="store_true")
    ap.add_argument("--suite-copies", type=int, default=TR.SUITE_COPIES)
    ap.add_argument("--au-copies", type=int, default=TR.AU_COPIES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=TR.TrainConfig.members,
                    help="--lofo: networks averaged per model (python -m detector.lab.training --members)")
    ap.add_argument("--errors", action="store_true", help="list the wrongly labelled matched events")
    ap.add_argument("--set", choices=("suite", "real_like"), default=None,
                    help="score only the events of this synthetic set (column `set`; default: all)")
    a = ap.parse_args(argv)
    rows = read_events(a.events)
    if a.set:
        rows = [r for r in rows if r["set"] == a.set]
    if not a.lofo:
        pred = labels(rows, onnx_predict(a.model))
        print(report(f"{', '.join(p.name for p in a.events)} ({a.model or 'bundled model'})", score(rows, pred)))
        if a.errors:
            print_errors(rows, pred)
        for src in sorted({r['_src'] for r in rows}):
            for fps in sorted({r['fps'] for r in rows if r['_src'] == src}):
                idx = [i for i, r in enumerate(rows) if r['_src'] == src and r['fps'] == fps]
                res = score([rows[i] for i in idx], pred[idx])
                print(f"  {src} {fps} fps: {res['acc']:.3f} ({int(round(res['acc'] * res['n']))}/{res['n']})")
        return 0
    train_rows = read_events(a.train_suite) if a.train_suite else []
    au_csv = None
    if not a.no_au_dataset:
        au_csv = Path("/tmp") / f"emotion_cv_au_tune_{os.getpid()}.csv"
        B.build(a.au_splits, au_csv, 0, a.au_cache)
    faces = sorted({r["_face"] for r in rows})
    if set(faces) & set(S.SPLITS["test"]):
        raise SystemExit("--lofo is for tune faces only: the test split is for reports")
    cache: dict = {}
    pred = np.zeros(len(rows), dtype=np.int64)
    for face in faces:
        w = train_weights(train_rows, au_csv, face, a.seed, a.suite_copies, a.au_copies, cache, a.members)
        idx = [i for i, r in enumerate(rows) if r["_face"] == face]
        pred[idx] = labels([rows[i] for i in idx], w.predict)
        res = score([rows[i] for i in idx], pred[idx])
        print(f"  face {face} left out: {res['acc']:.3f} ({int(round(res['acc'] * res['n']))}/{res['n']})", flush=True)
    if au_csv is not None:
        au_csv.unlink(missing_ok=True)
    print(report(f"leave-one-face-out ({', '.join(faces)})", score(rows, pred)))
    if a.errors:
        print_errors(rows, pred)
    for src in sorted({r['_src'] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r['_src'] == src]
        res = score([rows[i] for i in idx], pred[idx])
        print(f"  {src}: {res['acc']:.3f} ({int(round(res['acc'] * res['n']))}/{res['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
