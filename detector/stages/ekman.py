"""The expressions Ekman describes beyond micro vs macro: subtle, masked, felt vs deliberate, Duchenne.

Every rule works on what one event already carries (its AU deltas at the apex,
its region and intensity) plus the short trace of the face's channels between
its onset and offset, so it runs in the streaming :class:`detector.pipeline.Analyzer`
at the moment the segmenter confirms the event (:class:`EkmanTracker`).

Fields added to each expression event (eye kinds get the neutral values):

``subtle`` (bool)
    One region only (``region`` ``upper`` or ``lower``) and a peak intensity
    below ``subtle_frac`` of the person's own reference: the median intensity
    of that face's earlier expression events once it has shown
    ``subtle_history`` of them, ``subtle_ref_z`` noise units before that.
``symmetry`` (-1..1 or null)
    Left-right asymmetry of the event's change from the person's own neutral
    (the segmenter's baseline at the event, so a face that rests a little
    lopsided reads symmetric when both sides move alike): over the bilateral
    channel pairs (:data:`SYMMETRY_PAIRS`: the blendshapes ``...Left``/
    ``...Right`` and the geometry ``geo_..._L``/``_R``), each side's change
    ``|apex - baseline|`` in AU scale (over the channel's ``full`` change of
    :data:`detector.stages.features.AU_TABLE`), ``sum(L - R) / sum(L + R)``:
    each pair's own one-sidedness ``(L - R) / (L + R)`` weighted by its own
    activation ``L + R``.  +1 = the subject's left side only, -1 = the right
    side only, 0 = symmetric; null when the pairs moved less than
    ``symmetry_min`` in all.  Smile-aware: a pair whose two sides moved the
    same way (both up or both down: a smile's corners, cheeks, dimples) is a
    bilateral action, and its one-sidedness counts only beyond
    ``symmetry_pair_tolerance`` (rescaled to 0..1), so the graded left/right
    differences of a symmetric smile do not add up to a one-sided event while
    a side that stayed still (or moved the other way) still counts in full.
    Measured on the channels, not on the AU estimates: issue 17's AU14 reads
    the lip-corner lift of one side *over the other*, a difference that turns
    a graded corner asymmetry into a one-sided AU and a one-sided corner drop
    into an AU14 on the other side.  :func:`side_difference` is the one
    function behind it and behind the classifier's per-AU one-sidedness
    feature (``detector.lab.training.features``: contempt is one-sided).
``onset_speed`` / ``offset_speed`` (1/s or null)
    The event's trace is the face's channels projected on the apex change
    (``apex - baseline``), 0 at the baseline; normalised to its own peak it
    runs 0..1.  Speed = 0.6 / (time from 20 % to 80 % of the peak), on the
    way up (onset) and down (offset): a raised-cosine rise of R seconds gives
    1.46 / R.  The rise is measured from the lowest point before the peak when
    the trace starts above 0 but below half the peak (an onset found a frame
    late).  Null when the trace has fewer than 3 frames, starts at half its
    peak or more, or never comes back below 20 % of its peak before the offset.
``timing`` (``felt`` / ``deliberate`` / ``unclear``)
    Ekman & Friesen (1982, "Felt, false and miserable smiles") and Frank,
    Ekman & Friesen (1993, J. Pers. Soc. Psychol. 64:83-93): felt (enjoyment)
    expressions are smooth, symmetric and last about 0.5-4 s; false ones are
    more often one-sided, start abruptly, and last too long or stop too
    suddenly.  Schmidt et al. (2006) measured greater onset and offset speed
    in deliberate smiles.  The numbers are ours, set on the synthetic tune
    faces (``benchmarks/synth_ekman.py``), not taken from those papers:
    ``deliberate`` when the onset speed >= ``onset_abrupt`` or the offset
    speed >= ``offset_abrupt`` or ``|symmetry|`` > ``symmetry_deliberate``
    (not for contempt, one-sided by definition) or it lasts longer than
    ``felt_max_s``; ``felt`` when the onset speed <= ``onset_smooth``, the
    offset is not abrupt, ``|symmetry|`` <= ``symmetry_felt`` (or not
    measurable) and it lasts ``felt_min_s``..``felt_max_s``; otherwise
    ``unclear`` -- always for micro-expressions (shorter than the felt
    range, too brief for the timing markers) and when the onset speed is not
    measurable.
``duchenne`` (bool or null; happiness only, null otherwise)
    AU6 (cheek raiser) beside AU12 at the apex: ``AU6 >= duchenne_au6_min``
    and ``AU6 >= duchenne_ratio * AU12`` (the larger side of each).  The
    estimator reads some AU6 from any smile (the cheek rises with the lip
    corners), hence the ratio.  Null when AU6 cannot be measured: the eyes
    are closed at the apex (AU45 >= ``eyes_closed_au45``).
``masks`` (object or null)
    Set on a macro-expression of emotion B that starts within
    ``mask_window_s`` after the offset of a micro-expression of another
    emotion A of the same face (neither neutral, B starting after A's apex):
    ``{"emotion", "kind", "onset", "onset_frame", "offset"}`` of A.  Events
    are written as they are found and never rewritten, so the link sits on
    the later event; :func:`masked_by` derives the reverse link (what the
    report shows on the earlier event) from a finished list.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

from detector.core.facs import AU_NAMES
from detector.core.options import EkmanOptions
from detector.stages.features import AU_TABLE, CHANNELS

TIMINGS: tuple[str, ...] = ("felt", "deliberate", "unclear")

_AU = {n: i for i, n in enumerate(AU_NAMES)}


# --------------------------------------------------------------------------- rules


#: Left/right channel pairs that are no symmetry pair: the blink (one-eyed blinks are no asymmetric
#: expression), the per-side lip-corner distance from the midline (leaks head yaw: features.AU_TABLE
#: reads it for both sides together), and the sideways shifts jawLeft/jawRight, mouthLeft/mouthRight
#: (one movement to either side, not a left and a right muscle).
_NOT_PAIRED = ("eyeBlink", "geo_corner_out", "jaw", "mouth")


def _symmetry_pairs() -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """(names, left channel ids, right channel ids, AU scale of each pair) of the bilateral channels."""
    full: dict[str, float] = {}
    for terms in AU_TABLE.values():
        for t in terms:
            if t.corrects is None:  # a cue, not a correction: the channel change that reads as a full AU
                full[t.channel] = min(full.get(t.channel, math.inf), abs(t.full))
    names, left, right, scale = [], [], [], []
    for i, n in enumerate(CHANNELS):
        for a, b in (("Left", "Right"), ("_L", "_R")):
            if n.endswith(a) and (n[: -len(a)] + b) in CHANNELS:
                base = n[: -len(a)]
                if base in _NOT_PAIRED:
                    continue
                names.append(base)
                left.append(i)
                right.append(CHANNELS.index(base + b))
                scale.append(full.get(n, 1.0))
    return tuple(names), np.array(left, np.int64), np.array(right, np.int64), np.array(scale, np.float64)


#: The bilateral channel pairs :func:`symmetry` compares: names, left ids, right ids (``CHANNELS`` order), AU scale.
SYMMETRY_PAIRS = _symmetry_pairs()


def side_difference(x: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Left minus right of each bilateral pair (``x[..., left] - x[..., right]``), rectified ``x`` expected.

    The one measure of one-sidedness: the classifier's feature is its absolute
    value over the event strength (``detector.lab.training.features``, on the
    AU estimates), the event's ``symmetry`` its activation-weighted sum over
    the channel pairs (:func:`symmetry`).
    """
    return x[..., left] - x[..., right]


