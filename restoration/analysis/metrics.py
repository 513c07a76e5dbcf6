"""Audio quality metrics: pure functions over float32 ``(channels, samples)`` or ``(samples,)`` arrays.

Conventions shared by every metric below:

* **STFT**: :func:`restoration.dsp.stft.stft`, ``n_fft = 2048``, hop 512, periodic Hann window,
  centred frames with zero padding; ``P = |X|**2`` is the power spectrogram.
* **eps**: ``EPS_POWER = 1e-10`` is added to powers before any logarithm of a power;
  ``EPS_MAG = 1e-8`` is the floor of magnitudes in the multi-resolution STFT distance.
* **dBFS**: ``20 log10(rms)`` with samples in [-1, 1], so a full-scale square wave is 0 dBFS and a
  full-scale sine -3.01 dBFS.
* **Channels** (no reference): level metrics (RMS, crest factor, noise floor) pool all channels;
  spectral and temporal-shape metrics use the mono downmix (mean of the channels); loudness
  follows BS.1770 (channels summed).
* **Channels** (with reference): :func:`align` first brings both signals to one rate (the higher
  of the two, with :func:`restoration.audio.resample`), the same length (the shorter) and the same
  channel count (a mono signal is duplicated to match a stereo one); distances are computed per
  channel and averaged; HF energies sum over channels; ViSQOL scores the mono downmixes.
* **HF band**: bins strictly above ``HF_HZ = 16 kHz``. When the common rate has no such band
  (``sr <= 32 kHz``), the HF metrics are NaN.

Invalid input (silent, NaN/Inf, shorter than 2048 samples, more than two channels) raises
:class:`restoration.errors.BadInputError` via :func:`restoration.audio.check_signal`.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np

from ..audio import AudioWarning, check_signal, load_audio, resample, sample_peak, to_channels
from ..dsp.stft import bin_frequencies, stft
from ..dsp.median import median_filter
from ..errors import BadInputError
from .loudness import integrated_loudness

N_FFT = 2048
HOP = 512
EPS_POWER = 1e-10
EPS_MAG = 1e-8
HF_HZ = 16000.0
MID_HZ = 6000.0
QUIET_DBFS = -45.0
N_MELS = 64
#: Median-filter length of the HPSS (frames for the harmonic part, bins for the percussive), librosa's default.
HPSS_KERNEL = 31
#: (n_fft, hop) of the multi-resolution STFT distance; window length = n_fft, Hann.
MRSTFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
VISQOL_SR = 48000
#: :func:`content_correlation`: rate, STFT, mel bands and band edges (Hz) of the comparison.
CONTENT_SR = 16000
CONTENT_FFT = (1024, 256)
CONTENT_MELS = 40
CONTENT_BAND_HZ = (60.0, 4000.0)
#: ViSQOL audio mode needs 45 frames of 80 ms at a 20 ms hop: 0.96 s at least.
VISQOL_MIN_S = 1.0
#: Samples per block of the time-domain sums (a multiple of HOP): temporaries stay small on long signals.
SUM_BLOCK = 1 << 18


# ----------------------------------------------------------------------------- shared pieces

def _mono(y: np.ndarray) -> np.ndarray:
    return to_channels(y, 1)[0]


def _power(y: np.ndarray, *, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``|STFT|**2`` of ``(..., samples)`` as float64 ``(..., bins, frames)``."""
    return np.abs(stft(y, n_fft=n_fft, hop=hop)).astype(np.float64) ** 2


def _band_mean_square(power: np.ndarray, n_samples: int, bins: np.ndarray | None = None) -> float:
    """Mean square of the part of the signal in ``bins`` (all when None), by Parseval from ``power``.

    ``power`` is ``(bins, frames)`` from :func:`_power`; one-sided bins other than DC and Nyquist
    count twice; the Hann**2 window overlap-adds to ``sum(w**2) / hop`` at hop ``n_fft / 4``.
    Exact for the full band except within one frame of the clip's ends.
    """
    n_fft = 2 * (power.shape[-2] - 1)
    weight = np.full(power.shape[-2], 2.0)
    weight[0] = weight[-1] = 1.0
    if bins is not None:
        weight[~bins] = 0.0
    window_energy = 0.375 * n_fft  # sum of the periodic Hann window squared
    total = float(np.sum(weight @ power))
    return total * HOP / (n_fft * window_energy * n_samples)


