"""A differentiable stand-in for ViSQOL (audio mode), used as a training loss.

Checkpoints are selected by ViSQOL, and ViSQOL disagrees with plain level matching: on the
held-out recordings the version-2 U-Net scored 3.55 with its trained balance, 3.60 with its new band
6 dB quieter. This module rebuilds ViSQOL's audio-mode pipeline in torch so the model can be trained
on it directly:

1. the degraded signal scaled to the reference's RMS (ViSQOL matches sound pressure levels);
2. a 32-band gammatone spectrogram (ERB-spaced centres from 50 Hz to Nyquist, 80 ms Hann frames,
   20 ms hop), approximated in the frequency domain: each band's mean square is the frame's power
   spectrum weighted by the 4th-order gammatone power response ``(1 + ((f - fc) / (1.019 ERB))^2)^-4``;
3. ``10 log10(rms)``, floored at -45 and at each frame's peak - 45, then shifted to a 0 floor;
4. NSIM maps (3x3 Gaussian window, ViSQOL's C1 and C3), averaged over frames per band: ``fvnsim``;
5. ViSQOL's own nu-SVR (RBF kernel, read from the ``visqol`` package's model file) maps the 32 band
   similarities to a MOS.

The whole crop is one patch (ViSQOL cuts 30-frame patches and realigns them; training pairs are
aligned). Bands that reach above a target's own bandwidth are taken as perfect (similarity 1):
a lossy source's low-pass teaches nothing there. ``research/visqol_surrogate_check.py`` compares
the surrogate with ViSQOL on real clips.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

EAR_Q, MIN_BW = 9.26449, 24.7
BANDS, MIN_FREQ = 32, 50.0
WINDOW_S, HOP_FRACTION = 0.08, 0.25
FLOOR_DB, RELATIVE_FLOOR_DB = -45.0, 45.0
C1, C3 = 1e-4, 4.5e-4
GAUSSIAN = ((0.0113033910173052, 0.0838251475442633, 0.0113033910173052),
            (0.0838251475442633, 0.619485845753726, 0.0838251475442633),
            (0.0113033910173052, 0.0838251475442633, 0.0113033910173052))


def centre_frequencies(low: float, high: float, count: int) -> torch.Tensor:
    """ERB-spaced centre frequencies (Hz), high to low as in Slaney's ``ERBSpace``; returned low to high."""
    a = -(EAR_Q * MIN_BW)
    e = (-math.log(high + EAR_Q * MIN_BW) + math.log(low + EAR_Q * MIN_BW)) / count
    cfs = a + torch.exp(torch.arange(1, count + 1, dtype=torch.float64) * e) * (high + EAR_Q * MIN_BW)
    return cfs.flip(0)


def svr_model_path() -> Path:
    """The audio-mode SVR model file shipped with ``visqol-python``."""
    import visqol

    return Path(visqol.__file__).parent / "model" / "libsvm_nu_svr_model.txt"


def read_svr(path: str | Path) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """``(gamma, rho, coefficients (n,), support vectors (n, 32))`` of a libsvm RBF model file."""
    gamma = rho = None
    coefs, vectors = [], []
    in_vectors = False
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if in_vectors:
            coefs.append(float(parts[0]))
            row = [0.0] * BANDS
            for item in parts[1:]:
                index, value = item.split(":")
                row[int(index) - 1] = float(value)
            vectors.append(row)
        elif parts[0] == "gamma":
            gamma = float(parts[1])
        elif parts[0] == "rho":
            rho = float(parts[1])
        elif parts[0] == "SV":
            in_vectors = True
    if gamma is None or rho is None or not vectors:
        raise ValueError(f"{path} is not a libsvm RBF model")
    return gamma, rho, torch.tensor(coefs, dtype=torch.float64), torch.tensor(vectors, dtype=torch.float64)


