"""The spectral U-Net: model, checkpoints, the ``unet`` method, losses and the training loop."""

import json

import numpy as np
import pytest
import torch

from restoration import pipeline
from restoration.audio import resample
from restoration.degrade import draw_params
from restoration.errors import BadInputError, CheckpointError, MissingModelError
from restoration.models import checkpoint as ckpt
from restoration.models import unet_method
from restoration.models.unet import SpectralUNet, UNetConfig
from restoration.training.data import Batches, Pair
from restoration.training.losses import RestorationLoss
from restoration.training.train import DEFAULT_CUTOFFS, SIZES, degradation, fit
from signals import lowpass

TINY = UNetConfig(**SIZES["tiny"])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


def load_script(name):
    """The module of ``scripts/<name>.py`` or ``research/<name>.py`` (neither is a package)."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    path = next(p for p in (root / "scripts" / f"{name}.py", root / "research" / f"{name}.py") if p.exists())
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_corpus(root, music, split, entries):
    """A corpus under ``root`` with one 1.5 s music clip per manifest entry (``{"file": "<split>/x.flac", ...}``)."""
    from restoration.audio import save_audio

    (root / split).mkdir(parents=True)
    for i, entry in enumerate(entries):
        save_audio(root / entry["file"], music(seconds=1.5, seed=i), 48000)
    (root / "manifest.json").write_text(json.dumps({"clips": entries}))
    return root


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
    assert set(loss.parts) == {"mrstft", "complex", "level"}


def test_a_batch_with_a_non_finite_loss_leaves_the_weights_alone(music):
    torch.manual_seed(0)
    clean = music(sr=48000, seconds=1.0, channels=1)
    fixed = next(Batches([Pair("a", clean, lowpass(clean, 48000, 10000))], segment=12000, batch_size=2, seed=0))
    model = SpectralUNet(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = fit(model, lambda: fixed, lambda *a: RestorationLoss()(*a) * float("nan"),
                 torch.optim.Adam(model.parameters()), steps=2, lr=3e-3, warmup=1)
    assert all(np.isnan(losses))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


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


@pytest.fixture
def tiny_ckpt_no_noise(tmp_path):
    torch.manual_seed(0)
    model = SpectralUNet(UNetConfig(**SIZES["tiny"], noise=False))
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.3)
        model.head.bias[model.bands:] = -2.0
    return ckpt.save_checkpoint(model.eval(), tmp_path / "tiny-no-noise", training={"recipe": "test"})


def test_chunked_equals_whole(tiny_ckpt_no_noise, tiny_ckpt, music, monkeypatch):
    """Chunks agree with the whole signal: exactly for the copies, and in band level for the noise,
    whose phases restart at every chunk (deterministic, but not continuous across a chunk border)."""
    y = lowpass(music(sr=32000, seconds=4.0), 32000, 11000)
    tiny_ckpt_noise, tiny_ckpt = tiny_ckpt, tiny_ckpt_no_noise
    with_noise = unet_method.restore(y, 32000, checkpoint=str(tiny_ckpt_noise), device="cpu")
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
    noisy_chunks = unet_method.restore(y, 32000, checkpoint=str(tiny_ckpt_noise), device="cpu")
    for lo, hi in ((0, 10000), (12000, 16000), (16000, 22000)):
        ratio = band_energy(noisy_chunks, 48000, lo, hi) / band_energy(with_noise, 48000, lo, hi)
        assert abs(10 * np.log10(ratio)) < 1.0


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
              "--batch-size", "2", "--segment-s", "0.25", "--val-every", "2", "--val-clips", "1", "--visqol-clips", "0",
              "--threads", "1", "--new-pairs", "1", "--ema", "0.5",
              "--cache", str(tmp_path / "cache")]
    assert main([*common, "--steps", "2"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    validation = [r for r in records if r.get("event") == "validation"]
    assert validation[-1]["step"] == 2 and np.isfinite(validation[-1]["lsd_hf"])
    assert ckpt.read_config(out / "best")["training"]["step"] == 2
    best = ckpt.load_checkpoint(out / "best").state_dict()
    state = torch.load(out / "state.pt", weights_only=True)
    averaged = {k.removeprefix("module."): v for k, v in state["averaged"].items() if k.startswith("module.")}
    assert all(torch.equal(best[k], averaged[k]) for k in best)  # the moving average is what was saved
    assert not all(torch.equal(best[k], state["model"][k]) for k in best)  # not the raw weights
    assert main([*common, "--steps", "3", "--resume"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 2}.items() <= next(r for r in records if r.get("event") == "resume").items()
    assert [r["step"] for r in records if r.get("event") == "validation"] == [2, 3]


def tone_model(noise_bias=-30.0):
    """Tiny model that copies a band up by 192 bins (9 kHz) at gain 1; ``noise_bias`` sets the noise gain (log)."""
    model = SpectralUNet(TINY).eval()
    with torch.no_grad():
        model.head.bias[model.bands:] = -30.0
        shift = TINY.shifts.index(192)
        model.head.bias[model.bands * (1 + shift):model.bands * (2 + shift)] = 0.0
        model.head.bias[-model.bands:] = noise_bias
    return model


def test_noise_component_fills_the_band_around_a_copied_tone():
    sr = 48000
    tone = torch.from_numpy((0.3 * np.sin(2 * np.pi * 5000 * np.arange(sr) / sr)).astype(np.float32))[None, None]
    spec = tone_model().spectrum(tone[0])
    _, gains = tone_model().controls(spec)
    assert gains.shape[1] == len(TINY.shifts) + 1  # one gain per shift, then the noise gain
    with torch.inference_mode():
        clean_copy = tone_model()(tone)[0, 0].numpy()[4096:-4096]
        noisy = tone_model(noise_bias=1.0)(tone)[0, 0].numpy()[4096:-4096]
        again = tone_model(noise_bias=1.0)(tone)[0, 0].numpy()[4096:-4096]
    np.testing.assert_array_equal(noisy, again)  # fixed seed: deterministic
    band = (13875, 14250)  # the 375 Hz band holding the copied tone
    assert band_energy(clean_copy, sr, 13950, 14050) > 0.99 * band_energy(clean_copy, sr, *band)
    spread = band_energy(noisy, sr, *band) - band_energy(noisy, sr, 13950, 14050)
    assert spread > 0.5 * band_energy(noisy, sr, 13950, 14050)  # noise around the tone, in its band
    assert band_energy(noisy, sr, 16000, 24000) < 1e-3 * band_energy(noisy, sr, *band)  # and only there


def test_air_scales_only_the_new_band_monotonically(music, tmp_path):
    x = torch.from_numpy(lowpass(music(seconds=1.0), 48000, 10000))[None]
    model = tiny_model()
    with torch.inference_mode():
        outs = {air: model(x, air=air)[0].numpy() for air in (-1.0, -0.5, 0.0, 0.5, 1.0)}
    new = [band_energy(outs[a], 48000, 12000, 22000) for a in sorted(outs)]
    assert all(b > a for a, b in zip(new, new[1:]))
    assert 10 * np.log10(new[-1] / new[2]) == pytest.approx(TINY.air_db, abs=0.3)
    low = [band_energy(outs[a], 48000, 0, 5000) for a in sorted(outs)]
    assert max(low) / min(low) < 1.001  # the band below the replicated region is untouched
    y = lowpass(music(sr=32000, seconds=1.0), 32000, 10000)
    folder = str(ckpt.save_checkpoint(model, tmp_path / "air"))
    bright, plain = (unet_method.restore(y, 32000, air=a, checkpoint=folder, device="cpu") for a in (1.0, 0.0))
    assert band_energy(bright, 48000, 12000, 22000) > 2 * band_energy(plain, 48000, 12000, 22000)


def test_version_1_checkpoint_still_loads(tmp_path, music):
    model = SpectralUNet(UNetConfig(**SIZES["tiny"], noise=False)).eval()
    folder = ckpt.save_checkpoint(model, tmp_path / "v1")
    config = json.loads((folder / ckpt.CONFIG).read_text())
    config["format_version"] = 1
    del config["model"]["noise"], config["model"]["air_db"]
    (folder / ckpt.CONFIG).write_text(json.dumps(config))
    loaded = ckpt.load_checkpoint(folder)
    assert loaded.config.noise is False and loaded.config.keep_below_cutoff is False
    config["format_version"] = 5
    (folder / ckpt.CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"format version 5; this version of the library reads versions 1, 2, 3, 4"):
        ckpt.load_checkpoint(folder)


def test_loss_is_masked_above_the_target_bandwidth(music):
    from restoration.training.losses import BandLevelLoss, STFTMagnitudeLoss

    target = torch.from_numpy(music(seconds=1.0, channels=1))
    spec = np.fft.rfft(target.numpy(), axis=-1)
    spec[..., np.fft.rfftfreq(target.shape[-1], 1 / 48000) > 15000] = 0  # an encoder's low-pass
    dark = torch.from_numpy(np.fft.irfft(spec, n=target.shape[-1], axis=-1).astype(np.float32))
    width = torch.tensor([15000.0])
    full = RestorationLoss()
    assert float(full(dark, target)) > 0.2
    assert float(full(dark, target, width)) < 0.05 * float(full(dark, target))
    magnitude = STFTMagnitudeLoss(1024, 256)
    assert float(magnitude(dark, target, width)) < 0.05 * float(magnitude(dark, target))
    level = BandLevelLoss()
    quieter = torch.from_numpy(music(seconds=1.0, channels=1)) * 10 ** (-10 / 20)
    assert float(level(quieter, target, torch.tensor([19000.0]))) == pytest.approx(1.0, abs=0.01)  # 10 dB = 1
    assert float(level(target, target)) == 0.0


def test_band_level_quantile_makes_a_band_too_loud_cost_more_than_one_too_quiet():
    from restoration.training.losses import BandLevelLoss

    target = 0.1 * torch.randn(1, 48000, generator=torch.Generator().manual_seed(0))  # every band far above the floor
    louder, quieter = target * 10 ** (6 / 20), target * 10 ** (-6 / 20)
    median, dark = BandLevelLoss(), BandLevelLoss(quantile=0.25)
    assert float(median(louder, target)) == pytest.approx(float(median(quieter, target)), rel=1e-4)
    assert float(median(louder, target)) == pytest.approx(0.6, abs=0.01)  # the plain L1: 6 dB = 0.6
    assert float(dark(louder, target)) == pytest.approx(3.0 * float(dark(quieter, target)), rel=1e-4)  # 0.75 / 0.25
    with pytest.raises(ValueError, match="quantile"):
        BandLevelLoss(quantile=1.0)


def test_training_files_keep_only_the_named_packages(tmp_path, music):
    from restoration.audio import save_audio
    from restoration.training.train import training_files

    (tmp_path / "train").mkdir()
    for name in ("a0", "a1", "b0"):
        save_audio(tmp_path / "train" / f"{name}.flac", music(seconds=0.2), 48000)
    (tmp_path / "manifest.json").write_text(json.dumps({"clips": [
        {"file": f"train/{n}.flac", "source_package": f"pkg-{n[0]}"} for n in ("a0", "a1", "b0")]}))
    assert [f.name for f in training_files(str(tmp_path))] == ["a0.flac", "a1.flac", "b0.flac"]
    assert [f.name for f in training_files(str(tmp_path), "pkg-a")] == ["a0.flac", "a1.flac"]
    with pytest.raises(BadInputError, match="no training clips of pkg-c"):
        training_files(str(tmp_path), "pkg-a, pkg-c")


def test_batches_carry_bandwidth_and_no_source_roll_off(music):
    from restoration.training.data import Augment

    clean = music(seconds=1.0)
    inputs, targets, widths = next(Batches([Pair("a", clean, clean, 17000.0)], segment=12000, batch_size=3, seed=0))
    assert inputs.shape == targets.shape == (3, 12000) and widths.tolist() == [16000.0] * 3  # less the transition
    assert not any("rolloff" in f for f in Augment.__dataclass_fields__)


def test_warm_start_copies_matching_weights_and_shifts(tmp_path):
    from restoration.training.train import warm_start

    old = tiny_model()
    with torch.no_grad():
        old.head.bias[-old.bands:] = 0.37  # a trained noise gain, unlike the new model's initial one
    folder = ckpt.save_checkpoint(old, tmp_path / "old")
    new = SpectralUNet(UNetConfig(channels=TINY.channels, shifts=(64, 96, 128)))
    assert old.config.noise and new.config.noise
    head_before = new.head.bias.detach().clone()
    assert warm_start(new, folder) > 0
    bands = new.bands
    assert torch.equal(new.stem.weight, old.stem.weight)
    assert torch.equal(new.head.bias[:bands], old.head.bias[:bands])  # the mask
    assert torch.equal(new.head.bias[bands:2 * bands], old.head.bias[bands:2 * bands])  # shift 64 (in both)
    assert torch.equal(new.head.bias[2 * bands:3 * bands], head_before[2 * bands:3 * bands])  # 96: new
    assert torch.equal(new.head.bias[3 * bands:4 * bands], old.head.bias[2 * bands:3 * bands])  # 128 -> its block
    assert torch.equal(new.head.bias[-bands:], old.head.bias[-bands:])  # the noise gain, last in both heads


def test_target_checks_read_an_evaluation_report():
    """scripts/unet_targets.py: every issue target is checked, per genre, from the evaluation JSON."""
    targets = load_script("unet_targets")

    def scores(visqol, lsd_hf, bias):
        return {"visqol": visqol, "lsd": 10.0, "lsd_hf": lsd_hf, "hf_env_corr": 0.5, "bias_16_18": bias,
                "per_genre": {"rock": {"visqol": visqol}, "orchestral": {"visqol": visqol - 0.3}}}

    report = {"clips": ["a", "b"], "genres": ["rock", "orchestral"], "cutoffs": "10000,15500",
              "degraded": {"passthrough": scores(3.3, 45.0, -60.0), "sbr": scores(3.9, 26.0, -8.0),
                           "unet": scores(4.1, 17.0, -2.0)},
              "clean_input": {"unet": {"visqol": 4.7, "lsd": 1.0}}}
    met = {name: ok for name, ok, _ in targets.checks(report)}
    assert met["ViSQOL rock >= sbr + 0.15"] and met["ViSQOL orchestral >= passthrough + 0.4"]
    assert met["LSD >16 kHz <= 0.7 x sbr"] and met["bias_16_18 within +-3 dB"] and met["clean input ViSQOL >= 4.6"]
    report["degraded"]["unet"] = scores(3.95, 20.0, -4.0)
    met = {name: ok for name, ok, _ in targets.checks(report)}
    assert not met["ViSQOL rock >= sbr + 0.15"] and not met["LSD >16 kHz <= 0.7 x sbr"]
    assert not met["bias_16_18 within +-3 dB"]
    assert any("| unet | 3.95 |" in line for line in targets.tables(report))


def test_train_refuses_a_moving_average_decay_outside_0_1(tmp_path, capsys):
    from restoration.cli import main

    with pytest.raises(SystemExit) as info:  # a usage error (argparse)
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--size", "tiny", "--ema", "1.5"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "argument --ema: must be within [0, 1), got 1.5" in err
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_train_refuses_a_negative_high_band_weight(tmp_path, capsys):
    from restoration.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--size", "tiny", "--hf-weight", "-2"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "argument --hf-weight: must be within [0, 1e+06], got -2" in err
    assert not (tmp_path / "run").exists()


def test_high_band_weight_reaches_every_resolution_of_the_loss():
    flat, default = RestorationLoss(hf_weight=0.0), RestorationLoss()
    assert all(torch.all(term.weight == 1.0) for term in flat.magnitude)
    for term in default.magnitude:  # bins from 11 kHz weigh 3 times the others (before normalising)
        assert float(term.weight.max() / term.weight.min()) == pytest.approx(3.0)


def test_evaluate_command_reports_every_method_clip_and_genre(tmp_path, tiny_ckpt, music):
    """``train --evaluate``: per-method means, per-genre means, per-clip rows and the clean-input check,
    on held-out clips degraded with the validation seeds, in the JSON report; a chain with the U-Net in
    it is scored like the U-Net (with the checkpoint, and on clean input)."""
    from restoration.cli import main

    small_corpus(tmp_path / "corpus", music, "real", [
        {"file": "real/c0.flac", "genre": "rock"}, {"file": "real/c1.flac", "genre": "orchestral"}])
    report = tmp_path / "report.json"
    assert main(["train", "--evaluate", str(tiny_ckpt), "--data", str(tmp_path / "corpus"), "--val-clips", "5",
                 "--codecs", "none", "--methods", "passthrough,unet,spectral_subtraction+unet", "--cache", str(tmp_path / "cache"),
                 "--report", str(report)]) == 0
    doc = json.loads(report.read_text())
    genre_of = {clip.split("@")[0]: genre for clip, genre in zip(doc["clips"], doc["genres"])}
    assert genre_of == {"c0": "rock", "c1": "orchestral"}
    assert set(doc["degraded"]) == {"passthrough", "unet", "spectral_subtraction+unet"}
    assert set(doc["clean_input"]) == {"unet", "spectral_subtraction+unet"}
    assert len(doc["rows"]["degraded/spectral_subtraction+unet"]) == 2
    assert len(doc["rows"]["degraded/unet"]) == 2 and np.isfinite(doc["degraded"]["unet"]["lsd_hf"])
    assert set(doc["degraded"]["unet"]["per_genre"]) == {"rock", "orchestral"}
    assert doc["degraded"]["passthrough"]["lsd_hf"] > doc["clean_input"]["unet"]["lsd_hf"]  # the band is gone


def test_envelope_oracle_matches_the_clean_band_level():
    """research/band_envelope_oracle.py: after rescaling, each band above the cutoff has the clean clip's power."""
    oracle = load_script("band_envelope_oracle")
    rng = np.random.default_rng(0)
    clean = rng.standard_normal((1, 48000)).astype(np.float32)
    out = (0.1 * rng.standard_normal((1, 48000))).astype(np.float32)  # the "restored" band 20 dB too quiet
    for name, (bins, frames) in oracle.RESOLUTIONS.items():
        fixed = oracle.rescaled(out, clean, 12000.0, bins, frames)
        ratio = band_energy(fixed[0], 48000, 14000, 20000) / band_energy(clean[0], 48000, 14000, 20000)
        assert ratio == pytest.approx(1.0, rel=0.1), name
        assert band_energy(fixed[0], 48000, 2000, 10000) == pytest.approx(band_energy(out[0], 48000, 2000, 10000), rel=1e-3)
        below = oracle.rescaled(out, clean, 4000.0, bins, frames, hi_hz=9000.0)  # --region below
        ratio = band_energy(below[0], 48000, 5000, 8500) / band_energy(clean[0], 48000, 5000, 8500)
        assert ratio == pytest.approx(1.0, rel=0.1), name
        for lo, hi in ((500, 3500), (10000, 20000)):
            assert band_energy(below[0], 48000, lo, hi) == pytest.approx(band_energy(out[0], 48000, lo, hi), rel=1e-3)
    swapped = oracle.with_true_band(out, clean, 0.0, 9000.0)
    assert band_energy(swapped[0], 48000, 500, 8500) == pytest.approx(band_energy(clean[0], 48000, 500, 8500), rel=1e-2)
    assert band_energy(swapped[0], 48000, 10000, 20000) == pytest.approx(band_energy(out[0], 48000, 10000, 20000), rel=1e-2)