def _hf_bins(sr: int, n_fft: int = N_FFT) -> np.ndarray:
    return bin_frequencies(sr, n_fft) > HF_HZ


def _db(ratio: float) -> float:
    return float(10.0 * np.log10(ratio))


def sum_of_squares(y: np.ndarray) -> float:
    """``sum(y**2)`` over all channels and samples in float64, :data:`SUM_BLOCK` samples at a time."""
    return float(sum(np.sum(np.square(y[..., i:i + SUM_BLOCK], dtype=np.float64))
                     for i in range(0, y.shape[-1], SUM_BLOCK)))


# ----------------------------------------------------------------------------- no reference

def spectral_rolloff(y: np.ndarray, sr: int, *, fraction: float = 0.85) -> float:
    """Roll-off frequency, Hz: the lowest bin frequency below which ``fraction`` of the power lies.

    Computed on the long-term power spectrum (mean of ``P`` over frames) of the mono downmix:
    the smallest ``f_k`` with ``sum_{j<=k} P_j >= fraction * sum_j P_j``.
    """
    y = check_signal(y, sr)
    return _rolloff(_ltas(y), sr, fraction)


def _ltas(y: np.ndarray) -> np.ndarray:
    return _power(_mono(y)).mean(axis=-1)


def _rolloff(ltas: np.ndarray, sr: int, fraction: float) -> float:
    cumulative = np.cumsum(ltas)
    k = int(np.searchsorted(cumulative, fraction * cumulative[-1]))
    return float(bin_frequencies(sr, N_FFT)[min(k, len(ltas) - 1)])


def spectral_centroid(y: np.ndarray, sr: int) -> float:
    """Centroid of the long-term power spectrum of the mono downmix, Hz: ``sum f P / sum P``."""
    y = check_signal(y, sr)
    return _centroid(_ltas(y), sr)


def _centroid(ltas: np.ndarray, sr: int) -> float:
    return float(np.sum(bin_frequencies(sr, N_FFT) * ltas) / np.sum(ltas))


def spectral_flatness(y: np.ndarray, sr: int) -> float:
    """Wiener entropy of the long-term power spectrum ``L`` of the mono downmix, in [0, 1].

    ``exp(mean ln(L + EPS_POWER)) / mean(L + EPS_POWER)`` over all bins 0..Nyquist: about 1 for
    white noise, near 0 for a pure tone.
    """
    y = check_signal(y, sr)
    return _flatness(_ltas(y))


def _flatness(ltas: np.ndarray) -> float:
    p = ltas + EPS_POWER
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def rms_dbfs(y: np.ndarray, sr: int) -> float:
    """RMS over all channels and samples, dBFS: ``20 log10 sqrt(mean y**2)``."""
    y = check_signal(y, sr)
    return _db(sum_of_squares(y) / y.size)


def crest_factor_db(y: np.ndarray, sr: int) -> float:
    """Peak-to-RMS ratio over all channels, dB: ``20 log10(max|y| / rms)``; a sine gives 3.01 dB."""
    y = check_signal(y, sr)
    return _db(sample_peak(y) ** 2 * y.size / sum_of_squares(y))


def zero_crossing_rate(y: np.ndarray, sr: int) -> float:
    """Sign changes per sample of the mono downmix (zero counts as positive), in [0, 1].

    ``mean(signbit(x[i]) != signbit(x[i+1]))``; a sine of frequency ``f`` gives ``2 f / sr``.
    """
    y = check_signal(y, sr)
    changes = 0
    for i in range(0, y.shape[-1] - 1, SUM_BLOCK):  # blocks overlap by one sample
        sign = np.signbit(_mono(y[:, i:i + SUM_BLOCK + 1]))
        changes += int(np.count_nonzero(sign[1:] != sign[:-1]))
    return changes / (y.shape[-1] - 1)