def symmetry(channel_delta: np.ndarray, min_total: float, pair_tolerance: float) -> float | None:
    """-1..1 left-right asymmetry of a channel change ``apex - baseline`` (``CHANNELS`` order); None if the pairs
    moved less than ``min_total`` (``[ekman] symmetry_min``).  ``pair_tolerance``: ``[ekman]
    symmetry_pair_tolerance``, 0 = every pair counts in full (the rule of the module doc)."""
    d = np.asarray(channel_delta, np.float64)
    if d.shape != (len(CHANNELS),):
        raise ValueError(f"symmetry: expected {len(CHANNELS)} channels, got shape {d.shape}")
    d = np.where(np.isfinite(d), d, 0.0)
    _, left, right, scale = SYMMETRY_PAIRS
    x = np.zeros_like(d)
    x[left] = np.abs(d[left]) / scale  # each side's change, rising or falling (a lid narrows, a corner drops)
    x[right] = np.abs(d[right]) / scale
    act = x[left] + x[right]
    total = float(np.sum(act))
    if total < max(min_total, 1e-9):
        return None
    one = side_difference(x, left, right) / np.maximum(act, 1e-12)  # each pair's own one-sidedness, -1..1
    if pair_tolerance > 0:
        both = np.sign(d[left]) * np.sign(d[right]) > 0  # both sides moved the same way: a bilateral action
        graded = np.sign(one) * np.maximum(np.abs(one) - pair_tolerance, 0.0) / max(1.0 - pair_tolerance, 1e-9)
        one = np.where(both, graded, one)
    return float(np.clip(np.sum(act * one) / total, -1.0, 1.0))


