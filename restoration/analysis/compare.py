"""Fast comparison: one STFT per signal, shared by the metrics and the pictures.

The app shows a comparison within a second by analysing each signal once
(:func:`analyse`) and computing the cheap metrics first (:func:`core_metrics`,
:func:`core_reference_metrics`); the slow ones (HPSS, multi-resolution STFT, log-mel distance,
ViSQOL) come after the first paint (:func:`detail_metrics`, :func:`detail_reference_metrics`).
Every value is computed exactly as in :mod:`restoration.analysis.metrics` (same STFT, same
formulas), so the two agree; only the order and the sharing differ.

>>> view = analyse(y, sr)                  # float32 (channels, samples) at sr
>>> core_metrics(view)["cutoff_hz"]        # the same number as metrics.cutoff_frequency(y, sr)

Memory is bounded whatever the clip's length: a view keeps at most :data:`MAX_FRAMES` STFT frames
(a longer clip keeps every ``stride``-th frame of the full STFT, so the spectral metrics and pictures
are estimates from evenly spaced frames), frames are transformed in blocks without a padded copy of
the signal, and the time-domain metrics sum over blocks. Up to :data:`MAX_FRAMES` frames (87 s at
48 kHz) the values are exactly the slow ones.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..audio import check_signal, sample_peak
from ..dsp.cutoff import VISIBLE, cutoff_of_spectrum, long_term_spectrum
from ..dsp.stft import hann
from . import metrics as m
from .loudness import integrated_loudness

#: Keys of :func:`core_metrics`, cheapest first (the slow :func:`detail_metrics` adds ``hpss_ratio_db``).
CORE_KEYS = ("bandwidth_hz", "cutoff_hz", "rolloff99_hz", "hf_ratio", "hf6k_dbfs", "lufs", "peak_dbfs", "rms_dbfs", "crest_db",
             "noise_floor_dbfs", "quiet_fraction", "rolloff85_hz", "centroid_hz", "flatness", "zcr")
#: Most STFT frames a view keeps per spectrum (float64 mono power: 67 MB); longer clips are strided.
MAX_FRAMES = 8192
#: Frames transformed per block (a few MB of temporaries).
FRAME_BLOCK = 256
#: Seconds of the aligned pair that ViSQOL scores (its own memory and time grow with the length).
VISQOL_MAX_S = 60.0


class SignalView:
    """A checked signal and its STFT (``n_fft`` 2048, hop 512, Hann, centred), each computed once.

    The mono downmix's spectrum is what the single-signal metrics and the pictures use; the
    per-channel spectra (for the distances to a reference) are taken only when asked for. Powers
    are float64, computed on first use, of every ``stride``-th frame (1 up to :data:`MAX_FRAMES`).
    """

    def __init__(self, y: np.ndarray, sr: int):
        self.y = check_signal(y, sr)
        self.sr = int(sr)
        #: results derived from the spectra by other modules (e.g. the pictures' pixel grids)
        self.cache: dict = {}

    @property
    def samples(self) -> int:
        return int(self.y.shape[-1])

    @property
    def duration_s(self) -> float:
        return self.samples / self.sr

    @property
    def stride(self) -> int:
        """Frames of the full STFT per frame kept (1 up to :data:`MAX_FRAMES` frames)."""
        return strides(self.samples, m.HOP)

    @property
    def power_samples(self) -> float:
        """The length the kept frames stand for in Parseval sums: ``samples / stride``."""
        return self.samples / self.stride

    @functools.cached_property
    def mono_power(self) -> np.ndarray:
        """``|STFT(mono downmix)|**2``, float64 ``(1025, frames)``."""
        return frame_power(self.y, n_fft=m.N_FFT, hop=m.HOP * self.stride, mono=True)[0]

    @functools.cached_property
    def channel_power(self) -> np.ndarray:
        """``|STFT|**2`` of each channel, float64 ``(channels, 1025, frames)``."""
        if self.y.shape[0] == 1:
            return self.mono_power[None]
        return frame_power(self.y, n_fft=m.N_FFT, hop=m.HOP * self.stride)

    @functools.cached_property
    def ltas(self) -> np.ndarray:
        """Long-term power spectrum of the mono downmix, ``(1025,)``."""
        return self.mono_power.mean(axis=-1)


def strides(samples: int, hop: int) -> int:
    """The frame stride that keeps the centred STFT of ``samples`` at ``hop`` within :data:`MAX_FRAMES` frames."""
    return max(1, -(-(1 + samples // hop) // MAX_FRAMES))


def frame_power(y: np.ndarray, *, n_fft: int, hop: int, mono: bool = False) -> np.ndarray:
    """``|X|**2`` float64 ``(channels or 1, n_fft // 2 + 1, 1 + samples // hop)`` of the centred,
    zero-padded, Hann-windowed STFT of ``y`` ``(channels, samples)`` (or of its mono downmix): the
    values of :func:`restoration.dsp.stft.stft`, gathered :data:`FRAME_BLOCK` frames at a time, so
    no padded copy of the signal and no full complex spectrum are ever held."""
    n = y.shape[-1]
    count = 1 + n // hop
    window = hann(n_fft)
    offsets = np.arange(n_fft) - n_fft // 2
    out = np.empty((1 if mono else y.shape[0], n_fft // 2 + 1, count))
    for start in range(0, count, FRAME_BLOCK):
        index = (np.arange(start, min(start + FRAME_BLOCK, count)) * hop)[:, None] + offsets  # (frames, n_fft)
        inside = (index >= 0) & (index < n)
        frames = y[:, np.clip(index, 0, n - 1)] * inside  # (channels, frames, n_fft), zeros outside
        if mono:
            frames = frames.mean(axis=0, keepdims=True)
        spectrum = np.fft.rfft(window * frames, axis=-1).astype(np.complex64, copy=False)
        out[..., start:start + index.shape[0]] = np.swapaxes(_power(spectrum), -1, -2)
    return out


def _power(spectrum: np.ndarray) -> np.ndarray:
    """``|X|**2`` as float64 (squares taken in float32, as fast as the STFT itself)."""
    return (np.square(spectrum.real) + np.square(spectrum.imag)).astype(np.float64)


def analyse(y: np.ndarray, sr: int) -> SignalView:
    """Check ``y`` and take its mono STFT; see :class:`SignalView`."""
    view = SignalView(y, sr)
    view.mono_power  # noqa: B018  (computed here, where the caller expects the cost)
    return view


def core_metrics(view: SignalView) -> dict[str, float]:
    """The cheap single-signal metrics (:data:`CORE_KEYS`): :func:`signal_metrics` and
    :func:`spectral_metrics` together, in that order of keys.

    Values equal those of :func:`restoration.analysis.metrics.no_reference_metrics`;
    ``peak_dbfs`` (sample peak over all channels, dBFS) is added for the A/B player's peak limit.
    """
    return merge(signal_metrics(view.y, view.sr), spectral_metrics(view))


def signal_metrics(y: np.ndarray, sr: int) -> dict[str, float]:
    """The core metrics that need no STFT of ``view`` (level, loudness, cutoff, noise floor, zero
    crossings): they can run in another thread while the STFT is taken."""
    y = check_signal(y, sr)
    mean_square = m.sum_of_squares(y) / y.size
    peak = sample_peak(y)
    floor, quiet = m.noise_floor_dbfs(y, sr)
    freqs, power = long_term_spectrum(y, sr)
    return {
        "bandwidth_hz": cutoff_of_spectrum(freqs, power, sr=sr, **VISIBLE),
        "cutoff_hz": cutoff_of_spectrum(freqs, power, sr=sr),
        "lufs": integrated_loudness(y, sr),
        "peak_dbfs": 20.0 * math.log10(peak),
        "rms_dbfs": m._db(mean_square),
        "crest_db": m._db(peak ** 2 / mean_square),
        "noise_floor_dbfs": floor,
        "quiet_fraction": quiet,
        "zcr": m.zero_crossing_rate(y, sr),
    }


def spectral_metrics(view: SignalView) -> dict[str, float]:
    """The core metrics read from the shared STFT of the mono downmix (roll-offs, band levels, centroid, flatness)."""
    sr, n, power, ltas = view.sr, view.power_samples, view.mono_power, view.ltas
    return {
        "rolloff99_hz": m._rolloff(ltas, sr, 0.99),
        "hf_ratio": m._hf_ratio(power, sr, n),
        "hf6k_dbfs": m._band_level(power, sr, n, m.MID_HZ),
        "rolloff85_hz": m._rolloff(ltas, sr, 0.85),
        "centroid_hz": m._centroid(ltas, sr),
        "flatness": m._flatness(ltas),
    }


def merge(signal: dict[str, float], spectral: dict[str, float]) -> dict[str, float]:
    """:func:`signal_metrics` and :func:`spectral_metrics` as one dict in the order of :data:`CORE_KEYS`."""
    values = {**signal, **spectral}
    return {key: values[key] for key in CORE_KEYS}


def detail_metrics(view: SignalView) -> dict[str, float]:
    """The slow single-signal metric: ``hpss_ratio_db`` (librosa median-filter HPSS, about 1 s per 10 s)."""
    return {"hpss_ratio_db": m._hpss_ratio(np.sqrt(view.mono_power))}


def aligned(estimate: SignalView, reference: SignalView) -> tuple[SignalView, SignalView]:
    """The pair at one rate, length and channel count (:func:`restoration.analysis.metrics.align`).

    Views that already match are reused, so a 48 kHz restoration against a 48 kHz reference costs
    no extra STFT.
    """
    same = (estimate.sr == reference.sr and estimate.samples == reference.samples
            and estimate.y.shape[0] == reference.y.shape[0])
    if same:
        return estimate, reference
    est, ref, sr = m.align(estimate.y, estimate.sr, reference.y, reference.sr)
    return (estimate if _same(estimate, est, sr) else SignalView(est, sr),
            reference if _same(reference, ref, sr) else SignalView(ref, sr))


def _same(view: SignalView, y: np.ndarray, sr: int) -> bool:
    return view.sr == sr and view.y.shape == y.shape


def core_reference_metrics(estimate: SignalView, reference: SignalView) -> dict[str, float]:
    """The cheap metrics against a clean reference: ``lsd``, ``lsd_hf``, ``si_sdr``, ``hf_gain_db``,
    ``hf_env_corr``; equal to those of :func:`restoration.analysis.metrics.reference_metrics`."""
    est, ref = aligned(estimate, reference)
    p_est, p_ref = est.channel_power, ref.channel_power
    return {
        "lsd": m._lsd(p_est, p_ref, est.sr, 0.0),
        "lsd_hf": m._lsd(p_est, p_ref, est.sr, m.HF_HZ),
        "si_sdr": m._si_sdr(est.y, ref.y),
        "hf_gain_db": m._hf_gain(p_est, p_ref, est.sr),
        "hf_env_corr": m._hf_env_corr(p_est, p_ref, est.sr),
    }


def detail_reference_metrics(estimate: SignalView, reference: SignalView, *, visqol: bool = True) -> dict[str, float]:
    """The slow metrics against a reference: ``mrstft``, ``logmel`` and ``visqol`` (NaN when
    ``visqol`` is False or the clip is shorter than 1 s)."""
    est, ref = aligned(estimate, reference)
    use_visqol = visqol and est.samples >= m.VISQOL_MIN_S * est.sr
    scored = int(VISQOL_MAX_S * est.sr)  # ViSQOL scores the first VISQOL_MAX_S seconds
    return {
        "mrstft": _mrstft(est.y, ref.y),
        "logmel": m._log_mel(est.channel_power, ref.channel_power, est.sr),
        "visqol": m._visqol(est.y[:, :scored], ref.y[:, :scored], est.sr) if use_visqol else float("nan"),
    }


def _mrstft(estimate: np.ndarray, reference: np.ndarray) -> float:
    """:func:`restoration.analysis.metrics.mrstft_distance` of an aligned pair over at most
    :data:`MAX_FRAMES` frames per resolution (every ``stride``-th frame of a longer clip)."""
    n = estimate.shape[-1]
    if all(strides(n, hop) == 1 for _, hop in m.MRSTFT_RESOLUTIONS):
        return m._mrstft(estimate, reference)
    return m.mrstft_from((np.sqrt(frame_power(estimate, n_fft=n_fft, hop=hop * strides(n, hop))),
                          np.sqrt(frame_power(reference, n_fft=n_fft, hop=hop * strides(n, hop))))
                         for n_fft, hop in m.MRSTFT_RESOLUTIONS)
