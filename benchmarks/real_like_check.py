"""Does the real-like band look like real micro-expressions to MediaPipe?

Measures, on the MediaPipe features of the real-like band (``run_suite.py --band real_like``
caches them), the figures that ``benchmarks/data/real_me_stats.json`` gives for 73 real
micro-expressions, and prints both side by side (quantiles p10, p25, p50, p75, p90 over events):

* the strongest blendshape channel's peak deviation from its onset level (blendshape units)
  and its per-frame SNR against white frame noise (the strongest channel is the one with
  the largest peak deviation over its noise);
* how far that channel still is from its onset level at the offset, over its peak deviation;
* onset to peak and peak to offset of that channel, ms;
* which channel family is strongest (eye, brow, mouth);
* per blendshape, the peak deviation from the onset level (``--channels``), gaze channels
  (eyeLook*) included as in the real figures: they are not detection channels, but the cache
  keeps every blendshape.

Usage::

    python benchmarks/run_suite.py --band real_like --split tune --fps 200 --no-real   # once: features
    python benchmarks/real_like_check.py --split tune
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import synth  # noqa: E402
from benchmarks.run_suite import DEFAULT_WORK, suite_features, white_noise, with_real_noise  # noqa: E402
from detector.stages.features import CHANNELS  # noqa: E402
from detector.stages.landmarks import BLENDSHAPE_NAMES  # noqa: E402

_BLENDSHAPES = np.array([not c.startswith("geo_") for c in CHANNELS])
_RAW_BS = [n for n in BLENDSHAPE_NAMES if n != "_neutral"]
_Q = (10, 25, 50, 75, 90)


def event_figures(track, truth: dict, fps: float) -> dict | None:
    """The real_me_stats figures of one truth event, measured on the blendshape channels."""
    on, off = truth["onset_frame"], truth["offset_frame"]
    X, names = blendshapes(track)
    if not track.present[on:off + 1].all():
        return None
    lead = X[max(0, on - int(0.5 * fps)):on + 1]
    noise = (white_noise(lead) if len(lead) > 5 else white_noise(X)) + 1e-6
    dev = np.abs(X[on:off + 1] - X[on])
    peak = dev.max(axis=0)
    gaze = np.array([n.startswith("eyeLook") for n in names])
    c = int(np.argmax(np.where(gaze, -np.inf, peak / noise)))  # as the real figure: gaze channels aside
    k = int(np.argmax(dev[:, c]))
    return {
        "channel": names[c],
        "peaks": dict(zip(names, peak.tolist())),
        "top3": [names[i] for i in np.argsort(-(peak / noise))[:3]],
        "noise": dict(zip(names, noise.tolist())),
        "peak": float(peak[c]),
        "snr": float(peak[c] / noise[c]),
        "residual": float(dev[-1, c] / max(peak[c], 1e-9)),
        "rise_ms": k / fps * 1000.0,
        "fall_ms": (off - on - k) / fps * 1000.0,
    }


def blendshapes(track) -> tuple[np.ndarray, list[str]]:
    """(N, B) blendshape columns of a cached track and their names: all 51 of MediaPipe's
    (``_neutral`` aside) when the cache kept them, else the detection channels' blendshapes."""
    if track.raw is not None:
        return track.raw[:, 1:len(BLENDSHAPE_NAMES)], _RAW_BS
    return track.X[:, _BLENDSHAPES], [c for c in CHANNELS if not c.startswith("geo_")]


def channel_table(rows: Sequence[dict], real: dict, prefixes: Sequence[str] = ("eye", "brow")) -> str:
    """Per blendshape (names starting with one of ``prefixes``): peak deviation from the onset
    level, p25 / p50 / p75 over events, measured and real."""
    ref = real["blendshape_peak_deviation_from_onset"]
    top3 = Counter(n for r in rows for n in r["top3"])
    real_top3 = real["blendshape_in_top3_by_snr_count"]
    L = [f"{'peak deviation from onset, p25 p50 p75: real-like (measured), real':66s} "
         f"in top 3 by SNR (real-like /{len(rows)}, real /{real['events']}); white noise p50 (real-like, real)"]
    for name in _RAW_BS:
        if not name.startswith(tuple(prefixes)) or not all(name in r["peaks"] for r in rows):
            continue
        mine = np.percentile([r["peaks"][name] for r in rows], (25, 50, 75))
        theirs = ref[name][1:4] if name in ref else [np.nan] * 3
        noise = np.median([r["noise"][name] for r in rows]), real["blendshape_white_noise_sd_per_frame"][name][2]
        L.append(f"{name:22s} {' '.join(f'{x:6.3f}' for x in mine):21s} {' '.join(f'{x:6.3f}' for x in theirs):21s} "
                 f"{top3[name]:3d} {real_top3.get(name, 0):3d}    {noise[0]:6.4f} {noise[1]:6.4f}")
    return "\n".join(L)


def family(channel: str) -> str:
    for prefix, name in (("eyeBlink", "eyeBlink"), ("eyeSquint", "eyeSquint"), ("eye", "eye other"),
                         ("brow", "brow")):
        if channel.startswith(prefix):
            return name
    return "mouth/cheek/nose/jaw"


def compare(rows: Sequence[dict], real: dict) -> str:
    def q(v):
        return " ".join(f"{x:8.3f}" for x in np.percentile(v, _Q))

    L = [f"{'figure (p10 p25 p50 p75 p90)':44s} {'real-like (measured)':44s} real"]
    pairs = (
        ("strongest channel peak deviation", [r["peak"] for r in rows], None),
        ("strongest channel SNR (per frame)", [r["snr"] for r in rows], None),
        ("offset residual / peak deviation", [r["residual"] for r in rows],
         real["offset_residual_over_peak_deviation_strongest_channel"]),
        ("onset to peak, ms", [r["rise_ms"] for r in rows], real["onset_to_peak_ms_of_strongest_channel"]),
        ("peak to offset, ms", [r["fall_ms"] for r in rows], real["peak_to_offset_ms_of_strongest_channel"]),
    )
    for name, mine, theirs in pairs:
        ref = " ".join(f"{x:8.3f}" for x in theirs) if theirs else "(median 0.044, quartiles 0.019/0.164; SNR 7-14-64)"
        L.append(f"{name:44s} {q(mine):44s} {ref}")
    fam = Counter(family(r["channel"]) for r in rows)
    L.append("strongest channel family: " + ", ".join(f"{k} {v}/{len(rows)}" for k, v in fam.most_common())
             + "   (real: eyeBlink 26/70, eyeSquint 8/70, brow 13/70, mouth the rest)")
    return "\n".join(L)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=tuple(synth.SPLITS), default="tune")
    ap.add_argument("--fps", type=float, default=200.0)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--real-noise", action="store_true", help="with run_suite.py --real-noise's added frame noise")
    ap.add_argument("--channels", action="store_true", help="also the peak deviation of every eye and brow blendshape")
    args = ap.parse_args(argv)
    items = suite_features(args.split, args.fps, args.seed, args.clips, args.work, band="real_like", progress=False)
    if args.real_noise:
        items = [(n, t, m, with_real_noise(tr, n, args.seed, synth.real_stats())) for n, t, m, tr in items]
    rows = [r for _, truth, _, track in items for t in truth if t["variant"] == "real_like"
            for r in [event_figures(track, t, args.fps)] if r is not None]
    print(f"real-like band, split={args.split}, {args.fps:g} fps, seed {args.seed}"
          f"{', real frame noise' if args.real_noise else ''}: {len(rows)} events")
    print(compare(rows, synth.real_stats()))
    if args.channels:
        print(channel_table(rows, synth.real_stats()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
