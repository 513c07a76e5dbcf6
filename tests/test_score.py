"""``restoration score``: outside files scored per condition, paired comparisons, malformed folders and manifests."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import shutil

import numpy as np
import pytest
import soundfile as sf
from scipy.stats import t

from restoration import restore
from restoration.analysis.metrics import content_correlation, log_spectral_distance
from restoration.analysis.paired import paired
from restoration.audio import load_audio, resample
from restoration.cli import main
from signals import lowpass, make_music

SR = 48000
SECONDS = 1.5
CLIPS = ("clip0", "clip1", "clip2")


def reference(seed: int) -> np.ndarray:
    return make_music(SR, SECONDS, 2, seed=seed)


def write_conditions(folder, seeds=(0, 1, 2), *, references=True):
    """Three clips × two outside conditions: a 32 kHz low-pass at 11 kHz (MusicGen-like) and its SBR restoration."""
    folder.mkdir(parents=True, exist_ok=True)
    for clip, seed in zip(CLIPS, seeds):
        clean = reference(seed)
        if references:
            sf.write(folder / f"{clip}.reference.flac", clean.T, SR, subtype="PCM_24")
        band_limited = resample(lowpass(clean, SR, 11000), SR, 32000)
        sf.write(folder / f"{clip}.lowpass.wav", band_limited.T, 32000, subtype="FLOAT")
        restored, rate = restore(band_limited, 32000, "sbr")
        sf.write(folder / f"{clip}.sbr.flac", restored.T, rate, subtype="PCM_24")
    return folder


def run_score(*argv):
    """``restoration score ARGV`` -> (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["score", *map(str, argv)])
    return code, out.getvalue(), err.getvalue()


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def lines_with(text, needle):
    return [line for line in text.splitlines() if needle in line]


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    return write_conditions(tmp_path_factory.mktemp("outside") / "files")


@pytest.fixture(scope="module")
def scored(outside, tmp_path_factory):
    """One scoring run of the three clips × two conditions, with both reports written."""
    reports = tmp_path_factory.mktemp("reports")
    code, out, err = run_score(outside, "--no-visqol", "--markdown", reports / "scores.md", "--csv", reports / "scores.csv")
    return {"code": code, "out": out, "err": err, "md": reports / "scores.md", "csv": reports / "scores.csv"}


def expected_lsd(folder, clip, condition):
    y, sr = load_audio(next(folder.glob(f"{clip}.{condition}.*")))
    ref, ref_sr = load_audio(folder / f"{clip}.reference.flac")
    return log_spectral_distance(y, sr, ref, ref_sr)


def t_interval(values, digits=2):
    x = np.asarray(values)
    half = t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return f"{x.mean():.{digits}f} [{x.mean() - half:.{digits}f}, {x.mean() + half:.{digits}f}]"


def test_three_clips_two_conditions_table_with_intervals(outside, scored):
    assert scored["code"] == 0 and scored["err"] == ""
    out = scored["out"]
    assert out.splitlines()[0] == "6 file(s) scored: 3 clip(s) × 2 condition(s) (lowpass, sbr), 6 against a reference; 0 skipped."
    lsd = {c: [expected_lsd(outside, clip, c) for clip in CLIPS] for c in ("lowpass", "sbr")}
    row = lines_with(out, "LSD dB ↓")[0]  # the per-condition table comes first
    assert row.split()[:3] == ["LSD", "dB", "↓"]
    assert t_interval(lsd["lowpass"]) in row and t_interval(lsd["sbr"]) in row
    assert row.index(t_interval(lsd["lowpass"])) < row.index(t_interval(lsd["sbr"]))
    assert "lowpass (3 clips)" in out and "sbr (3 clips)" in out
    assert "ViSQOL" not in out.split("Reference-free")[0]  # --no-visqol drops its row
    cutoff = lines_with(out, "cutoff Hz")[0]
    assert cutoff.count("[") == 2  # an interval per condition in the reference-free table too


def test_paired_comparison_counts_wins_of_the_closer_condition(outside, scored):
    out = scored["out"]
    assert "lowpass vs sbr, paired on common clips (reference metrics)" in out
    lsd = {c: np.array([expected_lsd(outside, clip, c) for clip in CLIPS]) for c in ("lowpass", "sbr")}
    assert np.all(lsd["sbr"] < lsd["lowpass"])  # SBR fills the band the low-pass removed: closer to the reference
    row = lines_with(out, "LSD dB ↓")[1].split()
    difference = (lsd["lowpass"] - lsd["sbr"]).mean()
    assert row[3:7] == ["3", f"{lsd['lowpass'].mean():.2f}", f"{lsd['sbr'].mean():.2f}", f"{difference:+.2f}"]
    low, high = float(row[7].strip("[,")), float(row[8].strip("]"))
    assert (lsd["lowpass"] - lsd["sbr"]).min() - 0.01 <= low <= high <= (lsd["lowpass"] - lsd["sbr"]).max() + 0.01
    assert row[9:] == ["0", "/", "3", "/", "0", "0.25"]  # lowpass better on none of 3, worse on 3; exact Wilcoxon p

    code, out, _ = run_score(outside, "--no-visqol", "--compare", "sbr,lowpass", "--conditions", "sbr,lowpass")
    assert code == 0 and "sbr vs lowpass" in out and "lowpass vs sbr" not in out
    assert lines_with(out, "LSD dB ↓")[1].split()[9:] == ["3", "/", "0", "/", "0", "0.25"]
    hf = lines_with(out, "HF env. corr. ↑")[1].split()  # higher is better: sbr's restored band follows the reference
    assert hf[-6:] == ["3", "/", "0", "/", "0", "0.25"]