def cutoff_frequency(y: np.ndarray, sr: int) -> float:
    """Effective cutoff frequency, Hz: :func:`restoration.dsp.cutoff.estimate_cutoff` (``sr / 2``: none)."""
    from ..dsp.cutoff import estimate_cutoff

    return float(estimate_cutoff(check_signal(y, sr), sr))


def visible_bandwidth(y: np.ndarray, sr: int) -> float:
    """Bandwidth as the spectrogram shows it, Hz: :func:`restoration.dsp.cutoff.visible_bandwidth`
    (a band within 30 dB of the level just below it counts; ``sr / 2``: it reaches Nyquist)."""
    from ..dsp.cutoff import visible_bandwidth as bandwidth

    return float(bandwidth(check_signal(y, sr), sr))


def hf_energy_ratio(y: np.ndarray, sr: int) -> float:
    """Fraction of the energy above 16 kHz, in [0, 1]: band mean square over total mean square.

    Both from the power spectrogram of the mono downmix (Parseval); NaN when ``sr <= 32 kHz``.
    """
    y = check_signal(y, sr)
    return _hf_ratio(_power(_mono(y)), sr, y.shape[-1])


def _hf_ratio(power: np.ndarray, sr: int, n: int) -> float:
    if not _hf_bins(sr).any():
        return float("nan")
    return _band_mean_square(power, n, _hf_bins(sr)) / _band_mean_square(power, n)


def band_level_dbfs(y: np.ndarray, sr: int, *, low_hz: float = MID_HZ) -> float:
    """Level of the band at or above ``low_hz`` (6 kHz), dBFS: ``10 log10(band mean square + EPS_POWER)``.

    The band mean square is the mean square the signal would have after an ideal high-pass at
    ``low_hz``, computed from the power spectrogram of the mono downmix by Parseval; white noise
    of variance ``s2`` at 48 kHz gives ``10 log10(s2 * 18 / 24)``.
    """
    y = check_signal(y, sr)
    return _band_level(_power(_mono(y)), sr, y.shape[-1], low_hz)


def _band_level(power: np.ndarray, sr: int, n: int, low_hz: float) -> float:
    return _db(_band_mean_square(power, n, bin_frequencies(sr, N_FFT) >= low_hz) + EPS_POWER)


def hpss_ratio_db(y: np.ndarray, sr: int) -> float:
    """Harmonic-to-percussive energy ratio, dB, by median-filtering HPSS (librosa defaults).

    ``librosa.decompose.hpss`` of the magnitude STFT of the mono downmix (kernel 31 frames/bins,
    soft masks of power 2, margin 1): ``10 log10((sum H**2 + EPS_POWER) / (sum P**2 + EPS_POWER))``.
    Positive for sustained tones, negative for clicks and noise bursts.
    """
    y = check_signal(y, sr)
    return _hpss_ratio(np.sqrt(_power(_mono(y))))


def _hpss_ratio(magnitude: np.ndarray) -> float:
    """``librosa.decompose.hpss(magnitude)`` with its defaults (kernel 31, power 2, margin 1), the
    medians taken by :func:`restoration.dsp.median.median_filter` (the same values, ~8× faster)."""
    from librosa.util import softmask

    magnitude = magnitude.astype(np.float32)
    harmonic_median = median_filter(magnitude, HPSS_KERNEL, axis=-1)  # along time
    percussive_median = median_filter(magnitude, HPSS_KERNEL, axis=-2)  # along frequency
    harmonic = magnitude * softmask(harmonic_median, percussive_median, power=2.0, split_zeros=True)
    percussive = magnitude * softmask(percussive_median, harmonic_median, power=2.0, split_zeros=True)
    eh = float(np.sum(np.square(harmonic, dtype=np.float64)))
    ep = float(np.sum(np.square(percussive, dtype=np.float64)))
    return _db((eh + EPS_POWER) / (ep + EPS_POWER))


