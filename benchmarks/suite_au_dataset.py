"""Emotion-classifier data from the pipeline's own events on the synthetic suite (issue 17).

``benchmarks/build_au_dataset.py`` measures the AU estimator on single warped
frames against a 4-frame neutral (MediaPipe IMAGE mode).  The pipeline's events
are different: the apex is smoothed over ``smooth_s``, the baseline is the
segmenter's running neutral, the apex frame is picked on the activation, and
weak micro-expressions move 0.3-0.7 % IOD.  This script runs the real
:class:`detector.run.pipeline.Analyzer` (segmenter included) over the cached
features of a suite split (``benchmarks/run_suite.py``'s cache; rendered and
extracted on first use), matches its events to the truth (MEGC IoU >= 0.5) and
writes one row per event in the ``python -m detector.lab.training --au-dataset``
format: the 32 ``facs.AU_NAMES`` columns of ``estimate_au_deltas(apex -
baseline)`` and ``emotion`` (the truth's emotion; an event that matches no
truth event is ``neutral``), plus ``clip``, ``fps``, ``kind``, ``band``,
``truth_aus`` that training ignores.

Only the tune splits (tune, tune2, tune3) may be used for training; the test split is for reports.
``--split`` takes several splits; ``SPLIT:SEEDS`` gives one split its own seeds (``tune2:0``, ``tune:0,1``),
a bare split uses ``--seeds``.

Usage (the shipped model's events; the second line: every tune split, tune with two seeds)::

    python benchmarks/suite_au_dataset.py --split tune --fps 200 30 --seeds 0 1 --band suite real_like \\
        --out benchmarks/data/au_suite_tune.csv
    python benchmarks/suite_au_dataset.py --split tune:0,1 tune2:0 tune3:0 --band suite real_like --out ev.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run_suite as RS  # noqa: E402
from benchmarks.synth import SPLITS  # noqa: E402
from detector.core import facs  # noqa: E402
from detector.run.config import load_config  # noqa: E402
from detector.stages.features import CHANNELS  # noqa: E402


def event_rows(split: str, fps: float, seed: int, work: Path, jobs: int, band: str = "suite") -> list[dict]:
    import detector.run.pipeline as P
    from detector.lab.evaluate import as_annotation, match_events

    config = load_config(None)
    items = RS.suite_features(split, fps, seed, None, work, jobs=jobs, band=band)
    deltas: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    orig_est, orig_event = P.estimate_au_deltas, P.Event
    last: list[tuple[np.ndarray, np.ndarray]] = []

    def est(d):
        out = orig_est(d)
        last.append((out, np.asarray(d, dtype=np.float32).copy()))
        return out

    def make_event(**kw):
        e = orig_event(**kw)
        deltas[id(e)] = last[-1]
        return e

    rows: list[dict] = []
    P.estimate_au_deltas, P.Event = est, make_event
    try:
        for name, truth, _meta, track in items:
            ev = RS.spot(track, config)
            T = [t for t in truth if t["kind"] != "blink"]
            pairs = match_events([as_annotation(t) for t in T], [as_annotation(RS._event_row(e, name, fps)) for e in ev])
            by_pred = {j: i for i, j, _ in pairs}
            for j, e in enumerate(ev):
                t = T[by_pred[j]] if j in by_pred else None
                au, ch = deltas[id(e)]
                row = {n: f"{v:.5f}" for n, v in zip(facs.AU_NAMES, au)}
                row.update({f"ch_{n}": f"{v:.6f}" for n, v in zip(CHANNELS, ch)})
                row.update(pred=e.emotion, speech=int(bool(e.speech)))
                row.update(emotion=t["emotion"] if t else "neutral", clip=name, fps=f"{fps:g}", seed=seed, set=band,
                           kind=e.kind, band=(t or {}).get("band", "-"),
                           truth_aus="+".join(sorted((t or {}).get("action_units", {}) or [])))
                rows.append(row)
    finally:
        P.estimate_au_deltas, P.Event = orig_est, orig_event
    return rows


def split_seeds(items: list[str], seeds: list[int]) -> list[tuple[str, list[int]]]:
    """``SPLIT`` or ``SPLIT:S1,S2`` items -> (split, seeds); a bare split gets ``seeds``."""
    out: list[tuple[str, list[int]]] = []
    for item in items:
        name, sep, own = item.partition(":")
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r} (choose from {', '.join(SPLITS)})")
        try:
            out.append((name, [int(x) for x in own.split(",")] if sep else list(seeds)))
        except ValueError:
            raise ValueError(f"bad seeds in {item!r}: expected SPLIT:0,1") from None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", nargs="+", default=["tune"], metavar="SPLIT[:SEEDS]",
                    help=f"splits ({', '.join(SPLITS)}), each optionally with its own seeds, e.g. tune:0,1 tune2:0")
    ap.add_argument("--fps", type=float, nargs="+", default=[200.0, 30.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--work", type=Path, default=RS.DEFAULT_WORK)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--band", nargs="+", choices=("suite", "real_like"), default=["suite"],
                    help="synthetic sets (see run_suite.py --band)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--channels", action="store_true",
                    help="also write each event's channel deltas (apex - baseline; columns ch_<channel>), so that a "
                         "change of features.AU_TABLE can be re-scored without re-running the segmenter "
                         "(benchmarks/emotion_cv.py, benchmarks/au_table.py --events)")
    a = ap.parse_args(argv)
    try:
        runs = split_seeds(a.split, a.seeds)
    except ValueError as e:
        ap.error(str(e))
    rows: list[dict] = []
    for band in a.band:
        for split, seeds in runs:
            for seed in seeds:
                for fps in a.fps:
                    r = event_rows(split, fps, seed, a.work, a.jobs, band)
                    print(f"{band} {split} seed {seed} {fps:g} fps: {len(r)} events "
                          f"({sum(x['emotion'] != 'neutral' for x in r)} matched)", file=sys.stderr)
                    rows += r
    cols = list(facs.AU_NAMES) + ["emotion", "set", "clip", "fps", "seed", "kind", "band", "truth_aus"]
    extra = [f"ch_{n}" for n in CHANNELS] + ["pred", "speech"]
    if a.channels:
        cols += extra
    else:
        for r in rows:
            for n in extra:
                del r[n]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
