"""Cluster scale: N node processes and a coordinator for a day of steps, on this machine.

    uv run python bench/cluster.py                       # N = 10, 50, 100, 200 x 96 steps
    uv run python bench/cluster.py --sizes 10 50 --steps 48

It tiles the shipped community (40 households) up to the largest N for the default run's window
(``bench.tiled``: each copy beyond the 40 scaled by a seeded factor in [0.7, 1.3], its community-battery
share divided so the shares still add up), then for each N
runs the real launcher (``ets.run.launcher.run_cluster``: one process per household, loopback ZeroMQ) and
reports: wall time from launch to the last process gone, step latency p50 and p99 (announcement to
published block, from the coordinator's metrics), bytes per step through the coordinator, the largest
resident memory of each node process (sampled every 0.2 s from /proc; median and max over the nodes),
and CPU seconds per step of the coordinator and of all nodes together.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tiled import write_tiled_data
from ets.run.launcher import run_cluster
from ets.run.workflow import prepare_run
from runtime.params import Params

TICKS = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, str]:
    """Live descendants of this process that run ``ets`` (pid -> role: coordinator or node)."""
    me = str(os.getpid())
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :].split()[1] != me or b"ets" not in args:
            continue
        out[int(entry.name)] = "coordinator" if b"coordinator" in args else "node"
    return out


def _sample(pid: int) -> tuple[float, float] | None:
    """(resident MB, CPU seconds) of ``pid``."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss_kb = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")]
    if not rss_kb:
        return None  # exited, not yet reaped
    rss = rss_kb[0] / 1024
    fields = stat[stat.rindex(")") + 2 :].split()
    return rss, (int(fields[11]) + int(fields[12])) / TICKS


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.running = True
        self.peak_mb: dict[int, float] = {}
        self.cpu_s: dict[int, float] = {}
        self.role: dict[int, str] = {}

    def run(self) -> None:
        while self.running:
            for pid, role in _children().items():
                got = _sample(pid)
                if got is None:
                    continue
                self.role[pid] = role
                self.peak_mb[pid] = max(self.peak_mb.get(pid, 0.0), got[0])
                self.cpu_s[pid] = got[1]
            time.sleep(0.2)


def one(n: int, steps: int, data: Path, root: Path) -> dict[str, float]:
    tree = {
        "simulation": {"steps": steps, "start_step": 96},
        "household": {"max_households": n, "data_file": str(data)},
        "network": {"start_timeout_s": 600.0, "offer_timeout_s": 30.0},
    }
    params_file = root / f"params{n}.json"
    params_file.write_text(json.dumps(tree))
    params = Params.load(params_file)
    prepared = prepare_run(params, root / f"results{n}", "cluster")
    sampler = Sampler()
    sampler.start()
    started = time.monotonic()
    run_cluster(prepared.run_dir, prepared.genesis)
    wall = time.monotonic() - started
    sampler.running = False
    sampler.join()
    with (prepared.run_dir / "network_metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    latency = sorted(float(r["latency_ms"]) for r in rows)
    nodes = [p for p, r in sampler.role.items() if r == "node"]
    coordinator = [p for p, r in sampler.role.items() if r == "coordinator"]
    node_mb = [sampler.peak_mb[p] for p in nodes]
    return {
        "households": n,
        "steps": steps,
        "wall_s": wall,
        "latency_p50_ms": statistics.median(latency),
        "latency_p99_ms": latency[min(len(latency) - 1, round(0.99 * (len(latency) - 1)))],
        "bytes_per_step": statistics.mean(int(r["bytes_in"]) + int(r["bytes_out"]) for r in rows),
        "node_rss_median_mb": statistics.median(node_mb),
        "node_rss_max_mb": max(node_mb),
        "coordinator_cpu_s_per_step": sum(sampler.cpu_s[p] for p in coordinator) / (steps + 1),
        "nodes_cpu_s_per_step": sum(sampler.cpu_s[p] for p in nodes) / (steps + 1),
        "absent": sum(int(r["absent"]) for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--data", type=Path, help="Instead: a community file with at least max(sizes) households.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ets-bench-") as tmp:
        root = Path(tmp)
        data = args.data
        if data is None:
            start = Params().simulation.start_step  # the file starts a day before the run: run start step 96
            last = start + args.steps + 2 * 96
            data = write_tiled_data(max(args.sizes), start - 96, last, root / "community.parquet", seed=7)
        head = "| households | wall s | step p50 ms | step p99 ms | kB per step | node RSS median / max MB |"
        print(head + " coordinator CPU s/step | nodes CPU s/step | absent |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n in args.sizes:
            r = one(n, args.steps, data, root)
            print(
                f"| {n} | {r['wall_s']:.1f} | {r['latency_p50_ms']:.0f} | {r['latency_p99_ms']:.0f} | "
                f"{r['bytes_per_step'] / 1000:.1f} | {r['node_rss_median_mb']:.0f} / {r['node_rss_max_mb']:.0f} | "
                f"{r['coordinator_cpu_s_per_step']:.3f} | {r['nodes_cpu_s_per_step']:.3f} | {r['absent']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
