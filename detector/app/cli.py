"""Command line: ``microexpr analyze | report | evaluate | live | train``.

Every failure the user can cause (missing or corrupt files, bad config,
unwritable output) ends with one line ``microexpr: error: ...`` on stderr and
exit code 2 (1 when the disk fills up), never a traceback.  Ctrl-C (exit 130)
and SIGTERM (exit 143) end a run cleanly between two frames, with the event in
progress flushed and the outputs complete (see ``detector.app.sinks.OutputFile``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import signal
import sys
import time
from pathlib import Path

from detector import __version__  # noqa: E402  (quiets OpenCV's log before cv2 is imported)

from detector.app.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, SIGNALS, CliError,
                                 config_from_args, warn)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is meant for the user (imported lazily)."""
    from detector.app.report.data import ReportError
    from detector.app.sinks import OutputError
    from detector.core.resources import ResourceError
    from detector.run.config import ConfigError
    from detector.stages.source import SourceError

    from detector.app.eyetrain.errors import TrainError
    from detector.run.cluster import ClusterError

    errs: list[type[BaseException]] = [ConfigError, ResourceError, OutputError, SourceError, CliError, ReportError,
                                       TrainError, ClusterError]
    try:
        from detector.lab.evaluate import EvaluationError

        errs.append(EvaluationError)
    except ImportError:
        pass
    return tuple(errs)




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
        #: shown before the bar (e.g. ``3/10 files``)
        self.note = ""

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
        if self.note:
            line = f"{self.note}  {line}"
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

_ANALYZE_EPILOG = """\
several inputs:
  Give several video files, or a folder of videos, to analyse them all: a pool
  of --workers processes takes one file each, with one overall progress bar.
  -o then names a folder (created if needed) that gets DIR/<name>.events.jsonl
  per input (<name> = file name without suffix, or the image folder's name;
  "-2", "-3" ... are appended when two inputs share a name); --frames-csv
  likewise gets DIR/<name>.frames.csv.  A file that fails is reported in one
  line and skipped; the others go on.  Exit code: 0 all files done, 1 some
  failed, 2 all failed (130 after Ctrl-C).  A folder that holds images is one
  image sequence (needs --fps), as with a single input.

many machines:
  --cluster ray runs the chunks of every input as Ray tasks on a local Ray
  (--workers CPUs, default all); --cluster ray://HOST:PORT or --cluster auto
  joins a running cluster (inputs must have the same path on every node: a
  shared filesystem).  This process segments each video in order and writes
  every output, so the events are those of --workers 1, byte for byte.  Needs
  the [cluster] extra.  --resume skips inputs whose outputs a previous run
  completed (NAME.done.json, written last); --cluster and --resume write it.

one long video:
  A video longer than two --chunk-s chunks is cut into equal chunks of about
  chunk_s seconds; worker processes find the faces of runs of chunks and this
  process segments every frame in order.  The landmarker restarts at every grid border
  (after seeing the 8 frames before it), whatever --workers is, so the events
  are the same, frame for frame, for any number of workers.
"""


def _warm_up(analyzer) -> None:
    """Compile the numba kernels before the timed run, saying so if it takes a while (first run only).

    No notice when numba's cache already holds kernels built from the current
    sources (loading them can still take a second or two on a busy CPU).
    """
    if _kernel_cache_warm():
        analyzer.warm_up()
        return
    import threading

    notice = threading.Timer(
        1.0, lambda: print("microexpr: compiling the segmenter (first run after install, about 20 s)...",
                           file=sys.stderr, flush=True)
    )
    notice.start()
    try:
        analyzer.warm_up()
    finally:
        notice.cancel()


def _kernel_cache_warm(package: Path | None = None) -> bool:
    """True if numba's on-disk cache (``__pycache__/*.pyXY.nbi`` beside the sources of ``package``,
    default ``detector``) has kernels for this Python, none older than its source file."""
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    found = False
    for index in Path(package or Path(__file__).resolve().parents[1]).rglob(f"__pycache__/*.{tag}.nbi"):
        src = index.parent.parent / (index.name.split(".", 1)[0] + ".py")
        if not src.exists():
            continue  # left over from a module that moved
        if index.stat().st_mtime < src.stat().st_mtime:
            return False
        found = True
    return found


