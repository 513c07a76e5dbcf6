"""Spectral gating (noisereduce) of the band above ``band_hz``.

The signal is split by a zero-phase Butterworth high-pass (order 6, ``sosfiltfilt``); only the
high band is gated by :func:`noisereduce.reduce_noise` and the rest (input minus high band) is
added back unchanged. ``band_hz = 0`` gates the full band. Long signals are processed in chunks
with context on both sides (pad-and-discard, as noisereduce's own ``filter_chunk``): several time
constants of the non-stationary noise estimate, so chunked and whole-signal results agree.
The stationary threshold comes from the first :data:`NOISE_CLIP_S` seconds of the whole signal.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

from ..chunking import padded

ORDER = 6
#: Seconds per chunk; noisereduce needs about 230 bytes per sample of chunk plus context.
CHUNK_S = 20.0
#: Context on each side, in time constants of the non-stationary noise estimate (plus the STFT span);
#: 3 keeps chunked and whole-signal results within about 2e-5.
CONTEXT_TIME_CONSTANTS = 3.0
#: Seconds of signal (from the start) whose statistics set the stationary threshold
#: (noisereduce's default: 600000 samples at 48 kHz).
NOISE_CLIP_S = 12.5
N_FFT = 1024  # noisereduce's default STFT


def spectral_gating(y: np.ndarray, sr: int, *, band_hz: float = 6000.0, stationary: bool = False,
                    prop_decrease: float = 0.7, time_constant_s: float = 2.0, freq_mask_smooth_hz: float = 500.0,
                    progress=None, chunk: int | None = None) -> np.ndarray:
    """Gate the band above ``band_hz`` (Hz) of ``y`` ``(..., samples)`` with noisereduce.

    ``stationary`` uses one noise threshold (from the first :data:`NOISE_CLIP_S` seconds) instead
    of the time-varying estimate with ``time_constant_s`` (s). ``prop_decrease`` is the fraction of
    the noise removed; ``freq_mask_smooth_hz`` smooths the mask across frequency (Hz; at least
    ``2 * sr / 1024``, smaller values are raised to it). ``chunk`` (samples, default
    :data:`CHUNK_S` seconds) bounds memory.
    """
    y = np.asarray(y, dtype=np.float32)
    flat = y.reshape(-1, y.shape[-1])
    if band_hz >= sr / 2:
        return np.array(y, copy=True)
    sos = butter(ORDER, band_hz, btype="highpass", fs=sr, output="sos") if band_hz > 0 else None

    def high_band(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64) if sos is None else sosfiltfilt(sos, x, axis=-1)

    settings = dict(stationary=stationary, prop_decrease=prop_decrease, time_constant_s=time_constant_s,
                    freq_mask_smooth_hz=max(freq_mask_smooth_hz, 2.0 * sr / N_FFT), n_fft=N_FFT,
                    clip_noise_stationary=False, padding=0)
    noise = high_band(flat[:, :int(NOISE_CLIP_S * sr)]) if stationary else [None] * len(flat)

    def gate(segment: np.ndarray) -> np.ndarray:
        import noisereduce

        high = high_band(segment)
        out = segment - high
        for c, band in enumerate(high):
            out[c] += noisereduce.reduce_noise(y=band, sr=sr, y_noise=noise[c], chunk_size=band.shape[-1], **settings)
        return out.astype(np.float32)

    context = 0 if stationary else int(CONTEXT_TIME_CONSTANTS * time_constant_s * sr)
    context += 4 * N_FFT + (int(20 * sr / band_hz) if band_hz > 0 else 0)  # STFT span, high-pass ringing
    hop = N_FFT // 4  # chunk and context on the STFT grid, so frames line up with the whole signal
    out = padded(gate, flat, chunk=max(1, int(chunk or CHUNK_S * sr) // hop) * hop, context=-(-context // hop) * hop,
                 progress=progress)
    return out.reshape(y.shape)
