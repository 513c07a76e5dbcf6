"""Which models this server can run right now, told up front, and an immediate refusal when a
model would have to come from a hub that cannot be reached.

A model is *ready* when its weights are on this machine (the shipped U-Net, Demucs files in
torch's hub cache, MusicGen in the Hugging Face cache or a local folder). Anything else needs a
download; :func:`hub_reachable` tries one TCP connection per hub (once, when the UI is built, and
not at all with ``HF_HUB_OFFLINE``), so a request for a model that cannot be fetched fails at once instead of after the
loaders' retries.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path

from restoration import MissingModelError, parse_chain
from restoration.models.catalog import ModelCatalog

#: Host contacted for each kind of download (demucs's files, the Hugging Face hub).
HUB_HOSTS = {"demucs": "dl.fbaipublicfiles.com", "musicgen": "huggingface.co"}
PROBE_TIMEOUT_S = 1.5
_probe_lock = threading.Lock()
_probed: dict[str, bool] = {}


def offline() -> bool:
    """Whether the operator switched the hubs off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(kind: str) -> bool:
    """Whether ``kind``'s download host answers a TCP connection within :data:`PROBE_TIMEOUT_S`
    (name lookup included; checked once, then remembered)."""
    if offline():
        return False
    with _probe_lock:
        if kind not in _probed:
            _probed[kind] = _connects(HUB_HOSTS[kind], PROBE_TIMEOUT_S)
        return _probed[kind]


def _connects(host: str, timeout_s: float) -> bool:
    """Whether ``host``:443 accepts a connection within ``timeout_s`` (a slow DNS counts as no)."""
    answered = threading.Event()

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout_s).close()
            answered.set()
        except OSError:
            pass

    worker = threading.Thread(target=probe, daemon=True, name=f"probe-{host}")
    worker.start()
    worker.join(timeout_s)
    return answered.is_set()


def downloads_state() -> str:
    """The console's word on model downloads: "on", or "off" and why."""
    if offline():
        return "off (HF_HUB_OFFLINE)"
    unreachable = [host for kind, host in HUB_HOSTS.items() if not hub_reachable(kind)]
    return f"off ({' and '.join(unreachable)} cannot be reached)" if unreachable else "on"


@functools.lru_cache(maxsize=1)
def _demucs_files() -> tuple[dict[str, list[str]], Path]:
    """demucs's pretrained bags -> their weight signatures, and torch's hub checkpoint folder."""
    import demucs
    import torch

    remote = Path(demucs.__file__).parent / "remote"
    bags = {}
    for yaml_file in remote.glob("*.yaml"):
        text = yaml_file.read_text()
        start = text.find("[")
        bags[yaml_file.stem] = [s.strip(" '\"") for s in text[start + 1:text.find("]", start)].split(",") if s.strip()]
    return bags, Path(torch.hub.get_dir()) / "checkpoints"


def demucs_ready(name: str, repo: str = "") -> bool:
    """Whether Demucs model ``name`` can load without a download (a local ``repo`` folder counts as ready)."""
    if name == "demucs_unittest" or str(repo or "").strip():
        return True
    try:
        bags, cache = _demucs_files()
    except ImportError:
        return False
    signatures = bags.get(name)
    if not signatures or not cache.is_dir():
        return False
    files = [p.name for p in cache.iterdir()]
    return all(any(f.startswith(sig) for f in files) for sig in signatures)


def musicgen_ready(model: str) -> bool:
    """Whether MusicGen ``model`` (hub id or folder) is on this machine."""
    if Path(str(model)).expanduser().is_dir():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(str(model), "config.json"), str)


def unet_ready(checkpoint: str = "") -> bool:
    """Whether the U-Net's weights (the shipped ones when ``checkpoint`` is empty) are present."""
    from restoration.models.checkpoint import DEFAULT_CHECKPOINT

    folder = Path(checkpoint).expanduser() if str(checkpoint or "").strip() else DEFAULT_CHECKPOINT
    return (folder / "model.safetensors").is_file()


def require(kind: str, ready: bool, name: str, available: list[str]) -> None:
    """Refuse at once (:class:`MissingModelError`) a model that is not here when its hub is unreachable."""
    if ready or hub_reachable(kind):
        return
    label = {"demucs": "Demucs model", "musicgen": "MusicGen model"}[kind]
    fix = " (or MUSICGEN_MODEL, a local folder)" if kind == "musicgen" else ""
    choose = f"choose one that is ready here: {', '.join(available)}" if available else "none is ready here"
    raise MissingModelError(f"{label} '{name}' is not on this server and its download site ({HUB_HOSTS[kind]}) "
                            f"cannot be reached from it{' (HF_HUB_OFFLINE)' if offline() else ''}; {choose}; "
                            f"an operator adds models with --models-dir{fix}")


def check_restore(method: str, params: dict, catalog: ModelCatalog | None = None) -> None:
    """Refuse a restoration whose Demucs or U-Net model cannot be loaded (``params`` as the library
    takes them, after :func:`studio.guard.restore_params`); the refusal names the ``catalog``'s
    Demucs models that are ready (the built-ins when no catalog is given)."""
    chain = parse_chain(method)
    for stage in chain:
        mine = {k.partition(".")[2] if "." in k else k: v for k, v in params.items()
                if len(chain) == 1 or k.partition(".")[0] == stage.name}
        if stage.name == "demucs":
            name = str(mine.get("model", stage.param("model").default))
            ready = demucs_ready(name, mine.get("repo", ""))
            require("demucs", ready, name, [] if ready else ready_demucs(catalog or ModelCatalog.build()))
        if stage.name == "unet" and not unet_ready(str(mine.get("checkpoint", ""))):
            raise MissingModelError("the U-Net weights are missing on this server (restoration/data/unet/model.safetensors)")


def ready_demucs(catalog: ModelCatalog) -> list[str]:
    """Names of the catalog's Demucs models that load without a download."""
    return [name for name in catalog.names("demucs")
            if demucs_ready(catalog.get("demucs", name).source, catalog.get("demucs", name).folder)]


def choice_label(kind: str, name: str, ready: bool) -> str:
    """A model's label in a dropdown: its name, marked when it cannot load here (not on this server,
    download site unreachable)."""
    return name if ready or hub_reachable(kind) else f"{name} (not on this server, cannot be downloaded)"


def ready_musicgen(catalog: ModelCatalog) -> list[str]:
    """Names of the catalog's MusicGen models that are on this machine."""
    return [name for name in catalog.names("musicgen") if musicgen_ready(catalog.get("musicgen", name).source)]


def summary(catalog: ModelCatalog) -> str:
    """One Markdown paragraph: which of the catalog's models are ready here, and whether the others
    can be downloaded."""
    def hub(kind: str) -> str:
        if offline():
            return "downloads are switched off (HF_HUB_OFFLINE)"
        return "others download on first use" if hub_reachable(kind) else "the hub cannot be reached, so only these work"

    unets = [name for name in catalog.names("unet") if unet_ready(catalog.get("unet", name).source)]
    return ("**Models on this server.** "
            f"U-Net: {', '.join(unets) + ' ✓' if unets else 'no weights ✗'}. "
            f"Demucs: {', '.join(ready_demucs(catalog)) or 'none'} ({hub('demucs')}). "
            f"MusicGen: {', '.join(ready_musicgen(catalog)) or 'none'} ({hub('musicgen')}). "
            "DSP methods (spectral_gating, spectral_subtraction, mcra_wiener, sbr) need no model.")
