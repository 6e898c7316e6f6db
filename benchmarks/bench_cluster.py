"""The same batch of videos with the local pool and with Ray (``analyze --cluster``): wall time, overhead per task.

    python benchmarks/bench_cluster.py --files 10 --loops 4 --workers 2 --two-node --json /tmp/bench_cluster.json

Makes one long clip (``--loops`` copies of the bundled clip, 19.7 s each,
with ``make_long_clip.py``) and ``--files`` copies of it under ``--workdir``,
then runs ``microexpr analyze FILES... -o DIR`` as a user does:

* **pool**: ``--workers N`` (this machine's pool, one file per process);
* **ray**: ``--cluster ray --workers N`` (a local Ray with N CPUs, started and
  stopped by the run; one task per chunk of the fixed grid, ``--task-s 0``);
* **ray-60s**: the same with ``--task-s 60``: one task per run of chunks of at
  most 60 s of video (two tasks per 79 s file);
* **two-node** (``--two-node``): ``ray start --head --num-cpus 1`` plus a
  second ``ray start --address HEAD --num-cpus 1`` on this machine (two
  raylets: the multi-node path), then ``--cluster auto``, then ``ray stop``.

For each: wall time, CPU time of our processes (the driver and its
children, Ray's daemons and workers: sampled from /proc, since Ray's are
not reaped into the driver's times), Ray's start-up (until
the ``microexpr: Ray ...`` line), overhead over the pool per chunk task
((wall - pool wall) / tasks), the cores other processes of this shared
machine used meanwhile, and whether every events file equals the pool's, byte
for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_workers import _cpu_busy_s, wait_quiet  # noqa: E402
from make_long_clip import DEFAULT_CLIP, make  # noqa: E402

from detector.run.cluster import task_runs  # noqa: E402
from detector.run.parallel import DEFAULT_CHUNK_S, chunk_borders  # noqa: E402

RAY_PORT = 6390


def make_files(workdir: Path, n: int, loops: int) -> tuple[list[Path], int, float]:
    """``n`` copies of a ``loops``-times looped clip: (paths, frames per file, seconds per file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    one = workdir / f"loop{loops}.mp4"
    if not one.exists():
        make(DEFAULT_CLIP, one, loops, None)
    import cv2

    cap = cv2.VideoCapture(str(one))
    frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    paths = []
    for i in range(n):
        p = workdir / "in" / f"video{i:02d}.mp4"
        p.parent.mkdir(exist_ok=True)
        if not p.exists():
            shutil.copyfile(one, p)
        paths.append(p)
    return paths, frames, frames / fps


#: Processes of ours besides the driver's descendants: Ray's daemons and workers (``ray start`` detaches
#: them; a local Ray's are not reaped into the driver's CPU times either).
OURS = ("ray::", "/ray/core/src/ray/", "ray/_private/", "ray/dashboard/", "raylet", "gcs_server",
        str(Path(sys.executable).parent))


def _own_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process (not its children), None if gone."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _is_ours(pid: int, root: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return pid == root or any(k in cmd for k in OURS)


class CpuSampler:
    """CPU seconds used by our processes during a run, from /proc every ``period`` s (last value per pid
    minus its value at the start): the driver, Ray's daemons and workers, however they were started."""

    def __init__(self, root: int, period: float = 0.5) -> None:
        self.root, self.period = root, period
        self.start: dict[int, float] = {p: c for p in self._pids() if (c := _own_cpu(p)) is not None}
        self.last: dict[int, float] = dict(self.start)
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._loop, daemon=True)
        self._th.start()

    def _pids(self) -> list[int]:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
        return [p for p in pids if p != os.getpid() and _is_ours(p, getattr(self, "root", -1))]

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            for p in self._pids():
                c = _own_cpu(p)
                if c is not None:
                    self.last[p] = c

    def stop(self) -> float:
        self._stop.set()
        self._th.join()
        return sum(c - self.start.get(p, 0.0) for p, c in self.last.items())


def run(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall, CPU of our processes, other processes' cores, and when the Ray line appeared."""
    busy0, t0 = _cpu_busy_s(), time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         env={**os.environ, **(env or {})})
    sampler = CpuSampler(p.pid)
    seen: dict = {"ray_line_s": None, "stderr": []}

    def read_err() -> None:
        for line in p.stderr:
            seen["stderr"].append(line)
            if line.startswith("microexpr: Ray") and seen["ray_line_s"] is None:
                seen["ray_line_s"] = time.perf_counter() - t0

    th = threading.Thread(target=read_err)
    th.start()
    out = p.stdout.read()
    p.wait()
    th.join()
    wall = time.perf_counter() - t0
    cpu = sampler.stop()
    others = max(0.0, _cpu_busy_s() - busy0 - cpu) / wall
    if p.returncode != 0:
        sys.stderr.write("".join(seen["stderr"]))
        raise SystemExit(f"bench: {' '.join(cmd[:6])}... failed with exit code {p.returncode}")
    return {"wall_s": wall, "cpu_s": cpu, "others_cores": others, "ray_startup_s": seen["ray_line_s"],
            "stdout": out, "stderr_ray": [ln.strip() for ln in seen["stderr"] if "Ray" in ln]}


