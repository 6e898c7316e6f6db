"""How fast each stage is, next to MediaPipe FaceLandmarker alone on the same frames.

    python benchmarks/bench.py [VIDEO] [--device cpu|gpu] [--repeat N] [--json OUT]

1. **Decode** the clip once into memory (bundled WolfgangLanger_Pexels.mp4 by
   default), timing every frame.
2. **Stages**, one instrumented pass of the pipeline over those frames:
   landmarks (``Landmarker.detect``: BGR->RGB, MediaPipe, result arrays, track
   ids), features, segmenter, classifier (per event, amortised per frame),
   output (the JSONL sink), and, apart from ``analyze``, the live overlay's
   drawing (``overlay.Overlay`` on a copy of the frame).  Mean and
   p50/p95/p99 per frame.
3. **Throughput and overhead**: ``--repeat`` alternating passes (A B B A ...)
   of (A) MediaPipe FaceLandmarker alone: the same frames, the same options
   and timestamps (VIDEO mode, blendshapes, transformation matrices,
   ``timestamp_scale`` from the config), through MediaPipe's public Python API
   (``cvtColor`` + ``mp.Image`` + ``detect_for_video``), and (B) the whole
   ``analyze`` pipeline (``pipeline.run``: landmarks, features, segmenter,
   classifier, JSONL), no instrumentation.  Ratio B/A of the median pass
   times (target <= 1.05).  For reference also (C) MediaPipe's native call
   alone (its C function, no Python result objects): the floor under both.
4. **Start-up**: numba kernels cold (compiled into an empty temporary
   ``NUMBA_CACHE_DIR``) and warm (loaded from it), and the whole pipeline's
   start-up, in fresh subprocesses.
5. **Micro-benchmarks** (``bench_segmenter.py``): segmenter alone over a long
   synthetic signal, classifier per event.

``--device gpu`` asks for the ONNX classifier on onnxruntime's CUDA provider
and for MediaPipe's GPU delegate; whatever cannot run there runs on the CPU,
and the report says which stage ran where and why.  Load average is recorded
before and after each section: the numbers are wall-clock times on a shared
machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DEFAULT_CLIP = ROOT / "tests" / "data" / "WolfgangLanger_Pexels.mp4"

STAGES = ("decode", "landmarks", "features", "segmenter", "classifier", "output", "overlay")


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_busy_cores(window_s: float = 2.0) -> float:
    """Cores the whole machine kept busy over ``window_s`` (/proc/stat; NaN elsewhere)."""
    def busy() -> float:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    try:
        b0, t0 = busy(), time.monotonic()
        time.sleep(window_s)
        return (busy() - b0) / (time.monotonic() - t0)
    except OSError:
        return float("nan")


def _busy_s() -> float:
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def others_during(fn):
    """(fn(), cores other processes used while it ran): machine CPU (/proc/stat) minus this process's."""
    try:
        b0 = _busy_s()
    except OSError:
        return fn(), float("nan")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    ours = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return out, max(0.0, (_busy_s() - b0) - ours) / wall


def wait_quiet(max_wait_s: float, below: float = 0.15) -> float:
    """Wait up to ``max_wait_s`` for other processes to use fewer than ``below`` cores; returns their use."""
    deadline = time.monotonic() + max_wait_s
    while True:
        used = machine_busy_cores()
        if not used >= below or time.monotonic() >= deadline:
            return used


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 1024.0 / 1024.0


