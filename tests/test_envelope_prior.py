"""The U-Net's envelope prior (version 4): the band above each input's cutoff, by the sbr rule, in torch."""

import numpy as np
import pytest
import torch

from restoration.dsp.cutoff import estimate_cutoff
from restoration.dsp.sbr import sbr
from restoration.models import checkpoint as ckpt
from restoration.models import unet_method
from restoration.models.envelope_prior import replicated_band
from restoration.models.unet import SpectralUNet, UNetConfig
from restoration.training.data import Augment, Batches, Pair
from restoration.training.train import SIZES, warm_start
from signals import lowpass

SR = 48000
PRIOR = UNetConfig(**SIZES["tiny"], envelope_prior=True)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def band_db(y, lo, hi):
    """Mean power per FFT bin of ``y`` between ``lo`` and ``hi`` Hz, dB."""
    spec = np.abs(np.fft.rfft(y * np.hanning(y.shape[-1]))) ** 2
    hz = np.fft.rfftfreq(y.shape[-1], 1 / SR)
    return 10 * np.log10(spec[(hz >= lo) & (hz < hi)].mean() + 1e-30)


def prior_wave(x, cutoff):
    """The prior of ``x`` ``(samples,)`` as a waveform (the model's STFT: 1024/256)."""
    model = SpectralUNet(PRIOR)
    spec = model.spectrum(torch.from_numpy(x)[None])
    band = replicated_band(spec, torch.tensor([cutoff]), sample_rate=SR, hop=256, to_hz=22050.0)
    return torch.istft(band, 1024, 256, window=model.window, length=x.shape[-1])[0].numpy()


def test_prior_extends_the_level_below_the_cutoff_and_stays_in_its_band():
    noise = lowpass(np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32), SR, 12000)
    cutoff = estimate_cutoff(noise, SR)
    assert cutoff == pytest.approx(12000, abs=300)
    band = prior_wave(noise, cutoff)
    reference = sbr(noise, SR, cutoff_hz=cutoff) - noise  # the same rule in numpy, on a 2048-point STFT
    below = band_db(noise, 8000, 11000)
    levels = [band_db(band, lo, lo + 1000) for lo in range(13000, 22000, 1000)]
    for lo, level in zip(range(13000, 22000, 1000), levels):
        assert level == pytest.approx(band_db(reference, lo, lo + 1000), abs=1.0)
    # flat noise, the filter's knee tilting the fitted line a little, then 1.5 dB/kHz: a gentle fall from the level below
    assert below - 8 < levels[0] < below and all(b < a for a, b in zip(levels, levels[1:]))
    assert band_db(band, 1000, 11000) < below - 60  # nothing below the cutoff
    assert band_db(band, 22500, 24000) < below - 40  # nor above replicate_to_hz


def test_prior_fills_only_what_is_missing():
    noise = lowpass(np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32), SR, 20000)
    misjudged = prior_wave(noise, 12000.0)  # full-band content above a wrong cutoff: nothing to fill
    assert band_db(misjudged, 13000, 19000) < band_db(noise, 13000, 19000) - 15
    assert np.abs(prior_wave(noise, 4000.0)).max() == 0.0  # below min_hz: a misjudged cutoff, no prior


def test_prior_copies_a_tone_coherently():
    t = np.arange(SR) / SR
    floor = 0.003 * lowpass(np.random.default_rng(1).standard_normal(SR), SR, 12000)
    tone = (0.3 * np.sin(2 * np.pi * 9000 * t) + floor).astype(np.float32)
    band = prior_wave(tone, 12000.0)
    # cutoff bin 256: the octave below is 128 bins (6 kHz) wide, so 9 kHz is copied to 15 kHz and 21 kHz
    for f in (15000, 21000):
        line = band_db(band, f - 20, f + 20)
        assert line > band_db(band, f - 200, f - 60) + 40 and line > band_db(band, f + 60, f + 200) + 40  # no smear


def test_model_at_initialisation_adds_the_sbr_band(music):
    x = lowpass(music(seconds=2.0, channels=1)[0], SR, 11000)
    model = SpectralUNet(PRIOR).eval()
    with torch.inference_mode():
        y = model(torch.from_numpy(x)[None])[0].numpy()
    reference = sbr(x, SR)
    for lo, hi in ((12000, 14000), (14000, 17000), (17000, 21000)):
        assert band_db(y, lo, hi) == pytest.approx(band_db(reference, lo, hi), abs=3.0)
    assert band_db(y - x, 0, 10000) < band_db(x, 0, 10000) - 50  # the band below is the input's


