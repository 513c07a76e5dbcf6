"""restore(): chains, rates, clipping protection, progress and input validation."""

import numpy as np
import pytest

from restoration import BadInputError, BadParameterError, UnknownMethodError, restore
from restoration.pipeline import limit_peak


def test_passthrough_is_identity(music):
    y = music(32000, 1.0, 2)
    out, sr = restore(y, 32000, "passthrough")
    assert sr == 32000
    np.testing.assert_array_equal(out, y)


def test_mono_1d_input_becomes_one_channel(music):
    y = music(32000, 1.0, 1)[0]
    out, sr = restore(y, 32000, "passthrough", sample_rate=48000)
    assert out.shape == (1, 48000) and sr == 48000


def test_progress_reaches_the_end(music):
    seen = []
    restore(music(32000, 0.5, 2), 32000, "passthrough+passthrough", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (1000, 1000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_limit_peak_only_scales_down():
    y = np.array([[0.5, -2.0]], np.float32)
    np.testing.assert_allclose(limit_peak(y, 1.0), [[0.25, -1.0]])
    np.testing.assert_array_equal(limit_peak(y, 4.0), y)


def test_errors_before_any_work(music):
    y = music(32000, 0.5, 2)
    with pytest.raises(UnknownMethodError):
        restore(y, 32000, "denoise_everything")
    with pytest.raises(BadParameterError):
        restore(y, 32000, "passthrough", {"strength": 1})
    with pytest.raises(BadInputError, match="silent"):
        restore(np.zeros((2, 32000), np.float32), 32000, "passthrough")
    with pytest.raises(BadInputError, match="sample rate"):
        restore(y, 0, "passthrough")