def _crossing(t: np.ndarray, s: np.ndarray, level: float) -> float | None:
    """First time the trace ``s`` reaches ``level`` (linear between frames)."""
    idx = np.nonzero(s >= level)[0]
    if idx.size == 0:
        return None
    k = int(idx[0])
    if k == 0:
        return float(t[0])
    s0, s1 = s[k - 1], s[k]
    a = (level - s0) / (s1 - s0) if s1 != s0 else 1.0
    return float(t[k - 1] + a * (t[k] - t[k - 1]))


def phase_speeds(times: np.ndarray, trace: np.ndarray, lo: float = 0.2, hi: float = 0.8) -> tuple[float | None, float | None]:
    """(onset_speed, offset_speed) of an event trace, 1/s of its peak (see the module doc)."""
    t = np.asarray(times, np.float64)
    s = np.asarray(trace, np.float64)
    ok = np.isfinite(s)
    t, s = t[ok], s[ok]
    if s.size < 3:
        return None, None
    k = int(np.argmax(s))
    peak = float(s[k])
    if not peak > 0:
        return None, None
    s = s / peak
    span = hi - lo
    up_t, up_s = t[: k + 1], s[: k + 1]
    low = float(np.min(up_s))
    if 0.0 < low < 0.5:  # the onset found a little late (real faces): the rise is from the lowest point before the peak
        up_s = (up_s - low) / (1.0 - low)
    onset = None
    if up_s.size >= 2 and up_s[0] < lo:
        # the last time the trace was below lo before the peak, then the first time above hi after it
        start = int(np.nonzero(up_s < lo)[0][-1])
        t_lo = _crossing(up_t[start:], up_s[start:], lo)
        t_hi = _crossing(up_t[start:], up_s[start:], hi)
        if t_lo is not None and t_hi is not None:
            onset = span / max(t_hi - t_lo, 1e-3)
    dn_t, dn_s = t[k:], -s[k:]
    offset = None
    if dn_s.size >= 2 and dn_s[-1] > -lo:
        t_hi = _crossing(dn_t, dn_s, -hi)
        t_lo = _crossing(dn_t, dn_s, -lo)
        if t_lo is not None and t_hi is not None:
            offset = span / max(t_lo - t_hi, 1e-3)
    return onset, offset


def timing_label(kind: str, duration_s: float, onset_speed: float | None, offset_speed: float | None,
                 sym: float | None, emotion: str, opts: EkmanOptions) -> str:
    """``felt`` / ``deliberate`` / ``unclear`` (the rule of the module doc)."""
    if kind != "macro" or emotion == "neutral" or onset_speed is None:
        return "unclear"
    one_sided = sym is not None and emotion != "contempt" and abs(sym) > opts.symmetry_deliberate
    if (onset_speed >= opts.onset_abrupt or (offset_speed is not None and offset_speed >= opts.offset_abrupt)
            or one_sided or duration_s > opts.felt_max_s):
        return "deliberate"
    symmetric = sym is None or emotion == "contempt" or abs(sym) <= opts.symmetry_felt
    if (onset_speed <= opts.onset_smooth and symmetric and opts.felt_min_s <= duration_s <= opts.felt_max_s):
        return "felt"
    return "unclear"


def duchenne(emotion: str, au_delta: np.ndarray, opts: EkmanOptions) -> bool | None:
    """AU6 beside AU12 at the apex of a happiness event; None for other emotions or when the eyes are closed."""
    if emotion != "happiness":
        return None
    x = np.asarray(au_delta, np.float64)
    if not np.all(np.isfinite(x[[_AU["AU06_L"], _AU["AU06_R"]]])):
        return None
    if max(x[_AU["AU45_L"]], x[_AU["AU45_R"]]) >= opts.eyes_closed_au45:
        return None
    au6 = max(x[_AU["AU06_L"]], x[_AU["AU06_R"]])
    au12 = max(x[_AU["AU12_L"]], x[_AU["AU12_R"]], 0.0)
    return bool(au6 >= opts.duchenne_au6_min and au6 >= opts.duchenne_ratio * au12)


