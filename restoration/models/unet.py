"""Spectral U-Net: phase-coherent bandwidth extension and artifact removal at 48 kHz.

The model takes waveforms ``(batch, channels, samples)`` at 48 kHz (the input resampled, so the band
above the source's cutoff is empty) and returns waveforms of the same shape. Inside:

1. ``torch.stft`` (Hann, ``n_fft`` 1024, hop 256 by default) gives ``X`` of shape ``(b, bins, frames)``.
2. Per band of ``band_stride`` bins (375 Hz), the log power relative to the frame's level and the
   peak-to-mean ratio (tonal or noisy) form the channels of a U-Net along time: residual 1-D
   convolutions, halved in time per level, skips added. Every layer sees the whole spectrum of a
   frame (where the cutoff is, the spectral tilt), and the deepest level about a second of context.
3. A 1x1 head gives, per band and frame, a bounded real mask for the existing spectrum (identity at
   initialisation) and non-negative gains for ``len(shifts)`` copies of the spectrum shifted up by
   ``shifts`` bins ("learned spectral band replication"); the stem strides ``time_stride`` frames, and
   the controls are held over that many frames (the copies carry the transients at full resolution).
4. ``C = sum_s gain_s * shift_s(X)`` band by band (copies only between ``replicate_from_hz`` and
   ``replicate_to_hz``); with ``noise``, a noise component ``N = noise_gain * rms(C) * U`` (U: unit
   phasors of a fixed seed, rms over the band's bins) fills what the copies leave tonal or empty;
   ``Y = mask * X + air * (C + N)``, then ``torch.istft``. With ``envelope_prior`` (version 4) ``C`` also holds
   ``gain_p * P``: the band above each input's cutoff replicated by the ``sbr`` rule
   (:mod:`restoration.models.envelope_prior`), so the network learns a correction in dB per band and frame
   of a clip-specific envelope instead of an average level per band. ``air`` is the user's control of the new
   band's level, ``10 ** (air * air_db / 20)``: 0 is the trained balance, +1 brighter, -1 darker.
   With ``keep_below_cutoff`` (version 5) every bin under the input's cutoff is ``X`` itself.

Every shift is a multiple of ``n_fft / hop`` bins (and of ``band_stride``), so a shifted copy is
exactly the STFT of the input modulated up by ``shift * sr / n_fft`` Hz: the new band keeps the
phase and the transients of the band it comes from, frame after frame, instead of being shaped noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .envelope_prior import item_cutoffs, replicated_band


#: Bounds of an architecture (:meth:`UNetConfig.check_sizes`): the shipped model has 0.4 M parameters.
MAX_N_FFT = 8192
MAX_LEVELS = 6
MAX_CHANNELS = 1024
MAX_SHIFTS = 64
MAX_PARAMETERS = 20_000_000


@dataclass(frozen=True)
class UNetConfig:
    """Architecture and STFT settings; stored in ``config.json`` under ``"model"``.

    ``shifts`` are in bins and must be multiples of ``n_fft // hop``; the replicated copies write only
    to whole bands between ``replicate_from_hz`` and ``replicate_to_hz`` (Hz: real music, mostly
    from 44.1 kHz sources, has nothing above 22.05 kHz); ``mask_max`` bounds the mask. ``noise`` adds
    the noise component (one more gain per band); ``air_db`` is the new band's gain at ``air = 1``.
    ``envelope_prior`` (version 4) adds the band replicated from each input's cutoff by the ``sbr`` rule
    (:mod:`restoration.models.envelope_prior`, losing ``prior_decay_db_per_khz`` dB per kHz) with a
    learned gain per band and frame (one more output, 0 dB at initialisation). ``keep_below_cutoff``
    (version 5; needs ``envelope_prior``, which knows each input's cutoff) passes every bin below the
    cutoff through as it came in: the mask and the copies act only from the cutoff up.
    """

    sample_rate: int = 48000
    n_fft: int = 1024
    hop: int = 256
    band_stride: int = 8
    time_stride: int = 2
    channels: tuple[int, ...] = (64, 96, 128)
    shifts: tuple[int, ...] = (64, 96, 128, 160, 192, 224, 256, 288, 320, 352)
    replicate_from_hz: float = 6000.0
    replicate_to_hz: float = 22050.0
    mask_max: float = 2.0
    gain_init: float = -10.0
    noise: bool = True
    air_db: float = 6.0
    envelope_prior: bool = False
    prior_decay_db_per_khz: float = 1.5
    keep_below_cutoff: bool = False

    def __post_init__(self) -> None:
        self.check_sizes()
        bins = self.n_fft // 2
        step = self.n_fft // self.hop
        if self.n_fft % self.hop or bins % self.band_stride:
            raise ValueError("hop must divide n_fft and band_stride must divide n_fft // 2")
        step = math.lcm(step, self.band_stride)
        if any(s % step or not 0 < s < bins for s in self.shifts):
            raise ValueError(f"shifts must be multiples of {step} bins in (0, {bins})")
        if self.time_stride not in (1, 2, 4):
            raise ValueError("time_stride must be 1, 2 or 4")
        if self.keep_below_cutoff and not self.envelope_prior:
            raise ValueError("keep_below_cutoff needs envelope_prior (the model knows each input's cutoff through it)")

    def check_sizes(self) -> None:
        """ValueError for sizes no model should have (a config from a checkpoint folder is not trusted):
        so an absurd ``config.json`` is refused before anything is allocated."""
        whole = {"sample_rate": (8000, 384000), "n_fft": (64, MAX_N_FFT), "hop": (1, MAX_N_FFT),
                 "band_stride": (1, MAX_N_FFT), "time_stride": (1, 4)}
        for name, (low, high) in whole.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
        if not 1 <= len(self.channels) <= MAX_LEVELS or not all(1 <= c <= MAX_CHANNELS for c in self.channels):
            raise ValueError(f"channels must be 1 to {MAX_LEVELS} widths from 1 to {MAX_CHANNELS}, "
                             f"got {list(self.channels)}")
        if len(self.shifts) > MAX_SHIFTS:
            raise ValueError(f"at most {MAX_SHIFTS} shifts, got {len(self.shifts)}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise ValueError(f"{self.parameter_count():,} parameters; at most {MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """The number of weights :class:`SpectralUNet` has for this config (computed, nothing allocated)."""
        def conv(c_in: int, c_out: int, taps: int) -> int:
            return c_in * c_out * taps + c_out

        def block(c_in: int, c_out: int) -> int:
            return conv(c_in, c_out, 3) + conv(c_out, c_out, 3) + (conv(c_in, c_out, 1) if c_in != c_out else 0)

        ch, bands = self.channels, self.n_fft // 2 // self.band_stride
        outputs = 1 + len(self.shifts) + bool(self.noise) + bool(self.envelope_prior)
        return (conv(2 * bands + 1, ch[0], 2 * self.time_stride) + block(ch[0], ch[0])
                + sum(block(ch[i - 1], ch[i]) + conv(ch[i - 1], ch[i - 1], 2) + conv(ch[i], ch[i - 1], 2)
                      + block(ch[i - 1], ch[i - 1]) for i in range(1, len(ch)))
                + conv(ch[0], bands * outputs, 1))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["channels"] = list(self.channels)
        out["shifts"] = list(self.shifts)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "UNetConfig":
        values = dict(values)
        for key in ("channels", "shifts"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)


class _Block(nn.Module):
    """Two 3-tap convolutions along time (the second dilated) with a residual connection."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=2, dilation=2)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv2(F.gelu(self.conv1(F.gelu(x))))


class SpectralUNet(nn.Module):
    """Waveform ``(b, c, n)`` at 48 kHz -> restored waveform ``(b, c, n)``; see the module docstring."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        self.bands = cfg.n_fft // 2 // cfg.band_stride
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.first_band = int(math.ceil(cfg.replicate_from_hz * cfg.n_fft / cfg.sample_rate / cfg.band_stride))
        self.band_shifts = tuple(s // cfg.band_stride for s in cfg.shifts)
        band_hz = cfg.sample_rate / cfg.n_fft * cfg.band_stride
        self.last_band = min(self.bands, int(cfg.replicate_to_hz // band_hz))  # bands first..last-1 get copies
        if not self.first_band < self.last_band:
            raise ValueError("replicate_from_hz must be below replicate_to_hz and the Nyquist frequency")
        ch, ts = cfg.channels, cfg.time_stride
        self.stem = nn.Conv1d(2 * self.bands + 1, ch[0], 2 * ts, stride=ts, padding=ts // 2)
        self.enc = nn.ModuleList([_Block(ch[0], ch[0])] + [_Block(ch[i - 1], ch[i]) for i in range(1, len(ch))])
        self.down = nn.ModuleList([nn.Conv1d(ch[i], ch[i], 2, stride=2) for i in range(len(ch) - 1)])
        self.up = nn.ModuleList([nn.ConvTranspose1d(ch[i + 1], ch[i], 2, stride=2) for i in range(len(ch) - 1)])
        self.dec = nn.ModuleList([_Block(ch[i], ch[i]) for i in range(len(ch) - 1)])
        self.outputs = len(self.head_blocks())
        self.head = nn.Conv1d(ch[0], self.bands * self.outputs, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[self.bands:] = cfg.gain_init
            if cfg.envelope_prior:  # the prior starts at its own level (0 dB)
                self.head.bias[-self.bands:] = 0.0
        self._mask_offset = math.log(1.0 / (cfg.mask_max - 1.0))  # sigmoid(offset) * max == 1

    def head_blocks(self) -> list[str]:
        """Names of the head's output blocks of ``bands`` rows each, in order: the mask, one gain per
        shift (``shift:<bins>``), the noise gain, the envelope prior's gain."""
        cfg = self.config
        return (["mask"] + [f"shift:{s}" for s in cfg.shifts] + ["noise"] * cfg.noise
                + ["prior"] * cfg.envelope_prior)

    @property
    def frame_multiple(self) -> int:
        return self.config.time_stride * 2 ** (len(self.config.channels) - 1)

    def spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """``(b, n)`` -> complex STFT ``(b, n_fft // 2 + 1, frames)``."""
        cfg = self.config
        return torch.stft(wave, cfg.n_fft, cfg.hop, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex ``(b, bins + 1, frames)`` -> ``(b, 2 * bands + 1, frames)``: per band the log mean power
        relative to the frame's level and the log peak-to-mean ratio; last, the frame's level."""
        b, _, frames = spec.shape
        power = (spec.real.square() + spec.imag.square())[:, :-1].reshape(b, self.bands, -1, frames)
        mean = power.mean(dim=2)
        level = torch.log(mean.mean(dim=1, keepdim=True) + 1e-9)
        log_mean = torch.log(mean + 1e-9)
        peak = torch.log(power.amax(dim=2) + 1e-9) - log_mean
        return torch.cat([(log_mean - level) * 0.2, peak * 0.5, (level + 5.0) * 0.2], dim=1)

    def controls(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Complex ``(b, bins + 1, frames)`` -> band mask ``(b, bands, frames)`` and gains
        ``(b, shifts (+ 1 noise gain), last_band - first_band, frames)``."""
        cfg = self.config
        frames = spec.shape[-1]
        pad = (-frames) % self.frame_multiple
        x = self.features(spec)
        if pad:
            x = F.pad(x, (0, pad))
        x = self.stem(x)
        skips = []
        for level, block in enumerate(self.enc):
            x = block(x)
            if level < len(self.down):
                skips.append(x)
                x = self.down[level](x)
        for level in reversed(range(len(self.dec))):
            x = self.dec[level](self.up[level](x) + skips[level])
        out = self.head(F.gelu(x))
        if cfg.time_stride > 1:
            out = out.repeat_interleave(cfg.time_stride, dim=-1)
        out = out[..., :frames].reshape(out.shape[0], self.outputs, self.bands, frames)
        mask = cfg.mask_max * torch.sigmoid(out[:, 0] + self._mask_offset)
        gains = torch.exp(out[:, 1:, self.first_band:self.last_band].clamp(max=4.0))
        return mask, gains

    def restore_spectrum(self, spec: torch.Tensor, air: float = 0.0, cutoff_hz: torch.Tensor | None = None
                         ) -> torch.Tensor:
        """Complex ``(b, bins + 1, frames)`` -> restored complex spectrum of the same shape.

        Band ``j`` becomes ``mask_j * X_j + a * (C_j + N_j)`` with ``C_j = sum_s gain_sj * X_(j - shift_s)``
        (plus, with ``envelope_prior``, ``gain_pj * P_j``: the prior of the inputs cut at ``cutoff_hz``
        ``(b,)`` Hz), the noise ``N_j`` (with ``noise``) and ``a = 10 ** (air * air_db / 20)``, only from
        ``first_band`` to ``last_band - 1``; with ``keep_below_cutoff``, every bin under the cutoff stays
        ``X``. Computed on real ``(b, bands, 2 * band_stride, frames)`` tensors, frames last, where the
        broadcasts are cheap.
        """
        cfg = self.config
        mask, gains = self.controls(spec)
        b, bins, frames = spec.shape
        real = self._banded(spec)
        out = real * mask.unsqueeze(2)
        first, last = self.first_band, self.last_band
        copies = torch.zeros_like(out[:, first:last])
        for i, shift in enumerate(self.band_shifts):
            lo = max(first, shift)
            copies[:, lo - first:].addcmul_(real[:, lo - shift:last - shift], gains[:, i, lo - first:].unsqueeze(2))
        if cfg.envelope_prior:
            if cutoff_hz is None:
                raise ValueError("a model with an envelope prior needs the inputs' cutoffs")
            prior = replicated_band(spec, cutoff_hz, sample_rate=cfg.sample_rate, hop=cfg.hop,
                                    to_hz=cfg.replicate_to_hz, min_hz=cfg.replicate_from_hz,
                                    decay_db_per_khz=cfg.prior_decay_db_per_khz)
            copies = copies + self._banded(prior)[:, first:last] * gains[:, -1].unsqueeze(2)
        if cfg.noise:  # |C| averaged over the band's bins (re and im both in dim 2: twice the mean square)
            rms = (2.0 * copies.square().mean(dim=2, keepdim=True)).sqrt()  # (b, new bands, 1, frames)
            noise_gain = gains[:, len(cfg.shifts)]
            copies = copies + self.unit_noise(copies.shape, spec.device) * (rms * noise_gain.unsqueeze(2))
        if air:
            copies = copies * 10.0 ** (float(air) * cfg.air_db / 20.0)
        out[:, first:last] += copies
        result = torch.empty_like(spec)
        parts = torch.view_as_real(result)
        parts[:, :-1] = out.reshape(b, bins - 1, 2, frames).transpose(2, 3)
        parts[:, -1] = torch.view_as_real(spec[:, -1]) * mask[:, -1].unsqueeze(-1)
        if cfg.keep_below_cutoff:  # bins wholly under each item's cutoff stay the input's
            below = torch.floor(cutoff_hz.to(spec.device) * cfg.n_fft / cfg.sample_rate).view(-1, 1, 1)
            result = torch.where(torch.arange(bins, device=spec.device).view(1, -1, 1) < below, spec, result)
        return result

    def _banded(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex ``(b, bins + 1, frames)`` -> real ``(b, bands, 2 * band_stride, frames)`` (Nyquist bin dropped)."""
        b, _, frames = spec.shape
        return torch.view_as_real(spec[:, :-1]).transpose(2, 3).reshape(b, self.bands, -1, frames)

    @staticmethod
    def unit_noise(shape: torch.Size, device) -> torch.Tensor:
        """Unit-modulus complex noise as real ``shape`` = ``(b, bands, 2 * band_stride, frames)`` (real and
        imaginary parts interleaved along dim 2), from a fixed seed: the output stays deterministic."""
        generator = torch.Generator(device="cpu").manual_seed(0)
        b, bands, pairs, frames = shape
        angle = 2 * math.pi * torch.rand((b, bands, pairs // 2, 1, frames), generator=generator)
        return torch.cat([torch.cos(angle), torch.sin(angle)], dim=3).reshape(shape).to(device)

    def forward(self, wave: torch.Tensor, air: float = 0.0, cutoff_hz: float | None = None) -> torch.Tensor:
        """``(b, c, n)`` or ``(b, n)`` float at 48 kHz -> the same shape; ``air`` in [-1, 1] sets the new band's
        level. ``cutoff_hz`` (envelope prior only) is the inputs' cutoff; None: estimated for each row."""
        shape = wave.shape
        flat = wave.reshape(-1, shape[-1])
        cutoffs = None
        if self.config.envelope_prior:
            cutoffs = (item_cutoffs(flat, self.config.sample_rate) if cutoff_hz is None
                       else torch.full((flat.shape[0],), float(cutoff_hz)))
        spec = self.restore_spectrum(self.spectrum(flat), air, cutoffs)
        cfg = self.config
        out = torch.istft(spec, cfg.n_fft, cfg.hop, window=self.window, center=True, length=shape[-1])
        return out.reshape(shape)
