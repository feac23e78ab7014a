"""A year of the default community: ``ets simulate`` and ``ets run`` side by side, time and memory.

    uv run python bench/year.py                      # 1, 30 and 365 days with ets simulate, 365 with ets run
    uv run python bench/year.py --days 1 30 --run-days 30

Every run starts at the data's first step (1 January) with the default parameters (10 households, the
shipped data) and writes its run directory under a temporary directory (a year's ledgers take about 0.8 GB
each: 11 of them for ``ets run``). For each it reports the wall time from launch to exit, the time per
step, the largest resident memory of any one process of the run (sampled every 0.2 s from /proc: the
``ets simulate`` process, or the coordinator or a node of ``ets run``) and the perfect-foresight bound's
solve time. Where both commands ran the same days it compares their ``optimized_results.csv`` byte for
byte and their ``summary.json`` (but the network figures only a cluster has).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_DAY = 96
CLUSTER_ONLY = ("network", "run_dir", "ledger")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakMemory(threading.Thread):
    """The largest resident memory any process of a tree reached (MB), sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self.running = True

    def run(self) -> None:
        while self.running:
            for p in _descendants(self.pid):
                self.peak_mb = max(self.peak_mb, _rss_mb(p))
            time.sleep(0.2)


def run_one(command: str, days: int, results: Path) -> dict[str, object]:
    steps = days * STEPS_PER_DAY
    args = [sys.executable, "-m", "ets", command, "-s", str(steps), "--start-step", "0", "-q"]
    args += ["--results", str(results)]
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = PeakMemory(proc.pid)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"ets {command} -s {steps} failed ({proc.returncode}):\n{output.decode(errors='replace')}")
    run_dir = max(results.iterdir(), key=lambda p: p.stat().st_mtime)
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "command": command,
        "days": days,
        "steps": steps,
        "wall_s": wall,
        "ms_per_step": 1000 * wall / steps,
        "peak_rss_mb": sampler.peak_mb,
        "bound_solve_s": summary["optimum"]["solve_seconds"],
        "saving": summary["saving"],
        "run_dir": run_dir,
    }


def same_results(a: Path, b: Path) -> str:
    if (a / "optimized_results.csv").read_bytes() != (b / "optimized_results.csv").read_bytes():
        return "optimized_results.csv differs"
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for s in (sa, sb):
        for key in CLUSTER_ONLY:
            s.pop(key, None)
        s["optimum"].pop("solve_seconds")
    differing = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
    return "identical" if not differing else f"summary.json differs in {', '.join(differing)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, nargs="*", default=[1, 30, 365], help="ets simulate lengths (days)")
    parser.add_argument("--run-days", type=int, nargs="*", default=[365], help="ets run lengths (days)")
    args = parser.parse_args()
    print(f"commit {_commit()}, {os.cpu_count()} cores")
    print(f"{'command':<9} {'days':>5} {'steps':>6} {'wall s':>8} {'ms/step':>8} {'peak RSS MB':>12} {'bound s':>8}")
    done: dict[tuple[str, int], Path] = {}
    with tempfile.TemporaryDirectory(prefix="ets-year-") as tmp:
        plan = [("simulate", d) for d in args.days] + [("run", d) for d in args.run_days]
        for command, days in plan:
            r = run_one(command, days, Path(tmp) / f"{command}-{days}")
            done[(command, days)] = r["run_dir"]  # type: ignore[assignment]
            print(
                f"{command:<9} {days:>5} {r['steps']:>6} {r['wall_s']:>8.1f} {r['ms_per_step']:>8.2f} "
                f"{r['peak_rss_mb']:>12.0f} {r['bound_solve_s']:>8.2f}",
                flush=True,
            )
        for days in args.run_days:
            if ("simulate", days) in done:
                verdict = same_results(done[("simulate", days)], done[("run", days)])
                print(f"{days} days: ets simulate and ets run results {verdict}")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
