"""Turn a U-Net evaluation report into the tables of docs/research/unet-log.md and check the issue's quality targets.

    python -m restoration train --evaluate restoration/data/unet --val-clips 43 --visqol --report bench-out/unet-eval.json
    python scripts/unet_targets.py bench-out/unet-eval.json

Targets (issue 11), on held-out real recordings: ViSQOL >= sbr + 0.15 and >= passthrough + 0.4 in
every genre; LSD above 16 kHz <= 0.7 x sbr's; median band-level bias within +-3 dB in every band
from 12 to 22 kHz; on clean 48 kHz input, ViSQOL >= 4.6. Prints Markdown; exit 0 either way.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

METHODS = ("passthrough", "sbr", "unet")


def fmt(value: float, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def tables(report: dict) -> list[str]:
    """Markdown lines: overall scores, band bias, per-genre ViSQOL, do-no-harm."""
    deg, clean = report["degraded"], report["clean_input"]
    genres = sorted(deg["unet"]["per_genre"])
    counts = {g: report["genres"].count(g) for g in genres}
    bias_keys = sorted(k for k in deg["unet"] if k.startswith("bias_"))
    lines = [f"{len(report['clips'])} held-out clips ({', '.join(f'{g} {n}' for g, n in counts.items())}), "
             f"low-pass cutoffs {report['cutoffs']} Hz.", "",
             "| method | ViSQOL ↑ | LSD dB ↓ | LSD >16 kHz dB ↓ | HF env. corr. ↑ | " +
             " | ".join(k.replace("bias_", "bias ").replace("_", "–") + " kHz dB" for k in bias_keys) + " |",
             "|---|---|---|---|---|" + "---|" * len(bias_keys)]
    for name in METHODS:
        if name in deg:
            row = deg[name]
            lines.append(f"| {name} | {fmt(row.get('visqol'))} | {fmt(row['lsd'])} | {fmt(row['lsd_hf'])} | "
                         f"{fmt(row['hf_env_corr'])} | " + " | ".join(fmt(row[k], 1) for k in bias_keys) + " |")
    lines += ["", "| ViSQOL per genre | " + " | ".join(f"{g} ({counts[g]})" for g in genres) + " |",
              "|---|" + "---|" * len(genres)]
    for name in METHODS:
        if name in deg:
            lines.append(f"| {name} | " + " | ".join(fmt(deg[name]["per_genre"][g].get("visqol")) for g in genres) + " |")
    lines += ["", "| clean 48 kHz input | ViSQOL ↑ | LSD dB ↓ |", "|---|---|---|"]
    for name in METHODS:
        if name in clean:  # only the U-Net is scored on clean input (passthrough is the clean clip itself)
            lines.append(f"| {name} | {fmt(clean[name].get('visqol'))} | {fmt(clean[name]['lsd'])} |")
    return lines


def checks(report: dict) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for each quality target of the issue."""
    deg, clean = report["degraded"], report["clean_input"]
    unet, sbr, passthrough = deg["unet"], deg["sbr"], deg["passthrough"]
    result = []
    if "visqol" in unet:
        for genre in sorted(unet["per_genre"]):
            u, s, p = (m["per_genre"][genre]["visqol"] for m in (unet, sbr, passthrough))
            result.append((f"ViSQOL {genre} >= sbr + 0.15", u >= s + 0.15, f"{u:.2f} vs {s:.2f} ({u - s:+.2f})"))
            result.append((f"ViSQOL {genre} >= passthrough + 0.4", u >= p + 0.4, f"{u:.2f} vs {p:.2f} ({u - p:+.2f})"))
        c = clean["unet"]["visqol"]
        result.append(("clean input ViSQOL >= 4.6", c >= 4.6, f"{c:.2f}"))
    ratio = unet["lsd_hf"] / sbr["lsd_hf"]
    result.append(("LSD >16 kHz <= 0.7 x sbr", ratio <= 0.7, f"{unet['lsd_hf']:.2f} vs {sbr['lsd_hf']:.2f} dB (x{ratio:.2f})"))
    for key in sorted(k for k in unet if k.startswith("bias_")):
        value = unet[key]
        if math.isnan(value):  # no held-out clip has content in this band: nothing to compare with
            result.append((f"{key} within +-3 dB", None, "no held-out clip reaches this band"))
        else:
            result.append((f"{key} within +-3 dB", abs(value) <= 3.0, f"{value:+.1f} dB"))
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/unet_targets.py REPORT.json", file=sys.stderr)
        return 2
    report = json.loads(Path(argv[0]).read_text())
    print("\n".join(tables(report)))
    print("\n| target | met | measured |\n|---|---|---|")
    for name, met, measured in checks(report):
        print(f"| {name} | {'n/a' if met is None else 'yes' if met else '**no**'} | {measured} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