def stats_ms(a_ns) -> dict:
    a = np.asarray(a_ns, dtype=np.float64) / 1e6
    if a.size == 0:
        return {"mean": float("nan"), "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99))}


# --------------------------------------------------------------------------- machine


def machine_info() -> dict:
    info: dict = {"python": platform.python_version(), "platform": platform.platform()}
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu"] = model
    info["cores_logical"] = os.cpu_count()
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["cores_usable"] = os.cpu_count()
    gpus = []
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            gpus = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
    except (OSError, subprocess.SubprocessError):
        pass
    info["gpu"] = gpus or None
    versions = {}
    for mod, name in (("numpy", "numpy"), ("cv2", "opencv"), ("mediapipe", "mediapipe"),
                      ("onnxruntime", "onnxruntime"), ("numba", "numba"), ("detector", "microexpr")):
        try:
            versions[name] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001
            versions[name] = f"unavailable ({type(e).__name__})"
    info["versions"] = versions
    try:
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
        info["onnxruntime_device"] = ort.get_device()
    except Exception:  # noqa: BLE001
        info["onnxruntime_providers"] = []
    return info


# --------------------------------------------------------------------------- decode


def decode(path: Path, max_frames: int | None):
    from detector.stages.source import open_source

    frames, times = [], []
    with open_source(path) as src:
        it = iter(src)
        while max_frames is None or len(frames) < max_frames:
            t0 = time.perf_counter_ns()
            try:
                f = next(it)
            except StopIteration:
                break
            times.append(time.perf_counter_ns() - t0)
            frames.append(f)
    return frames, times


# --------------------------------------------------------------------------- device placement


def place(device: str, cfg, log) -> tuple:
    """(landmarker options, classifier, placement dict): GPU where asked and possible, CPU otherwise, said plainly."""
    from detector.stages.classifier import EmotionClassifier
    from detector.stages.landmarks import Landmarker

    placement = {"decode": "cpu (OpenCV/FFmpeg)", "features": "cpu (NumPy)", "segmenter": "cpu (numba)",
                 "output": "cpu", "overlay": "cpu (OpenCV)"}
    lm_opts = cfg.landmarks
    if device == "gpu":
        try:
            with Landmarker(dataclasses.replace(lm_opts, delegate="gpu")) as lm:
                lm.detect(np.zeros((64, 64, 3), np.uint8), 0.0)
            lm_opts = dataclasses.replace(lm_opts, delegate="gpu")
            placement["landmarks"] = "gpu (MediaPipe GPU delegate)"
        except Exception as e:  # noqa: BLE001 - report and fall back
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if "kGpuService" in msg:
                msg = "this MediaPipe build has no GPU service (kGpuService)"
            msg = msg[:160]
            placement["landmarks"] = f"cpu (fallback: MediaPipe GPU delegate unavailable: {msg})"
            log(f"landmarks: MediaPipe GPU delegate unavailable on this platform ({msg}); running on CPU")
    else:
        placement["landmarks"] = "cpu (MediaPipe XNNPACK)"
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    clf_log = logging.getLogger("detector.stages.classifier")
    clf_log.addHandler(handler)
    try:
        clf = EmotionClassifier(cfg.classifier.model or None, device=device)
    finally:
        clf_log.removeHandler(handler)
    if device == "gpu" and clf.provider != "CUDAExecutionProvider":
        why = buf.getvalue().strip().splitlines()[-1] if buf.getvalue().strip() else "CUDA provider not used"
        placement["classifier"] = f"cpu (fallback: {why})"
        log(f"classifier: {why}")
    else:
        placement["classifier"] = f"{'gpu' if clf.provider == 'CUDAExecutionProvider' else 'cpu'} ({clf.provider})"
    return lm_opts, clf, placement


# --------------------------------------------------------------------------- instrumented pass


def instrumented_pass(frames, cfg, lm_opts, clf, out_path: Path) -> dict:
    """Per-frame time of every stage, ns."""
    from detector.stages.features import FeatureExtractor
    from detector.stages.landmarks import Landmarker
    from detector.app.overlay import Overlay, OverlayState, Status
    from detector.run.pipeline import Analyzer
    from detector.app.sinks import JsonlEventSink

    class TimedAnalyzer(Analyzer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.cls_ns = 0
            self.n_events = 0

        def _events(self, tid, segments):
            segments = list(segments)
            if not segments:
                return []
            t0 = time.perf_counter_ns()
            out = super()._events(tid, segments)
            self.cls_ns += time.perf_counter_ns() - t0
            self.n_events += len(segments)
            return out

    n = len(frames)
    t = {k: np.zeros(n, dtype=np.int64) for k in STAGES if k != "decode"}
    an = TimedAnalyzer(cfg, classifier=clf)
    ext = FeatureExtractor()
    overlay = Overlay(cfg.segmenter.start_z)
    hist = np.full((6, 120), np.nan, np.float32)
    last_probs = None
    log: list = []
    n_events = 0
    with Landmarker(lm_opts) as lm, JsonlEventSink(out_path) as sink:
        for i, fr in enumerate(frames):
            t0 = time.perf_counter_ns()
            faces = lm.detect(fr.image, fr.timestamp)
            t1 = time.perf_counter_ns()
            feats = [ext(f) for f in faces]
            t2 = time.perf_counter_ns()
            an.cls_ns = 0
            res = an.step(fr.index, fr.timestamp, faces, feats)
            t3 = time.perf_counter_ns()
            for e in res.events:
                sink.write(e)
            t4 = time.perf_counter_ns()
            t["landmarks"][i] = t1 - t0
            t["features"][i] = t2 - t1
            t["classifier"][i] = an.cls_ns
            t["segmenter"][i] = (t3 - t2) - an.cls_ns
            t["output"][i] = t4 - t3
            n_events += len(res.events)
            # live overlay (not part of analyze): the data the live loop would hand it
            if faces:
                act = an.activation(faces[0].track_id)
                hist = np.roll(hist, -1, axis=1)
                hist[:, -1] = np.nan if act is None else act
            if res.events:
                last_probs = np.array(list(res.events[-1].scores.values()), dtype=np.float32)
                log = (log + res.events)[-5:]
            canvas = fr.image.copy()
            t5 = time.perf_counter_ns()
            overlay.annotate(canvas, OverlayState(faces=faces, probs=last_probs, activation_history=hist,
                                                  log=log, status=Status(30.0, 30.0, 10.0, 0)))
            t["overlay"][i] = time.perf_counter_ns() - t5
        for e in an.finish():
            sink.write(e)
            n_events += 1
    return {"times_ns": t, "events": n_events, "classified": an.n_events}


# --------------------------------------------------------------------------- throughput passes


def mediapipe_alone_pass(frames, lm_opts, native_only: bool = False) -> float:
    """Seconds for MediaPipe FaceLandmarker alone over the frames (public API, or its bare C call)."""
    import ctypes

    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.vision import face_landmarker as fl

    from detector.stages.landmarks import _native_stderr_silenced, mediapipe_options

    opts = mediapipe_options(dataclasses.replace(lm_opts, mode="video"))
    scale = lm_opts.timestamp_scale
    with _native_stderr_silenced(True):
        lm = vision.FaceLandmarker.create_from_options(opts)
    try:
        last = -1
        t0 = time.perf_counter()
        for i, fr in enumerate(frames):
            ts = max(int(round(fr.timestamp * 1000.0 * scale)), last + 1)
            last = ts
            rgb = cv2.cvtColor(fr.image, cv2.COLOR_BGR2RGB)
            img = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            if native_only:
                res = fl.MpFaceLandmarkerResultC()
                lm._lib.MpFaceLandmarkerDetectForVideo(lm._handle, img._image_ptr, None, ts, ctypes.byref(res))
                lm._lib.MpFaceLandmarkerCloseResult(ctypes.byref(res))
            elif i == 0:
                with _native_stderr_silenced(True):
                    lm.detect_for_video(img, ts)
            else:
                lm.detect_for_video(img, ts)
        return time.perf_counter() - t0
    finally:
        lm.close()


def pipeline_pass(frames, cfg, lm_opts, clf, out_path: Path) -> tuple[float, int]:
    """Seconds for the analyze pipeline (pipeline.run + JSONL sink) over the in-memory frames."""
    from detector.stages.landmarks import Landmarker
    from detector.run.pipeline import Analyzer, run
    from detector.app.sinks import JsonlEventSink

    an = Analyzer(cfg, classifier=clf)
    with Landmarker(lm_opts) as lm, JsonlEventSink(out_path) as sink:
        t0 = time.perf_counter()
        ev = run(frames, lm, an, on_event=sink.write)
        return time.perf_counter() - t0, len(ev)


# --------------------------------------------------------------------------- start-up


_STARTUP_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from detector.stages.segmenter import Segmenter
from detector.stages.features import CHANNEL_REGIONS, BLINK_CHANNELS, N_CHANNELS
t1 = time.perf_counter()
seg = Segmenter(CHANNEL_REGIONS, BLINK_CHANNELS)
rng = np.random.default_rng(0)
for i in range(400):
    x = (0.3 + 0.01 * rng.standard_normal(N_CHANNELS)).astype(np.float32)
    if 250 <= i < 260:
        x[:2] += 0.2
    seg.update(i / 100.0, x, np.zeros(6, np.float32))
seg.gap(); seg.reset_baseline()
t2 = time.perf_counter()
from detector.run.config import load_config
from detector.run.pipeline import Analyzer
from detector.stages.landmarks import Landmarker
cfg = load_config()
an = Analyzer(cfg)
t3 = time.perf_counter()
lm = Landmarker(cfg.landmarks)
lm.detect(np.zeros((360, 640, 3), np.uint8), 0.0)
lm.close()
t4 = time.perf_counter()
print(json.dumps({"import_segmenter_s": t1 - t0, "numba_first_use_s": t2 - t1,
                  "analyzer_s": t3 - t2, "landmarker_first_frame_s": t4 - t3, "total_s": t4 - t0}))
"""


def startup(repeat: int = 2) -> dict:
    """Cold (fresh NUMBA_CACHE_DIR) and warm start-up, in fresh interpreters."""
    out: dict = {"cold": [], "warm": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as d:
            env = dict(os.environ, NUMBA_CACHE_DIR=d, PYTHONPATH=str(ROOT))
            for kind in ("cold", "warm"):
                t0 = time.perf_counter()
                r = subprocess.run([sys.executable, "-c", _STARTUP_CODE], capture_output=True, text=True, env=env,
                                   cwd=str(ROOT), timeout=600)
                wall = time.perf_counter() - t0
                if r.returncode != 0:
                    raise RuntimeError(f"start-up probe failed: {r.stderr.strip().splitlines()[-1:]}")
                d_ = json.loads(r.stdout.strip().splitlines()[-1])
                d_["process_wall_s"] = wall
                out[kind].append(d_)
    med = {}
    for kind in ("cold", "warm"):
        keys = out[kind][0].keys()
        med[kind] = {k: float(np.median([x[k] for x in out[kind]])) for k in keys}
    out["median"] = med
    return out


# --------------------------------------------------------------------------- report


def table(res: dict) -> str:
    w = io.StringIO()
    p = w.write
    m = res["machine"]
    p(f"machine   {m['cpu']}, {m['cores_usable']} usable cores, GPU: {', '.join(m['gpu']) if m['gpu'] else 'none'}\n")
    p(f"versions  " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "\n")
    p(f"onnxrt    providers {', '.join(m.get('onnxruntime_providers', []))}\n")
    p(f"clip      {res['clip']['path']}: {res['clip']['frames']} frames {res['clip']['size']}, "
      f"{res['clip']['seconds']:.2f} s, {res['clip']['faces_found']} frames with a face\n")
    p(f"load avg  " + "  ".join(f"{k}: {v}" for k, v in res["loadavg"].items()) + "\n")
    p("placement " + "; ".join(f"{k}: {v}" for k, v in res["placement"].items()) + "\n\n")
    if "stages" in res:
        p(f"{'stage':<12}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}   ms per frame\n")
        for k in STAGES:
            s = res["stages"][k]
            tag = "  (live only, not in analyze)" if k == "overlay" else ("  (separate: frames in memory)"
                                                                         if k == "decode" else "")
            p(f"{k:<12}{s['mean']:9.3f}{s['p50']:9.3f}{s['p95']:9.3f}{s['p99']:9.3f}{tag}\n")
        s = res["stages"]["analyze_total"]
        p(f"{'= analyze':<12}{s['mean']:9.3f}{s['p50']:9.3f}{s['p95']:9.3f}{s['p99']:9.3f}"
          f"   (landmarks..output; {res['events']} events, {res['classified']} classified)\n\n")
    if "throughput" in res:
        t = res["throughput"]
        p(f"throughput over {t['repeat']} alternating passes each (median pass, frames in memory):\n")
        p(f"  MediaPipe alone (public API)   {t['mediapipe_fps']:8.1f} fps  {t['mediapipe_ms_per_frame']:7.3f} ms/frame\n")
        p(f"  analyze pipeline               {t['pipeline_fps']:8.1f} fps  {t['pipeline_ms_per_frame']:7.3f} ms/frame\n")
        if t.get("native_fps"):
            p(f"  MediaPipe native call only     {t['native_fps']:8.1f} fps  {t['native_ms_per_frame']:7.3f} ms/frame\n")
        p(f"  ratio pipeline / MediaPipe alone  {t['ratio']:.3f}   (target <= 1.05; per pair: "
          f"{', '.join(f'{r:.3f}' for r in t['pair_ratios'])})\n")
        if t.get("others_cores_during_pass"):
            p("  other processes during each pass: "
              + ", ".join(f"{k} {x:.2f}" for k, x in t["others_cores_during_pass"]) + " cores\n")
        if t.get("others_cores_before_pair"):
            p("  other processes before each pair: "
              + ", ".join(f"{x:.2f}" for x in t["others_cores_before_pair"]) + " cores\n")
        if t.get("native_fps"):
            p(f"  ratio pipeline / native call      {t['ratio_vs_native']:.3f}\n")
        p("\n")
    if "startup" in res:
        s = res["startup"]["median"]
        p("start-up (fresh interpreter; cold = numba compiles into an empty NUMBA_CACHE_DIR, warm = loads it):\n")
        for kind in ("cold", "warm"):
            x = s[kind]
            p(f"  {kind:<5} import segmenter {x['import_segmenter_s']:.2f} s, numba first use {x['numba_first_use_s']:.2f} s,"
              f" Analyzer {x['analyzer_s']:.2f} s, landmarker+first frame {x['landmarker_first_frame_s']:.2f} s,"
              f" total {x['total_s']:.2f} s (process {x['process_wall_s']:.2f} s)\n")
        p("\n")
    p(f"peak RSS of this process {res['peak_rss_mb']:.0f} MB (holds the decoded clip: {res['clip']['decoded_mb']:.0f} MB)\n")
    if "micro" in res:
        from benchmarks.bench_segmenter import report

        p("\n" + report(res["micro"].get("segmenter"), res["micro"].get("classifier")) + "\n")
    return w.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("video", nargs="?", default=str(DEFAULT_CLIP))
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--repeat", type=int, default=3, help="alternating throughput passes of each kind (default 3)")
    ap.add_argument("--json", metavar="OUT", help="write all results as JSON")
    ap.add_argument("--max-frames", type=int, default=None, help="use only the first N frames")
    ap.add_argument("--config", metavar="TOML", help="pipeline configuration (default configs/default.toml)")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    ap.add_argument("--no-micro", action="store_true", help="skip the segmenter/classifier micro-benchmarks")
    ap.add_argument("--micro-seconds", type=float, default=600.0, help="synthetic signal length for the segmenter, s")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each throughput pair, wait up to S s until other processes use < 0.15 cores")
    a = ap.parse_args(argv)

    from detector.run.config import load_config

    def log(msg: str) -> None:
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    res: dict = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
                 "loadavg": {"start": loadavg()}}
    res["machine"] = machine_info()
    cfg = load_config(a.config)
    if a.device == "gpu":
        cfg = cfg.replace("classifier", device="gpu")
    path = Path(a.video)
    log(f"decoding {path}")
    frames, dec = decode(path, a.max_frames)
    if not frames:
        raise SystemExit(f"bench: {path}: no frames")
    h, w = frames[0].image.shape[:2]
    res["clip"] = {"path": str(path), "frames": len(frames), "size": f"{w}x{h}",
                   "seconds": frames[-1].timestamp - frames[0].timestamp,
                   "decoded_mb": sum(f.image.nbytes for f in frames) / 2**20}
    lm_opts, clf, placement = place(a.device, cfg, log)
    res["placement"] = placement
    res["loadavg"]["after_decode"] = loadavg()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.jsonl"
        log("instrumented pass")
        pipeline_pass(frames[: min(50, len(frames))], cfg, lm_opts, clf, out)  # warm caches (numba, ORT)
        ins = instrumented_pass(frames, cfg, lm_opts, clf, out)
        t = ins["times_ns"]
        stages = {"decode": stats_ms(dec)}
        for k in STAGES[1:]:
            stages[k] = stats_ms(t[k])
        stages["analyze_total"] = stats_ms(sum(t[k] for k in ("landmarks", "features", "segmenter", "classifier",
                                                               "output")))
        res["stages"] = stages
        res["events"], res["classified"] = ins["events"], ins["classified"]
        res["loadavg"]["after_stages"] = loadavg()

        from detector.stages.landmarks import Landmarker

        with Landmarker(lm_opts) as lm:
            res["clip"]["faces_found"] = sum(1 for f in frames if lm.detect(f.image, f.timestamp))

        log(f"throughput: {a.repeat} alternating passes of MediaPipe alone and the pipeline")
        mp_t, pl_t, nat_t, pairs, others, others_during_pass = [], [], [], [], [], []
        for r in range(a.repeat):
            order = ("mp", "pl") if r % 2 == 0 else ("pl", "mp")
            got = {}
            if a.wait_quiet:
                others.append(wait_quiet(a.wait_quiet))
            for kind in order:
                if kind == "mp":
                    got[kind], busy = others_during(lambda: mediapipe_alone_pass(frames, lm_opts))
                else:
                    got[kind], busy = others_during(lambda: pipeline_pass(frames, cfg, lm_opts, clf, out)[0])
                others_during_pass.append((kind, round(busy, 3)))
            mp_t.append(got["mp"])
            pl_t.append(got["pl"])
            pairs.append(got["pl"] / got["mp"])
            try:
                nat_t.append(mediapipe_alone_pass(frames, lm_opts, native_only=True))
            except Exception as e:  # noqa: BLE001 - informational only
                log(f"native-call pass skipped ({type(e).__name__}: {e})")
        n = len(frames)
        tp = {"repeat": a.repeat, "mediapipe_s": mp_t, "pipeline_s": pl_t, "native_s": nat_t,
              "pair_ratios": pairs, "others_cores_before_pair": others,
              "others_cores_during_pass": others_during_pass,
              "mediapipe_fps": n / float(np.median(mp_t)), "pipeline_fps": n / float(np.median(pl_t)),
              "mediapipe_ms_per_frame": 1e3 * float(np.median(mp_t)) / n,
              "pipeline_ms_per_frame": 1e3 * float(np.median(pl_t)) / n,
              "ratio": float(np.median(pl_t) / np.median(mp_t))}
        if nat_t:
            tp.update(native_fps=n / float(np.median(nat_t)), native_ms_per_frame=1e3 * float(np.median(nat_t)) / n,
                      ratio_vs_native=float(np.median(pl_t) / np.median(nat_t)))
        res["throughput"] = tp
        res["loadavg"]["after_throughput"] = loadavg()
    res["peak_rss_mb"] = peak_rss_mb()
    del frames

    if not a.no_startup:
        log("start-up: cold and warm numba cache, fresh interpreters")
        res["startup"] = startup()
        res["loadavg"]["after_startup"] = loadavg()
    if not a.no_micro:
        from benchmarks.bench_segmenter import bench_classifier, bench_segmenter

        log("micro-benchmarks: segmenter, classifier")
        res["micro"] = {"segmenter": bench_segmenter(a.micro_seconds, 200.0, 3),
                        "classifier": bench_classifier(3000, a.device)}
        res["loadavg"]["end"] = loadavg()

    print(table(res), end="")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=str))
        log(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
