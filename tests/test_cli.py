"""The command line: outputs, the summary line, and one-line errors with exit status 2."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from restoration import load_audio, save_audio

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "restoration", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd or ROOT, timeout=300)


def test_methods_lists_every_method_and_parameter():
    result = cli("methods")
    assert result.returncode == 0
    for name in ("passthrough", "spectral_gating", "spectral_subtraction", "mcra_wiener", "sbr", "unet", "demucs"):
        assert name in result.stdout
    assert "--set prop_decrease=0.7" in result.stdout


def test_restore_writes_output_and_one_summary_line(tmp_path, music):
    src = save_audio(tmp_path / "in.wav", music(32000, 1.0, 2), 32000)
    result = cli("restore", src, tmp_path / "out.flac", "--method", "passthrough", "--sample-rate", "48000",
                 "--format", "pcm24", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "real-time factor" in result.stdout and len(result.stdout.strip().splitlines()) == 1
    y, sr = load_audio(tmp_path / "out.flac")
    assert sr == 48000 and y.shape == (2, 48000)
    assert sf.info(str(tmp_path / "out.flac")).subtype == "PCM_24"


def _bad_inputs(tmp_path, music):
    good = save_audio(tmp_path / "good.wav", music(32000, 0.5, 2), 32000)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("hello")
    sf.write(tmp_path / "silent.wav", np.zeros((16000, 2)), 32000)
    sf.write(tmp_path / "nan.wav", np.full((16000, 1), np.nan, np.float32), 32000, subtype="FLOAT")
    sf.write(tmp_path / "three.wav", np.full((16000, 3), 0.1, np.float32), 32000)
    sf.write(tmp_path / "short.wav", np.full((100, 1), 0.1, np.float32), 32000)
    return {
        "missing": (["restore", tmp_path / "nope.wav", tmp_path / "o.wav", "-m", "passthrough"], "no such file"),
        "empty": (["restore", tmp_path / "empty.wav", tmp_path / "o.wav", "-m", "passthrough"], "empty file"),
        "not audio": (["restore", tmp_path / "text.wav", tmp_path / "o.wav", "-m", "passthrough"], "cannot decode"),
        "silent": (["restore", tmp_path / "silent.wav", tmp_path / "o.wav", "-m", "passthrough"], "silent"),
        "nan": (["restore", tmp_path / "nan.wav", tmp_path / "o.wav", "-m", "passthrough"], "NaN"),
        "channels": (["restore", tmp_path / "three.wav", tmp_path / "o.wav", "-m", "passthrough"], "3 channels"),
        "short": (["restore", tmp_path / "short.wav", tmp_path / "o.wav", "-m", "passthrough"], "too short"),
        "method": (["restore", good, tmp_path / "o.wav", "-m", "magic"], "unknown method"),
        "parameter": (["restore", good, tmp_path / "o.wav", "-m", "sbr", "--set", "colour=red"], "no parameter"),
        "range": (["restore", good, tmp_path / "o.wav", "-m", "spectral_gating", "--set", "prop_decrease=3"], "within"),
        "malformed": (["restore", good, tmp_path / "o.wav", "-m", "sbr", "--set", "cutoff_hz"], "KEY=VALUE"),
        "overwrite": (["restore", good, good, "-m", "passthrough"], "overwrite the input"),
        "suffix": (["restore", good, tmp_path / "o.ogg", "-m", "passthrough"], ".ogg"),
    }


def test_bad_input_gives_one_line_exit_2_and_no_output(tmp_path, music):
    before = good_bytes = None
    for name, (args, message) in _bad_inputs(tmp_path, music).items():
        if before is None:
            good_bytes = (tmp_path / "good.wav").read_bytes()
            before = set(tmp_path.iterdir())
        result = cli(*args)
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], (name, result.stderr)
        assert "Traceback" not in result.stderr
        assert set(tmp_path.iterdir()) == before, name  # no output, no temporary file left
    assert (tmp_path / "good.wav").read_bytes() == good_bytes


@pytest.mark.parametrize("argv", [["restore"], ["frobnicate"], ["restore", "a.wav", "b.wav"]])
def test_usage_errors_exit_2(argv):
    assert cli(*argv).returncode == 2
