"""Calibration of the MusicGen-like degradation against real MusicGen output.

    python scripts/calibrate.py --real ../shared/musicgen-clips --corpus data/corpus --out docs

Measures, for the real MusicGen clips in ``--real`` and for corpus clips degraded by
``restoration.degrade.degrade`` with many seeds: the band-energy profile (dB per 2 kHz band
relative to the 0.5-2 kHz band), the 99 % spectral rolloff, the spectral flatness and the
effective cutoff (``restoration.dsp.cutoff.estimate_cutoff``). Writes ``calibration.md`` (tables,
coverage verdicts) and ``calibration_psd.png`` (long-term spectra) to ``--out``. The real clips are
only read, never copied.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from restoration.analysis.metrics import spectral_flatness, spectral_rolloff  # noqa: E402
from restoration.audio import load_audio  # noqa: E402
from restoration.corpus import BASS_DB, CORPUS_VERSION, TILT_DB  # noqa: E402
from restoration.degrade import OUT_SR, DegradeConfig, apply_chain, draw_params  # noqa: E402
from restoration.dsp.cutoff import estimate_cutoff, long_term_spectrum  # noqa: E402

BANDS_HZ = [(lo, lo + 2000) for lo in range(0, 16000, 2000)]
REF_BAND_HZ = (500.0, 2000.0)
#: Fine bands near the cutoff, where the degradation differs from plain content.
FINE_BANDS_HZ = [(lo, lo + 500) for lo in range(12000, 16000, 500)]
#: Normalization band of the roll-off shape: the level just below any drawn cutoff.
SHAPE_REF_HZ = (11500.0, 12500.0)
LOW_PCT, HIGH_PCT = 2.5, 97.5


def band_profile(y: np.ndarray, sr: int, bands: list[tuple[float, float]]) -> np.ndarray:
    """Mean power of each band relative to the 0.5-2 kHz band, dB (long-term spectrum, mono downmix)."""
    freqs, power = long_term_spectrum(np.mean(y, axis=0), sr)
    ref = power[(freqs >= REF_BAND_HZ[0]) & (freqs < REF_BAND_HZ[1])].mean()
    return np.array([10 * np.log10(power[(freqs >= lo) & (freqs < hi)].mean() / ref + 1e-30) for lo, hi in bands])


def measure(y: np.ndarray, sr: int) -> dict:
    fine = band_profile(y, sr, FINE_BANDS_HZ)
    return {"bands": band_profile(y, sr, BANDS_HZ), "fine": fine,
            "shape": fine - band_profile(y, sr, [SHAPE_REF_HZ])[0],
            "rolloff99": spectral_rolloff(y, sr, fraction=0.99), "flatness": spectral_flatness(y, sr),
            "cutoff": estimate_cutoff(y, sr)}


def welch_db(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Long-term spectrum of the mono downmix relative to its 0.5-2 kHz band, dB."""
    freqs, power = long_term_spectrum(np.mean(y, axis=0), sr)
    ref = power[(freqs >= REF_BAND_HZ[0]) & (freqs < REF_BAND_HZ[1])].mean()
    return freqs, 10 * np.log10(power / ref + 1e-30)


def corpus_clips(corpus: Path, split: str) -> list[Path]:
    """Clips of ``split`` made by the current recipe (per the manifest), sorted."""
    manifest = json.loads((corpus / "manifest.json").read_text()) if (corpus / "manifest.json").exists() else {"clips": []}
    return sorted(corpus / e["file"] for e in manifest["clips"]
                  if e["split"] == split and e.get("version", 1) == CORPUS_VERSION and (corpus / e["file"]).exists())


def simulate(files: list[Path], seeds: int, config: DegradeConfig, log) -> tuple[list[dict], list[np.ndarray], list]:
    results, spectra, drawn = [], [], []
    for i, path in enumerate(files):
        y, sr = load_audio(path)
        for k in range(seeds):
            params = draw_params(1000 * i + k, config)
            out = apply_chain(y, sr, params)
            results.append(measure(out, OUT_SR))
            spectra.append(welch_db(out, OUT_SR)[1])
            drawn.append(params)
        log(f"{i + 1}/{len(files)} {path.name}")
    return results, spectra, drawn


