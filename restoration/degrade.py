"""MusicGen-like degradation of clean audio: ``python -m restoration degrade IN OUT [--seed N]``.

A seeded, randomized chain turns clean full-band audio into what MusicGen's 32 kHz EnCodec
output sounds like: resample to 32 kHz (FFT, flat up to 16 kHz like MusicGen's output); codec artifacts from a real codec through ffmpeg
(libopus at 48 kHz, libvorbis, libmp3lame) and/or a built-in MDCT residual vector quantizer at 50
frames/s; optional hiss; and a final linear-phase low-pass whose cutoff, slope and shape are drawn to
match MusicGen's band-energy profile (see docs/calibration.md). Codec delays are measured once
per codec setting with a probe signal and undone, so the output is aligned sample for sample with
``restoration.audio.resample(y, sr, 32000)``. The same seed gives the same output.

>>> out = degrade(y, 48000, seed=3)      # float32 (channels, n32)
"""

from __future__ import annotations

import argparse
import functools
import math
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import BadInputError, RestorationError

OUT_SR = 32000
#: Codecs of the chain: ffmpeg encoder per name; "rvq" is the built-in quantizer, "none" skips.
FFMPEG_CODECS = {"opus": "libopus", "vorbis": "libvorbis", "mp3": "libmp3lame"}
CODECS = (*FFMPEG_CODECS, "rvq", "none")
CODEBOOKS = Path(__file__).with_name("data") / "rvq_codebooks.npz"
#: MDCT of the quantizer: 640 coefficients per 20 ms hop at 32 kHz (50 frames/s).
RVQ_HOP = 640
RVQ_DIM = 16
FIR_TAPS = 1023
#: Gain of the low-pass at ``cutoff + transition``, dB; zero above.
STOP_DB = -90.0
#: Largest codec delay searched for, in samples at the codec's rate.
MAX_CODEC_DELAY = 4096


class CodecError(RestorationError):
    """ffmpeg is missing, lacks an encoder, or failed on the audio; or the RVQ codebooks are missing."""


@dataclass(frozen=True)
class DegradeConfig:
    """Ranges the chain draws from. Tuples are ``(low, high)`` drawn uniformly.

    ``codec_weights`` gives the probability of each codec in :data:`CODECS`; ``rvq_after_codec``
    is the probability of adding the quantizer after an ffmpeg codec. The low-pass gain (see
    :func:`lowpass_gain_db`) is 0 dB up to ``cutoff_hz``, falls by ``slope_db_per_khz`` on average over
    the next 2 kHz along a curve of exponent ``shape`` (1 = straight in dB, 2 = parabolic, as
    MusicGen's roll-off), and is exactly zero from where it reaches :data:`STOP_DB` (usually above
    16 kHz: then the 32 kHz Nyquist is the band limit). The defaults come from docs/calibration.md.
    """

    cutoff_hz: tuple[float, float] = (12500.0, 15000.0)
    slope_db_per_khz: tuple[float, float] = (3.0, 16.0)
    shape: tuple[float, float] = (1.0, 2.0)
    codec_weights: dict = field(default_factory=lambda: {"opus": 0.25, "vorbis": 0.15, "mp3": 0.2, "rvq": 0.3, "none": 0.1})
    rvq_after_codec: float = 0.25
    opus_kbps: tuple[float, float] = (12.0, 32.0)
    vorbis_q: tuple[float, float] = (-1.0, 1.0)
    mp3_kbps: tuple[int, ...] = (48, 56, 64, 80, 96)
    rvq_stages: tuple[int, int] = (1, 4)
    hiss_probability: float = 0.5
    hiss_snr_db: tuple[float, float] = (35.0, 70.0)

    def only(self, codec: str) -> "DegradeConfig":
        """This config with every draw going to ``codec`` (one of :data:`CODECS`), no extra RVQ."""
        if codec not in CODECS:
            raise BadInputError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
        return replace(self, codec_weights={codec: 1.0}, rvq_after_codec=0.0)