def test_band_course_stats_separate_level_from_time_course():
    """research/band_course.py: a band 6 dB too loud with the right course has bias +6, corr 1, rms 0;
    a band at the right level with the wrong course has bias 0 and a large rms."""
    band_course = load_script("band_course")
    rng = np.random.default_rng(1)
    n = 3 * 48000
    envelope = np.repeat(10.0 ** (rng.uniform(-1.0, 0.0, n // 4096 + 1)), 4096)[:n]  # 85 ms steps over 20 dB
    clean = (rng.standard_normal((1, n)) * envelope).astype(np.float32)
    louder = 2.0 * clean
    flat = (rng.standard_normal((1, n)) * np.sqrt(np.mean(envelope ** 2))).astype(np.float32)
    stats = band_course.clip_stats(clean, clean, {"louder": louder, "flat": flat}, 12000.0, 24000.0)
    assert stats["near/louder"]["bias"] == pytest.approx(6.02, abs=0.05)
    assert stats["near/louder"]["corr"] == pytest.approx(1.0, abs=1e-6) and stats["near/louder"]["rms"] < 1e-3
    assert abs(stats["near/flat"]["bias"]) < 3.0 and stats["near/flat"]["rms"] > 4.0 and stats["near/flat"]["corr"] < 0.5
    assert stats["near/below_1k"]["corr"] > 0.9  # white noise: the band below has the same course


def test_corpus_tilt_ranks_a_brighter_package_above_a_darker_one(tmp_path):
    """research/corpus_tilt.py: white noise has a tilt of 0 dB; 20 dB less above 11 kHz gives about -20 dB."""
    from restoration.audio import save_audio

    corpus_tilt = load_script("corpus_tilt")
    rng = np.random.default_rng(2)
    (tmp_path / "train").mkdir()
    white = 0.1 * rng.standard_normal((2, 48000)).astype(np.float32)
    spec_dark = np.fft.rfft(white, axis=-1)
    spec_dark[:, np.fft.rfftfreq(48000, 1 / 48000) > 11000] *= 0.1
    dark = np.fft.irfft(spec_dark, n=48000, axis=-1).astype(np.float32)
    save_audio(tmp_path / "train" / "w.flac", white, 48000)
    save_audio(tmp_path / "train" / "d.flac", dark, 48000)
    (tmp_path / "manifest.json").write_text(json.dumps({"clips": [
        {"file": "train/w.flac", "split": "train", "source_package": "bright"},
        {"file": "train/d.flac", "split": "train", "source_package": "dark"},
        {"file": "skipped/x", "split": "skipped"}]}))
    tilts = corpus_tilt.package_tilts(tmp_path)
    assert set(tilts) == {("train", "bright"), ("train", "dark")}
    assert tilts[("train", "bright")][0][0] == pytest.approx(0.0, abs=0.5)
    assert tilts[("train", "dark")][0][0] == pytest.approx(-20.0, abs=0.5)


def test_air_preference_scores_each_setting_and_refuses_a_bad_one(tmp_path, tiny_ckpt, music, capsys):
    """research/air_preference.py: one surrogate score per clip and air setting, in range, and different
    settings score differently (the band's level reaches the score); an air outside [-1, 1] is refused."""
    air_preference = load_script("air_preference")
    small_corpus(tmp_path / "corpus", music, "train", [
        {"file": "train/t0.flac", "source_package": "a"}, {"file": "train/t1.flac", "source_package": "b"}])
    report = tmp_path / "air.json"
    common = ["--data", str(tmp_path / "corpus"), "--cache", str(tmp_path / "cache"), "--checkpoint", str(tiny_ckpt),
              "--split", "train", "--clips", "5", "--surrogate-only"]
    assert air_preference.main([*common, "--packages", "a", "--airs=-1,1", "--report", str(report)]) == 0
    rows = json.loads(report.read_text())
    assert [r["clip"].split("@")[0] for r in rows] == ["t0"]
    scores = [rows[0]["surrogate@-1"], rows[0]["surrogate@1"]]
    assert all(1.0 <= s <= 5.0 for s in scores) and abs(scores[0] - scores[1]) > 1e-3
    assert "| surrogate |" in capsys.readouterr().out
    assert air_preference.main([*common, "--airs", "0,2"]) == 2
    assert capsys.readouterr().err.strip() == "error: every --airs value must be within [-1, 1], got '0,2'"


def test_compare_reports_pairs_clips_by_genre_cutoff_codec_and_package(tmp_path, capsys):
    """scripts/compare_reports.py: the mean difference, its interval and the wins of A over B, over all clips,
    per genre, per drawn cutoff range and codec, and per source package (from the manifest); mismatched or
    missing rows are one-line errors."""
    compare = load_script("compare_reports")
    clips = [f"c{i}@{10000 + i}" for i in range(8)]
    genres = ["rock"] * 4 + ["orchestral"] * 4
    a = [3.0, 3.2, 3.4, 3.6, 4.0, 4.1, 4.2, 4.3]
    b = [2.9, 3.1, 3.3, 3.5, 4.1, 4.2, 4.3, 4.4]  # A ahead by 0.1 on rock, behind by 0.1 on orchestral

    def report(name, rows, order=clips):
        path = tmp_path / name
        path.write_text(json.dumps({"split": "unseen", "clips": order, "genres": genres, "rows": {
            f"degraded/{m}": [{"clip": c, "visqol": v} for c, v in zip(order, values)] for m, values in rows.items()}}))
        return path

    ra, rb = report("a.json", {"unet": a}), report("b.json", {"sbr": b, "passthrough": [1.0] * 8})
    (tmp_path / "manifest.json").write_text(json.dumps({"clips": [
        {"file": f"unseen/c{i}.flac", "source_package": "p-even" if i % 2 == 0 else "p-odd"} for i in range(8)]}))
    assert compare.main([f"{ra}:unet", f"{rb}:degraded/sbr", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| all (8) | 3.725 | 3.725 | +0.000 " in out and "| 4 of 8 |" in out
    assert "| genre rock (4) | 3.300 | 3.200 | +0.100 [+0.100, +0.100] | 4 of 4 |" in out
    assert "| genre orchestral (4) | 4.150 | 4.250 | -0.100 [-0.100, -0.100] | 0 of 4 |" in out
    assert "| package p-even (4) |" in out and "| package p-odd (4) |" in out
    drawn = [draw_params(10000 + i, degradation("", DEFAULT_CUTOFFS)) for i in range(8)]  # the report names no cutoffs
    for label, low, high in (("under 12.5 kHz", 0, 12500), ("12.5 to 14 kHz", 12500, 14000), ("14 kHz and more", 14000, 1e9)):
        count = sum(low <= d.cutoff_hz < high for d in drawn)
        assert (f"| cutoff {label} ({count}) |" in out) == (count > 0)
    for codec in {d.codec for d in drawn}:
        assert f"| codec {codec} ({sum(d.codec == codec for d in drawn)}) |" in out
    assert out.index("cutoff under 12.5") < out.index("cutoff 12.5 to 14") < out.index("cutoff 14 kHz and more")
    assert compare.main([f"{ra}:unet", f"{rb}:passthrough"]) == 0 and "| 8 of 8 | 0.01 |" in capsys.readouterr().out

    shuffled = report("c.json", {"sbr": b}, order=list(reversed(clips)))
    for argv, message in (([f"{ra}:unet", f"{shuffled}:sbr"], "the two rows cover different clips"),
                          ([f"{ra}:demucs", f"{rb}:sbr"], f"{ra} has no row degraded/demucs; it has degraded/unet"),
                          ([f"{ra}:unet", f"{tmp_path / 'none.json'}:sbr"], "cannot read the report"),
                          ([f"{ra}:unet", f"{rb}:sbr", "--metric", "lsd"], "has no numeric 'lsd' for every clip")):
        assert compare.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_device_check_runs_every_neural_method_and_a_training_run_on_the_cpu(tmp_path, capsys):
    """scripts/device_check.py (made for a session lent a GPU) with ``--device cpu``: every check passes, the
    U-Net's output on the device equals the CPU's, and the report lands in ``--out``."""
    device_check = load_script("device_check")
    assert device_check.main(["--device", "cpu", "--out", str(tmp_path), "--repeats", "1",
                              "--train-steps", "21", "--train-batch", "2"]) == 0
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert all(item["ok"] for item in report.values()), report
    assert report["unet"]["output_shape"] == [2, 480000] and report["unet"]["relative_rms_difference_vs_cpu"] == 0.0
    assert 0 < report["unet"]["real_time_factor"] < 1
    assert report["demucs"]["output_shape"] == [2, 320000]
    assert report["musicgen"]["shape"] == [1, 32000] and report["musicgen"]["finite"]
    assert report["train"]["losses_finite"] and report["train"]["checkpoint_written"]
    capsys.readouterr()
    assert device_check.main(["--device", "cpu", "--train-steps", "5"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def pink_noise(sr, seconds, seed=0):
    """Noise with a 1/f power spectrum, float32 ``(1, samples)`` at 0.1 RMS."""
    n = int(sr * seconds)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum[1:] /= np.sqrt(np.fft.rfftfreq(n, 1.0 / sr)[1:])
    y = np.fft.irfft(spectrum, n)
    return (0.1 * y / np.std(y)).astype(np.float32)[None]


@pytest.mark.parametrize("cutoff", [12000.0, 14000.0])
def test_new_band_reaches_nyquist_without_a_notch_or_a_ridge(cutoff):
    """Pink noise cut at ``cutoff`` through the shipped U-Net: in 500 Hz bands from 1 kHz above the cutoff to
    Nyquist, no band lies more than 5 dB off the mean of its neighbours 1 kHz away (a notch or a lone band),
    above 19 kHz the band only fades, and the top (23-23.5 kHz) is still there (within 45 dB of the band
    just above the cutoff). Version 6's own band failed all three (a -18 dB notch at 20 kHz, a lone band
    at 20.5-21.5 kHz, nothing above 22 kHz)."""
    from restoration.dsp.cutoff import long_term_spectrum

    y = lowpass(pink_noise(32000, 4.0), 32000, cutoff)
    out, rate = pipeline.restore(y, 32000, "unet")
    freqs, power = long_term_spectrum(out, rate)
    starts = np.arange(cutoff + 1000.0, 23500.0, 500.0)
    level = np.array([10 * np.log10(np.mean(power[(freqs >= f) & (freqs < f + 500.0)])) for f in starts])
    curvature = level[2:-2] - 0.5 * (level[:-4] + level[4:])
    assert np.max(np.abs(curvature)) < 5.0, dict(zip(starts[2:-2], np.round(curvature, 1)))
    top = level[starts >= 19000.0]
    assert np.all(np.diff(top) < 2.0), np.round(top, 1)
    assert level[-1] > level[0] - 45.0
    plain, _ = pipeline.restore(y, 32000, "unet", {"top": False})  # the model's band alone ends near 22 kHz
    assert band_energy(out, 48000, 22500, 24000) > 100 * band_energy(plain, 48000, 22500, 24000)