def test_a_given_cutoff_equals_the_estimated_one(music):
    x = torch.from_numpy(lowpass(music(seconds=1.0, channels=2), SR, 13000))
    model = SpectralUNet(PRIOR).eval()
    cutoff = estimate_cutoff(x[0].numpy(), SR)
    with torch.inference_mode():
        estimated = model(x[:1])
        given = model(x[:1], cutoff_hz=cutoff)
        wrong = model(x[:1], cutoff_hz=cutoff - 3000)
    torch.testing.assert_close(estimated, given)
    assert not torch.allclose(estimated, wrong)


def test_keep_below_cutoff_passes_the_band_under_the_cutoff_through(tmp_path, music):
    """Version 5: with the mask pushed to its maximum (+6 dB) and every copy on, the bins under each item's
    cutoff are still exactly the input's, those above are the model's; without the flag the mask acts."""
    x = torch.from_numpy(lowpass(music(seconds=1.0, channels=2), SR, 13000))
    keep, plain = (SpectralUNet(UNetConfig(**SIZES["tiny"], envelope_prior=True, keep_below_cutoff=flag)).eval()
                   for flag in (True, False))
    plain.load_state_dict(keep.state_dict())
    for model in (keep, plain):
        with torch.no_grad():
            model.head.bias[:model.bands] = 20.0  # mask = mask_max everywhere
            model.head.bias[model.bands:] = 0.0  # every copy and the noise at 0 dB
    spec = keep.spectrum(x)
    cutoffs = torch.tensor([12000.0, 9000.0])
    with torch.inference_mode():
        kept, changed = keep.restore_spectrum(spec, cutoff_hz=cutoffs), plain.restore_spectrum(spec, cutoff_hz=cutoffs)
    for item, cutoff in enumerate(cutoffs.tolist()):
        edge = int(cutoff * 1024 / SR)  # bins 0 .. edge - 1 lie wholly under the cutoff
        assert torch.equal(kept[item, :edge], spec[item, :edge])
        assert torch.equal(kept[item, edge:], changed[item, edge:])  # from the cutoff up: the same model
        assert not torch.allclose(changed[item, :edge], spec[item, :edge])  # the mask doubles it without the flag
    folder = ckpt.save_checkpoint(keep, tmp_path / "keep")
    assert ckpt.load_checkpoint(folder).config.keep_below_cutoff is True
    with pytest.raises(ValueError, match="keep_below_cutoff needs envelope_prior"):
        UNetConfig(**SIZES["tiny"], keep_below_cutoff=True)


def test_method_restores_with_a_prior_checkpoint(tmp_path, music):
    folder = str(ckpt.save_checkpoint(SpectralUNet(PRIOR), tmp_path / "prior"))
    assert ckpt.read_config(folder)["model"]["envelope_prior"] is True
    y = lowpass(music(sr=32000, seconds=2.0), 32000, 12000)
    out = unet_method.restore(y, 32000, checkpoint=folder, device="cpu")
    assert out.shape == (2, 96000)
    wide = unet_method.resample(y, 32000, SR)
    assert band_db(out[0], 14000, 20000) > band_db(wide[0], 14000, 20000) + 40


def test_warm_start_maps_head_blocks_by_name(tmp_path):
    old = SpectralUNet(UNetConfig(**SIZES["tiny"])).eval()
    with torch.no_grad():
        old.head.bias[-old.bands:] = 0.37  # a trained noise gain
    folder = ckpt.save_checkpoint(old, tmp_path / "old")
    new = SpectralUNet(PRIOR)
    assert new.head_blocks()[-2:] == ["noise", "prior"]
    warm_start(new, folder)
    bands = new.bands
    assert torch.equal(new.head.bias[-2 * bands:-bands], old.head.bias[-bands:])  # noise -> noise
    assert torch.equal(new.head.bias[-bands:], torch.zeros(bands))  # the prior starts at 0 dB
    fresh = SpectralUNet(PRIOR)
    initial = {k: v.clone() for k, v in fresh.head.state_dict().items()}
    warm_start(fresh, folder, head=False)  # --fresh-head: the trunk only, the sbr rule to start from
    assert torch.equal(fresh.stem.weight, old.stem.weight)
    assert all(torch.equal(v, initial[k]) for k, v in fresh.head.state_dict().items())


def test_clean_wide_examples_are_targets_over_the_whole_band(music):
    clean = music(seconds=1.0)
    always_clean = Augment(clean_fraction=1.0)
    for width, usable in ((20000.0, 24000.0), (17000.0, 16000.0)):
        _, _, widths = next(Batches([Pair("a", clean, clean, width)], segment=12000, batch_size=2, seed=0,
                                    augment=always_clean))
        assert widths.tolist() == [usable] * 2
