"""The adversarial training term: masking above the target's bandwidth, one discriminator step per call."""

import numpy as np
import torch

from restoration.training.adversarial import AdversarialLoss, SpectrogramDiscriminator
from signals import lowpass


def test_content_above_the_bandwidth_is_invisible_to_the_discriminator():
    torch.manual_seed(0)
    d = SpectrogramDiscriminator(1024, 256)
    noise = np.random.default_rng(0).standard_normal((1, 24000))
    dark = torch.tensor(lowpass(noise, 48000, 12000), dtype=torch.float32)
    spectrum = np.fft.rfft(noise)
    spectrum[..., np.fft.rfftfreq(noise.shape[-1], 1 / 48000) < 18000] = 0  # only content above 18 kHz
    bright = dark + 0.1 * torch.tensor(np.fft.irfft(spectrum, n=noise.shape[-1]), dtype=torch.float32)
    bandwidth = torch.tensor([15000.0])
    inner = slice(2, -2)  # the edge frames see the reflection padding's broadband step
    torch.testing.assert_close(d.spectrogram(dark, bandwidth)[..., inner], d.spectrogram(bright, bandwidth)[..., inner],
                               atol=1e-2, rtol=0)
    assert (d.spectrogram(dark, None) - d.spectrogram(bright, None)).abs().max() > 1.0


def test_each_call_steps_the_discriminators_and_gives_the_generator_a_gradient():
    torch.manual_seed(0)
    loss = AdversarialLoss()
    target = 0.1 * torch.randn(2, 12000)
    pred = (0.1 * torch.randn(2, 12000)).requires_grad_()
    before = [p.detach().clone() for p in loss.discriminators.parameters()]
    value = loss(pred, target)
    value.backward()
    assert torch.isfinite(value) and pred.grad is not None and pred.grad.abs().sum() > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, loss.discriminators.parameters()))
    assert set(loss.parts) == {"d", "g_adv", "g_fm"}
