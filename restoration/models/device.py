"""Where a model runs: the one ``device`` convention shared by every neural method."""

from __future__ import annotations

from ..errors import BadParameterError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is available, else ``cpu``; ``cuda`` without a GPU raises."""
    import torch

    if device not in DEVICES:
        raise BadParameterError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BadParameterError("device cuda was requested but no CUDA GPU is available; use cpu or auto")
    return device
