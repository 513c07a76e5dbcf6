"""Speed and memory of the DSP restoration methods.

Real-time factor (processing seconds / audio seconds) of every DSP method in the registry, at its
defaults, on a 60 s stereo 32 kHz clip (MusicGen's rate) of synthetic music low-passed at 14 kHz
plus hiss, beside a plain STFT -> ISTFT round trip (2048/512, the floor). Then the peak resident
memory of each method on a 10-minute stereo 48 kHz WAV, each in a fresh subprocess that loads
the file with ``restoration.load_audio`` and runs the method. Peak memory is the process's
high-water mark ``VmHWM`` (the ``ru_maxrss`` of that process alone: Linux's ``ru_maxrss`` of a
spawned child also counts the parent's memory before ``exec``).

    nice -n 10 python research/measure_dsp.py [--seconds 60] [--long-minutes 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from restoration import registry  # noqa: E402
from restoration.audio import load_audio, save_audio  # noqa: E402
from restoration.dsp.stft import istft, stft  # noqa: E402
from signals import lowpass, make_music  # noqa: E402


def clip(sr: int, seconds: float, *, tile_s: float = 5.0, seed: int = 0) -> np.ndarray:
    """Stereo synthetic music (a ``tile_s`` clip repeated) low-passed at 14 kHz, plus fresh hiss."""
    tile = lowpass(make_music(sr, tile_s, 2, seed=seed), sr, 14000.0)
    reps = int(np.ceil(seconds / tile_s))
    y = np.tile(tile, reps)[:, :int(round(seconds * sr))]
    y += 0.003 * np.random.default_rng(seed).standard_normal(y.shape, dtype=np.float32)
    return y


def dsp_methods() -> list[registry.Method]:
    return [m for m in registry.list_methods() if m.target.startswith("restoration.dsp.")]


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def realtime_factors(seconds: float, repeats: int) -> list[tuple[str, float]]:
    sr = 32000
    y = clip(sr, seconds)
    def round_trip() -> np.ndarray:
        return istft(stft(y), length=y.shape[-1])

    round_trip()  # imports librosa outside the timing
    rows = [("stft_istft (floor)", best_time(round_trip, repeats) / seconds)]
    for method in dsp_methods():
        method(y[:, :2 * sr], sr)  # imports and caches outside the timing
        rows.append((method.name, best_time(lambda: method(y, sr), repeats) / seconds))
    return rows


def child(name: str, path: str) -> None:
    """Load ``path``, run method ``name``; print JSON with peak RSS (MiB) after loading and after the method."""
    y, sr = load_audio(path)
    loaded = high_water_mib()
    start = time.perf_counter()
    out = registry.get_method(name)(y, sr)
    seconds = time.perf_counter() - start
    peak = high_water_mib()
    print(json.dumps({"method": name, "loaded_mib": loaded, "peak_mib": peak, "seconds": seconds,
                      "shape": list(out.shape), "finite": bool(np.all(np.isfinite(out)))}))


def high_water_mib() -> float:
    """Peak resident memory of this process so far, MiB (``VmHWM`` of /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def peak_memory(minutes: float) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        save_audio(path, clip(48000, 60.0 * minutes, seed=1), 48000, subtype="pcm16")
        rows = []
        for method in dsp_methods():
            done = subprocess.run([sys.executable, __file__, "--child", method.name, str(path)],
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the RTF clip, s")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="length of the memory test file, min")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per method (the best counts)")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"real-time factor, {args.seconds:g} s stereo 32 kHz, best of {args.repeats}")
    print(f"| {'method':22} | {'RTF':>7} |\n|{'-' * 24}|{'-' * 9}|")
    for name, rtf in realtime_factors(args.seconds, args.repeats):
        print(f"| {name:22} | {rtf:7.4f} |", flush=True)
    print(f"\npeak RSS, {args.long_minutes:g}-minute stereo 48 kHz WAV (fresh process each)")
    print(f"| {'method':22} | {'after load MiB':>14} | {'peak MiB':>8} | {'RTF':>6} |")
    print(f"|{'-' * 24}|{'-' * 16}|{'-' * 10}|{'-' * 8}|")
    for row in peak_memory(args.long_minutes):
        rtf = row["seconds"] / (60.0 * args.long_minutes)
        print(f"| {row['method']:22} | {row['loaded_mib']:14.0f} | {row['peak_mib']:8.0f} | {rtf:6.3f} |", flush=True)


if __name__ == "__main__":
    main()
