"""Restoration of music made by generative models (MusicGen): library entry points.

>>> from restoration import load_audio, restore, save_audio
>>> y, sr = load_audio("clip.wav")            # float32 (channels, samples)
>>> out, out_sr = restore(y, sr, "spectral_gating+sbr")
>>> save_audio("restored.wav", out, out_sr)
"""

from .audio import from_pcm, load_audio, resample, save_audio, to_pcm16
from .errors import (BadInputError, BadParameterError, CheckpointError, MissingModelError,
                     RestorationError, UnknownMethodError)
from .pipeline import RestoreReport, restore, restore_file
from .registry import Method, Param, get_method, list_methods, parse_chain, suggested_chains

__all__ = [
    "BadInputError", "BadParameterError", "CheckpointError", "Method", "MissingModelError", "Param",
    "RestorationError", "RestoreReport", "UnknownMethodError", "from_pcm", "get_method", "list_methods",
    "load_audio", "parse_chain", "resample", "restore", "restore_file", "save_audio", "suggested_chains", "to_pcm16",
]
