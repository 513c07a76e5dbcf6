"""Whether a pretrained model is on this machine, and whether its download site can be reached, told
at once: a model that is neither here nor downloadable is refused in about a second instead of after
the loaders' retries and the system's name-lookup and connection timeouts.

Demucs's pretrained weights come from dl.fbaipublicfiles.com (into torch's hub cache), MusicGen's
from the Hugging Face hub (into its cache). ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` switch
downloads off for both.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path

#: Host contacted for each kind of download.
HOSTS = {"demucs": "dl.fbaipublicfiles.com", "musicgen": "huggingface.co"}
#: Longest wait for a download site to accept a connection, name lookup included (s).
PROBE_TIMEOUT_S = 1.5
_probe_lock = threading.Lock()
_probed: dict[str, bool] = {}


def offline() -> bool:
    """Whether downloads are switched off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def reachable(kind: str) -> bool:
    """Whether ``kind``'s download site accepts a connection within :data:`PROBE_TIMEOUT_S` (never
    when :func:`offline`; checked once per process, then remembered)."""
    if offline():
        return False
    with _probe_lock:
        if kind not in _probed:
            _probed[kind] = connects(HOSTS[kind], PROBE_TIMEOUT_S)
        return _probed[kind]


def connects(host: str, timeout_s: float) -> bool:
    """Whether ``host``:443 accepts a connection within ``timeout_s`` (a slow name lookup counts as no)."""
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


def unreachable_reason(kind: str) -> str:
    """Why ``kind``'s models cannot be downloaded now, for a message."""
    return "downloads are switched off (HF_HUB_OFFLINE)" if offline() else f"{HOSTS[kind]} cannot be reached"


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


def demucs_cached(name: str) -> bool:
    """Whether demucs's pretrained ``name`` loads without a download (its random test model always does)."""
    if name == "demucs_unittest":
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


def musicgen_cached(model: str) -> bool:
    """Whether MusicGen ``model`` (hub id or folder) is on this machine."""
    if Path(str(model)).expanduser().is_dir():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(str(model), "config.json"), str)
