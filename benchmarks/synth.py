"""Synthetic ground truth from real faces: clips with known expression events.

A real (near-)neutral face photo is warped, frame by frame, by smooth
displacement fields that mimic FACS action units (AUs), following an
onset -> apex -> offset intensity profile.  The truth (onset, apex, offset,
kind, emotion, region, AUs, peak landmark displacement) is written beside
each clip, so the spotting and the emotion recognition of ``microexpr`` can be
measured (``microexpr evaluate --truth clip.truth.jsonl --pred events.jsonl``).

How a clip is made
------------------
(Steps 1 and 2, framing a face and the AU displacement fields, live in the
package as :mod:`detector.lab.facewarp`, shared with ``microexpr train``; this
module re-exports those names.)

1. :func:`load_face` finds the face with MediaPipe FaceLandmarker (IMAGE mode),
   scales and crops the photo to a ``size`` x ``size`` frame with the
   inter-ocular distance (IOD, between the iris centres) at ``iod_px`` pixels,
   and finds the 478 landmarks again on that frame.
2. Each AU is a displacement field defined in the face's own frame
   (``u`` towards the subject's left, ``v`` towards the chin, both in IOD
   units) by Gaussian blobs on landmark anchors and by vertical profiles
   between landmark curves (brow edges, lid margins, lip line, chin), see
   :data:`AU_AMPLITUDE` and ``_au_field``.  Lid margins and the lip line are
   sharp boundaries: the lower lip can drop while the upper lip stays.
   Intensity 1.0 is a maximal posed action (e.g. inner brow up 12 % IOD).
3. A frame is ``cv2.remap`` of the neutral photo by a *backward* map
   ``x -> x - f(t) * B(x)`` where ``B`` is the event's displacement field at
   apex (precomputed once per event) and ``f(t)`` its 0..1 profile.  Every
   field is checked to be fold-free (the map's Jacobian stays positive).
   Head drift composes a similarity transform into the same map; brightness
   flicker is a gain; sensor noise is Gaussian.  One bilinear resampling of
   the photo per frame, at exact float positions (OpenCV 5's float-map path;
   its fixed-point maps would quantise positions to 1/32 px).  A lip gap that
   an opening AU stretches is darkened in proportion to the stretch.

Truth conventions (frames are 0-based, times are ``frame / fps`` seconds)
-----------------------------------------------------------------------
* ``onset_frame``: the last frame at neutral; motion starts right after it
  (the profile is exactly 0 at ``onset_frame`` and > 0 at ``onset_frame + 1``).
  This is the frame a segmenter finds by backtracking from the apex to where
  motion started.
* ``apex_frame``: the frame of maximum intensity (the middle of the plateau
  when the event holds its apex).
* ``offset_frame``: the first frame back at neutral (profile exactly 0).
* Event times are rounded to whole frames of the clip's rate, with at least
  one frame of rise and one of fall, so a 40 ms event lasts 2 frames
  (67 ms) at 30 fps.  ``kind`` is ``micro`` when the event as drawn
  (``rise + hold + fall``, :func:`drawn_length`) is under 0.5 s, else
  ``macro``: what the face did, as a coder labels it.  The rounded
  ``offset - onset`` can then read 0.5 s (a 0.48 s event lasts 15 frames at
  30 fps) on a ``micro`` row.
* ``peak_disp_iod``: the largest displacement of any of the 478 landmarks at
  apex, in percent of the IOD, computed exactly by inverting the backward map
  at the landmarks (what a perfect landmarker would measure).  ``band``:
  ``weak`` < 0.7 %, ``medium`` 0.7-1.5 %, ``strong`` > 1.5 %.
* ``action_units``: AU name (``AU_NAMES`` spelling) -> intensity 0..1 at apex.
  ``intensity`` repeats ``peak_disp_iod`` (the detector's own ``intensity`` is
  in noise units, so do not compare the two).
* Blinks are truth rows with ``kind`` ``blink`` (``microexpr evaluate``
  drops them from both sides).  The other distractors (``variant``
  ``head_drift`` / ``flicker`` / ``light_step``, ``kind`` ``distractor``) are
  listed in ``NAME.json`` under ``distractors`` (the evaluator accepts only
  micro/macro/blink kinds).

Rows carry every key of ``detector.core.events.Event.to_dict`` plus ``clip``,
``fps``, ``clip_duration`` (read by ``microexpr evaluate``), ``variant``,
``peak_disp_iod`` and ``band``; read them with :func:`read_truth`.

Files: ``NAME.mkv`` (FFV1, lossless; or ``NAME/000000.png`` ... with
``--format png``), ``NAME.truth.jsonl``, ``NAME.json`` (fps, n_frames,
duration, face, seed, noise, distractors, ...).  :func:`make_suite` also
writes ``annotations.csv`` (the generic layout of ``microexpr evaluate
--dataset csv DIR``; band, variant and peak in its ``notes`` column) and
``suite.json``.

API: :func:`load_face`, :class:`EventSpec`, :func:`make_clip` -> :class:`Clip`
(``frame(k)``, ``frames()``, ``write()``, ``truth``, ``meta``),
:func:`expression_event` / :func:`blink_event` / :func:`drift_event` /
:func:`flicker_event` / :func:`light_step_event`, :func:`calibrate`,
:func:`suite_plan` + :func:`build_clip` (one clip of a suite, any fps),
:func:`suite_clips`, :func:`make_suite`, :func:`smoke_clip` (a small fixed set
for tests), :func:`probe_mediapipe`.  ``SYNTH_VERSION`` changes whenever the
same seed would give different frames: put it in cache keys.  ``TRUTH_VERSION``
changes when only the truth rows would differ: keep it with cached truth.

CLI::

    python benchmarks/synth.py --out DIR --fps 200 --seed 0 --clips N \\
        --face man_video|PATH [--duration S] [--noise SIGMA] [--format ffv1|png|mp4v]
    python benchmarks/synth.py --out DIR --split tune|test --fps 200 --seed 0
    python benchmarks/synth.py --out DIR --face man_video --probe raw|ffv1|mp4v|mjpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a script: make ``detector`` and ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthkit.faces import (  # noqa: E402
    band_of,
    BANDS,
    BUILTIN_FACES,
    face_of_clip,
    face_path,
    FACES_DIR,
    load_face,
    region_of,
    SPLITS,
    SYNTH_VERSION,
    TRUTH_VERSION,
)
from benchmarks.synthkit.events import (  # noqa: E402
    drawn_length,
    EventSpec,
    profile_values,
    read_truth,
    write_truth,
)
from benchmarks.synthkit.fields import (  # noqa: E402
    calibrate,
)
from benchmarks.synthkit.render import (  # noqa: E402
    Clip,
    make_clip,
)
from benchmarks.synthkit.plan import (  # noqa: E402
    blink_event,
    drift_event,
    expression_event,
    flicker_event,
    light_step_event,
    MACRO_PEAK_RANGE,
    MICRO_PEAK_RANGE,
    schedule,
    smoke_clip,
)
from benchmarks.synthkit.suite import (  # noqa: E402
    BANDS_OF_SUITE,
    build_clip,
    build_real_like_clip,
    eye_closure_event,
    gaze_down_event,
    make_suite,
    random_clip,
    REAL_LIKE_CLIPS,
    real_like_event,
    REAL_LIKE_ONE_SIDED,
    REAL_LIKE_PARTIAL_BLINK,
    REAL_LIKE_PATTERNS,
    REAL_LIKE_PEAK_PCT,
    real_like_plan,
    REAL_LIKE_SHORT_LEAD_EVERY,
    real_stats,
    REAL_STATS_PATH,
    suite_clips,
    suite_plan,
    write_annotations_csv,
)
from benchmarks.synthkit.speaking import (  # noqa: E402
    build_speaking_clip,
    MOUTH_HELD,
    SPEAKING_CLIPS,
    speaking_plan,
    syllable_events,
    UPPER_ONLY,
)
from benchmarks.synthkit.probe import (  # noqa: E402
    format_probe,
    PROBE_EVENTS,
    probe_mediapipe,
    PROBE_MODES,
)
from detector.core.facs import PARTIALS  # noqa: E402
from detector.lab.facewarp import (  # noqa: E402  (the warp generator)
    AU_AMPLITUDE,
    au_field,
    DEFAULT_IOD_PX,
    DEFAULT_SIZE,
    expand_aus,
    Face,
    forward_displacement,
    min_jacobian,
    peak_displacement,
)

__all__ = [
    'AU_AMPLITUDE', 'au_field', 'band_of', 'BANDS', 'BANDS_OF_SUITE', 'blink_event', 'build_clip',
    'build_real_like_clip', 'BUILTIN_FACES', 'calibrate', 'Clip', 'DEFAULT_IOD_PX', 'DEFAULT_SIZE',
    'drawn_length', 'drift_event', 'EventSpec', 'expand_aus', 'expression_event', 'eye_closure_event', 'Face',
    'face_path', 'face_of_clip', 'FACES_DIR', 'flicker_event', 'format_probe', 'forward_displacement', 'gaze_down_event',
    'light_step_event', 'load_face', 'MACRO_PEAK_RANGE', 'make_clip', 'make_suite', 'MICRO_PEAK_RANGE',
    'min_jacobian', 'PARTIALS', 'peak_displacement', 'PROBE_EVENTS', 'probe_mediapipe', 'PROBE_MODES',
    'profile_values', 'random_clip', 'read_truth', 'REAL_LIKE_CLIPS', 'real_like_event',
    'REAL_LIKE_ONE_SIDED', 'REAL_LIKE_PARTIAL_BLINK', 'REAL_LIKE_PATTERNS', 'REAL_LIKE_PEAK_PCT',
    'real_like_plan', 'REAL_LIKE_SHORT_LEAD_EVERY', 'real_stats', 'REAL_STATS_PATH', 'region_of', 'schedule',
    'build_speaking_clip', 'MOUTH_HELD', 'SPEAKING_CLIPS', 'speaking_plan', 'syllable_events', 'UPPER_ONLY',
    'smoke_clip', 'SPLITS', 'suite_clips', 'suite_plan', 'SYNTH_VERSION', 'TRUTH_VERSION', 'write_annotations_csv',
    'write_truth',
]

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Synthetic expression clips with ground truth from a real face photo.")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--fps", type=float, default=200.0, help="frame rate (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--clips", type=int, default=None, help="number of clips (default: 1 with --face, the whole suite with --split)"
    )
    ap.add_argument("--face", default=None, help=f"built-in face ({', '.join(BUILTIN_FACES)}) or an image path")
    ap.add_argument("--split", choices=tuple(SPLITS), default=None, help="write the tune or test suite instead")
    ap.add_argument("--duration", type=float, default=None, help="clip length, seconds (random clips)")
    ap.add_argument(
        "--format", choices=("ffv1", "png", "mp4v"), default="ffv1", help="ffv1 (lossless .mkv; default), png, mp4v"
    )
    ap.add_argument(
        "--iod", type=float, default=DEFAULT_IOD_PX, help=f"inter-ocular distance, pixels (default {DEFAULT_IOD_PX:g})"
    )
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"frame side, pixels (default {DEFAULT_SIZE})")
    ap.add_argument(
        "--noise", type=float, default=None, help="sensor noise, grey levels (default: random per clip; 1 for --probe)"
    )
    ap.add_argument("--probe", choices=("raw", "ffv1", "mp4v", "mjpg"), default=None,
                    help="measure how much of weak warps MediaPipe registers (VIDEO, VIDEO x1000, IMAGE modes) "
                    "after this encoding; writes OUT/probe_<face>_<codec>.json")  # fmt: skip
    args = ap.parse_args(argv)
    import cv2

    try:
        if args.fps <= 0 or args.iod <= 0 or args.size < 64:
            raise ValueError("--fps and --iod must be positive, --size at least 64")
        if args.split is not None:
            if args.face is not None:
                raise ValueError("give --face or --split, not both")
            make_suite(args.out, args.fps, args.seed, args.split, args.clips, args.format, args.iod, args.size, True)
            return 0
        face = load_face(args.face or "man_video", args.iod, args.size)
        if args.probe is not None:
            noise = 1.0 if args.noise is None else args.noise
            rows = probe_mediapipe(face, args.fps, noise, args.probe, args.seed)
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            info = {"face": face.name, "fps": args.fps, "noise_sigma": noise, "codec": args.probe, "iod_px": face.iod}
            report = json.dumps({**info, "rows": rows}, indent=1) + "\n"
            (out / f"probe_{face.name}_{args.probe}.json").write_text(report)
            print(json.dumps(info))
            print(format_probe(rows))
            return 0
        for i in range(args.clips or 1):
            clip = random_clip(face, args.fps, args.seed + i, args.duration, args.noise)
            path = clip.write(args.out, f"{face.name}_s{args.seed + i}", args.format)
            print(f"{path}: {clip.n_frames} frames, {clip.meta['n_events']} expression events", file=sys.stderr)
    except (ValueError, OSError, RuntimeError, cv2.error) as e:
        print(f"synth: error: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
