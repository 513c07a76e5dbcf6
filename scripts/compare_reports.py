"""Paired comparison of two methods on the same clips, from ``train --evaluate`` reports.

    python scripts/compare_reports.py A.json:degraded/unet B.json:degraded/sbr [--metric visqol] \
        [--data data/corpus]

Each argument is a report (``python -m restoration train --evaluate … --report FILE``) and one of its
rows, ``part/method`` (``degraded/`` may be left out; ``clean_input/unet`` is the do-no-harm row). The
two may come from one report or from two, but must cover the same clips in the same order (the same
``--split`` and ``--val-clips``, so the same degradations). Prints a Markdown table over all clips, per
genre, per range of the low-pass cutoff and per codec each clip's degradation drew (redrawn from its seed,
``clip@seed``, and the report's ``cutoffs`` and ``codecs``) and, where the corpus manifest under ``--data``
names them, per source package: each side's mean, the mean difference A − B with its 95 % bootstrap
interval (4000 resamples, seeded), the clips on which A scores higher, and the Wilcoxon signed-rank p
(6 clips or more). With one score per clip and method, this is the comparison every "version X against
`sbr`" figure in docs/research/unet-log.md rests on.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restoration.analysis.paired import paired  # noqa: E402
from restoration.degrade import draw_params  # noqa: E402
from restoration.errors import BadInputError  # noqa: E402
from restoration.training.train import DEFAULT_CUTOFFS, degradation  # noqa: E402

#: Ranges of the degradation's low-pass cutoff (upper edge in Hz, label); MusicGen's own output reads 14-16 kHz.
CUTOFF_RANGES = ((12500.0, "under 12.5 kHz"), (14000.0, "12.5 to 14 kHz"), (math.inf, "14 kHz and more"))


def report_scores(spec: str, metric: str) -> tuple[dict, np.ndarray]:
    """``REPORT.json:part/method`` -> (the report, the metric per clip as float64 ``(clips,)``)."""
    path, _, row = spec.rpartition(":")
    if not path or not row:
        raise BadInputError(f"{spec!r}: expected REPORT.json:part/method, e.g. eval.json:degraded/unet")
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise BadInputError(f"cannot read the report {path}: {type(error).__name__}") from None
    rows = report.get("rows") if isinstance(report, dict) else None
    if not isinstance(rows, dict):
        raise BadInputError(f"{path} is not a train --evaluate report (no rows)")
    key = row if "/" in row else f"degraded/{row}"
    if key not in rows:
        raise BadInputError(f"{path} has no row {key}; it has {', '.join(rows)}")
    try:
        return report, np.array([float(r[metric]) for r in rows[key]])
    except (KeyError, TypeError, ValueError):
        raise BadInputError(f"{path}: row {key} has no numeric {metric!r} for every clip") from None


def clip_packages(data: str, report: dict) -> list[str] | None:
    """Each clip's source package from ``data/manifest.json`` (clip ``stem@seed`` is ``<split>/stem.flac``),
    or None when the manifest is missing or does not name every clip."""
    try:
        entries = json.loads((Path(data) / "manifest.json").read_text())["clips"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    split = report.get("split", "real")
    source = {e.get("file"): e.get("source_package") for e in entries if isinstance(e, dict)}
    packages = [source.get(f"{split}/{clip.rsplit('@', 1)[0]}.flac") for clip in report["clips"]]
    return packages if all(packages) else None


def clip_degradations(report: dict) -> dict[str, list[str]]:
    """``{"cutoff": [range label per clip], "codec": [...]}``, each clip's degradation drawn again from the
    seed in its name (``stem@seed``) with the report's ``cutoffs`` and ``codecs`` (evaluation's defaults when
    an older report lacks them); empty when a clip name carries no seed."""
    config = degradation(report.get("codecs") or "", report.get("cutoffs") or DEFAULT_CUTOFFS)
    try:
        drawn = [draw_params(int(clip.rsplit("@", 1)[1]), config) for clip in report["clips"]]
    except (IndexError, ValueError):
        return {}
    return {"cutoff": [next(label for edge, label in CUTOFF_RANGES if d.cutoff_hz < edge) for d in drawn],
            "codec": [d.codec for d in drawn]}


def _order(name: str) -> tuple[int, str]:
    """Cutoff ranges low to high, every other label alphabetically."""
    labels = [label for _, label in CUTOFF_RANGES]
    return (labels.index(name) if name in labels else len(labels), name)


def table(a: np.ndarray, b: np.ndarray, groups: dict[str, list[str]]) -> list[str]:
    """Markdown rows: all clips, then each group's values (``{"genre": [per clip], "package": [...]}``)."""
    lines = ["| clips | A | B | A − B [95 % interval] | A higher | Wilcoxon p |", "|---|---|---|---|---|---|"]
    subsets = [("all", np.arange(len(a)))] + [
        (f"{kind} {name}", np.flatnonzero(np.array(labels) == name))
        for kind, labels in groups.items() for name in sorted(set(labels), key=_order)]
    for label, index in subsets:
        s = paired(a[index], b[index], min_clips_for_p=6)
        lines.append(f"| {label} ({s['clips']}) | {s['a']:.3f} | {s['b']:.3f} | {s['difference']:+.3f} "
                     f"[{s['low']:+.3f}, {s['high']:+.3f}] | {s['wins']} of {s['clips']} | {s['p']:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="REPORT.json:part/method (A)")
    parser.add_argument("b", help="REPORT.json:part/method (B)")
    parser.add_argument("--metric", default="visqol", help="the per-clip score to compare (visqol, lsd_hf, …)")
    parser.add_argument("--data", default="data/corpus", help="corpus folder whose manifest names the packages")
    args = parser.parse_args(argv)
    try:
        report_a, a = report_scores(args.a, args.metric)
        report_b, b = report_scores(args.b, args.metric)
        if report_a.get("clips") != report_b.get("clips"):
            raise BadInputError("the two rows cover different clips (another --split or --val-clips?)")
        if not len(a):
            raise BadInputError("the reports hold no clip")
    except BadInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    groups = {"genre": report_a.get("genres") or ["other"] * len(a), **clip_degradations(report_a)}
    packages = clip_packages(args.data, report_a)
    if packages:
        groups["package"] = packages
    print(f"A = {args.a}, B = {args.b}, {args.metric}")
    print("\n".join(table(a, b, groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
