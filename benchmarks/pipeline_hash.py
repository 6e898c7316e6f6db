"""One SHA-256 over the events of whole `microexpr analyze` runs, to prove a refactor changes nothing.

Runs the CLI in a subprocess (default config, ``--no-progress``, ``--workers 2``) on

a) every video listed under ``videos`` in the files JSON (the test data and some talking clips),
   one run per video, writing ``events.jsonl`` and ``--frames-csv``;
b) the ``many`` list as one several-inputs run (the many-files pool, output folder);
c) ``benchmarks.synth.smoke_clip`` rendered at ``synth_fps`` as a lossless FFV1 video and as a
   folder of numbered PNG frames (``--fps``).

Prints a SHA-256 per output file, then ``events`` (all ``*.events.jsonl`` / ``events.jsonl``
bytes, in a fixed order) and ``frames`` (all frames CSVs).  ``--save-files F.json`` writes the
input list used (found under ``tests/data`` and ``--talking``); ``--files F.json`` reruns exactly
that list.

Usage::

    python benchmarks/pipeline_hash.py --save-files benchmarks/pipeline_hash_files.json
    python benchmarks/pipeline_hash.py --files benchmarks/pipeline_hash_files.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

TALKING = Path("/tmp/microexpr_talking")
# Talking clips short enough for a run of a few minutes on two cores.
TALKING_NAMES = ("bob_test.mov", "carphone_pristine.mp4", "woman2.mp4", "cap13_edit2.mp4", "franck.mp4")
SYNTH_FPS = 30.0


def default_files(talking: Path) -> dict:
    data = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "data").iterdir() if p.suffix in (".mp4", ".mov"))
    clips = [str(talking / n) for n in TALKING_NAMES if (talking / n).is_file()]
    return {"videos": data + clips, "many": data, "synth_fps": SYNTH_FPS}


def analyze(inputs: list[str], out: Path, frames: Path, extra: tuple[str, ...] = ()) -> None:
    cmd = [sys.executable, "-m", "detector", "analyze", *inputs, "-o", str(out), "--frames-csv", str(frames),
           "--no-progress", "-q", "--workers", "2", *extra]
    subprocess.run(cmd, check=True, cwd=ROOT)


def render_synth(tmp: Path, fps: float) -> tuple[Path, Path]:
    from benchmarks.synth import smoke_clip

    clip = smoke_clip(fps=fps, seed=0)
    return clip.write(tmp / "synth", "smoke", fmt="ffv1"), clip.write(tmp / "synth", "smoke_png", fmt="png")


def run_all(files: dict, tmp: Path) -> dict[str, Path]:
    outputs: dict[str, Path] = {}
    for i, video in enumerate(files["videos"]):
        name = f"{i:02d}_{Path(video).name}"
        outputs[name + ".events.jsonl"] = ev = tmp / "out" / (name + ".events.jsonl")
        outputs[name + ".frames.csv"] = fr = tmp / "out" / (name + ".frames.csv")
        ev.parent.mkdir(parents=True, exist_ok=True)
        analyze([video], ev, fr)
    many = tmp / "many"
    analyze(list(files["many"]), many, many)
    for p in sorted(many.iterdir()):
        if p.name.endswith((".events.jsonl", ".frames.csv")):
            outputs["many/" + p.name] = p
    mkv, png = render_synth(tmp, float(files["synth_fps"]))
    for tag, inputs, extra in (("synth_ffv1", [str(mkv)], ()), ("synth_png", [str(png)], ("--fps", str(files["synth_fps"])))):
        outputs[tag + ".events.jsonl"] = ev = tmp / "out" / (tag + ".events.jsonl")
        outputs[tag + ".frames.csv"] = fr = tmp / "out" / (tag + ".frames.csv")
        analyze(inputs, ev, fr, extra)
    return outputs


def digest(outputs: dict[str, Path], suffix: str) -> str:
    h = hashlib.sha256()
    for name in sorted(outputs):
        if name.endswith(suffix):
            h.update(name.encode() + b"\0" + outputs[name].read_bytes() + b"\0")
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=Path, help="hash exactly the inputs listed in this JSON")
    ap.add_argument("--save-files", type=Path, help="find the inputs, save their list here, and hash them")
    ap.add_argument("--talking", type=Path, default=TALKING)
    args = ap.parse_args(argv)
    files = json.loads(args.files.read_text()) if args.files else default_files(args.talking)
    if args.save_files:
        args.save_files.write_text(json.dumps(files, indent=1) + "\n")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pipeline_hash_") as tmp:
        outputs = run_all(files, Path(tmp))
        for name in sorted(outputs):
            print(f"{hashlib.sha256(outputs[name].read_bytes()).hexdigest()[:16]}  {name}")
        print(f"events {digest(outputs, '.events.jsonl')}")
        print(f"frames {digest(outputs, '.frames.csv')}")
    print(f"({len(files['videos'])} videos, {len(files['many'])} in one pool run, 2 synthetic; "
          f"{time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
