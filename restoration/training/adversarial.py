"""An adversarial term for the U-Net's training: a multi-resolution spectrogram discriminator.

As in UnivNet's and Vocos's multi-resolution discriminators: one small 2-D CNN per STFT resolution
looks at the log magnitude of the band above ``low_hz`` (the band bandwidth extension invents) and
says real or restored; the generator is trained to fool it (least-squares GAN) and to match its
intermediate features on the real clip (feature matching, L1). Bins above each target's own
bandwidth are zeroed in both spectrograms, so a lossy source's low-pass is never "real".

:class:`AdversarialLoss` owns the discriminators and their optimizer: each call first takes one
discriminator step on the detached restoration, then returns the generator's loss. The
discriminators' state is not saved in checkpoints (it only matters during a run).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128))


class SpectrogramDiscriminator(nn.Module):
    """``(batch, samples)`` -> logits ``(batch, 1, f, t)`` and the feature maps, at one STFT resolution."""

    def __init__(self, n_fft: int, hop: int, *, sample_rate: int = 48000, low_hz: float = 8000.0,
                 channels: int = 16) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.first = int(low_hz * n_fft / sample_rate)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("hz", torch.arange(n_fft // 2 + 1).float() * sample_rate / n_fft, persistent=False)
        c = channels
        self.layers = nn.ModuleList([  # strided early: a CPU must afford a step of it
            nn.Conv2d(1, c, (5, 5), stride=(2, 2), padding=(2, 2)),
            nn.Conv2d(c, c, (5, 3), stride=(2, 2), padding=(2, 1)),
            nn.Conv2d(c, c, (5, 3), stride=(2, 1), padding=(2, 1)),
            nn.Conv2d(c, c, (3, 3), padding=(1, 1)),
        ])
        self.out = nn.Conv2d(c, 1, (3, 3), padding=(1, 1))

    def spectrogram(self, wave: torch.Tensor, bandwidth: torch.Tensor | None) -> torch.Tensor:
        """Log magnitude ``(batch, 1, bins above low_hz, frames)``, zero above each ``bandwidth`` (Hz)."""
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True).abs()
        spec = torch.log(spec + 1e-5)[:, self.first:]
        if bandwidth is not None:
            keep = (self.hz[self.first:].view(1, -1, 1) <= bandwidth.view(-1, 1, 1)).float()
            spec = spec * keep + math.log(1e-5) * (1 - keep)
        return spec.unsqueeze(1)

    def forward(self, wave: torch.Tensor, bandwidth: torch.Tensor | None = None) -> tuple[torch.Tensor, list]:
        x = self.spectrogram(wave, bandwidth)
        features = []
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.1)
            features.append(x)
        return self.out(x), features


class AdversarialLoss(nn.Module):
    """Least-squares GAN + feature matching over :data:`RESOLUTIONS`; see the module docstring.

    ``forward(pred, target, bandwidth)`` (waveforms ``(batch, samples)``, bandwidths ``(batch,)`` Hz or
    None) takes one discriminator step, then returns the generator loss ``adv + fm_weight * fm``;
    ``parts`` holds the last discriminator and generator values.
    """

    def __init__(self, *, sample_rate: int = 48000, lr: float = 2e-4, fm_weight: float = 2.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(SpectrogramDiscriminator(n, h, sample_rate=sample_rate)
                                            for n, h in RESOLUTIONS)
        self.optimizer = torch.optim.Adam(self.discriminators.parameters(), lr=lr, betas=(0.8, 0.99))
        self.fm_weight = fm_weight
        self.parts: dict[str, float] = {}

    def discriminator_step(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None) -> float:
        loss = 0.0
        for d in self.discriminators:
            real, _ = d(target, bandwidth)
            fake, _ = d(pred.detach(), bandwidth)
            loss = loss + (1 - real).square().mean() + fake.square().mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def forward(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None = None) -> torch.Tensor:
        d_loss = self.discriminator_step(pred, target, bandwidth) if torch.is_grad_enabled() else float("nan")
        adv = fm = 0.0
        for d in self.discriminators:
            for p in d.parameters():
                p.requires_grad_(False)
            fake, fake_features = d(pred, bandwidth)
            with torch.no_grad():
                _, real_features = d(target, bandwidth)
            for p in d.parameters():
                p.requires_grad_(True)
            adv = adv + (1 - fake).square().mean()
            fm = fm + sum((f - r).abs().mean() for f, r in zip(fake_features, real_features)) / len(fake_features)
        self.parts = {"d": d_loss, "g_adv": float(adv.detach()), "g_fm": float(fm.detach())}
        return adv + self.fm_weight * fm
