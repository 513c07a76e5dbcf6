"""``restoration batch`` on a real local Ray cluster: bad files, resume, manifests, metrics, argument errors."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from restoration import load_audio, save_audio
from restoration.batch import run_batch
from restoration.cli import main
from restoration.errors import BadInputError


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def rows_of(out: Path) -> dict[str, dict]:
    """results.csv keyed by input file name; checks that the Parquet table holds the same rows."""
    import pyarrow.parquet as pq

    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = pq.read_table(out / "results.parquet").to_pylist()
    assert [(r["input"], r["status"]) for r in rows] == [(r["input"], r["status"]) for r in table]
    assert not list(out.glob(".*partial")) and not list(out.rglob(".*.flac"))  # no temporaries left
    return {Path(r["input"]).name: r for r in rows}


@pytest.fixture
def folder(tmp_path, music):
    """in/a.wav, in/sub/b.flac (32 kHz stereo, 1.5 s), in/sub/deeper/c.wav (mono), in/broken.wav (not audio)."""
    src = tmp_path / "in"
    (src / "sub" / "deeper").mkdir(parents=True)
    save_audio(src / "a.wav", music(32000, 1.5, 2, seed=1), 32000)
    save_audio(src / "sub" / "b.flac", music(32000, 1.5, 2, seed=2), 32000)
    save_audio(src / "sub" / "deeper" / "c.wav", music(32000, 1.5, 1, seed=3), 32000)
    (src / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (src / "notes.txt").write_text("not an input")
    return src


def test_folder_with_a_bad_file_gives_a_row_per_input(ray_cluster, folder, tmp_path):
    out = tmp_path / "out"
    summary = run_batch(folder, out, "sbr", progress=False)
    assert (summary.total, summary.ok, summary.errors, summary.skipped) == (4, 3, 1, 0)
    rows = rows_of(out)
    assert set(rows) == {"a.wav", "b.flac", "c.wav", "broken.wav"}
    assert rows["broken.wav"]["status"] == "error" and "cannot decode broken.wav" in rows["broken.wav"]["error"]
    assert "\n" not in rows["broken.wav"]["error"]
    assert rows["broken.wav"]["output"] == ""  # only outputs that were written are listed
    for name, rel, channels in (("a.wav", "a.flac", 2), ("b.flac", "sub/b.flac", 2), ("c.wav", "sub/deeper/c.flac", 1)):
        row = rows[name]
        assert row["status"] == "ok" and row["output"] == rel and row["error"] == ""
        assert float(row["duration_s"]) == pytest.approx(1.5) and float(row["rtf"]) > 0
        assert (row["input_sr"], row["output_sr"]) == ("32000", "48000")
        y, sr = load_audio(out / rel)
        assert sr == 48000 and y.shape == (channels, 72000)  # sbr: 48 kHz, mirrored names
        assert sf.info(str(out / rel)).subtype == "PCM_24"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.flac")) == ["a.flac", "sub/b.flac",
                                                                                   "sub/deeper/c.flac"]


def test_second_run_skips_complete_outputs_and_says_so(ray_cluster, folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(folder), str(out), "-m", "passthrough", "--format", "wav", "--metrics",
                 "--no-visqol", "--quiet", "--allow-failures"]) == 0  # broken.wav failed, allowed
    first = rows_of(out)
    kept = out / "a.wav"
    stamp = kept.stat().st_mtime_ns
    (out / "sub" / "b.wav").unlink()  # as if the first run had stopped before this file
    capsys.readouterr()
    assert main(["batch", str(folder), str(out), "-m", "passthrough", "--format", "wav", "--metrics",
                 "--no-visqol", "--quiet"]) == 1  # a file failed: non-zero without --allow-failures
    captured = capsys.readouterr()
    assert "2 skipped (already complete)" in captured.out and "1 restored" in captured.out
    assert "2 of 4 outputs were already complete" in captured.err
    assert f"failed: {folder / 'broken.wav'}: cannot decode broken.wav: not decodable audio" in captured.err
    rows = rows_of(out)
    assert kept.stat().st_mtime_ns == stamp  # not rewritten
    assert {n: r["status"] for n, r in rows.items()} == {"a.wav": "skipped", "c.wav": "skipped", "b.flac": "ok",
                                                          "broken.wav": "error"}
    for column in ("rtf", "flatness", "cutoff_hz"):  # measurements of the first run carried over
        assert rows["a.wav"][column] == first["a.wav"][column] != "", column
    assert load_audio(out / "sub" / "b.wav")[0].shape == (2, 48000)

    # another method into the same folder would mix two runs' outputs: refused before any work
    with pytest.raises(BadInputError, match="outputs of another run"):
        run_batch(folder, out, "sbr", fmt="wav", progress=False)


def test_a_failed_file_is_named_and_fails_the_command_in_a_real_process(tmp_path, music):
    """The command as a user runs it (its own local Ray): the failed file and its reason are the only
    stderr line (no Ray WARNING), the status is 1, and 0 with --allow-failures."""
    import os
    import subprocess
    import sys

    pytest.importorskip("ray")
    src = tmp_path / "in"
    src.mkdir()
    save_audio(src / "a.wav", music(32000, 1.0, 2, seed=1), 32000)
    (src / "broken.wav").write_bytes(b"RIFF not really a wave file")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    command = [sys.executable, "-m", "restoration", "batch", str(src), str(tmp_path / "out"), "-m", "passthrough",
               "--workers", "1", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [f"failed: {src / 'broken.wav'}: cannot decode broken.wav: not "
                                                  "decodable audio (WAV, FLAC, OGG/Vorbis and MP3 are supported)"]
    assert "1 restored, 0 skipped (already complete), 1 failed" in result.stdout
    with open(tmp_path / "out" / "results.csv", newline="") as handle:
        outputs = {Path(r["input"]).name: r["output"] for r in csv.DictReader(handle)}
    assert outputs == {"a.wav": "a.flac", "broken.wav": ""} and not (tmp_path / "out" / "broken.flac").exists()
    allowed = subprocess.run([*command, "--allow-failures"], capture_output=True, text=True, env=env)
    assert allowed.returncode == 0 and "1 skipped (already complete), 1 failed" in allowed.stdout


def test_manifests_csv_and_jsonl(ray_cluster, tmp_path, music):
    clips = tmp_path / "clips"
    clips.mkdir()
    save_audio(clips / "x.wav", music(32000, 1.0, 2, seed=4), 32000)
    outside = save_audio(tmp_path / "elsewhere.wav", music(44100, 1.0, 1, seed=5), 44100)
    manifest = clips / "list.csv"
    manifest.write_text(f"path,comment\nx.wav,relative\n{outside},absolute\nmissing.wav,gone\n")
    out = tmp_path / "out-csv"
    summary = run_batch(manifest, out, "passthrough", fmt="wav", progress=False)
    assert (summary.ok, summary.errors) == (2, 1)
    rows = rows_of(out)
    assert rows["x.wav"]["output"] == "x.wav" and (out / "x.wav").is_file()
    absolute_name = Path(*outside.resolve().parts[1:]).as_posix()  # outside the manifest folder: full path under OUT
    assert rows["elsewhere.wav"]["output"] == absolute_name and (out / absolute_name).is_file()
    assert rows["missing.wav"]["status"] == "error" and "no such file" in rows["missing.wav"]["error"]

    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text(json.dumps({"path": "clips/x.wav"}) + "\n{not json\n\n" + json.dumps("elsewhere.wav") + "\n")
    out = tmp_path / "out-jsonl"
    summary = run_batch(jsonl, out, "passthrough", progress=False, workers=3)  # more workers than CPUs: shared
    assert (summary.total, summary.ok, summary.errors, summary.workers) == (3, 2, 1, 3)
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    bad = [r for r in rows if r["status"] == "error"]
    assert len(bad) == 1 and "bad manifest line 2" in bad[0]["error"]
    assert (out / "clips" / "x.flac").is_file() and (out / "elsewhere.flac").is_file()


def test_metrics_against_reference_folder(ray_cluster, tmp_path, music):
    src, refs = tmp_path / "generated", tmp_path / "clean"
    (src / "set").mkdir(parents=True)
    (refs / "set").mkdir(parents=True)
    clean = music(48000, 2.0, 2, seed=6)
    save_audio(src / "set" / "same.wav", clean, 48000, subtype="float")
    save_audio(refs / "set" / "same.flac", clean, 48000, subtype="pcm24")  # reference with another suffix
    noise = 0.01 * np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)
    snr_db = 10 * np.log10(np.sum(clean.astype(float) ** 2) / np.sum(noise.astype(float) ** 2))
    noisy = clean + noise
    save_audio(src / "set" / "noisy.wav", noisy, 48000, subtype="float")
    save_audio(refs / "set" / "noisy.wav", clean, 48000, subtype="float")
    save_audio(src / "orphan.wav", clean, 48000)  # no reference
    out = tmp_path / "out"
    assert run_batch(src, out, "passthrough", metrics=True, reference_dir=refs, visqol=False,
                     progress=False).ok == 3
    rows = rows_of(out)
    same, noisy_row, orphan = rows["same.wav"], rows["noisy.wav"], rows["orphan.wav"]
    assert same["reference"].endswith("set/same.flac") and noisy_row["reference"].endswith("set/noisy.wav")
    assert float(same["lsd"]) < 0.5 and float(same["si_sdr"]) > 40  # identical up to 24-bit rounding
    assert float(noisy_row["si_sdr"]) == pytest.approx(snr_db, abs=1.0) and float(noisy_row["lsd"]) > float(same["lsd"])
    assert orphan["reference"] == "" and orphan["lsd"] == "" and orphan["visqol"] == ""
    assert float(orphan["cutoff_hz"]) > 15000  # no-reference metrics for every output
    assert all(r[c] == "" for r in rows.values() for c in ("visqol",))  # --no-visqol
    assert all(math.isfinite(float(r["hf_ratio"])) for r in rows.values())


def test_bad_batch_arguments_are_one_line_errors(tmp_path, folder, capsys):
    out = tmp_path / "out"
    (tmp_path / "list.txt").write_text("a.wav\n")
    (tmp_path / "nopath.csv").write_text("file\na.wav\n")
    (tmp_path / "a-file").write_text("")
    cases = {
        "missing input": ([tmp_path / "nope", out, "-m", "sbr"], "no such folder or manifest"),
        "not a manifest": ([tmp_path / "list.txt", out, "-m", "sbr"], "neither a folder nor a manifest"),
        "csv without path": ([tmp_path / "nopath.csv", out, "-m", "sbr"], "no 'path' column"),
        "unknown method": ([folder, out, "-m", "magic"], "unknown method"),
        "unknown parameter": ([folder, out, "-m", "sbr", "--set", "colour=red"], "no parameter"),
        "malformed setting": ([folder, out, "-m", "sbr", "--set", "cutoff_hz"], "KEY=VALUE"),
        "reference without metrics": ([folder, out, "-m", "sbr", "--reference-dir", folder], "needs --metrics"),
        "missing reference folder": ([folder, out, "-m", "sbr", "--metrics", "--reference-dir", tmp_path / "r"],
                                     "no such reference folder"),
        "output is a file": ([folder, tmp_path / "a-file", "-m", "sbr"], "not a folder"),
        "output is the input": ([folder, folder, "-m", "sbr"], "must differ"),
        "workers": ([folder, out, "-m", "sbr", "--workers", "0"], "at least 1"),
    }
    for name, (args, message) in cases.items():
        code = main(["batch", *map(str, args)])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], (name, err)
        assert not out.exists(), name  # nothing written before the arguments are checked
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(folder), str(out), "-m", "sbr", "--format", "mp3"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and "invalid choice: 'mp3'" in lines[0]


def test_missing_ray_is_a_one_line_error(tmp_path, folder, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    assert main(["batch", str(folder), str(tmp_path / "out"), "-m", "sbr"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: restoration batch needs ray: pip install") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_cluster_is_one_line_at_once():
    from restoration.batch import start_ray

    with pytest.raises(BadInputError, match="cannot reach Ray at 127.0.0.1:1: connection refused"):
        start_ray("127.0.0.1:1")  # nothing listens on port 1; Ray itself would retry for minutes


def test_root_cause_names_the_innermost_error():
    from restoration.batch import root_cause

    exc = RuntimeError("The actor died because of an error raised in its creation task, \x1b[36mray::Worker.__init__()"
                       "\x1b[39m (pid=1)\nray.exceptions.RaySystemError: System error: No module named 'restoration'\n"
                       "traceback: Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                       "ModuleNotFoundError: No module named 'restoration'\n")
    assert root_cause(exc) == "ModuleNotFoundError: No module named 'restoration'"
    assert root_cause(RuntimeError("")) == "RuntimeError"
