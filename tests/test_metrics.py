"""Metrics against closed-form values: tones, white noise, scaled copies, known-power noise."""

import json

import numpy as np
import pytest

from restoration.analysis import metrics as M
from restoration.audio import resample, save_audio
from restoration.cli import main
from restoration.errors import BadInputError
from signals import lowpass

SR = 48000


def tone(freq=1500.0, amplitude=0.5, seconds=1.0, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def white(std=0.1, seconds=1.0, sr=SR, channels=1, seed=0):
    return (std * np.random.default_rng(seed).standard_normal((channels, int(sr * seconds)))).astype(np.float32)


# ----------------------------------------------------------------------------- no reference

def test_tone_spectrum_rolloff_centroid_flatness():
    y = tone(1500.0)  # exactly bin 64 at 48 kHz / 2048
    bin_hz = SR / M.N_FFT
    assert abs(M.spectral_rolloff(y, SR) - 1500.0) <= bin_hz
    assert abs(M.spectral_rolloff(y, SR, fraction=0.99) - 1500.0) <= 2 * bin_hz
    assert M.spectral_centroid(y, SR) == pytest.approx(1500.0, abs=5.0)
    assert M.spectral_flatness(y, SR) < 1e-3


def test_white_noise_flatness_band_level_and_hf_ratio():
    y = white(std=0.1, seconds=2.0)
    assert M.spectral_flatness(y, SR) > 0.95
    # an ideal high-pass at 6 kHz keeps 18/24 of white noise's variance
    assert M.band_level_dbfs(y, SR) == pytest.approx(10 * np.log10(0.01 * 18 / 24), abs=0.1)
    assert M.hf_energy_ratio(y, SR) == pytest.approx(8 / 24, abs=0.01)
    assert np.isnan(M.hf_energy_ratio(white(sr=32000), 32000))  # no band above 16 kHz


def test_levels_of_a_sine():
    y = tone(1000.0, amplitude=0.1)  # 48 samples a period: the peak sample is exactly 0.1
    assert M.crest_factor_db(y, SR) == pytest.approx(20 * np.log10(np.sqrt(2)), abs=0.01)
    assert M.rms_dbfs(y, SR) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.01)
    assert M.zero_crossing_rate(y, SR) == pytest.approx(2 * 1000.0 / SR, abs=1e-3)


def test_hpss_ratio_separates_tones_from_clicks():
    clicks = np.zeros(SR, dtype=np.float32)
    clicks[::4800] = 0.9
    assert M.hpss_ratio_db(tone(440.0), SR) > 10.0
    assert M.hpss_ratio_db(clicks, SR) < -10.0


def test_noise_floor_of_quiet_frames():
    loud = tone(440.0, amplitude=0.5)
    quiet = white(std=10 ** (-60 / 20), seed=1)[0]  # -60 dBFS hiss
    floor, fraction = M.noise_floor_dbfs(np.concatenate([loud, quiet]), SR)
    assert floor == pytest.approx(-60.0, abs=0.3)
    assert fraction == pytest.approx(0.5, abs=0.03)
    floor, fraction = M.noise_floor_dbfs(loud, SR)  # never quiet: no floor to measure
    assert np.isnan(floor) and fraction == 0.0
    digital_silence = np.concatenate([loud, np.zeros(SR, np.float32)])
    assert np.isnan(M.noise_floor_dbfs(digital_silence, SR)[0])


def test_no_reference_metrics_on_stereo_music(music):
    import pyloudnorm

    y = music(sr=SR, seconds=2.0, channels=2)
    values = M.no_reference_metrics(y, SR)
    assert list(values) == ["rolloff85_hz", "rolloff99_hz", "centroid_hz", "flatness", "rms_dbfs", "crest_db",
                            "zcr", "cutoff_hz", "bandwidth_hz", "hf_ratio", "hf6k_dbfs", "hpss_ratio_db", "lufs",
                            "noise_floor_dbfs", "quiet_fraction"]
    assert all(isinstance(v, float) for v in values.values())
    assert 0 < values["rolloff85_hz"] < values["rolloff99_hz"] <= SR / 2
    assert values["lufs"] == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(y.T.astype(np.float64)), abs=1e-6)
    assert values["rms_dbfs"] == pytest.approx(10 * np.log10(np.mean(y.astype(np.float64) ** 2)), abs=1e-6)
    narrow = M.no_reference_metrics(lowpass(y, SR, 8000.0), SR)
    assert narrow["cutoff_hz"] == pytest.approx(8000.0, rel=0.1)
    assert values["cutoff_hz"] > 15000.0
    assert narrow["hf_ratio"] < 1e-4 and values["hf_ratio"] > 0.01
    assert narrow["hf6k_dbfs"] < values["hf6k_dbfs"]


# ----------------------------------------------------------------------------- with reference

def test_si_sdr_closed_forms():
    s = white(std=0.2, seed=2)[0].astype(np.float64)
    s -= s.mean()
    noise = np.random.default_rng(3).standard_normal(s.shape)
    noise -= noise.mean()
    noise -= noise @ s / (s @ s) * s  # orthogonal to s: the optimal scale stays 1
    noise *= np.sqrt((s @ s) / 100.0 / (noise @ noise))  # 20 dB below the signal
    assert M.si_sdr((s + noise).astype(np.float32), SR, s.astype(np.float32), SR) == pytest.approx(20.0, abs=0.01)
    assert M.si_sdr(0.3 * s.astype(np.float32), SR, s.astype(np.float32), SR) > 100.0


