"""The running median behind the HPSS metric: equal to scipy's median filter and to librosa's HPSS."""

import librosa
import numpy as np
import pytest
import scipy.ndimage

from restoration.analysis import metrics
from restoration.dsp import median


@pytest.mark.parametrize("shape", [(1025, 94), (6, 5), (40, 1), (1, 1), (3, 7, 60)])
@pytest.mark.parametrize("axis", [0, -1, -2])
def test_median_filter_equals_scipys_reflect_mode(shape, axis, monkeypatch):
    monkeypatch.setattr(median, "BLOCK_ELEMENTS", 5000)  # several blocks even for the small arrays
    x = (np.random.default_rng(len(shape)).random(shape) ** 3).astype(np.float32)
    size = [1] * x.ndim
    size[axis] = 31
    expected = scipy.ndimage.median_filter(x, size=tuple(size), mode="reflect")
    got = median.median_filter(x, 31, axis=axis)
    assert got.dtype == x.dtype and got.shape == x.shape
    np.testing.assert_array_equal(got, expected)


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
