"""Chunked processing equals whole-signal processing."""

import numpy as np
import pytest
from scipy.signal import lfilter

from restoration.chunking import overlap_add, padded


def test_padded_is_exact_for_finite_context():
    x = np.random.default_rng(0).standard_normal((2, 50_001)).astype(np.float32)
    kernel = np.ones(9, np.float32) / 9

    def smooth(seg):
        return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), -1, seg).astype(np.float32)

    calls = []
    out = padded(smooth, x, chunk=7000, context=16, progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_allclose(out, smooth(x), atol=1e-6)
    assert calls[-1] == (8, 8)


def test_padded_recursive_filter_converges_with_context():
    x = np.random.default_rng(1).standard_normal((1, 40_000)).astype(np.float32)

    def recursive(seg):
        return lfilter([0.05], [1, -0.95], seg, axis=-1).astype(np.float32)

    out = padded(recursive, x, chunk=5000, context=2000)
    assert np.max(np.abs(out - recursive(x))) < 1e-4


@pytest.mark.parametrize("n", [1, 999, 10_000, 123_457])
def test_overlap_add_linear_function_is_exact(n):
    x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
    batches = []

    def double(batch):
        batches.append(batch.shape[0])
        return batch * 2

    out = overlap_add(double, x, chunk=4096, overlap=1024, batch_size=3)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, 2 * x, atol=1e-5)
    assert max(batches) <= 3


def test_overlap_add_rejects_shape_change_and_bad_overlap():
    x = np.zeros((1, 10_000), np.float32)
    with pytest.raises(ValueError, match="changed the shape"):
        overlap_add(lambda b: b[..., :-1], x, chunk=4096, overlap=512)
    with pytest.raises(ValueError, match="overlap"):
        overlap_add(lambda b: b, x, chunk=4096, overlap=4096)


def test_overlap_add_writes_into_a_given_buffer_with_the_same_result():
    x = np.random.default_rng(3).standard_normal((1, 30_001)).astype(np.float32)

    def bend(batch):  # nonlinear and position-dependent: any misplaced sample changes the result
        return np.tanh(3 * batch) + 0.1 * batch[..., ::-1]

    expected = overlap_add(bend, x, chunk=4096, overlap=512, batch_size=2)
    target = np.full((2, 30_001), 7.0, np.float32)
    returned = overlap_add(bend, x, chunk=4096, overlap=512, batch_size=2, out=target[1:])
    np.testing.assert_array_equal(target[1], expected[0])
    assert np.shares_memory(returned, target)
    np.testing.assert_array_equal(target[0], 7.0)  # the rest of the caller's buffer is untouched
    with pytest.raises(ValueError, match="out must be float32"):
        overlap_add(bend, x, chunk=4096, overlap=512, out=np.zeros((1, 30_000), np.float32))