def _add_analyze(sub) -> None:
    from detector.run.parallel import DEFAULT_CHUNK_S

    p = sub.add_parser(
        "analyze",
        help=COMMAND_HELP["analyze"],
        description="Find micro- and macro-expression events in video files or a folder of numbered images.",
        epilog=_ANALYZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video file, or folder of numbered images (then --fps is required); "
                        "several videos or a folder of videos: see below")
    p.add_argument("-o", "--output", metavar="EVENTS.jsonl",
                   help="write events as JSON lines, one per event, as found (a folder with several inputs)")
    p.add_argument("--frames-csv", metavar="F",
                   help="write one CSV row per frame and face (pose, blendshapes, AUs) (a folder with several inputs)")
    p.add_argument("--fps", type=float, help="frame rate of an image folder (frames per second)")
    p.add_argument("--max-faces", type=int, metavar="N", help="faces to track (default from config: 1)")
    p.add_argument("--config", metavar="TOML", help="settings overriding configs/default.toml")
    p.add_argument("--include-blinks", action="store_true", help="also write blink events (kind 'blink')")
    p.add_argument("-j", "--workers", type=int, metavar="N",
                   help="processes to use (default: the number of cores); the result does not depend on it")
    p.add_argument("--chunk-s", type=float, default=DEFAULT_CHUNK_S, metavar="S",
                   help=f"chunk length for cutting a long video, seconds of video (default {DEFAULT_CHUNK_S:g})")
    p.add_argument("--cluster", metavar="ray|ray://HOST:PORT|auto",
                   help="run the chunks as Ray tasks: a local Ray, or join a cluster (needs the [cluster] extra)")
    p.add_argument("--task-s", type=float, default=None, metavar="S",
                   help="with --cluster: seconds of video per Ray task at most, in whole chunks "
                        "(default 0: one chunk per task); the result does not depend on it")
    p.add_argument("--resume", action="store_true",
                   help="several inputs: skip those whose outputs in the folder are complete (NAME.done.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("-v", "--verbose", action="store_true", help="echo the configuration used")
    p.add_argument("--report", metavar="REPORT.html",
                   help="at the end, write the HTML report of the run (single video input; needs the [report] extra)")
    p.set_defaults(func=cmd_analyze)


def _analyze_one(path, cfg, *, output=None, frames_csv=None, fps=None, workers=1, chunk_s=None,
                 progress=None, on_warning=warn, runner=None):
    """Analyse one input, writing its sinks; the body of ``analyze`` for one file.

    ``progress`` is ``(total_frames) -> update`` (or None), ``update(frames_done, final=False)``.
    ``runner``: where a video's chunks are landmarked instead of here (``detector.run.cluster``).
    Returns ``(summary, interrupted, error)``: ``error`` is the user-facing
    exception that ended the run early.  However the run ends (end of file,
    Ctrl-C/SIGTERM, truncated input, full disk), the events still open are
    flushed as at the end of the file and the outputs keep everything found.
    Nothing is opened for writing before the input, the outputs and the
    models have been checked.
    """
    from detector.app.sinks import OutputError, Summary
    from detector.core.options import MEDIA
    from detector.run.parallel import DEFAULT_CHUNK_S, ParallelError, run_chunked, video_borders
    from detector.run.pipeline import Analyzer, run
    from detector.run.stats import RunStats
    from detector.stages.features import estimate_aus
    from detector.stages.landmarks import Landmarker
    from detector.stages.source import VideoFileSource, open_source

    _check_outputs(path, output, frames_csv)
    summary = Summary(source=str(path))
    stats = RunStats()
    with open_source(path, fps=fps, decode_ahead=MEDIA.decode_ahead) as src:
        borders = video_borders(src, chunk_s or DEFAULT_CHUNK_S) if isinstance(src, VideoFileSource) else []
        analyzer = Analyzer(cfg)
        _warm_up(analyzer)
        events_sink, csv_sink = _open_sinks(output, frames_csv)
        report = progress(src.total_frames) if progress is not None else (lambda done, final=False: None)

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
                    csv_sink.write(frame.timestamp, frame.index, face.track_id, f.pose, face.blendshapes, aus,
                                   analyzer.activation(face.track_id))
                csv_sink.flush()
            if not chunked:
                report(stats.frames)
            SIGNALS.check()  # between frames: a stop request ends the run here

        def on_progress(done: int) -> None:
            report(done)
            SIGNALS.check()

        interrupted = False
        error = None
        chunked = bool(borders) or (runner is not None and isinstance(src, VideoFileSource))
        try:
            with SIGNALS.deferred():
                if chunked:
                    src.close()  # the chunked run opens the file in each worker
                    run_chunked(path, cfg, analyzer, workers=workers, borders=borders, on_result=on_result,
                                on_event=on_event, on_progress=on_progress, stats=stats, on_warning=on_warning,
                                runner=runner)
                else:
                    with Landmarker(cfg.landmarks) as lm:
                        run(src, lm, analyzer, on_result=on_result, on_event=on_event, stats=stats)
        except KeyboardInterrupt:
            interrupted = True
        except (*_user_errors(), ParallelError) as e:  # e.g. a truncated file: keep what was found, then report
            error = e if not isinstance(e, ParallelError) else CliError(f"{path}: {e}", EXIT_ERROR)
        finally:
            try:
                if interrupted or error is not None:  # flush the events in progress, as at the end of the file
                    for e2 in analyzer.finish():
                        on_event(e2)
            except OutputError as e:
                error = error or e
            finally:
                report(stats.frames, True)
                for sink in (events_sink, csv_sink):
                    if sink is not None:
                        sink.close()

    no_face = summary.record_run(stats.frames, stats.frames_with_face, stats.tracks, stats.wall_seconds,
                                 stats.media_seconds, interrupted)
    if no_face:
        on_warning(no_face)
    elif stats.frames and len(stats.tracks) < cfg.landmarks.max_faces:
        on_warning(f"{path}: max_faces is {cfg.landmarks.max_faces} but {len(stats.tracks)} face(s) found: while "
                   "fewer faces than that are in view MediaPipe looks for faces afresh in every frame (as "
                   "mode = \"image\"), which about doubles landmark noise and changes the events; "
                   "use --max-faces " + str(max(1, len(stats.tracks))))
    return summary, interrupted, error


def _open_sinks(output, frames_csv):
    """``(events sink, frames CSV sink)``, None where not asked for; if the second cannot be opened the
    first is discarded (its target left as it was)."""
    from detector.app.sinks import FramesCsvSink, JsonlEventSink, OutputError
    from detector.stages.features import POSE_NAMES
    from detector.stages.landmarks import BLENDSHAPE_NAMES

    events_sink = JsonlEventSink(output) if output else None
    try:
        csv_sink = FramesCsvSink(frames_csv, BLENDSHAPE_NAMES, POSE_NAMES) if frames_csv else None
    except OutputError:
        if events_sink is not None:
            events_sink.discard()
        raise
    return events_sink, csv_sink


def _check_outputs(path, output, frames_csv) -> None:
    """Every output path is usable and none is an input or another output (before anything is opened)."""
    from detector.app.sinks import STDOUT, check_output

    outs = [o for o in (output, frames_csv) if o]
    for o in outs:
        check_output(o, inputs=(path,))
    if len(outs) == 2 and outs[0] != STDOUT and Path(outs[0]).resolve() == Path(outs[1]).resolve():
        raise CliError("-o and --frames-csv name the same file")
    if frames_csv == STDOUT:
        raise CliError("--frames-csv cannot be - (standard output); -o - can")


def _check_workers(args) -> int:
    from detector.run.parallel import default_workers

    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    if not (args.chunk_s > 0):
        raise CliError("--chunk-s must be a positive number of seconds")
    return args.workers or default_workers()


def cmd_analyze(args) -> int:
    cfg = config_from_args(args)
    if args.verbose:
        print("# configuration used\n" + cfg.to_toml(), file=sys.stderr)
    if args.fps is not None:
        from detector.stages.source import fps_problem

        if fps_problem(args.fps):
            raise CliError(f"--fps {fps_problem(args.fps)}")
    workers = _check_workers(args)
    cluster = _check_cluster(args)
    items = _batch_inputs(args.inputs)
    if items is not None:
        if args.report:
            raise CliError("--report takes a single video input (run microexpr report on each output)")
        return _cmd_analyze_many(args, cfg, items, workers, cluster)
    if args.resume:
        raise CliError("--resume takes several inputs (or a folder of videos) and an output folder")
    if cluster is not None:
        with _cluster_session(args, cfg, [args.inputs[0]], cluster) as session:
            return _analyze_single(args, cfg, args.inputs[0], args.output, args.frames_csv, workers,
                                   runner=session.runner(0))[1]

    path = args.inputs[0]
    if args.fps is not None and not Path(path).is_dir():
        warn("--fps applies to folders of images; a video's own timestamps are used")
    if args.report:
        _check_report_request(path, args.report, None, (args.output, args.frames_csv), args.output)
        with _run_outputs(args.output, args.frames_csv) as (output, frames_csv):
            summary, code = _analyze_single(args, cfg, path, output, frames_csv, workers)
            if code == EXIT_OK:
                _write_report(path, output, frames_csv, args.report, None, cfg, summary.fps,
                              events_label=args.output or "this run")
            else:
                warn(f"the run did not finish: no report written to {args.report}")
        return code
    return _analyze_single(args, cfg, path, args.output, args.frames_csv, workers)[1]


def _check_cluster(args):
    """``--cluster`` as :class:`detector.run.cluster.ClusterOptions` (None without it); Ray is imported here,
    so that a missing extra is one line before anything starts."""
    if getattr(args, "cluster", None) is None:
        return None
    from detector.run.cluster import ClusterOptions, import_ray, parse_address

    try:
        address = parse_address(args.cluster)
    except ValueError as e:
        raise CliError(str(e)) from None
    if args.report:
        raise CliError("--report cannot be used with --cluster (run microexpr report on the output)")
    if args.task_s is not None and not args.task_s >= 0:
        raise CliError("--task-s must be 0 or a positive number of seconds")
    import_ray()
    extra = {} if args.task_s is None else {"task_s": args.task_s}
    return ClusterOptions(address=address, num_cpus=args.workers if address is None else None, **extra)


@contextlib.contextmanager
def _cluster_session(args, cfg, paths, options):
    """A :class:`detector.run.cluster.Session` over ``paths``, announced on stderr (unless -q)."""
    from detector.run.cluster import Session, describe

    with Session(paths, cfg, args.chunk_s, options) as session:
        SIGNALS.install()  # ray.init installs its own handlers; Ctrl-C and SIGTERM stay ours
        if not args.quiet:
            print(f"microexpr: {describe(session)}", file=sys.stderr, flush=True)
        yield session


def _analyze_single(args, cfg, path, output, frames_csv, workers, runner=None):
    """``analyze`` of one input with progress bar and summary table; ``(summary, exit code)``."""
    show = not (args.quiet or args.no_progress)
    bar: list[Progress] = []

    def progress(total):
        bar.append(Progress(total, enabled=show))
        return lambda done, final=False: bar[0].update(done, force=final)

    try:
        summary, interrupted, error = _analyze_one(
            path, cfg, output=output, frames_csv=frames_csv, fps=getattr(args, "fps", None), workers=workers,
            chunk_s=args.chunk_s, progress=progress, runner=runner,
        )
    finally:
        if bar:
            bar[0].close()
    if not args.quiet:  # with -o - the events are standard output: the table goes to stderr
        print(summary.table(), end="", flush=True, file=sys.stderr if output == "-" else sys.stdout)
    if error is not None:
        raise error
    return summary, EXIT_INTERRUPTED if interrupted else EXIT_OK


# -- many files


def _batch_inputs(inputs: list[str]) -> list[tuple[str, str | None]] | None:
    """``[(path, problem or None), ...]`` when the inputs make a batch, None for one input (the classic path).

    A batch: several inputs, or one folder that holds videos and no images.
    Folders of videos are expanded (sorted, not recursive); a folder with
    images stays one image sequence.
    """
    from detector.run.files import video_files
    from detector.stages.source import numbered_images

    def expand(s: str) -> list[tuple[str, str | None]]:
        p = Path(s)
        if p.is_dir():
            try:
                if numbered_images(p):
                    return [(s, None)]
                vids = video_files(p)
            except OSError as e:
                return [(s, f"{p}: cannot read folder ({e.strerror})")]
            return [(str(v), None) for v in vids] or [(s, f"{p}: folder contains no images and no videos")]
        return [(s, None)]

    if len(inputs) == 1:
        p = Path(inputs[0])
        if not p.is_dir():
            return None
        items = expand(inputs[0])
        if len(items) == 1 and (items[0][0] == inputs[0]):
            return None  # image folder (or an empty one): the classic path and its messages
        return items
    return [item for s in inputs for item in expand(s)]


def _out_names(items: list[str]) -> list[str]:
    """Output base names per input: file stem or folder name, '-2', '-3' ... on repeats."""
    seen: dict[str, int] = {}
    names = []
    for s in items:
        p = Path(s)
        stem = p.name if p.is_dir() else p.stem
        n = seen.get(stem, 0) + 1
        seen[stem] = n
        names.append(stem if n == 1 else f"{stem}-{n}")
    return names


def _out_dir(value: str | None, what: str) -> Path | None:
    if not value:
        return None
    if value == "-":
        raise CliError(f"{what} - (standard output) takes a single input; with several inputs give a folder")
    d = Path(value)
    if d.exists() and not d.is_dir():
        raise CliError(f"{what} {d}: with several inputs this must be a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"{what} {d}: cannot create folder ({e.strerror})") from None
    return d


def _count_frames(path: str, fps: float | None) -> int:
    """Frames an input is expected to have (0 if unknown), cheaply, for the overall progress bar."""
    try:
        p = Path(path)
        if p.is_dir():
            from detector.stages.source import numbered_images

            return len(numbered_images(p))
        import cv2

        cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
        try:
            return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))) if cap.isOpened() else 0
        finally:
            cap.release()
    except Exception:  # noqa: BLE001 - only for the progress bar
        return 0


