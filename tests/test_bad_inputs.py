"""Issue 10, sections 2 and 3: every bad input is refused at once with one line naming the problem.

The CLI cases run ``restoration.cli.main`` in-process with file descriptor 2 captured (so the
decoder's own notes would show), and check the exit status, the single ``error:`` line, the
absence of a traceback and that nothing is left in the output folder.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from restoration import BadInputError, load_audio, restore, save_audio
from restoration.audio import AudioWarning, check_rate
from restoration.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capfd, *argv) -> tuple[int, list[str]]:
    """Exit status and the stderr lines of ``python -m restoration ARGV`` run in this process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capfd.readouterr().err
    return code, err.strip().splitlines()


@pytest.fixture
def files(tmp_path, music):
    """Input files in ``tmp_path/in`` and an empty output folder ``tmp_path/out``."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir(), out.mkdir()
    save_audio(src / "good.wav", music(32000, 1.0, 2, seed=1), 32000)
    sf.write(src / "one_hz.wav", np.zeros(4000, np.int16), 1, subtype="PCM_16")  # 8 KB saying 4000 s
    (src / "random.mp3").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    loud = music(48000, 1.0, 1, seed=2) * 2e6
    sf.write(src / "loud.wav", loud.T, 48000, subtype="FLOAT")
    whole = (src / "good.wav").read_bytes()
    (src / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    (out / "folder.wav").mkdir()
    return src, out


ONE_LINE_CASES = {
    "1 Hz header (sbr)": (["restore", "in/one_hz.wav", "out/o.wav", "-m", "sbr"], "sample rate of one_hz.wav", 2),
    "1 Hz header (unet)": (["restore", "in/one_hz.wav", "out/o.wav", "-m", "unet"], "sample rate of one_hz.wav", 2),
    "1 Hz header (demucs)": (["restore", "in/one_hz.wav", "out/o.wav", "-m", "demucs"], "sample rate of one_hz.wav", 2),
    "1 Hz header (degrade)": (["degrade", "in/one_hz.wav", "out/o.wav"], "sample rate of one_hz.wav", 2),
    "huge --sample-rate": (["restore", "in/good.wav", "out/o.wav", "-m", "passthrough", "--sample-rate", "1000000000"],
                           "output sample rate must be a whole number from 8000 to 384000", 2),
    "negative --sample-rate": (["restore", "in/good.wav", "out/o.wav", "-m", "passthrough", "--sample-rate", "-44100"],
                               "output sample rate must be a whole number from 8000 to 384000", 2),
    "non-numeric --sample-rate": (["restore", "in/good.wav", "out/o.wav", "-m", "passthrough", "--sample-rate", "abc"],
                                  "--sample-rate: invalid int value: 'abc'", 2),
    "random bytes named .mp3": (["restore", "in/random.mp3", "out/o.wav", "-m", "passthrough"],
                                "random.mp3: not decodable audio", 2),
    "output is a folder": (["restore", "in/good.wav", "out/folder.wav", "-m", "passthrough"],
                           "output path is a folder", 2),
    "name too long": (["restore", "in/good.wav", "out/" + "n" * 300 + ".wav", "-m", "passthrough"],
                      "file name too long", 1),
    "int parameter 1e400": (["restore", "in/good.wav", "out/o.wav", "-m", "demucs", "--set", "shifts=1e400"],
                            "demucs.shifts must be int, got '1e400'", 2),
    "float parameter 1e400": (["restore", "in/good.wav", "out/o.wav", "-m", "sbr", "--set", "level_db=1e400"],
                              "sbr.level_db must be within", 2),
    "--seed -1": (["degrade", "in/good.wav", "out/o.wav", "--seed", "-1"], "--seed: must be from 0", 2),
    "--format pcm8": (["restore", "in/good.wav", "out/o.wav", "-m", "passthrough", "--format", "pcm8"],
                      "--format: invalid choice: 'pcm8'", 2),
    "--codec aac": (["degrade", "in/good.wav", "out/o.wav", "--codec", "aac"], "--codec: invalid choice: 'aac'", 2),
    "unknown subcommand": (["frobnicate"], "invalid choice: 'frobnicate'", 2),
}


@pytest.mark.parametrize("case", list(ONE_LINE_CASES))
def test_cli_bad_input_is_one_line_and_leaves_nothing(case, files, capfd, monkeypatch):
    argv, message, status = ONE_LINE_CASES[case]
    src, out = files
    monkeypatch.chdir(src.parent)
    before = sorted(out.rglob("*"))
    code, lines = run_cli(capfd, *argv)
    assert code == status, lines
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert sorted(out.rglob("*")) == before  # no output and no hidden temporary file


#: Issue 28: every numeric flag refuses NaN, infinity, zero, negative and huge values at once; every
#: output is checked before the work; no refused run leaves a folder. Paths: in/ holds the inputs
#: (in/corpus: a tiny training corpus, in/absurd: a checkpoint asking for absurd channels), out/ the outputs.
REFUSED_CASES = {
    "bench --seconds nan": (["bench", "--quick", "--seconds", "nan"], "argument --seconds: must be a finite number"),
    "bench --seconds 1e400": (["bench", "--quick", "--seconds", "1e400"], "argument --seconds: must be a finite number"),
    "bench --seconds 0.5": (["bench", "--quick", "--seconds", "0.5"], "argument --seconds: must be within [1, 600]"),
    "bench --clips 0": (["bench", "--quick", "--clips", "0"], "argument --clips: must be from 1 to 1000, got 0"),
    "bench --clips 1e9": (["bench", "--quick", "--clips", "1000000000"], "argument --clips: must be from 1 to 1000"),
    "bench --seed -1": (["bench", "--quick", "--seed", "-1"], "argument --seed: must be from 0"),
    "bench --real missing": (["bench", "--quick", "--real", "in/nope", "--out", "out/bench"],
                             "--real folder does not exist: in/nope"),
    "bench --clean missing": (["bench", "--clean", "in/nope", "--out", "out/bench"], "no such --clean folder: in/nope"),
    "bench --clean without audio": (["bench", "--clean", "out", "--out", "out/bench"], "no clean clips"),
    "bench --markdown in a missing folder": (["bench", "--clean", "in", "--out", "out/bench", "--markdown",
                                              "out/no/such/x.md"], "--markdown folder does not exist: out/no/such"),
    "bench --out is a file": (["bench", "--clean", "in", "--out", "in/good.wav"], "output folder is a file"),
    "bench unknown method": (["bench", "--clean", "in", "--methods", "magic", "--out", "out/bench"],
                             "unknown method"),
    "bench with an unreadable clip": (["bench", "--clean", "in", "--clips", "3", "--methods", "passthrough", "--out",
                                       "out/new/bench"], "sample rate of one_hz.wav"),  # made folders removed
    "train --lr nan": (["train", "--lr", "nan"], "argument --lr: must be a finite number, got 'nan'"),
    "train --lr 0": (["train", "--lr", "0"], "argument --lr: must be within (0, 1]"),
    "train --threads 0": (["train", "--threads", "0"], "argument --threads: must be from 1 to 1024, got 0"),
    "train --steps -5": (["train", "--steps", "-5"], "argument --steps: must be from 1"),
    "train --batch-size 2.5": (["train", "--batch-size", "2.5"], "argument --batch-size: must be a whole number"),
    "train --segment-s inf": (["train", "--segment-s", "inf"], "argument --segment-s: must be a finite number"),
    "train --ema 1": (["train", "--ema", "1"], "argument --ema: must be within [0, 1), got 1"),
    "train --hf-weight -2": (["train", "--hf-weight", "-2"], "argument --hf-weight: must be within [0, 1e+06]"),
    "train --level-quantile 1": (["train", "--level-quantile", "1"], "argument --level-quantile: must be within (0, 1)"),
    "train --val-clips 0": (["train", "--val-clips", "0"], "argument --val-clips: must be from 1"),
    "train --data missing": (["train", "--data", "in/nope", "--out", "out/run"], "no audio clips in in/nope/train"),
    "train --cutoffs": (["train", "--data", "in/corpus", "--out", "out/run", "--cutoffs", "9000,8000"],
                        "--cutoffs must satisfy 0 < LOW <= HIGH < 24000 Hz"),
    "train --packages": (["train", "--data", "in/corpus", "--out", "out/run", "--packages", "nope"],
                         "--packages: no training clips of nope"),
    "train --init missing": (["train", "--data", "in/corpus", "--out", "out/run", "--size", "tiny", "--init",
                              "in/nope"], "no U-Net checkpoint folder at in/nope"),
    "train --resume bad state": (["train", "--data", "in/corpus", "--out", "out/old", "--size", "tiny", "--resume"],
                                 "cannot resume from out/old/state.pt"),
    "train --resume missing data": (["train", "--data", "in/nope", "--out", "out/run", "--resume"], "no audio clips"),
    "train --report is a folder": (["train", "--evaluate", "in/absurd", "--report", "out/"], "--report path is a folder"),
    "train --report under a file": (["train", "--evaluate", "in/absurd", "--report", "in/good.wav/r.json"],
                                    "--report folder is a file: in/good.wav"),
    "corpus --clips -1": (["corpus", "--clips", "-1"], "argument --clips: must be from 0 to 100000, got -1"),
    "corpus --seed nan": (["corpus", "--seed", "nan"], "argument --seed: must be a whole number, got 'nan'"),
    "corpus usage error": (["corpus", "--clip", "3", "extra"], "unrecognized arguments"),
    "corpus --packages": (["corpus", "--packages", "nope", "--out", "out/corpus"], "nope is not a vetted"),
    "restore to a name ending in /": (["restore", "in/good.wav", "out/new.wav/", "-m", "passthrough"],
                                      "output path is a folder, not a file: out/new.wav/"),
    "degrade to a name ending in /": (["degrade", "in/good.wav", "out/new.wav/"], "output path is a folder"),
    "restore into a missing folder": (["restore", "in/good.wav", "out/no/o.wav", "-m", "passthrough"],
                                      "output folder does not exist: out/no"),
    "restore --sample-rate 0": (["restore", "in/good.wav", "out/o.wav", "-m", "passthrough", "--sample-rate", "0"],
                                "output sample rate must be a whole number from 8000 to 384000"),
    "restore misspelt flag": (["restore", "in/good.wav", "out/o.wav", "--methd", "sbr"],
                              "unrecognized option --methd (did you mean --method?)"),
    "checkpoint with absurd channels": (["restore", "in/good.wav", "out/o.wav", "-m", "unet", "--set",
                                         "checkpoint=in/absurd"], "channels must be 1 to 6 widths from 1 to 1024"),
    "batch --workers huge": (["batch", "in", "out/batch", "-m", "sbr", "--workers", "100000"], "at most 1024"),
}


@pytest.fixture
def training_inputs(files, music):
    """A tiny corpus (in/corpus/train, in/corpus/real), a checkpoint asking for 400000 channels (in/absurd),
    and a run folder with a corrupt state.pt (out/old)."""
    import json

    from restoration.models.checkpoint import CONFIG, FORMAT, FORMAT_VERSION, WEIGHTS

    src, out = files
    for split in ("train", "real"):
        (src / "corpus" / split).mkdir(parents=True)
        save_audio(src / "corpus" / split / "c.flac", music(48000, 0.3, 2, seed=3), 48000)
    (src / "absurd").mkdir()
    (src / "absurd" / CONFIG).write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                                     "model": {"channels": [400000, 400000]}}))
    (src / "absurd" / WEIGHTS).write_bytes(b"")
    (out / "old").mkdir()
    (out / "old" / "state.pt").write_bytes(b"not a torch file")
    return src, out


@pytest.mark.parametrize("case", list(REFUSED_CASES))
def test_cli_refuses_at_once_with_one_line_and_leaves_nothing(case, training_inputs, capfd, monkeypatch):
    from restoration.corpus import main as corpus_main

    argv, message = REFUSED_CASES[case]
    root = training_inputs[0].parent
    monkeypatch.chdir(root)
    before = sorted(root.rglob("*"))
    try:
        code = corpus_main(argv[1:]) if argv[0] == "corpus" else main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    lines = capfd.readouterr().err.strip().splitlines()
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert sorted(root.rglob("*")) == before  # no output, no folder, no temporary file


def test_unet_config_refuses_sizes_before_allocating():
    from restoration.models.unet import SpectralUNet, UNetConfig

    for sizes in ({"channels": (16, 24)}, {"channels": (48, 64, 96), "n_fft": 2048, "hop": 512}, {}):
        config = UNetConfig(**sizes)
        assert config.parameter_count() == sum(p.numel() for p in SpectralUNet(config).parameters())
    for sizes, message in (({"channels": (1024,) * 6}, "parameters; at most"), ({"channels": ()}, "channels must"),
                           ({"band_stride": 0}, "band_stride must"), ({"n_fft": 1 << 20}, "n_fft must")):
        with pytest.raises(ValueError, match=message):
            UNetConfig(**sizes)


def test_analyze_warns_about_a_reference_of_another_clip_or_length(files, capfd, monkeypatch, music):
    src, _ = files
    monkeypatch.chdir(src.parent)
    clip = music(48000, 3.0, 2, seed=1)
    save_audio(src / "clip.wav", clip, 48000)
    save_audio(src / "other.wav", music(48000, 3.0, 2, seed=9), 48000)
    save_audio(src / "shorter.wav", clip[:, :96000], 48000)
    from restoration.degrade import degrade

    save_audio(src / "degraded.wav", degrade(clip, 48000, seed=2), 32000)
    code, lines = run_cli(capfd, "analyze", "in/degraded.wav", "--reference", "in/clip.wav", "--no-visqol")
    assert code == 0 and lines == []  # its own original: no warning
    code, lines = run_cli(capfd, "analyze", "in/degraded.wav", "--reference", "in/other.wav", "--no-visqol")
    assert code == 0 and len(lines) == 1 and lines[0].startswith("warning: the reference does not look like the same clip")
    code, lines = run_cli(capfd, "analyze", "in/degraded.wav", "--reference", "in/shorter.wav", "--no-visqol")
    assert code == 0 and lines == ["warning: the reference is 2.00 s long and the file 3.00 s: the metrics "
                                   "compare only the first 2.00 s; is it the same clip?"]


def test_analyze_prints_n_a_for_metrics_that_do_not_apply(files, capsys):
    src, _ = files
    assert main(["analyze", str(src / "good.wav"), "--no-visqol"]) == 0  # 32 kHz: nothing above 16 kHz
    table = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert table["hf_ratio"] == "n/a" and "nan" not in "".join(table.values())
    assert float(table["cutoff_hz"]) > 0


def test_help_names_the_program_without_rst_markup(capsys, monkeypatch):
    from restoration.cli import build_parser

    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/restoration", "--help"])
    text = build_parser().format_help()
    assert text.startswith("usage: restoration ") and "``" not in text
    monkeypatch.setattr(sys, "argv", [str(ROOT / "restoration" / "__main__.py"), "--help"])
    assert build_parser().format_help().startswith("usage: python -m restoration ")
    with pytest.raises(SystemExit):
        from restoration.corpus import main as corpus_main

        corpus_main(["--help"])
    assert "``" not in capsys.readouterr().out


def test_one_hz_header_is_refused_before_reading(files):
    src, _ = files
    with pytest.raises(BadInputError, match="from 8000 to 384000 Hz, got 1"):
        load_audio(src / "one_hz.wav")


@pytest.mark.parametrize("rate", [7999, 384001, -1, 0, 44100.5, True, "48000"])
def test_rates_outside_8k_384k_are_refused(rate, music):
    with pytest.raises(BadInputError, match="from 8000 to 384000"):
        check_rate(rate)
    with pytest.raises(BadInputError, match="from 8000 to 384000"):
        restore(music(8000, 0.5, 1), rate, "passthrough")  # an array at that rate
    assert check_rate(8000) == 8000 and check_rate(np.int64(384000)) == 384000


@pytest.mark.parametrize("rate", [7999, 1_000_000_000, -44100])
def test_requested_output_rates_outside_8k_384k_are_refused(rate, music):
    with pytest.raises(BadInputError, match="output sample rate must be a whole number from 8000 to 384000"):
        restore(music(32000, 0.5, 1), 32000, "passthrough", sample_rate=rate)


def test_demucs_output_sr_is_a_bounded_choice(music):
    with pytest.raises(Exception, match="output_sr must be one of"):
        restore(music(32000, 0.5, 1), 32000, "demucs", {"output_sr": 1_000_000_000})


def test_max_seconds_is_checked_on_the_header(files):
    src, _ = files
    with pytest.raises(BadInputError, match=r"good.wav is 1.0 s long; this server accepts at most 0.5 s"):
        load_audio(src / "good.wav", max_seconds=0.5)
    assert load_audio(src / "good.wav", max_seconds=1.0)[0].shape == (2, 32000)


def test_float_file_beyond_full_scale_is_scaled_with_one_warning(files, capfd, monkeypatch):
    src, out = files
    monkeypatch.chdir(src.parent)
    code, lines = run_cli(capfd, "restore", "in/loud.wav", "out/o.wav", "-m", "passthrough", "--format", "float")
    assert code == 0 and lines[0].startswith("warning: loud.wav peaks at") and "scaled down by" in lines[0]
    y, _ = sf.read(out / "o.wav", always_2d=True)
    x, _ = sf.read(src / "loud.wav", always_2d=True)
    np.testing.assert_allclose(y, x / np.abs(x).max(), atol=1e-6)  # the waveform, not a square wave
    assert np.mean(np.abs(y) > 0.99) < 0.01


def test_truncated_wav_is_read_with_a_warning(files, capfd, monkeypatch):
    src, _ = files
    with pytest.warns(AudioWarning, match="truncated.wav is truncated"):
        y, sr = load_audio(src / "truncated.wav")
    assert sr == 32000 and 0 < y.shape[-1] < 32000
    monkeypatch.chdir(src.parent)
    code, lines = run_cli(capfd, "restore", "in/truncated.wav", "out/o.wav", "-m", "passthrough")
    assert code == 0 and lines[0].startswith("warning: truncated.wav is truncated") and len(lines) == 1


def test_random_mp3_prints_no_decoder_notes_in_a_real_process(files):
    src, _ = files
    result = subprocess.run([sys.executable, "-m", "restoration", "restore", str(src / "random.mp3"),
                             str(src / "o.wav"), "-m", "passthrough"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: cannot decode random.mp3: not decodable audio (WAV, FLAC, OGG/Vorbis and MP3 are supported)"]


def test_unwritable_folder_is_one_line(files, capfd, monkeypatch):
    src, out = files
    monkeypatch.chdir(src.parent)
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse the way the kernel would
        import tempfile

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        out.chmod(0o555)
    try:
        code, lines = run_cli(capfd, "restore", "in/good.wav", "out/o.wav", "-m", "passthrough")
    finally:
        out.chmod(0o755)
    assert code == 2 and lines == ["error: cannot write out/o.wav: permission denied"]
    assert sorted(p.name for p in out.iterdir()) == ["folder.wav"]


def test_full_disk_is_one_line_and_leaves_nothing(files, capfd, monkeypatch):
    src, _ = files
    full = src.parent / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(full)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        monkeypatch.chdir(src.parent)
        code, lines = run_cli(capfd, "restore", "in/good.wav", "full/o.wav", "-m", "passthrough")
        assert code == 2 and lines == ["error: cannot write full/o.wav: no space left on device"]
        assert list(full.iterdir()) == []
    finally:
        subprocess.run(["umount", str(full)], check=True)


def test_quiet_decoder_drops_decoder_notes_and_keeps_other_output(capfd):
    from restoration.audio import quiet_decoder

    with quiet_decoder():
        os.write(2, b"Note: Illegal Audio-MPEG-Header 0x00000000 at offset 4996.\nsomething else\n")
    assert capfd.readouterr().err == "something else\n"
