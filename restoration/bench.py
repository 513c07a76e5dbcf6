"""Benchmark of every restoration method: ``python -m restoration bench``.

A fixed set of clean clips (``--clean`` folders, default ``data/corpus/real`` and
``data/corpus/valid``) is degraded with fixed seeds by :func:`restoration.degrade.degrade`; every
registered method (or ``--methods``) restores the degraded clips in a fresh subprocess, which
measures its real-time factor and peak memory (``ru_maxrss``), beside an STFT->ISTFT round trip as
the floor. The parent scores the outputs against the clean clips (LSD full band and above 16 kHz,
ViSQOL, SI-SDR, multi-resolution STFT, log-mel, HF envelope correlation), scores
``method(clean)`` against ``clean`` (do no harm) and, with ``--real``, computes the no-reference
metrics of each method's output on real MusicGen clips. Writes ``results.json``, ``results.csv``
and ``benchmark.md`` to ``--out`` (``--markdown`` puts the Markdown elsewhere, e.g. docs/).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .arguments import check_folder, check_writable, finite_number, made_folders, whole_number
from .children import pythonpath_with_package
from .errors import BadInputError, RestorationError

#: Metrics against the clean reference: key of ``reference_metrics`` -> (column title, higher is better).
REFERENCE_METRICS = {
    "lsd": ("LSD dB", False),
    "lsd_hf": ("LSD >16 kHz dB", False),
    "visqol": ("ViSQOL", True),
    "si_sdr": ("SI-SDR dB", True),
    "mrstft": ("MR-STFT", False),
    "logmel": ("log-mel", False),
    "hf_env_corr": ("HF env. corr.", True),
}
#: No-reference metrics reported for real MusicGen clips: key of ``no_reference_metrics`` -> title
#: (computed one by one with :func:`no_reference_values`, skipping the slow HPSS ratio).
NO_REFERENCE_METRICS = {
    "cutoff_hz": "cutoff Hz",
    "rolloff99_hz": "rolloff 99 % Hz",
    "flatness": "flatness",
    "hf_ratio": "HF ratio >16 kHz",
    "hf6k_dbfs": "level >6 kHz dBFS",
    "noise_floor_dbfs": "noise floor dBFS",
}
FLOOR = "stft_roundtrip"
DEFAULT_CLEAN = ("data/corpus/real", "data/corpus/valid")
AUDIO_SUFFIXES = (".flac", ".wav", ".ogg", ".mp3")
CLEAN_SR = 48000
#: Bounds of ``--clips`` (per clean folder) and ``--seconds`` (per clip): a run's work stays bounded.
MAX_CLIPS = 1000
MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Plan:
    """How big a run is: clips taken from each clean folder, their length in s, real clips used."""

    per_folder: int
    seconds: float
    max_real: int | None
    visqol: bool = True
    overlap: bool = False  # run the next method while scoring the last one (faster; speeds less clean)


QUICK = Plan(per_folder=2, seconds=3.0, max_real=2, overlap=True)
FULL = Plan(per_folder=6, seconds=10.0, max_real=None)
#: ``--quick`` without a corpus: this many synthetic clips (:func:`restoration.synth.make_music`).
BUILTIN_CLIPS = 5
BUILTIN_SECONDS = 2.0
BUILTIN_FOLDER = "built-in-synthetic"
#: Fewer clips than this get a mean but no confidence interval (too few for one to mean much).
MIN_INTERVAL_CLIPS = 5
CORPUS_HINT = "python -m restoration.corpus --out data/corpus"
BUILTIN_NOTICE = (f"No corpus found ({', '.join(DEFAULT_CLEAN)}): running the quick benchmark on {BUILTIN_CLIPS} "
                  f"built-in synthetic clips. This is a smoke test of every method, not the benchmark; "
                  f"the full benchmark needs the corpus: {CORPUS_HINT}")


# ---------------------------------------------------------------------------------------------
# Inputs


def select_clean(folders: list[str], *, per_folder: int, seconds: float) -> list[tuple[str, np.ndarray]]:
    """``per_folder`` evenly spaced clips (sorted by name) from each folder, cut to their middle ``seconds``.

    Returns ``(name, float32 (channels, samples) at 48 kHz)``. Raises :class:`BadInputError` when no
    folder holds audio, saying how to build the corpus.
    """
    from .audio import load_audio

    chosen = []
    for folder in folders:
        files = audio_files(folder)
        for index in sorted(set(np.linspace(0, len(files) - 1, min(per_folder, len(files))).round().astype(int))):
            y, _ = load_audio(files[index], sr=CLEAN_SR)
            n = min(y.shape[-1], int(round(seconds * CLEAN_SR)))
            start = (y.shape[-1] - n) // 2
            chosen.append((f"{Path(folder).name}/{files[index].stem}", y[:, start:start + n]))
    if not chosen:
        check_clean(folders)
    return chosen


def check_clean(folders: list[str], *, named: bool = False) -> None:
    """:class:`BadInputError` (before any work) when no folder holds audio or, for folders the user
    ``named`` (``--clean``), when one is not a folder."""
    missing = [folder for folder in folders if named and not Path(folder).is_dir()]
    if missing:
        raise BadInputError(f"no such --clean folder: {missing[0]}; build the corpus first: {CORPUS_HINT}")
    if not has_audio(folders):
        raise BadInputError(f"no clean clips ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(folders)}; "
                            f"build the corpus first: {CORPUS_HINT}")


def check_real(folder: str | None) -> None:
    """:class:`BadInputError` (before any work) for a ``--real`` folder that does not exist or holds no audio."""
    if folder and not Path(folder).is_dir():
        raise BadInputError(f"--real folder does not exist: {folder}")
    if folder and not has_audio([folder]):
        raise BadInputError(f"no audio files in --real folder {folder}")


def has_audio(folders) -> bool:
    """Whether any of ``folders`` holds an audio file."""
    return any(audio_files(folder) for folder in folders)


def audio_files(folder: str) -> list[Path]:
    """The audio files (by suffix) directly in ``folder``, sorted; empty when it is not a folder."""
    if not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def write_builtin_clips(folder: Path, *, count: int, seconds: float) -> Path:
    """Write ``count`` synthetic 48 kHz stereo clips of ``seconds`` (fixed seeds) as FLAC into ``folder``."""
    from .audio import save_audio
    from .synth import make_music

    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        save_audio(folder / f"synth{seed}.flac", make_music(CLEAN_SR, seconds, 2, seed=seed), CLEAN_SR, subtype="pcm24")
    return folder


def select_real(folder: str | None, limit: int | None) -> list[tuple[str, np.ndarray, int]]:
    """Real MusicGen clips (any rate) from ``folder``, sorted, at most ``limit``; empty without a folder."""
    from .audio import load_audio

    if not folder:
        return []
    check_real(folder)
    files = audio_files(folder)[:limit]
    return [(p.stem, *load_audio(p)) for p in files]


# ---------------------------------------------------------------------------------------------
# Running one method in a fresh process


def run_method(name: str, inputs: dict[str, tuple[np.ndarray, int]], workdir: Path) -> dict:
    """Run method ``name`` (or the :data:`FLOOR`) on every input in a subprocess.

    Returns ``{"status": "ok"|"skipped"|"failed", "reason", "outputs": {key: (y, sr)}, "seconds":
    {key: s}, "peak_mb"}``; a missing model or other error inside the method is a status, not a crash.
    """
    src, dst = workdir / f"{name}.in.npz", workdir / f"{name}.out.npz"
    np.savez(src, **{f"y:{k}": y for k, (y, _) in inputs.items()}, **{f"sr:{k}": np.int64(sr) for k, (_, sr) in inputs.items()})
    env = dict(os.environ, HF_HUB_OFFLINE=os.environ.get("HF_HUB_OFFLINE", "1"))
    env["PYTHONPATH"] = pythonpath_with_package(env.get("PYTHONPATH"))
    proc = subprocess.run([sys.executable, "-m", "restoration.bench", "--worker", name, str(src), str(dst)],
                          capture_output=True, text=True, env=env)
    src.unlink(missing_ok=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "failed", "reason": f"worker exited with {proc.returncode}: {tail}", "outputs": {}, "seconds": {}}
    report = json.loads(lines[-1])
    outputs = {}
    if dst.exists():
        with np.load(dst) as data:
            outputs = {k[2:]: (data[k], int(data["sr:" + k[2:]])) for k in data.files if k.startswith("y:")}
        dst.unlink()
    report["outputs"] = outputs
    return report


def _worker(name: str, src: str, dst: str) -> int:
    """Child side of :func:`run_method`: restore every input, time each call, report JSON on stdout."""
    import resource

    with np.load(src) as data:
        inputs = {k[2:]: (data[k], int(data["sr:" + k[2:]])) for k in data.files if k.startswith("y:")}
    outputs, seconds, status, reason = {}, {}, "ok", ""
    if name == FLOOR:
        from .dsp.stft import istft, stft

        def call(y, sr):
            return istft(stft(y), length=y.shape[-1]), sr
    else:
        from .pipeline import restore

        def call(y, sr):
            return restore(y, sr, name)
    for key, (y, sr) in inputs.items():
        start = time.perf_counter()
        try:
            out, rate = call(y, sr)
        except RestorationError as exc:
            status, reason = "skipped", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            break
        except Exception as exc:  # a broken method is reported in the table, not a crashed benchmark
            status, reason = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            break
        seconds[key] = time.perf_counter() - start
        outputs[f"y:{key}"], outputs[f"sr:{key}"] = np.asarray(out, dtype=np.float32), np.int64(rate)
    if status == "ok":
        np.savez(dst, **outputs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"status": status, "reason": reason, "seconds": seconds, "peak_mb": peak_mb}))
    return 0


# ---------------------------------------------------------------------------------------------
# Statistics and reports


def mean_ci(values: list[float]) -> tuple[float, float, float, int]:
    """Mean and 95 % t-interval of the finite ``values``: ``(mean, low, high, n)`` (NaN when undefined)."""
    from scipy.stats import t

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if x.size == 1:
        return mean, math.nan, math.nan, 1
    half = float(t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half, int(x.size)


def summary_cell(values: list[float], *, min_interval_clips: int = MIN_INTERVAL_CLIPS) -> dict:
    """``{"mean", "ci_low", "ci_high", "n"}`` of :func:`mean_ci`, the interval NaN under ``min_interval_clips``."""
    mean, low, high, n = mean_ci(values)
    if n < min_interval_clips:
        low = high = math.nan
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": n}


def machine() -> str:
    """CPU model, cores, OS, Python and numpy versions and the load (other work skews the speed table), one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}{load}")