def stack(results: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in results], dtype=float)


def coverage_rows(real: list[dict], sim: list[dict], key: str, labels: list[str], fmt: str,
                  names: list[str]) -> tuple[list[str], list[str]]:
    """Markdown rows (real values, real range, simulated percentile range, covered?) and one line per miss."""
    r, s = stack(real, key), stack(sim, key)
    if r.ndim == 1:
        r, s = r[:, None], s[:, None]
    rows, misses = [], []
    for j, label in enumerate(labels):
        lo, hi = np.percentile(s[:, j], [LOW_PCT, HIGH_PCT])
        outside = [(names[i], v) for i, v in enumerate(r[:, j]) if not lo <= v <= hi]
        misses += [f"{label} ({key}): `{name}` at {format(v, fmt)}, simulated range {format(lo, fmt)} .. {format(hi, fmt)}"
                   for name, v in outside]
        values = ", ".join(format(v, fmt) for v in r[:, j])
        rows.append(f"| {label} | {values} | {format(r[:, j].min(), fmt)} .. {format(r[:, j].max(), fmt)} | "
                    f"{format(lo, fmt)} .. {format(hi, fmt)} | {format(np.median(s[:, j]), fmt)} | {'no' if outside else 'yes'} |")
    return rows, misses


def plot(path: Path, freqs: np.ndarray, real_spectra: dict, sim_spectra: list[np.ndarray]) -> None:
    """Left: long-term spectra re 0.5-2 kHz (log frequency). Right: the top band re 11.5-12.5 kHz."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, top) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    ref = (freqs >= SHAPE_REF_HZ[0]) & (freqs < SHAPE_REF_HZ[1])
    zoom = freqs >= 10000
    sim = np.array(sim_spectra)
    shape = sim - 10 * np.log10(np.mean(10 ** (sim[:, ref] / 10), axis=1, keepdims=True))
    for axis, data, keep in ((ax, sim, freqs > 0), (top, shape, zoom)):
        lo, med, hi = np.percentile(data[:, keep], [LOW_PCT, 50, HIGH_PCT], axis=0)
        axis.fill_between(freqs[keep], lo, hi, color="tab:gray", alpha=0.35,
                          label=f"simulated, {LOW_PCT:g}-{HIGH_PCT:g} percentile ({len(sim)} clips)")
        axis.plot(freqs[keep], med, color="black", linewidth=1.2, label="simulated, median")
    for label, spectrum in real_spectra.items():
        ax.plot(freqs[1:], spectrum[1:], linewidth=1.0, label=f"MusicGen: {label}")
        level = 10 * np.log10(np.mean(10 ** (spectrum[ref] / 10)))
        top.plot(freqs[zoom], spectrum[zoom] - level, linewidth=1.0)
    ax.set_xscale("log")
    ax.set_xlim(50, OUT_SR / 2)
    ax.set_ylim(-110, 25)
    ax.set_ylabel("Power re 0.5-2 kHz band (dB)")
    ax.set_title("Long-term spectra: real MusicGen vs simulated degradation")
    ax.legend(fontsize=7, loc="lower left")
    top.set_xlim(10000, OUT_SR / 2)
    top.set_ylim(-60, 15)
    top.set_ylabel("Power re 11.5-12.5 kHz (dB)")
    top.set_title("Top band: roll-off shape")
    for axis in (ax, top):
        axis.set_xlabel("Frequency (Hz)")
        axis.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", required=True, help="folder of real MusicGen clips (*.wav)")
    parser.add_argument("--corpus", default="data/corpus", help="corpus folder (valid/ and train/ clips are degraded)")
    parser.add_argument("--clips", type=int, default=40, help="corpus clips degraded (half valid, half train)")
    parser.add_argument("--seeds", type=int, default=3, help="degradation seeds per clip")
    parser.add_argument("--out", default="docs", help="folder for calibration.md and calibration_psd.png")
    args = parser.parse_args(argv)
    real_files = sorted(Path(args.real).glob("*.wav"))
    corpus = Path(args.corpus)
    valid, train = corpus_clips(corpus, "valid"), corpus_clips(corpus, "train")
    if not real_files or not (valid or train):
        print(f"error: need *.wav in {args.real} and a corpus in {corpus} (python -m restoration.corpus)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    pick = lambda files, n: [files[i] for i in sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))]
    files = pick(valid, args.clips // 2) + pick(train, args.clips - min(args.clips // 2, len(valid)))
    start = time.time()
    real, real_spectra = [], {}
    for path in real_files:
        y, sr = load_audio(path)
        real.append(measure(y, sr))
        freqs, real_spectra[path.stem[:32]] = welch_db(y, sr)
    sim, sim_spectra, drawn = simulate(files, args.seeds, DegradeConfig(), lambda s: print(s, file=sys.stderr))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(out / "calibration_psd.png", freqs, real_spectra, sim_spectra)
    write_report(out / "calibration.md", args, real_files, files, real, sim, drawn, time.time() - start)
    print(f"wrote {out / 'calibration.md'} and {out / 'calibration_psd.png'}")
    return 0


def write_report(path: Path, args, real_files, files, real, sim, drawn, seconds: float) -> None:
    band_labels = [f"{lo / 1000:g}-{hi / 1000:g} kHz" for lo, hi in BANDS_HZ]
    fine_labels = [f"{lo / 1000:g}-{hi / 1000:g} kHz" for lo, hi in FINE_BANDS_HZ]
    head = f"| quantity | real clips | real range | simulated P{LOW_PCT:g} .. P{HIGH_PCT:g} | simulated median | covered |\n" + "|---|---|---|---|---|---|"
    tables, total, ok, misses = [], 0, 0, []
    names = [p.stem[:24] for p in real_files]
    for title, key, labels, fmt in (("Band-energy profile, dB re 0.5-2 kHz (2 kHz bands)", "bands", band_labels, ".1f"),
                                    ("Band energy near the cutoff, dB re 0.5-2 kHz (500 Hz bands)", "fine", fine_labels, ".1f"),
                                    ("Roll-off shape: 500 Hz bands re 11.5-12.5 kHz, dB (independent of the spectral balance)", "shape", fine_labels, ".1f"),
                                    ("99 % rolloff, Hz", "rolloff99", ["rolloff 99 %"], ".0f"),
                                    ("Spectral flatness (long-term spectrum, 0-16 kHz)", "flatness", ["flatness"], ".5f"),
                                    ("Effective cutoff, Hz (estimate_cutoff)", "cutoff", ["cutoff"], ".0f")):
        rows, missed = coverage_rows(real, sim, key, labels, fmt, names)
        ok, total, misses = ok + sum(r.endswith("| yes |") for r in rows), total + len(rows), misses + missed
        tables.append(f"### {title}\n\n{head}\n" + "\n".join(rows))
    codecs = {}
    for p in drawn:
        name = p.codec + ("+rvq" if p.rvq_stages and p.codec != "rvq" else "")
        codecs[name] = codecs.get(name, 0) + 1
    mix = ", ".join(f"{k} {v}" for k, v in sorted(codecs.items()))
    cutoffs = np.array([p.cutoff_hz for p in drawn])
    cfg = DegradeConfig()
    text = f"""# Calibration of the MusicGen-like degradation

