"""Throughput of ``restoration batch`` (Ray) against a single-process loop, and how it scales.

    python scripts/batch_throughput.py [--clips 40] [--seconds 30] [--method sbr] [--rounds 2]

Writes ``--clips`` synthetic 32 kHz stereo clips, then alternates, ``--rounds`` times, a plain loop
of :func:`restoration.restore_file` over them in this process (after one warm-up call) and
:func:`restoration.batch.run_batch` on a local Ray instance started once beforehand (worker start,
model warm-up and the results table count in the batch time). The machine is shared, so the two
are measured in the same run, alternately, with the load average before and after each, and with
the CPU time each side got (the loop's process time; the workers' ``cpu_s`` per file): cores got =
CPU time / wall time, and the speed-up an idle machine allows = workers x loop CPU / workers' CPU
(what the wall-time ratio becomes when each worker gets a core, worker start aside). Then it
times the driver's per-file cost (dispatch + collect of a no-op task) and simulates the dispatch
loop with the measured numbers for clusters of 1 to 100 nodes (``--cores-per-node``).
Prints Markdown tables (pasted into docs/batch.md).
"""

from __future__ import annotations

import argparse
import csv
import heapq
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from restoration import restore, restore_file, save_audio  # noqa: E402
from restoration.batch import TASKS_PER_WORKER, run_batch, start_ray  # noqa: E402
from restoration.synth import make_music  # noqa: E402

PIECE_S = 5.0  # make_music is quadratic in length: clips are joined from short pieces


def write_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` distinct 32 kHz stereo clips of ``seconds``, joined from a few synthetic pieces."""
    folder.mkdir(parents=True, exist_ok=True)
    pieces = [make_music(32000, PIECE_S, 2, seed=s) for s in range(6)]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        order = rng.integers(0, len(pieces), int(np.ceil(seconds / PIECE_S)))
        clip = np.concatenate([pieces[k] for k in order], axis=1)[:, :int(seconds * 32000)]
        paths.append(save_audio(folder / f"clip{i:03d}.wav", clip * rng.uniform(0.5, 1.0), 32000))
    return paths


def run_loop(paths: list[Path], out: Path, method: str) -> tuple[float, float]:
    """Wall time and CPU time (s) of restoring every file in turn in this process."""
    out.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        restore_file(path, out / f"{path.stem}.flac", method, subtype="pcm24")
    return time.perf_counter() - started, time.process_time() - cpu


def batch_cpu(out: Path) -> list[float]:
    """CPU seconds the workers spent on each file (read, restore, write): results.csv's cpu_s."""
    with open(out / "results.csv", newline="") as handle:
        return [float(row["cpu_s"]) for row in csv.DictReader(handle)]


def driver_cost(tasks: int = 2000) -> float:
    """Seconds of driver time per file for the dispatch loop's Ray calls (no-op actor tasks, bounded in flight)."""
    import ray

    @ray.remote(num_cpus=0)
    class Echo:
        def process(self, job):
            return {"status": "ok", "job": job}

    actors = [Echo.remote() for _ in range(2)]
    ray.get([a.process.remote(0) for a in actors])
    pending, started = [], time.perf_counter()
    for i in range(tasks):
        if len(pending) >= 2 * TASKS_PER_WORKER:
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready)
        pending.append(actors[i % 2].process.remote(i))
    ray.get(pending)
    return (time.perf_counter() - started) / tasks


def simulate(file_seconds: list[float], workers: int, driver_s: float, files: int, seed: int = 0) -> float:
    """Files per second of the bounded dispatch loop: one driver (``driver_s`` per file, serial) feeding
    ``workers`` that take per-file times drawn from ``file_seconds``."""
    rng = np.random.default_rng(seed)
    free = [(0.0, w) for w in range(workers)]  # (time the worker is free, worker)
    heapq.heapify(free)
    clock = finished = 0.0
    for _ in range(files):
        clock += driver_s  # the driver dispatches (and later collects) one file at a time
        ready, worker = heapq.heappop(free)
        start = max(clock, ready)
        end = start + float(rng.choice(file_seconds))
        finished = max(finished, end)
        heapq.heappush(free, (end, worker))
    return files / finished


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each clip, s")
    parser.add_argument("--method", default="sbr")
    parser.add_argument("--rounds", type=int, default=2, help="loop/batch pairs, alternated")
    parser.add_argument("--cores-per-node", type=int, default=16, help="for the simulation")
    args = parser.parse_args()

    import ray

    with tempfile.TemporaryDirectory(prefix="batch-throughput-") as tmp:
        tmp = Path(tmp)
        clips = write_clips(tmp / "in", args.clips, args.seconds)
        restore(np.zeros((2, 32000), np.float32) + 1e-3, 32000, args.method)  # warm up the loop's process
        started = time.perf_counter()
        start_ray(num_cpus=os.cpu_count())  # as `restoration batch` starts it
        init_s = time.perf_counter() - started
        rows = []
        for round_ in range(args.rounds):
            load0 = os.getloadavg()[0]
            loop_s, loop_cpu = run_loop(clips, tmp / f"loop{round_}", args.method)
            load1 = os.getloadavg()[0]
            summary = run_batch(tmp / "in", tmp / f"batch{round_}", args.method, progress=False)
            load2 = os.getloadavg()[0]
            assert summary.ok == args.clips, summary.line()
            per_file = batch_cpu(tmp / f"batch{round_}")
            cpu = sum(per_file)
            rows.append((round_ + 1, loop_s, summary.wall_s, loop_s / summary.wall_s, load0, load1, load2,
                         loop_cpu / loop_s, cpu / summary.wall_s, summary.workers * loop_cpu / cpu))
        driver_s = driver_cost()
        workers = summary.workers
        ray.shutdown()

    print(f"{args.clips} clips of {args.seconds:g} s (32 kHz stereo), method {args.method}, {os.cpu_count()} cores, "
          f"{workers} Ray workers; ray.init took {init_s:.1f} s (not counted)\n")
    print("| round | single-process loop s | batch on Ray s | speed-up | load avg before / between / after "
          "| cores the loop got | cores the workers got | idle-machine speed-up (CPU time) |")
    print("|---|---|---|---|---|---|---|---|")
    for r, loop_s, batch_s, ratio, l0, l1, l2, loop_cores, batch_cores, idle in rows:
        print(f"| {r} | {loop_s:.1f} | {batch_s:.1f} | {ratio:.2f}x | {l0:.1f} / {l1:.1f} / {l2:.1f} "
              f"| {loop_cores:.2f} | {batch_cores:.2f} | {idle:.2f}x |")
    print(f"\nmedian speed-up {statistics.median(r[3] for r in rows):.2f}x; driver cost {1e3 * driver_s:.2f} ms per file "
          f"(no-op tasks, 4 in flight); worker CPU per file {statistics.median(per_file):.2f} s "
          f"(median of the last batch's cpu_s: what a file costs a worker that has a core to itself)\n")
    service = per_file
    print(f"| nodes x {args.cores_per_node} cores | workers | simulated files/s | efficiency |")
    print("|---|---|---|---|")
    for nodes in (1, 2, 10, 25, 50, 100):
        n = nodes * args.cores_per_node
        rate = simulate(service, n, driver_s, files=max(2000, 20 * n))
        print(f"| {nodes} | {n} | {rate:.0f} | {rate / (n / statistics.mean(service)):.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