def noise_floor_dbfs(y: np.ndarray, sr: int, *, threshold_dbfs: float = QUIET_DBFS) -> tuple[float, float]:
    """Noise floor of the quiet frames, dBFS, and the fraction of frames that are quiet.

    Frames of 2048 samples at hop 512 (no padding); a frame's mean square pools all channels.
    Frames whose RMS is below ``threshold_dbfs`` (-45 dBFS) are quiet, except frames of exact
    digital zeros, which carry no noise and are ignored. The floor is ``10 log10`` of the mean
    of the quiet frames' mean squares. When no frame is quiet the floor is NaN (the signal never
    gets quiet enough to expose its noise) and the fraction is 0.
    """
    y = check_signal(y, sr)
    frames = (y.shape[-1] - N_FFT) // HOP + 1
    hops = frames + N_FFT // HOP - 1  # a frame is N_FFT // HOP whole hops
    hop_energy, hop_nonzero = np.empty(hops), np.empty(hops, dtype=bool)
    for i in range(0, hops * HOP, SUM_BLOCK):
        block = y[:, i:min(i + SUM_BLOCK, hops * HOP)].reshape(y.shape[0], -1, HOP)
        k = i // HOP
        hop_energy[k:k + block.shape[1]] = np.sum(np.square(block, dtype=np.float64), axis=(0, 2))
        hop_nonzero[k:k + block.shape[1]] = np.any(block != 0, axis=(0, 2))
    width = N_FFT // HOP
    mean_square = sum(hop_energy[j:j + frames] for j in range(width)) / (N_FFT * y.shape[0])
    nonzero = np.logical_or.reduce([hop_nonzero[j:j + frames] for j in range(width)])
    quiet = nonzero & (mean_square < 10.0 ** (threshold_dbfs / 10.0))
    if not quiet.any():
        return float("nan"), 0.0
    return _db(float(np.mean(mean_square[quiet])) + 1e-20), float(np.mean(quiet))


def no_reference_metrics(y: np.ndarray, sr: int) -> dict[str, float]:
    """All single-signal metrics of ``y`` ``(channels, samples)`` at ``sr``; see each function.

    Keys: ``rolloff85_hz``, ``rolloff99_hz``, ``centroid_hz``, ``flatness``, ``rms_dbfs``,
    ``crest_db``, ``zcr``, ``cutoff_hz``, ``bandwidth_hz``, ``hf_ratio``, ``hf6k_dbfs``, ``hpss_ratio_db``,
    ``lufs``, ``noise_floor_dbfs``, ``quiet_fraction``.
    """
    y = check_signal(y, sr)
    power = _power(_mono(y))
    ltas = power.mean(axis=-1)
    n = y.shape[-1]
    floor, quiet = noise_floor_dbfs(y, sr)
    return {
        "rolloff85_hz": _rolloff(ltas, sr, 0.85),
        "rolloff99_hz": _rolloff(ltas, sr, 0.99),
        "centroid_hz": _centroid(ltas, sr),
        "flatness": _flatness(ltas),
        "rms_dbfs": rms_dbfs(y, sr),
        "crest_db": crest_factor_db(y, sr),
        "zcr": zero_crossing_rate(y, sr),
        "cutoff_hz": cutoff_frequency(y, sr),
        "bandwidth_hz": visible_bandwidth(y, sr),
        "hf_ratio": _hf_ratio(power, sr, n),
        "hf6k_dbfs": _band_level(power, sr, n, MID_HZ),
        "hpss_ratio_db": _hpss_ratio(np.sqrt(power)),
        "lufs": integrated_loudness(y, sr),
        "noise_floor_dbfs": floor,
        "quiet_fraction": quiet,
    }


# ----------------------------------------------------------------------------- with reference

