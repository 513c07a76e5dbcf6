"""Which level of the new band ViSQOL prefers: the U-Net at several ``air`` settings, on one set of clips.

    python research/air_preference.py [--split real|unseen|train] [--clips 43] [--airs=-0.25,0,0.25] \
        [--surrogate-only] [--checkpoint DIR] [--data data/corpus] [--cache data/unet_pairs_v2] \
        [--packages a,b] [--report bench-out/air.json]

``air`` scales the whole new band (6 dB per unit), so the scores against it show whether a set of
clips wants the band brighter or darker than the model makes it. Each clip goes through
``train.restored`` (the degraded clip at 32 kHz, as MusicGen delivers it) and is scored by real
ViSQOL (left out with ``--surrogate-only``) and by the training loss's ViSQOL surrogate
(:mod:`restoration.training.visqol_surrogate`, on the mono mixes, the band above each clean clip's
own bandwidth counted as perfect as in training). ``real`` and ``unseen`` are the evaluation clips
(``train --evaluate``'s degradation seeds); ``train`` is a seeded sample of ``--clips`` training clips
(of ``--packages``, default all), degraded with ``--pair-seed`` as the recipe's ``--seed 0`` does.
Prints a Markdown table of the mean scores per setting.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def training_pairs(data: str, cache: str, count: int, packages: str, pair_seed: int) -> list:
    """Pairs of a seeded sample of ``count`` training clips, degraded with ``pair_seed``."""
    from restoration.training.data import cached_pairs
    from restoration.training.train import DEFAULT_CUTOFFS, clip_bandwidths, degradation, training_files

    files = training_files(data, packages)
    chosen = [files[i] for i in sorted(np.random.default_rng(0).permutation(len(files))[:count])]
    return cached_pairs(chosen, seeds=[pair_seed], cache=cache, config=degradation("", DEFAULT_CUTOFFS),
                        bandwidths=clip_bandwidths(data))


def surrogate_mos(out: np.ndarray, clean: np.ndarray, bandwidth: float) -> float:
    """The ViSQOL surrogate's MOS of ``out`` against ``clean`` (both ``(channels, n)`` at 48 kHz)."""
    import torch

    pred, target = (torch.from_numpy(np.ascontiguousarray(a.mean(0, keepdims=True), dtype=np.float32)) for a in (out, clean))
    with torch.no_grad():
        return float(_surrogate()(pred, target, torch.tensor([float(bandwidth)])).mean())


def refuse(message: str) -> int:
    """Print a one-line error for bad input; the exit status 2, as the project's command line gives."""
    print(f"error: {message}", file=sys.stderr)
    return 2


@functools.lru_cache(maxsize=1)
def _surrogate():
    from restoration.training.visqol_surrogate import VisqolSurrogate

    return VisqolSurrogate(48000)


def main(argv: list[str] | None = None) -> int:
    from restoration.analysis.metrics import visqol_moslqo
    from restoration.errors import BadInputError
    from restoration.training.train import evaluation_pairs, restored, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/corpus")
    parser.add_argument("--cache", default="data/unet_pairs_v2")
    parser.add_argument("--checkpoint", default="", help="U-Net folder (default: the shipped one)")
    parser.add_argument("--split", default="real", choices=("real", "unseen", "train"))
    parser.add_argument("--clips", type=int, default=43)
    parser.add_argument("--airs", default="-0.25,0,0.25", help="comma-separated air settings in [-1, 1]")
    parser.add_argument("--packages", default="", help="with --split train: only these source packages")
    parser.add_argument("--pair-seed", type=int, default=0, help="with --split train: the degradation seed")
    parser.add_argument("--surrogate-only", action="store_true", help="leave real ViSQOL out (fast)")
    parser.add_argument("--report", default="", help="write every clip's scores here (JSON)")
    args = parser.parse_args(argv)
    try:
        airs = [float(a) for a in args.airs.split(",")]
    except ValueError:
        return refuse(f"--airs must be numbers separated by commas, got {args.airs!r}")
    if not airs or any(abs(a) > 1 for a in airs):
        return refuse(f"every --airs value must be within [-1, 1], got {args.airs!r}")

    if args.split == "train":
        pairs = training_pairs(args.data, args.cache, args.clips, args.packages, args.pair_seed)
    else:
        pairs, _ = evaluation_pairs(args.data, args.clips, args.split, cache=args.cache)
    if not pairs:
        return refuse(f"no {args.split} clips under {args.data}")
    scorers = ["surrogate"] + ([] if args.surrogate_only else ["visqol"])
    rows = []
    for pair in pairs:
        row = {"clip": pair.name}
        for air in airs:
            params = {"air": air, **({"checkpoint": args.checkpoint} if args.checkpoint else {})}
            try:
                out = restored(pair, "unet", params)
            except BadInputError as error:
                return refuse(str(error))
            n = min(out.shape[-1], pair.clean.shape[-1])
            out, clean = out[..., :n], pair.clean[..., :n]
            row[f"surrogate@{air:g}"] = surrogate_mos(out, clean, pair.bandwidth)
            if "visqol" in scorers:
                row[f"visqol@{air:g}"] = visqol_moslqo(out, 48000, clean, 48000)
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), file=sys.stderr)
    print(f"| {args.split} ({len(rows)} clips) | " + " | ".join(f"air {a:+g} ({a * 6:+g} dB)" for a in airs) + " |")
    print("|---|" + "---|" * len(airs))
    for scorer in scorers:
        print(f"| {scorer} | " + " | ".join(f"{np.mean([r[f'{scorer}@{a:g}'] for r in rows]):.4f}" for a in airs) + " |")
    if args.report:
        write_report(args.report, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
