"""Behaviour of every DSP restoration method in the registry: contract, noise, bands, chunking, SBR."""

import inspect

import numpy as np
import pytest

from restoration.audio import resample
from restoration.dsp.stft import bin_frequencies, stft
from restoration.registry import list_methods
from signals import lowpass, make_music

DSP = [m for m in list_methods() if m.target.startswith("restoration.dsp.")]
DENOISERS = [m for m in DSP if any(p.name == "band_hz" for p in m.params)]
CHUNKED = [m for m in DSP if "chunk" in inspect.signature(m.function()).parameters]
IDS = lambda m: m.name  # noqa: E731


def noisy_music(sr, seconds, channels, *, cutoff=4000.0, hiss=0.01, seed=0):
    """Music low-passed at ``cutoff`` plus white hiss of RMS ``hiss`` (the only content above it)."""
    rng = np.random.default_rng(seed)
    y = lowpass(make_music(sr, seconds, channels, seed=seed), sr, cutoff)
    return (y + hiss * rng.standard_normal(y.shape)).astype(np.float32)


def band_energy_db(y, sr, lo, hi):
    """Mean power (dB) of ``y`` between ``lo`` and ``hi`` Hz, from a 2048/512 STFT, edge frames dropped."""
    spec = stft(y)[..., 4:-4]
    freqs = bin_frequencies(sr, 2048)
    band = spec[..., (freqs >= lo) & (freqs < hi), :]
    return 10 * np.log10(np.mean(np.abs(band) ** 2) + 1e-30)


def test_registry_lists_the_dsp_methods():
    assert {m.name for m in DSP} >= {"passthrough", "spectral_gating", "spectral_subtraction", "mcra_wiener", "sbr"}
    assert {m.name for m in CHUNKED} >= {"spectral_gating", "spectral_subtraction", "mcra_wiener", "sbr"}


