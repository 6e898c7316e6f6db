"""Events: their timing and profile (EventSpec), and the truth rows they become."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from detector.core import facs
from detector.core.options import MICRO_MAX_S

from benchmarks.synthkit.faces import band_of, region_of

# ---------------------------------------------------------------------------
# Events and their profiles
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    """One event to render.  Times in seconds; they are rounded to frames of the clip.

    ``aus``: AU name -> intensity 0..1 at apex (``AU12`` = both sides).  For
    ``kind`` ``"distractor"`` use ``variant`` ``head_drift`` (``drift``:
    tx, ty [IOD], rotation [deg], scale factor, the pose reached at the end,
    relative to the neutral framing), ``flicker`` (``flicker``: amplitude
    [fraction], frequency [Hz]) or ``light_step`` (``flicker``: gain change
    [fraction], unused).
    """

    onset: float
    rise: float
    fall: float
    hold: float = 0.0
    aus: dict[str, float] = field(default_factory=dict)
    kind: str = "micro"  # micro | macro (the truth row sets it from the drawn length) | blink | distractor
    emotion: str = "neutral"
    variant: str = "prototype"
    drift: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    flicker: tuple[float, float] = (0.0, 0.0)
    residual: float = 0.0  # fraction of the apex kept after the offset: the face settles at a new neutral


@dataclass(frozen=True)
class _Timed:
    spec: EventSpec
    onset_frame: int
    apex_start: int
    apex_end: int
    offset_frame: int

    @property
    def apex_frame(self) -> int:
        return (self.apex_start + self.apex_end) // 2


def _frames_of(spec: EventSpec, fps: float) -> _Timed:
    k0 = int(round(spec.onset * fps))
    ka0 = k0 + max(1, int(round(spec.rise * fps)))
    ka1 = ka0 + max(0, int(round(spec.hold * fps)))
    k1 = ka1 + max(1, int(round(spec.fall * fps)))
    return _Timed(spec, k0, ka0, ka1, k1)


def profile_values(t: _Timed, frames: np.ndarray) -> np.ndarray:
    """0..1 intensity of an event at the given frame indices: raised-cosine rise, plateau, raised-cosine fall
    to ``spec.residual`` (0 = back at neutral), which then stays."""
    k = np.asarray(frames, dtype=np.float64)
    out = np.zeros(k.shape)
    rise = (k > t.onset_frame) & (k < t.apex_start)
    out[rise] = 0.5 - 0.5 * np.cos(np.pi * (k[rise] - t.onset_frame) / (t.apex_start - t.onset_frame))
    out[(k >= t.apex_start) & (k <= t.apex_end)] = 1.0
    fall = (k > t.apex_end) & (k < t.offset_frame)
    r = t.spec.residual
    out[fall] = r + (1.0 - r) * (0.5 + 0.5 * np.cos(np.pi * (k[fall] - t.apex_end) / (t.offset_frame - t.apex_end)))
    out[k >= t.offset_frame] = r
    return out



def write_truth(path: str | Path, rows: Sequence[dict]) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def read_truth(path: str | Path) -> list[dict]:
    """Truth rows of a ``.truth.jsonl`` file (dicts with the Event keys plus variant, peak_disp_iod, band)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def drawn_length(spec: EventSpec) -> float:
    """Onset to offset of an event as drawn, in seconds (``rise + hold + fall``), before its times are
    rounded to frames: what the face did, which a coder labels micro or macro.  The rounded truth can be a
    frame longer (a 0.48 s event lasts 15 frames, 0.500 s, at 30 fps)."""
    return spec.rise + spec.hold + spec.fall


def _truth_row(t: _Timed, fps: float, aus: dict[str, float], peak: float, clip_duration: float) -> dict:
    s = t.spec
    if s.kind in ("blink", "distractor"):
        kind = s.kind
    else:
        kind = "micro" if drawn_length(s) < MICRO_MAX_S else "macro"
    region = "upper" if kind == "blink" else (region_of(list(aus)) if aus else "full")
    emotion = s.emotion if kind in ("micro", "macro") else "neutral"
    onset, apex, offset = t.onset_frame / fps, t.apex_frame / fps, t.offset_frame / fps
    return {
        "face": 0,
        "onset": round(onset, 6),
        "apex": round(apex, 6),
        "offset": round(offset, 6),
        "onset_frame": t.onset_frame,
        "apex_frame": t.apex_frame,
        "offset_frame": t.offset_frame,
        "kind": kind,
        "region": region,
        "emotion": emotion,
        "confidence": 1.0,
        "scores": {e: float(e == emotion) for e in facs.EMOTIONS},
        "action_units": {k: round(float(v), 4) for k, v in sorted(aus.items())},
        "intensity": round(peak, 4),
        "duration_ms": round((offset - onset) * 1000.0, 3),
        "variant": s.variant,
        "peak_disp_iod": round(peak, 4),
        "band": band_of(peak),
        "fps": fps,
        "clip_duration": round(clip_duration, 6),
    }
