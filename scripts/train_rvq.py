"""Train the codebooks of the degradation's MDCT residual vector quantizer (run once).

    python scripts/train_rvq.py --corpus data/corpus --out restoration/data/rvq_codebooks.npz

Reads training clips of the corpus (``train/*.flac``), resamples them to 32 kHz, takes the
unit-RMS band vectors of their MDCT (the same features ``restoration.degrade.rvq_roundtrip``
quantizes) and fits, region by region and stage by stage, a k-means codebook on the residual the
earlier stages leave. Seeded: the same corpus and seed give the same codebooks. Saved as float16.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from restoration.audio import load_audio  # noqa: E402
from restoration.degrade import OUT_SR, RVQ_DIM, RVQ_HOP, band_regions, band_shapes, mdct, nearest  # noqa: E402


def kmeans(x: np.ndarray, k: int, *, rng: np.random.Generator, iterations: int = 25) -> np.ndarray:
    """Lloyd's k-means of ``x (m, dim)`` from k-means++ seeds; returns ``(k, dim)`` centroids."""
    centroids = [x[rng.integers(len(x))]]
    dist = np.sum((x - centroids[0]) ** 2, axis=1)
    for _ in range(1, k):
        centroids.append(x[rng.choice(len(x), p=dist / dist.sum())])
        dist = np.minimum(dist, np.sum((x - centroids[-1]) ** 2, axis=1))
    c = np.stack(centroids)
    for _ in range(iterations):
        labels = nearest(x, c)
        sums = np.zeros_like(c)
        np.add.at(sums, labels, x)
        counts = np.bincount(labels, minlength=k)[:, None]
        empty = counts[:, 0] == 0
        c = np.where(empty[:, None], x[rng.integers(len(x), size=k)], sums / np.maximum(counts, 1))
    return c.astype(np.float32)


def band_vectors(files: list[Path], *, min_rms_db: float = -70.0) -> np.ndarray:
    """Unit-RMS MDCT band vectors ``(m, bands, dim)`` of every frame of ``files`` loud enough to matter."""
    out = []
    for path in files:
        y, _ = load_audio(path, sr=OUT_SR)
        shapes, rms = band_shapes(mdct(y))
        shapes, rms = shapes.reshape(-1, *shapes.shape[-2:]), rms.reshape(-1, rms.shape[-2])
        loud = 20 * np.log10(np.sqrt(np.mean(rms ** 2, axis=1)) + 1e-12) > min_rms_db
        out.append(shapes[loud])
    return np.concatenate(out)


def train(vectors: np.ndarray, *, stages: int, regions: int, entries: int, per_region: int,
          seed: int) -> np.ndarray:
    """Codebooks ``(stages, regions, entries, dim)``: k-means on each stage's residual."""
    rng = np.random.default_rng(seed)
    region_of = band_regions(vectors.shape[1], regions)
    books = np.zeros((stages, regions, entries, vectors.shape[-1]), dtype=np.float32)
    for region in range(regions):
        x = vectors[:, region_of == region, :].reshape(-1, vectors.shape[-1])
        x = x[rng.choice(len(x), size=min(per_region, len(x)), replace=False)]
        for stage in range(stages):
            books[stage, region] = kmeans(x, entries, rng=rng)
            x = x - books[stage, region][nearest(x, books[stage, region])]
            print(f"region {region} stage {stage}: residual RMS {np.sqrt(np.mean(x ** 2)):.3f}", file=sys.stderr)
    return books


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/corpus", help="corpus folder with train/*.flac")
    parser.add_argument("--out", default="restoration/data/rvq_codebooks.npz")
    parser.add_argument("--clips", type=int, default=60, help="training clips used (first N by name)")
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--regions", type=int, default=4, help="codebook regions across the 40 bands")
    parser.add_argument("--entries", type=int, default=256)
    parser.add_argument("--per-region", type=int, default=40000, help="training vectors per region")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    files = sorted(Path(args.corpus, "train").glob("*.flac"))[: args.clips]
    if not files:
        print(f"error: no training clips in {args.corpus}/train; run python -m restoration.corpus first", file=sys.stderr)
        return 2
    books = train(band_vectors(files), stages=args.stages, regions=args.regions, entries=args.entries,
                  per_region=args.per_region, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, codebooks=books.astype(np.float16), hop=RVQ_HOP, dim=RVQ_DIM,
                        sample_rate=OUT_SR, clips=len(files), seed=args.seed)
    print(f"{args.out}: {books.shape} from {len(files)} clips, {Path(args.out).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