def align(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Bring two signals to one rate, length and channel count: ``(estimate, reference, sr)``.

    Both are validated with :func:`check_signal`; the one at the lower rate is resampled to the
    higher rate (soxr VHQ), both are truncated to the shorter length, and a mono signal is
    duplicated to match a stereo one. No time-lag search: the methods keep their input's timing.
    """
    estimate = check_signal(estimate, est_sr)
    reference = check_signal(reference, ref_sr)
    sr = max(int(est_sr), int(ref_sr))
    estimate, reference = resample(estimate, est_sr, sr), resample(reference, ref_sr, sr)
    channels = max(estimate.shape[0], reference.shape[0])
    n = min(estimate.shape[-1], reference.shape[-1])
    return to_channels(estimate[:, :n], channels), to_channels(reference[:, :n], channels), sr


def _on_spectra(metric, estimate, est_sr, reference, ref_sr, *args) -> float:
    """``metric(P_est, P_ref, sr, *args)`` on the power spectrograms of the aligned pair."""
    estimate, reference, sr = align(estimate, est_sr, reference, ref_sr)
    return metric(_power(estimate), _power(reference), sr, *args)


def log_mel_distance(a: np.ndarray, a_sr: int, b: np.ndarray, b_sr: int) -> float:
    """Mean absolute difference of natural-log mel power spectrograms, nepers (symmetric).

    After :func:`align`: 64 mel bands (librosa Slaney mel filters, 0 Hz to Nyquist) of ``P``,
    ``mean |ln(M_a + EPS_POWER) - ln(M_b + EPS_POWER)|`` over channels, bands and frames.
    """
    return _on_spectra(_log_mel, a, a_sr, b, b_sr)


def _log_mel(p_a: np.ndarray, p_b: np.ndarray, sr: int) -> float:
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS)
    mel_a = basis @ p_a
    mel_b = basis @ p_b
    return float(np.mean(np.abs(np.log(mel_a + EPS_POWER) - np.log(mel_b + EPS_POWER))))


def log_spectral_distance(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int,
                          *, low_hz: float = 0.0) -> float:
    """Log-spectral distance, dB, over bins above ``low_hz`` (all bins when 0).

    After :func:`align`, per frame ``sqrt(mean over bins of (10 log10((P_ref + EPS_POWER) /
    (P_est + EPS_POWER)))**2)``, then the mean over frames and channels. ``low_hz=16000`` is the
    HF-band LSD (bins strictly above 16 kHz; NaN when there are none). 0 for identical signals.
    """
    return _on_spectra(_lsd, estimate, est_sr, reference, ref_sr, low_hz)


def _lsd(p_est: np.ndarray, p_ref: np.ndarray, sr: int, low_hz: float) -> float:
    freqs = bin_frequencies(sr, N_FFT)
    bins = freqs > low_hz if low_hz > 0 else np.ones(len(freqs), dtype=bool)
    if not bins.any():
        return float("nan")
    diff = 10.0 * np.log10((p_ref[..., bins, :] + EPS_POWER) / (p_est[..., bins, :] + EPS_POWER))
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=-2))))


def si_sdr(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> float:
    """Scale-invariant SDR (Le Roux et al. 2019), dB, mean over channels, after :func:`align`.

    Both signals made zero-mean; ``t = (<e, r> / <r, r>) r``; ``10 log10(|t|**2 / (|e - t|**2 + 1e-20))``
    in float64. A scaled copy scores above 100 dB; ``r`` plus noise orthogonal to it scores
    ``10 log10(|r|**2 / |noise|**2)``.
    """
    estimate, reference, _ = align(estimate, est_sr, reference, ref_sr)
    return _si_sdr(estimate, reference)


def _si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SI-SDR of ``(channels, samples)`` arrays, in float64 over blocks of :data:`SUM_BLOCK` samples."""
    n = estimate.shape[-1]
    spans = [slice(i, i + SUM_BLOCK) for i in range(0, n, SUM_BLOCK)]

    def centred(x: np.ndarray, mean: np.ndarray, span: slice) -> np.ndarray:
        return x[..., span].astype(np.float64) - mean

    mean_e = sum(np.sum(estimate[..., s], axis=-1, dtype=np.float64) for s in spans)[..., None] / n
    mean_r = sum(np.sum(reference[..., s], axis=-1, dtype=np.float64) for s in spans)[..., None] / n
    dot = sum(np.sum(centred(estimate, mean_e, s) * centred(reference, mean_r, s), axis=-1) for s in spans)
    power_r = sum(np.sum(np.square(centred(reference, mean_r, s)), axis=-1) for s in spans)
    scale = (dot / np.maximum(power_r, 1e-20))[..., None]
    target = np.square(scale[..., 0]) * power_r
    residual = sum(np.sum(np.square(centred(estimate, mean_e, s) - scale * centred(reference, mean_r, s)), axis=-1)
                   for s in spans)
    ratio = target / (residual + 1e-20)
    return float(np.mean(10.0 * np.log10(np.maximum(ratio, 1e-20))))


def mrstft_distance(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> float:
    """Multi-resolution STFT distance (as auraloss's MultiResolutionSTFTLoss), dimensionless.

    After :func:`align`, for each ``(n_fft, hop)`` in ``MRSTFT_RESOLUTIONS`` = (512, 128),
    (1024, 256), (2048, 512) (Hann window of length n_fft): magnitudes clamped at ``EPS_MAG``,
    spectral convergence ``||R| - |E|||_F / ||R||_F`` (per channel, averaged) plus log magnitude
    ``mean |ln|R| - ln|E||``; the result is the mean over resolutions of their sum. 0 for identical.
    """
    estimate, reference, _ = align(estimate, est_sr, reference, ref_sr)
    return _mrstft(estimate, reference)


def _mrstft(estimate: np.ndarray, reference: np.ndarray) -> float:
    return mrstft_from((np.abs(stft(estimate, n_fft=n_fft, hop=hop)), np.abs(stft(reference, n_fft=n_fft, hop=hop)))
                       for n_fft, hop in MRSTFT_RESOLUTIONS)


def mrstft_from(magnitudes) -> float:
    """The multi-resolution STFT distance from ``(|E|, |R|)`` magnitude pairs, one pair per resolution."""
    total, count = 0.0, 0
    for mag_e, mag_r in magnitudes:
        mag_e = np.maximum(mag_e, EPS_MAG).astype(np.float64)
        mag_r = np.maximum(mag_r, EPS_MAG).astype(np.float64)
        count += 1
        convergence = np.linalg.norm(mag_r - mag_e, axis=(-2, -1)) / np.linalg.norm(mag_r, axis=(-2, -1))
        total += float(np.mean(convergence)) + float(np.mean(np.abs(np.log(mag_r) - np.log(mag_e))))
    return total / count


def visqol_moslqo(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> float:
    """ViSQOL v3 MOS-LQO (1 to 5, higher is better), audio mode, visqol-python.

    After :func:`align`, the mono downmixes are resampled to 48 kHz (audio mode's rate) and
    scored with ``VisqolApi.measure_from_arrays(reference, estimate, 48000)`` (its default SVR
    model, global alignment on). Raises :class:`BadInputError` for clips shorter than
    ``VISQOL_MIN_S`` (1 s), which audio mode cannot score.
    """
    estimate, reference, sr = align(estimate, est_sr, reference, ref_sr)
    return _visqol(estimate, reference, sr)


def _visqol(estimate: np.ndarray, reference: np.ndarray, sr: int) -> float:
    seconds = estimate.shape[-1] / sr
    if seconds < VISQOL_MIN_S:
        raise BadInputError(f"ViSQOL needs at least {VISQOL_MIN_S:g} s of audio, got {seconds:.2f} s")
    est = resample(_mono(estimate), sr, VISQOL_SR).astype(np.float64)
    ref = resample(_mono(reference), sr, VISQOL_SR).astype(np.float64)
    return float(_visqol_api().measure_from_arrays(ref, est, VISQOL_SR).moslqo)


@functools.lru_cache(maxsize=1)
def _visqol_api():
    from visqol import VisqolApi

    api = VisqolApi()
    api.create(mode="audio")
    return api


def hf_gain_db(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> float:
    """Energy above 16 kHz of the estimate relative to the reference, dB.

    After :func:`align`: ``10 log10((sum P_est + EPS_POWER) / (sum P_ref + EPS_POWER))`` over the
    HF bins, all frames and channels. 0 when the band is restored at the right level, strongly
    negative when it stays empty; NaN when the common rate has no band above 16 kHz.
    """
    return _on_spectra(_hf_gain, estimate, est_sr, reference, ref_sr)


def _hf_gain(p_est: np.ndarray, p_ref: np.ndarray, sr: int) -> float:
    bins = _hf_bins(sr)
    if not bins.any():
        return float("nan")
    return _db((float(np.sum(p_est[..., bins, :])) + EPS_POWER) / (float(np.sum(p_ref[..., bins, :])) + EPS_POWER))


def hf_envelope_correlation(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> float:
    """Pearson correlation of the per-frame energy above 16 kHz, estimate vs reference, in [-1, 1].

    After :func:`align`: ``e_t = sum over HF bins and channels of P`` for each STFT frame;
    ``corr(e_est, e_ref)``. 1 for identical high bands. When either envelope is constant
    (standard deviation at most 1e-9 of its mean, e.g. an empty band) the value is 0: no shared
    temporal structure. NaN when the common rate has no band above 16 kHz.
    """
    return _on_spectra(_hf_env_corr, estimate, est_sr, reference, ref_sr)


def _hf_env_corr(p_est: np.ndarray, p_ref: np.ndarray, sr: int) -> float:
    bins = _hf_bins(sr)
    if not bins.any():
        return float("nan")
    est, ref = (p[..., bins, :].sum(axis=-2).reshape(-1, p.shape[-1]).sum(axis=0) for p in (p_est, p_ref))
    if any(env.std() <= 1e-9 * abs(env.mean()) or env.std() == 0 for env in (est, ref)):
        return 0.0
    return float(np.clip(np.corrcoef(est, ref)[0, 1], -1.0, 1.0))


def content_correlation(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> float:
    """Whether two signals carry the same music: correlation of their log-mel spectrograms, in [-1, 1].

    Both mono downmixes resampled to ``CONTENT_SR`` (16 kHz) and cut to the shorter; ``P`` with
    ``CONTENT_FFT`` (n_fft 1024, hop 256); 40 mel bands from 60 Hz to 4 kHz (a band every restoration
    and codec keeps); ``ln(M + EPS_POWER)`` with each band's mean over time removed; the Pearson
    correlation of the two. One clip against its restorations, codecs, low-passes or a 30 ms shift
    scores above 0.8; two different pieces of music score near 0 (below 0.2 on the project's clips).
    0 when either spectrogram is constant.
    """
    import librosa

    n_fft, hop = CONTENT_FFT
    est = resample(_mono(check_signal(estimate, est_sr)), est_sr, CONTENT_SR)
    ref = resample(_mono(check_signal(reference, ref_sr)), ref_sr, CONTENT_SR)
    n = min(est.shape[-1], ref.shape[-1])
    basis = librosa.filters.mel(sr=CONTENT_SR, n_fft=n_fft, n_mels=CONTENT_MELS, fmin=CONTENT_BAND_HZ[0],
                                fmax=CONTENT_BAND_HZ[1])
    logmel = [np.log(basis @ _power(x[:n], n_fft=n_fft, hop=hop) + EPS_POWER) for x in (est, ref)]
    a, b = (m - m.mean(axis=-1, keepdims=True) for m in logmel)
    scale = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.clip(np.sum(a * b) / scale, -1.0, 1.0)) if scale > 0 else 0.0


def reference_metrics(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int,
                      *, visqol: bool = True) -> dict[str, float]:
    """All two-signal metrics of ``estimate`` against the clean ``reference``; see each function.

    Keys: ``lsd``, ``lsd_hf``, ``si_sdr``, ``mrstft``, ``logmel``, ``visqol``, ``hf_gain_db``,
    ``hf_env_corr``. ``visqol`` is NaN when ``visqol=False`` or the clip is shorter than 1 s.
    """
    estimate, reference, sr = align(estimate, est_sr, reference, ref_sr)
    p_est, p_ref = _power(estimate), _power(reference)
    use_visqol = visqol and estimate.shape[-1] >= VISQOL_MIN_S * sr
    return {
        "lsd": _lsd(p_est, p_ref, sr, 0.0),
        "lsd_hf": _lsd(p_est, p_ref, sr, HF_HZ),
        "si_sdr": _si_sdr(estimate, reference),
        "mrstft": _mrstft(estimate, reference),
        "logmel": _log_mel(p_est, p_ref, sr),
        "visqol": _visqol(estimate, reference, sr) if use_visqol else float("nan"),
        "hf_gain_db": _hf_gain(p_est, p_ref, sr),
        "hf_env_corr": _hf_env_corr(p_est, p_ref, sr),
    }


#: A reference longer or shorter than the file by more than this (s), or whose spectrogram between
#: 100 Hz and :data:`ENVELOPE_HZ` correlates less than :data:`MIN_SPECTROGRAM_CORRELATION` with the
#: file's, is probably not the file's clean original: the two-signal metrics then compare unrelated audio.
LENGTH_TOLERANCE_S = 0.1
ENVELOPE_HZ = 4000.0
MIN_SPECTROGRAM_CORRELATION = 0.4


def reference_mismatch(estimate: np.ndarray, est_sr: int, reference: np.ndarray, ref_sr: int) -> str | None:
    """Why ``reference`` does not look like the clean original of ``estimate`` (one line), or None.

    Two checks: the lengths (more than :data:`LENGTH_TOLERANCE_S` apart: the metrics use the shorter
    one), and the Pearson correlation of the two log power spectrograms between 100 Hz and
    :data:`ENVELOPE_HZ` (the band every restoration keeps), each bin's mean over time removed. On
    synthetic clips degraded by :func:`restoration.degrade.degrade` (8 seeds: codecs, RVQ, low-pass,
    hiss) it stayed at 0.58 or above against the clip, at 0.33 or below against another clip."""
    est_s, ref_s = estimate.shape[-1] / est_sr, reference.shape[-1] / ref_sr
    if abs(est_s - ref_s) > LENGTH_TOLERANCE_S:
        return (f"the reference is {ref_s:.2f} s long and the file {est_s:.2f} s: the metrics compare "
                f"only the first {min(est_s, ref_s):.2f} s; is it the same clip?")
    estimate, reference, sr = align(estimate, est_sr, reference, ref_sr)
    freqs = bin_frequencies(sr, N_FFT)
    band = (freqs > 100.0) & (freqs < ENVELOPE_HZ)
    courses = []
    for x in (estimate, reference):
        logs = np.log(_power(x).sum(axis=0)[band] + EPS_POWER)
        courses.append((logs - logs.mean(axis=1, keepdims=True)).ravel())
    if min(np.std(c) for c in courses) < 1e-6:
        return None  # too steady to tell
    correlation = float(np.corrcoef(*courses)[0, 1])
    if correlation < MIN_SPECTROGRAM_CORRELATION:
        return (f"the reference does not look like the same clip (spectrograms below {ENVELOPE_HZ / 1000:g} kHz "
                f"correlate {correlation:.2f}): the metrics compare unrelated audio")
    return None


def analyze_files(path: str | os.PathLike, *, reference: str | os.PathLike | None = None,
                  visqol: bool = True) -> dict:
    """Metrics of an audio file (and against a reference file), as ``python -m restoration analyze`` prints.

    Returns ``file``, ``sample_rate``, ``channels``, ``duration_s``, then
    :func:`no_reference_metrics`; with ``reference``: ``reference`` and
    :func:`reference_metrics` of the file against it, with an :class:`~restoration.audio.AudioWarning`
    when the reference does not look like the file's original (:func:`reference_mismatch`).
    """
    y, sr = load_audio(path)
    y = check_signal(y, sr)
    values: dict = {"file": str(path), "sample_rate": sr, "channels": int(y.shape[0]),
                    "duration_s": y.shape[-1] / sr}
    values.update(no_reference_metrics(y, sr))
    if reference is not None:
        ref, ref_sr = load_audio(reference)
        mismatch = reference_mismatch(y, sr, check_signal(ref, ref_sr), ref_sr)
        if mismatch:
            warnings.warn(mismatch, AudioWarning, stacklevel=2)
        values["reference"] = str(reference)
        values.update(reference_metrics(y, sr, ref, ref_sr, visqol=visqol))
    return values
