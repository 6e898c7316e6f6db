"""Contact sheets of the events on a real clip, for reviewing them by eye.

``run_suite.py --real`` counts an event as a false alarm unless it overlaps a
facial action listed in ``benchmarks/data/real_review.csv``.  When the
detector changes, new events appear that nobody has looked at; this script
draws each of them (the frame 0.5 s before, onset, midway, apex, offset, with
kind, region, emotion, duration and whether the review file already covers
it) so that a person can decide and add a row to the CSV.

Usage::

    python benchmarks/review_events.py CLIP [--out DIR] [--all] [--set SECTION.KEY=VALUE ...]

Writes ``DIR/<clip>_<n>.png`` (default ``DIR`` = /tmp/microexpr_review), five
events a sheet; without ``--all`` only the events the review file does not
cover.  Uses the same cached features as ``run_suite.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make ``detector`` and ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run_suite import (  # noqa: E402
    DEFAULT_WORK,
    _apply_sets,
    _video_frames,
    load_review,
    real_features,
    reviewed_action,
    spot,
)
from detector.run.config import load_config  # noqa: E402

THUMB_H = 200  # px, height of one frame on the sheet


def _thumb(frame: np.ndarray, label: str) -> np.ndarray:
    h, w = frame.shape[:2]
    t = cv2.resize(frame, (max(1, round(w * THUMB_H / h)), THUMB_H), interpolation=cv2.INTER_AREA)
    cv2.putText(t, label, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
    return t


def sheet_rows(frames: list[np.ndarray], events: list, review: list, fps: float) -> list[np.ndarray]:
    """One image row per event: 5 thumbnails under a caption."""
    rows = []
    last = len(frames) - 1
    for k, e in enumerate(events):
        on, ap, off = e.onset_frame, e.apex_frame, e.offset_frame
        pre = max(0, on - round(0.5 * fps))
        picks = [(pre, f"pre {pre}"), (on, f"onset {on}"), ((on + ap) // 2, "mid"), (ap, f"apex {ap}"),
                 (off, f"offset {off}")]
        row = np.hstack([_thumb(frames[min(i, last)], s) for i, s in picks])
        seen = reviewed_action(review, e.onset, e.offset)
        cap = (f"{k}: {e.onset:.2f}-{e.offset:.2f} s {e.kind} {e.region} {e.emotion} {e.duration_ms:.0f} ms "
               f"z {e.intensity:.1f}  review: {seen or 'NOT COVERED'}")
        bar = np.zeros((18, row.shape[1], 3), np.uint8)
        cv2.putText(bar, cap, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.vstack([bar, row]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--out", type=Path, default=Path("/tmp/microexpr_review"))
    ap.add_argument("--all", action="store_true", help="also the events the review file already covers")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    args = ap.parse_args(argv)
    if not args.clip.is_file():
        print(f"review_events: error: {args.clip}: no such file", file=sys.stderr)
        return 2
    config = _apply_sets(load_config(), args.set)
    track = real_features(args.clip, DEFAULT_WORK, config)
    review = load_review().get(args.clip.name, [])
    events = [e for e in spot(track, config) if e.kind != "blink"]
    if not args.all:
        events = [e for e in events if reviewed_action(review, e.onset, e.offset) is None]
    print(f"{args.clip.name}: {len(events)} event(s) to review")
    if not events:
        return 0
    frames = [f for _, _, f in _video_frames(args.clip)]  # decoded as for the features
    fps = float(len(track.times) - 1) / float(track.times[-1] - track.times[0]) if len(track.times) > 1 else 25.0
    rows = sheet_rows(frames, events, review, fps)
    args.out.mkdir(parents=True, exist_ok=True)
    for n in range(0, len(rows), 5):
        part = rows[n:n + 5]
        width = max(r.shape[1] for r in part)
        part = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in part]
        p = args.out / f"{args.clip.stem}_{n // 5}.png"
        cv2.imwrite(str(p), np.vstack(part))
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
