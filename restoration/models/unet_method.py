"""The ``unet`` method: the trained spectral U-Net over any length, mono or stereo, at 48 kHz."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from ..audio import resample
from ..chunking import overlap_add
from ..dsp.cutoff import estimate_cutoff
from ..dsp.sbr import continue_top
from .device import resolve_device
from .checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

OUTPUT_SR = 48000
#: Chunk and cross-fade lengths at 48 kHz, seconds; chunks per model call on CPU and on CUDA.
CHUNK_S = 10.0
OVERLAP_S = 0.5
BATCH = {"cpu": 1, "cuda": 8}
#: Above this frequency the trained band (whose corpus is mostly 44.1 kHz music) gives way to its
#: continuation to Nyquist (``top``): loses TOP_DECAY_DB_PER_KHZ per kHz, and a further TOP_TAPER_DB from
#: TOP_TAPER_FROM_HZ to Nyquist (a raised cosine in dB), as full-band recordings fade (docs/unet.md).
TOP_START_HZ = 19500.0
TOP_DECAY_DB_PER_KHZ = 2.0
TOP_TAPER_FROM_HZ = 20500.0
TOP_TAPER_DB = 25.0


def restore(y: np.ndarray, sr: int, *, strength: float = 1.0, air: float = 0.0, top: bool = True,
            checkpoint: str = "", device: str = "auto", progress=None) -> np.ndarray:
    """Restore ``y`` (float32 ``(channels, samples)`` at ``sr`` Hz) to 48 kHz with the U-Net.

    ``strength`` mixes the resampled input (0) with the restoration (1); ``air`` (-1 to 1) sets the level
    of the new band, ``air * air_db`` dB (6 dB by default) around the trained balance; ``top`` continues the
    new band above :data:`TOP_START_HZ` to Nyquist when the input's cutoff is below it; ``checkpoint`` is a folder
    with ``model.safetensors`` + ``config.json`` (empty: the shipped weights); ``device`` is auto, cpu
    or cuda. Channels are restored one after the other (bounded memory on long files), each in
    overlap-added chunks of equal length near 10 s, aligned with the model's frame grid, cross-faded
    over about 0.5 s; ``BATCH[device]`` chunks go through the model at once.
    Returns float32 ``(channels, round(samples * 48000 / sr))``.
    """
    device = resolve_device(device)
    model = _model(str(Path(checkpoint).expanduser().resolve()) if checkpoint else str(DEFAULT_CHECKPOINT), device)
    if strength <= 0.0:
        if progress is not None:
            progress(1, 1)
        return resample(y, sr, OUTPUT_SR)
    grid = model.config.hop * model.frame_multiple  # chunks start on the model's frame grid
    overlap = grid * max(1, round(OVERLAP_S * OUTPUT_SR / grid))
    out = None
    for c in range(y.shape[0]):  # one channel at a time: only one resampled channel is held
        wide = resample(y[c:c + 1], sr, OUTPUT_SR)
        if out is None:
            n = wide.shape[-1]
            out = np.empty((y.shape[0], n), dtype=np.float32)
        input_cutoff = estimate_cutoff(wide, OUTPUT_SR)  # whole channel: one cutoff
        cutoff = input_cutoff if model.config.envelope_prior else None
        span = n + overlap
        count = max(1, round(span / max(grid, round(CHUNK_S * OUTPUT_SR) - overlap)))
        chunk = grid * math.ceil((math.ceil(span / count) + overlap) / grid)  # equal chunks, 0.7-1.5 x CHUNK_S
        overlap_add(lambda batch: _apply(model, batch, device, float(air), cutoff), wide[..., :n],
                    chunk=chunk, overlap=overlap, batch_size=BATCH[device], out=out[c:c + 1],
                    progress=_channel_progress(progress, c, y.shape[0]))
        if top and input_cutoff < TOP_START_HZ:
            out[c] = continue_top(out[c], start_hz=TOP_START_HZ, decay_db_per_khz=TOP_DECAY_DB_PER_KHZ,
                                  taper_from_hz=TOP_TAPER_FROM_HZ, taper_db=TOP_TAPER_DB)
        if strength < 1.0:
            out[c] = wide[0, :n] + np.float32(strength) * (out[c] - wide[0, :n])
        del wide
    return out


def _channel_progress(progress, channel: int, channels: int):
    if progress is None:
        return None
    return lambda done, total: progress(channel * total + done, channels * total)


def _apply(model, batch: np.ndarray, device: str, air: float = 0.0, cutoff_hz: float | None = None) -> np.ndarray:
    """``(k, channels, n)`` float32 -> ``model(batch, air, cutoff_hz)``, same shape."""
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
        return model(x, air=air, cutoff_hz=cutoff_hz).float().cpu().numpy()


@functools.lru_cache(maxsize=4)
def _model(folder: str, device: str):
    """The checkpoint in ``folder`` loaded on ``device`` (cached per folder and device)."""
    return load_checkpoint(folder, device=device)
