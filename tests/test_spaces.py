"""Hugging Face Spaces: the README's front matter pins what the tests run on and preloads MusicGen,
and the neural handlers go through the real ``spaces.GPU`` decorator with arguments that can cross
to a ZeroGPU worker (pickled there)."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import gradio
import pytest
import yaml

from restoration import load_audio, save_audio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from studio import gpu  # noqa: E402
from studio.workbench import Workbench  # noqa: E402

spaces = pytest.importorskip("spaces")


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_front_matter_pins_the_tested_versions_and_preloads_musicgen():
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == gradio.__version__
    assert str(meta["python_version"]) == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "facebook/musicgen-small" in [entry.split()[0] for entry in meta["preload_from_hub"]]


def test_spaces_imports_without_network_and_wraps_the_neural_calls():
    """A fresh interpreter with every socket connection refused imports spaces and the app, and a
    restoration goes through spaces.GPU's decorator (outside ZeroGPU it returns the function itself)."""
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "import spaces, app\n"
        "from studio import gpu\n"
        "assert gpu.spaces is spaces and not gpu.zero_gpu()\n"
        "assert gpu.on_gpu is gpu._call\n"
        "print('ok')\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("SPACES_ZERO_GPU", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]


@pytest.fixture
def zero_gpu_worker(monkeypatch):
    """ZeroGPU as the handlers see it: the GPU function's arguments and result pickled across."""
    calls = []

    def across(fn, args, kwargs):
        fn, args, kwargs = pickle.loads(pickle.dumps((fn, args, kwargs)))
        calls.append(fn.__name__)
        return pickle.loads(pickle.dumps(fn(*args, **kwargs)))

    monkeypatch.setattr(gpu, "zero_gpu", lambda: True)
    monkeypatch.setattr(gpu, "on_gpu", spaces.GPU(duration=gpu.GPU_DURATION_S)(across))
    return calls


def test_neural_restoration_and_separation_cross_to_a_zero_gpu_worker(zero_gpu_worker, tmp_path, music):
    pytest.importorskip("demucs")
    bench = Workbench(tmp_path / "work")
    clip = str(save_audio(tmp_path / "clip.wav", music(44100, 1.0, 2), 44100))
    restored = bench.restore(clip, None, "demucs", json.dumps({"model": "demucs_unittest", "shifts": 0}), [])[0]
    y, sr = load_audio(restored)
    assert sr == 44100 and y.shape == (2, 44100)
    shown = [u for u in bench.separate(clip, "demucs_unittest", 0, 0.25, 0.0, "cpu") if u["visible"]]
    assert [u["label"] for u in shown] == ["drums", "bass", "other", "vocals"]
    assert zero_gpu_worker == ["restore", "separate"]
    bench.restore(clip, None, "sbr", "{}", [])  # DSP methods need no GPU
    assert zero_gpu_worker == ["restore", "separate"]
