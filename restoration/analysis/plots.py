"""Spectrogram and spectrum plots with matplotlib: ``ax=`` in, :class:`~matplotlib.figure.Figure` out.

No pyplot: figures are built from :class:`matplotlib.figure.Figure`, so the module works
headless (Agg) and in the app. Stereo is downmixed to mono. Levels are in dB relative to a
full-scale sine: ``20 log10(|X| / (sum(window) / 2))``, so a 0 dBFS-peak sine peaks near 0 dB.
"""

from __future__ import annotations

import numpy as np

from ..audio import check_signal, to_channels
from ..dsp.stft import stft
from ..errors import BadInputError
from .metrics import HF_HZ, align

N_FFT = 2048
HOP = 512
#: Default dynamic range of a spectrogram's colour scale, dB below its maximum.
RANGE_DB = 90.0
#: Lowest level drawn, dB (also the floor before taking differences).
FLOOR_DB = -140.0
#: At most this many STFT frames are drawn; longer clips use a proportionally larger hop.
MAX_FRAMES = 2000
WELCH_NPERSEG = 4096
SPEC_CMAP = "magma"
DIFF_CMAP = "RdBu_r"
#: Largest colour limit of the difference spectrogram, dB.
DIFF_MAX_DB = 40.0
#: PSD axis: lowest frequency drawn (Hz) and levels shown below the highest curve (dB).
PSD_LOW_HZ = 20.0
PSD_RANGE_DB = 120.0


def _mono(y: np.ndarray, sr: int) -> np.ndarray:
    return to_channels(check_signal(y, sr), 1)[0]


def spectrogram_db(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """dB spectrogram of the mono downmix: ``(levels (1025, frames), hop)``.

    STFT 2048 Hann; hop 512, or a multiple of it so that at most ``MAX_FRAMES`` frames are drawn.
    """
    x = _mono(y, sr)
    hop = HOP * max(1, int(np.ceil(x.shape[-1] / HOP / MAX_FRAMES)))
    magnitude = np.abs(stft(x, n_fft=N_FFT, hop=hop)) / (N_FFT / 4)  # sum(hann) / 2 = n_fft / 4
    return np.maximum(20.0 * np.log10(magnitude + 1e-12), FLOOR_DB), hop


def _new_axes(ax, ncols: int = 1):
    if ax is not None:
        return ax.figure, [ax]
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4 * ncols, 4.0), layout="constrained")
    return figure, list(np.atleast_1d(figure.subplots(1, ncols, sharey=True)))


def _draw(ax, levels: np.ndarray, sr: int, n_samples: int, *, vmin: float, vmax: float,
          top_khz: float, cmap: str = SPEC_CMAP, title: str | None = None):
    """Draw a ``(bins, frames)`` image over 0..Nyquist in kHz against seconds; return the image."""
    import matplotlib

    image = ax.imshow(levels, origin="lower", aspect="auto", interpolation="nearest", cmap=cmap,
                      vmin=vmin, vmax=vmax, extent=(0.0, n_samples / sr, 0.0, sr / 2000.0))
    if cmap == SPEC_CMAP:  # empty band above a lower Nyquist reads as 'nothing there'
        ax.set_facecolor(matplotlib.colormaps[cmap](0.0))
    ax.set_ylim(0.0, top_khz)
    if HF_HZ / 1000.0 < top_khz:
        ax.axhline(HF_HZ / 1000.0, color="white" if cmap == SPEC_CMAP else "black", linestyle="--",
                   linewidth=1.0, alpha=0.8)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Frequency (kHz)")
    if title:
        ax.set_title(title)
    return image


def spectrogram(y: np.ndarray, sr: int, *, ax=None, title: str | None = None,
                vmin: float | None = None, vmax: float | None = None):
    """Spectrogram of ``y`` in dB over 0..Nyquist (kHz), a dashed line at 16 kHz, and a colorbar.

    ``vmax`` defaults to the loudest bin, ``vmin`` to ``vmax - 90`` dB. Returns the Figure
    (``ax.figure`` when ``ax`` is given).
    """
    levels, _ = spectrogram_db(y, sr)
    vmax = float(levels.max()) if vmax is None else float(vmax)
    vmin = vmax - RANGE_DB if vmin is None else float(vmin)
    figure, (ax,) = _new_axes(ax)
    image = _draw(ax, levels, sr, check_signal(y, sr).shape[-1], vmin=vmin, vmax=vmax,
                  top_khz=sr / 2000.0, title=title)
    figure.colorbar(image, ax=ax, label="Level (dB)")
    return figure


