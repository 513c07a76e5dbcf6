"""The fast comparison path: one STFT per signal, values equal to the slow metrics, pictures from arrays."""

import numpy as np
import pytest

from restoration.analysis import compare, images, metrics
from signals import lowpass


@pytest.fixture
def pair(music):
    """A 32 kHz stereo original low-passed at 9 kHz and a 48 kHz stereo 'restoration' reaching 20 kHz."""
    original = lowpass(music(32000, 3.0, 2, seed=1), 32000, 9000)
    restored = music(48000, 3.0, 2, seed=1)
    return (original, 32000), (restored, 48000)


def test_core_metrics_equal_the_slow_metrics(pair):
    for y, sr in pair:
        fast = compare.core_metrics(compare.analyse(y, sr))
        slow = metrics.no_reference_metrics(y, sr)
        assert set(fast) - {"peak_dbfs"} == set(slow) - {"hpss_ratio_db"}
        for key, value in fast.items():
            if key == "peak_dbfs":
                assert value == pytest.approx(20 * np.log10(np.abs(y).max()), abs=1e-6)
            elif np.isnan(slow[key]):
                assert np.isnan(value), key
            else:
                assert value == pytest.approx(slow[key], rel=1e-5, abs=1e-9), key
        detail = compare.detail_metrics(compare.analyse(y, sr))
        assert detail["hpss_ratio_db"] == pytest.approx(slow["hpss_ratio_db"], abs=1e-3)


def test_reference_metrics_equal_the_slow_ones(pair, music):
    reference = (music(48000, 3.0, 2, seed=1), 48000)
    for y, sr in pair:
        view, ref = compare.analyse(y, sr), compare.analyse(*reference)
        fast = {**compare.core_reference_metrics(view, ref), **compare.detail_reference_metrics(view, ref, visqol=False)}
        slow = metrics.reference_metrics(y, sr, *reference, visqol=False)
        for key, value in fast.items():
            if np.isnan(slow[key]):
                assert np.isnan(value), key
            else:
                assert value == pytest.approx(slow[key], rel=1e-5, abs=1e-6), key


def test_matching_views_are_reused_and_others_aligned(pair):
    (x, x_sr), (y, y_sr) = pair
    a, b = compare.analyse(x, x_sr), compare.analyse(y, y_sr)
    same_a, same_b = compare.aligned(b, b)
    assert same_a is b and same_b is b
    up, kept = compare.aligned(a, b)
    assert kept is b and up.sr == 48000 and up.samples == b.samples


def test_pictures_show_the_missing_band_and_the_difference(pair):
    (x, x_sr), (y, y_sr) = pair
    a, b = compare.analyse(x, x_sr), compare.analyse(y, y_sr)
    grid_a, grid_b = images.level_grid(a, 24000), images.level_grid(b, 24000)
    assert grid_a.shape == grid_b.shape == (images.PANEL_H, images.PANEL_W)
    rows_above_16k = slice(int(images.PANEL_H * 16 / 24) + 1, None)
    assert np.isnan(grid_a[rows_above_16k]).all() and not np.isnan(grid_b).any()  # 32 kHz: nothing above 16 kHz
    band = slice(int(images.PANEL_H * 12 / 24), int(images.PANEL_H * 15 / 24))  # 12-15 kHz: filtered in A only
    assert np.nanmean(grid_b[band]) > np.nanmean(grid_a[band]) + 30
    pair_image = images.spectrogram_pair(a, b)
    assert pair_image.size == (2 * (images.MARGIN[0] + images.PANEL_W + images.MARGIN[2]) + images.COLORBAR_W,
                               images.MARGIN[1] + images.PANEL_H + images.MARGIN[3])
    stacked = images.spectrogram_pair(a, b, stacked=True)  # the app's: half as wide, for a phone
    assert stacked.size == (pair_image.size[0] - (images.MARGIN[0] + images.PANEL_W + images.MARGIN[2]),
                            2 * pair_image.size[1])
    lower = np.asarray(stacked)[pair_image.size[1] + images.MARGIN[1] + 5, images.MARGIN[0] + 5:images.MARGIN[0] + 50]
    assert np.ptp(lower.astype(int)) > 0  # the restored panel is drawn below the original
    diff = np.asarray(images.difference_spectrogram(a, b))
    x0, y0 = images.MARGIN[0], images.MARGIN[1]
    rows = slice(y0 + images.PANEL_H * 5 // 24, y0 + images.PANEL_H * 7 // 24)  # 17-19 kHz
    high = diff[rows, x0 + 10:x0 + images.PANEL_W - 10].reshape(-1, 3).mean(axis=0)
    assert high[0] > high[2] + 60  # red: the restoration is louder up there
    freqs, level = images.spectrum_density(b)
    assert freqs[0] > 0 and level.shape == freqs.shape and np.isfinite(level).all()
    assert images.psd_overlay({"a": a, "b": b}).size[0] > images.PANEL_W


def test_density_matches_welch(music):
    from scipy.signal import welch

    y = music(48000, 4.0, 1, seed=3)
    freqs, level = images.spectrum_density(compare.analyse(y, 48000))
    f, p = welch(y[0], fs=48000, nperseg=2048, noverlap=1536)
    band = (freqs > 200) & (freqs < 15000)
    difference = level[band] - 10 * np.log10(p[1:][band])  # the centred, zero-padded edge frames differ a little
    assert abs(np.median(difference)) < 0.2 and np.percentile(np.abs(difference), 95) < 0.5


def test_long_clips_keep_a_bounded_number_of_frames_and_close_values(music, monkeypatch):
    monkeypatch.setattr(compare, "MAX_FRAMES", 200)
    y, sr = music(48000, 8.0, 2, seed=3), 48000  # 751 frames: every 4th kept
    ref = music(48000, 8.0, 2, seed=4)
    view, ref_view = compare.analyse(y, sr), compare.analyse(ref, sr)
    assert view.stride == 4 and view.mono_power.shape == (1025, 188) and view.channel_power.shape == (2, 1025, 188)
    fast = compare.core_metrics(view)
    slow = metrics.no_reference_metrics(y, sr)
    for key in ("cutoff_hz", "lufs", "rms_dbfs", "crest_db", "quiet_fraction", "zcr"):  # time domain: exact
        assert fast[key] == pytest.approx(slow[key], rel=1e-9), key
    for key in ("rolloff85_hz", "centroid_hz", "hf6k_dbfs", "hf_ratio", "flatness"):  # from every 4th frame
        assert fast[key] == pytest.approx(slow[key], rel=0.15), key
    near = {**compare.core_reference_metrics(view, ref_view),
            **compare.detail_reference_metrics(view, ref_view, visqol=False)}
    exact = metrics.reference_metrics(y, sr, ref, sr, visqol=False)
    assert near["si_sdr"] == pytest.approx(exact["si_sdr"], abs=1e-6)
    for key in ("lsd", "mrstft", "logmel"):
        assert near[key] == pytest.approx(exact[key], rel=0.1), key
