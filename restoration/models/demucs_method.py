"""Zero-shot Demucs restoration: separate into stems with demucs 4.1, then remix them with gains.

What belongs to no instrument (hiss, codec garbage) ends up in the residual, the mixture minus the
sum of the stems; ``residual_gain=0`` drops it. Long inputs go through demucs's own
``apply_model`` split/segment/overlap; models are cached per (name, repo folder, device).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import random
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio import check_signal, resample, to_channels
from ..errors import BadParameterError, MissingModelError, first_line
from ..registry import get_method
from . import hub
from .device import resolve_device

Progress = Callable[[int, int], None] | None
#: Shortest segment in seconds that ``segment`` may ask for (0 keeps the model's own).
MIN_SEGMENT_S = 1.0
#: Seed of demucs's random time shifts and of the random init of ``demucs_unittest``:
#: the same input and settings give the same output.
SEED = 0
_SPEC = "demucs"


def separate(y: np.ndarray, sr: int, *, model: str = "htdemucs", repo: str = "", shifts: int = 1,
             overlap: float = 0.25, segment: float = 0.0, device: str = "auto",
             progress: Progress = None) -> tuple[dict[str, np.ndarray], int]:
    """Separate ``y`` (float32 ``(channels, samples)`` at ``sr`` Hz) into the model's stems.

    Parameters
    ----------
    model : pretrained name (``htdemucs``, ``htdemucs_ft``, ``htdemucs_6s``, ``mdx_extra``,
        ``demucs_unittest``) or, with ``repo``, a bag (``<name>.yaml``) or signature (``<sig>.th``) in it.
    repo : local folder of model files; empty downloads from the hub (or uses its cache).
    shifts : random time shifts averaged (0 = none). overlap : overlap of segments, 0..0.95.
    segment : segment length in seconds, 0 = the model's (at most the model's for HTDemucs).
    device : ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    progress : ``progress(done, total)`` over the model's segments.

    Returns
    -------
    ``({stem: float32 (channels, n)}, rate)``: stems in the model's order, at the input's channel
    count and the model's rate (44100 Hz), ``n = round(samples * rate / sr)``.
    """
    import torch
    from demucs.apply import apply_model

    y = check_signal(y, sr)
    spec = get_method(_SPEC)
    shifts = spec.param("shifts").coerce(shifts, method=_SPEC)
    overlap = spec.param("overlap").coerce(overlap, method=_SPEC)
    net, where = load_model(model, repo=repo, device=device)
    seconds = _segment(net, spec.param("segment").coerce(segment, method=_SPEC), model)
    rate = int(net.samplerate)
    mix = torch.from_numpy(to_channels(resample(y, sr, rate), net.audio_channels))
    ref = mix.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8  # demucs's own input normalisation (api.py)
    counter = _Counter(progress, _segment_count(net, mix.shape[-1], shifts, overlap, seconds))
    with torch.inference_mode(), _seeded_shifts():
        out = apply_model(net, ((mix - mean) / std)[None], shifts=shifts, split=True, overlap=overlap,
                          segment=seconds, device=where, callback=counter, progress=False)
    out = (out[0] * std + mean).float().cpu().numpy()
    counter.finish()
    stems = {name: to_channels(np.ascontiguousarray(out[i]), y.shape[0]) for i, name in enumerate(net.sources)}
    return stems, rate


def restore(y: np.ndarray, sr: int, *, model: str = "htdemucs", repo: str = "", shifts: int = 1,
            overlap: float = 0.25, segment: float = 0.0, drums_gain: float = 1.0, bass_gain: float = 1.0,
            other_gain: float = 1.0, vocals_gain: float = 1.0, guitar_gain: float = 1.0,
            piano_gain: float = 1.0, residual_gain: float = 0.0, stem_method: str = "none",
            stem: str = "other", output_sr: int = 0, device: str = "auto",
            progress: Progress = None) -> np.ndarray:
    """Separate ``y`` with :func:`separate` and :func:`remix` the stems with these gains.

    Returns float32 ``(channels, round(samples * out_rate / sr))`` at ``output_sr`` (0 = ``sr``).
    Gains of stems the model lacks (guitar and piano on 4-stem models) are ignored.
    """
    y = check_signal(y, sr)
    net, _ = load_model(model, repo=repo, device=device)
    if stem_method != "none" and stem not in net.sources:  # fail before the long separation
        raise BadParameterError(f"demucs.stem={stem!r} is not a stem of model {model!r} "
                                f"(stems: {', '.join(net.sources)})")
    stems, rate = separate(y, sr, model=model, repo=repo, shifts=shifts, overlap=overlap,
                           segment=segment, device=device, progress=progress)
    gains = {"drums": drums_gain, "bass": bass_gain, "other": other_gain, "vocals": vocals_gain,
             "guitar": guitar_gain, "piano": piano_gain}
    return remix(y, sr, stems, rate, gains=gains, residual_gain=residual_gain, stem_method=stem_method,
                 stem=stem, output_sr=output_sr)


def remix(y: np.ndarray, sr: int, stems: dict[str, np.ndarray], rate: int, *, gains: dict[str, float] | None = None,
          residual_gain: float = 0.0, stem_method: str = "none", stem: str = "other",
          output_sr: int = 0) -> np.ndarray:
    """``sum(gain_s * stem_s) + residual_gain * (mix - sum(stems))`` for stems from :func:`separate`.

    Computed at the stems' ``rate`` against ``y`` (float32 ``(channels, samples)`` at ``sr``)
    resampled there, then resampled to ``output_sr`` (0 = ``sr``). ``gains`` maps stem names to
    gains (missing names: 1, names the stems lack: ignored). ``stem_method`` (a registered method
    name or ``none``) processes ``stem`` before the remix. Unit gains and ``residual_gain=1`` give
    back ``y`` up to the resampling round trip. Returns float32 ``(channels, round(samples * out_rate / sr))``.
    """
    if stem_method != "none" and stem not in stems:
        raise BadParameterError(f"demucs.stem={stem!r} is not one of the stems {', '.join(stems)}")
    gains = gains or {}
    mix = resample(y, sr, rate)
    out = np.float32(residual_gain) * (mix - sum(stems.values()))
    for name, part in stems.items():
        if name == stem and stem_method != "none":
            part = get_method(stem_method)(part, rate)
        out = out + np.float32(gains.get(name, 1.0)) * part
    target = int(output_sr) or int(sr)
    return _fit(resample(out, rate, target), int(round(y.shape[-1] * target / sr)))


def load_model(name: str, *, repo: str = "", device: str = "auto"):
    """The Demucs model (or bag) ``name`` in eval mode on ``device``, and that device's name.

    Cached per (name, repo folder, device). Raises :class:`MissingModelError` with one line when
    the weights cannot be had: no network, unknown name, missing or incomplete repo folder.
    """
    folder = ""
    if str(repo).strip():
        path = Path(str(repo).strip()).expanduser()
        if not path.is_dir():
            raise MissingModelError(f"Demucs repo folder {path} does not exist or is not a folder; "
                                    "give a folder holding <name>.yaml and its <signature>.th files, "
                                    "or leave repo empty to download from the hub")
        folder = str(path.resolve())
    if not folder and not hub.demucs_cached(str(name)) and not hub.reachable("demucs"):
        raise MissingModelError(f"cannot load Demucs model {str(name)!r}: its weights are not on this machine and "
                                f"cannot be downloaded ({hub.unreachable_reason('demucs')}); connect to the network, "
                                "or set repo to a local folder of model files")
    where = resolve_device(device)
    return _cached_model(str(name), folder, where), where


@functools.lru_cache(maxsize=4)
def _cached_model(name: str, folder: str, device: str):
    import torch
    from demucs.pretrained import get_model

    captured = io.StringIO()  # demucs's fatal() prints to stderr, torch.hub to stdout
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured), \
                torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            net = (load_safetensors_repo(name, Path(folder)) if folder else None) \
                or get_model(name, repo=Path(folder) if folder else None)
    except (Exception, SystemExit) as exc:
        said = captured.getvalue().strip().splitlines()
        reason = said[-1] if isinstance(exc, SystemExit) and said else first_line(exc)
        if folder:
            fix = f"put {name}.yaml and its .th files in {folder}, or leave repo empty to download"
            raise MissingModelError(f"cannot load Demucs model {name!r} from {folder} ({reason}); {fix}") from None
        fix = ("its weights download from the Hugging Face hub on first use: connect to the network "
               "(and unset HF_HUB_OFFLINE), or set repo to a local folder of model files")
        raise MissingModelError(f"cannot load Demucs model {name!r} ({reason}); {fix}") from None
    return net.to(device).eval()


def load_safetensors_repo(name: str, folder: Path):
    """``name`` from a local folder without pickles: a bag ``name.yaml`` whose models are all
    ``<sig>.safetensors``, or a single ``name.safetensors``; None when the folder has neither form.

    The files are demucs's own safetensors format (``demucs.hf``), whose metadata names the model
    class to build: only :data:`SAFE_CLASSES` are accepted, so a file cannot make us call anything else.
    """
    import yaml
    from demucs.apply import BagOfModels

    bag_file = folder / f"{name}.yaml"
    if bag_file.is_file():
        bag = yaml.safe_load(bag_file.read_text()) or {}
        files = [folder / f"{sig}.safetensors" for sig in bag.get("models", [])]
        if not files or not all(f.is_file() for f in files):
            return None
        return BagOfModels([_safetensors_model(f) for f in files], bag.get("weights"), bag.get("segment"))
    single = folder / f"{name}.safetensors"
    return _safetensors_model(single) if single.is_file() else None


#: Model classes a Demucs safetensors file may name.
SAFE_CLASSES = ("demucs.htdemucs.HTDemucs", "demucs.hdemucs.HDemucs", "demucs.demucs.Demucs")


def _safetensors_model(path: Path):
    from demucs.hf import load_safetensors_model
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as file:
        metadata = file.metadata() or {}
    if metadata.get("klass") not in SAFE_CLASSES or '"_class"' in metadata.get("structure", ""):
        raise ValueError(f"{path.name} names a model class other than {', '.join(SAFE_CLASSES)}")
    return load_safetensors_model(path)


def save_safetensors(net, path: str | Path) -> Path:
    """Write a single Demucs model (e.g. one loaded from a trusted ``.th``) as ``<sig>.safetensors``
    in the format :func:`load_safetensors_repo` reads: weights plus class and init arguments as JSON."""
    import json
    from fractions import Fraction

    from safetensors.torch import save_file

    def plain(value):
        if isinstance(value, Fraction):
            return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value

    args, kwargs = net._init_args_kwargs
    metadata = {"klass": f"{type(net).__module__}.{type(net).__name__}", "args": json.dumps(plain(list(args))),
                "kwargs": json.dumps(plain(kwargs))}
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(path), metadata=metadata)
    return Path(path)


def _segment(net, seconds: float, name: str) -> float | None:
    """``seconds`` checked against the model (HTDemucs cannot run longer than it was trained on)."""
    from demucs.apply import BagOfModels
    from demucs.htdemucs import HTDemucs

    if not seconds:
        return None
    if seconds < MIN_SEGMENT_S:
        raise BadParameterError(f"demucs.segment must be 0 (the model's) or at least {MIN_SEGMENT_S:g} s, got {seconds:g}")
    if isinstance(net, BagOfModels):
        limit = net.max_allowed_segment
    else:
        limit = float(net.segment) if isinstance(net, HTDemucs) else math.inf
    if seconds > limit:
        raise BadParameterError(f"demucs.segment must be at most {limit:g} s for model {name!r}, got {seconds:g}")
    return float(seconds)


def _segment_count(net, length: int, shifts: int, overlap: float, seconds: float | None) -> int:
    """Upper bound of the number of model calls ``apply_model`` makes (its split and shift loops)."""
    from demucs.apply import BagOfModels

    models = net.models if isinstance(net, BagOfModels) else [net]
    span = length + (int(0.5 * net.samplerate) if shifts else 0)  # apply_model pads by max_shift
    total = 0
    for sub in models:
        stride = max(1, int((1 - overlap) * int(net.samplerate * (seconds or sub.segment))))
        total += max(1, shifts) * math.ceil(span / stride)
    return total


class _Counter:
    """``apply_model`` callback that counts finished segments into ``progress(done, total)``."""

    def __init__(self, progress: Progress, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, info: dict) -> None:
        if info.get("state") == "end":
            self.done += 1
            if self.progress is not None:
                self.progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


@contextlib.contextmanager
def _seeded_shifts():
    """Seed the global ``random`` that demucs draws its shifts from; restore its state after."""
    state = random.getstate()
    random.seed(SEED)
    try:
        yield
    finally:
        random.setstate(state)


def _fit(y: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis to ``length`` (resampling round trips can differ by a sample)."""
    if y.shape[-1] >= length:
        return np.ascontiguousarray(y[..., :length], dtype=np.float32)
    return np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, length - y.shape[-1])]).astype(np.float32)
