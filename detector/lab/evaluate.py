"""Spotting and emotion scores against ground truth, the MEGC way (``microexpr evaluate``).

Matching (:func:`match_events`)
    Events are compared only within the same clip (``clip`` field, CSV column
    ``clip`` or ``video``) and, when both sides name a face, the same face.
    Eye events (``kind`` ``blink`` or ``closure``) are dropped from both sides before
    anything else.  The IoU of two intervals is computed in **frames** when both
    events have onset and offset frames (inclusive counting, as in the MEGC
    code: ``|A∩B| = max(0, min(off) - max(on) + 1)``, ``|A| = off - on + 1``),
    otherwise in **seconds** (``|A| = offset - onset``; seconds are derived as
    ``frame / fps`` when an fps is known).  Every (truth, prediction) pair with
    IoU >= ``iou_threshold`` (default 0.5; exactly 0.5 counts) is a candidate;
    candidates are taken greedily, highest IoU first (ties: earlier truth, then
    earlier prediction), and a pair is kept when neither side is matched yet.
    So each truth is matched at most once and each prediction at most once.
    With ``strict_kind`` a pair also needs equal kinds (events of unknown kind
    pair with either): micro and macro are then spotted separately, as in the
    MEGC challenges' separate micro/macro evaluation.

Scores (:func:`score`)
    overall: TP = matched pairs; precision = TP / predictions, recall = TP /
    truth events, F1 = 2PR / (P + R).
    micro / macro: recall is split by the **truth** kind (matched micro truths /
    micro truths) and precision by the **prediction** kind (matched micro
    predictions / micro predictions); a micro prediction matched to a macro
    truth therefore counts for micro precision and macro recall (without
    ``strict_kind``).  Truth kind, when not given, is derived from the duration
    (< 0.5 s micro, else macro; frames need an fps); events whose kind stays
    unknown count in overall only.
    A precision or recall with nothing to divide by is ``None`` ("-" in the
    table); F1 is 0 when exactly one of them is ``None`` (nothing predicted, or
    nothing to find) and ``None`` when both are.
    emotion: accuracy and an 8x8 confusion matrix (rows truth, columns
    prediction, ``facs.EMOTIONS`` order) over matched pairs whose truth has an
    emotion in ``EMOTIONS``; a prediction without a known emotion counts as
    wrong and is left out of the matrix.
    timing: mean absolute (and mean signed, prediction minus truth) onset, apex
    and offset error in ms over matched pairs: from seconds when both sides have
    them, else from frames and the fps; apex pairs with a missing apex are skipped.
    Frame errors are also given when both sides have frames.
    false alarms per minute: unmatched predictions / total duration in minutes.
    The duration is ``duration_s`` (``--duration``) when given, else the sum
    over clips of each clip's length from the metadata (dataset clips:
    ``n_frames / fps``; truth files: a ``clip_duration`` column/field in seconds,
    the largest per clip); ``None`` when some clip's length is unknown.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from detector.lab.datasets import (
    DATASETS,
    Annotation,
    DatasetError,
    kind_from_text,
    load_dataset,
    loso_splits,
    map_emotion,
    read_sheet,
)
from detector.core.events import EYE_KINDS, KINDS
from detector.core.facs import EMOTIONS
from detector.core.files import replace_atomically
from detector.core.options import MICRO_MAX_S

__all__ = [
    "Annotation",
    "EvaluationError",
    "add_arguments",
    "as_annotation",
    "format_table",
    "interval_iou",
    "load_events",
    "loso_splits",
    "match_events",
    "run",
    "run_dataset",
    "score",
]

log = logging.getLogger("microexpr.evaluate")


class EvaluationError(ValueError):
    """Bad evaluation input (missing/corrupt file, no rows, unknown column, ...); one line, no traceback."""


# --------------------------------------------------------------------------- reading


_ALIASES = {"video": "clip", "type": "kind", "clipduration": "clip_duration"}
_FIELDS = (
    "clip",
    "face",
    "onset_frame",
    "apex_frame",
    "offset_frame",
    "onset",
    "apex",
    "offset",
    "kind",
    "emotion",
    "fps",
    "clip_duration",
)
#: Columns accepted and ignored in truth/prediction CSVs (Event fields and common notes).
_IGNORED = (
    "subject",
    "duration",
    "duration_ms",
    "region",
    "confidence",
    "intensity",
    "scores",
    "action_units",
    "notes",
    "label",
    "frame_count",
)


def _column(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(key.replace("_", ""), _ALIASES.get(key, key))


def _as_float(v: object, what: str, where: str) -> float | None:
    if v is None or (isinstance(v, str) and v.strip() == ""):
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EvaluationError(f"{where}: {what} {v!r} is not a number") from None
    if not math.isfinite(f):
        raise EvaluationError(f"{where}: {what} {v!r} is not finite")
    return f


def _as_int(v: object, what: str, where: str) -> int | None:
    f = _as_float(v, what, where)
    if f is not None and f != int(f):
        raise EvaluationError(f"{where}: {what} {v!r} is not a whole frame number")
    return None if f is None else int(f)


def as_annotation(obj: object, where: str = "event", clip: str | None = None) -> Annotation:
    """An :class:`Annotation` from an ``Event``, a dict (Event/truth schema) or an Annotation.

    ``clip`` fills in the clip when the event names none.  Raises
    :class:`EvaluationError` when the event has no onset/offset pair or its
    offset precedes its onset.
    """
    if isinstance(obj, Annotation):
        a = obj
    else:
        d = obj.to_dict() if hasattr(obj, "to_dict") and not isinstance(obj, dict) else obj
        if not isinstance(d, dict):
            raise EvaluationError(f"{where}: not an event object")
        d = {_column(str(k)): v for k, v in d.items()}
        kind_raw = d.get("kind")
        kind = kind_from_text(kind_raw)
        if kind_raw not in (None, "") and kind is None:
            raise EvaluationError(f"{where}: kind {kind_raw!r} is not one of {', '.join(KINDS)}")
        emotion_raw = d.get("emotion")
        emotion_raw = None if emotion_raw in (None, "") else str(emotion_raw)
        clip_raw = d.get("clip")
        a = Annotation(
            onset_frame=_as_int(d.get("onset_frame"), "onset_frame", where),
            apex_frame=_as_int(d.get("apex_frame"), "apex_frame", where),
            offset_frame=_as_int(d.get("offset_frame"), "offset_frame", where),
            onset=_as_float(d.get("onset"), "onset", where),
            apex=_as_float(d.get("apex"), "apex", where),
            offset=_as_float(d.get("offset"), "offset", where),
            kind=kind,
            emotion=map_emotion(emotion_raw),
            clip=None if clip_raw in (None, "") else str(clip_raw),
            face=_as_int(d.get("face"), "face", where),
            fps=_as_float(d.get("fps"), "fps", where),
            label=emotion_raw,
            clip_duration=_as_float(d.get("clip_duration"), "clip_duration", where),
        )
    has_frames = a.onset_frame is not None and a.offset_frame is not None
    has_secs = a.onset is not None and a.offset is not None
    if not has_frames and not has_secs:
        raise EvaluationError(f"{where}: needs onset and offset (onset_frame/offset_frame or onset/offset seconds)")
    if has_frames and a.offset_frame < a.onset_frame:  # type: ignore[operator]
        raise EvaluationError(f"{where}: offset_frame {a.offset_frame} is before onset_frame {a.onset_frame}")
    if has_secs and a.offset < a.onset:  # type: ignore[operator]
        raise EvaluationError(f"{where}: offset {a.offset} s is before onset {a.onset} s")
    if a.clip is None and clip is not None:
        a = replace(a, clip=clip)
    return a


def load_events(path: str | Path, clip: str | None = None, allow_empty: bool = False) -> list[Annotation]:
    """Read events from a JSONL/JSON file (Event schema) or a CSV/XLSX sheet (one row per event).

    CSV/XLSX columns (case-insensitive): clip or video, face, onset_frame,
    apex_frame, offset_frame, onset, apex, offset (seconds), kind (or type),
    emotion, fps, clip_duration (seconds); Event columns such as confidence or
    region and a subject/notes column are accepted and ignored; any other column
    is an error.  ``clip`` fills in events that name no clip.  Raises
    :class:`EvaluationError` for a missing or unreadable file, a malformed row, or
    (unless ``allow_empty``) a file with no events.  A CSV with a header and no
    rows is read as "no events" even without ``allow_empty``.
    """
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"file not found: {path}")
    if not path.is_file():
        raise EvaluationError(f"not a file: {path}")
    suffix = path.suffix.lower()
    events: list[Annotation] = []
    if suffix in (".jsonl", ".json", ".ndjson"):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise EvaluationError(f"{path}: not UTF-8 text") from None
        except OSError as e:
            raise EvaluationError(f"{path}: cannot read ({e.strerror or e})") from None
        stripped = text.lstrip()
        if stripped.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as e:
                raise EvaluationError(f"{path}: invalid JSON ({e.msg}: line {e.lineno} column {e.colno})") from None
            for i, item in enumerate(items, start=1):
                events.append(as_annotation(item, f"{path.name} item {i}", clip))
        else:
            for i, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    raise EvaluationError(f"{path}: line {i} is not valid JSON ({e.msg}: column {e.colno})") from None
                events.append(as_annotation(item, f"{path.name} line {i}", clip))
        if not events and not allow_empty:
            raise EvaluationError(f"{path}: no events in the file")
        return events
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise EvaluationError(f"{path}: unsupported file type {suffix or '(none)'}; use .jsonl, .json, .csv or .xlsx")
    try:
        rows = read_sheet(path, 0)
    except DatasetError as e:
        raise EvaluationError(str(e)) from None
    rows = [r for r in rows if any(c is not None and str(c).strip() for c in r)]
    if not rows:
        if allow_empty:
            return []
        raise EvaluationError(f"{path}: no rows")
    header = [_column(str(c)) if c is not None else "" for c in rows[0]]
    unknown = [str(rows[0][j]) for j, h in enumerate(header) if h and h not in _FIELDS and h not in _IGNORED]
    if unknown:
        raise EvaluationError(f"{path}: unknown column(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    if not any(h in ("onset_frame", "onset") for h in header):
        raise EvaluationError(f"{path}: no onset_frame or onset column in the header row")
    for i, row in enumerate(rows[1:], start=2):
        item = {h: row[j] for j, h in enumerate(header) if h and j < len(row) and h in _FIELDS}
        events.append(as_annotation(item, f"{path.name} row {i}", clip))
    return events


# --------------------------------------------------------------------------- matching


def interval_iou(a: tuple[float, float], b: tuple[float, float], frames: bool) -> float:
    """IoU of two closed intervals ``(onset, offset)``.

    ``frames``: integer frame indices, inclusive (a single frame has length 1);
    otherwise seconds (continuous; two identical zero-length intervals have IoU 1).
    """
    (a0, a1), (b0, b1) = a, b
    extra = 1 if frames else 0
    inter = max(0.0, min(a1, b1) - max(a0, b0) + extra)
    union = (a1 - a0 + extra) + (b1 - b0 + extra) - inter
    if union <= 0:
        return 1.0 if (a0, a1) == (b0, b1) else 0.0
    return inter / union


def _fill(a: Annotation, fps: float | None) -> Annotation:
    """Seconds from frames where an fps is known, and the kind from the duration where missing."""
    rate = a.fps or fps
    if rate and a.onset_frame is not None and a.offset_frame is not None and (a.onset is None or a.offset is None):
        a = replace(
            a,
            onset=a.onset_frame / rate,
            offset=a.offset_frame / rate,
            apex=a.apex if a.apex is not None else (None if a.apex_frame is None else a.apex_frame / rate),
        )
    if a.kind is None:
        if a.onset is not None and a.offset is not None:
            a = replace(a, kind="micro" if a.offset - a.onset < MICRO_MAX_S else "macro")
        elif rate and a.onset_frame is not None and a.offset_frame is not None:
            a = replace(a, kind="micro" if (a.offset_frame - a.onset_frame) / rate < MICRO_MAX_S else "macro")
    return a


def _has_frames(a: Annotation) -> bool:
    return a.onset_frame is not None and a.offset_frame is not None


def _has_secs(a: Annotation) -> bool:
    return a.onset is not None and a.offset is not None


def _pair_iou(t: Annotation, p: Annotation) -> float:
    if _has_frames(t) and _has_frames(p):
        return interval_iou(
            (t.onset_frame, t.offset_frame),  # type: ignore[arg-type]
            (p.onset_frame, p.offset_frame),  # type: ignore[arg-type]
            frames=True,
        )
    if _has_secs(t) and _has_secs(p):
        return interval_iou((t.onset, t.offset), (p.onset, p.offset), frames=False)  # type: ignore[arg-type]
    raise EvaluationError(
        "cannot compare a truth event given only in frames with a prediction given only in seconds "
        "(or the reverse): pass --fps"
    )


def _clip_keys(truth: Sequence[Annotation], pred: Sequence[Annotation]) -> tuple[list[str | None], list[str | None]]:
    """Clip of each event; a missing clip means 'the only clip' and is an error when there are several."""
    names = {a.clip for a in truth if a.clip is not None} | {a.clip for a in pred if a.clip is not None}
    if len(names) <= 1:
        only = next(iter(names), None)
        return [only] * len(truth), [only] * len(pred)
    for side, events in (("truth", truth), ("prediction", pred)):
        if any(a.clip is None for a in events):
            raise EvaluationError(
                f"some {side} events name no clip while others name {len(names)} clips; add a clip column, "
                "or give one prediction file per clip named after it"
            )
    return [a.clip for a in truth], [a.clip for a in pred]


def match_events(
    truth: Sequence[Annotation],
    pred: Sequence[Annotation],
    iou_threshold: float = 0.5,
    strict_kind: bool = False,
) -> list[tuple[int, int, float]]:
    """Greedy best-IoU-first one-to-one matching; returns ``(truth_index, pred_index, iou)`` pairs.

    Events must already be :class:`Annotation` (see :func:`as_annotation`);
    blink events are never matched.  See the module docstring for the rules.
    """
    tclips, pclips = _clip_keys(truth, pred)
    by_clip: dict[str | None, list[int]] = defaultdict(list)
    for j, c in enumerate(pclips):
        if pred[j].kind not in EYE_KINDS:
            by_clip[c].append(j)
    cands: list[tuple[float, int, int]] = []
    for i, t in enumerate(truth):
        if t.kind in EYE_KINDS:
            continue
        for j in by_clip.get(tclips[i], ()):
            p = pred[j]
            if t.face is not None and p.face is not None and t.face != p.face:
                continue
            if strict_kind and t.kind is not None and p.kind is not None and t.kind != p.kind:
                continue
            iou = _pair_iou(t, p)
            if iou >= iou_threshold - 1e-12:
                cands.append((iou, i, j))
    cands.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_t: set[int] = set()
    used_p: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for iou, i, j in cands:
        if i in used_t or j in used_p:
            continue
        used_t.add(i)
        used_p.add(j)
        out.append((i, j, iou))
    out.sort()
    return out


# --------------------------------------------------------------------------- scoring


def _prf(tp_pred: int, n_pred: int, tp_truth: int, n_truth: int) -> dict:
    p = tp_pred / n_pred if n_pred else None
    r = tp_truth / n_truth if n_truth else None
    if p is None and r is None:
        f1 = None
    elif p is None or r is None:
        f1 = 0.0
    else:
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {
        "precision": p,
        "recall": r,
        "f1": f1,
        "n_truth": n_truth,
        "n_pred": n_pred,
        "tp_truth": tp_truth,
        "tp_pred": tp_pred,
    }


def _timing(pairs: list[tuple[Annotation, Annotation]], fps: float | None) -> tuple[dict, dict]:
    ms: dict[str, list[float]] = {"onset": [], "apex": [], "offset": []}
    fr: dict[str, list[int]] = {"onset": [], "apex": [], "offset": []}
    for t, p in pairs:
        rate = t.fps or p.fps or fps
        for k in ("onset", "apex", "offset"):
            ts, ps = getattr(t, k), getattr(p, k)
            tf, pf = getattr(t, f"{k}_frame"), getattr(p, f"{k}_frame")
            if ts is not None and ps is not None:
                ms[k].append((ps - ts) * 1000.0)
            elif tf is not None and pf is not None and rate:
                ms[k].append((pf - tf) / rate * 1000.0)
            if tf is not None and pf is not None:
                fr[k].append(pf - tf)

    def summary(d: dict[str, list]) -> dict:
        return {
            k: {
                "mean_abs": sum(abs(x) for x in v) / len(v) if v else None,
                "median_abs": statistics.median(abs(x) for x in v) if v else None,
                "mean_signed": sum(v) / len(v) if v else None,
                "n": len(v),
            }
            for k, v in d.items()
        }

    return summary(ms), summary(fr)


def _durations(truth: Sequence[Annotation], tclips: Sequence[str | None], pclips: Sequence[str | None]) -> float | None:
    per_clip: dict[str | None, float | None] = {c: None for c in list(tclips) + list(pclips)}
    for a, c in zip(truth, tclips, strict=True):
        if a.clip_duration is not None:
            prev = per_clip.get(c)
            per_clip[c] = a.clip_duration if prev is None else max(prev, a.clip_duration)
    if not per_clip or any(v is None for v in per_clip.values()):
        return None
    return float(sum(per_clip.values()))  # type: ignore[arg-type]


def score(
    truth_events: Iterable[object],
    pred_events: Iterable[object],
    *,
    iou_threshold: float = 0.5,
    fps: float | None = None,
    duration_s: float | None = None,
    strict_kind: bool = False,
) -> dict:
    """Score predicted events against truth events (rules in the module docstring).

    Parameters
    ----------
    truth_events, pred_events
        :class:`Annotation`, ``detector.core.events.Event`` or dicts in the Event /
        truth schema.  Blink events are ignored.
    iou_threshold
        Minimum IoU for a true positive (MEGC: 0.5, inclusive).
    fps
        Frames per second used where an event has frames but no seconds (or no
        fps of its own): to derive seconds, kinds and millisecond errors.
    duration_s
        Total analysed duration in seconds for false alarms per minute;
        default: from the events' ``clip_duration`` metadata.
    strict_kind
        Only pair events of the same kind (micro with micro, macro with macro).

    Returns
    -------
    dict
        ``micro``, ``macro``, ``overall`` (precision, recall, f1, n_truth,
        n_pred, tp_truth, tp_pred), ``emotion`` (n, correct, accuracy, labels,
        confusion), ``timing_ms`` and ``timing_frames`` ({onset, apex, offset}:
        mean_abs, mean_signed, n), ``false_alarms``, ``duration_s``,
        ``duration_source``, ``false_alarms_per_minute``, ``counts`` and
        ``clips`` (per-clip truth/pred/tp), ``settings``.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise EvaluationError(f"IoU threshold must be in (0, 1], got {iou_threshold}")
    if fps is not None and not fps > 0:
        raise EvaluationError(f"fps must be positive, got {fps}")
    if duration_s is not None and not duration_s > 0:
        raise EvaluationError(f"duration must be positive seconds, got {duration_s}")
    truth_all = [_fill(as_annotation(t, f"truth event {i + 1}"), fps) for i, t in enumerate(truth_events)]
    pred_all = [_fill(as_annotation(p, f"prediction {i + 1}"), fps) for i, p in enumerate(pred_events)]
    truth = [a for a in truth_all if a.kind not in EYE_KINDS]
    pred = [a for a in pred_all if a.kind not in EYE_KINDS]
    tclips, pclips = _clip_keys(truth, pred)
    pairs = match_events(truth, pred, iou_threshold=iou_threshold, strict_kind=strict_kind)
    mt = {i for i, _, _ in pairs}
    mp = {j for _, j, _ in pairs}

    def split(kind: str | None) -> dict:
        ti = [i for i, a in enumerate(truth) if kind is None or a.kind == kind]
        pi = [j for j, a in enumerate(pred) if kind is None or a.kind == kind]
        return _prf(sum(j in mp for j in pi), len(pi), sum(i in mt for i in ti), len(ti))

    # emotion over matched pairs with a truth emotion
    confusion = [[0] * len(EMOTIONS) for _ in EMOTIONS]
    n_emo = correct = unlabeled_pred = 0
    for i, j, _ in pairs:
        te, pe = truth[i].emotion, pred[j].emotion
        if te not in EMOTIONS:
            continue
        n_emo += 1
        if pe not in EMOTIONS:
            unlabeled_pred += 1
            continue
        confusion[EMOTIONS.index(te)][EMOTIONS.index(pe)] += 1
        correct += te == pe

    timing_ms, timing_frames = _timing([(truth[i], pred[j]) for i, j, _ in pairs], fps)

    fa = len(pred) - len(mp)
    if duration_s is not None:
        dur, source = float(duration_s), "--duration"
    else:
        dur = _durations(truth, tclips, pclips)
        source = "clip metadata" if dur is not None else None
    if dur is not None and dur <= 0:
        dur, source = None, None

    clips: dict[str, dict] = {}
    for i, c in enumerate(tclips):
        d = clips.setdefault(c or "", {"truth": 0, "pred": 0, "tp": 0})
        d["truth"] += 1
        d["tp"] += i in mt
    for c in pclips:
        clips.setdefault(c or "", {"truth": 0, "pred": 0, "tp": 0})["pred"] += 1

    return {
        "overall": split(None),
        "micro": split("micro"),
        "macro": split("macro"),
        "emotion": {
            "n": n_emo,
            "correct": correct,
            "accuracy": correct / n_emo if n_emo else None,
            "unlabelled_predictions": unlabeled_pred,
            "labels": list(EMOTIONS),
            "confusion": confusion,
        },
        "timing_ms": timing_ms,
        "timing_frames": timing_frames,
        "false_alarms": fa,
        "duration_s": dur,
        "duration_source": source,
        "false_alarms_per_minute": fa / (dur / 60.0) if dur else None,
        "counts": {
            "truth": len(truth),
            "pred": len(pred),
            "matched": len(pairs),
            "missed": len(truth) - len(mt),
            "truth_blinks_ignored": len(truth_all) - len(truth),
            "pred_blinks_ignored": len(pred_all) - len(pred),
            "truth_unknown_kind": sum(a.kind is None for a in truth),
            "pred_unknown_kind": sum(a.kind is None for a in pred),
            "kind_agree": sum(truth[i].kind == pred[j].kind for i, j, _ in pairs),
            "truth_with_emotion": sum(a.emotion in EMOTIONS for a in truth),
        },
        "clips": clips,
        "settings": {"iou_threshold": iou_threshold, "strict_kind": strict_kind, "fps": fps},
    }


