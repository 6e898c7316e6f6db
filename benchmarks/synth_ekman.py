"""Synthetic clips with known truth for Ekman's labels (issue 14), and their scores.

Four kinds of clip, from the faces of one split of ``benchmarks/synth.py``
(``tune`` to set the thresholds of ``[ekman]``, ``test`` to report):

* ``mask``: masked sequences -- a micro-expression of emotion A (anger,
  disgust, fear, sadness or surprise; 150-400 ms, 1.0-2.0 % IOD) followed
  0.15-0.5 s after its offset by a smile (macro, 1.2-2.5 s, 2-5 % IOD); and
  controls: the same micro with the smile 2.0-2.6 s later (not masked).
* ``smile``: Duchenne (AU6 + AU12) and social (AU12 only) smiles, macro at
  medium (0.7-1.5 % IOD) and strong (2-4 %) peaks and micro at medium.
* ``timing``: macro events (happiness as Duchenne smiles, surprise, sadness;
  1.4-2.6 s) with an abrupt onset and offset (40-100 ms each, truth
  ``deliberate``) or a smooth one (rise 0.5-0.8 s, fall 0.6-0.9 s, truth
  ``felt``), both symmetric; and one-sided events (surprise brows, sadness,
  anger: the bilateral AUs on one side only, the other side at 0-15 %; truth
  one-sided and ``deliberate``) beside symmetric ones (sides 85-100 %).
* ``subtle``: one-region events (the upper or lower partials of
  ``facs.PARTIALS``) at weak peaks (0.35-0.7 % IOD, truth subtle) among full
  prototypes and one-region events at strong peaks (2-4 %, not subtle).

The truth of each event is its ``variant`` (``ek_<case>``), so the clips go
through ``benchmarks/synth.py``'s renderer and ``benchmarks/run_suite.py``'s
feature cache unchanged (band ``ekman<EKMAN_VERSION>``).

Scoring (:func:`score`): truth events are matched to detected ones (same clip,
IoU >= 0.3, best first); each label is then scored on the matched events of
the clips made for it, and a truth event that was not detected counts as
missed in recall.

Usage::

    python benchmarks/synth_ekman.py --split test --fps 30 [--json OUT]
    python benchmarks/run_suite.py --no-suite --ekman --split test --fps 30
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import synth  # noqa: E402
from benchmarks.synthkit.events import EventSpec  # noqa: E402
from detector.lab.facewarp import _Geom, expand_aus  # noqa: E402
from benchmarks.synthkit.fields import calibrate  # noqa: E402
from benchmarks.synthkit.render import make_clip  # noqa: E402
from detector.core import facs  # noqa: E402

EKMAN_VERSION = 2
BAND = f"ekman{EKMAN_VERSION}"
MASK_EMOTIONS = ("anger", "disgust", "fear", "sadness", "surprise")
CLIPS_PER_KIND = {"mask": 4, "smile": 5, "timing": 4, "subtle": 3}


# --------------------------------------------------------------------------- events


def _event(g: _Geom, rng: np.random.Generator, onset: float, emotion: str, aus: Sequence[str], peak: float,
           rise: float, hold: float, fall: float, variant: str, side_ratio: tuple[float, float] = (0.85, 1.0),
           one_side: str | None = None) -> EventSpec:
    sided = expand_aus(aus)
    rel = {}
    for a in sided:
        r = float(rng.uniform(0.7, 1.0))
        if a.endswith(("_L", "_R")):
            if one_side is not None and not a.endswith("_" + one_side):
                r *= float(rng.uniform(0.0, 0.15))
            else:
                r *= float(rng.uniform(*side_ratio))
        rel[a] = r
    top = max(rel.values())
    rel = {a: r / top for a, r in rel.items() if r / top > 1e-3}
    inten = calibrate(g, rel, peak)
    kind = "micro" if rise + hold + fall < 0.5 else "macro"
    return EventSpec(onset, rise, fall, hold, inten, kind, emotion, variant)


def _proto(emotion: str) -> tuple[str, ...]:
    return facs.PROTOTYPES[emotion][0]


def _micro(g, rng, t, emotion, peak, variant):
    dur = float(rng.uniform(0.15, 0.4))
    rise = dur * float(rng.uniform(0.35, 0.5))
    return _event(g, rng, t, emotion, _proto(emotion), peak, rise, 0.0, dur - rise, variant)


def _smile(g, rng, t, peak, dur, variant, duchenne=True):
    aus = ("AU06", "AU12") if duchenne else ("AU12",)
    rise = dur * float(rng.uniform(0.25, 0.35))
    hold = dur * float(rng.uniform(0.25, 0.4))
    return _event(g, rng, t, "happiness", aus, peak, rise, hold, dur - rise - hold, variant)


def _mask_clip(g, rng) -> tuple[list[EventSpec], float]:
    t = 1.8 + float(rng.uniform(0, 0.3))
    ev: list[EventSpec] = []
    kinds = ["mask", "mask", "mask", "control"]
    rng.shuffle(kinds)
    for k in kinds:
        emo = MASK_EMOTIONS[int(rng.integers(len(MASK_EMOTIONS)))]
        a = _micro(g, rng, t, emo, float(rng.uniform(1.0, 2.0)), f"ek_{k}_a")
        ev.append(a)
        end = a.onset + a.rise + a.hold + a.fall
        gap = float(rng.uniform(0.15, 0.5)) if k == "mask" else float(rng.uniform(2.0, 2.6))
        b = _smile(g, rng, end + gap, float(rng.uniform(2.0, 5.0)), float(rng.uniform(1.2, 2.5)), f"ek_{k}_b",
                   duchenne=bool(rng.random() < 0.5))
        ev.append(b)
        t = b.onset + b.rise + b.hold + b.fall + float(rng.uniform(1.6, 2.0))
    return ev, t


def _smile_clip(g, rng) -> tuple[list[EventSpec], float]:
    items = [(d, band, kind) for d in (True, False) for band, kind in (("medium", "macro"), ("strong", "macro"),
                                                                       ("medium", "micro"))]
    rng.shuffle(items)
    t = 1.8 + float(rng.uniform(0, 0.3))
    ev = []
    for d, band, kind in items:
        peak = float(rng.uniform(0.7, 1.5)) if band == "medium" else float(rng.uniform(2.0, 4.0))
        dur = float(rng.uniform(1.0, 2.2)) if kind == "macro" else float(rng.uniform(0.25, 0.45))
        e = _smile(g, rng, t, peak, dur, f"ek_{'duchenne' if d else 'social'}_{band}", duchenne=d)
        ev.append(e)
        t = e.onset + e.rise + e.hold + e.fall + float(rng.uniform(1.3, 1.7))
    return ev, t


_ONE_SIDED = {"surprise": ("AU01", "AU02", "AU05"), "sadness": ("AU01", "AU04", "AU15"), "anger": ("AU04", "AU05", "AU07")}


def _timing_clip(g, rng) -> tuple[list[EventSpec], float]:
    items = ["abrupt", "abrupt", "smooth", "smooth", "onesided", "onesided", "symmetric"]
    rng.shuffle(items)
    t = 1.8 + float(rng.uniform(0, 0.3))
    ev = []
    for it in items:
        peak = float(rng.uniform(2.0, 4.0))
        dur = float(rng.uniform(1.4, 2.6))
        if it in ("abrupt", "smooth"):
            emo = ("happiness", "surprise", "sadness")[int(rng.integers(3))]
            if it == "abrupt":
                rise, fall = float(rng.uniform(0.04, 0.1)), float(rng.uniform(0.04, 0.1))
            else:
                rise, fall = float(rng.uniform(0.5, 0.8)), float(rng.uniform(0.6, 0.9))
            e = _event(g, rng, t, emo, _proto(emo), peak, rise, dur - rise - fall, fall, f"ek_{it}")
        else:
            emo = tuple(_ONE_SIDED)[int(rng.integers(len(_ONE_SIDED)))]
            rise, fall = float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.4, 0.7))
            side = ("L", "R")[int(rng.integers(2))] if it == "onesided" else None
            e = _event(g, rng, t, emo, _ONE_SIDED[emo], peak, rise, dur - rise - fall, fall, f"ek_{it}", one_side=side)
        ev.append(e)
        t = e.onset + e.rise + e.hold + e.fall + float(rng.uniform(1.4, 1.8))
    return ev, t


def _subtle_clip(g, rng) -> tuple[list[EventSpec], float]:
    parts = [(emo, reg) for emo, regs in facs.PARTIALS.items() for reg in regs]
    items = ["subtle"] * 4 + ["strong_part"] * 2 + ["full"] * 2
    rng.shuffle(items)
    items = ["full"] + items  # the person's range starts with a clear expression
    t = 1.8 + float(rng.uniform(0, 0.3))
    ev = []
    for it in items:
        if it == "full":
            emo = ("happiness", "surprise", "sadness", "anger")[int(rng.integers(4))]
            aus = _proto(emo)
        else:
            emo, reg = parts[int(rng.integers(len(parts)))]
            aus = facs.PARTIALS[emo][reg]
        peak = float(rng.uniform(0.35, 0.7)) if it == "subtle" else float(rng.uniform(2.0, 4.0))
        dur = float(rng.uniform(0.15, 0.4))
        rise = dur * float(rng.uniform(0.35, 0.5))
        e = _event(g, rng, t, emo, aus, peak, rise, 0.0, dur - rise, f"ek_{it}")
        ev.append(e)
        t = e.onset + e.rise + e.hold + e.fall + float(rng.uniform(1.3, 1.7))
    return ev, t


_BUILDERS = {"mask": _mask_clip, "smile": _smile_clip, "timing": _timing_clip, "subtle": _subtle_clip}


def ekman_plan(split: str, seed: int, n_clips: int | None = None) -> list[dict]:
    """Clip recipes of a split: kind, face, noise, seed (the events are drawn from the seed in :func:`build_ekman_clip`)."""
    faces = synth.SPLITS[split]
    rng = np.random.default_rng([seed, 14, 0 if split == "tune" else 1])
    out = []
    i = 0
    for kind, n in CLIPS_PER_KIND.items():
        for _ in range(n):
            out.append({"face": faces[i % len(faces)], "kind": kind, "noise_sigma": (0.5, 1.0, 2.0)[i % 3],
                        "sway_iod": 0.0, "seed": int(rng.integers(2**31))})
            i += 1
    return out[:n_clips] if n_clips is not None else out


def build_ekman_clip(face, recipe: dict, fps: float):
    rng = np.random.default_rng(recipe["seed"])
    events, duration = _BUILDERS[recipe["kind"]](_Geom(face), rng)
    return make_clip(face, events, fps, duration + 1.0, noise_sigma=recipe["noise_sigma"], seed=recipe["seed"],
                     sway_iod=recipe["sway_iod"])


synth.BANDS_OF_SUITE[BAND] = (ekman_plan, build_ekman_clip)  # run_suite.suite_features(band=BAND) renders and caches


# --------------------------------------------------------------------------- scoring


def _iou(a: dict, b: Any) -> float:
    lo, hi = max(a["onset"], b.onset), min(a["offset"], b.offset)
    inter = max(0.0, hi - lo)
    union = max(a["offset"], b.offset) - min(a["onset"], b.onset)
    return inter / union if union > 0 else 0.0


def match(truth: Sequence[dict], events: Sequence[Any], iou_min: float = 0.3) -> dict[int, Any]:
    """Truth index -> detected event (one-to-one, best IoU first)."""
    expr = [e for e in events if e.kind in ("micro", "macro")]
    cands = sorted(((_iou(t, e), i, j) for i, t in enumerate(truth) if t["kind"] in ("micro", "macro")
                    for j, e in enumerate(expr)), key=lambda c: (-c[0], c[1], c[2]))
    out: dict[int, Any] = {}
    used: set[int] = set()
    for iou, i, j in cands:
        if iou < iou_min:
            break
        if i in out or j in used:
            continue
        out[i] = expr[j]
        used.add(j)
    return out


def _pr(tp: int, n_pred: int, n_truth: int, n_found: int) -> dict:
    """Precision, recall over every truth case, and recall over the cases the pipeline detected (found)."""
    return {"tp": tp, "pred": n_pred, "truth": n_truth, "found": n_found,
            "precision": tp / n_pred if n_pred else None, "recall": tp / n_truth if n_truth else None,
            "recall_detected": tp / n_found if n_found else None}


def score(items: Sequence[tuple[str, list[dict], dict, Any]], config, spot) -> dict:
    """Per-label precision/recall (and Duchenne accuracy) over clips of :func:`ekman_plan`.

    ``items``: ``(name, truth, meta, Track)`` from ``run_suite.suite_features``; ``spot(track, config)``
    gives the events.
    """
    acc: dict[str, Counter] = {k: Counter() for k in ("mask", "duchenne", "onesided", "felt", "deliberate", "subtle")}
    duch: dict[str, Counter] = {}
    missed_peaks: dict[str, list[float]] = {}  # per band: the true peak (% IOD) of each smile not detected
    spread: dict[str, list[float]] = {"one_sided": [], "symmetric": []}  # |symmetry| of detected macro events
    detail: list[dict] = []
    for name, truth, meta, track in items:
        events = spot(track, config)
        m = match(truth, events)
        acc["mask"]["pred"] += sum(1 for e in events if e.masks is not None)  # a link in any clip counts
        if any(r["variant"].startswith(("ek_mask", "ek_control")) for r in truth):
            # a truth pair is found when the detected smile matching B carries masks pointing at the event matching A
            for i, r in enumerate(truth):
                if r["variant"] in ("ek_mask_b", "ek_control_b"):
                    a_idx = i - 1
                    b_ev, a_ev = m.get(i), m.get(a_idx)
                    masked_truth = r["variant"] == "ek_mask_b"
                    acc["mask"]["truth"] += masked_truth
                    acc["mask"]["found"] += bool(masked_truth and a_ev is not None and b_ev is not None)
                    ok = (b_ev is not None and a_ev is not None and b_ev.masks is not None
                          and b_ev.masks["onset_frame"] == a_ev.onset_frame)
                    acc["mask"]["tp"] += bool(masked_truth and ok)
            detail.append({"clip": name, "masks": [(e.masks["emotion"], e.emotion, round(e.onset, 2))
                                                   for e in events if e.masks]})
        for i, r in enumerate(truth):
            v = r["variant"]
            e = m.get(i)
            if v.startswith(("ek_duchenne", "ek_social")):
                band = v.split("_")[2] + ("_micro" if r["kind"] == "micro" else "_macro")
                c = duch.setdefault(band, Counter())
                c["n"] += 1
                want = v.startswith("ek_duchenne")
                if e is None:
                    c["missed"] += 1
                    missed_peaks.setdefault(band, []).append(round(float(r.get("peak_disp_iod", float("nan"))), 2))
                elif e.duchenne is None:
                    # null for two reasons: the smile was read as another emotion (the rule is for happiness
                    # only), or it was happiness but AU6 could not be measured (eyes closed at the apex)
                    c["null"] += 1
                    c["other_emotion" if e.emotion != "happiness" else "unmeasurable"] += 1
                else:
                    c["correct"] += int(e.duchenne == want)
                acc["duchenne"]["truth"] += want
                acc["duchenne"]["found"] += bool(want and e is not None)
                acc["duchenne"]["pred"] += bool(e is not None and e.duchenne)
                acc["duchenne"]["tp"] += bool(want and e is not None and e.duchenne)
            if v in ("ek_onesided", "ek_symmetric", "ek_abrupt", "ek_smooth"):
                one_truth = v == "ek_onesided"
                one_pred = e is not None and e.symmetry is not None and abs(e.symmetry) > config.ekman.symmetry_deliberate
                acc["onesided"]["truth"] += one_truth
                acc["onesided"]["found"] += bool(one_truth and e is not None)
                acc["onesided"]["pred"] += one_pred
                acc["onesided"]["tp"] += one_truth and one_pred
                t_truth = {"ek_onesided": "deliberate", "ek_abrupt": "deliberate", "ek_smooth": "felt",
                           "ek_symmetric": None}[v]
                for lab in ("felt", "deliberate"):
                    pred = e is not None and e.timing == lab
                    if v == "ek_symmetric":  # symmetric but with a medium onset: only its one-sidedness is known
                        continue
                    acc[lab]["truth"] += t_truth == lab
                    acc[lab]["found"] += bool(t_truth == lab and e is not None)
                    acc[lab]["pred"] += pred
                    acc[lab]["tp"] += pred and t_truth == lab
            if v in ("ek_subtle", "ek_strong_part", "ek_full"):
                s_truth = v == "ek_subtle"
                s_pred = e is not None and e.subtle
                acc["subtle"]["truth"] += s_truth
                acc["subtle"]["found"] += bool(s_truth and e is not None)
                acc["subtle"]["pred"] += s_pred
                acc["subtle"]["tp"] += s_truth and s_pred
            if e is not None and e.symmetry is not None and r["kind"] == "macro" and e.kind == "macro":
                # how far one threshold can split them: one-sided truth vs every other (symmetric) macro
                if v == "ek_onesided":
                    spread["one_sided"].append(abs(e.symmetry))
                elif e.emotion != "contempt":  # contempt is one-sided by nature, never made deliberate by it
                    spread["symmetric"].append(abs(e.symmetry))
            if e is not None:
                detail.append({"clip": name, "variant": v, "kind": e.kind, "emotion": e.emotion,
                               "intensity": round(e.intensity, 1), "region": e.region, "subtle": e.subtle,
                               "symmetry": e.symmetry, "onset_speed": e.onset_speed, "offset_speed": e.offset_speed,
                               "timing": e.timing, "duchenne": e.duchenne,
                               "au6": max(e.action_units.get("AU06_L", 0), e.action_units.get("AU06_R", 0)),
                               "au12": max(e.action_units.get("AU12_L", 0), e.action_units.get("AU12_R", 0))})
            elif r["kind"] in ("micro", "macro"):
                near = max((e2 for e2 in events if e2.kind in ("micro", "macro")), key=lambda e2: _iou(r, e2), default=None)
                best = 0.0 if near is None else _iou(r, near)
                detail.append({"clip": name, "variant": v, "missed": True, "kind": r["kind"],
                               "peak_disp_iod": r.get("peak_disp_iod"), "best_iou": round(best, 2),
                               "best_event": None if not best else (near.kind, near.emotion, round(near.onset, 2),
                                                                     round(near.offset, 2))})
    out = {k: _pr(c["tp"], c["pred"], c["truth"], c["found"]) for k, c in acc.items()}
    for b in list(duch):  # medium micro + macro together
        if b.startswith("medium_"):
            duch.setdefault("medium_all", Counter()).update(duch[b])
            missed_peaks.setdefault("medium_all", []).extend(missed_peaks.get(b, []))

    def _acc(b: str, c: Counter) -> dict:
        found = c["n"] - c["missed"]
        return {"n": c["n"], "correct": c["correct"], "null": c["null"], "missed": c["missed"],
                "null_other_emotion": c["other_emotion"], "null_unmeasurable": c["unmeasurable"],
                "missed_peaks_iod": sorted(missed_peaks.get(b, [])),
                "accuracy": c["correct"] / c["n"] if c["n"] else None,  # a smile not detected counts as wrong
                "accuracy_detected": c["correct"] / found if found else None}

    out["duchenne_accuracy"] = {b: _acc(b, c) for b, c in sorted(duch.items())}
    out["symmetry_spread"] = {"one_sided_min": min(spread["one_sided"], default=None),
                              "n_one_sided": len(spread["one_sided"]),
                              "symmetric_max": max(spread["symmetric"], default=None),
                              "n_symmetric": len(spread["symmetric"])}
    out["detail"] = detail
    return out


def format_score(r: dict) -> str:
    def f(x):
        return "  -  " if x is None else f"{x:.2f}"

    names = {"mask": "masking pairs", "duchenne": "Duchenne", "onesided": "one-sided (|symmetry|)",
             "felt": "timing felt", "deliberate": "timing deliberate", "subtle": "subtle"}
    lines = [f"{'label':24s} {'P':>5s} {'R':>5s} {'R det':>5s}  tp/pred/truth/detected  (R det: recall over the cases "
             "whose events were detected)"]
    for k, lab in names.items():
        c = r[k]
        lines.append(f"{lab:24s} {f(c['precision']):>5s} {f(c['recall']):>5s} {f(c['recall_detected']):>5s}  "
                     f"{c['tp']}/{c['pred']}/{c['truth']}/{c['found']}")
    sp = r.get("symmetry_spread")
    if sp:
        lines.append(f"|symmetry| of the detected macro events: one-sided min {f(sp['one_sided_min'])} "
                     f"({sp['n_one_sided']}), symmetric (not contempt) max {f(sp['symmetric_max'])} ({sp['n_symmetric']})")
    for b, c in r["duchenne_accuracy"].items():
        missed = f"; true peaks {', '.join(f'{p:g}' for p in c['missed_peaks_iod'])} % IOD" if c["missed"] else ""
        lines.append(f"Duchenne vs social, {b:13s} accuracy {f(c['accuracy_detected'])} of the detected smiles "
                     f"({c['correct']}/{c['n'] - c['missed']}; {c['null']} null: {c['null_other_emotion']} read as "
                     f"another emotion, {c['null_unmeasurable']} AU6 not measurable), {f(c['accuracy'])} of all "
                     f"({c['missed']} of {c['n']} not detected{missed})")
    return "\n".join(lines)


def firing_rates(events: Sequence[Any], duration_s: float, threshold: float = 0.3) -> dict:
    """How often each label fires among a clip's expression events (talking clips); one-sided: |symmetry| > threshold."""
    ex = [e for e in events if e.kind in ("micro", "macro")]
    n = len(ex)
    smiles = [e for e in ex if e.emotion == "happiness"]
    c = {
        "events": n,
        "subtle": sum(e.subtle for e in ex),
        "one_sided": sum(e.symmetry is not None and abs(e.symmetry) > threshold for e in ex),
        "felt": sum(e.timing == "felt" for e in ex),
        "deliberate": sum(e.timing == "deliberate" for e in ex),
        "unclear": sum(e.timing == "unclear" for e in ex),
        "smiles": len(smiles),
        "duchenne": sum(e.duchenne is True for e in smiles),
        "social": sum(e.duchenne is False for e in smiles),
        "duchenne_null": sum(e.duchenne is None for e in smiles),
        "masks": sum(e.masks is not None for e in ex),
    }
    c["minutes"] = duration_s / 60.0
    return c


