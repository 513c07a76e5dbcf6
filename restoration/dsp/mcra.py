"""MCRA noise tracking (Cohen & Berdugo 2002) and a decision-directed Wiener gain.

Per STFT bin (2048/512 Hann, :mod:`restoration.dsp.stft`), with ``P = |Y|**2``:

* smoothed periodogram: ``Sf = P`` smoothed across frequency by ``[1/4, 1/2, 1/4]``, then
  ``S(l) = a_s S(l-1) + (1 - a_s) Sf(l)``;
* minimum tracking: ``Smin = min(Smin, S)``, ``Stmp = min(Stmp, S)``; every ``L`` frames
  (``window_s``) ``Smin = min(Stmp, S)`` and ``Stmp = S``, so ``Smin`` is the minimum of the last
  ``L`` to ``2 L`` frames;
* speech (here: music) presence: ``I = S / Smin > delta``, ``p(l) = a_p p(l-1) + (1 - a_p) I``;
* presence-controlled recursive averaging of the noise PSD: ``a = a_d + (1 - a_d) p``,
  ``N(l) = a N(l-1) + (1 - a) P(l)``;
* Wiener gain ``G = xi / (1 + xi)`` with the decision-directed a-priori SNR
  ``xi = dd_alpha |G(l-1) Y(l-1)|**2 / N(l) + (1 - dd_alpha) max(P / N - 1, 0)``, floored at
  ``gain_floor_db`` and smoothed over time: ``Gs(l) = c Gs(l-1) + (1 - c) G(l)``.

Constants from the paper: ``a_s = 0.8``, ``a_d = 0.95``, ``a_p = 0.2``, ``delta = 5``. Bins below
``band_hz`` keep gain 1. Long signals stream chunk by chunk with the tracker state carried from
one chunk to the next (each chunk's STFT has ``n_fft`` samples of context), so chunked and
whole-signal processing give the same result, without any warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .stft import band_mask, istft, stft

N_FFT = 2048
HOP = 512
#: Samples per streamed chunk (a multiple of HOP).
CHUNK = 2 ** 20
ALPHA_S = 0.8
ALPHA_D = 0.95
ALPHA_P = 0.2
DELTA = 5.0
_REACH = N_FFT // HOP // 2  # frames either side of a sample that overlap it


@dataclass
class _State:
    """Tracker state per (channel, bin); ``frame`` is the absolute index of the next frame."""

    smooth: np.ndarray
    minimum: np.ndarray
    running: np.ndarray
    presence: np.ndarray
    noise: np.ndarray
    clean: np.ndarray
    gain: np.ndarray
    frame: int = 0

    def copy(self) -> "_State":
        return replace(self, **{k: v.copy() for k, v in vars(self).items() if isinstance(v, np.ndarray)})


def mcra_wiener(y: np.ndarray, sr: int, *, band_hz: float = 6000.0, gain_floor_db: float = -25.0,
                window_s: float = 1.5, dd_alpha: float = 0.98, gain_smoothing: float = 0.5, progress=None,
                chunk: int = CHUNK) -> np.ndarray:
    """Denoise the band above ``band_hz`` (Hz; 0 = full band) of ``y`` ``(..., samples)``.

    ``window_s`` is the minimum-search window (s), ``dd_alpha`` the decision-directed smoothing,
    ``gain_floor_db`` the lowest gain (dB) and ``gain_smoothing`` the recursive smoothing of the
    gain over frames. ``chunk`` (samples, rounded to a multiple of 512) bounds memory. Returns float32
    of the shape of ``y``.
    """
    y = np.asarray(y, dtype=np.float32)
    flat = y.reshape(-1, y.shape[-1])
    n = flat.shape[-1]
    if band_hz >= sr / 2:
        return np.array(y, copy=True)
    k0 = int(np.argmax(band_mask(sr, N_FFT, band_hz)))
    settings = dict(window=max(1, int(round(window_s * sr / HOP))), floor=np.float32(10.0 ** (gain_floor_db / 20.0)),
                    dd=np.float32(dd_alpha), smoothing=np.float32(gain_smoothing))
    step = max(HOP, chunk // HOP * HOP)
    frames = 1 + n // HOP
    out = np.empty_like(flat)
    state, behind = None, None
    starts = range(0, n, step)
    for i, start in enumerate(starts):
        stop = min(n, start + step)
        lo, hi = max(0, start - N_FFT), min(n, stop + N_FFT)
        spec = stft(flat[:, lo:hi], n_fft=N_FFT, hop=HOP)
        first = lo // HOP
        own = slice(start // HOP - first, (stop // HOP if stop < n else frames) - first)
        power = _power(spec[:, k0:])
        if state is None:
            state = _initial_state(power[..., own.start])
        gains = np.ones(power.shape, dtype=np.float32)
        ahead = slice(own.stop, min(power.shape[-1], own.stop + _REACH))
        gains[..., own] = _track(power[..., own], state, **settings)
        gains[..., ahead] = _track(power[..., ahead], state.copy(), **settings)
        if behind is not None:
            gains[..., own.start - behind.shape[-1]:own.start] = behind
        behind = gains[..., max(own.start, own.stop - _REACH):own.stop].copy()
        spec[:, k0:] *= gains
        out[:, start:stop] = istft(spec, length=hi - lo, n_fft=N_FFT, hop=HOP)[:, start - lo:stop - lo]
        if progress is not None:
            progress(i + 1, len(starts))
    return out.reshape(y.shape)


def _power(spec: np.ndarray) -> np.ndarray:
    return spec.real ** 2 + spec.imag ** 2


def _initial_state(power: np.ndarray) -> _State:
    """State before the first frame: every average starts at that frame's (smoothed) power."""
    smooth = _smooth_frequency(power[..., None])[..., 0]
    zeros = np.zeros_like(power)
    return _State(smooth, smooth.copy(), smooth.copy(), zeros, power.copy(), zeros.copy(), np.ones_like(power))


