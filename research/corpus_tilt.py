"""How bright each package of the corpus is above 12 kHz: the training mix's prior for the new band.

    python research/corpus_tilt.py [--data data/corpus]

For every clip of ``train/``, ``real/`` and ``unseen/`` (from the corpus manifest), the level of
12-16 kHz against 6-10 kHz (dB, Welch long-term spectrum of the channel mean, 4096 points). Prints
per split and source package the number of clips, the median and the interquartile range, and the
median measured bandwidth. The U-Net's new band is, clip by clip, mostly the training mix's
average (docs/research/unet-log.md, "the training mix"), so a set darker than the mix scores worse.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import welch

SPLITS = ("train", "real", "unseen")


def tilt_db(y: np.ndarray, sr: int) -> float:
    """Level of 12-16 kHz against 6-10 kHz (dB) of ``y`` ``(samples,)`` or ``(samples, channels)``."""
    mono = y.mean(axis=1) if y.ndim == 2 else y
    freqs, psd = welch(mono, sr, nperseg=4096)

    def level(lo: float, hi: float) -> float:
        return 10.0 * np.log10(psd[(freqs >= lo) & (freqs < hi)].mean() + 1e-20)

    return level(12000.0, 16000.0) - level(6000.0, 10000.0)


def package_tilts(root: Path) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """``{(split, package): [(tilt dB, bandwidth Hz), ...]}`` over the manifest's clips."""
    manifest = json.loads((root / "manifest.json").read_text())
    out: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for clip in manifest["clips"]:
        if clip.get("split") not in SPLITS:
            continue
        y, sr = sf.read(root / clip["file"], dtype="float32")
        out[(clip["split"], clip.get("source_package", "?"))].append(
            (tilt_db(y, sr), float(clip.get("bandwidth_hz", sr / 2))))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/corpus")
    args = parser.parse_args(argv)
    print("| split | package | clips | tilt 12-16 vs 6-10 kHz dB, median | interquartile | bandwidth Hz, median |")
    print("|---|---|---|---|---|---|")
    for (split, package), rows in sorted(package_tilts(Path(args.data)).items()):
        values = np.array(rows)
        q1, q3 = np.percentile(values[:, 0], [25, 75])
        print(f"| {split} | {package} | {len(values)} | {np.median(values[:, 0]):.1f} | {q1:.1f} to {q3:.1f} | "
              f"{np.median(values[:, 1]):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