def summarize(results: dict) -> list[dict]:
    """CSV rows ``method, section, metric, mean, ci_low, ci_high, n`` from the per-clip results."""
    rows = []
    for method, res in results["methods"].items():
        for section in ("degraded", "clean_input", "real"):
            per_metric: dict[str, list[float]] = {}
            for values in res.get(section, {}).values():
                for metric, value in values.items():
                    per_metric.setdefault(metric, []).append(value)
            for metric, values in per_metric.items():
                rows.append({"method": method, "section": section, "metric": metric, **summary_cell(values)})
        for metric in ("rtf", "first_call_s", "peak_mb"):
            if res.get(metric) is not None:
                rows.append({"method": method, "section": "speed", "metric": metric, "mean": res[metric],
                             "ci_low": math.nan, "ci_high": math.nan, "n": res.get("speed_clips", 0)})
    return rows


SUMMARY_COLUMNS = ("method", "section", "metric", "mean", "ci_low", "ci_high", "n")


def csv_text(rows: list[dict], columns) -> str:
    """CSV of ``rows`` (dicts) under ``columns``; floats with 6 significant digits, None empty."""
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=list(columns))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return handle.getvalue()


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        handle.write(csv_text(rows, SUMMARY_COLUMNS))


def metric_title(key: str) -> str:
    """Column title of a metric: ``"LSD dB ↓"`` (with the better direction) or a reference-free title."""
    if key in REFERENCE_METRICS:
        title, up = REFERENCE_METRICS[key]
        return f"{title} {'↑' if up else '↓'}"
    return NO_REFERENCE_METRICS[key]


