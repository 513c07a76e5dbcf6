"""Bandwidth extension to 48 kHz by spectral band replication (a DSP baseline).

The input is resampled to 48 kHz and its effective cutoff ``fc`` found there
(:func:`restoration.dsp.cutoff.estimate_cutoff`, so the resampler's own transition band counts;
unless ``cutoff_hz`` is given). In a 2048/512 Hann STFT the empty
band from ``fc`` to Nyquist is filled with copies of the octave below ``fc`` (shifted up by whole
multiples of the patch width). Patch widths are multiples of 4 bins, so each copy is exactly the
STFT of a frequency-shifted signal: phases stay coherent from frame to frame and transients stay
time-aligned. Each frame's copy is whitened by its own smoothed spectrum (a 500 Hz moving average
of power) and shaped by a spectral envelope extrapolated from below the cutoff: a least-squares
line of the smoothed level (dB) against log2 frequency over the octave below ``fc``, averaged
over 5 frames, its slope limited to [-30, 0] dB per octave, minus ``decay_db_per_khz`` per kHz
above ``fc``, plus ``level_db``. The new band fades in over :data:`CROSSOVER_HZ` above ``fc``.
The result is the resampled input plus the inverse STFT of the new band, so the band below the
cutoff is the resampled input up to the leakage of that crossover.
"""

from __future__ import annotations

import numpy as np

from ..audio import resample
from ..chunking import padded
from .cutoff import estimate_cutoff
from .stft import bin_frequencies, istft, stft

OUTPUT_SR = 48000
N_FFT = 2048
HOP = 512
#: Samples (at 48 kHz) per chunk; a multiple of HOP so frames line up with the whole signal.
CHUNK = 2 ** 20
CROSSOVER_HZ = 200.0
SMOOTH_HZ = 500.0
ENVELOPE_FRAMES = 5
SLOPE_DB_PER_OCTAVE = (-30.0, 0.0)
MAX_GAIN_DB = 30.0
#: Cutoffs this close to Nyquist leave nothing to fill.
MIN_GAP_HZ = 200.0


