"""Pretrained models that are neither on this machine nor downloadable are refused at once, in the
library and the CLI as in the app, with one line that says why."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from restoration import MissingModelError, save_audio
from restoration.models import hub

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_downloads(monkeypatch):
    """No HF_HUB_OFFLINE, but no download site answers (a machine without network)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "_probed", {})
    monkeypatch.setattr(hub, "connects", lambda host, timeout_s: False)


def test_a_slow_name_lookup_counts_as_unreachable(monkeypatch):
    def slow_lookup(*args, **kwargs):
        time.sleep(1.0)
        raise OSError("name lookup timed out")

    monkeypatch.setattr(socket, "create_connection", slow_lookup)
    start = time.perf_counter()
    assert not hub.connects("dl.fbaipublicfiles.com", 0.2)
    assert time.perf_counter() - start < 0.6


def test_offline_switches_every_download_off(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "connects", lambda host, timeout_s: pytest.fail("probed while offline"))
    assert not hub.reachable("demucs") and not hub.reachable("musicgen")
    assert hub.unreachable_reason("demucs") == "downloads are switched off (HF_HUB_OFFLINE)"


def test_library_loaders_refuse_at_once_without_a_download_site(no_downloads):
    pytest.importorskip("demucs")
    from restoration.models import demucs_method, musicgen

    if hub.demucs_cached("htdemucs"):
        pytest.skip("htdemucs is in this machine's cache")
    start = time.perf_counter()
    with pytest.raises(MissingModelError) as info:
        demucs_method.load_model("htdemucs")
    assert str(info.value).startswith("cannot load Demucs model 'htdemucs': its weights are not on this machine")
    assert "dl.fbaipublicfiles.com cannot be reached" in str(info.value)
    with pytest.raises(MissingModelError, match=r"facebook/musicgen-large.*\(huggingface.co cannot be reached\)"):
        musicgen.load_musicgen("facebook/musicgen-large", "cpu")
    assert time.perf_counter() - start < 2.0
    demucs_method.load_model("demucs_unittest")  # no download needed: loads


def test_cli_restore_with_a_model_not_here_is_one_line(tmp_path, music):
    pytest.importorskip("demucs")
    if hub.demucs_cached("htdemucs"):
        pytest.skip("htdemucs is in this machine's cache")
    clip = save_audio(tmp_path / "in.wav", music(44100, 1.0, 2), 44100)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "restoration", "restore", str(clip), str(tmp_path / "out.wav"),
                             "-m", "demucs"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "cannot load Demucs model 'htdemucs'" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert not (tmp_path / "out.wav").exists()
