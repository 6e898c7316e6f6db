"""Command line: ``microexpr analyze | evaluate | live``.

Every failure the user can cause (missing or corrupt files, bad config,
unwritable output) ends with one line ``microexpr: error: ...`` on stderr and
exit code 2, never a traceback.  Ctrl-C ends a run cleanly (exit 130) with the
output files complete up to the last event found.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Quiet OpenCV's own logging (FFmpeg's "moov atom not found" etc.): we report
# unreadable input ourselves, in one line.  Must be set before cv2 is imported.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from detector import __version__  # noqa: E402

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """A user-facing error: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is meant for the user (imported lazily)."""
    from detector.config import ConfigError
    from detector.resources import ResourceError
    from detector.sinks import OutputError
    from detector.source import SourceError

    errs: list[type[BaseException]] = [ConfigError, ResourceError, OutputError, SourceError, CliError]
    try:
        from detector.evaluate import EvaluationError

        errs.append(EvaluationError)
    except ImportError:
        pass
    return tuple(errs)


def warn(msg: str) -> None:
    print(f"microexpr: warning: {msg}", file=sys.stderr, flush=True)


class Progress:
    """A one-line progress bar on stderr: frames done / total, fps, ETA.

    Redrawn in place at most 5 times a second on a terminal; elsewhere (logs,
    CI) a plain line every 5 seconds.
    """

    def __init__(self, total: int | None, enabled: bool = True, stream=None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = self.t0  # first line after one period, when the rate means something
        self._shown = False

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        period = 0.2 if self.tty else 5.0
        if not force and now - self._last < period:
            return
        self._last = now
        el = now - self.t0
        fps = done / el if el > 0 else 0.0
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(frac * 24)
            eta = (self.total - done) / fps if fps > 0 else float("nan")
            line = f"[{bar:<24}] {done}/{self.total} frames  {fps:6.1f} fps  ETA {eta:5.1f} s"
        else:
            line = f"{done} frames  {fps:6.1f} fps"
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self.enabled and self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- analyze


def _add_analyze(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="find expression events in a recorded video or a folder of frames",
        description="Find micro- and macro-expression events in a video file or a folder of numbered images.",
    )
    p.add_argument("input", help="video file, or folder of numbered images (then --fps is required)")
    p.add_argument("-o", "--output", metavar="EVENTS.jsonl", help="write events as JSON lines, one per event, as found")
    p.add_argument("--frames-csv", metavar="F", help="write one CSV row per frame and face (pose, blendshapes, AUs)")
    p.add_argument("--fps", type=float, help="frame rate of an image folder (frames per second)")
    p.add_argument("--max-faces", type=int, metavar="N", help="faces to track (default from config: 1)")
    p.add_argument("--config", metavar="TOML", help="settings overriding configs/default.toml")
    p.add_argument("--include-blinks", action="store_true", help="also write blink events (kind 'blink')")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("-v", "--verbose", action="store_true", help="echo the configuration used")
    p.set_defaults(func=cmd_analyze)


def _config_from_args(args):
    from detector.config import load_config

    cfg = load_config(args.config)
    if getattr(args, "max_faces", None) is not None:
        if args.max_faces < 1:
            raise CliError("--max-faces must be at least 1")
        cfg = cfg.replace("landmarks", max_faces=args.max_faces)
    if getattr(args, "include_blinks", False):
        cfg = cfg.replace("events", include_blinks=True)
    return cfg


def cmd_analyze(args) -> int:
    from detector.features import POSE_NAMES, estimate_aus
    from detector.landmarks import BLENDSHAPE_NAMES, Landmarker
    from detector.pipeline import Analyzer, RunStats, run
    from detector.sinks import FramesCsvSink, JsonlEventSink, Summary
    from detector.source import open_source

    cfg = _config_from_args(args)
    if args.verbose:
        print("# configuration used\n" + cfg.to_toml(), file=sys.stderr)
    if args.fps is not None and not args.fps > 0:
        raise CliError("--fps must be a positive number of frames per second")

    summary = Summary(source=str(args.input))
    stats = RunStats()
    with open_source(args.input, fps=args.fps) as src:
        analyzer = Analyzer(cfg)
        events_sink = JsonlEventSink(args.output) if args.output else None
        csv_sink = (
            FramesCsvSink(args.frames_csv, BLENDSHAPE_NAMES, POSE_NAMES) if args.frames_csv else None
        )
        progress = Progress(src.total_frames, enabled=not (args.quiet or args.no_progress))

        def on_event(e) -> None:
            summary.add_event(e)
            if events_sink is not None:
                events_sink.write(e)

        def on_result(frame, result) -> None:
            if csv_sink is not None:
                if not result.faces:
                    csv_sink.write(frame.timestamp, frame.index, -1)
                for face in result.faces:
                    f = result.features[face.track_id]
                    base = analyzer.baseline(face.track_id)
                    aus = estimate_aus(f.channels, neutral=base)
                    csv_sink.write(frame.timestamp, frame.index, face.track_id, f.pose, face.blendshapes, aus)
                csv_sink.flush()
            progress.update(stats.frames)

        interrupted = False
        error = None
        try:
            with Landmarker(cfg.landmarks) as lm:
                run(src, lm, analyzer, on_result=on_result, on_event=on_event, stats=stats)
        except KeyboardInterrupt:
            interrupted = True
        except _user_errors() as e:  # e.g. a truncated file: keep what was found, then report
            error = e
            for e2 in analyzer.finish():
                on_event(e2)
        finally:
            progress.update(stats.frames, force=True)
            progress.close()
            if events_sink is not None:
                events_sink.close()
            if csv_sink is not None:
                csv_sink.close()

    summary.frames = stats.frames
    summary.frames_with_face = stats.frames_with_face
    summary.faces = stats.tracks
    summary.seconds = stats.wall_seconds
    summary.duration = stats.media_seconds
    summary.interrupted = interrupted
    if stats.frames and not stats.frames_with_face:
        warn(f"{args.input}: no face found in any of {stats.frames} frames")
    if not args.quiet:
        print(summary.table(), end="", flush=True)
    if error is not None:
        raise error
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


# --------------------------------------------------------------------------- evaluate


def _add_evaluate(sub) -> None:
    from detector import evaluate

    p = sub.add_parser("evaluate", help="score predicted events against ground truth (MEGC-style spotting metrics)")
    evaluate.add_arguments(p)
    p.set_defaults(func=evaluate.run)


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microexpr",
        description="Detect facial micro-expressions in recorded video or live camera input.",
    )
    parser.add_argument("--version", action="version", version=f"microexpr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_analyze(sub)
    from detector import live  # noqa: PLC0415 - `microexpr live` (issue 4)

    p = sub.add_parser("live", help="live camera (or a file played as one) with the micro-expression overlay",
                       description="Watch a camera, or play a video file as if it were one, through the pipeline "
                                   "with an on-screen overlay.")
    live.add_arguments(p)
    p.set_defaults(func=live.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    errors = _user_errors()
    try:
        return int(args.func(args) or 0)
    except errors as e:
        print(f"microexpr: error: {e}", file=sys.stderr, flush=True)
        return getattr(e, "code", EXIT_USAGE)
    except KeyboardInterrupt:
        print("microexpr: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
