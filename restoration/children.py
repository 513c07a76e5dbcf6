"""Child processes (benchmark workers, Ray workers) that import this copy of the package."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def pythonpath_with_package(current: str | None) -> str:
    """``PYTHONPATH`` for a child: this package's root first, then the folders of the plugin methods
    found here (:func:`restoration.plugins.plugin_folders`), then ``current`` (if any), so a child
    started from any folder imports this copy, installed or a source checkout, with the same plugins."""
    from .plugins import plugin_folders

    given = (current or "").split(os.pathsep)
    return os.pathsep.join(p for p in (PACKAGE_ROOT, *(f for f in plugin_folders() if f not in given), current) if p)