def _batch_task(spec: dict, progress) -> dict:
    """One file of a batch, in a pool worker: analyse, write its sinks, return counts."""
    warnings_: list[str] = []
    summary, interrupted, error = _analyze_one(
        spec["path"], spec["config"], output=spec["output"], frames_csv=spec["frames_csv"], fps=spec["fps"],
        workers=spec.get("workers", 1), chunk_s=spec["chunk_s"],
        progress=lambda total: (lambda done, final=False: None if final else progress(done)),
        on_warning=warnings_.append, runner=spec.get("runner"),
    )
    if error is not None:
        raise error
    return {"summary": summary, "interrupted": interrupted, "warnings": warnings_}


def _cmd_analyze_many(args, cfg, items, workers: int, cluster=None) -> int:
    out_dir = _out_dir(args.output, "-o")
    csv_dir = _out_dir(args.frames_csv, "--frames-csv")
    paths = [p for p, _ in items]
    names = _out_names(paths)
    show = not (args.quiet or args.no_progress)
    failed: dict[int, str] = {}
    results: dict[int, dict] = {}
    skipped: set[int] = set()
    marks = args.resume or cluster is not None  # write NAME.done.json after each complete input
    fingerprint = _settings_fingerprint(cfg, args)

    def fail(i: int, message: str) -> None:
        text = message if paths[i] in message else f"{paths[i]}: {message}"
        failed[i] = text
        print(f"microexpr: error: {text}", file=sys.stderr, flush=True)

    specs, idx = [], []
    for i, (path, problem) in enumerate(items):
        if problem is not None:
            fail(i, problem)
            continue
        spec = {
            "path": path, "config": cfg, "fps": args.fps, "chunk_s": args.chunk_s,
            "output": str(out_dir / f"{names[i]}.events.jsonl") if out_dir else None,
            "frames_csv": str(csv_dir / f"{names[i]}.frames.csv") if csv_dir else None,
        }
        if args.resume and _spec_done(spec, fingerprint):
            skipped.add(i)
            continue
        specs.append(spec)
        idx.append(i)
    totals = [_count_frames(s["path"], args.fps) for s in specs] if show else [0] * len(specs)
    bar = Progress(sum(totals) or None, enabled=show)
    done_frames = [0] * len(specs)
    n_finished = [0]
    bar.note = f"0/{len(specs)} files"

    def on_progress(k: int, done: int) -> None:
        done_frames[k] = done
        bar.update(sum(done_frames))

    def finished(k: int, kind: str, payload) -> None:
        i = idx[k]
        if kind == "done":
            results[i] = payload
            done_frames[k] = payload["summary"].frames
            for w in payload["warnings"]:
                warn(w)
            if marks and not payload["interrupted"]:
                _mark_done(specs[k], fingerprint, payload["summary"])
        else:
            fail(i, payload)
        n_finished[0] += 1
        bar.note = f"{n_finished[0]}/{len(specs)} files"

    interrupted = False
    t0 = time.perf_counter()
    try:
        if cluster is not None and specs:
            with _cluster_session(args, cfg, [s["path"] for s in specs], cluster) as session:
                for k, spec in enumerate(specs):
                    spec["runner"] = session.runner(k)
                _run_in_turn(specs, finished, on_progress)
        elif len(specs) == 1 or workers == 1:  # no pool needed: one after the other, here
            for spec in specs:
                spec["workers"] = workers
            _run_in_turn(specs, finished, on_progress)
        elif specs:
            _run_pool(specs, workers, finished, on_progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.update(sum(done_frames), force=True)
        bar.close()
    wall = time.perf_counter() - t0

    if not args.quiet:
        print(_batch_table(paths, names, results, failed, wall, interrupted, skipped), end="", flush=True)
    if interrupted:
        return EXIT_INTERRUPTED
    if failed and len(failed) == len(items):
        return EXIT_USAGE
    return EXIT_ERROR if failed else EXIT_OK


def _run_in_turn(specs, finished, on_progress) -> None:
    """The inputs one after the other in this process (their chunks may still run elsewhere)."""
    for k, spec in enumerate(specs):
        try:
            result = _batch_task(spec, lambda d, k=k: on_progress(k, d))
        except _user_errors() as e:
            finished(k, "failed", str(e))
            continue
        finished(k, "done", result)
        if result["interrupted"]:
            raise KeyboardInterrupt


def _run_pool(specs, workers, finished, on_progress) -> None:
    """The inputs in a pool of processes on this machine, one file each."""
    from detector.run.files import FilePool

    pool = FilePool(_batch_task, min(workers, len(specs)))
    try:
        with contextlib.closing(pool.run(specs, on_progress)) as it:
            for k, kind, payload in it:
                finished(k, kind, payload)
    finally:
        for k, kind, payload in pool.late:  # files stopped by Ctrl-C: what they wrote is kept
            finished(k, kind, payload)


def _spec_outputs(spec) -> list[str]:
    return [o for o in (spec["output"], spec["frames_csv"]) if o]


def _settings_fingerprint(cfg, args) -> str:
    """What a complete output depends on besides its input: the configuration and the chunk grid."""
    import hashlib

    text = f"{__version__}\n{cfg.to_toml()}\nchunk_s={args.chunk_s!r}\nfps={args.fps!r}\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _spec_done(spec, fingerprint: str) -> bool:
    from detector.app.sinks import is_done

    return is_done(spec["path"], _spec_outputs(spec), fingerprint)


def _mark_done(spec, fingerprint: str, summary) -> None:
    from detector.app.sinks import write_done

    outputs = _spec_outputs(spec)
    if outputs:
        write_done(spec["path"], outputs, fingerprint,
                   {"frames": summary.frames, "events": sum(summary.events.values())})


def _batch_table(paths, names, results, failed, wall: float, interrupted: bool, skipped=frozenset()) -> str:
    from collections import Counter

    lines = [f"{'input':<40} {'status':<8} {'frames':>7} {'faces':>5} {'events':>6} {'fps':>7}"]
    kinds: Counter = Counter()
    frames = 0
    for i, path in enumerate(paths):
        shown = path if len(path) <= 40 else "..." + path[-37:]
        if i in results:
            s = results[i]["summary"]
            n_ev = sum(s.events.values())
            for (kind, _), v in s.events.items():
                kinds[kind] += v
            frames += s.frames
            status = "stopped" if results[i]["interrupted"] else "ok"
            lines.append(f"{shown:<40} {status:<8} {s.frames:>7} {len(s.faces):>5} {n_ev:>6} {s.fps:>7.1f}")
        elif i in failed:
            lines.append(f"{shown:<40} {'failed':<8} {'-':>7} {'-':>5} {'-':>6} {'-':>7}")
        elif i in skipped:
            lines.append(f"{shown:<40} {'resumed':<8} {'-':>7} {'-':>5} {'-':>6} {'-':>7}")
        else:
            lines.append(f"{shown:<40} {'not run':<8} {'-':>7} {'-':>5} {'-':>6} {'-':>7}")
    ok = sum(1 for i in results if not results[i]["interrupted"])
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    done_before = f", {len(skipped)} already done" if skipped else ""
    lines.append(f"total: {ok} done{done_before}, {len(failed)} failed, {len(paths)} inputs; {frames} frames; "
                 f"{sum(kinds.values())} events{' (' + by_kind + ')' if by_kind else ''}; {wall:.1f} s")
    if interrupted:
        lines.append("(interrupted: results cover the files and frames processed so far)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- report


def _add_report(sub) -> None:
    from detector.run.parallel import DEFAULT_CHUNK_S

    p = sub.add_parser(
        "report",
        help=COMMAND_HELP["report"],
        description="Write one self-contained HTML file (images inlined, nothing loaded from the network) "
                    "showing a video's events: a timeline of the region activations with the events as "
                    "spans, one card per event (onset/apex/offset face crops, difference image, magnified "
                    "apex, AU bars, emotion scores) and a summary table.  Give the events (and frames CSV) "
                    "of an earlier `microexpr analyze` run, or neither to analyse the video now.  Needs "
                    'the optional extra: pip install "microexpr[report]".',
    )
    p.add_argument("video", metavar="VIDEO", help="the video file the events are from")
    p.add_argument("--events", metavar="E.jsonl", help="events of `microexpr analyze VIDEO -o E.jsonl`")
    p.add_argument("--frames-csv", metavar="F.csv",
                   help="frames CSV of the same run (`--frames-csv F.csv`): the timeline's activation curves")
    p.add_argument("-o", "--output", metavar="REPORT.html", required=True, help="the HTML report to write")
    p.add_argument("--png", metavar="TIMELINE.png", help="also write the timeline as a PNG image")
    p.add_argument("--config", metavar="TOML", help="settings overriding configs/default.toml")
    p.add_argument("--max-faces", type=int, metavar="N", help="faces to track (analysis run here; default 1)")
    p.add_argument("--include-blinks", action="store_true",
                   help="analysis run here: also find blinks (grey on the timeline)")
    p.add_argument("-j", "--workers", type=int, metavar="N", help="processes for the analysis run here")
    p.add_argument("--chunk-s", type=float, default=DEFAULT_CHUNK_S, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    if args.frames_csv and not args.events:
        raise CliError("--frames-csv needs --events from the same run (or give neither to analyse the video)")
    _check_report_request(args.video, args.output, args.png, (args.events, args.frames_csv), None)
    cfg = config_from_args(args)
    if args.events:
        _write_report(args.video, args.events, args.frames_csv, args.output, args.png, cfg, None)
        return EXIT_OK
    workers = _check_workers(args)
    with _run_outputs(None, None) as (output, frames_csv):
        summary, code = _analyze_single(args, cfg, args.video, output, frames_csv, workers)
        if code != EXIT_OK:
            return code
        _write_report(args.video, output, frames_csv, args.output, args.png, cfg, summary.fps,
                      events_label="this run")
    return EXIT_OK


def _check_report_request(video, html, png, inputs, events_out) -> None:
    """Before any work: the [report] extra is installed, the outputs are writable and none of them is
    an input or the other output, and ``-o -`` is not combined with a report."""
    from detector.app.report import require_extra
    from detector.app.sinks import STDOUT, check_output

    require_extra()
    if events_out == STDOUT:
        raise CliError("--report needs the events in a file: give -o FILE (or no -o), not -o -")
    if not Path(video).is_file():
        raise CliError(f"{video}: no such file" if not Path(video).exists() else f"{video}: not a video file")
    ins = tuple(i for i in (video, *inputs) if i)
    for out in (o for o in (html, png) if o):
        check_output(out, inputs=ins)
    if png and Path(png).resolve() == Path(html).resolve():
        raise CliError("-o and --png name the same file")


@contextlib.contextmanager
def _run_outputs(output, frames_csv):
    """The events and frames CSV paths of a run whose report is wanted: those given, temporary
    files (removed afterwards) for those not."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="microexpr-report-") as tmp:
        yield output or str(Path(tmp) / "events.jsonl"), frames_csv or str(Path(tmp) / "frames.csv")


def _write_report(video, events, frames_csv, html, png, cfg, processing_fps, events_label=None) -> None:
    """Load, check, render and write (atomically: PNG first, then the HTML) a report.  ``events_label``:
    where the report says the events come from (default: the events file)."""
    from detector.app.report.build import make_report  # the optional [report] extra (checked by require_extra)
    from detector.app.report.data import load_report_data
    from detector.app.sinks import write_file_atomic

    data = load_report_data(video, events, frames_csv, threshold=cfg.segmenter.region_active_z,
                            processing_fps=processing_fps, events_label=events_label)
    report = make_report(data, cfg.landmarks)
    if png:
        write_file_atomic(png, report.timeline_png)
    write_file_atomic(html, report.html)


# --------------------------------------------------------------------------- evaluate


def _add_evaluate(sub) -> None:
    from detector.lab import evaluate

    p = sub.add_parser("evaluate", help=COMMAND_HELP["evaluate"])
    evaluate.add_arguments(p)
    p.set_defaults(func=evaluate.run)


# --------------------------------------------------------------------------- main


#: One line per command for ``microexpr --help``; the command's own module is loaded only when it runs.
COMMAND_HELP = {
    "analyze": "find expression events in recorded video(s) or a folder of frames",
    "report": "write a self-contained HTML report: timeline, event cards with apex thumbnails and AUs",
    "evaluate": "score predicted events against ground truth (MEGC-style spotting metrics)",
    "live": "live camera (or a file played as one) with the micro-expression overlay",
    "train": "train your eye: name the emotion a face flashes for a moment",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` given, the arguments of that command alone (the others listed
    by name and help): ``microexpr --version`` and ``--help`` then load no command module (numpy, cv2,
    numba, onnxruntime, MediaPipe)."""
    parser = argparse.ArgumentParser(
        prog="microexpr",
        description="Detect facial micro-expressions in recorded video or live camera input.",
    )
    parser.add_argument("--version", action="version", version=f"microexpr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    adders = {"analyze": _add_analyze, "report": _add_report, "evaluate": _add_evaluate, "live": _add_live,
              "train": _add_train}
    for name, add in adders.items():
        if only is None or only == name:
            add(sub)
        else:
            sub.add_parser(name, help=COMMAND_HELP[name])
    return parser


def _add_live(sub) -> None:
    from detector.app import live  # noqa: PLC0415 - `microexpr live` (issue 4)

    p = sub.add_parser("live", help=COMMAND_HELP["live"],
                       description="Watch a camera, or play a video file as if it were one, through the pipeline "
                                   "with an on-screen overlay.")
    live.add_arguments(p)
    p.set_defaults(func=live.run)


def _add_train(sub) -> None:
    from detector.app.eyetrain import command as train  # noqa: PLC0415 - `microexpr train` (issue 16), loaded lazily

    p = sub.add_parser("train", help=COMMAND_HELP["train"],
                       description="A micro-expression training window: a neutral face flashes one of seven "
                                   "emotions; name it with keys 1-7. Right answers shorten the flash.")
    train.add_arguments(p)
    p.set_defaults(func=train.run)


def _command_of(argv: list[str]) -> str:
    """The command named in ``argv`` ("" when none: ``--version``, ``--help`` or nothing)."""
    for a in argv:
        if not a.startswith("-"):
            return a
    return ""


def entry() -> None:
    """The ``microexpr`` program: :func:`main`, then exit with its code.  A Ctrl-C that lands
    once the work is done (while the interpreter shuts down) is ignored: it would otherwise end
    a finished, cleanly written run in a KeyboardInterrupt traceback."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Every output is closed by now.  With numba, onnxruntime and MediaPipe loaded, the interpreter's shutdown
    # spent 0.3-0.5 s walking their objects for reference cycles (issue 18: a 2.4 s clip took ~3 s); frozen
    # objects are left out of those collections.
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    errors = _user_errors()
    SIGNALS.__init__()
    SIGNALS.install()
    try:
        code = int(args.func(args) or 0)
        return SIGNALS.exit_code() if code == EXIT_INTERRUPTED else code
    except errors as e:
        print(f"microexpr: error: {e}", file=sys.stderr, flush=True)
        return getattr(e, "code", EXIT_USAGE)
    except KeyboardInterrupt:
        print("microexpr: interrupted", file=sys.stderr, flush=True)
        return SIGNALS.exit_code()
    except BrokenPipeError:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
