"""Where the U-Net's headroom is: its output with one region rescaled to the clean clip, or replaced by it.

    python research/band_envelope_oracle.py --data data/corpus --cache data/unet_pairs_v2 \
        [--checkpoint restoration/data/unet] [--split real] [--clips 43] [--region above] [--report bench-out/oracle.json]

For each held-out pair (degraded as in ``train --evaluate``), the U-Net's output ``Y`` and the clean
clip ``X`` go through a 1024/256 Hann STFT. The region is the band above the input's cutoff
(``--region above``; ``estimate_cutoff`` of the degraded clip) or the band the codec left, from
4 kHz to 375 Hz below the cutoff (``--region below``). There ``Y`` is scaled, band by band, to the
clean clip's power: one gain per 375 Hz band and clip (``static``), per 2 kHz band and 16 frames
(``env_2k_85ms``), per 375 Hz band and frame (``env_375_5ms``); ``true_band`` replaces the region by
``X`` outright (``below``: everything under the cutoff, from 0 Hz). The ViSQOL of each against the
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
#: ``--region below``: from this frequency (Hz) to ``BELOW_MARGIN_HZ`` under the cutoff.
BELOW_FROM_HZ, BELOW_MARGIN_HZ = 4000.0, 375.0


def block_power(power: np.ndarray, frames: int) -> np.ndarray:
    """Mean of ``power`` ``(channels, frames)`` over blocks of ``frames`` (0: the whole clip), same shape."""
    if frames == 0:
        return np.broadcast_to(power.mean(-1, keepdims=True), power.shape)
    return uniform_filter1d(power, frames, axis=-1, mode="nearest")


def bins_of(lo_hz: float, hi_hz: float) -> tuple[int, int]:
    """STFT bin range ``[first, stop)`` from ``lo_hz`` to ``hi_hz`` (Hz, both rounded up; at or above
    the Nyquist frequency: to the last bin, included)."""
    stop = N_FFT // 2 + 1 if hi_hz >= SR / 2 else int(np.ceil(hi_hz * N_FFT / SR))
    return int(np.ceil(lo_hz * N_FFT / SR)), stop


def rescaled(out: np.ndarray, clean: np.ndarray, lo_hz: float, band_bins: int, frames: int,
             hi_hz: float = SR / 2) -> np.ndarray:
    """``out`` ``(channels, n)`` with each band from ``lo_hz`` to ``hi_hz`` scaled to ``clean``'s power there."""
    y, x = stft(out, n_fft=N_FFT, hop=HOP), stft(clean, n_fft=N_FFT, hop=HOP)
    first, stop = bins_of(lo_hz, hi_hz)
    z = y.copy()
    for lo in range(first, stop, band_bins):
        hi = min(lo + band_bins, stop)
        py = block_power(np.mean(np.abs(y[:, lo:hi]) ** 2, axis=1), frames)
        px = block_power(np.mean(np.abs(x[:, lo:hi]) ** 2, axis=1), frames)
        z[:, lo:hi] = y[:, lo:hi] * np.minimum(np.sqrt(px / (py + 1e-12)), 100.0)[:, None]
    return istft(z, length=out.shape[-1], n_fft=N_FFT, hop=HOP)


def with_true_band(out: np.ndarray, clean: np.ndarray, lo_hz: float, hi_hz: float = SR / 2) -> np.ndarray:
    """``out`` ``(channels, n)`` with its bins from ``lo_hz`` to ``hi_hz`` (Hz) replaced by ``clean``'s."""
    y, x = stft(out, n_fft=N_FFT, hop=HOP), stft(clean, n_fft=N_FFT, hop=HOP)
    first, stop = bins_of(lo_hz, hi_hz)
    y[:, first:stop] = x[:, first:stop]
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
    parser.add_argument("--region", default="above", choices=("above", "below"),
                        help="the band above the cutoff, or the band the codec left under it")
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
        lo, hi = (cutoff, SR / 2) if args.region == "above" else (BELOW_FROM_HZ, cutoff - BELOW_MARGIN_HZ)
        versions = {"unet": out, **{name: rescaled(out, clean, lo, *res, hi_hz=hi) for name, res in RESOLUTIONS.items()},
                    "true_band": with_true_band(out, clean, *((lo, hi) if args.region == "above" else (0.0, hi)))}
        row = {"clip": pair.name, "genre": genre, "cutoff_hz": cutoff,
               **{name: visqol_moslqo(y, SR, clean, SR) for name, y in versions.items()}}
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), file=sys.stderr)
    names = ["unet", *RESOLUTIONS, "true_band"]
    print(f"| U-Net output, band {args.region} the cutoff | ViSQOL | " + " | ".join(sorted(set(genres))) + " |")
    print("|---|---|" + "---|" * len(set(genres)))
    for name in names:
        per = [np.mean([r[name] for r in rows if r["genre"] == g]) for g in sorted(set(genres))]
        print(f"| {name} | {np.mean([r[name] for r in rows]):.2f} | " + " | ".join(f"{v:.2f}" for v in per) + " |")
    if args.report:
        write_report(args.report, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
