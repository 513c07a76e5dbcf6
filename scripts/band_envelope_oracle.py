"""Where the U-Net's headroom is: its output with the band above the cutoff rescaled to the clean clip.

    python scripts/band_envelope_oracle.py --data data/corpus --cache data/unet_pairs_v2 \
        [--checkpoint restoration/data/unet] [--split real] [--clips 43] [--report bench-out/oracle.json]

For each held-out pair (degraded as in ``train --evaluate``), the U-Net's output ``Y`` and the clean
clip ``X`` go through a 1024/256 Hann STFT; above the input's cutoff (``estimate_cutoff`` of the
degraded clip) ``Y`` is scaled, band by band, to the clean clip's power: one gain per 375 Hz band and
clip (``static``), per 2 kHz band and 16 frames (``env_2k_85ms``), per 375 Hz band and frame
(``env_375_5ms``); ``true_band`` replaces the band by ``X`` outright. The ViSQOL of each against the
clean clip, as means over clips and genres, says how much an exact envelope would give at each
resolution. These oracles read the clean clip: they are bounds, not methods. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restoration.dsp.cutoff import estimate_cutoff  # noqa: E402
from restoration.dsp.stft import istft, stft  # noqa: E402

SR, N_FFT, HOP = 48000, 1024, 256
#: Oracle name -> (bins per band, frames per block; 0: one block for the whole clip).
RESOLUTIONS = {"static": (8, 0), "env_2k_85ms": (43, 16), "env_375_5ms": (8, 1)}


def block_power(power: np.ndarray, frames: int) -> np.ndarray:
    """Mean of ``power`` ``(channels, frames)`` over blocks of ``frames`` (0: the whole clip), same shape."""
    if frames == 0:
        return np.broadcast_to(power.mean(-1, keepdims=True), power.shape)
    return uniform_filter1d(power, frames, axis=-1, mode="nearest")


def rescaled(out: np.ndarray, clean: np.ndarray, cutoff_hz: float, band_bins: int, frames: int) -> np.ndarray:
    """``out`` ``(channels, n)`` with each band above ``cutoff_hz`` scaled to ``clean``'s power there."""
    y, x = stft(out, n_fft=N_FFT, hop=HOP), stft(clean, n_fft=N_FFT, hop=HOP)
    first = int(np.ceil(cutoff_hz * N_FFT / SR))
    z = y.copy()
    for lo in range(first, N_FFT // 2 + 1, band_bins):
        hi = min(lo + band_bins, N_FFT // 2 + 1)
        py = block_power(np.mean(np.abs(y[:, lo:hi]) ** 2, axis=1), frames)
        px = block_power(np.mean(np.abs(x[:, lo:hi]) ** 2, axis=1), frames)
        z[:, lo:hi] = y[:, lo:hi] * np.minimum(np.sqrt(px / (py + 1e-12)), 100.0)[:, None]
    return istft(z, length=out.shape[-1], n_fft=N_FFT, hop=HOP)


def with_true_band(out: np.ndarray, clean: np.ndarray, cutoff_hz: float) -> np.ndarray:
    y, x = stft(out, n_fft=N_FFT, hop=HOP), stft(clean, n_fft=N_FFT, hop=HOP)
    first = int(np.ceil(cutoff_hz * N_FFT / SR))
    y[:, first:] = x[:, first:]
    return istft(y, length=out.shape[-1], n_fft=N_FFT, hop=HOP)


def main(argv: list[str] | None = None) -> int:
    from restoration.analysis.metrics import visqol_moslqo
    from restoration.training.train import evaluation_pairs, restored, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/corpus")
    parser.add_argument("--cache", default="data/unet_pairs_v2")
    parser.add_argument("--checkpoint", default="", help="U-Net folder (default: the shipped one)")
    parser.add_argument("--split", default="real", choices=("real", "unseen"))
    parser.add_argument("--clips", type=int, default=43)
    parser.add_argument("--report", default="", help="write every clip's scores here (JSON)")
    args = parser.parse_args(argv)

    pairs, genres = evaluation_pairs(args.data, args.clips, args.split, cache=args.cache)
    params = {"checkpoint": args.checkpoint} if args.checkpoint else None
    rows = []
    for pair, genre in zip(pairs, genres):
        out = restored(pair, "unet", params)
        n = min(out.shape[-1], pair.clean.shape[-1])
        out, clean = out[..., :n], pair.clean[..., :n]
        cutoff = estimate_cutoff(pair.degraded, SR)
        versions = {"unet": out, **{name: rescaled(out, clean, cutoff, *res) for name, res in RESOLUTIONS.items()},
                    "true_band": with_true_band(out, clean, cutoff)}
        row = {"clip": pair.name, "genre": genre, "cutoff_hz": cutoff,
               **{name: visqol_moslqo(y, SR, clean, SR) for name, y in versions.items()}}
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), file=sys.stderr)
    names = ["unet", *RESOLUTIONS, "true_band"]
    print("| U-Net output, band above the cutoff | ViSQOL | " + " | ".join(sorted(set(genres))) + " |")
    print("|---|---|" + "---|" * len(set(genres)))
    for name in names:
        per = [np.mean([r[name] for r in rows if r["genre"] == g]) for g in sorted(set(genres))]
        print(f"| {name} | {np.mean([r[name] for r in rows]):.2f} | " + " | ".join(f"{v:.2f}" for v in per) + " |")
    if args.report:
        write_report(args.report, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