def metric_digits(key: str) -> int:
    """Decimals a metric is shown with in the reports."""
    return {"hf_env_corr": 3, "flatness": 4, "hf_ratio": 4}.get(key, 1 if key in NO_REFERENCE_METRICS else 2)


def cell(row: dict | None, digits: int) -> str:
    """``"mean [low, high]"`` of a :func:`summary_cell` (the mean alone without an interval; "–" for none)."""
    if row is None or not math.isfinite(row["mean"]):
        return "–"
    if not math.isfinite(row["ci_low"]):
        return f"{row['mean']:.{digits}f}"
    return f"{row['mean']:.{digits}f} [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"


#: Everything from this line on in an existing report is kept when the benchmark rewrites it
#: (sections measured by other scripts, e.g. the app's compare speed from scripts/measure_compare.py).
KEEP_MARKER = "<!-- kept by restoration bench: sections below come from other scripts -->"


def kept_sections(path: Path) -> str:
    """The part of an existing report at ``path`` from :data:`KEEP_MARKER` on ('' when none)."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    at = text.find(KEEP_MARKER)
    return "" if at < 0 else "\n" + text[at:]


def render_markdown(results: dict, rows: list[dict]) -> str:
    """The report: setup, quality table with 95 % intervals, do-no-harm, real clips, speed, skips."""
    index = {(r["method"], r["section"], r["metric"]): r for r in rows}
    ran = [m for m, res in results["methods"].items() if res["status"] == "ok" and m != FLOOR]
    lines = [
        "# Benchmark", "",
        f"Command: `{results['command']}`  ",
        f"Date: {results['date']}  ",
        f"Machine: {results['machine']}  ",
        f"Clips: {len(results['clips'])} clean clips of {results['plan']['seconds']:g} s "
        f"({', '.join(results['clean_folders'])}), degraded by `restoration.degrade.degrade` with seeds "
        f"{results['seeds'][0]}..{results['seeds'][-1]} (codecs drawn: {results['codecs']}); "
        f"{len(results['real_clips'])} real MusicGen clips.", "",
        *([f"**{BUILTIN_NOTICE}**", ""] if results.get("builtin") else []),
        f"Cells: mean [95 % t-interval] over clips (the mean alone over fewer than {MIN_INTERVAL_CLIPS} clips). Arrows: ↑ higher is better, ↓ lower is better. "
        "LSD >16 kHz compares the band the 32 kHz input lacks (methods that keep 32 kHz score the empty band).", "",
        "## Restoring simulated MusicGen degradation (reference: the clean clip)", "",
        "| method | " + " | ".join(map(metric_title, REFERENCE_METRICS)) + " |",
        "|---|" + "---|" * len(REFERENCE_METRICS),
    ]
    for m in ran:
        lines.append(f"| {m} | " + " | ".join(cell(index.get((m, "degraded", k)), metric_digits(k))
                                            for k in REFERENCE_METRICS) + " |")
    best = []
    for key, (title, up) in REFERENCE_METRICS.items():
        scored = [(index[(m, "degraded", key)]["mean"], m) for m in ran if (m, "degraded", key) in index
                  and math.isfinite(index[(m, "degraded", key)]["mean"])]
        if scored:
            value, winner = (max if up else min)(scored)
            best.append(f"{title}: **{winner}** ({value:.3g})")
    lines += ["", "Best per metric: " + "; ".join(best) + ".", "",
              "## Do no harm: ViSQOL(clean, method(clean)) ↑", "",
              "| method | ViSQOL on clean input | LSD dB on clean input ↓ |", "|---|---|---|"]
    for m in ran:
        lines.append(f"| {m} | {cell(index.get((m, 'clean_input', 'visqol')), 2)} | {cell(index.get((m, 'clean_input', 'lsd')), 2)} |")
    if results["real_clips"]:
        lines += ["", f"## Real MusicGen clips, no reference ({len(results['real_clips'])} clips: "
                      f"{', '.join(results['real_clips'])})", "",
                  "| method | " + " | ".join(NO_REFERENCE_METRICS.values()) + " |", "|---|" + "---|" * len(NO_REFERENCE_METRICS)]
        for m in ran:
            lines.append(f"| {m} | " + " | ".join(cell(index.get((m, "real", k)), metric_digits(k))
                                                for k in NO_REFERENCE_METRICS) + " |")
    lines += ["", "## Speed (each method in a fresh process; input 32 kHz stereo)", "",
              "| method | real-time factor ↓ | first call s | peak memory MB |", "|---|---|---|---|"]
    for m, res in results["methods"].items():
        if res["status"] == "ok":
            label = f"{m} (floor: STFT→ISTFT round trip)" if m == FLOOR else m
            lines.append(f"| {label} | {res['rtf']:.4f} | {res['first_call_s']:.2f} | {res['peak_mb']:.0f} |")
    lines += ["", "Real-time factor: processing time / audio duration over all clips but the first "
                  "(which pays for imports and model loading: see first call). Peak memory: ru_maxrss of the process."]
    skipped = [(m, res) for m, res in results["methods"].items() if res["status"] != "ok"]
    if skipped:
        lines += ["", "## Not run", ""] + [f"- **{m}** ({res['status']}): {res['reason']}" for m, res in skipped]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The benchmark


def run_benchmark(*, clean_folders: list[str], real_folder: str | None, methods: list[str], plan: Plan,
                  seed: int, codec: str = "auto", log=lambda s: None) -> dict:
    """Run the whole benchmark and return the results dict (see :func:`render_markdown`)."""
    from .analysis.metrics import reference_metrics
    from .degrade import DegradeConfig, draw_params, apply_chain

    clean = select_clean(clean_folders, per_folder=plan.per_folder, seconds=plan.seconds)
    real = select_real(real_folder, plan.max_real)
    config = DegradeConfig() if codec == "auto" else DegradeConfig().only(codec)
    seeds = [seed + k for k in range(len(clean))]
    params = [draw_params(s, config) for s in seeds]
    degraded = {name: apply_chain(y, CLEAN_SR, p) for (name, y), p in zip(clean, params)}
    log(f"{len(clean)} clean/degraded pairs, {len(real)} real clips")
    inputs = {f"deg:{n}": (y, 32000) for n, y in degraded.items()}
    inputs |= {f"clean:{n}": (y, CLEAN_SR) for n, y in clean}
    inputs |= {f"real:{n}": (y, sr) for n, y, sr in real}
    reference = dict(clean)
    results: dict = {"methods": {}}
    names = [FLOOR, *methods]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ThreadPoolExecutor(max_workers=1) as runner:
        # the same inputs for all: comparable peak memory. With plan.overlap the next method's process
        # runs while this one is scored (on another core); otherwise one thing at a time (clean speeds).
        upcoming = runner.submit(run_method, names[0], inputs, Path(tmp))
        for index, name in enumerate(names):
            started = time.perf_counter()
            report = upcoming.result()
            following = names[index + 1] if index + 1 < len(names) else None
            if following and plan.overlap:
                upcoming = runner.submit(run_method, following, inputs, Path(tmp))
            res = {"status": report["status"], "reason": report.get("reason", "")}
            if report["status"] == "ok":
                res.update(_speed(report, degraded))
                outs = report["outputs"]
                if name != FLOOR:
                    res["degraded"] = {n: reference_metrics(*outs[f"deg:{n}"], reference[n], CLEAN_SR, visqol=plan.visqol)
                                       for n in degraded}
                    res["clean_input"] = {n: _do_no_harm(outs[f"clean:{n}"], reference[n], plan.visqol)
                                          for n in reference}
                    res["real"] = {n: no_reference_values(*outs[f"real:{n}"]) for n, _, _ in real}
            results["methods"][name] = res
            log(f"{name}: {res['status']} {res['reason']} ({time.perf_counter() - started:.0f} s)")
            if following and not plan.overlap:
                upcoming = runner.submit(run_method, following, inputs, Path(tmp))
    codecs: dict[str, int] = {}
    for p in params:
        label = p.codec + (f"+rvq{p.rvq_stages}" if p.rvq_stages and p.codec != "rvq" else "")
        codecs[label] = codecs.get(label, 0) + 1
    results.update(clips=[n for n, _ in clean], real_clips=[n for n, _, _ in real], seeds=seeds,
                   clean_folders=list(clean_folders), codecs=", ".join(f"{k} ×{v}" for k, v in sorted(codecs.items())),
                   plan=vars(plan), machine=machine(), date=time.strftime("%Y-%m-%d %H:%M"),
                   degradations={n: vars(p) for n, p in zip(degraded, params)})
    return results


def _speed(report: dict, degraded: dict) -> dict:
    times = [report["seconds"][f"deg:{n}"] for n in degraded if f"deg:{n}" in report["seconds"]]
    durations = [degraded[n].shape[-1] / 32000 for n in degraded]
    warm = slice(1, None) if len(times) > 1 else slice(None)
    return {"rtf": sum(times[warm]) / sum(durations[warm]), "first_call_s": times[0],
            "peak_mb": report["peak_mb"], "speed_clips": len(times[warm])}


def no_reference_values(y: np.ndarray, sr: int) -> dict[str, float]:
    """The :data:`NO_REFERENCE_METRICS` of ``y``, as ``no_reference_metrics`` defines them."""
    from .analysis import metrics

    return {"cutoff_hz": metrics.cutoff_frequency(y, sr), "rolloff99_hz": metrics.spectral_rolloff(y, sr, fraction=0.99),
            "flatness": metrics.spectral_flatness(y, sr), "hf_ratio": metrics.hf_energy_ratio(y, sr),
            "hf6k_dbfs": metrics.band_level_dbfs(y, sr, low_hz=metrics.MID_HZ),
            "noise_floor_dbfs": metrics.noise_floor_dbfs(y, sr)[0]}


def _do_no_harm(output: tuple[np.ndarray, int], clean: np.ndarray, visqol: bool) -> dict:
    """ViSQOL and LSD of ``method(clean)`` against ``clean``."""
    from .analysis.metrics import log_spectral_distance, visqol_moslqo

    y, sr = output
    return {"lsd": log_spectral_distance(y, sr, clean, CLEAN_SR),
            "visqol": visqol_moslqo(y, sr, clean, CLEAN_SR) if visqol else math.nan}


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.per_folder} clips per clean folder of {QUICK.seconds:g} s, at most {QUICK.max_real} real clips")
    parser.add_argument("--methods", nargs="+", default=None, metavar="NAME", help="methods to run (default: all registered)")
    parser.add_argument("--clean", action="append", default=None, metavar="DIR",
                        help="folder of clean 48 kHz clips; repeatable (default: data/corpus/real and data/corpus/valid)")
    parser.add_argument("--real", default=None, metavar="DIR", help="folder of real MusicGen clips for no-reference metrics")
    parser.add_argument("--out", default="bench-out", help="folder for results.json, results.csv, benchmark.md")
    parser.add_argument("--markdown", default=None, metavar="PATH", help="write the Markdown report here instead of OUT/benchmark.md")
    parser.add_argument("--clips", type=whole_number(1, MAX_CLIPS), default=None,
                        help=f"clips per clean folder, 1 to {MAX_CLIPS} (overrides the plan)")
    parser.add_argument("--seconds", type=finite_number(1.0, MAX_SECONDS), default=None,
                        help=f"clip length in s, 1 to {MAX_SECONDS:g} (overrides the plan)")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=1000,
                        help="seed of the first pair's degradation (default 1000)")
    parser.add_argument("--codec", default="auto", choices=("auto", "opus", "vorbis", "mp3", "rvq", "none"),
                        help="force one degradation codec (default: drawn per pair)")
    parser.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slowest metric)")


def run(args: argparse.Namespace) -> int:
    from .registry import DEFAULT_METHOD, get_method, list_methods

    plan = QUICK if args.quick else FULL
    plan = replace(plan, per_folder=args.clips or plan.per_folder, seconds=args.seconds or plan.seconds,
                   visqol=not args.no_visqol)
    methods = [get_method(m).name for m in args.methods] if args.methods else [m.name for m in list_methods()]
    methods.sort(key=lambda name: name != DEFAULT_METHOD)  # the default method is the first row
    out = check_folder(args.out)
    markdown = check_writable(args.markdown, what="--markdown") if args.markdown else out / "benchmark.md"
    builtin = args.quick and not args.clean and not has_audio(DEFAULT_CLEAN)
    clean_folders = args.clean or list(DEFAULT_CLEAN)
    if not builtin:
        check_clean(clean_folders, named=bool(args.clean))
    check_real(args.real)
    with made_folders(out), tempfile.TemporaryDirectory(prefix="bench-clips-") as tmp:
        if builtin:
            print(BUILTIN_NOTICE, file=sys.stderr, flush=True)
            plan = replace(plan, per_folder=args.clips or BUILTIN_CLIPS, seconds=args.seconds or BUILTIN_SECONDS)
            clean_folders = [str(write_builtin_clips(Path(tmp) / BUILTIN_FOLDER, count=plan.per_folder,
                                                     seconds=plan.seconds))]
        results = run_benchmark(clean_folders=clean_folders, real_folder=args.real, methods=methods,
                                plan=plan, seed=args.seed, codec=args.codec,
                                log=lambda s: print(s, file=sys.stderr, flush=True))
    results["builtin"] = builtin
    if builtin:
        results["clean_folders"] = [f"{BUILTIN_FOLDER} (restoration.synth.make_music, seeds 0..{plan.per_folder - 1})"]
    results["command"] = "python -m restoration bench " + " ".join(_argv(args))
    rows = summarize(results)
    (out / "results.json").write_text(json.dumps(_finite({**results, "summary": rows}), indent=1))
    write_csv(out / "results.csv", rows)
    markdown.write_text(render_markdown(results, rows) + kept_sections(markdown))
    print(f"wrote {out / 'results.json'}, {out / 'results.csv'}, {markdown}")
    if builtin:
        print(f"built-in synthetic clips only; the full benchmark needs the corpus: {CORPUS_HINT}")
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    parts = ["--quick"] if args.quick else []
    for flag in ("methods",):
        if getattr(args, flag):
            parts += [f"--{flag}", *getattr(args, flag)]
    for folder in args.clean or []:
        parts += ["--clean", folder]
    for flag in ("real", "out", "markdown", "clips", "seconds", "codec"):
        value = getattr(args, flag)
        if value not in (None, "auto"):
            parts += [f"--{flag}", str(value)]
    return parts + (["--no-visqol"] if args.no_visqol else [])


def _finite(value):
    """``value`` with NaN/Inf as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--worker":
    sys.exit(_worker(*sys.argv[2:]))