def _smooth_frequency(power: np.ndarray) -> np.ndarray:
    """``[1/4, 1/2, 1/4]`` across bins (axis -2 of ``(..., bins, frames)``), edge bins repeated."""
    p = np.concatenate([power[..., :1, :], power, power[..., -1:, :]], axis=-2)
    return 0.25 * (p[..., :-2, :] + p[..., 2:, :]) + 0.5 * power


def _track(power: np.ndarray, state: _State, *, window: int, floor: np.float32, dd: np.float32,
           smoothing: np.float32) -> np.ndarray:
    """Run MCRA and the Wiener gain over ``power`` ``(channels, bins, frames)``, updating ``state``.

    Returns the smoothed gains, float32 of the shape of ``power``.
    """
    gains = np.empty(power.shape, dtype=np.float32)
    if power.shape[-1] == 0:
        return gains
    smoothed = _smooth_frequency(power)
    s, smin, stmp, p, noise, clean, g_s = (state.smooth, state.minimum, state.running, state.presence,
                                           state.noise, state.clean, state.gain)
    for j in range(power.shape[-1]):
        pw = power[..., j]
        s *= ALPHA_S
        s += (1.0 - ALPHA_S) * smoothed[..., j]
        if state.frame % window == 0 and state.frame > 0:
            np.minimum(stmp, s, out=smin)
            stmp[...] = s
        else:
            np.minimum(smin, s, out=smin)
            np.minimum(stmp, s, out=stmp)
        p *= ALPHA_P
        p += (1.0 - ALPHA_P) * (s > DELTA * smin)
        a = ALPHA_D + (1.0 - ALPHA_D) * p
        noise *= a
        noise += (1.0 - a) * pw
        inv = 1.0 / np.maximum(noise, 1e-20)
        xi = dd * clean * inv + (1.0 - dd) * np.maximum(pw * inv - 1.0, 0.0)
        g = np.maximum(xi / (1.0 + xi), floor)
        np.multiply(g * g, pw, out=clean)
        g_s *= smoothing
        g_s += (1.0 - smoothing) * g
        gains[..., j] = g_s
        state.frame += 1
    return gains