def spectrogram_pair(a: np.ndarray, a_sr: int, b: np.ndarray, b_sr: int, *,
                     titles: tuple[str, str] = ("Original", "Restored")):
    """Two spectrograms side by side on one colour scale and one frequency axis, one colorbar.

    The scale spans 90 dB below the louder of the two maxima; both frequency axes reach the
    higher Nyquist, so a band a signal lacks shows as empty.
    """
    signals = [(a, a_sr), (b, b_sr)]
    levels = [spectrogram_db(y, sr)[0] for y, sr in signals]
    vmax = max(float(level.max()) for level in levels)
    top_khz = max(a_sr, b_sr) / 2000.0
    figure, axes = _new_axes(None, ncols=2)
    for ax, level, (y, sr), title in zip(axes, levels, signals, titles):
        image = _draw(ax, level, sr, check_signal(y, sr).shape[-1], vmin=vmax - RANGE_DB, vmax=vmax,
                      top_khz=top_khz, title=title)
    axes[1].set_ylabel("")
    figure.colorbar(image, ax=axes, label="Level (dB)")
    return figure


def difference_spectrogram(a: np.ndarray, a_sr: int, b: np.ndarray, b_sr: int, *, ax=None,
                           title: str | None = "Restored − Original"):
    """``b`` minus ``a`` in dB, on a diverging colour map with symmetric limits.

    The signals are first aligned (:func:`restoration.analysis.metrics.align`: higher rate,
    shorter length); each level is floored at 90 dB below the pair's maximum so silent regions
    do not produce huge differences. The limits are ``±`` the 99th percentile of ``|b - a|``
    rounded up to 5 dB, kept within 5..40 dB. Red: ``b`` is louder.
    """
    a, b, sr = align(a, a_sr, b, b_sr)
    level_a, _ = spectrogram_db(a, sr)
    level_b, _ = spectrogram_db(b, sr)
    floor = max(float(level_a.max()), float(level_b.max())) - RANGE_DB
    diff = np.maximum(level_b, floor) - np.maximum(level_a, floor)
    limit = float(np.clip(5.0 * np.ceil(np.percentile(np.abs(diff), 99) / 5.0), 5.0, DIFF_MAX_DB))
    figure, (ax,) = _new_axes(ax)
    image = _draw(ax, diff, sr, a.shape[-1], vmin=-limit, vmax=limit, top_khz=sr / 2000.0,
                  cmap=DIFF_CMAP, title=title)
    figure.colorbar(image, ax=ax, label="Difference (dB)")
    return figure


def psd_overlay(signals: dict[str, tuple[np.ndarray, int]], *, ax=None):
    """Welch power spectral densities of several signals, dB re 1 FS²/Hz, on a log-frequency axis.

    ``signals`` maps a legend label to ``(y, sr)``; each is downmixed to mono and analysed with
    ``scipy.signal.welch`` (Hann, 4096-sample segments, 50 % overlap, density scaling). The DC
    bin is not drawn; each curve ends at its own Nyquist. The axes span 20 Hz to the highest
    Nyquist and 120 dB below the highest density.
    """
    from scipy.signal import welch

    if not signals:
        raise BadInputError("psd_overlay needs at least one signal")
    figure, (ax,) = _new_axes(ax)
    high, top = 0.0, -np.inf
    for label, (y, sr) in signals.items():
        freqs, density = welch(_mono(y, sr), fs=sr, nperseg=WELCH_NPERSEG)
        level = 10.0 * np.log10(density[1:] + 1e-20)
        ax.semilogx(freqs[1:], level, label=label, linewidth=1.0)
        high, top = max(high, sr / 2.0), max(top, float(level.max()))
    ax.set_xlim(PSD_LOW_HZ, high)
    ax.set_ylim(top - PSD_RANGE_DB, top + 5.0)
    if HF_HZ < high:
        ax.axvline(HF_HZ, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xlabel("Frequency (Hz)")
    ax.set_ylabel("PSD (dB/Hz)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return figure