# --------------------------------------------------------------------------- table


def _f(x: float | None, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def format_table(result: dict) -> str:
    """Human-readable summary of a :func:`score` result."""
    c = result["counts"]
    s = result["settings"]
    lines = [
        f"truth events: {c['truth']}   predictions: {c['pred']}   matched (IoU >= {s['iou_threshold']:g}"
        f"{', same kind' if s['strict_kind'] else ''}): {c['matched']}",
    ]
    if c["truth_blinks_ignored"] or c["pred_blinks_ignored"]:
        lines.append(f"blinks ignored: {c['truth_blinks_ignored']} truth, {c['pred_blinks_ignored']} predicted")
    lines += [
        "",
        f"{'':8} {'truth':>6} {'found':>6} {'pred':>6} {'correct':>7} {'precision':>9} {'recall':>7} {'F1':>6}",
    ]
    for k in ("micro", "macro", "overall"):
        r = result[k]
        lines.append(
            f"{k:8} {r['n_truth']:6d} {r['tp_truth']:6d} {r['n_pred']:6d} {r['tp_pred']:7d} "
            f"{_f(r['precision']):>9} {_f(r['recall']):>7} {_f(r['f1']):>6}"
        )
    lines.append(
        "  (found = matched truths of that kind -> recall; correct = matched predictions of that kind -> precision)"
    )
    if c["truth_unknown_kind"] or c["pred_unknown_kind"]:
        lines.append(
            f"  kind unknown (overall only): {c['truth_unknown_kind']} truth, {c['pred_unknown_kind']} predicted"
        )
    lines.append("")
    t = result["timing_ms"]
    if any(t[k]["n"] for k in t):
        parts = [
            f"{k} {_f(t[k]['mean_abs'], 1)} ms (bias {_f(t[k]['mean_signed'], 1)})" for k in ("onset", "apex", "offset")
        ]
        lines.append(f"timing error, mean |pred - truth| over {t['onset']['n']} matches: " + ", ".join(parts))
    else:
        tf = result["timing_frames"]
        if any(tf[k]["n"] for k in tf):
            parts = [f"{k} {_f(tf[k]['mean_abs'], 2)} frames" for k in ("onset", "apex", "offset")]
            lines.append("timing error, mean |pred - truth| (no fps for ms): " + ", ".join(parts))
        else:
            lines.append("timing error: no matches")
    if result["false_alarms_per_minute"] is not None:
        lines.append(
            f"false alarms: {result['false_alarms']} in {result['duration_s'] / 60:.2f} min "
            f"= {result['false_alarms_per_minute']:.2f} per minute (duration from {result['duration_source']})"
        )
    else:
        lines.append(f"false alarms: {result['false_alarms']} (per minute: unknown duration, pass --duration)")
    e = result["emotion"]
    if e["n"]:
        lines.append(
            f"emotion accuracy: {e['correct']}/{e['n']} = {_f(e['accuracy'])} (matched events with a truth emotion)"
        )
        abbrev = [lab[:3] for lab in e["labels"]]
        lines.append("confusion (rows truth, columns predicted):")
        lines.append(f"{'':10}" + "".join(f"{a:>5}" for a in abbrev))
        for lab, row in zip(e["labels"], e["confusion"], strict=True):
            lines.append(f"{lab:10}" + "".join(f"{v:5d}" for v in row))
    else:
        lines.append("emotion accuracy: - (no matched event with a truth emotion)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- datasets


AnalyzeFn = Callable[..., Iterable[object]]


def _pipeline_analyze(path: str | Path, config: object = None, fps: float | None = None) -> list:
    """The one place that calls the analysis pipeline (``detector.run.analyze.analyze``)."""
    from detector.run.analyze import analyze  # lazy: importing evaluate must not load MediaPipe

    return analyze(path, config=config, fps=fps)


def _pipeline_config(path: str | Path | None) -> object:
    """The pipeline ``Config`` from a TOML file (``None``: the pipeline's default)."""
    if path is None:
        return None
    if not Path(path).is_file():
        raise EvaluationError(f"{path}: config file not found")
    from detector.core.resources import ResourceError
    from detector.run.config import ConfigError, load_config

    try:
        return load_config(path)
    except (ConfigError, ResourceError) as e:
        raise EvaluationError(str(e)) from None


def run_dataset(
    dataset: str,
    root: str | Path,
    analyze_fn: AnalyzeFn | None = None,
    *,
    config: object = None,
    fps: float | None = None,
    limit: int | None = None,
    save_pred: str | Path | None = None,
    iou_threshold: float = 0.5,
    strict_kind: bool = False,
    duration_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Analyse every clip of a dataset and score the events against its annotations.

    ``analyze_fn(path, config=..., fps=...)`` returns the events of one clip
    (Events, dicts or Annotations; 0-based frames of the numerically sorted
    images); default: ``detector.run.analyze.analyze``.  ``fps`` overrides the
    dataset's frame rate.  A clip whose analysis raises is reported in
    ``clips_failed`` and left out of the scores; ``limit`` analyses only the
    first N clips; ``save_pred`` writes each clip's predictions to
    ``DIR/<subject>/<clip>.jsonl``.  Returns :func:`score`'s dict plus
    ``dataset``, ``root``, ``n_clips``, ``clips_failed``.
    """
    analyze_fn = analyze_fn or _pipeline_analyze
    try:
        clips = load_dataset(dataset, root, fps=fps)
    except DatasetError as e:
        raise EvaluationError(str(e)) from None
    if limit is not None:
        clips = clips[: max(0, limit)]
    truth: list[Annotation] = []
    pred: list[Annotation] = []
    failed: list[dict] = []
    durations = 0.0
    for k, clip in enumerate(clips, start=1):
        try:
            events = list(analyze_fn(clip.frames_dir, config=config, fps=clip.fps))
        except Exception as e:  # noqa: BLE001 - one bad clip must not end a dataset run
            msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            failed.append({"clip": clip.key, "error": msg})
            log.warning("%s: analysis failed (%s); left out", clip.key, msg)
            if progress:
                progress(f"[{k}/{len(clips)}] {clip.key}: FAILED ({msg})")
            continue
        annotations = [as_annotation(e, f"{clip.key} prediction {n + 1}", None) for n, e in enumerate(events)]
        annotations = [replace(a, clip=clip.key, fps=a.fps or clip.fps) for a in annotations]
        if save_pred is not None:
            out = Path(save_pred) / clip.subject / f"{clip.name}.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            rows = (e.to_dict() if hasattr(e, "to_dict") else asdict(e) if isinstance(e, Annotation) else dict(e)
                    for e in events)
            text = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in rows)
            replace_atomically(out, text.encode("utf-8"))
        truth += [replace(a, clip=clip.key, clip_duration=clip.duration) for a in clip.events]
        pred += annotations
        durations += clip.duration
        if progress:
            progress(f"[{k}/{len(clips)}] {clip.key}: {len(clip.events)} annotated, {len(annotations)} detected")
    if clips and len(failed) == len(clips):
        raise EvaluationError(f"analysis failed on every clip; first: {failed[0]['clip']}: {failed[0]['error']}")
    result = score(
        truth,
        pred,
        iou_threshold=iou_threshold,
        strict_kind=strict_kind,
        duration_s=duration_s if duration_s is not None else (durations or None),
    )
    if duration_s is None and durations:
        result["duration_source"] = "clip lengths (frames / fps)"
    result.update({"dataset": dataset, "root": str(root), "n_clips": len(clips) - len(failed), "clips_failed": failed})
    return result


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``microexpr evaluate``."""
    parser.description = (
        "Score detected expression events against ground truth (MEGC spotting: a detection is a true "
        "positive when its IoU with a not-yet-matched annotated interval is >= 0.5)."
    )
    src = parser.add_argument_group("files")
    src.add_argument("--truth", metavar="FILE", help="annotated events: .jsonl/.json (event schema) or .csv/.xlsx")
    src.add_argument(
        "--pred",
        metavar="FILE",
        nargs="+",
        help="detected events (.jsonl from `microexpr analyze -o`, or .csv); with several files, "
        "events without a clip field take the file name (stem) as clip",
    )
    ds = parser.add_argument_group("dataset")
    ds.add_argument("--dataset", choices=DATASETS, help="analyse and score a dataset laid out as distributed")
    ds.add_argument("root", nargs="?", metavar="ROOT", help="dataset folder (with --dataset)")
    ds.add_argument("--config", metavar="TOML", help="analysis config for --dataset (default: configs/default.toml)")
    ds.add_argument("--limit", type=int, metavar="N", help="analyse only the first N clips")
    ds.add_argument("--save-pred", metavar="DIR", help="write each clip's detections to DIR/<subject>/<clip>.jsonl")
    opt = parser.add_argument_group("scoring")
    opt.add_argument("--iou", type=float, default=0.5, help="IoU threshold for a true positive (default 0.5, MEGC)")
    opt.add_argument(
        "--strict-kind",
        action="store_true",
        help="match micro only with micro and macro only with macro (MEGC separate evaluation)",
    )
    opt.add_argument(
        "--fps",
        type=float,
        help="frames per second: converts frame numbers to seconds/ms where a file has frames only; "
        "with --dataset overrides the dataset's rate",
    )
    opt.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="total analysed duration for false alarms per minute (default: from clip metadata)",
    )
    opt.add_argument(
        "--json", metavar="FILE", help="also write the full result as JSON to FILE ('-': stdout, no table)"
    )


def _pred_from_files(paths: Sequence[str]) -> list[Annotation]:
    events: list[Annotation] = []
    for p in paths:
        clip = Path(p).stem if len(paths) > 1 else None
        events += load_events(p, clip=clip, allow_empty=True)
    return events


def run(args: argparse.Namespace) -> int:
    """Run ``microexpr evaluate``; returns 0.  Bad input raises :class:`EvaluationError` (one line)."""
    dataset = getattr(args, "dataset", None)
    if dataset:
        if not args.root:
            raise EvaluationError("--dataset needs the dataset folder ROOT")
        if args.truth or args.pred:
            raise EvaluationError("give either --dataset ROOT or --truth/--pred, not both")
        if args.limit is not None and args.limit < 1:
            raise EvaluationError("--limit must be at least 1")
        result = run_dataset(
            dataset,
            args.root,
            config=_pipeline_config(args.config),
            fps=args.fps,
            limit=args.limit,
            save_pred=args.save_pred,
            iou_threshold=args.iou,
            strict_kind=args.strict_kind,
            duration_s=args.duration,
            progress=lambda m: print(m, file=sys.stderr, flush=True),
        )
    else:
        if getattr(args, "root", None):
            raise EvaluationError(f"unexpected argument {args.root!r} (ROOT needs --dataset)")
        if not args.truth or not args.pred:
            raise EvaluationError("give --truth FILE and --pred FILE (or --dataset NAME ROOT)")
        truth = load_events(args.truth)
        pred = _pred_from_files(args.pred)
        result = score(
            truth, pred, iou_threshold=args.iou, fps=args.fps, duration_s=args.duration, strict_kind=args.strict_kind
        )
        result.update({"truth_file": str(args.truth), "pred_files": [str(p) for p in args.pred]})
    text = json.dumps(result, indent=2)
    if args.json == "-":
        print(text)
        return 0
    header = f"dataset {result['dataset']} ({result['n_clips']} clips)\n" if dataset else ""
    if dataset and result["clips_failed"]:
        header += f"clips left out (analysis failed): {len(result['clips_failed'])}\n"
    print(header + format_table(result))
    if args.json:
        try:
            replace_atomically(args.json, (text + "\n").encode("utf-8"))
        except OSError as e:
            raise EvaluationError(f"cannot write {args.json}: {e.strerror or e}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m detector.lab.evaluate``): errors -> one line, exit 2."""
    parser = argparse.ArgumentParser(prog="microexpr evaluate")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except EvaluationError as e:
        print(f"microexpr: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
