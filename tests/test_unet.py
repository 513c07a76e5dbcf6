"""The spectral U-Net: model, checkpoints, the ``unet`` method, losses and the training loop."""

import json

import numpy as np
import pytest
import torch

from restoration import pipeline
from restoration.audio import resample
from restoration.errors import CheckpointError, MissingModelError
from restoration.models import checkpoint as ckpt
from restoration.models import unet_method
from restoration.models.unet import SpectralUNet, UNetConfig
from restoration.training.data import Batches, Pair
from restoration.training.losses import RestorationLoss
from restoration.training.train import SIZES, fit
from signals import lowpass

TINY = UNetConfig(**SIZES["tiny"])


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, two threads spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model(seed=0):
    """A tiny model whose head is not the identity, so tests see what the network does."""
    torch.manual_seed(seed)
    model = SpectralUNet(TINY)
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.3)
        model.head.bias[model.bands:] = -2.0
    return model.eval()


@pytest.fixture
def tiny_ckpt(tmp_path):
    return ckpt.save_checkpoint(tiny_model(), tmp_path / "tiny", training={"recipe": "test"})


def band_energy(y, sr, lo, hi):
    """Energy of ``y`` between ``lo`` and ``hi`` Hz (Hann-windowed FFT: no leakage from the low band)."""
    spec = np.abs(np.fft.rfft(y * np.hanning(y.shape[-1]), axis=-1)) ** 2
    hz = np.fft.rfftfreq(y.shape[-1], 1 / sr)
    return spec[..., (hz >= lo) & (hz < hi)].sum()


def test_tiny_config_trains_and_loss_falls(music):
    torch.manual_seed(0)
    clean = music(sr=48000, seconds=1.0, channels=1)
    batches = Batches([Pair("a", clean, lowpass(clean, 48000, 10000))], segment=12000, batch_size=4, seed=0)
    fixed = next(batches)
    model = SpectralUNet(TINY)
    loss = RestorationLoss()
    losses = fit(model, lambda: fixed, loss, torch.optim.Adam(model.parameters()), steps=25, lr=3e-3, warmup=1)
    assert len(losses) == 25 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.8 * losses[0]
    assert set(loss.parts) == {"mrstft", "complex"}


def test_model_is_identity_at_initialisation(music):
    x = torch.from_numpy(music(seconds=0.5))[None]
    with torch.inference_mode():
        out = SpectralUNet(TINY).eval()(x)
    assert out.shape == x.shape
    assert torch.allclose(out, x, atol=1e-3)


def test_replicated_band_is_phase_coherent():
    """A 5 kHz tone copied up by 192 bins (9 kHz) must come out as a clean 14 kHz tone, not noise."""
    model = SpectralUNet(TINY).eval()
    with torch.no_grad():
        model.head.bias[model.bands:] = -30.0
        shift = TINY.shifts.index(192)
        model.head.bias[model.bands * (1 + shift):model.bands * (2 + shift)] = 0.0
    sr = 48000
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32)
    with torch.inference_mode():
        out = model(torch.from_numpy(tone)[None, None])[0, 0].numpy()
    inner = out[4096:-4096]
    around = band_energy(inner, sr, 12000, 16000)
    assert band_energy(inner, sr, 13950, 14050) > 0.99 * around
    assert around > 0.1 * band_energy(inner, sr, 4900, 5100)


def test_save_load_round_trip(tmp_path, music):
    model = tiny_model()
    folder = ckpt.save_checkpoint(model, tmp_path / "ck", training={"steps": 3})
    config = json.loads((folder / ckpt.CONFIG).read_text())
    assert config["format_version"] == ckpt.FORMAT_VERSION and config["sample_rate"] == 48000
    assert config["training"] == {"steps": 3} and config["stft"]["n_fft"] == TINY.n_fft
    loaded = ckpt.load_checkpoint(folder)
    x = torch.from_numpy(music(seconds=0.5))[None]
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


def test_truncated_weights_raise(tiny_ckpt):
    weights = tiny_ckpt / ckpt.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt weights"):
        ckpt.load_checkpoint(tiny_ckpt)


