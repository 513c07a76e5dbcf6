"""Integrated loudness and peak-safe loudness matching."""

import numpy as np
import pyloudnorm
import pytest

from restoration.analysis.loudness import integrated_loudness, match_loudness
from restoration.errors import BadInputError

SR = 48000


def sine(amplitude=0.1, seconds=2.0, freq=1000.0, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_minus_20_dbfs_sine_matches_pyloudnorm_and_bs1770():
    y = sine(0.1)  # peak -20 dBFS
    expected = pyloudnorm.Meter(SR).integrated_loudness(y.astype(np.float64))
    assert integrated_loudness(y, SR) == pytest.approx(expected, abs=1e-9)
    assert integrated_loudness(y, SR) == pytest.approx(-23.01, abs=0.1)  # BS.1770: 1 kHz sine at 0 dBFS = -3.01
    stereo = np.stack([y, y])
    assert integrated_loudness(stereo, SR) == pytest.approx(expected + 10 * np.log10(2), abs=1e-6)


def test_short_clip_and_silence():
    short = sine(0.1, seconds=0.25)  # shorter than one 400 ms gating block
    assert integrated_loudness(short, SR) == pytest.approx(-23.01, abs=0.3)
    assert integrated_loudness(np.zeros(SR, np.float32), SR) == float("-inf")
    with pytest.raises(BadInputError, match="NaN"):
        integrated_loudness(np.full(SR, np.nan, np.float32), SR)


@pytest.mark.parametrize("channels", [1, 2])
def test_match_loudness_hits_target(music, channels):
    y = music(sr=SR, seconds=2.0, channels=channels) * 0.3
    before = integrated_loudness(y, SR)
    out, gain_db = match_loudness(y, SR, target_lufs=-23.0)
    assert out.shape == y.shape and out.dtype == np.float32
    assert integrated_loudness(out, SR) == pytest.approx(-23.0, abs=0.1)
    assert gain_db == pytest.approx(-23.0 - before, abs=1e-6)
    assert np.allclose(out, y * 10 ** (gain_db / 20), atol=1e-6)


def test_match_loudness_never_clips(music):
    y = music(sr=SR, seconds=2.0, channels=2)  # peak 0.5, well above 10 dB crest factor
    out, gain_db = match_loudness(y, SR, target_lufs=-3.0)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-0.1 / 20), abs=1e-5)
    assert gain_db == pytest.approx(20 * np.log10(np.max(np.abs(out)) / np.max(np.abs(y))), abs=1e-4)
    assert integrated_loudness(out, SR) < -3.0
    mono, _ = match_loudness(y[0], SR, target_lufs=-30.0)  # 1-D in, 1-D out
    assert mono.shape == y[0].shape


def test_match_loudness_bad_input():
    with pytest.raises(BadInputError, match="silent"):
        match_loudness(np.zeros(SR, np.float32), SR)
    with pytest.raises(BadInputError, match="too quiet"):
        match_loudness(sine(1e-5), SR)
    with pytest.raises(BadInputError, match="ceiling"):
        match_loudness(sine(0.1), SR, ceiling_dbfs=1.0)


@pytest.mark.parametrize("channels", [1, 2])
def test_streamed_loudness_equals_pyloudnorm(music, channels):
    import pyloudnorm

    from restoration.analysis.loudness import streamed_loudness

    y = music(44100, 3.3, channels)
    y[..., 44100:60000] *= 0.001  # a quiet passage the relative gate drops
    meter = pyloudnorm.Meter(44100)
    whole = meter.integrated_loudness(y.T.astype(np.float64))
    assert streamed_loudness(y, meter, chunk=5000) == pytest.approx(whole, abs=1e-9)