def is_subtle(kind: str, region: str, intensity: float, history: Sequence[float], opts: EkmanOptions) -> bool:
    """One region only, and an intensity low against the person's own range (module doc)."""
    if kind not in ("micro", "macro") or region not in ("upper", "lower"):
        return False
    ref = float(np.median(history)) if len(history) >= max(1, opts.subtle_history) else opts.subtle_ref_z
    return bool(intensity < opts.subtle_frac * ref)


def masking_link(earlier: dict, later_onset: float, later_emotion: str, later_kind: str,
                 opts: EkmanOptions) -> bool:
    """Whether a later event (macro, another emotion) masks the earlier micro ``earlier`` (a ``masks`` dict + apex)."""
    if later_kind != "macro" or earlier["kind"] != "micro":
        return False
    if "neutral" in (later_emotion, earlier["emotion"]) or later_emotion == earlier["emotion"]:
        return False
    return earlier["apex"] < later_onset and later_onset - earlier["offset"] <= opts.mask_window_s


def masked_by(events: Sequence[Any]) -> dict[tuple[int, int], Any]:
    """The reverse of ``masks`` over a finished list: ``(face, onset_frame)`` of a masked event -> its masking event."""
    out: dict[tuple[int, int], Any] = {}
    for e in events:
        m = getattr(e, "masks", None) if not isinstance(e, dict) else e.get("masks")
        if m:
            face = e["face"] if isinstance(e, dict) else e.face
            out[(face, int(m["onset_frame"]))] = e
    return out


def smile_label(e: Any) -> str | None:
    """``Duchenne`` / ``social`` for a happiness event whose AU6 was measured, else None (overlay, report)."""
    d = e.get("duchenne") if isinstance(e, dict) else getattr(e, "duchenne", None)
    return None if d is None else ("Duchenne" if d else "social")


def mask_text(e: Any, arrow: str = "\u2192") -> str | None:
    """``masked: fear → smile`` for an event that masks an earlier one, else None (OpenCV's fonts: ``arrow="->"``)."""
    m = e.get("masks") if isinstance(e, dict) else getattr(e, "masks", None)
    if not m:
        return None
    emo = e["emotion"] if isinstance(e, dict) else e.emotion
    return f"masked: {m['emotion']} {arrow} {'smile' if emo == 'happiness' else emo}"


def overlay_tags(e: Any) -> str:
    """What the live overlay's event log adds after an event: ``  Duchenne`` / ``  social``, ``  masks fear``."""
    m = e.get("masks") if isinstance(e, dict) else getattr(e, "masks", None)
    tags = [t for t in (smile_label(e), f"masks {m['emotion']}" if m else None) if t]
    return "".join(f"  {t}" for t in tags)


def banner_text(e: Any) -> str | None:
    """The live banner of a masking event: ``masked: fear -> smile  Duchenne`` (None for other events)."""
    t = mask_text(e, "->")
    return None if t is None else t + "".join(f"  {x}" for x in (smile_label(e),) if x)


# --------------------------------------------------------------------------- streaming


