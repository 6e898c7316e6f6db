"""``microexpr train``: its options and the run."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from detector.app.eyetrain.errors import TrainError
from detector.app.eyetrain.faces import session_faces
from detector.app.eyetrain.mirror import run_mirror
from detector.app.eyetrain.options import MAX_DURATION_MS, MIN_DURATION_MS, TrainOptions
from detector.app.eyetrain.render import PreparedFace
from detector.app.eyetrain.score import ScoreBook, data_dir, summary_lines
from detector.app.eyetrain.session import (
    WINDOW_NAME,
    Presenter,
    Session,
    new_session_id,
    pick_seed,
)
from detector.app.eyetrain.xgrab import GrabError, XGrabber, x_display_problem
from detector.app.live import Window
from detector.stages.source import SourceError

_DEFAULTS = {f.name: f.default for f in fields(TrainOptions)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--faces", metavar="DIR|camera",
                   help="faces to train on: a folder of your photos (one frontal face each), or 'camera' for a "
                        "webcam snapshot (default: the bundled faces of a source checkout)")
    p.add_argument("--rounds", type=int, default=_DEFAULTS["rounds"], metavar="N",
                   help=f"rounds in the session (default {_DEFAULTS['rounds']})")
    p.add_argument("--duration-ms", type=float, default=_DEFAULTS["start_duration_ms"], metavar="MS",
                   help=f"first flash duration, {MIN_DURATION_MS:g}..{MAX_DURATION_MS:g} ms (default "
                        f"{_DEFAULTS['start_duration_ms']:g}); right answers shorten it, rounded to whole "
                        "display frames")
    p.add_argument("--seed", type=int, metavar="S", help="seed of the rounds (default: a random one, printed)")
    p.add_argument("--refresh-hz", type=float, metavar="HZ",
                   help="the display's refresh rate (default: asked of the X server, else 60 assumed)")
    p.add_argument("--mirror", action="store_true",
                   help="end with mirror rounds on the webcam: show each emotion, hear which AUs are missing")
    p.add_argument("--mirror-seconds", type=float, default=_DEFAULTS["mirror_s"], metavar="S",
                   help=f"mirror rounds: seconds to show each emotion (default {_DEFAULTS['mirror_s']:g})")
    p.add_argument("--camera", type=int, default=_DEFAULTS["camera"], metavar="INDEX",
                   help="webcam for --faces camera and --mirror (default 0)")
    p.add_argument("--source", metavar="VIDEO", help="a video file played as the webcam (demos, tests)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where the score CSVs go (default $MICROEXPR_DATA, else $XDG_DATA_HOME/microexpr, "
                        "else ~/.local/share/microexpr)")
    p.add_argument("--grab-dir", metavar="DIR",
                   help="test hook: save the X server's copy of the window around each flash and each "
                        "feedback screen, with what was shown in each frame")


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    """Check the arguments (one-line errors) and turn them into :class:`TrainOptions`."""
    if args.rounds < 1:
        raise TrainError("--rounds must be at least 1")
    if not MIN_DURATION_MS <= args.duration_ms <= MAX_DURATION_MS:
        raise TrainError(f"--duration-ms must be within {MIN_DURATION_MS:g}..{MAX_DURATION_MS:g} "
                         f"(got {args.duration_ms:g})")
    if args.refresh_hz is not None and not 20.0 <= args.refresh_hz <= 1000.0:
        raise TrainError(f"--refresh-hz must be within 20..1000 (got {args.refresh_hz:g})")
    if not 0.5 <= args.mirror_seconds <= 60.0:
        raise TrainError(f"--mirror-seconds must be within 0.5..60 (got {args.mirror_seconds:g})")
    if args.faces not in (None, "camera") and not Path(args.faces).is_dir():
        raise TrainError(f"--faces {args.faces}: no such folder (give a folder of photos, or 'camera')")
    if args.source is not None and not Path(args.source).is_file():
        raise TrainError(f"--source {args.source}: no such file")
    for name in ("data_dir", "grab_dir"):
        d = getattr(args, name)
        if d is not None and Path(d).exists() and not Path(d).is_dir():
            raise TrainError(f"--{name.replace('_', '-')} {d}: not a folder")
    return TrainOptions(
        faces=args.faces, rounds=args.rounds, start_duration_ms=args.duration_ms, seed=args.seed,
        refresh_hz=args.refresh_hz, camera=args.camera, source=args.source, mirror=args.mirror,
        mirror_s=args.mirror_seconds,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        grab_dir=Path(args.grab_dir) if args.grab_dir else None,
    )


def _info(msg: str) -> None:
    print(f"microexpr: {msg}", file=sys.stderr, flush=True)


def _grabber(opts: TrainOptions) -> XGrabber | None:
    if opts.grab_dir is None:
        return None
    try:
        return XGrabber(WINDOW_NAME)
    except GrabError as e:
        raise TrainError(f"--grab-dir: {e}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``microexpr train``; returns the exit code."""
    opts = options_from_args(args)
    seed = pick_seed(opts.seed)
    try:
        window = Window(WINDOW_NAME)
    except SourceError as e:
        raise TrainError(str(e).replace(", or run with --no-window", "")) from None
    faces = [PreparedFace(f) for f in session_faces(opts.faces, opts.camera, opts.source)]
    problem = x_display_problem()
    if problem:
        raise TrainError(problem)
    _info(f"seed {seed}; faces: {', '.join(f.name for f in faces)}")
    folder = data_dir(opts.data_dir)
    try:
        book = ScoreBook(folder, new_session_id())
    except OSError as e:
        raise TrainError(f"score files: {e}") from None
    grabber = _grabber(opts)
    try:
        session = Session(opts, faces, Presenter(window, grabber), book, seed, log=_info)
        answers = session.run()
        if opts.mirror and not session.quit:
            book.save_mirror([a.row() for a in run_mirror(window, opts, _info)])
    except (OSError, SourceError) as e:
        raise TrainError(str(e)) from None
    finally:
        window.close()
        if grabber is not None:
            grabber.close()
    print("\n".join(summary_lines(answers)))
    if answers:
        print(f"scores: {book.answers_path} (per answer), {book.summary_path} (per emotion, duration, half)")
    return 0