def sbr(y: np.ndarray, sr: int, *, cutoff_hz: float = 0.0, decay_db_per_khz: float = 1.5, level_db: float = 0.0,
        progress=None, chunk: int = CHUNK) -> np.ndarray:
    """Extend ``y`` ``(..., samples)`` at ``sr`` to a full-band 48 kHz signal.

    ``cutoff_hz`` is the input's cutoff (0 = detect it); the replicated band loses
    ``decay_db_per_khz`` dB per kHz above it and is offset by ``level_db`` dB. Returns float32
    ``(..., round(samples * 48000 / sr))``.
    """
    y = np.asarray(y, dtype=np.float32)
    flat = y.reshape(-1, y.shape[-1])
    wide = resample(flat, sr, OUTPUT_SR)
    cutoff = min(float(cutoff_hz) if cutoff_hz > 0 else estimate_cutoff(wide, OUTPUT_SR), sr / 2.0)
    if cutoff > OUTPUT_SR / 2.0 - MIN_GAP_HZ:
        if progress is not None:
            progress(1, 1)
        return np.array(wide.reshape(*y.shape[:-1], wide.shape[-1]), copy=True)  # never a view of the input
    plan = _Plan(cutoff, decay_db_per_khz, level_db)

    def extend(segment: np.ndarray) -> np.ndarray:
        spec = stft(segment, n_fft=N_FFT, hop=HOP)
        return segment + istft(plan.high_band(spec), length=segment.shape[-1], n_fft=N_FFT, hop=HOP)

    out = padded(extend, wide, chunk=max(HOP, chunk // HOP * HOP), context=2 * N_FFT, progress=progress)
    return out.reshape(*y.shape[:-1], out.shape[-1])


def continue_top(y: np.ndarray, *, start_hz: float, decay_db_per_khz: float = 1.5, taper_from_hz: float = 24000.0,
                 taper_db: float = 0.0, progress=None, chunk: int = CHUNK) -> np.ndarray:
    """Replace the band of ``y`` ``(..., samples)`` at 48 kHz above ``start_hz`` by its continuation.

    The band from ``start_hz`` to Nyquist is rebuilt as :func:`sbr` builds a new band (coherent copies
    of the octave below, shaped by the envelope extrapolated from it, minus ``decay_db_per_khz`` per kHz),
    cross-faded over :data:`CROSSOVER_HZ` with what was there, and faded by a further ``taper_db`` dB
    (a raised cosine in dB) from ``taper_from_hz`` to Nyquist. Below ``start_hz`` the signal is
    unchanged. Used on the U-Net's output, whose trained band ends near 20 kHz (its corpus is mostly
    44.1 kHz music), so that the new band reaches Nyquist without a notch or a lone band.
    Returns float32 ``(..., samples)``.
    """
    y = np.asarray(y, dtype=np.float32)
    flat = y.reshape(-1, y.shape[-1])
    plan = _Plan(start_hz, decay_db_per_khz, 0.0, taper_from_hz=taper_from_hz, taper_db=taper_db)

    def replace_top(segment: np.ndarray) -> np.ndarray:
        spec = stft(segment, n_fft=N_FFT, hop=HOP)
        delta = plan.high_band(spec)
        delta[..., plan.target, :] -= spec[..., plan.target, :] * plan.fade_out
        return segment + istft(delta, length=segment.shape[-1], n_fft=N_FFT, hop=HOP)

    out = padded(replace_top, flat, chunk=max(HOP, chunk // HOP * HOP), context=2 * N_FFT, progress=progress)
    return out.reshape(y.shape)


class _Plan:
    """Bin layout of the replication for one cutoff: source bins, target bins, fixed gains."""

    def __init__(self, cutoff: float, decay_db_per_khz: float, level_db: float, *, taper_from_hz: float = OUTPUT_SR / 2,
                 taper_db: float = 0.0):
        freqs = bin_frequencies(OUTPUT_SR, N_FFT)
        self.start = int(np.ceil(cutoff / freqs[1]))
        width = max(4, (self.start - self.start // 2) // 4 * 4)  # about an octave, in multiples of 4 bins
        self.fit = slice(self.start - width, self.start)
        self.target = np.arange(self.start, N_FFT // 2)  # the Nyquist bin stays empty
        self.source = self.start - width + (self.target - self.start) % width
        octaves = np.log2(np.maximum(freqs, freqs[1]) / cutoff).astype(np.float32)
        self.fit_x = octaves[self.fit]
        self.target_x = octaves[self.target][:, None]
        ramp = np.clip((freqs[self.target] - cutoff) / CROSSOVER_HZ, 0.0, 1.0)
        fixed_db = level_db - decay_db_per_khz * (freqs[self.target] - cutoff) / 1000.0
        taper = np.clip((freqs[self.target] - taper_from_hz) / max(OUTPUT_SR / 2 - taper_from_hz, 1.0), 0.0, 1.0)
        fixed_db -= taper_db * 0.5 * (1.0 - np.cos(np.pi * taper))
        self.fixed = (10.0 ** (fixed_db / 20.0) * np.sin(0.5 * np.pi * ramp) ** 2)[:, None].astype(np.float32)
        #: the share of the old band above the cutoff that a replacement removes (the cross-fade's other half)
        self.fade_out = (np.sin(0.5 * np.pi * ramp) ** 2)[:, None].astype(np.float32)
        self.smooth_bins = max(1, int(round(SMOOTH_HZ / freqs[1])))
        self.low = max(0, self.fit.start - self.smooth_bins)  # lowest bin the smoothed levels need

    def high_band(self, spec: np.ndarray) -> np.ndarray:
        """The replicated band of ``spec`` ``(..., bins, frames)``, zero below the cutoff."""
        from scipy.ndimage import uniform_filter1d  # here: the U-Net imports this module's constants, not scipy

        part = spec[..., self.low:self.start, :]
        power = uniform_filter1d(part.real ** 2 + part.imag ** 2, self.smooth_bins, axis=-2, mode="nearest")
        level = np.float32(10.0) * np.log10(power + np.float32(1e-20))  # dB, bins from self.low
        fit = level[..., self.fit.start - self.low:, :]
        slope, intercept = _line_fit(self.fit_x, fit)
        slope = uniform_filter1d(np.clip(slope, *SLOPE_DB_PER_OCTAVE), ENVELOPE_FRAMES, axis=-1, mode="nearest")
        intercept = uniform_filter1d(intercept, ENVELOPE_FRAMES, axis=-1, mode="nearest")
        gain_db = intercept[..., None, :] + slope[..., None, :] * self.target_x - level[..., self.source - self.low, :]
        gain = np.exp(np.minimum(gain_db, MAX_GAIN_DB) * np.float32(np.log(10.0) / 20.0)) * self.fixed
        out = np.zeros_like(spec)
        out[..., self.target, :] = spec[..., self.source, :] * gain
        return out


def _line_fit(x: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``level ~ intercept + slope * x`` over axis -2 of ``(..., len(x), frames)``."""
    xc = (x - x.mean())[:, None]
    slope = np.einsum("k,...kt->...t", xc[:, 0] / np.sum(xc ** 2), level)
    return slope, level.mean(axis=-2) - slope * x.mean()