@dataclass(frozen=True)
class DegradeParams:
    """One draw of the chain: what :func:`apply_chain` does to a signal."""

    cutoff_hz: float
    slope_db_per_khz: float
    shape: float
    codec: str
    codec_setting: float  # kbps for opus and mp3, quality for vorbis, 0 otherwise
    rvq_stages: int  # 0 = no quantizer
    hiss_snr_db: float | None
    noise_seed: int

    @property
    def stop_hz(self) -> float:
        """Frequency from which the low-pass output is zero."""
        return stop_frequency(self.cutoff_hz, self.slope_db_per_khz, self.shape)


def draw_params(seed: int, config: DegradeConfig | None = None) -> DegradeParams:
    """Draw the chain's parameters from ``config`` with ``numpy.random.default_rng(seed)``."""
    config = config or DegradeConfig()
    rng = np.random.default_rng(seed)
    names = [c for c in CODECS if config.codec_weights.get(c, 0) > 0]
    if not names:
        raise BadInputError("DegradeConfig.codec_weights gives no codec a positive weight")
    weights = np.array([config.codec_weights[c] for c in names], dtype=float)
    codec = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    cutoff = float(rng.uniform(*config.cutoff_hz))
    slope = float(rng.uniform(*config.slope_db_per_khz))
    setting = {"opus": lambda: round(float(rng.uniform(*config.opus_kbps))),
               "vorbis": lambda: round(float(rng.uniform(*config.vorbis_q)), 2),
               "mp3": lambda: int(rng.choice(config.mp3_kbps))}.get(codec, lambda: 0)()
    extra_rvq = codec in FFMPEG_CODECS and rng.random() < config.rvq_after_codec
    stages = int(rng.integers(config.rvq_stages[0], config.rvq_stages[1] + 1)) if codec == "rvq" or extra_rvq else 0
    hiss = float(rng.uniform(*config.hiss_snr_db)) if rng.random() < config.hiss_probability else None
    noise_seed = int(rng.integers(2**31))
    shape = float(rng.uniform(*config.shape))
    return DegradeParams(cutoff, slope, shape, codec, float(setting), stages, hiss, noise_seed)


def degrade(y: np.ndarray, sr: int, *, seed: int, config: DegradeConfig | None = None) -> np.ndarray:
    """MusicGen-like 32 kHz version of ``y``.

    Parameters
    ----------
    y : float array ``(samples,)`` or ``(channels, samples)``, clean audio at ``sr`` Hz.
    seed : the draw of cutoff, slope, shape, codec and hiss (same seed, same output).
    config : ranges to draw from (default :class:`DegradeConfig`).

    Returns
    -------
    float32 ``(channels, n32)`` at 32 kHz, aligned at lag 0 with ``resample(y, sr, 32000)``.
    """
    return apply_chain(y, sr, draw_params(seed, config))


def apply_chain(y: np.ndarray, sr: int, params: DegradeParams) -> np.ndarray:
    """Run the chain ``params`` describes on ``y`` (see :func:`degrade`)."""
    from .audio import as_channels_first

    y = as_channels_first(y)
    if y.shape[0] > 2:
        raise BadInputError(f"degrade takes mono or stereo audio, got {y.shape[0]} channels")
    if not np.all(np.isfinite(y)):
        raise BadInputError("audio contains NaN or infinite samples")
    x = resample_flat(y, int(sr), OUT_SR)
    if params.codec in FFMPEG_CODECS:
        x = ffmpeg_roundtrip(x, OUT_SR, params.codec, params.codec_setting)
    if params.rvq_stages:
        x = rvq_roundtrip(x, stages=params.rvq_stages)
    if params.hiss_snr_db is not None:
        x = add_hiss(x, snr_db=params.hiss_snr_db, seed=params.noise_seed)
    return lowpass(x, OUT_SR, cutoff_hz=params.cutoff_hz, slope_db_per_khz=params.slope_db_per_khz, shape=params.shape)


# ---------------------------------------------------------------------------------------------
# Resampling, low-pass and hiss