@pytest.mark.parametrize("method", DSP, ids=IDS)
@pytest.mark.parametrize("sr", [32000, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_contract(method, sr, channels):
    y = noisy_music(sr, 1.0, channels, cutoff=sr / 2 - 2000)
    out = method(y, sr)
    rate = method.output_rate(sr)
    assert rate == (method.output_sr or sr)
    assert out.dtype == np.float32 and out.shape[0] == channels
    assert abs(out.shape[-1] - round(y.shape[-1] * rate / sr)) <= 1
    assert np.all(np.isfinite(out))
    assert np.max(np.abs(out)) < 0.99  # input peaks near 0.5: nothing may come near clipping
    np.testing.assert_array_equal(out, method(y, sr))  # deterministic


@pytest.mark.parametrize("method", CHUNKED, ids=IDS)
def test_one_dimensional_input_keeps_its_shape(method):
    y = noisy_music(32000, 0.5, 1)
    out = method.function()(y[0], 32000)
    assert out.ndim == 1 and abs(out.size - round(y.shape[-1] * method.output_rate(32000) / 32000)) <= 1
    np.testing.assert_allclose(out, method.function()(y, 32000)[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", DENOISERS, ids=IDS)
def test_hiss_above_band_is_reduced_and_band_below_kept(method):
    sr = 48000
    y = noisy_music(sr, 3.0, 2, cutoff=4000.0)
    out = method(y, sr, band_hz=6000.0)
    before, after = band_energy_db(y, sr, 7000, 20000), band_energy_db(out, sr, 7000, 20000)
    assert after < before - 6.0, f"hiss only went from {before:.1f} to {after:.1f} dB"
    below = band_energy_db(y, sr, 100, 3000)
    change = band_energy_db(out - y, sr, 100, 3000)
    assert change < below - 60.0, f"band below 3 kHz changed by {change - below:.1f} dB"


@pytest.mark.parametrize("method", [m for m in DENOISERS if m.name != "spectral_gating"], ids=IDS)
def test_stft_split_keeps_band_below_exactly(method):
    sr = 32000
    y = noisy_music(sr, 2.0, 1, cutoff=4000.0)
    out = method(y, sr, band_hz=6000.0)
    change = band_energy_db(out - y, sr, 100, 5500)
    assert change < band_energy_db(y, sr, 100, 5500) - 90.0


@pytest.mark.parametrize("method", DENOISERS, ids=IDS)
def test_full_band_mode_reduces_hiss_everywhere(method):
    sr = 32000
    rng = np.random.default_rng(3)
    t = np.arange(4 * sr) / sr
    notes = 0.3 * np.sin(2 * np.pi * 440 * t) * (t % 1.0 < 0.15)  # short notes: music, not noise, to all three
    y = (notes + 0.01 * rng.standard_normal(t.size)).astype(np.float32)[None]
    # noisereduce's default 500 Hz mask smoothing would average a lone sinusoid's mask with the noise around it
    params = {"freq_mask_smooth_hz": 100.0} if method.name == "spectral_gating" else {}
    out = method(y, sr, band_hz=0.0, **params)
    assert band_energy_db(out, sr, 1000, 4000) < band_energy_db(y, sr, 1000, 4000) - 6.0
    assert abs(band_energy_db(out, sr, 420, 460) - band_energy_db(y, sr, 420, 460)) < 3.0  # the notes stay


@pytest.mark.parametrize("method", CHUNKED, ids=IDS)
def test_chunked_matches_whole(method):
    sr = 32000
    y = noisy_music(sr, 6.0, 2, cutoff=5000.0)
    fn = method.function()
    params = method.defaults()
    if method.name == "spectral_gating":
        params["time_constant_s"] = 0.2  # context is 3 time constants: keep the test fast
    whole = fn(y, sr, **params)
    calls = []
    chunked = fn(y, sr, **params, chunk=sr, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) > 1 and calls[-1][0] == calls[-1][1]
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-4)
    if method.name != "spectral_gating":  # frame-local or streamed with carried state: exact
        np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


def test_stationary_gating_chunked_matches_whole():
    from restoration.dsp.gating import spectral_gating

    sr = 32000
    y = noisy_music(sr, 4.0, 1, cutoff=5000.0)
    whole = spectral_gating(y, sr, stationary=True)
    np.testing.assert_allclose(spectral_gating(y, sr, stationary=True, chunk=sr // 2), whole, rtol=0, atol=1e-4)
    assert band_energy_db(whole, sr, 7000, 15000) < band_energy_db(y, sr, 7000, 15000) - 6.0


def test_sbr_fills_the_empty_band_and_keeps_the_band_below():
    from restoration.dsp.sbr import sbr

    sr = 32000
    y = make_music(sr, 3.0, 2)
    out = sbr(y, sr)
    wide = resample(y, sr, 48000)
    assert out.shape == wide.shape
    filled = band_energy_db(out, 48000, 17000, 23000)
    below = band_energy_db(out, 48000, 8000, 15000)
    assert band_energy_db(wide, 48000, 17000, 23000) < below - 100.0  # the input has nothing there
    assert below - 30.0 < filled < below  # present, quieter than the band below
    # below the cutoff the output is the resampled input, up to the leakage of the 200 Hz crossover
    spec_diff = np.abs(stft(out - wide)[..., 4:-4])
    freqs = bin_frequencies(48000, 2048)
    assert spec_diff[..., freqs < 14500, :].max() < 1e-5 * np.abs(stft(wide)).max()


def test_sbr_envelope_decays_and_honours_the_given_cutoff():
    from restoration.dsp.sbr import sbr

    sr = 44100
    y = lowpass(make_music(sr, 2.0, 1), sr, 8000.0)
    steep = sbr(y, sr, cutoff_hz=8000.0, decay_db_per_khz=3.0)
    flat = sbr(y, sr, cutoff_hz=8000.0, decay_db_per_khz=0.0)
    quiet = sbr(y, sr, cutoff_hz=8000.0, decay_db_per_khz=0.0, level_db=-12.0)
    low, high = (9000, 11000), (18000, 22000)
    assert band_energy_db(steep, 48000, *high) < band_energy_db(steep, 48000, *low) - 20.0
    assert band_energy_db(flat, 48000, *high) > band_energy_db(steep, 48000, *high) + 20.0
    assert band_energy_db(flat, 48000, *low) - band_energy_db(quiet, 48000, *low) == pytest.approx(12.0, abs=1.0)


def test_sbr_leaves_a_full_band_signal_alone():
    from restoration.dsp.sbr import sbr

    y = (0.1 * np.random.default_rng(0).standard_normal((2, 48000))).astype(np.float32)
    np.testing.assert_array_equal(sbr(y, 48000), y)
