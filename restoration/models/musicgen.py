"""Text-to-music generation with MusicGen (transformers), the source of the audio this project restores.

Models load from a Hugging Face id or a local folder (``save_pretrained`` output holding the model
and its processor) and are cached per (model, device). Torch and transformers are imported on first use.

>>> y, sr = generate("a calm lofi song", duration_s=5.0, seed=1)   # float32 (channels, samples), 32000
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MissingModelError, first_line
from . import hub
from .device import resolve_device
from ..registry import Param

#: Model used when neither the caller nor ``MUSICGEN_MODEL`` names one.
DEFAULT_MODEL = "facebook/musicgen-small"
#: The published checkpoints, offered in the app's model field (any id or local folder also works).
KNOWN_MODELS = (
    "facebook/musicgen-small", "facebook/musicgen-medium", "facebook/musicgen-large",
    "facebook/musicgen-stereo-small", "facebook/musicgen-stereo-medium", "facebook/musicgen-stereo-large",
)
#: Generation settings with their ranges; the app builds its controls from these.
PARAMS = (
    Param("duration_s", "float", 10.0, "length of the clip, seconds (50 tokens per second)", 1.0, 30.0),
    Param("guidance_scale", "float", 3.0, "classifier-free guidance weight (1 = none)", 1.0, 20.0),
    Param("temperature", "float", 1.0, "sampling temperature", 0.05, 3.0),
    Param("top_k", "int", 250, "sample among the k most likely tokens (0 = all)", 0, 2048),
    Param("seed", "int", 0, "random seed; the same seed and settings give the same clip (-1 = random)", -1, 2**31 - 1),
)
_FIX = ("point MUSICGEN_MODEL (or, for the app, --models-dir) at a local folder holding a saved MusicGen "
        "(model.save_pretrained + processor.save_pretrained), or allow downloads from the Hugging Face hub")

Progress = Callable[[int, int], None] | None


def default_model() -> str:
    """``$MUSICGEN_MODEL`` when set, else :data:`DEFAULT_MODEL`."""
    return os.environ.get("MUSICGEN_MODEL", "").strip() or DEFAULT_MODEL


def resolve_model(model: str | os.PathLike | None = None) -> str:
    """The model to load: ``model``, else :func:`default_model`.

    An existing folder becomes its absolute path; a name that looks like a path but does not exist
    raises :class:`MissingModelError`.
    """
    name = (str(model).strip() if model is not None else "") or default_model()
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if path.is_absolute() or name.startswith((".", "~")) or path.exists():
        raise MissingModelError(f"MusicGen model folder not found: {name}; {_FIX}")
    return name


@functools.lru_cache(maxsize=2)
def load_musicgen(model: str, device: str):
    """Load ``(MusicgenForConditionalGeneration, processor)`` onto ``device``, cached per (model, device).

    ``model`` is a hub id or a folder (use :func:`resolve_model`). Any failure (offline, unknown id,
    incomplete folder, out of memory) raises :class:`MissingModelError` saying what happened and how
    to fix it; failures are not cached, so a later call retries.
    """
    if not hub.musicgen_cached(model) and not hub.reachable("musicgen"):
        raise MissingModelError(f"cannot load MusicGen model {model!r}: it is not on this machine and cannot be "
                                f"downloaded ({hub.unreachable_reason('musicgen')}); {_FIX}")
    import torch
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    try:
        net = MusicgenForConditionalGeneration.from_pretrained(model)
        processor = AutoProcessor.from_pretrained(model)
        net = net.to(device).eval()
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise MissingModelError(f"out of GPU memory loading MusicGen {model}; pick a smaller model "
                                f"(e.g. {DEFAULT_MODEL}) or free the GPU") from None
    except Exception as exc:  # hub, file-format and config errors all mean: this model cannot be loaded here
        raise MissingModelError(f"cannot load MusicGen model {model!r} ({first_line(exc)}); {_FIX}") from exc
    return net, processor


def generate(prompt: str, *, model: str | None = None, duration_s: float = 10.0, guidance_scale: float = 3.0,
             temperature: float = 1.0, top_k: int = 250, seed: int = 0, device: str = "auto",
             progress: Progress = None) -> tuple[np.ndarray, int]:
    """Generate music for a text ``prompt``.

    Parameters
    ----------
    prompt : text description; empty means unconditional generation.
    model : hub id or local folder (default: ``$MUSICGEN_MODEL`` or :data:`DEFAULT_MODEL`).
    duration_s : length of the result in seconds, 1 to 30 (the model makes 50 tokens per second).
    guidance_scale : classifier-free guidance weight (1 = none; 3 is MusicGen's default).
    temperature, top_k : sampling temperature (> 0) and number of most likely tokens kept (0 = all).
    seed : makes the sampling repeatable; -1 draws a fresh one.
    progress : ``progress(done, total)`` called once per generated token step.

    Returns
    -------
    ``(y, sr)``: float32 ``(channels, round(duration_s * sr))`` and the codec rate (32000 for MusicGen).
    """
    import torch
    from transformers import LogitsProcessorList

    given = dict(duration_s=duration_s, guidance_scale=guidance_scale, temperature=temperature, top_k=top_k, seed=seed)
    duration_s, guidance_scale, temperature, top_k, seed = (p.coerce(given[p.name], method="musicgen") for p in PARAMS)
    net, processor = load_musicgen(resolve_model(model), resolve_device(device))
    codec = net.config.audio_encoder
    sr = int(codec.sampling_rate)
    n_out = int(round(duration_s * sr))
    # Each channel's codebooks are delayed by one step each, so the last frame needs that many extra steps.
    delay = net.decoder.num_codebooks // net.decoder.config.audio_channels - 1
    steps = math.ceil(duration_s * codec.frame_rate) + delay
    inputs = processor(text=[str(prompt)], padding=True, return_tensors="pt").to(net.device)
    counter = _StepCounter(steps, progress)
    with torch.random.fork_rng(devices=[net.device.index or 0] if net.device.type == "cuda" else []), torch.inference_mode():
        torch.manual_seed(seed if seed >= 0 else int(np.random.SeedSequence().entropy % 2**32))
        try:
            audio = net.generate(**inputs, do_sample=True, guidance_scale=float(guidance_scale),
                                 temperature=float(temperature), top_k=int(top_k), max_new_tokens=steps,
                                 logits_processor=LogitsProcessorList([counter]))
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise MissingModelError(f"out of GPU memory generating {duration_s:g} s with {model or 'MusicGen'}; "
                                    "generate a shorter clip or pick a smaller model") from None
    y = audio[0].float().cpu().numpy()
    y = np.pad(y, ((0, 0), (0, max(0, n_out - y.shape[-1]))))[:, :n_out]
    if progress is not None:
        progress(steps, steps)
    return np.ascontiguousarray(y, dtype=np.float32), sr


class _StepCounter:
    """A logits processor that changes nothing and reports each generation step to ``progress``."""

    def __init__(self, total: int, progress: Progress):
        self.total, self.done, self.progress = total, 0, progress

    def __call__(self, input_ids, scores):
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)
        return scores
