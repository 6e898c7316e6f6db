"""``microexpr analyze --workers N`` as a user runs it: wall time, CPU time, memory over time, same output.

    python benchmarks/make_long_clip.py --loops 4 -o /tmp/long_4x.mp4
    python benchmarks/bench_workers.py /tmp/long_4x.mp4 --workers 1 2 --repeat 3 [--json OUT]

Runs the CLI in a subprocess for each worker count, alternating (1 2 2 1 ...),
and samples the memory of the whole process tree (main process and workers)
every ``--interval`` seconds from /proc: the sum of RSS, the sum of PSS
(shared library pages counted once; it moves when other processes map the
same libraries), and the largest single process.  Reports
median wall time, speed-up against the first worker count, CPU seconds (user +
system, workers included), peak and the RSS timeline's slope (MB per minute
from 25 % to 90 % of the run: ~0 means nothing accumulates), and checks
that every run wrote byte-identical events and per-frame CSV.  The machine's
total CPU use (/proc/stat) during each run tells how many cores other
processes took meanwhile; speed-ups are also given over the quiet runs only.
Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _mem_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process, kB (0 if gone)."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _cpu_busy_s() -> float:
    """CPU seconds all processes of the machine have used so far (/proc/stat, all cores)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait_s: float, below: float = 0.15, window_s: float = 3.0) -> float:
    """Wait (up to ``max_wait_s``) until other processes use fewer than ``below`` cores over ``window_s``.

    Returns the cores they used in the last window.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        b0, t0 = _cpu_busy_s(), time.monotonic()
        time.sleep(window_s)
        used = (_cpu_busy_s() - b0) / (time.monotonic() - t0)
        if used < below or time.monotonic() >= deadline:
            return used


def run_once(cmd: list[str], interval: float) -> dict:
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []  # (t, rss_sum_mb, pss_sum_mb, rss_max_mb, n_processes)
    while p.poll() is None:
        pids = _tree(p.pid)
        mem = [_mem_kb(x) for x in pids]
        samples.append((time.perf_counter() - t0, sum(m[0] for m in mem) / 1024, sum(m[1] for m in mem) / 1024,
                        max((m[0] for m in mem), default=0) / 1024, len(pids)))
        time.sleep(interval)
    # wait4 is gone (poll reaped it): CPU of the tree from the children rusage of this process
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "returncode": p.returncode, "stdout": out, "stderr": err, "samples": samples}


def slope_mb_per_min(samples, col: int = 2) -> float:
    """Least-squares slope of a memory column from 25 % to 90 % of the run (start-up and exit left out), MB/min."""
    if len(samples) < 8:
        return float("nan")
    s = np.array(samples[len(samples) // 4: (9 * len(samples)) // 10], dtype=np.float64)
    t, m = s[:, 0], s[:, col]
    if np.ptp(t) <= 0:
        return float("nan")
    return float(np.polyfit(t, m, 1)[0] * 60.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("video")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.5, help="memory sampling period, s")
    ap.add_argument("--chunk-s", type=float, default=None)
    ap.add_argument("--no-csv", action="store_true", help="do not write the per-frame CSV")
    ap.add_argument("--quiet-below", type=float, default=0.15,
                    help="runs during which other processes used fewer cores than this count as quiet (default 0.15)")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each run, wait up to S seconds for the other processes to go quiet")
    ap.add_argument("--json", metavar="OUT")
    a = ap.parse_args(argv)

    res: dict = {"video": a.video, "runs": [], "loadavg_start": list(os.getloadavg())}
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    ref: dict[str, Path] = {}
    order = []
    for r in range(a.repeat):
        order += a.workers if r % 2 == 0 else list(reversed(a.workers))
    for k, w in enumerate(order):
        ev, csv = tmp / f"e{k}.jsonl", tmp / f"f{k}.csv"
        cmd = [sys.executable, "-m", "detector", "analyze", a.video, "-o", str(ev), "--workers", str(w),
               "--no-progress"]
        if not a.no_csv:
            cmd += ["--frames-csv", str(csv)]
        if a.chunk_s:
            cmd += ["--chunk-s", str(a.chunk_s)]
        if a.wait_quiet:
            wait_quiet(a.wait_quiet, a.quiet_below)
        before = os.times()
        busy0 = _cpu_busy_s()
        load0 = os.getloadavg()
        run = run_once(cmd, a.interval)
        after = os.times()
        busy = _cpu_busy_s() - busy0
        run["cpu_s"] = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        # cores' worth of CPU that other processes of the machine used during this run
        run["others_cores"] = max(0.0, busy - run["cpu_s"]) / run["wall_s"]
        run["workers"] = w
        run["loadavg_before"] = list(load0)
        run["loadavg_after"] = list(os.getloadavg())
        if run["returncode"] != 0:
            print(run["stderr"], file=sys.stderr)
            raise SystemExit(f"bench: run failed with exit code {run['returncode']}")
        same = None
        if "events" not in ref:
            ref["events"], ref["csv"] = ev, csv
        else:
            same = filecmp.cmp(ref["events"], ev, shallow=False) and (
                a.no_csv or filecmp.cmp(ref["csv"], csv, shallow=False))
        run["identical_to_first"] = same
        s = run["samples"]
        run["peak_rss_sum_mb"] = max((x[1] for x in s), default=0.0)
        run["peak_pss_sum_mb"] = max((x[2] for x in s), default=0.0)
        run["peak_rss_single_mb"] = max((x[3] for x in s), default=0.0)
        run["pss_slope_mb_per_min"] = slope_mb_per_min(s, 2)
        run["rss_slope_mb_per_min"] = slope_mb_per_min(s, 1)
        line = next((ln for ln in run["stdout"].splitlines() if ln.startswith("processing")), "")
        run["summary_processing"] = line.strip()
        print(f"workers {w}: wall {run['wall_s']:.1f} s, cpu {run['cpu_s']:.1f} s, peak PSS {run['peak_pss_sum_mb']:.0f} MB "
              f"(RSS sum {run['peak_rss_sum_mb']:.0f}, largest process {run['peak_rss_single_mb']:.0f}), "
              f"slope RSS {run['rss_slope_mb_per_min']:+.1f} / PSS {run['pss_slope_mb_per_min']:+.1f} MB/min, "
              f"{line.strip()}, "
              f"identical {same}, load {load0[0]:.2f} -> {run['loadavg_after'][0]:.2f}, "
              f"other processes used {run['others_cores']:.2f} cores", flush=True)
        del run["stdout"]
        res["runs"].append(run)
        if k > 0:
            ev.unlink(missing_ok=True)
            csv.unlink(missing_ok=True)
    summary = {}
    for w in a.workers:
        rs = [r for r in res["runs"] if r["workers"] == w]
        summary[w] = {"wall_s_median": float(np.median([r["wall_s"] for r in rs])),
                      "cpu_s_median": float(np.median([r["cpu_s"] for r in rs])),
                      "peak_pss_mb": max(r["peak_pss_sum_mb"] for r in rs),
                      "peak_rss_sum_mb": max(r["peak_rss_sum_mb"] for r in rs)}
    quiet = [r for r in res["runs"] if r["others_cores"] < a.quiet_below]
    for w in a.workers:
        rs = [r for r in quiet if r["workers"] == w]
        summary[w]["quiet_runs"] = len(rs)
        summary[w]["wall_s_median_quiet"] = float(np.median([r["wall_s"] for r in rs])) if rs else float("nan")
    base = summary[a.workers[0]]["wall_s_median"]
    base_q = summary[a.workers[0]]["wall_s_median_quiet"]
    for w in a.workers:
        summary[w]["speedup"] = base / summary[w]["wall_s_median"]
        summary[w]["speedup_quiet"] = base_q / summary[w]["wall_s_median_quiet"]
    res["summary"] = summary
    res["all_identical"] = all(r["identical_to_first"] in (None, True) for r in res["runs"])
    res["loadavg_end"] = list(os.getloadavg())
    for w, s in summary.items():
        print(f"median workers {w}: wall {s['wall_s_median']:.1f} s, cpu {s['cpu_s_median']:.1f} s, "
              f"speed-up x{s['speedup']:.2f}, peak PSS {s['peak_pss_mb']:.0f} MB; over the {s['quiet_runs']} runs "
              f"with other processes below {a.quiet_below} cores: wall {s['wall_s_median_quiet']:.1f} s, "
              f"speed-up x{s['speedup_quiet']:.2f}")
    print(f"outputs identical across runs: {res['all_identical']}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