def ekman_report(split: str, fps: float, seed: int, work: Path, config, fresh: bool = False, jobs: int = 1) -> dict:
    """Render (or load cached) the clips of a split and score them."""
    from benchmarks import run_suite

    items = run_suite.suite_features(split, fps, seed, None, work, fresh, jobs, band=BAND)
    return score(items, config, run_suite.spot)


def talking_report(work: Path, config, talking: Path | None = None) -> dict:
    """How often each label fires on the real clips (tests/data and the talking-face clips), per clip and in all."""
    from benchmarks import run_suite
    from benchmarks.fetch_talking_clips import present

    paths = [run_suite.ROOT / "tests" / "data" / n for n in run_suite.REAL_CLIPS]
    paths += present(talking or run_suite.DEFAULT_TALKING)
    rows = []
    for p in paths:
        tr = run_suite.real_features(p, work, config)
        dur = float(tr.times[-1] - tr.times[0]) if len(tr.times) > 1 else 0.0
        rows.append({"clip": p.name, **firing_rates(run_suite.spot(tr, config), dur, config.ekman.symmetry_deliberate)})
    total = Counter()
    for r in rows:
        total.update({k: v for k, v in r.items() if k != "clip"})
    return {"clips": rows, "total": dict(total)}


def format_rates(r: dict) -> str:
    keys = ("events", "subtle", "one_sided", "felt", "deliberate", "unclear", "smiles", "duchenne", "social",
            "duchenne_null", "masks")
    lines = [f"{'clip':28s} {'min':>5s} " + " ".join(f"{k[:10]:>10s}" for k in keys)]
    for row in r["clips"] + [{"clip": "all", **r["total"]}]:
        lines.append(f"{row['clip'][:28]:28s} {row['minutes']:5.2f} " + " ".join(f"{row[k]:10d}" for k in keys))
    t = r["total"]
    if t["events"]:
        lines.append("share of expression events: " + ", ".join(
            f"{k} {t[k] / t['events']:.0%}" for k in ("subtle", "one_sided", "felt", "deliberate", "masks")))
    return "\n".join(lines)