def resample_flat(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """FFT resampling of ``(..., samples)``, flat up to the lower Nyquist; length ``round(n * target / orig)``.

    soxr's anti-alias filter (:func:`restoration.audio.resample`) falls from about 0.91 of the new
    Nyquist (-28 dB at 15.6 kHz for 32 kHz), while MusicGen's 32 kHz output keeps energy up to 16 kHz;
    the chain's own low-pass shapes that band instead. Both resamplers are zero-phase, so the result is
    aligned with soxr's. The signal is zero-padded so that the FFT's wrap-around does not reach it.
    """
    from scipy.signal import resample as fft_resample

    y = np.asarray(y, dtype=np.float32)
    if orig_sr == target_sr:
        return y
    unit = orig_sr // math.gcd(orig_sr, target_sr)  # input samples per whole number of output samples
    pad = unit * -(-2048 // unit)
    total = y.shape[-1] + 2 * pad
    total += -total % unit
    x = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(pad, total - y.shape[-1] - pad)])
    out = fft_resample(x, total * target_sr // orig_sr, axis=-1)
    start = pad * target_sr // orig_sr
    return out[..., start:start + round(y.shape[-1] * target_sr / orig_sr)].astype(np.float32)


def lowpass_gain_db(freqs: np.ndarray, *, cutoff_hz: float, slope_db_per_khz: float, shape: float = 1.0) -> np.ndarray:
    """Gain of the chain's low-pass in dB at ``freqs`` (Hz), before the stop band is set to zero.

    ``0`` up to ``cutoff_hz``, then ``-2 slope (d / 2 kHz) ** shape`` at ``d`` kHz above it: the
    attenuation 2 kHz above the cutoff is ``2 slope`` dB whatever the shape.
    """
    d_khz = np.maximum(np.asarray(freqs, dtype=float) - cutoff_hz, 0.0) / 1000.0
    return -2.0 * slope_db_per_khz * (d_khz / 2.0) ** shape


def stop_frequency(cutoff_hz: float, slope_db_per_khz: float, shape: float = 1.0, stop_db: float = STOP_DB) -> float:
    """Frequency (Hz) where :func:`lowpass_gain_db` reaches ``stop_db``; the low-pass is zero above it."""
    return cutoff_hz + 2000.0 * (-stop_db / (2.0 * slope_db_per_khz)) ** (1.0 / shape)


def lowpass(y: np.ndarray, sr: int, *, cutoff_hz: float, slope_db_per_khz: float, shape: float = 1.0,
            stop_db: float = STOP_DB, taps: int = FIR_TAPS) -> np.ndarray:
    """Zero-phase (linear-phase FIR, delay removed) low-pass of ``(..., samples)``.

    The gain follows :func:`lowpass_gain_db` down to ``stop_db`` and is zero from there on (a Kaiser
    window keeps the stop band below about -90 dB).
    """
    from scipy.signal import firwin2, oaconvolve

    nyq = sr / 2.0
    stop = min(stop_frequency(cutoff_hz, slope_db_per_khz, shape, stop_db), nyq)
    grid = np.linspace(min(cutoff_hz, stop), stop, 64)
    freqs = np.concatenate([[0.0], grid, [nyq]])
    gains_db = np.concatenate([[0.0], lowpass_gain_db(grid, cutoff_hz=cutoff_hz, slope_db_per_khz=slope_db_per_khz,
                                                      shape=shape), [-200.0]])
    gains = np.where(gains_db <= stop_db + 1e-9, 0.0, 10 ** (gains_db / 20))
    keep = np.concatenate([[True], np.diff(freqs) > 0])
    h = firwin2(taps, freqs[keep], gains[keep], fs=sr, window=("kaiser", 9.0))
    x = np.asarray(y, dtype=np.float64)
    full = oaconvolve(x, h.reshape((1,) * (x.ndim - 1) + (-1,)), mode="full", axes=-1)
    delay = (taps - 1) // 2
    return full[..., delay:delay + x.shape[-1]].astype(np.float32)


def add_hiss(y: np.ndarray, *, snr_db: float, seed: int) -> np.ndarray:
    """``y`` plus white noise ``snr_db`` below its RMS (one noise per channel, seeded)."""
    rng = np.random.default_rng(seed)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    noise = rng.standard_normal(y.shape) * rms * 10 ** (-snr_db / 20)
    return (y + noise).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Real codecs through ffmpeg


def ffmpeg_roundtrip(y: np.ndarray, sr: int, codec: str, setting: float) -> np.ndarray:
    """Encode and decode ``(channels, samples)`` with an ffmpeg codec; output aligned with ``y``.

    ``codec`` is opus (``setting`` kbps; runs at 48 kHz), vorbis (``setting`` = quality) or mp3
    (``setting`` kbps). Each encoder's own low-pass is opened as far as it goes, so the chain's
    low-pass sets the bandwidth. The codec delay is measured once per setting and undone.
    """
    rate = 48000 if codec == "opus" else sr
    x = resample_flat(y, sr, rate)
    out = _codec_pass(x, rate, codec, setting)
    lag = codec_delay(codec, rate, x.shape[0], setting)
    out = _shift(out, lag, x.shape[-1])
    return resample_flat(out, rate, sr)


@functools.lru_cache(maxsize=64)
def codec_delay(codec: str, rate: int, channels: int, setting: float) -> int:
    """Samples by which ``codec`` at ``setting`` delays its input, measured on a 2 s noise probe."""
    rng = np.random.default_rng(1234)
    n = 2 * rate
    probe = rng.standard_normal((channels, n)).astype(np.float32) * np.float32(0.1)
    probe *= np.hanning(n).astype(np.float32) ** 0.25
    return estimate_lag(probe, _codec_pass(probe, rate, codec, setting), max_lag=MAX_CODEC_DELAY)


def estimate_lag(reference: np.ndarray, other: np.ndarray, *, max_lag: int) -> int:
    """Lag (samples, ``other`` late is positive) maximizing the cross-correlation of the channel sums."""
    from scipy.signal import correlate

    a = np.asarray(reference, dtype=np.float64).reshape(-1, reference.shape[-1]).sum(0)
    b = np.asarray(other, dtype=np.float64).reshape(-1, other.shape[-1]).sum(0)
    if not np.any(a) or not np.any(b):
        return 0
    xc = correlate(b, a, mode="full", method="fft")
    lags = np.arange(-(a.size - 1), b.size)
    window = np.abs(lags) <= max_lag
    return int(lags[window][np.argmax(xc[window])])


def _shift(y: np.ndarray, lag: int, length: int) -> np.ndarray:
    """Drop ``lag`` leading samples (pad zeros for a negative lag) and cut or pad to ``length``."""
    y = y[..., lag:] if lag >= 0 else np.pad(y, [(0, 0)] * (y.ndim - 1) + [(-lag, 0)])
    if y.shape[-1] < length:
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, length - y.shape[-1])])
    return np.ascontiguousarray(y[..., :length], dtype=np.float32)


