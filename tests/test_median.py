"""The running median behind the HPSS metric: equal to scipy's median filter and to librosa's HPSS."""

import librosa
import numpy as np
import pytest
import scipy.ndimage

from restoration.analysis import metrics
from restoration.dsp import median


@pytest.mark.parametrize("shape", [(1025, 94), (40, 20), (17, 20, 16)])
@pytest.mark.parametrize("axis", [0, -1, -2])
def test_median_filter_equals_scipys_reflect_mode(shape, axis, monkeypatch):
    """Axes of 16 or more (scipy reads NaNs now and then for shorter ones with a window of 31)."""
    monkeypatch.setattr(median, "BLOCK_ELEMENTS", 5000)  # several blocks even for the small arrays
    x = (np.random.default_rng(len(shape)).random(shape) ** 3).astype(np.float32)
    size = [1] * x.ndim
    size[axis] = 31
    expected = scipy.ndimage.median_filter(x, size=tuple(size), mode="reflect")
    got = median.median_filter(x, 31, axis=axis)
    assert got.dtype == x.dtype and got.shape == x.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("length", [1, 2, 5, 15])
def test_a_window_longer_than_the_signal_mirrors_it_again_and_again(length):
    """Where scipy's reflect mode is unreliable (it reads NaNs now and then for axes this short), the
    result is the definition: the median of each window of the mirrored extension ``d c b a | a b c d``."""
    x = np.random.default_rng(length).random((4, length)).astype(np.float32)
    mirrored = np.pad(x, ((0, 0), (15, 15)), mode="symmetric")
    expected = np.stack([np.median(mirrored[:, i:i + 31], axis=-1) for i in range(length)], axis=-1)
    np.testing.assert_array_equal(median.median_filter(x, 31), expected.astype(np.float32))


def test_median_filter_refuses_an_even_window():
    with pytest.raises(ValueError, match="odd"):
        median.median_filter(np.zeros((4, 4)), 4)


@pytest.mark.parametrize("frames", [938, 12])
def test_hpss_ratio_equals_librosas_hpss(frames):
    magnitude = (np.random.default_rng(frames).random((1025, frames)) ** 3).astype(np.float32)
    magnitude[:, 3] = 0.0  # silent frames: librosa splits 0/0 evenly
    harmonic, percussive = librosa.decompose.hpss(magnitude)
    eh, ep = (float(np.sum(np.square(part, dtype=np.float64))) for part in (harmonic, percussive))
    assert metrics._hpss_ratio(magnitude) == pytest.approx(10 * np.log10((eh + 1e-10) / (ep + 1e-10)), abs=1e-9)
