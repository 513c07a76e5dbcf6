"""The MusicGen-like degradation chain: determinism, alignment, band limit, codecs, RVQ, CLI."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from restoration import RestorationError, resample
from restoration.degrade import (CodecError, DegradeConfig, draw_params, apply_chain, degrade, lowpass,
                                 rvq_roundtrip, stop_frequency, OUT_SR)
from restoration.errors import BadInputError

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def xcorr_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 2000) -> int:
    """Lag of ``b`` relative to ``a`` (channel sums), by direct FFT cross-correlation."""
    a, b = a.sum(0).astype(np.float64), b.sum(0).astype(np.float64)
    n = 1 << int(np.ceil(np.log2(a.size + b.size)))
    xc = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    return int(lags[np.argmax(xc[lags])])


def band_db(y: np.ndarray, sr: int, lo: float, hi: float, ref: tuple = (500.0, 2000.0)) -> float:
    """Mean power in [lo, hi) Hz relative to the ``ref`` band, dB (Hann-windowed periodogram)."""
    x = y.sum(0).astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2  # windowed: no leakage from the clip edges
    f = np.fft.rfftfreq(y.shape[-1], 1 / sr)
    band = spec[(f >= lo) & (f < hi)].mean()
    return float(10 * np.log10(band / spec[(f >= ref[0]) & (f < ref[1])].mean() + 1e-30))


@pytest.fixture(scope="module")
def clean():
    from signals import make_music

    return make_music(sr=48000, seconds=2.0, channels=2, seed=3)


def test_same_seed_same_output_and_other_seed_differs(clean):
    a = degrade(clean, 48000, seed=11)
    b = degrade(clean, 48000, seed=11)
    c = degrade(clean, 48000, seed=12)
    assert a.dtype == np.float32 and a.shape == (2, 64000)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("codec", ["none", "rvq", "opus", "vorbis", "mp3"])
def test_output_is_aligned_with_resampled_input(clean, codec):
    if codec in ("opus", "vorbis", "mp3") and shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    ref = resample(clean, 48000, OUT_SR)
    for seed in (1, 2):
        params = draw_params(seed, DegradeConfig().only(codec))
        out = apply_chain(clean, 48000, params)
        assert out.shape == ref.shape
        # compare within the pass band so the low-pass does not decide the peak
        ref_lp = lowpass(ref, OUT_SR, cutoff_hz=params.cutoff_hz, slope_db_per_khz=params.slope_db_per_khz,
                         shape=params.shape)
        assert xcorr_lag(ref_lp, out) == 0, (codec, params)
        corr = np.corrcoef(ref_lp.ravel(), out.ravel())[0, 1]
        assert corr > 0.5, (codec, corr)


def test_band_limit_holds_above_drawn_cutoff(clean):
    steep = DegradeConfig(cutoff_hz=(9000.0, 11000.0), slope_db_per_khz=(40.0, 60.0), shape=(1.0, 2.0))
    for seed in range(4):
        params = draw_params(seed, steep)
        assert 9000 <= params.cutoff_hz <= 11000 and params.stop_hz < 13500
        out = degrade(clean, 48000, seed=seed, config=steep)
        # nothing above cutoff + transition, whatever the codec added
        assert band_db(out, OUT_SR, params.stop_hz + 200, 16000) < -75, params
        assert band_db(out, OUT_SR, 2000, 6000) > -40  # the pass band is still there
    for seed in range(20):  # the calibrated defaults
        params = draw_params(seed)
        assert 12500 <= params.cutoff_hz <= 15000 and 3 <= params.slope_db_per_khz <= 16 and 1 <= params.shape <= 2


@pytest.mark.parametrize("shape", [1.0, 2.0])
def test_lowpass_follows_cutoff_slope_and_shape(clean, shape):
    x = resample(clean, 48000, OUT_SR)
    out = lowpass(x, OUT_SR, cutoff_hz=10000.0, slope_db_per_khz=20.0, shape=shape)
    assert abs(band_db(out, OUT_SR, 6000, 9500) - band_db(x, OUT_SR, 6000, 9500)) < 0.5
    for offset, expected in ((1000, -20.0 * 2 * 0.5 ** shape), (2000, -40.0)):
        lo, hi = 10000 + offset - 100, 10000 + offset + 100
        assert band_db(out, OUT_SR, lo, hi) - band_db(x, OUT_SR, lo, hi) == pytest.approx(expected, abs=3.0)
    stop = stop_frequency(10000.0, 20.0, shape)
    assert stop == pytest.approx(10000 + 2000 * (90 / 40) ** (1 / shape))
    assert band_db(out, OUT_SR, stop + 200, 16000) < -85


def test_rvq_more_stages_less_error(clean):
    x = resample(clean, 48000, OUT_SR)
    errors = []
    for stages in (1, 2, 4):
        out = rvq_roundtrip(x, stages=stages)
        assert out.shape == x.shape and xcorr_lag(x, out) == 0
        errors.append(float(np.sum((out - x) ** 2) / np.sum(x ** 2)))
    assert errors[0] > errors[1] > errors[2]
    assert 0.01 < errors[2] < 0.5  # audible quantization, not destruction
    with pytest.raises(BadInputError, match="stages"):
        rvq_roundtrip(x, stages=5)


def test_missing_ffmpeg_is_a_clear_error_and_rvq_still_works(clean, monkeypatch):
    import restoration.degrade as degrade_module

    monkeypatch.setattr(degrade_module.shutil, "which", lambda name: None)
    degrade_module.codec_delay.cache_clear()
    with pytest.raises(CodecError, match="ffmpeg") as info:
        degrade(clean, 48000, seed=0, config=DegradeConfig().only("opus"))
    assert isinstance(info.value, RestorationError) and "\n" not in str(info.value)
    out = degrade(clean, 48000, seed=0, config=DegradeConfig().only("rvq"))
    assert out.shape == (2, 64000) and np.all(np.isfinite(out))
    degrade_module.codec_delay.cache_clear()


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["opus", "vorbis", "mp3"])
def test_codecs_add_artifacts_but_keep_the_music(clean, codec):
    x = resample(clean, 48000, OUT_SR)
    params = draw_params(0, DegradeConfig().only(codec))
    out = apply_chain(clean, 48000, params)
    ref = lowpass(x, OUT_SR, cutoff_hz=params.cutoff_hz, slope_db_per_khz=params.slope_db_per_khz, shape=params.shape)
    snr = 10 * np.log10(np.sum(ref ** 2) / np.sum((out - ref) ** 2))
    assert 0.0 < snr < 40.0, (codec, snr)  # changed, but recognizably the same signal


def test_bad_input_is_refused(clean):
    with pytest.raises(BadInputError, match="channels"):
        degrade(np.zeros((3, 48000), np.float32), 48000, seed=0)
    with pytest.raises(BadInputError, match="NaN"):
        degrade(np.full((1, 48000), np.nan, np.float32), 48000, seed=0)
    with pytest.raises(BadInputError, match="codec"):
        DegradeConfig().only("aac")


def test_mono_input_gives_one_channel(clean):
    out = degrade(clean[0], 48000, seed=4, config=DegradeConfig().only("rvq"))
    assert out.shape == (1, 64000)


def test_cli_degrade_writes_32k_file(tmp_path, clean):
    src = tmp_path / "clean.wav"
    sf.write(src, clean.T, 48000, subtype="FLOAT")
    dst = tmp_path / "out.flac"
    cmd = [sys.executable, "-m", "restoration", "degrade", str(src), str(dst), "--seed", "7", "--codec", "rvq"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data, rate = sf.read(dst, always_2d=True)
    assert rate == OUT_SR and data.shape == (64000, 2)
    expected = degrade(clean, 48000, seed=7, config=DegradeConfig().only("rvq"))
    assert np.max(np.abs(data.T - expected)) < 2e-4  # PCM16 rounding
    bad = subprocess.run([sys.executable, "-m", "restoration", "degrade", str(tmp_path / "nope.wav"), str(dst)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no such file" in bad.stderr