def _codec_pass(y: np.ndarray, rate: int, codec: str, setting: float) -> np.ndarray:
    """One encode/decode through ffmpeg pipes (raw float32 in and out); output not yet aligned."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise CodecError(f"the {codec} codec needs ffmpeg, which is not installed "
                         "(apt-get install ffmpeg, or degrade with --codec rvq)")
    channels = y.shape[0]
    raw = ["-f", "f32le", "-ar", str(rate), "-ac", str(channels)]
    if codec == "opus":
        enc = ["-c:a", "libopus", "-b:a", f"{int(setting)}k", "-cutoff", "20000", "-application", "audio", "-f", "ogg"]
    elif codec == "vorbis":
        enc = ["-c:a", "libvorbis", "-q:a", f"{setting:g}", "-cutoff", str(rate // 2), "-f", "ogg"]
    elif codec == "mp3":
        enc = ["-c:a", "libmp3lame", "-b:a", f"{int(setting)}k", "-cutoff", str(rate // 2), "-f", "mp3"]
    else:
        raise BadInputError(f"unknown ffmpeg codec {codec!r}; choose from {', '.join(FFMPEG_CODECS)}")
    base = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1"]
    data = np.ascontiguousarray(y.T, dtype="<f4").tobytes()
    encoded = _run(base + raw + ["-i", "pipe:0", "-map_metadata", "-1"] + enc + ["-fflags", "+bitexact", "pipe:1"], data, codec)
    decoded = _run(base + ["-i", "pipe:0"] + raw + ["pipe:1"], encoded, codec)
    out = np.frombuffer(decoded, dtype="<f4")
    return np.ascontiguousarray(out[: out.size // channels * channels].reshape(-1, channels).T)


def _run(cmd: list[str], data: bytes, codec: str) -> bytes:
    proc = subprocess.run(cmd, input=data, capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise CodecError(f"ffmpeg failed with the {codec} codec: {message[-1] if message else 'no output'}")
    return proc.stdout


# ---------------------------------------------------------------------------------------------
# Built-in MDCT residual vector quantizer


@functools.lru_cache(maxsize=4)
def mdct_basis(hop: int = RVQ_HOP) -> tuple[np.ndarray, np.ndarray]:
    """Sine window ``(2 hop,)`` and cosine basis ``(2 hop, hop)`` of the MDCT (Princen-Bradley TDAC)."""
    n = np.arange(2 * hop)[:, None]
    k = np.arange(hop)[None, :]
    basis = np.cos(np.pi / hop * (n + 0.5 + hop / 2) * (k + 0.5))
    window = np.sin(np.pi * (np.arange(2 * hop) + 0.5) / (2 * hop))
    return window.astype(np.float32), basis.astype(np.float32)


def mdct(y: np.ndarray, *, hop: int = RVQ_HOP) -> np.ndarray:
    """MDCT of ``(..., samples)`` -> ``(..., frames, hop)``; the signal is padded by ``hop`` each side."""
    window, basis = mdct_basis(hop)
    n = y.shape[-1]
    frames = int(np.ceil(n / hop)) + 1
    x = np.pad(np.asarray(y, dtype=np.float32), [(0, 0)] * (y.ndim - 1) + [(hop, (frames + 1) * hop - n - hop)])
    idx = np.arange(frames)[:, None] * hop + np.arange(2 * hop)[None, :]
    return (x[..., idx] * window) @ basis


def imdct(coeffs: np.ndarray, length: int, *, hop: int = RVQ_HOP) -> np.ndarray:
    """Inverse of :func:`mdct`: ``(..., frames, hop)`` -> ``(..., length)`` by windowed overlap-add."""
    window, basis = mdct_basis(hop)
    frames = coeffs.shape[-2]
    seg = (coeffs @ basis.T) * window * np.float32(2.0 / hop)
    out = np.zeros(coeffs.shape[:-2] + ((frames + 1) * hop,), dtype=np.float32)
    for f in range(frames):
        out[..., f * hop:f * hop + 2 * hop] += seg[..., f, :]
    return out[..., hop:hop + length]


def band_shapes(coeffs: np.ndarray, *, dim: int = RVQ_DIM) -> tuple[np.ndarray, np.ndarray]:
    """Split ``(..., frames, hop)`` MDCT frames into unit-RMS vectors ``(..., frames, bands, dim)`` and band RMS."""
    bands = coeffs.reshape(coeffs.shape[:-1] + (-1, dim))
    rms = np.sqrt(np.mean(bands ** 2, axis=-1, keepdims=True)) + 1e-9
    return bands / rms, rms


def band_regions(bands: int, regions: int) -> np.ndarray:
    """Codebook region of each band: ``regions`` groups of consecutive bands."""
    return np.minimum(np.arange(bands) * regions // bands, regions - 1)


@functools.lru_cache(maxsize=2)
def load_codebooks(path: str = str(CODEBOOKS)) -> np.ndarray:
    """Codebooks ``(stages, regions, entries, dim)`` float32 from the shipped ``.npz``."""
    if not Path(path).exists():
        raise CodecError(f"RVQ codebooks not found at {path}; run scripts/train_rvq.py")
    with np.load(path) as data:
        books = data["codebooks"].astype(np.float32)
        if int(data["hop"]) != RVQ_HOP or books.shape[-1] != RVQ_DIM:
            raise CodecError(f"{path} was trained for another MDCT hop or vector size")
    return books


def nearest(vectors: np.ndarray, book: np.ndarray) -> np.ndarray:
    """Index of the nearest codeword of ``book (entries, dim)`` for each row of ``vectors (m, dim)``."""
    scores = vectors @ book.T - 0.5 * np.sum(book ** 2, axis=1)
    return np.argmax(scores, axis=1)


def rvq_quantize(shapes: np.ndarray, codebooks: np.ndarray, *, stages: int) -> np.ndarray:
    """Residual VQ of unit-RMS band vectors ``(..., bands, dim)`` with the first ``stages`` stages."""
    regions = band_regions(shapes.shape[-2], codebooks.shape[1])
    out = np.zeros_like(shapes)
    residual = shapes.copy()
    for stage in range(stages):
        for region in range(codebooks.shape[1]):
            book = codebooks[stage, region]
            sel = residual[..., regions == region, :]
            flat = sel.reshape(-1, sel.shape[-1])
            q = book[nearest(flat, book)].reshape(sel.shape)
            out[..., regions == region, :] += q
            residual[..., regions == region, :] -= q
    return out


def rvq_roundtrip(y: np.ndarray, *, stages: int, codebooks: np.ndarray | None = None) -> np.ndarray:
    """Quantize ``(..., samples)`` at 32 kHz through the MDCT RVQ with ``stages`` (1-4) stages.

    Band RMS values (400 Hz bands, 50 frames/s) are kept to 1.5 dB steps; the band shapes go
    through the residual vector quantizer. Output has the input's shape, aligned at lag 0.
    """
    books = load_codebooks() if codebooks is None else codebooks
    if not 1 <= stages <= books.shape[0]:
        raise BadInputError(f"RVQ stages must be within [1, {books.shape[0]}], got {stages}")
    shapes, rms = band_shapes(mdct(y))
    step = 1.5 / 20 * np.log2(10)  # 1.5 dB in log2 units
    rms = 2 ** (np.round(np.log2(rms) / step) * step)
    q = rvq_quantize(shapes, books, stages=stages) * rms
    return imdct(q.reshape(q.shape[:-2] + (-1,)), y.shape[-1]).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .arguments import seed_number

    parser.add_argument("input", help="clean audio file (WAV, FLAC, OGG, MP3)")
    parser.add_argument("output", help="degraded 32 kHz file to write (.wav or .flac)")
    parser.add_argument("--seed", type=seed_number, default=0, help="random draw of the chain, 0 or more (default 0)")
    parser.add_argument("--codec", choices=("auto",) + CODECS, default="auto",
                        help="force one codec (default: drawn; rvq works without ffmpeg)")
    parser.add_argument("--format", default="pcm16", choices=("pcm16", "pcm24", "float"), help="sample format")


def run(args: argparse.Namespace) -> int:
    from .arguments import check_writable
    from .audio import check_signal, load_audio, save_audio

    check_writable(args.output)
    config = DegradeConfig() if args.codec == "auto" else DegradeConfig().only(args.codec)
    y, sr = load_audio(args.input)
    y = check_signal(y, sr)
    params = draw_params(args.seed, config)
    out = apply_chain(y, sr, params)
    save_audio(args.output, out, OUT_SR, subtype=args.format, source=args.input)
    hiss = "none" if params.hiss_snr_db is None else f"SNR {params.hiss_snr_db:.0f} dB"
    print(f"{args.output}: 32000 Hz, codec {params.codec} {params.codec_setting:g}, RVQ stages {params.rvq_stages}, "
          f"low-pass {params.cutoff_hz:.0f} Hz, {params.slope_db_per_khz:.0f} dB/kHz, shape {params.shape:.2f}, hiss {hiss}")
    return 0