def suite_and_rates(split: str, fpss: Sequence[float], seed: int, work: Path, config, fresh: bool = False,
                    real: bool = False, talking: Path | None = None) -> dict:
    """What ``run_suite.py --ekman`` prints and stores: the scores at each fps, and the real clips' firing rates."""
    out: dict[str, Any] = {}
    for fps in fpss:
        r = ekman_report(split, fps, seed, work, config, fresh)
        out[f"{fps:g}"] = {k: v for k, v in r.items() if k != "detail"}
        print(f"Ekman labels, {split} faces, {fps:g} fps (benchmarks/synth_ekman.py)")
        print(format_score(r))
    if real:
        rr = talking_report(work, config, talking)
        out["real"] = rr
        print("Ekman labels on the real clips (expression events)")
        print(format_rates(rr))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import run_suite
    from detector.run.config import load_config

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("tune", "test"), default="test")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=run_suite.DEFAULT_WORK)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--detail", action="store_true", help="print every matched event's labels")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--talking", action="store_true",
                    help="instead: how often each label fires on the real clips (tests/data, /tmp/microexpr_talking)")
    args = ap.parse_args(argv)
    config = run_suite._apply_sets(load_config(), args.set)
    if args.talking:
        rr = talking_report(args.work, config)
        print(format_rates(rr))
        if args.json:
            args.json.write_text(json.dumps(rr, indent=1, default=float) + "\n")
        return 0
    r = ekman_report(args.split, args.fps, args.seed, args.work, config, args.fresh)
    if args.detail:
        for d in r["detail"]:
            print(d)
    print(f"Ekman labels, {args.split} faces, {args.fps:g} fps")
    print(format_score(r))
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
