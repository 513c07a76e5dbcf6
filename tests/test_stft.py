"""The numpy STFT equals librosa's (the conventions the DSP methods and metrics were written for)."""

import librosa
import numpy as np
import pytest

from restoration.dsp.stft import istft, stft


@pytest.mark.parametrize("shape,n_fft,hop", [((1000,), 2048, 512), ((2, 48_001), 2048, 512), ((3, 1, 20_000), 1024, 256),
                                             ((2, 5000), 512, 128), ((7777,), 2048, 300), ((1, 400_000), 2048, 512)])
def test_matches_librosa_and_inverts(shape, n_fft, hop):
    y = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours = stft(y, n_fft=n_fft, hop=hop)
    theirs = librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant")
    assert ours.shape == theirs.shape and ours.dtype == np.complex64
    assert np.abs(ours - theirs).max() < 1e-6 * np.abs(theirs).max()
    back = istft(ours, length=shape[-1], n_fft=n_fft, hop=hop)
    assert back.dtype == np.float32 and back.shape == shape
    np.testing.assert_allclose(back, librosa.istft(theirs, n_fft=n_fft, hop_length=hop, center=True, length=shape[-1]),
                               atol=1e-5)
    np.testing.assert_allclose(back, y, atol=1e-5)


def test_other_windows_are_refused():
    with pytest.raises(ValueError, match="Hann"):
        stft(np.zeros(4096, np.float32), window="hamming")
