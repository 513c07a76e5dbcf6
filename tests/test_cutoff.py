"""estimate_cutoff: the effective cutoff frequency of low-passed noise and music."""

import numpy as np
import pytest

from restoration.dsp.cutoff import estimate_cutoff
from signals import lowpass, make_music


def white(sr, seconds=3.0, channels=1, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal((channels, int(sr * seconds)))).astype(np.float32)


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("cutoff", [8000.0, 11000.0, 16000.0])
def test_lowpassed_noise_and_music(sr, cutoff):
    assert estimate_cutoff(lowpass(white(sr), sr, cutoff), sr) == pytest.approx(cutoff, abs=500)
    music = lowpass(make_music(sr, 3.0, 2), sr, cutoff)
    assert estimate_cutoff(music, sr) == pytest.approx(cutoff, abs=500)


def test_a_noise_floor_above_the_cutoff_does_not_hide_it():
    sr = 48000
    music = lowpass(make_music(sr, 3.0, 1), sr, 11000.0)
    floor = 0.001 * np.random.default_rng(1).standard_normal(music.shape)  # about -60 dBFS of hiss
    assert estimate_cutoff(music + floor, sr) == pytest.approx(11000.0, abs=500)


def test_a_32k_signal_lowpassed_below_nyquist():
    sr = 32000
    assert estimate_cutoff(lowpass(make_music(sr, 3.0, 1), sr, 11000.0), sr) == pytest.approx(11000.0, abs=500)


@pytest.mark.parametrize("sr", [32000, 48000])
def test_full_band_signals_reach_nyquist(sr):
    assert estimate_cutoff(white(sr), sr) == sr / 2
    assert estimate_cutoff(make_music(sr, 3.0, 1), sr) >= min(sr / 2, 19000.0)  # make_music is low-passed at 20 kHz


def test_shapes_silence_and_short_signals():
    sr = 48000
    y = lowpass(white(sr, 2.0, 2), sr, 9000.0)
    assert estimate_cutoff(y, sr) == pytest.approx(estimate_cutoff(y[0], sr), abs=200)
    assert estimate_cutoff(np.zeros((2, 4096), np.float32), sr) == sr / 2
    assert estimate_cutoff(lowpass(white(sr, 0.05), sr, 9000.0), sr) == pytest.approx(9000.0, abs=500)


def test_a_dark_passage_does_not_hide_the_codec_cutoff():
    """Loud partials up to 1.5 kHz with only quiet content above (a drop of more than 15 dB at the bass)
    cut at 12 kHz: the cutoff is the deep drop to the floor at 12 kHz, not the shallow one."""
    sr = 48000
    t = np.arange(3 * sr) / sr
    bass = sum(np.sin(2 * np.pi * 55.0 * k * t) for k in range(1, 28)) / 27  # partials up to 1.5 kHz
    quiet = 0.3 * white(sr, 3.0, seed=2)[0]  # about 25 dB below the partials (125 Hz smoothing)
    spectrum = np.fft.rfft(bass + quiet)
    spectrum[np.fft.rfftfreq(t.size, 1 / sr) > 12000.0] = 0  # a codec's brick-wall low-pass
    assert estimate_cutoff(np.fft.irfft(spectrum, t.size).astype(np.float32), sr) == pytest.approx(12000.0, abs=500)


def test_a_one_second_crop_of_a_bass_heavy_clip():
    """Loud bass over highs 70 dB down, cut at 12 kHz, one second long (a training crop): no frame
    may end in zero padding, whose step splatters white content over the cutoff."""
    sr = 48000
    t = np.arange(sr) / sr
    bass = 0.5 * np.sin(2 * np.pi * 80.0 * t + 0.3) + 0.3 * np.sin(2 * np.pi * 160.0 * t)
    highs = 3e-3 * white(sr, 1.0, seed=3)[0]  # about 70 dB below the bass
    spectrum = np.fft.rfft(highs)
    spectrum[np.fft.rfftfreq(t.size, 1 / sr) > 12000.0] = 0
    y = (bass + np.fft.irfft(spectrum, t.size)).astype(np.float32)
    assert estimate_cutoff(y, sr) == pytest.approx(12000.0, abs=500)


def _highpass(y, sr, cutoff_hz):
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(8, cutoff_hz, btype="highpass", fs=sr, output="sos"), y, axis=-1).astype(np.float32)


@pytest.mark.parametrize("added_db, expected", [(-10.0, 24000.0), (-20.0, 24000.0), (-40.0, 14000.0), (-60.0, 14000.0)])
def test_visible_bandwidth_counts_an_added_band_only_when_it_carries_energy(added_db, expected):
    """Music cut at 14 kHz plus a band from 14 kHz to Nyquist at ``added_db`` below the level just under
    14 kHz: a band within 30 dB of it widens the visible bandwidth, a fainter one does not."""
    from restoration.dsp.cutoff import visible_bandwidth

    sr = 48000
    low = lowpass(white(sr), sr, 14000.0)
    band = _highpass(white(sr, seed=1), sr, 14000.0) * 10.0 ** (added_db / 20.0)
    assert visible_bandwidth(low + band, sr) == pytest.approx(expected, abs=600)
    assert visible_bandwidth(low, sr) == pytest.approx(14000.0, abs=600)


def test_visible_bandwidth_sees_a_lone_band_above_a_notch_and_its_end():
    """A notch at 19.5-20.5 kHz then a band to 21.5 kHz and nothing above (the seam the U-Net version 6 left):
    the spectrogram shows content to 21.5 kHz, so that is the bandwidth, not the notch."""
    from restoration.dsp.cutoff import visible_bandwidth

    sr = 48000
    body = lowpass(white(sr), sr, 19500.0)
    lone = lowpass(_highpass(white(sr, seed=2), sr, 20500.0), sr, 21500.0) * 0.5
    assert visible_bandwidth(body + lone, sr) == pytest.approx(21500.0, abs=600)
    assert visible_bandwidth(white(sr), sr) == sr / 2
