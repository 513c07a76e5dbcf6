"""The envelope prior of the U-Net (version 4): the band above each signal's cutoff, replicated bin by bin.

The same rule as the ``sbr`` baseline (:mod:`restoration.dsp.sbr`), in torch on the model's own STFT,
so the network only has to learn a correction: the empty band from the cutoff ``fc`` up is filled with
copies of the octave below ``fc`` (a width of whole multiples of ``n_fft / hop`` bins, so every copy is
exactly the STFT of a frequency-shifted signal and stays phase-coherent), each bin whitened by the
smoothed level of its source bin (a 500 Hz moving average of power) and shaped by a spectral envelope
extrapolated from below the cutoff: per frame, a least-squares line of that smoothed level (dB) against
log2 frequency over the octave below ``fc``, its slope limited to [-30, 0] dB per octave and averaged
over 5 frames, minus ``decay_db_per_khz`` per kHz above ``fc``. It fades in over 200 Hz above ``fc``.
Unlike ``sbr`` it only fills what is missing: each bin gets ``sqrt(1 - S / E)`` of its copy (``S`` the
input's smoothed power there, ``E`` the envelope's), so content already above a misjudged cutoff (a
clean input, a quiet passage) is not doubled. Each item of a batch has its own cutoff (Hz,
:func:`item_cutoffs`); a cutoff below ``min_hz`` is taken for a misjudgement and gives no prior.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..dsp.cutoff import estimate_cutoff
from ..dsp.sbr import CROSSOVER_HZ, ENVELOPE_FRAMES, MAX_GAIN_DB, SLOPE_DB_PER_OCTAVE, SMOOTH_HZ

#: dB to natural-log factors of power and of amplitude.
_DB_POWER = math.log(10.0) / 10.0
_DB_AMPLITUDE = math.log(10.0) / 20.0


def item_cutoffs(wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The effective cutoff (Hz) of every row of ``wave`` ``(items, samples)``, float32 ``(items,)``
    (:func:`restoration.dsp.cutoff.estimate_cutoff`; Nyquist where nothing is cut)."""
    rows = wave.detach().float().cpu().numpy()
    return torch.tensor([estimate_cutoff(row, sample_rate) for row in rows], dtype=torch.float32)


def replicated_band(spec: torch.Tensor, cutoff_hz: torch.Tensor, *, sample_rate: int, hop: int, to_hz: float,
                    min_hz: float = 6000.0, decay_db_per_khz: float = 1.5) -> torch.Tensor:
    """The envelope prior of complex ``spec`` ``(b, n_fft // 2 + 1, frames)``: a complex tensor of the same
    shape, zero below each item's ``cutoff_hz`` ``(b,)``, from ``to_hz`` up, and for items cut below
    ``min_hz`` (see the module docstring)."""
    b, bins, frames = spec.shape
    n_fft = 2 * (bins - 1)
    step = n_fft // hop  # copies shifted by multiples of this many bins stay phase-coherent
    bin_hz = sample_rate / n_fft
    device = spec.device
    out = torch.zeros_like(spec)
    with torch.no_grad():
        cutoff = cutoff_hz.to(device=device, dtype=torch.float32)
        cutoff = torch.where(cutoff < min_hz, torch.full_like(cutoff, sample_rate / 2), cutoff)
        start = torch.ceil(cutoff / bin_hz).long().clamp(max=bins - 1)  # first bin to fill, (b,)
        width = torch.clamp((start - start // 2) // step * step, min=step)  # about an octave, (b,)
        last = min(bins - 1, int(to_hz // bin_hz))
        first = int(start.min())
        if first >= last:
            return out
        # Work only on the bins the fit and the fill need (levels smoothed exactly there): [low, high).
        half = max(1, int(round(SMOOTH_HZ / bin_hz))) // 2
        low, high = max(0, int((start - width).min()) - half), min(bins, last + half)
        power = spec[:, low:high].real.square() + spec[:, low:high].imag.square()
        smoothed = F.avg_pool1d(power.transpose(1, 2).reshape(-1, 1, high - low), 2 * half + 1, stride=1,
                                padding=half, count_include_pad=False).reshape(b, frames, -1).transpose(1, 2)
        level = 10.0 * torch.log10(smoothed + 1e-20)  # dB, (b, high - low, frames)
        k = torch.arange(low, high, device=device)
        octaves = torch.log2((k * bin_hz).clamp(min=bin_hz)[None] / cutoff[:, None])  # (b, high - low)
        fit = ((k[None] >= (start - width)[:, None]) & (k[None] < start[:, None])).float()
        count = fit.sum(1, keepdim=True)
        centred = (octaves - (fit * octaves).sum(1, keepdim=True) / count) * fit  # zero outside the fit
        slope = torch.einsum("bk,bkt->bt", centred, level) / centred.square().sum(1, keepdim=True)
        mean_x = (fit * octaves).sum(1) / count[:, 0]
        intercept = torch.einsum("bk,bkt->bt", fit, level) / count - slope * mean_x[:, None]
        slope = _frame_average(slope.clamp(*SLOPE_DB_PER_OCTAVE))
        intercept = _frame_average(intercept)
        # the bins to fill, [first, last): their source in the octave below each item's cutoff
        kt = torch.arange(first, last, device=device)
        freqs = kt * bin_hz
        target = (kt[None] >= start[:, None]).float()  # (b, last - first)
        source = torch.where(target > 0, start[:, None] - width[:, None] + (kt[None] - start[:, None]) % width[:, None],
                             kt[None])
        above_khz = (freqs[None] - cutoff[:, None]).clamp(min=0.0) / 1000.0
        envelope = (intercept[:, None] + slope[:, None] * octaves[:, first - low:last - low, None]
                    - (decay_db_per_khz * above_khz)[..., None])  # dB, (b, last - first, frames)
        gain_db = (envelope - torch.gather(level, 1, (source - low)[..., None].expand(-1, -1, frames))).clamp(max=MAX_GAIN_DB)
        ramp = torch.sin(0.5 * math.pi * ((freqs[None] - cutoff[:, None]) / CROSSOVER_HZ).clamp(0.0, 1.0)).square()
        # fill only the gap: sqrt(1 - S/E), S the input's smoothed power at the bin, E the envelope's
        missing = (1.0 - torch.exp((level[:, first - low:last - low] - envelope) * _DB_POWER)).clamp(min=0.0).sqrt()
        gain = torch.exp(gain_db * _DB_AMPLITUDE) * missing * (ramp * target)[..., None]
        parts = torch.view_as_real(spec)
        copied = torch.gather(parts, 1, source[..., None, None].expand(-1, -1, frames, 2))
        torch.view_as_real(out)[:, first:last] = copied * gain[..., None]
        return out


def _frame_average(values: torch.Tensor) -> torch.Tensor:
    """Moving average of ``(b, frames)`` over ENVELOPE_FRAMES frames (shorter at the edges)."""
    return F.avg_pool1d(values[:, None], ENVELOPE_FRAMES, stride=1, padding=ENVELOPE_FRAMES // 2,
                        count_include_pad=False)[:, 0]
