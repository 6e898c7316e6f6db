"""How far a real blink drags MediaPipe's brow, cheek and lip-corner channels, per person (issue 17).

On the real-like band, a partial blink made AU4 (brow lowerer) read nothing: MediaPipe moves the
whole mesh with the lids.  This script measures that drag where the lids really close: on the real
clips (``tests/data`` and the talking-face clips of ``benchmarks/fetch_talking_clips.py``), for every
blink (the mean of the two eyeBlink blendshapes rises by :data:`MIN_RISE` or more above its median
over the 0.5-0.1 s before, deepest within 0.2 s), the change of each channel from that reference
window to the blink's deepest frame, per unit of eyeBlink rise.  Blinks are found on the lids
alone, not by the segmenter (which reports few of them on these clips: it measures MediaPipe, not
the detector).  It prints the median per clip (one person each), and what a blink of one unit
reads as AU4 / AU6 / AU12 through the current AU map.  A drag that changes sign from person to person
cannot be cancelled by one fixed correction in the AU map.

Usage::

    python benchmarks/fetch_talking_clips.py        # once
    python benchmarks/blink_drag.py [--talking /tmp/microexpr_talking]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run_suite as RS  # noqa: E402
from benchmarks.fetch_talking_clips import present  # noqa: E402
from detector.core import facs  # noqa: E402
from detector.run.config import load_config  # noqa: E402
from detector.stages.features import CHANNELS, estimate_au_deltas  # noqa: E402

#: Channels shown, IOD units x 1000 for geometry (blendshape units x 1000 for browDown).
SHOWN = ("geo_brow_inner_L", "geo_brow_inner_R", "geo_brow_gap", "browDownLeft", "geo_cheek_L",
         "geo_corner_up_L", "geo_corner_up_R")
AUS = ("AU04_L", "AU06_L", "AU12_L")
BEFORE_S = (0.5, 0.1)  # the reference window before the blink's onset, seconds
MIN_RISE = 0.25  # eyeBlink rise of a blink, blendshape units (real blinks: 0.3-0.7)
DEEPEST_S = 0.2  # the deepest frame lies within this long after the rise is crossed, seconds
_LIDS = [CHANNELS.index("eyeBlinkLeft"), CHANNELS.index("eyeBlinkRight")]


def blink_drags(track: RS.Track) -> np.ndarray:
    """(n, C) channel change per unit eyeBlink rise of each blink of ``track``."""
    t, X, ok = track.times, track.X.astype(np.float64), track.present
    lids = X[:, _LIDS].mean(axis=1)
    ref_lo = np.searchsorted(t, t - BEFORE_S[0])  # each frame's reference window, [lo, hi) frame indices
    ref_hi = np.searchsorted(t, t - BEFORE_S[1], side="right")
    out = []
    i = 0
    while i < len(t):
        ref = np.flatnonzero(ok[ref_lo[i]:ref_hi[i]]) + ref_lo[i]
        level = float(np.median(lids[ref])) if len(ref) >= 3 else np.inf
        if ok[i] and lids[i] - level >= MIN_RISE:
            span = np.flatnonzero(ok[i:np.searchsorted(t, t[i] + DEEPEST_S, side="right")]) + i
            deepest = span[np.argmax(lids[span])]
            out.append((X[deepest] - np.median(X[ref], axis=0)) / (lids[deepest] - level))
            i = int(np.searchsorted(t, t[deepest] + BEFORE_S[0]))  # the next blink needs its own still reference
            continue
        i += 1
    return np.array(out).reshape(-1, len(CHANNELS))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--talking", type=Path, default=RS.DEFAULT_TALKING, help="folder of fetch_talking_clips.py's clips")
    ap.add_argument("--work", type=Path, default=RS.DEFAULT_WORK, help="feature cache (run_suite.py's)")
    a = ap.parse_args(argv)
    config = load_config(None)
    paths = [RS.ROOT / "tests" / "data" / n for n in RS.REAL_CLIPS] + present(a.talking)
    cols = [CHANNELS.index(c) for c in SHOWN]
    aus = [facs.AU_NAMES.index(n) for n in AUS]
    print("per unit eyeBlink, median over the clip's blinks (x 1000)")
    print(f"| clip | blinks | {' | '.join(SHOWN)} | {' | '.join(AUS)} |")
    print("|---|---|" + "---|" * (len(SHOWN) + len(AUS)))
    for path in paths:
        track = RS.real_features(path, a.work, config)
        d = blink_drags(track)
        if len(d) == 0:
            print(f"| {path.name} | 0 |" + " - |" * (len(SHOWN) + len(AUS)))
            continue
        med = np.median(d, axis=0)
        au = estimate_au_deltas(med.astype(np.float32))
        print(f"| {path.name} | {len(d)} | " + " | ".join(f"{med[c] * 1000:+.1f}" for c in cols) + " | "
              + " | ".join(f"{au[i]:+.2f}" for i in aus) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