def analyze_cmd(paths: list[Path], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "detector", "analyze", *map(str, paths), "-o", str(out), "--no-progress", *extra]


def ray_cli(env: dict, *args: str) -> None:
    ray = Path(sys.executable).with_name("ray")
    r = subprocess.run([str(ray), *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, **env})
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"bench: ray {' '.join(args)} failed")


def two_node(paths: list[Path], out: Path) -> dict:
    """A head and a second node on this machine, one CPU each; ``--cluster auto``; ``ray stop``.

    Ray's token authentication is on, as on a real cluster: every node and the driver share one token.
    """
    import secrets

    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_ADDRESS": f"127.0.0.1:{RAY_PORT}"}
    node = ("--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats")
    ray_cli(env, "start", "--head", "--port", str(RAY_PORT), "--include-dashboard", "false", *node)
    try:
        ray_cli(env, "start", "--address", f"127.0.0.1:{RAY_PORT}", *node)
        return run(analyze_cmd(paths, out, "--cluster", "auto"), env)
    finally:
        ray_cli(env, "stop", "--force")


def same_outputs(a: Path, b: Path) -> bool:
    files = sorted(p.name for p in a.glob("*.events.jsonl"))
    return files == sorted(p.name for p in b.glob("*.events.jsonl")) and all(
        filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--loops", type=int, default=4, help="copies of the 19.7 s clip per file (4: 78.7 s)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_cluster"))
    ap.add_argument("--two-node", action="store_true", help="also run on a two-node Ray started on this machine")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each run, wait up to S seconds for the other processes to go quiet")
    ap.add_argument("--modes", nargs="+", metavar="MODE",
                    help="runs besides pool: ray ray-60s two-node (default: all; two-node needs --two-node)")
    ap.add_argument("--json", metavar="OUT")
    a = ap.parse_args(argv)

    paths, frames, seconds = make_files(a.workdir, a.files, a.loops)
    n_chunks = len(chunk_borders(seconds, DEFAULT_CHUNK_S)) + 1
    n_tasks = a.files * len(task_runs(n_chunks, DEFAULT_CHUNK_S, 60.0))
    print(f"{a.files} files of {seconds:.1f} s ({frames} frames, {n_chunks} chunks): {a.files * n_chunks} tasks, "
          f"{n_tasks} with --task-s 60; load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    modes = [("pool", ["--workers", str(a.workers)]),
             ("ray-60s", ["--cluster", "ray", "--workers", str(a.workers), "--task-s", "60"]),
             ("ray", ["--cluster", "ray", "--workers", str(a.workers), "--task-s", "0"])]
    res: dict = {"files": a.files, "seconds_per_file": seconds, "frames_per_file": frames, "tasks": n_tasks,
                 "workers": a.workers, "runs": {}}
    for name, extra in modes + ([("two-node", None)] if a.two_node else []):
        if a.modes and name not in a.modes and name != "pool":
            continue
        out = a.workdir / f"out-{name}"
        shutil.rmtree(out, ignore_errors=True)
        if a.wait_quiet:
            wait_quiet(a.wait_quiet)
        r = two_node(paths, out) if extra is None else run(analyze_cmd(paths, out, *extra))
        r["identical_to_pool"] = same_outputs(a.workdir / "out-pool", out)
        r["fps"] = a.files * frames / r["wall_s"]
        res["runs"][name] = r
    pool = res["runs"]["pool"]["wall_s"]
    print(f"{'run':<9} {'wall s':>7} {'CPU s':>7} {'fps':>6} {'vs pool':>8} {'ms/task':>8} {'Ray up s':>8} "
          f"{'others':>6} identical")
    for name, r in res["runs"].items():
        tasks = n_tasks if name == "ray-60s" else a.files * n_chunks
        r["overhead"] = r["wall_s"] / pool - 1.0
        r["overhead_ms_per_task"] = 1000.0 * (r["wall_s"] - pool) / tasks
        up = f"{r['ray_startup_s']:.1f}" if r["ray_startup_s"] is not None else "-"
        print(f"{name:<9} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} {r['fps']:>6.1f} {100 * r['overhead']:>+7.1f}% "
              f"{r['overhead_ms_per_task']:>8.0f} {up:>8} {r['others_cores']:>6.2f} {r['identical_to_pool']}")
        for line in r.pop("stderr_ray"):
            print(f"          {line}")
        del r["stdout"]
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