Generated by `python scripts/calibrate.py --real {args.real} --corpus {args.corpus} --clips {args.clips} --seeds {args.seeds} --out {args.out}`
({seconds / 60:.1f} min on {platform.machine()} / {platform.python_version()}, {time.strftime('%Y-%m-%d')}).

**Real**: the {len(real_files)} MusicGen clips of `{args.real}` (musicgen-small, 32 kHz mono, ~10 s):
{", ".join(f"`{p.name}`" for p in real_files)}.
**Simulated**: {len(files)} clean corpus clips ({sum(f.parent.name == 'valid' for f in files)} valid, {sum(f.parent.name == 'train' for f in files)} train;
48 kHz stereo renders of Debian MIDI) each degraded with {args.seeds} seeds by `restoration.degrade.degrade`
with the default `DegradeConfig` = {len(sim)} simulated clips. Codec paths drawn: {mix}.
Drawn low-pass cutoffs: {cutoffs.min():.0f}..{cutoffs.max():.0f} Hz.

All quantities use the mono downmix at 32 kHz. Band energies come from the long-term spectrum of
`restoration.dsp.cutoff.long_term_spectrum` (Hann 4096, hop 2048), as mean power per band divided by the
mean power in 0.5-2 kHz. Rolloff and flatness come from `restoration.analysis.metrics`
(`spectral_rolloff(fraction=0.99)`, `spectral_flatness`), the cutoff from `estimate_cutoff`.
A quantity counts as **covered** when every real clip lies within the {LOW_PCT}th..{HIGH_PCT}th percentile of the
simulated clips.