class VisqolSurrogate(nn.Module):
    """``forward(pred, target, bandwidth=None) -> (batch,)`` predicted MOS of ``pred`` against ``target``
    (waveforms ``(batch, samples)`` at ``sample_rate``, at least 0.2 s); see the module docstring."""

    def __init__(self, sample_rate: int = 48000) -> None:
        super().__init__()
        self.size = round(sample_rate * WINDOW_S)
        self.hop = int(self.size * HOP_FRACTION)
        self.n_fft = 1 << (self.size - 1).bit_length()
        freqs = torch.arange(self.n_fft // 2 + 1, dtype=torch.float64) * sample_rate / self.n_fft
        centres = centre_frequencies(MIN_FREQ, sample_rate / 2.0, BANDS)
        width = 1.019 * (centres / EAR_Q + MIN_BW)
        response = (1.0 + ((freqs[None, :] - centres[:, None]) / width[:, None]) ** 2) ** -4.0
        # one-sided power spectrum -> mean square of the filtered, windowed frame (Parseval)
        fold = torch.full_like(freqs, 2.0)
        fold[0] = fold[-1] = 1.0
        self.register_buffer("filters", (response * fold / (self.n_fft * self.size)).float(), persistent=False)
        self.register_buffer("centres", centres.float(), persistent=False)
        self.register_buffer("window", torch.hann_window(self.size, periodic=False), persistent=False)
        self.register_buffer("gaussian", torch.tensor(GAUSSIAN).view(1, 1, 3, 3).float(), persistent=False)
        gamma, rho, coefs, vectors = read_svr(svr_model_path())
        self.gamma, self.rho = gamma, rho
        self.register_buffer("coefs", coefs.float(), persistent=False)
        self.register_buffer("vectors", vectors.float(), persistent=False)

    def spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> ``10 log10(band rms)`` ``(batch, 32, frames)``."""
        frames = wave.unfold(-1, self.size, self.hop) * self.window
        power = torch.fft.rfft(frames, n=self.n_fft).abs().square()  # (b, frames, bins)
        mean_square = torch.einsum("kf,btf->bkt", self.filters, power)
        return 5.0 * torch.log10(mean_square + 1e-20)

    def prepared(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ViSQOL's level matching and floors: ``(ref_db, deg_db)``, each ``(batch, 32, frames)``."""
        # + 1e-12 inside the roots: the gradient of sqrt at an all-zero crop would be NaN
        scale = (target.square().mean(-1, keepdim=True) + 1e-12).sqrt() / (pred.square().mean(-1, keepdim=True) + 1e-12).sqrt()
        ref, deg = self.spectrogram(target), self.spectrogram(pred * scale)
        ref, deg = ref.clamp(min=FLOOR_DB), deg.clamp(min=FLOOR_DB)
        floor = torch.maximum(ref.amax(dim=1, keepdim=True), deg.amax(dim=1, keepdim=True)) - RELATIVE_FLOOR_DB
        ref, deg = torch.maximum(ref, floor), torch.maximum(deg, floor)
        lowest = torch.minimum(ref.amin(dim=(1, 2), keepdim=True), deg.amin(dim=(1, 2), keepdim=True))
        return ref - lowest, deg - lowest

    def band_similarity(self, ref: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        """NSIM of two prepared spectrograms, averaged over frames: ``fvnsim`` ``(batch, 32)``."""
        def smooth(x):
            return F.conv2d(F.pad(x.unsqueeze(1), (1, 1, 1, 1), mode="replicate"), self.gaussian).squeeze(1)

        mu_r, mu_d = smooth(ref), smooth(deg)
        var_r = smooth(ref * ref) - mu_r * mu_r
        var_d = smooth(deg * deg) - mu_d * mu_d
        cov = smooth(ref * deg) - mu_r * mu_d
        intensity = (2 * mu_r * mu_d + C1) / (mu_r * mu_r + mu_d * mu_d + C1)
        structure = (cov + C3) / ((var_r * var_d).clamp(min=0.0) + 1e-12).sqrt().add(C3)
        return (intensity * structure).mean(dim=-1)

    def mos(self, fvnsim: torch.Tensor) -> torch.Tensor:
        """ViSQOL's SVR: ``(batch, 32)`` band similarities -> ``(batch,)`` MOS (not clipped to 1-5)."""
        # the squared distance directly, smooth everywhere (a crop whose bands are all perfect sits
        # exactly on the support vector of ones)
        distance = (fvnsim.unsqueeze(1) - self.vectors).square().sum(dim=-1)
        return torch.exp(-self.gamma * distance) @ self.coefs - self.rho

    def forward(self, pred: torch.Tensor, target: torch.Tensor, bandwidth: torch.Tensor | None = None) -> torch.Tensor:
        ref, deg = self.prepared(pred, target)
        fvnsim = self.band_similarity(ref, deg)
        if bandwidth is not None:  # bands reaching above the target's own bandwidth count as perfect
            upper = self.centres * (1.0 + 1.019 / EAR_Q) + 1.019 * MIN_BW
            unknown = upper.view(1, -1) > bandwidth.view(-1, 1)
            fvnsim = torch.where(unknown, torch.ones_like(fvnsim), fvnsim)
        return self.mos(fvnsim)
