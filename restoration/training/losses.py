"""Training losses of the spectral U-Net over waveforms ``(batch, samples)`` at 48 kHz.

Small composable modules in the style of auraloss: configuration in ``__init__``,
``forward(pred, target) -> scalar tensor``. Torch is imported with this module, which only the
training code imports.

``bandwidth`` (float ``(batch,)``, Hz), where given, is each target's own bandwidth: bins above it
are left out of every term, so a target whose source stopped at 16 kHz (a lossy encoder's
low-pass) teaches nothing about the band above 16 kHz, rather than teaching silence there.
"""

from __future__ import annotations

import torch
from torch import nn

RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128))


def stft(wave: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Complex STFT ``(batch, n_fft // 2 + 1, frames)`` of ``(batch, samples)``, Hann, centred."""
    return torch.stft(wave, n_fft, hop, window=window, center=True, return_complex=True)


class STFTMagnitudeLoss(nn.Module):
    """Spectral convergence plus a frequency-weighted L1 log-magnitude distance at one resolution.

    Bins at or above ``hf_hz`` weigh ``1 + hf_weight`` in the log term: the new band is a small
    part of the bins but the whole point of bandwidth extension.
    """

    def __init__(self, n_fft: int, hop: int, *, sample_rate: int = 48000, hf_hz: float = 11000.0,
                 hf_weight: float = 2.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.n_fft, self.hop, self.eps = n_fft, hop, eps
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        hz = torch.arange(n_fft // 2 + 1) * sample_rate / n_fft
        weight = 1.0 + hf_weight * (hz >= hf_hz).float()
        self.register_buffer("hz", hz.float(), persistent=False)
        self.register_buffer("weight", (weight / weight.mean()).view(-1, 1), persistent=False)

    def spectra(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return stft(pred, self.n_fft, self.hop, self.window), stft(target, self.n_fft, self.hop, self.window)

    def keep(self, bandwidth: torch.Tensor | None, batch: int) -> torch.Tensor:
        """``(batch, bins, 1)``: 1 for bins at or below each target's bandwidth (Hz), 0 above."""
        if bandwidth is None:
            return torch.ones(batch, self.hz.shape[0], 1, device=self.hz.device)
        return (self.hz.view(1, -1, 1) <= bandwidth.view(-1, 1, 1)).float()

    def from_spectra(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None = None) -> torch.Tensor:
        """The loss between complex spectra ``(batch, bins, frames)``, bins above ``bandwidth`` left out."""
        keep = self.keep(bandwidth, pred.shape[0])
        p, t = pred.abs() * keep, target.abs() * keep
        floor = 1e-3 * t.shape[-2] * t.shape[-1] ** 0.5  # a near-silent target must not blow the ratio up
        convergence = torch.linalg.vector_norm(t - p, dim=(-2, -1)) / (torch.linalg.vector_norm(t, dim=(-2, -1)) + floor)
        log_distance = (keep * self.weight * (torch.log(p + self.eps) - torch.log(t + self.eps)).abs()).mean(dim=(-2, -1))
        return (convergence + log_distance).mean()

    def forward(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None = None) -> torch.Tensor:
        return self.from_spectra(*self.spectra(pred, target), bandwidth)


class BandLevelLoss(nn.Module):
    """Quantile (pinball) distance of band levels (dB / 10) above ``low_hz``: bands of ``band_bins`` bins,
    blocks of ``block_frames`` frames, only bands wholly below the target's bandwidth.

    The per-bin terms let a model trade level for texture; this one asks directly for the right
    loudness of the new band, which is what listeners hear first (version 1 was 9-17 dB short).
    At ``quantile`` 0.5 it is the L1 distance (the median level is optimal); below 0.5 a band
    too loud costs ``(1 - quantile) / quantile`` times more than one as much too quiet, so the optimum
    is that quantile of the levels the input leaves possible: darker where the level is uncertain.
    """

    def __init__(self, n_fft: int = 1024, *, sample_rate: int = 48000, low_hz: float = 9000.0,
                 band_bins: int = 32, block_frames: int = 8, quantile: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        self.quantile = quantile
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.first = int(round(low_hz * n_fft / sample_rate))
        self.band_bins, self.block_frames = band_bins, block_frames
        bands = (n_fft // 2 - self.first) // band_bins
        top = (self.first + band_bins * (torch.arange(bands) + 1)) * sample_rate / n_fft  # upper edge, Hz
        self.register_buffer("top_hz", top.float(), persistent=False)

    def levels(self, spec: torch.Tensor) -> torch.Tensor:
        """``(batch, bands, blocks)`` log10 band power of a complex spectrum ``(batch, bins, frames)``."""
        b, _, frames = spec.shape
        blocks = frames // self.block_frames
        bands = self.top_hz.shape[0]
        power = spec[:, self.first:self.first + bands * self.band_bins, :blocks * self.block_frames].abs().square()
        power = power.reshape(b, bands, self.band_bins, blocks, self.block_frames).mean(dim=(2, 4))
        return torch.log10(power + 1e-9)

    def from_spectra(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None = None) -> torch.Tensor:
        over = self.levels(pred) - self.levels(target)  # > 0: too loud
        distance = 2.0 * torch.maximum((1.0 - self.quantile) * over, -self.quantile * over)
        if bandwidth is None:
            return distance.mean()
        keep = (self.top_hz.view(1, -1, 1) <= bandwidth.view(-1, 1, 1)).float()
        return (distance * keep).sum() / (keep.sum() * distance.shape[-1]).clamp(min=1.0)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None = None) -> torch.Tensor:
        p, t = (stft(x, self.n_fft, self.hop, self.window) for x in (pred, target))
        return self.from_spectra(p, t, bandwidth)


class LowBandComplexLoss(nn.Module):
    """L1 distance of power-law compressed complex spectra (``|X|^power`` with X's phase) below ``max_hz``.

    The band the input still has is aligned with the target, so its phase is learnable; above the
    cutoff the target's phase is not, and a complex (or waveform) loss there would only pull the new
    band towards silence.
    """

    def __init__(self, n_fft: int = 1024, *, sample_rate: int = 48000, max_hz: float = 10000.0,
                 power: float = 0.3) -> None:
        super().__init__()
        self.power = power
        self.bins = int(max_hz * n_fft / sample_rate)

    def compressed(self, spec: torch.Tensor) -> torch.Tensor:
        spec = spec[:, :self.bins]
        return torch.view_as_real(spec * (spec.abs() + 1e-6) ** (self.power - 1.0))

    def from_spectra(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss between complex spectra ``(batch, n_fft // 2 + 1, frames)``."""
        return (self.compressed(pred) - self.compressed(target)).abs().mean()


class RestorationLoss(nn.Module):
    """Multi-resolution STFT loss, plus ``complex_weight`` times the low-band complex L1 and
    ``level_weight`` times the band-level term (at ``level_quantile``), both at ``complex_n_fft``, plus ``visqol_weight`` times
    ``5 - `` the ViSQOL surrogate's MOS (:mod:`restoration.training.visqol_surrogate`; 0 leaves it out),
    plus ``adversarial_weight`` times the generator loss of :mod:`restoration.training.adversarial`
    (which also steps its discriminators on every call; 0 leaves it out).

    Each resolution's spectra are computed once and shared by both terms; ``parts`` holds the last
    value of each term.
    """

    def __init__(self, *, sample_rate: int = 48000, hf_hz: float = 11000.0, hf_weight: float = 2.0,
                 complex_weight: float = 0.5, level_weight: float = 1.0, level_quantile: float = 0.5,
                 visqol_weight: float = 0.0,
                 adversarial_weight: float = 0.0, complex_n_fft: int = 1024, resolutions=RESOLUTIONS) -> None:
        super().__init__()
        if complex_n_fft not in [n for n, _ in resolutions]:
            raise ValueError("complex_n_fft must be one of the resolutions")
        self.magnitude = nn.ModuleList(STFTMagnitudeLoss(n, h, sample_rate=sample_rate, hf_hz=hf_hz, hf_weight=hf_weight)
                                       for n, h in resolutions)
        self.complex = LowBandComplexLoss(complex_n_fft, sample_rate=sample_rate)
        self.level = BandLevelLoss(complex_n_fft, sample_rate=sample_rate, quantile=level_quantile)
        self.complex_n_fft, self.complex_weight, self.level_weight = complex_n_fft, complex_weight, level_weight
        self.visqol_weight = visqol_weight
        if visqol_weight:
            from .visqol_surrogate import VisqolSurrogate

            self.visqol = VisqolSurrogate(sample_rate)
        self.adversarial_weight = adversarial_weight
        if adversarial_weight:
            from .adversarial import AdversarialLoss

            self.adversarial = AdversarialLoss(sample_rate=sample_rate)
        self.parts: dict[str, float] = {}

    def forward(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss of ``pred`` against ``target`` (both ``(batch, samples)``); ``bandwidth`` ``(batch,)`` Hz or None."""
        spectral = complex_l1 = level = 0.0
        for loss in self.magnitude:
            p, t = loss.spectra(pred, target)
            spectral = spectral + loss.from_spectra(p, t, bandwidth) / len(self.magnitude)
            if loss.n_fft == self.complex_n_fft:
                complex_l1 = self.complex.from_spectra(p, t)
                level = self.level.from_spectra(p, t, bandwidth)
        total = spectral + self.complex_weight * complex_l1 + self.level_weight * level
        self.parts = {"mrstft": float(spectral.detach()), "complex": float(complex_l1.detach()),
                      "level": float(level.detach())}
        if self.visqol_weight:
            mos = self.visqol(pred, target, bandwidth).mean()
            total = total + self.visqol_weight * (5.0 - mos)
            self.parts["visqol"] = float(mos.detach())
        if self.adversarial_weight:
            total = total + self.adversarial_weight * self.adversarial(pred, target, bandwidth)
            self.parts.update(self.adversarial.parts)
        return total
