"""How well a method follows the time course of the band above the cutoff, and what could predict it.

    python research/band_course.py --data data/corpus --cache data/unet_pairs_v2 \
        [--methods sbr,unet] [--split real] [--clips 43] [--report bench-out/course.json]

For each held-out pair (degraded as in ``train --evaluate``), the level (dB) of two bands above the
input's cutoff ``fc`` (``near``: fc to fc + 2 kHz; ``far``: fc + 2 to fc + 5 kHz, both below the clean
clip's bandwidth less 1 kHz) is taken per 85 ms block (16 frames of a 1024/256 Hann STFT at 48 kHz)
in the clean clip, in each method's output, and in the degraded input just below ``fc``
(``below_1k``: fc - 1 kHz to fc; ``below_2k``: fc - 2 to fc - 1 kHz: the simplest predictors of the
course). Per clip and channel, over blocks within 50 dB of the clean band's loudest: ``bias`` (mean
level against the clean band's, dB), ``corr`` (correlation of the two courses, each less its mean)
and ``rms`` (dB between those courses). Prints the mean and median over clips, per band and source.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restoration.dsp.stft import stft  # noqa: E402

SR, N_FFT, HOP, BLOCK = 48000, 1024, 256, 16
#: Band name -> (Hz above the cutoff where it starts, where it ends).
BANDS = {"near": (0.0, 2000.0), "far": (2000.0, 5000.0)}
#: Predictor name -> (Hz below the cutoff where it starts, where it ends), read from the degraded input.
BELOW = {"below_1k": (1000.0, 0.0), "below_2k": (2000.0, 1000.0)}
QUIET_DB = 50.0


def course(spec: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Level (dB) of bins ``[lo, hi)`` of ``spec`` ``(channels, bins, frames)`` per block: ``(channels, blocks)``."""
    power = np.mean(np.abs(spec[:, lo:hi]) ** 2, axis=1)
    blocks = power.shape[-1] // BLOCK
    power = power[:, :blocks * BLOCK].reshape(power.shape[0], blocks, BLOCK).mean(-1)
    return 10.0 * np.log10(power + 1e-12)


def course_stats(clean: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """``bias``, ``corr`` and ``rms`` (see the module docstring) of courses ``(channels, blocks)``, averaged
    over channels; NaN where no channel has 5 loud blocks."""
    bias, corr, rms = [], [], []
    for x, y in zip(clean, pred):
        loud = x > x.max() - QUIET_DB
        if loud.sum() < 5:
            continue
        xd, yd = x[loud] - x[loud].mean(), y[loud] - y[loud].mean()
        bias.append(y[loud].mean() - x[loud].mean())
        corr.append(float(np.corrcoef(xd, yd)[0, 1]) if xd.std() > 0 and yd.std() > 0 else 0.0)
        rms.append(np.sqrt(np.mean((yd - xd) ** 2)))
    return {name: float(np.mean(v)) if v else float("nan") for name, v in (("bias", bias), ("corr", corr), ("rms", rms))}


def clip_stats(clean: np.ndarray, degraded: np.ndarray, outputs: dict[str, np.ndarray], cutoff_hz: float,
               bandwidth_hz: float) -> dict[str, dict[str, float]]:
    """``{"<band>/<source>": stats}`` for one clip (all ``(channels, samples)`` at 48 kHz, aligned)."""
    hz = SR / N_FFT
    top = min(bandwidth_hz - 1000.0, 22000.0)
    x, d = stft(clean, n_fft=N_FFT, hop=HOP), stft(degraded, n_fft=N_FFT, hop=HOP)
    specs = {name: stft(y, n_fft=N_FFT, hop=HOP) for name, y in outputs.items()}
    edge = int(np.ceil(cutoff_hz / hz))
    out = {}
    for band, (lo_hz, hi_hz) in BANDS.items():
        lo, hi = edge + 2 + int(lo_hz / hz), int(min(cutoff_hz + hi_hz, top) / hz)  # 2 bins clear of the edge
        if hi - lo < 4:
            continue
        target = course(x, lo, hi)
        for name, spec in specs.items():
            out[f"{band}/{name}"] = course_stats(target, course(spec, lo, hi))
        for name, (from_hz, to_hz) in BELOW.items():
            below = course(d, edge - 2 - int(from_hz / hz), edge - 2 - int(to_hz / hz))
            out[f"{band}/{name}"] = course_stats(target, below)
    return out


def main(argv: list[str] | None = None) -> int:
    from restoration.dsp.cutoff import estimate_cutoff
    from restoration.training.train import evaluation_pairs, restored, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/corpus")
    parser.add_argument("--cache", default="data/unet_pairs_v2")
    parser.add_argument("--methods", default="sbr,unet")
    parser.add_argument("--split", default="real", choices=("real", "unseen"))
    parser.add_argument("--clips", type=int, default=43)
    parser.add_argument("--report", default="", help="write every clip's numbers here (JSON)")
    args = parser.parse_args(argv)

    pairs, genres = evaluation_pairs(args.data, args.clips, args.split, cache=args.cache)
    rows = []
    for pair, genre in zip(pairs, genres):
        cutoff = estimate_cutoff(pair.degraded, SR)
        if not 6000.0 <= cutoff <= 20000.0:
            continue
        outputs = {}
        for method in [m for m in args.methods.split(",") if m]:
            outputs[method] = restored(pair, method)[..., :pair.clean.shape[-1]]
        rows.append({"clip": pair.name, "genre": genre, "cutoff_hz": cutoff,
                     **clip_stats(pair.clean, pair.degraded, outputs, cutoff, pair.bandwidth)})
    keys = sorted({k for row in rows for k in row if "/" in k}, key=lambda k: (k.split("/")[0] != "near", k))
    print("| band / source | clips | bias dB (median) | course corr (median) | course rms dB (median) |")
    print("|---|---|---|---|---|")
    for key in keys:
        stats = {s: [row[key][s] for row in rows if key in row and np.isfinite(row[key][s])] for s in ("bias", "corr", "rms")}
        print(f"| {key} | {len(stats['bias'])} | " + " | ".join(
            f"{np.mean(v):+.2f} ({np.median(v):+.2f})" for v in stats.values()) + " |")
    if args.report:
        write_report(args.report, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
