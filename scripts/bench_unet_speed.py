"""Speed and memory of the ``unet`` method against the targets of issue 11, on this machine's CPU.

    python scripts/bench_unet_speed.py [--checkpoint restoration/data/unet] [--threads 2] [--minutes 10]

Measures, each in its own fresh process where start-up matters:

* warm real-time factor: ``pipeline.restore(y, 32000, "unet")`` on 10 s of stereo at 32 kHz, after
  one warm-up call, median of 5 (target <= 0.03 with 2 threads);
* cold start: a new Python process that imports the library, loads the model and restores its first
  10 s clip; wall time from launch to result (target <= 3 s);
* peak RSS of ``python -m restoration restore`` on a ``--minutes`` stereo 32 kHz file, for ``unet``
  and for ``passthrough`` (the pipeline alone) (target <= 1 GB for 10 minutes).

The audio is a held-out corpus clip (``data/corpus/real``) when there is one, tiled; otherwise
noise shaped like music. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def music(seconds: float, sr: int = 32000) -> np.ndarray:
    """Float32 ``(2, seconds * sr)``: a held-out real clip tiled, or pink-ish noise."""
    from restoration.audio import load_audio

    clips = sorted((ROOT / "data" / "corpus" / "real").glob("*.flac"))
    if clips:
        y, _ = load_audio(clips[0], sr=sr)
    else:
        rng = np.random.default_rng(0)
        spec = np.fft.rfft(rng.standard_normal((2, 10 * sr)), axis=-1)
        spec /= np.sqrt(1 + np.fft.rfftfreq(10 * sr, 1 / sr) / 200)
        y = np.fft.irfft(spec, axis=-1)
        y = (0.3 * y / np.max(np.abs(y))).astype(np.float32)
    reps = int(np.ceil(seconds * sr / y.shape[-1]))
    return np.tile(y, (1, reps))[:, :int(seconds * sr)].astype(np.float32)


def warm_rtf(checkpoint: str, threads: int) -> float:
    import torch

    from restoration.pipeline import restore

    torch.set_num_threads(threads)
    y = music(10.0)
    params = {"checkpoint": checkpoint, "device": "cpu"}
    restore(y, 32000, "unet", params)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        restore(y, 32000, "unet", params)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / 10.0


COLD = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from restoration.pipeline import restore
y = np.load({path!r})
out, rate = restore(y, 32000, "unet", {{"checkpoint": {ckpt!r}, "device": "cpu"}})
assert rate == 48000 and np.all(np.isfinite(out))
"""


def cold_start(checkpoint: str, threads: int, folder: Path) -> float:
    path = folder / "ten.npy"
    np.save(path, music(10.0))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", COLD.format(root=str(ROOT), path=str(path), ckpt=checkpoint)],
                   check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def peak_rss_gb(method: str, checkpoint: str, minutes: float, threads: int, folder: Path) -> float:
    """Peak RSS (GB) of the CLI restoring a ``minutes`` stereo file, in a child that runs nothing else."""
    import soundfile as sf

    source = folder / f"long-{minutes:g}.wav"
    if not source.exists():
        sf.write(source, music(minutes * 60).T, 32000, subtype="PCM_16")
    args = ["-m", method] + (["--set", f"checkpoint={checkpoint}", "--set", "device=cpu"] if method == "unet" else [])
    probe = ("import resource, subprocess, sys; "
             f"subprocess.run([sys.executable, '-m', 'restoration', 'restore', {str(source)!r}, "
             f"{str(folder / (method + '.wav'))!r}, *{args!r}], check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", probe], check=True, env=env, cwd=ROOT, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 2 ** 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "restoration" / "data" / "unet"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    checkpoint = str(Path(args.checkpoint).resolve())
    with tempfile.TemporaryDirectory(prefix="bench-unet-") as tmp:
        folder = Path(tmp)
        rows = [("warm real-time factor, 10 s stereo", f"{warm_rtf(checkpoint, args.threads):.4f}", "<= 0.03"),
                ("import + model load + first 10 s clip, s", f"{cold_start(checkpoint, args.threads, folder):.2f}", "<= 3"),
                (f"peak RSS, {args.minutes:g} min stereo, unet, GB",
                 f"{peak_rss_gb('unet', checkpoint, args.minutes, args.threads, folder):.2f}", "<= 1.0"),
                (f"peak RSS, {args.minutes:g} min stereo, passthrough, GB",
                 f"{peak_rss_gb('passthrough', checkpoint, args.minutes, args.threads, folder):.2f}", "(reference)")]
    load = os.getloadavg()[0]
    print(f"threads {args.threads}, load average {load:.1f} at the end, checkpoint {checkpoint}\n")
    print("| measurement | value | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