def test_scaled_copy_has_closed_form_distances():
    reference = white(std=0.1, channels=2, seed=4)
    gain = 0.5
    estimate = gain * reference
    assert M.log_spectral_distance(estimate, SR, reference, SR) == pytest.approx(-20 * np.log10(gain), abs=0.01)
    assert M.log_spectral_distance(estimate, SR, reference, SR, low_hz=16000) == pytest.approx(6.0206, abs=0.01)
    assert M.hf_gain_db(estimate, SR, reference, SR) == pytest.approx(20 * np.log10(gain), abs=0.01)
    assert M.mrstft_distance(estimate, SR, reference, SR) == pytest.approx((1 - gain) - np.log(gain), abs=0.01)
    assert M.log_mel_distance(estimate, SR, reference, SR) == pytest.approx(-2 * np.log(gain), abs=0.01)
    assert M.hf_envelope_correlation(estimate, SR, reference, SR) == pytest.approx(1.0, abs=1e-9)


def test_identical_signals_and_keys(music):
    y = music(sr=SR, seconds=0.5, channels=2)
    values = M.reference_metrics(y, SR, y, SR)  # shorter than ViSQOL's minimum: NaN, no error
    assert list(values) == ["lsd", "lsd_hf", "si_sdr", "mrstft", "logmel", "visqol", "hf_gain_db", "hf_env_corr"]
    assert values["lsd"] == values["lsd_hf"] == values["mrstft"] == values["logmel"] == 0.0
    assert values["hf_gain_db"] == 0.0
    assert values["si_sdr"] > 100.0
    assert values["hf_env_corr"] == pytest.approx(1.0)
    assert np.isnan(values["visqol"])
    with pytest.raises(BadInputError, match="ViSQOL needs at least"):
        M.visqol_moslqo(y, SR, y, SR)


def test_empty_band_scores_as_missing(music):
    reference = music(sr=SR, seconds=1.0, channels=1)
    estimate = resample(lowpass(reference, SR, 11000.0), SR, 32000)  # MusicGen-like: 32 kHz, roll-off
    values = M.reference_metrics(estimate, 32000, reference, SR, visqol=False)
    assert values["hf_gain_db"] < -30.0
    assert values["lsd_hf"] > values["lsd"] > 1.0
    assert np.isnan(values["visqol"])
    # the HF-envelope correlation is 0 by definition when a band carries no energy at all
    silent_band = np.zeros((1025, 50))
    assert M._hf_env_corr(silent_band, np.random.default_rng(0).random((1025, 50)), SR) == 0.0


def test_align_resamples_to_the_higher_rate_and_truncates(music):
    full_band = music(sr=SR, seconds=1.0, channels=2)
    reference = lowpass(full_band, SR, 12000.0)
    estimate = resample(reference[:1], SR, 32000)[:, :30000]  # mono, 32 kHz, shorter
    est, ref, sr = M.align(estimate, 32000, reference, SR)
    assert sr == SR and est.shape == ref.shape == (2, 45000)
    assert est.dtype == ref.dtype == np.float32
    assert M.si_sdr(est[:1], sr, ref[:1], sr) > 40.0  # same content, now on the same grid
    assert M.hf_gain_db(resample(full_band, SR, 32000), 32000, full_band, SR) < -40.0  # 32 kHz: empty band
    assert np.isnan(M.hf_gain_db(estimate, 32000, resample(reference, SR, 32000), 32000))


@pytest.mark.slow
def test_visqol_of_identical_48k_signals(music):
    y = music(sr=SR, seconds=1.5, channels=2)
    assert M.visqol_moslqo(y, SR, y, SR) >= 4.0


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 4096), np.float32), "silent"),
    (np.full((1, 4096), np.nan, np.float32), "NaN"),
    (np.ones((1, 100), np.float32), "too short"),
])
def test_bad_input(bad, message):
    good = white(seconds=0.2)
    with pytest.raises(BadInputError, match=message):
        M.no_reference_metrics(bad, SR)
    with pytest.raises(BadInputError, match=message):
        M.reference_metrics(bad, SR, good, SR)
    with pytest.raises(BadInputError, match=message):
        M.log_mel_distance(good, SR, bad, SR)


def test_analyze_files_and_cli(tmp_path, music, capsys):
    reference = music(sr=SR, seconds=0.5, channels=2)
    ref_path = save_audio(tmp_path / "ref.wav", reference, SR, subtype="float")
    est_path = save_audio(tmp_path / "est.flac", resample(reference, SR, 32000), 32000, subtype="pcm24")
    values = M.analyze_files(est_path, reference=ref_path, visqol=False)
    assert values["sample_rate"] == 32000 and values["channels"] == 2
    assert values["duration_s"] == pytest.approx(0.5)
    assert values["reference"] == str(ref_path)
    assert {"lufs", "cutoff_hz", "lsd", "si_sdr", "hf_gain_db"} <= set(values)
    assert "lsd" not in M.analyze_files(est_path)
    assert main(["analyze", str(est_path), "--reference", str(ref_path), "--json", "--no-visqol"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["si_sdr"] == pytest.approx(values["si_sdr"])
    assert main(["analyze", str(tmp_path / "missing.wav")]) == 2
    assert "no such file" in capsys.readouterr().err
