"""The models a server offers by name: built-in names plus the folders its operator lists.

A remote client picks a model by its catalog name and never by a path; :meth:`ModelCatalog.get`
turns that name into what the loaders take (a pretrained name or hub id, and a server folder).
The CLI and the library keep free paths: the catalog is for servers.

Layout of an operator's models folder (``python app.py --models-dir DIR``, env
``RESTORATION_MODELS_DIR``, several separated by ``:``); every part is optional::

    DIR/demucs/NAME.yaml + SIG.safetensors   a Demucs bag (demucs's own repo layout), offered as NAME
    DIR/demucs/SIG.safetensors               a single Demucs model, offered as SIG
    DIR/demucs/SIG.th, SIG-CHECKSUM.th       the same as pickles (torch.load: trusted files only)
    DIR/unet/NAME/model.safetensors + config.json   a U-Net checkpoint, offered as NAME
    DIR/musicgen/NAME/config.json + weights  a MusicGen folder (save_pretrained), offered as NAME

A name in a models folder replaces the built-in of the same name (e.g. a local ``htdemucs.yaml``
serves htdemucs offline). A folder that clients could write into is refused: see
:func:`check_models_dir`, run at start and again right before a model of the folder is loaded
(:meth:`ModelCatalog.checked`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import RestorationError

KINDS = ("demucs", "unet", "musicgen")
#: demucs 4.1's pretrained bags (its ``remote/*.yaml``) and its random test model.
PRETRAINED_DEMUCS = ("htdemucs", "htdemucs_ft", "htdemucs_6s", "hdemucs_mmi", "mdx", "mdx_extra", "mdx_q",
                     "mdx_extra_q", "demucs_unittest")
#: Catalog name of the U-Net weights shipped with the project.
SHIPPED_UNET = "shipped"
#: Environment variable listing models folders (``:``-separated), read by the app.
MODELS_DIR_ENV = "RESTORATION_MODELS_DIR"


class UnknownModelError(RestorationError):
    """A client asked for a model this server does not offer (the message never echoes a path)."""


@dataclass(frozen=True)
class ModelEntry:
    """One offered model: ``kind`` (demucs, unet, musicgen), the ``name`` clients pick, the
    ``source`` the loader takes (pretrained name or hub id; for folders the folder itself) and, for
    Demucs, the repo ``folder`` (empty: demucs's own download), and the operator's models folder
    ``root`` it came from (empty for built-ins). Paths here are never shown to clients."""

    kind: str
    name: str
    source: str
    folder: str = ""
    root: str = ""


class ModelCatalog:
    """Models by kind and name. ``ModelCatalog.build(dirs)`` gives the built-ins plus ``dirs``."""

    def __init__(self, entries: Iterable[ModelEntry] = (), *, forbidden: Iterable[str | os.PathLike] = ()):
        self.forbidden = list(forbidden)
        self._entries: dict[str, dict[str, ModelEntry]] = {kind: {} for kind in KINDS}
        for entry in entries:
            self._entries[entry.kind][entry.name] = entry  # later entries replace earlier ones

    @classmethod
    def build(cls, models_dirs: Iterable[str | os.PathLike] = (), *, forbidden: Iterable[str | os.PathLike] = ()
              ) -> "ModelCatalog":
        """The built-in models, then those of each folder in ``models_dirs`` (checked with
        :func:`check_models_dir` against ``forbidden``, the folders clients can write to)."""
        forbidden = list(forbidden)
        entries = builtin_entries()
        for folder in models_dirs:
            entries += scan_models_dir(check_models_dir(folder, forbidden=forbidden))
        return cls(entries, forbidden=forbidden)

    def names(self, kind: str) -> list[str]:
        """The names offered for ``kind``, in catalog order."""
        return list(self._entries[kind])

    def get(self, kind: str, name: str) -> ModelEntry:
        """The entry named ``name``; anything else (a path, an unknown name) raises
        :class:`UnknownModelError` with one line that lists the offered names and echoes nothing."""
        entry = self._entries[kind].get(str(name).strip()) if isinstance(name, str) else None
        if entry is None:
            offered = ", ".join(self._entries[kind]) or "none"
            raise UnknownModelError(f"that {_LABELS[kind]} is not offered by this server; choose one of: {offered}")
        return entry


    def checked(self, kind: str, name: str) -> ModelEntry:
        """:meth:`get`, with the entry's models folder checked again (:func:`check_models_dir`) right
        before its files are loaded: a file changed since start so that others could write it, or
        linked into a folder clients write to, is refused (:class:`RestorationError`)."""
        entry = self.get(kind, name)
        if entry.root:
            check_models_dir(entry.root, forbidden=self.forbidden)
        return entry


_LABELS = {"demucs": "Demucs model", "unet": "U-Net checkpoint", "musicgen": "MusicGen model"}


def builtin_entries() -> list[ModelEntry]:
    """demucs's pretrained names, the shipped U-Net (when present) and the MusicGen hub ids
    (plus ``$MUSICGEN_MODEL``, an operator's setting, as a hub id or a folder named by its base name)."""
    from . import musicgen
    from .checkpoint import DEFAULT_CHECKPOINT

    entries = [ModelEntry("demucs", name, name) for name in PRETRAINED_DEMUCS]
    if DEFAULT_CHECKPOINT.is_dir():
        entries.append(ModelEntry("unet", SHIPPED_UNET, str(DEFAULT_CHECKPOINT)))
    entries += [ModelEntry("musicgen", hub_id, hub_id) for hub_id in musicgen.KNOWN_MODELS]
    chosen = musicgen.default_model()
    if Path(chosen).expanduser().is_dir():
        folder = Path(chosen).expanduser().resolve()
        entries.append(ModelEntry("musicgen", folder.name, str(folder)))
    elif chosen not in musicgen.KNOWN_MODELS:
        entries.append(ModelEntry("musicgen", chosen, chosen))
    return entries


def scan_models_dir(folder: Path) -> list[ModelEntry]:
    """The entries of one models folder (layout in the module docstring), sorted by name per kind."""
    entries = []
    root = str(folder)
    demucs = folder / "demucs"
    if demucs.is_dir():
        names = {p.stem for p in demucs.glob("*.yaml")}
        names |= {p.stem.rsplit("-", 1)[0] for p in demucs.glob("*.th")}
        names |= {p.stem for p in demucs.glob("*.safetensors")}
        entries += [ModelEntry("demucs", name, name, str(demucs.resolve()), root) for name in sorted(names)]
    for kind, marker in (("unet", "model.safetensors"), ("musicgen", "config.json")):
        root = folder / kind
        if root.is_dir():
            entries += [ModelEntry(kind, sub.name, str(sub.resolve()), root=str(folder))
                        for sub in sorted(root.iterdir()) if sub.is_dir() and (sub / marker).is_file()]
    return entries


def check_models_dir(folder: str | os.PathLike, *, forbidden: Iterable[str | os.PathLike] = ()) -> Path:
    """``folder`` resolved, if an operator may serve models from it.

    Refused (:class:`RestorationError`, one line): a missing folder; one inside (or holding) any
    folder of ``forbidden`` (gradio's upload and cache folders, the app's work folders); the system
    temporary folder itself; and one where the folder or anything in it is writable by other users
    or owned by a user other than this process's (or root), since whoever can write there can make
    the server load their pickle.
    """
    import tempfile

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise RestorationError(f"models folder {path} does not exist or is not a folder")
    path = path.resolve()
    if path == Path(tempfile.gettempdir()).resolve():
        raise RestorationError(f"models folder {path} is the system temporary folder; use a folder of its own")
    forbidden = [Path(other).expanduser().resolve() for other in forbidden]
    for item in [path, *path.rglob("*")]:
        real = item.resolve()  # a link counts as what it points to
        for other in forbidden:
            if real == other or other in real.parents or real in other.parents:
                raise RestorationError(f"models folder {path} overlaps {other}, where clients can write; "
                                       "use a folder only the operator can write")
        info = real.stat() if real.exists() else None
        if info is not None and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise RestorationError(f"{item} in models folder {path} is writable by other users; "
                                   "run chmod -R go-w on the folder")
        if info is not None and info.st_uid not in (0, os.getuid()):
            raise RestorationError(f"{item} in models folder {path} belongs to another user; "
                                   "the folder must belong to the user running the server (or root)")
    return path


def models_dirs_from_env(value: str | None = None) -> list[str]:
    """The folders in ``value`` (default ``$RESTORATION_MODELS_DIR``), separated by ``os.pathsep``."""
    value = os.environ.get(MODELS_DIR_ENV, "") if value is None else value
    return [part for part in value.split(os.pathsep) if part.strip()]
