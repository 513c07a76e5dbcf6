"""``python -m restoration bench`` on a tiny generated corpus: all three reports, errors, statistics."""

import csv
import json
import math

import numpy as np
import pytest
import soundfile as sf

from restoration.bench import mean_ci, select_clean
from restoration.cli import main
from restoration.errors import BadInputError


@pytest.fixture
def tiny_corpus(tmp_path, music):
    clean = tmp_path / "clean"
    clean.mkdir()
    for i in range(3):
        sf.write(clean / f"clip{i}.flac", music(sr=48000, seconds=2.0, channels=2, seed=i).T, 48000)
    real = tmp_path / "real"
    real.mkdir()
    sf.write(real / "musicgen_like.wav", music(sr=32000, seconds=2.0, channels=1, seed=9)[0], 32000)
    return clean, real


def test_bench_quick_writes_markdown_csv_and_json(tiny_corpus, tmp_path, capsys):
    clean, real = tiny_corpus
    out = tmp_path / "out"
    code = main(["bench", "--quick", "--clean", str(clean), "--real", str(real), "--out", str(out),
                 "--methods", "passthrough", "mcra_wiener", "demucs", "--codec", "rvq", "--no-visqol"])
    assert code == 0
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"method", "section", "metric", "mean", "ci_low", "ci_high", "n"}
    got = {(r["method"], r["section"], r["metric"]) for r in rows}
    for method in ("passthrough", "mcra_wiener"):
        for metric in ("lsd", "lsd_hf", "si_sdr", "mrstft", "logmel", "hf_env_corr"):
            assert (method, "degraded", metric) in got
        assert {(method, "clean_input", "visqol"), (method, "speed", "rtf"), (method, "speed", "peak_mb"),
                (method, "real", "cutoff_hz")} <= got
    assert ("stft_roundtrip", "speed", "rtf") in got
    passthrough_lsd = next(r for r in rows if r["method"] == "passthrough" and r["section"] == "clean_input"
                           and r["metric"] == "lsd")
    assert float(passthrough_lsd["mean"]) == pytest.approx(0.0, abs=1e-6)  # identity does no harm
    assert int(passthrough_lsd["n"]) == 2  # --quick takes 2 clips per folder
    assert math.isnan(float(passthrough_lsd["ci_low"]))  # no interval over fewer than 5 clips

    results = json.loads((out / "results.json").read_text())
    assert results["clips"] == ["clean/clip0", "clean/clip2"] and results["seeds"] == [1000, 1001]
    assert results["real_clips"] == ["musicgen_like"]
    demucs = results["methods"]["demucs"]
    assert demucs["status"] in ("ok", "skipped") and (demucs["status"] == "ok" or demucs["reason"])
    speed = results["methods"]["mcra_wiener"]
    assert speed["rtf"] > 0 and speed["peak_mb"] > 10

    md = (out / "benchmark.md").read_text()
    assert "python -m restoration bench --quick" in md
    for title in ("LSD >16 kHz", "ViSQOL", "SI-SDR", "MR-STFT", "log-mel", "HF env. corr.", "real-time factor",
                  "peak memory", "Do no harm", "Real MusicGen clips", "stft_roundtrip"):
        assert title in md
    assert "| mcra_wiener |" in md and "| passthrough |" in md
    if demucs["status"] == "skipped":
        assert "**demucs** (skipped)" in md
    assert "wrote" in capsys.readouterr().out


def test_bench_without_corpus_says_how_to_build_it(tmp_path, capsys):
    code = main(["bench", "--quick", "--clean", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "python -m restoration.corpus" in err and len(err.strip().splitlines()) == 1


def test_unknown_method_is_refused(tiny_corpus, tmp_path, capsys):
    clean, _ = tiny_corpus
    assert main(["bench", "--quick", "--clean", str(clean), "--methods", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_select_clean_is_fixed_and_cut_to_length(tiny_corpus):
    clean, _ = tiny_corpus
    first = select_clean([str(clean)], per_folder=2, seconds=1.5)
    again = select_clean([str(clean)], per_folder=2, seconds=1.5)
    assert [n for n, _ in first] == ["clean/clip0", "clean/clip2"]
    assert all(y.shape == (2, 72000) for _, y in first)
    np.testing.assert_array_equal(first[0][1], again[0][1])
    with pytest.raises(BadInputError, match="restoration.corpus"):
        select_clean([str(clean / "nothing")], per_folder=2, seconds=1.0)


def test_mean_ci_is_a_t_interval():
    mean, low, high, n = mean_ci([1.0, 2.0, 3.0, float("nan")])
    assert (mean, n) == (2.0, 3)
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert mean - low == pytest.approx(high - mean)
    single = mean_ci([5.0])
    assert single[0] == 5.0 and math.isnan(single[1]) and single[3] == 1


def test_quick_without_corpus_runs_on_builtin_clips(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a fresh install: no data/corpus here
    assert main(["bench", "--quick", "--methods", "passthrough", "--no-visqol", "--out", "out"]) == 0
    captured = capsys.readouterr()
    assert "built-in synthetic clips" in captured.err and "python -m restoration.corpus" in captured.err
    assert "the full benchmark needs the corpus" in captured.out
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["builtin"] and results["clips"] == [f"built-in-synthetic/synth{i}" for i in range(5)]
    with open(tmp_path / "out" / "results.csv") as handle:
        lsd = next(r for r in csv.DictReader(handle) if (r["method"], r["section"], r["metric"])
                   == ("passthrough", "degraded", "lsd"))
    assert int(lsd["n"]) == 5 and float(lsd["ci_low"]) < float(lsd["mean"]) < float(lsd["ci_high"])
    md = (tmp_path / "out" / "benchmark.md").read_text()
    assert "not the benchmark" in md and "| passthrough | " in md


def test_rewritten_report_keeps_sections_after_the_marker(tmp_path):
    from restoration.bench import KEEP_MARKER, kept_sections

    report = tmp_path / "benchmark.md"
    assert kept_sections(report) == ""  # no report yet
    report.write_text("# Benchmark\n\nold table\n")
    assert kept_sections(report) == ""  # nothing marked to keep
    report.write_text(f"# Benchmark\n\nold table\n\n{KEEP_MARKER}\n\n## App speed\n\n| 0.95 s |\n")
    kept = kept_sections(report)
    assert kept.startswith("\n" + KEEP_MARKER) and "| 0.95 s |" in kept and "old table" not in kept
