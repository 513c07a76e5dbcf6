"""Which models this server can run right now, told up front, and an immediate refusal when a
model would have to come from a hub that cannot be reached.

A model is *ready* when its weights are on this machine (the shipped U-Net, Demucs files in
torch's hub cache, MusicGen in the Hugging Face cache or a local folder). Anything else needs a
download; :func:`restoration.models.hub.reachable` tries one TCP connection per download site
(once, when the UI is built, and not at all with ``HF_HUB_OFFLINE``), so a request for a model that
cannot be fetched fails at once instead of after the loaders' retries.
"""

from __future__ import annotations

from pathlib import Path

from restoration import MissingModelError, list_methods, parse_chain
from restoration.models import hub
from restoration.models.catalog import ModelCatalog
from restoration.models.hub import HOSTS as HUB_HOSTS, offline



def downloads_state() -> str:
    """The console's word on model downloads: "on", or "off" and why."""
    if offline():
        return "off (HF_HUB_OFFLINE)"
    unreachable = [host for kind, host in HUB_HOSTS.items() if not hub.reachable(kind)]
    return f"off ({' and '.join(unreachable)} cannot be reached)" if unreachable else "on"


def demucs_ready(name: str, repo: str = "") -> bool:
    """Whether Demucs model ``name`` can load without a download (a local ``repo`` folder counts as ready)."""
    return bool(str(repo or "").strip()) or hub.demucs_cached(name)


musicgen_ready = hub.musicgen_cached


def unet_ready(checkpoint: str = "") -> bool:
    """Whether the U-Net's weights (the shipped ones when ``checkpoint`` is empty) are present."""
    from restoration.models.checkpoint import DEFAULT_CHECKPOINT

    folder = Path(checkpoint).expanduser() if str(checkpoint or "").strip() else DEFAULT_CHECKPOINT
    return (folder / "model.safetensors").is_file()


def require(kind: str, ready: bool, name: str, available: list[str]) -> None:
    """Refuse at once (:class:`MissingModelError`) a model that is not here when its hub is unreachable."""
    if ready or hub.reachable(kind):
        return
    label = {"demucs": "Demucs model", "musicgen": "MusicGen model"}[kind]
    fix = " (or MUSICGEN_MODEL, a local folder)" if kind == "musicgen" else ""
    choose = f"choose one that is ready here: {', '.join(available)}" if available else "none is ready here"
    raise MissingModelError(f"{label} '{name}' is not on this server and cannot be downloaded "
                            f"({hub.unreachable_reason(kind)}); {choose}; an operator adds models with --models-dir{fix}")


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
    return name if ready or hub.reachable(kind) else f"{name} (not on this server, cannot be downloaded)"


def ready_musicgen(catalog: ModelCatalog) -> list[str]:
    """Names of the catalog's MusicGen models that are on this machine."""
    return [name for name in catalog.names("musicgen") if musicgen_ready(catalog.get("musicgen", name).source)]


def summary(catalog: ModelCatalog) -> str:
    """One Markdown paragraph: which of the catalog's models are ready here, and whether the others
    can be downloaded."""
    def hub(kind: str) -> str:
        if offline():
            return "downloads are switched off (HF_HUB_OFFLINE)"
        return "others download on first use" if hub.reachable(kind) else "the hub cannot be reached, so only these work"

    unets = [name for name in catalog.names("unet") if unet_ready(catalog.get("unet", name).source)]
    return ("**Models on this server.** "
            f"U-Net: {', '.join(unets) + ' ✓' if unets else 'no weights ✗'}. "
            f"Demucs: {', '.join(ready_demucs(catalog)) or 'none'} ({hub('demucs')}). "
            f"MusicGen: {', '.join(ready_musicgen(catalog)) or 'none'} ({hub('musicgen')}). "
            f"{_other_methods()}")


def _other_methods() -> str:
    """The built-in DSP methods (they need no model) and the plugin methods with their packages."""
    methods = list_methods()
    dsp = [m.name for m in methods if not m.neural and not m.source and m.name != "passthrough"]
    plugins = [f"{m.name} ({m.source})" for m in methods if m.source]
    return (f"DSP methods ({', '.join(dsp)}) need no model."
            + (f" Plugin methods installed here: {', '.join(plugins)}." if plugins else ""))