def test_wrong_format_version_raises(tiny_ckpt):
    config = json.loads((tiny_ckpt / ckpt.CONFIG).read_text())
    config["format_version"] = 99
    (tiny_ckpt / ckpt.CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format version 99"):
        ckpt.load_checkpoint(tiny_ckpt)


def test_config_weights_mismatch_raises(tiny_ckpt):
    config = json.loads((tiny_ckpt / ckpt.CONFIG).read_text())
    config["model"]["channels"] = [16, 32]
    (tiny_ckpt / ckpt.CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match"):
        ckpt.load_checkpoint(tiny_ckpt)


def test_broken_config_raises(tiny_ckpt):
    (tiny_ckpt / ckpt.CONFIG).write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        ckpt.load_checkpoint(tiny_ckpt)
    (tiny_ckpt / ckpt.CONFIG).write_text(json.dumps({"format": ckpt.FORMAT, "format_version": 1,
                                                     "model": {"n_fft": 1000}}))
    with pytest.raises(CheckpointError, match="invalid architecture"):
        ckpt.load_checkpoint(tiny_ckpt)


def test_missing_checkpoint_raises(tmp_path, tiny_ckpt):
    with pytest.raises(MissingModelError, match="no U-Net checkpoint folder"):
        ckpt.load_checkpoint(tmp_path / "nowhere")
    (tiny_ckpt / ckpt.WEIGHTS).unlink()
    with pytest.raises(MissingModelError, match="has no model.safetensors"):
        unet_method.restore(np.zeros((1, 4000), np.float32), 32000, checkpoint=str(tiny_ckpt))


def test_chunked_equals_whole(tiny_ckpt, music, monkeypatch):
    y = lowpass(music(sr=32000, seconds=4.0), 32000, 11000)
    whole = unet_method.restore(y, 32000, checkpoint=str(tiny_ckpt), device="cpu")
    monkeypatch.setattr(unet_method, "CHUNK_S", 1.0)
    monkeypatch.setattr(unet_method, "OVERLAP_S", 0.25)
    monkeypatch.setitem(unet_method.BATCH, "cpu", 3)
    calls = []
    chunked = unet_method.restore(y, 32000, checkpoint=str(tiny_ckpt), device="cpu",
                                  progress=lambda done, total: calls.append((done, total)))
    assert chunked.shape == whole.shape == (2, 192000)
    assert calls[-1][0] == calls[-1][1] > 1
    assert np.sqrt(np.mean((chunked - whole) ** 2)) < 0.01 * np.sqrt(np.mean(whole ** 2))
    assert not np.allclose(whole, resample(y, 32000, 48000), atol=1e-3)  # the model did something


def test_strength_zero_gives_resampled_input(tiny_ckpt, music):
    y = music(sr=32000, seconds=1.0)
    out = unet_method.restore(y, 32000, strength=0.0, checkpoint=str(tiny_ckpt), device="cpu")
    np.testing.assert_array_equal(out, resample(y, 32000, 48000))
    half = unet_method.restore(y, 32000, strength=0.5, checkpoint=str(tiny_ckpt), device="cpu")
    full = unet_method.restore(y, 32000, strength=1.0, checkpoint=str(tiny_ckpt), device="cpu")
    np.testing.assert_allclose(half, 0.5 * (full + out), atol=1e-5)


def test_mono_and_stereo_channels_are_independent(tiny_ckpt, music):
    y = music(sr=32000, seconds=1.0)
    stereo = unet_method.restore(y, 32000, checkpoint=str(tiny_ckpt), device="cpu")
    mono = unet_method.restore(y[1:], 32000, checkpoint=str(tiny_ckpt), device="cpu")
    assert stereo.shape == (2, 48000) and mono.shape == (1, 48000)
    np.testing.assert_allclose(stereo[1:], mono, atol=1e-5)
    again = unet_method.restore(y, 32000, checkpoint=str(tiny_ckpt), device="cpu")
    np.testing.assert_array_equal(stereo, again)  # deterministic


def test_shipped_checkpoint_restores_a_clip(music):
    config = ckpt.read_config(ckpt.DEFAULT_CHECKPOINT)
    assert sum(f.stat().st_size for f in ckpt.DEFAULT_CHECKPOINT.iterdir()) <= 25 * 2 ** 20
    assert config["training"], "the shipped config records its training recipe"
    y = lowpass(music(sr=32000, seconds=1.5), 32000, 12000)
    out, rate = pipeline.restore(y, 32000, "unet")
    assert rate == 48000 and out.shape == (2, 72000) and np.all(np.isfinite(out))
    new_band = band_energy(out, 48000, 16500, 24000)
    assert new_band > 1e-5 * band_energy(out, 48000, 0, 24000)
    assert new_band > 100 * band_energy(resample(y, 32000, 48000), 48000, 16500, 24000)


def test_train_command_writes_resumable_run(tmp_path, music):
    """``python -m restoration train`` end to end on a tiny corpus: log, state, best checkpoint, resume."""
    from restoration.audio import save_audio
    from restoration.cli import main

    for split, count in (("train", 2), ("real", 1)):
        (tmp_path / "corpus" / split).mkdir(parents=True)
        for i in range(count):
            save_audio(tmp_path / "corpus" / split / f"c{i}.flac", music(seconds=1.0, seed=i), 48000)
    out = tmp_path / "run"
    common = ["train", "--data", str(tmp_path / "corpus"), "--out", str(out), "--size", "tiny", "--codecs", "none",
              "--batch-size", "2", "--segment-s", "0.25", "--val-every", "2", "--val-clips", "1", "--threads", "1",
              "--cache", str(tmp_path / "cache")]
    assert main([*common, "--steps", "2"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    validation = [r for r in records if r.get("event") == "validation"]
    assert validation[-1]["step"] == 2 and np.isfinite(validation[-1]["lsd_hf"])
    assert ckpt.read_config(out / "best")["training"]["step"] == 2
    ckpt.load_checkpoint(out / "best")
    assert main([*common, "--steps", "3", "--resume"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 2}.items() <= next(r for r in records if r.get("event") == "resume").items()
    assert [r["step"] for r in records if r.get("event") == "validation"] == [2, 3]