def test_csv_and_markdown_reports(outside, scored):
    rows = read_csv(scored["csv"])
    assert [(r["clip"], r["condition"]) for r in rows] == [(c, k) for c in CLIPS for k in ("lowpass", "sbr")]
    for r in rows:
        assert float(r["lsd"]) == pytest.approx(expected_lsd(outside, r["clip"], r["condition"]), rel=1e-4)
        assert r["reference"].endswith(f"{r['clip']}.reference.flac") and r["visqol"] == ""
        assert float(r["seconds"]) == pytest.approx(SECONDS) and r["cut"] == "0"
        assert float(r["cutoff_hz"]) < 12000 if r["condition"] == "lowpass" else float(r["cutoff_hz"]) > 20000
    md = scored["md"].read_text()
    assert md.startswith("# Scores\n") and f"Command: `restoration score {outside} --markdown" in md
    assert "## Against the reference" in md and "## lowpass vs sbr, paired on common clips (reference metrics)" in md
    assert "| LSD dB ↓ | 3 |" in md and "| metric | lowpass (3 clips) | sbr (3 clips) |" in md
    assert "Skipped" not in md
    assert not [p for p in scored["md"].parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_visqol_on_short_clips(outside, tmp_path):
    code, out, _ = run_score(outside, "--conditions", "sbr", "--csv", tmp_path / "v.csv")
    assert code == 0 and "sbr (3 clips)" in out and "lowpass" not in out
    visqol = [float(r["visqol"]) for r in read_csv(tmp_path / "v.csv")]
    assert len(visqol) == 3 and all(1.0 <= v <= 5.0 for v in visqol)
    assert t_interval(visqol) in lines_with(out, "ViSQOL ↑")[0]


def test_reference_free_when_no_file_has_a_reference(outside, tmp_path):
    folder = tmp_path / "no_refs"
    folder.mkdir()
    for path in outside.iterdir():
        if ".reference." not in path.name:
            shutil.copy(path, folder / path.name)
    code, out, _ = run_score(folder, "--csv", tmp_path / "r.csv")
    assert code == 0
    assert "Against the reference" not in out and "Reference-free" in out
    assert "lowpass vs sbr, paired on common clips (reference-free metrics)" in out
    assert "lowpass higher / lower / equal" in out
    assert lines_with(out, "cutoff Hz")[1].split()[-6:-1] == ["0", "/", "3", "/", "0"]  # the low-pass has the lower cutoff
    rows = read_csv(tmp_path / "r.csv")
    assert len(rows) == 6 and all(r["lsd"] == "" and r["reference"] == "" and float(r["cutoff_hz"]) > 0 for r in rows)


def test_mixed_references_say_how_many_clips_each_metric_has(outside, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(outside, folder)
    (folder / "clip2.reference.flac").unlink()
    code, out, _ = run_score(folder, "--no-visqol")
    assert code == 0
    assert "lowpass (2 clips)" in out and "lowpass (3 clips)" in out  # reference table, then reference-free
    assert "Some clips have no reference (lowpass: 2 of 3, sbr: 2 of 3)" in out
    assert lines_with(out, "LSD dB ↓")[1].split()[3] == "2"  # paired on the two clips with a reference


def test_malformed_folder_lists_each_file_once_and_scores_the_rest(outside, tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(outside, folder)
    (folder / "clip0.broken.wav").write_bytes(b"RIFF not really a wave file" * 50)
    sf.write(folder / "clip0.trimmed.wav", reference(0)[:, : SR // 2].T, SR)  # 0.5 s of a 1.5 s clip
    other, other_sr = load_audio("assets/train_tune.flac")
    sf.write(folder / "clip1.other.flac", other[:, : int(SECONDS * other_sr)].T, other_sr)  # another piece of music
    sf.write(folder / "clip2.silent.wav", np.zeros((int(SECONDS * SR), 2), np.float32), SR)
    sf.write(folder / "loose.wav", reference(5).T, SR)
    (folder / "notes.txt").write_text("not audio")
    (folder / "clip9.sbr.wav").write_bytes((folder / "clip0.sbr.flac").read_bytes())
    (folder / "clip9.reference.wav").write_bytes(b"garbage" * 100)
    code, out, err = run_score(folder, "--no-visqol", "--compare", "lowpass,sbr", "--compare", "sbr,trimmed",
                               "--markdown", tmp_path / "bad.md")
    assert code == 1
    md = (tmp_path / "bad.md").read_text()
    assert "## Skipped (7)\n\n- " in md and "\n- clip0.broken.wav: cannot decode" in md
    assert "- loose.wav: no condition in the name: use &lt;clip>.&lt;condition>.wav (or a manifest)\n" in md
    assert "sbr vs trimmed, paired on common clips (reference-free metrics)\n" in out
    assert out.split("sbr vs trimmed")[1].splitlines()[3] == "No clip in common."
    assert lines_with(out, "LSD dB ↓")[1].split()[3] == "3"  # lowpass vs sbr on the three good clips
    assert err.strip() == "warning: 7 file(s) skipped (listed above); exit status 1"
    skipped = out.split("Skipped (7)")[1].splitlines()[2:]
    assert skipped.pop() == f"wrote {tmp_path / 'bad.md'}"
    reasons = dict(line.strip().split(": ", 1) for line in skipped)
    assert len(skipped) == len(reasons) == 7
    assert reasons["clip0.broken.wav"].startswith("cannot decode")
    assert reasons["clip0.trimmed.wav"].startswith("0.50 s long, its reference clip0.reference.flac 1.50 s")
    assert reasons["clip1.other.flac"].startswith("other music than its reference clip1.reference.flac")
    assert reasons["clip2.silent.wav"] == "audio is silent (all samples are zero)"
    assert reasons["loose.wav"].startswith("no condition in the name")
    assert reasons["notes.txt"].startswith("not an audio file")
    assert reasons["clip9.sbr.wav"].startswith("its reference clip9.reference.wav cannot be used: cannot decode")
    assert out.splitlines()[0].startswith("6 file(s) scored: 3 clip(s) × 2 condition(s) (lowpass, sbr)")
    assert "Traceback" not in out + err


def test_manifest_bad_rows_are_one_line_each(outside, tmp_path):
    manifest = tmp_path / "m.csv"
    rows = [f"{c},sbr,{outside / f'{c}.sbr.flac'},{outside / f'{c}.reference.flac'}" for c in CLIPS]
    manifest.write_text("clip,condition,path,reference\n" + "\n".join(rows) + "\n"
                        "clip3,sbr,,\nclip4,bad name!,x.wav,\nclip5,sbr,missing.wav,\n")
    code, out, err = run_score(manifest, "--no-visqol")
    assert code == 1 and out.startswith("3 file(s) scored: 3 clip(s) × 1 condition(s) (sbr), 3 against a reference")
    assert lines_with(out, "m.csv line") == ["  m.csv line 5: no path", "  m.csv line 6: bad condition name 'bad name!' "
                                             "(letters, digits, '_' or '-'; at most 64)", "  m.csv line 7: file not found: missing.wav"]

    broken = tmp_path / "broken.csv"
    broken.write_text("clip,condition,path\nclip3,sbr,\nclip4,sbr,missing.wav\n")
    code, out, err = run_score(broken)
    assert code == 2 and out == ""
    assert err.splitlines() == ["skipped: broken.csv line 2: no path", "skipped: broken.csv line 3: file not found: missing.wav",
                                "error: no usable files: name them <clip>.<condition>.<ext> or list them in a CSV manifest "
                                "(clip,condition,path[,reference]) (broken.csv line 2: no path)"]

    headless = tmp_path / "headless.csv"
    headless.write_text("file,system\na.wav,x\n")
    code, out, err = run_score(headless)
    assert code == 2 and err.count("\n") == 1 and "lacks the column(s) clip, condition, path" in err


def test_manifest_with_a_reference_folder(outside, tmp_path):
    references = tmp_path / "refs"
    references.mkdir()
    for clip in CLIPS:
        shutil.copy(outside / f"{clip}.reference.flac", references / f"{clip}.flac")
    manifest = tmp_path / "m.csv"
    manifest.write_text("clip,condition,path\n" + "".join(f"{c},sbr,{outside / f'{c}.sbr.flac'}\n" for c in CLIPS))
    code, out, _ = run_score(manifest, "--reference-dir", references, "--no-visqol")
    assert code == 0 and "sbr (3 clips)" in out and "Against the reference" in out


def test_nothing_scorable_is_exit_2(outside, tmp_path):
    folder = tmp_path / "none"
    folder.mkdir()
    sf.write(folder / "a.x.wav", np.zeros((SR, 1), np.float32), SR)
    report = tmp_path / "keep.md"
    report.write_text("an older report")
    code, out, err = run_score(folder, "--markdown", report)
    assert code == 2 and out == ""
    assert err.splitlines() == ["skipped: a.x.wav: audio is silent (all samples are zero)",
                                "error: no file could be scored (1 skipped, listed above)"]
    assert report.read_text() == "an older report" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.md", "none"]


@pytest.mark.parametrize("extra, message", [
    (["--markdown", "{tmp}/nowhere/r.md"], "error: --markdown folder does not exist: {tmp}/nowhere"),
    (["--csv", "{tmp}"], "error: --csv path is a folder, not a file: {tmp}"),
    (["--conditions", "apollo"], "error: --conditions: no condition apollo (the files have: lowpass, sbr)"),
    (["--compare", "sbr"], "error: --compare expects two conditions as A,B, got 'sbr'"),
    (["--compare", "sbr,apollo"], "error: --compare sbr,apollo: no condition apollo (the files have: lowpass, sbr)"),
    (["--reference-dir", "{tmp}/nowhere"], "error: reference folder not found: nowhere"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_are_one_line_before_any_work(outside, tmp_path, capsys, extra, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    with pytest.raises(SystemExit) if "--bogus" in extra else contextlib.nullcontext():
        assert main(["score", str(outside), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message.replace("{tmp}", str(tmp_path)) in err


def test_missing_source_is_one_line(tmp_path):
    for source, message in ((tmp_path / "nowhere", "error: not a folder: nowhere\n"),
                            (tmp_path / "none.csv", "error: no such manifest: none.csv\n")):
        assert run_score(source) == (2, "", message)


def test_refuses_to_overwrite_its_manifest(outside, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"clip,condition,path\nclip0,sbr,{outside / 'clip0.sbr.flac'}\n")
    before = manifest.read_text()
    code, _, err = run_score(manifest, "--csv", manifest)
    assert code == 2 and err == f"error: refusing to overwrite the input file {manifest}\n"
    assert manifest.read_text() == before


def test_a_failed_write_leaves_the_old_report_and_no_partial_file(outside, tmp_path, monkeypatch):
    import os

    report = tmp_path / "r.md"
    report.write_text("an older report")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", full_disk)
    code, _, err = run_score(outside, "--no-visqol", "--conditions", "sbr", "--markdown", report)
    assert code == 2 and err == f"error: cannot write {report}: no space left on device\n"
    assert report.read_text() == "an older report" and [p.name for p in tmp_path.iterdir()] == ["r.md"]


def test_long_files_are_scored_on_their_first_seconds(outside, monkeypatch, tmp_path):
    import restoration.score as score

    monkeypatch.setattr(score, "MAX_SECONDS", 1.0)
    code, out, _ = run_score(outside, "--no-visqol", "--conditions", "sbr", "--csv", tmp_path / "c.csv")
    assert code == 0
    assert "Scored on their first 1 s (longer files): clip0.sbr.flac, clip1.sbr.flac, clip2.sbr.flac." in out
    assert [(r["cut"], float(r["seconds"])) for r in read_csv(tmp_path / "c.csv")] == [("1", SECONDS)] * 3


def test_content_correlation_tells_the_same_music_from_other_music():
    clean, sr = load_audio("assets/whistle_tune_clean_reference.flac")
    degraded, degraded_sr = load_audio("assets/whistle_tune.flac")  # 32 kHz, low-passed, Opus
    other, other_sr = load_audio("assets/train_tune.flac")
    assert content_correlation(degraded, degraded_sr, clean, sr) > 0.8
    assert content_correlation(np.roll(clean, int(0.03 * sr), axis=-1), sr, clean, sr) > 0.7
    assert content_correlation(other, other_sr, clean, sr) < 0.2


def test_paired_statistics():
    result = paired(np.array([3.0, 2.0, 5.0, 4.0]), np.array([1.0, 1.0, 5.0, 1.0]))
    assert (result["clips"], result["wins"], result["losses"], result["ties"]) == (4, 3, 0, 1)
    assert result["difference"] == pytest.approx(1.5) and result["a"] == pytest.approx(3.5)
    assert 0.0 <= result["low"] <= 1.5 <= result["high"] <= 3.0
    assert result["p"] == pytest.approx(0.25)  # the tie is dropped: 3 positive ranks, exact two-sided p
    one = paired(np.array([2.0]), np.array([1.0]))
    assert one["difference"] == 1.0 and math.isnan(one["low"]) and math.isnan(one["p"])
    same = paired(np.ones(5), np.ones(5))
    assert same["ties"] == 5 and same["difference"] == 0.0 and math.isnan(same["p"])
    assert paired(np.array([]), np.array([]))["clips"] == 0
    assert math.isnan(paired(np.arange(4.0), np.zeros(4), min_clips_for_p=6)["p"])
