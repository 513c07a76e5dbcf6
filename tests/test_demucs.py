"""Zero-shot Demucs: separation, the stem remix, local model folders and missing weights.

Runs offline on demucs's built-in random ``demucs_unittest`` model and on a tiny random HTDemucs
saved into a local repo folder the way demucs's loader expects (``<sig>-<sha>.th`` + ``<name>.yaml``).
"""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from signals import lowpass, make_music

from restoration import MissingModelError, RestorationError, get_method, load_audio, restore, save_audio
from restoration.audio import resample
from restoration.errors import BadParameterError
from restoration.models import demucs_method as dm

ROOT = Path(__file__).resolve().parents[1]
TINY = "demucs_unittest"
SIX = ("drums", "bass", "other", "vocals", "guitar", "piano")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A local repo: a tiny 6-stem HTDemucs (trained segment 3 s) as ``tiny6-<sha>.th``, and a bag
    ``htdemucs_6s.yaml`` of it with segment 2 s; plus a quantized package that needs diffq."""
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state, save_with_checksum

    folder = tmp_path_factory.mktemp("demucs_repo")
    torch.manual_seed(1)
    net = HTDemucs(sources=list(SIX), channels=4, depth=4, t_layers=0, dconv_comp=2, segment=3)
    args, kwargs = net._init_args_kwargs
    package = {"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": get_state(net, None)}
    save_with_checksum(package, folder / "tiny6.th")
    (folder / "htdemucs_6s.yaml").write_text(yaml.safe_dump({"models": ["tiny6"], "segment": 2}))
    torch.save({**package, "state": {"__quantized": True}}, folder / "quantized.th")
    return folder


@pytest.fixture(scope="module")
def separated():
    """Stereo 44.1 kHz music and its ``demucs_unittest`` stems (default settings: shifts=1)."""
    y = make_music(44100, 1.0, 2)
    stems, rate = dm.separate(y, 44100, model=TINY)
    return y, stems, rate


def round_trip(y, sr):
    """``y`` through 44.1 kHz and back, as the remix does it."""
    return resample(resample(y, sr, 44100), 44100, sr)[..., :y.shape[-1]]


@pytest.mark.parametrize("sr,channels", [(32000, 1), (44100, 2), (48000, 2)])
def test_separate_and_remix_rates_shapes_and_residual(music, sr, channels):
    y = music(sr, 1.0, channels)
    calls = []
    stems, rate = dm.separate(y, sr, model=TINY, progress=lambda done, total: calls.append((done, total)))
    assert rate == 44100 and list(stems) == ["drums", "bass", "other", "vocals"]
    for part in stems.values():
        assert part.dtype == np.float32 and part.shape == (channels, 44100) and np.all(np.isfinite(part))
    assert calls[-1][0] == calls[-1][1] > 0 and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))

    # unit gains + residual 1: the input, exactly up to the resampling round trip through 44.1 kHz
    whole = dm.remix(y, sr, stems, rate, residual_gain=1.0)
    assert whole.shape == y.shape and whole.dtype == np.float32
    np.testing.assert_allclose(whole, round_trip(y, sr), atol=1e-5)
    low_in, low_out = lowpass(y, sr, 0.4 * sr), lowpass(whole, sr, 0.4 * sr)  # soxr only touches the band edge
    assert 10 * np.log10(np.sum(low_in ** 2) / np.sum((low_out - low_in) ** 2)) > 35

    # residual 0: the sum of the stems, which the random model makes differ from the input
    dropped = dm.remix(y, sr, stems, rate, residual_gain=0.0)
    np.testing.assert_allclose(dropped, resample(sum(stems.values()), rate, sr)[..., :y.shape[-1]], atol=1e-5)
    assert np.max(np.abs(dropped - whole)) > 0.01

    for output_sr in (44100, 48000):
        assert dm.remix(y, sr, stems, rate, output_sr=output_sr).shape == (channels, output_sr)


def test_gains_act_linearly_and_missing_stems_are_ignored(separated):
    y, stems, rate = separated
    base = dm.remix(y, 44100, stems, rate, residual_gain=0.5)
    more_drums = dm.remix(y, 44100, stems, rate, residual_gain=0.5, gains={"drums": 2.0})
    np.testing.assert_allclose(more_drums, base + stems["drums"], atol=1e-5)
    no_vocals = dm.remix(y, 44100, stems, rate, residual_gain=0.5, gains={"vocals": 0.0})
    np.testing.assert_allclose(no_vocals, base - stems["vocals"], atol=1e-5)
    residual = y - sum(stems.values())
    np.testing.assert_allclose(dm.remix(y, 44100, stems, rate, residual_gain=1.5), base + residual, atol=1e-5)
    ignored = dm.remix(y, 44100, stems, rate, residual_gain=0.5, gains={"guitar": 3.0, "piano": 0.0})
    np.testing.assert_array_equal(ignored, base)


def test_restore_is_separate_then_remix_and_repeatable(separated):
    y, stems, rate = separated  # the fixture separated with the same (seeded) random shifts
    out = dm.restore(y, 44100, model=TINY, bass_gain=0.0, other_gain=2.0, residual_gain=0.25, guitar_gain=4.0)
    expected = dm.remix(y, 44100, stems, rate, gains={"bass": 0.0, "other": 2.0}, residual_gain=0.25)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert dm.load_model(TINY)[0] is dm.load_model(TINY, device="auto")[0]  # cached


def test_registered_method_through_the_pipeline(music):
    y = music(32000, 1.0, 1)
    out, rate = restore(y, 32000, "demucs", {"model": TINY, "output_sr": "48000", "shifts": "0"})
    assert rate == 48000 == get_method("demucs").output_rate(32000, {"output_sr": 48000})
    assert out.shape == (1, 48000) and out.dtype == np.float32


def test_local_repo_bag_and_signature_load_through_repo(music, repo):
    y = music(48000, 1.0, 1)
    stems, rate = dm.separate(y, 48000, model="htdemucs_6s", repo=str(repo), shifts=0)
    assert rate == 44100 and tuple(stems) == SIX
    assert all(s.shape == (1, 44100) and s.dtype == np.float32 for s in stems.values())
    base = dm.remix(y, 48000, stems, rate)
    doubled = dm.remix(y, 48000, stems, rate, gains={"guitar": 2.0, "piano": 2.0})
    extra = resample(stems["guitar"] + stems["piano"], 44100, 48000)[..., :48000]
    np.testing.assert_allclose(doubled - base, extra, atol=1e-5)
    single, _ = dm.separate(y, 48000, model="tiny6", repo=str(repo), shifts=0, segment=3.0)
    assert tuple(single) == SIX


def test_segment_is_checked_and_long_inputs_are_split(music, repo):
    y = music(44100, 2.0, 2)
    with pytest.raises(BadParameterError, match="at most 2 s"):
        dm.separate(y, 44100, model="htdemucs_6s", repo=str(repo), segment=2.5)
    with pytest.raises(BadParameterError, match="at least"):
        dm.separate(y, 44100, model=TINY, segment=0.5)
    calls = []  # segments of 1 s with overlap 0.25: apply_model makes 3 calls, cross-faded
    stems, rate = dm.separate(y, 44100, model=TINY, segment=1.0, shifts=0, progress=lambda d, t: calls.append((d, t)))
    assert stems["bass"].shape == (2, 2 * 44100)
    assert [d for d, _ in calls] == [1, 2, 3, 3] and {t for _, t in calls} == {3}
    np.testing.assert_allclose(dm.remix(y, 44100, stems, rate, residual_gain=1.0), y, atol=1e-5)


def test_stem_the_model_lacks_is_a_parameter_error(music, separated):
    y, stems, rate = separated
    with pytest.raises(BadParameterError, match="guitar.*is not a stem"):
        dm.restore(y, 44100, model=TINY, stem="guitar", stem_method="spectral_gating")
    with pytest.raises(BadParameterError, match="guitar"):
        dm.remix(y, 44100, stems, rate, stem="guitar", stem_method="spectral_gating")


def test_stem_method_processes_only_its_stem(separated):
    choices = get_method("demucs").param("stem_method").choices
    usable = [c for c in choices if c != "none" and importlib.util.find_spec(get_method(c).target.split(":")[0])]
    if not usable:
        pytest.skip("no DSP method of the stem_method choices is implemented yet")
    y, stems, rate = separated
    plain = dm.remix(y, 44100, stems, rate)
    processed = dm.remix(y, 44100, stems, rate, stem="bass", stem_method=usable[0], gains={"bass": 0.5})
    expected = plain + 0.5 * get_method(usable[0])(stems["bass"], rate) - stems["bass"]
    np.testing.assert_allclose(processed, expected, atol=1e-4)


def test_missing_weights_are_a_missing_model_error(repo, tmp_path, monkeypatch, music):
    y = music(44100, 0.5, 2)
    with pytest.raises(MissingModelError, match="does not exist"):
        dm.restore(y, 44100, repo=str(tmp_path / "nowhere"))
    with pytest.raises(MissingModelError, match="cannot load Demucs model 'htdemucs' from"):
        dm.restore(y, 44100, model="htdemucs", repo=str(repo))
    # a quantized package without diffq: demucs calls fatal(), i.e. sys.exit, which must not escape
    with pytest.raises(MissingModelError, match="diffq"):
        dm.separate(y, 44100, model="quantized", repo=str(repo))


def test_htdemucs_offline_is_a_restoration_error_not_an_exit(monkeypatch, tmp_path, music):
    import huggingface_hub.constants

    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    dm._cached_model.cache_clear()
    with pytest.raises(RestorationError, match="cannot load Demucs model 'htdemucs'.*network") as info:
        restore(music(32000, 0.5, 2), 32000, "demucs")
    assert isinstance(info.value, MissingModelError) and "\n" not in str(info.value)


def cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "restoration", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def test_cli_restores_with_the_unittest_model_and_fails_cleanly_without_a_repo(tmp_path, music):
    src = save_audio(tmp_path / "in.wav", music(32000, 1.5, 2), 32000)
    result = cli("restore", src, tmp_path / "out.wav", "--method", "demucs", "--set", f"model={TINY}", "--quiet")
    assert result.returncode == 0, result.stderr
    out, sr = load_audio(tmp_path / "out.wav")
    assert sr == 32000 and out.shape == (2, 48000)
    result = cli("restore", src, tmp_path / "bad.wav", "-m", "demucs", "--set", f"repo={tmp_path / 'nowhere'}")
    assert result.returncode == 2 and not (tmp_path / "bad.wav").exists()
    assert len(result.stderr.strip().splitlines()) == 1 and "does not exist" in result.stderr
