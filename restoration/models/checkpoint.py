"""U-Net checkpoints: ``model.safetensors`` (weights) + ``config.json`` (architecture, rates, STFT, recipe).

Plain data only, never pickle. Loading validates the format name and version, the architecture and
that every weight matches it; anything wrong is a one-line :class:`CheckpointError`, a missing
folder or file a :class:`MissingModelError`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import CheckpointError, MissingModelError
from ..files import write_atomically

FORMAT = "restoration-spectral-unet"
FORMAT_VERSION = 4
#: Versions this library reads. Version 1 (before the noise component) is read as ``noise: false``;
#: versions 1 and 2 (before the envelope prior) as ``envelope_prior: false``; versions 1 to 3 (before
#: the band under the cutoff was kept) as ``keep_below_cutoff: false``.
READABLE_VERSIONS = (1, 2, 3, 4)
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
#: The weights shipped with the project, loaded when no checkpoint is named.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "unet"


def save_checkpoint(model, folder: str | os.PathLike, *, training: dict | None = None) -> Path:
    """Write ``model`` (a :class:`~restoration.models.unet.SpectralUNet`) to ``folder``.

    ``training`` (recipe, data, steps, metrics) is stored in ``config.json``. Both files are
    written to temporary names and renamed, so a crash never leaves a half-written checkpoint.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": model.config.to_dict(),
              "sample_rate": model.config.sample_rate,
              "stft": {"n_fft": model.config.n_fft, "hop": model.config.hop, "window": "hann"},
              "training": training or {}}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
    write_atomically(folder / WEIGHTS, lambda tmp: save_file(state, tmp, metadata=metadata))
    write_atomically(folder / CONFIG, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    return folder


def read_config(folder: str | os.PathLike) -> dict:
    """Parse and validate ``folder/config.json``; returns the whole dictionary."""
    folder = _existing(folder)
    try:
        config = json.loads((folder / CONFIG).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"unreadable {CONFIG} in {folder}: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{folder / CONFIG} is not a {FORMAT} checkpoint config")
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(f"checkpoint {folder} has format version {version!r}; this version of the "
                              f"library reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    if not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{folder / CONFIG} has no model architecture")
    if version == 1:
        config["model"] = {"noise": False, **config["model"]}
    return config


def load_checkpoint(folder: str | os.PathLike, *, device: str = "cpu"):
    """Load a checkpoint folder into a :class:`~restoration.models.unet.SpectralUNet` in eval mode on ``device``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .unet import SpectralUNet, UNetConfig

    config = read_config(folder)
    folder = Path(folder)
    try:
        model = SpectralUNet(UNetConfig.from_dict(config["model"]))
    except (TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{folder / CONFIG} describes an invalid architecture ({exc})") from None
    try:
        state = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"corrupt weights {folder / WEIGHTS} ({_first_line(exc)})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or extra or wrong:
        detail = "; ".join(f"{label}: {', '.join(names[:3])}" for label, names in
                           (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if names)
        raise CheckpointError(f"weights in {folder} do not match its {CONFIG} ({detail})")
    model.load_state_dict(state)
    return model.to(device).eval()


def _existing(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingModelError(f"no U-Net checkpoint folder at {folder} (expected {WEIGHTS} and {CONFIG})")
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).is_file():
            raise MissingModelError(f"U-Net checkpoint {folder} has no {name}")
    return folder


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