**Coverage: {ok} of {total} quantities covered.**

![long-term spectra](calibration_psd.png)

{chr(10).join(t + chr(10) for t in tables)}
## Real clips outside the simulated range

{chr(10).join("- " + m for m in misses) if misses else "None: every real value lies within the simulated range."}

## Reading the numbers

The band profile below ~12 kHz is set by the music, not by the degradation: MusicGen's lo-fi and
solo-piano clips fall 50-75 dB by 8-16 kHz, the rock and cinematic ones only 15-25 dB. The corpus
reaches both ends through its instruments and a random mastering EQ per clip (treble shelf
{TILT_DB[0]:g}..+{TILT_DB[1]:g} dB, bass shelf {BASS_DB[0]:g}..+{BASS_DB[1]:g} dB); a real clip outside the
simulated range there (the solo piano is darker than nearly any General MIDI render) is a question of
content, not of the chain. What the chain must reproduce is the top of the band, best seen in the roll-off
shape table, which divides out the spectral balance: MusicGen stays within 3 dB of its 12 kHz level up
to 14 kHz, then falls along a curve that steepens towards 16 kHz (-4..-12 dB at 14.5-15 kHz,
-10..-31 dB at 15.5-16 kHz), and keeps energy right up to 16 kHz. The chain's low-pass (cutoff
{cfg.cutoff_hz[0]:.0f}-{cfg.cutoff_hz[1]:.0f} Hz, mean slope {cfg.slope_db_per_khz[0]:g}-{cfg.slope_db_per_khz[1]:g} dB/kHz over 2 kHz, exponent {cfg.shape[0]:g}-{cfg.shape[1]:g}: parabolic
like MusicGen's) reproduces that curve, the FFT resampler keeps 15-16 kHz (soxr's anti-alias filter
removed it), hiss at {cfg.hiss_snr_db[0]:g}-{cfg.hiss_snr_db[1]:g} dB SNR gives the flat noise floor of the quiet clips, and the codecs
(Opus, Vorbis, MP3 and the MDCT RVQ) add quantization noise, pre-echo and band holes.

## Tuning history (measured with this script while the chain was tuned)

1. First chain: soxr resampling, linear-in-dB low-pass from 11.5-14.5 kHz at 12-60 dB/kHz forced to
   zero by 16 kHz, codec encoders with their own low-pass: 1 of 19 quantities inside the simulated
   5-95 % range; simulated cutoffs 8.0-14.5 kHz against 14.1-16 kHz real; 15.5-16 kHz band 40-70 dB
   below MusicGen's.
2. Encoders' own low-pass opened (`-cutoff`), gentler linear slope 8-30 dB/kHz from 12.5-14.5 kHz:
   the 14-16 kHz band still 30-50 dB low, because soxr's anti-alias filter starts at 14.6 kHz.
3. FFT resampling flat to 16 kHz, parabolic low-pass (slope 4-16 dB/kHz, exponent 1-2): the whole
   12-16 kHz region covered; remaining misses are content extremes (solo piano).
4. Corpus recipe versions 2-4: a random treble/bass EQ per clean clip (finally -24..+12 dB treble,
   -6..+6 dB bass) and hiss up to 70 dB SNR, to span MusicGen's spectral balance and noise floor:
   23 of 27 quantities inside the simulated 2.5-97.5 % range (new roll-off shape table included).
5. Cutoff range widened to 15 kHz and the slope down to 3 dB/kHz, for the solo piano whose noise floor
   runs nearly flat to 16 kHz: 25 of 27; what remains are the 0-4 kHz bands of the two most extreme
   mixes (solo piano, distorted rock guitar), a matter of the clean music.
"""
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