class EkmanTracker:
    """Per-face state for the rules: a short channel history, past intensities, recent micros.

    ``push`` every frame's channels (cheap: a deque append); ``describe`` an
    event when the segmenter confirms it.  ``keep_s`` must cover an event's
    span plus the segmenter's confirmation delay.
    """

    def __init__(self, opts: EkmanOptions, keep_s: float) -> None:
        self.opts = opts
        self.keep_s = keep_s
        self._frames: deque[tuple[int, float, np.ndarray]] = deque()
        self._intensities: list[float] = []
        self._micros: deque[dict] = deque()

    def push(self, index: int, timestamp: float, channels: np.ndarray) -> None:
        self._frames.append((index, timestamp, np.array(channels, np.float32)))  # a copy: extractors may reuse buffers
        while self._frames and self._frames[0][1] < timestamp - self.keep_s:
            self._frames.popleft()

    def channels_between(self, t0: float, t1: float) -> np.ndarray:
        """(T, C) channels of the kept frames taken from ``t0`` to ``t1`` seconds (T may be 0)."""
        rows = [c for (_, t, c) in self._frames if t0 <= t <= t1]
        return np.array(rows, np.float64) if rows else np.zeros((0, 0))

    def trace(self, onset_frame: int, offset_frame: int, baseline: np.ndarray,
              apex_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(times, trace) of an event: channels projected on its apex change, 0 at the baseline."""
        d = np.asarray(apex_values, np.float64) - np.asarray(baseline, np.float64)
        d = np.where(np.isfinite(d), d, 0.0)
        dd = float(d @ d)
        rows = [(t, c) for (i, t, c) in self._frames if onset_frame <= i <= offset_frame]
        if dd <= 0 or not rows:
            return np.zeros(0), np.zeros(0)
        times = np.array([t for t, _ in rows])
        X = np.array([c for _, c in rows], np.float64) - np.asarray(baseline, np.float64)
        X = np.where(np.isfinite(X), X, np.nan)
        return times, (X @ d) / dd

    def describe(self, seg: Any, emotion: str, au_delta: np.ndarray) -> dict:
        """The new fields of one event (``seg``: a :class:`detector.segmenter.Segment`)."""
        opts = self.opts
        if seg.kind not in ("micro", "macro"):
            return {}
        times, tr = self.trace(seg.onset_frame, seg.offset_frame, seg.baseline, seg.apex_values)
        on, off = phase_speeds(times, tr)
        sym = symmetry(np.asarray(seg.apex_values, np.float64) - np.asarray(seg.baseline, np.float64),
                       opts.symmetry_min, opts.symmetry_pair_tolerance)
        out: dict[str, Any] = {
            "subtle": is_subtle(seg.kind, seg.region, float(seg.intensity), self._intensities, opts),
            "symmetry": sym,
            "onset_speed": on,
            "offset_speed": off,
            "timing": timing_label(seg.kind, seg.offset - seg.onset, on, off, sym, emotion, opts),
            "duchenne": duchenne(emotion, au_delta, opts),
            "masks": None,
        }
        self._intensities.append(float(seg.intensity))
        while self._micros and seg.onset - self._micros[0]["offset"] > opts.mask_window_s:
            self._micros.popleft()
        for m in reversed(self._micros):  # the latest micro that fits
            if masking_link(m, seg.onset, emotion, seg.kind, opts):
                out["masks"] = {k: m[k] for k in ("emotion", "kind", "onset", "onset_frame", "offset")}
                break
        if seg.kind == "micro":
            self._micros.append({"emotion": emotion, "kind": seg.kind, "onset": round(seg.onset, 6),
                                 "onset_frame": int(seg.onset_frame), "offset": round(seg.offset, 6),
                                 "apex": seg.apex})
        return out


def keep_seconds(segmenter_config: Any) -> float:
    """History an :class:`EkmanTracker` needs for the segmenter's longest event and its confirmation delay."""
    c = segmenter_config
    return float(c.preroll_s + c.max_duration_s + c.smooth_s + c.head_speed_lag_s + 2.0)


def label_counts(e: Any) -> dict[str, int]:
    """The summary's counts of one event: masked (the events that mask an earlier one), subtle, Duchenne,
    social, felt, deliberate."""
    return {"masked": int(bool(e.masks)), "subtle": int(bool(e.subtle)), "Duchenne": int(e.duchenne is True),
            "social": int(e.duchenne is False), "felt": int(e.timing == "felt"),
            "deliberate": int(e.timing == "deliberate")}


def summary_line(counts: Any) -> str:
    """``labels            masked 1, subtle 2, Duchenne 1, ...`` for the end-of-run table ("" when none)."""
    parts = [f"{k} {counts[k]}" for k in ("masked", "subtle", "Duchenne", "social", "felt", "deliberate")
             if counts.get(k)]
    return f"labels            {', '.join(parts)}\n" if parts else ""


def card_labels(e: Any) -> list[str]:
    """The report card's line of labels for one event (empty for eye kinds)."""
    if e.kind not in ("micro", "macro"):
        return []
    out = []
    if e.subtle:
        out.append("subtle")
    if e.symmetry is not None:
        out.append(f"symmetry {e.symmetry:+.2f}")
    if e.onset_speed is not None or e.offset_speed is not None:
        f = lambda v: "-" if v is None else f"{v:.1f}/s"  # noqa: E731
        out.append(f"onset {f(e.onset_speed)}, offset {f(e.offset_speed)}")
    out.append(f"timing {e.timing}")
    if smile_label(e):
        out.append(smile_label(e))
    if mask_text(e):
        out.append(mask_text(e))
    return out


def mask_links(events: Sequence[Any]) -> tuple[dict[int, int], dict[int, int]]:
    """(masks, masked_by) as list indices: the index of a masking event -> the masked one's, and back."""
    where = {(e.face, e.onset_frame): i for i, e in enumerate(events)}
    fwd: dict[int, int] = {}
    for i, e in enumerate(events):
        if e.masks:
            j = where.get((e.face, int(e.masks["onset_frame"])))
            if j is not None:
                fwd[i] = j
    return fwd, {j: i for i, j in fwd.items()}
