"""The training loss's ViSQOL surrogate follows ViSQOL (audio mode) and gives useful gradients."""

import numpy as np
import pytest
import torch

from restoration.analysis.metrics import visqol_moslqo
from restoration.training.visqol_surrogate import BANDS, VisqolSurrogate, read_svr, svr_model_path
from signals import lowpass

SR = 48000


@pytest.fixture(scope="module")
def surrogate():
    return VisqolSurrogate(SR)


@pytest.fixture(scope="module")
def clip():
    from restoration.synth import make_music

    return make_music(SR, 4.0, 1, seed=3)[0].astype(np.float64)


def score(surrogate, estimate, reference, bandwidth=None):
    with torch.no_grad():
        est = torch.tensor(np.ascontiguousarray(estimate), dtype=torch.float32)[None]
        ref = torch.tensor(np.ascontiguousarray(reference), dtype=torch.float32)[None]
        bw = None if bandwidth is None else torch.tensor([bandwidth])
        return float(surrogate(est, ref, bw)[0])


def test_reads_visqols_own_svr_model():
    gamma, rho, coefs, vectors = read_svr(svr_model_path())
    assert gamma > 0 and np.isfinite(rho)
    assert vectors.shape == (coefs.shape[0], BANDS) and coefs.shape[0] > 100


def test_spectrogram_matches_visqols_gammatone_spectrogram(surrogate, clip):
    from visqol.analysis_window import AnalysisWindow
    from visqol.audio_utils import AudioSignal
    from visqol.gammatone import GammatoneSpectrogramBuilder

    true = GammatoneSpectrogramBuilder(BANDS, 50.0, speech_mode=False).build(AudioSignal(clip, SR), AnalysisWindow(SR, 0.25))
    true_db = 10 * np.log10(true.data + 1e-20)
    ours = surrogate.spectrogram(torch.tensor(clip, dtype=torch.float32)[None])[0].double().numpy()
    frames = min(true_db.shape[1], ours.shape[1])
    loud = true_db[:, :frames] > true_db.max() - 40  # where the floors do not decide anyway
    assert np.median(np.abs(true_db[:, :frames] - ours[:, :frames])[loud]) < 0.3


@pytest.mark.parametrize("cutoff", [4000, 9000, 13000])
def test_follows_visqol_on_band_limited_copies(surrogate, clip, cutoff):
    estimate = lowpass(clip[None], SR, cutoff)[0]
    assert abs(score(surrogate, estimate, clip) - visqol_moslqo(estimate, SR, clip, SR)) < 0.1


def test_ranks_like_visqol_and_identity_scores_high(surrogate, clip):
    estimates = [lowpass(clip[None], SR, hz)[0] for hz in (6000, 9000, 12000)]
    ours = [score(surrogate, e, clip) for e in estimates]
    assert ours == sorted(ours)  # more bandwidth, higher score
    assert score(surrogate, clip, clip) > ours[-1] + 0.2


def test_bands_above_the_targets_bandwidth_count_as_perfect(surrogate, clip):
    dark = lowpass(clip[None], SR, 8000)[0]
    assert score(surrogate, dark, clip, bandwidth=8000.0) > score(surrogate, dark, clip) + 0.3


def test_gradient_reaches_the_estimate(surrogate, clip):
    reference = torch.tensor(clip[:SR], dtype=torch.float32)[None]
    estimate = torch.tensor(lowpass(clip[None, :SR], SR, 8000), dtype=torch.float32).requires_grad_()
    (5.0 - surrogate(estimate, reference).mean()).backward()
    grad = estimate.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    silent = torch.zeros(1, SR, requires_grad=True)  # an all-zero output must not give NaN gradients
    surrogate(silent, reference).sum().backward()
    assert torch.isfinite(silent.grad).all()
