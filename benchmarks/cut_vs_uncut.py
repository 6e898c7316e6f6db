"""How far a cut (chunked) analysis is from an uncut one on the same video.

    python benchmarks/cut_vs_uncut.py /tmp/long_4x.mp4 [--chunk-s 10] [--workers 2]

``analyze --workers N`` gives the same result for every N (the landmarker
restarts at a fixed grid of chunk borders in every run).  What differs from an
*uncut* run (one landmarker from the first frame to the last, as
``detector.run.pipeline.analyze_single_stream`` does) is MediaPipe's tracking trajectory after
each border.  This counts, for the default configuration and a permissive one
(more events), the events of both runs, those matched (IoU >= 0.5, the MEGC
criterion), those with identical onset/apex/offset frames, and the largest
frame shift among matched events.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def match(ref, cut) -> list[tuple[int, int, int]]:
    """Frame shifts (onset, apex, offset) of cut events matched greedily to ref events at IoU >= 0.5."""
    used: set[int] = set()
    out = []
    for e in ref:
        for j, o in enumerate(cut):
            if j in used:
                continue
            inter = min(e.offset_frame, o.offset_frame) - max(e.onset_frame, o.onset_frame) + 1
            union = max(e.offset_frame, o.offset_frame) - min(e.onset_frame, o.onset_frame) + 1
            if inter > 0 and inter / union >= 0.5:
                used.add(j)
                out.append((o.onset_frame - e.onset_frame, o.apex_frame - e.apex_frame, o.offset_frame - e.offset_frame))
                break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--chunk-s", type=float, default=None, help="default: detector.run.parallel.DEFAULT_CHUNK_S")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", metavar="OUT")
    a = ap.parse_args(argv)

    from detector.run import parallel
    from detector.run.config import load_config
    from detector.stages.landmarks import Landmarker
    from detector.run.pipeline import Analyzer, run
    from detector.stages.source import open_source

    chunk_s = a.chunk_s or parallel.DEFAULT_CHUNK_S
    with open_source(a.video) as src:
        borders = parallel.video_borders(src, chunk_s)
    if not borders:
        raise SystemExit(f"{a.video}: shorter than two chunks of {chunk_s} s: not cut, nothing to compare")
    base = load_config().replace("events", include_blinks=True)
    configs = {"default": base,
               "permissive": base.replace("segmenter", calibration_s=4.0, noise_floor=0.01, head_motion="flag")}
    res = {"video": a.video, "chunk_s": chunk_s, "borders": len(borders)}
    for name, cfg in configs.items():
        with open_source(a.video) as src, Landmarker(cfg.landmarks) as lm:
            ref = run(src, lm, Analyzer(cfg))
        cut = parallel.run_chunked(a.video, cfg, Analyzer(cfg), workers=a.workers, borders=borders)
        m = match(ref, cut)
        r = {"uncut": len(ref), "cut": len(cut), "matched": len(m),
             "identical_frames": sum(1 for x in m if x == (0, 0, 0)),
             "max_shift_frames": max((max(map(abs, x)) for x in m), default=0)}
        res[name] = r
        print(f"{name:<10} uncut {r['uncut']} events, cut {r['cut']}, matched {r['matched']} (IoU >= 0.5), "
              f"{r['identical_frames']} with identical frames, largest shift {r['max_shift_frames']} frames "
              f"({len(borders)} borders every {chunk_s:g} s)", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
