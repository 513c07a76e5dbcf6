"""Plugin methods: installed packages that add restoration methods through the entry-point group
``restoration.methods``.

A package declares in its ``pyproject.toml``::

    [project.entry-points."restoration.methods"]
    aexciter = "restoration_aexciter:METHOD"

where the object is a :class:`~restoration.registry.Method` named like the entry point, or a
function of no arguments that returns one. :func:`load_plugins` imports each one and checks its
spec; a plugin that fails to import, is no ``Method``, has a bad spec or a name another method has
is skipped with one warning line on the ``restoration.plugins`` logger, and everything else works.
The registry calls it once, when methods are first listed or named. See docs/plugins.md.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import site
from collections import defaultdict
from dataclasses import replace
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from .errors import first_line
from .registry import Method, Param, check_name

GROUP = "restoration.methods"
log = logging.getLogger("restoration.plugins")
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class PluginError(Exception):
    """Why one plugin is skipped (a one-line message)."""


def load_plugins(taken: set[str]) -> dict[str, Method]:
    """The valid plugin methods by name (in name order), none of them named like ``taken`` (the
    built-ins). Each skipped plugin is one warning line."""
    by_name: dict[str, list[EntryPoint]] = defaultdict(list)
    for point in entry_points(group=GROUP):
        by_name[point.name].append(point)
    found = {}
    for name in sorted(by_name):
        points = by_name[name]
        where = ", ".join(sorted(distribution_name(p) for p in points))
        if name in taken:
            _skip(name, where, "a built-in method has this name")
        elif len(points) > 1:
            _skip(name, where, "more than one installed package declares this name; uninstall all but one")
        else:
            try:
                found[name] = load_plugin(points[0])
            except Exception as exc:  # noqa: BLE001 - any failure of someone else's code skips that plugin only
                reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {first_line(exc)}"
                _skip(name, where, reason)
    return found


def load_plugin(point: EntryPoint) -> Method:
    """Import one entry point and return its checked spec, marked with its distribution's name."""
    obj = point.load()
    if not isinstance(obj, Method) and callable(obj):
        obj = obj()
    if not isinstance(obj, Method):
        raise PluginError(f"{point.value} is a {type(obj).__name__}, not a restoration.Method "
                          "(or a function returning one)")
    check_spec(obj, point.name)
    return replace(obj, source=distribution_name(point))


def check_spec(method: Method, name: str) -> None:
    """Refuse (:class:`PluginError`) a spec that the CLI, the app or a chain could not use."""
    try:
        check_name(method.name)
    except ValueError as exc:
        raise PluginError(str(exc)) from None
    if method.name != name:
        raise PluginError(f"the entry point is named {name!r} but its Method is named {method.name!r}")
    if not isinstance(method.description, str) or not method.description.strip():
        raise PluginError("the Method has no description")
    if not isinstance(method.target, str) or not _TARGET.fullmatch(method.target):
        raise PluginError(f"target {method.target!r} must be 'package.module:function'")
    module = method.target.partition(":")[0]
    if importlib.util.find_spec(module) is None:
        raise PluginError(f"the module {module} of target {method.target} cannot be found")
    if method.output_sr is not None and (not isinstance(method.output_sr, int) or method.output_sr <= 0):
        raise PluginError(f"output_sr must be None or a positive integer (Hz), got {method.output_sr!r}")
    if not isinstance(method.params, (tuple, list)):
        raise PluginError("params must be a tuple of restoration.Param")
    seen = set()
    for param in method.params:
        check_param(param, seen)


def check_param(param: Param, seen: set[str]) -> None:
    """Refuse a parameter that is no Param, repeats a name, or whose default is outside its range."""
    if not isinstance(param, Param):
        raise PluginError(f"parameter {param!r} is not a restoration.Param")
    if not param.name.isidentifier() or param.name in seen:
        raise PluginError(f"parameter name {param.name!r} is not an identifier or is used twice")
    seen.add(param.name)
    if param.kind == "choice" and not param.choices:
        raise PluginError(f"choice parameter {param.name} has no choices")
    if param.low is not None and param.high is not None and param.low > param.high:
        raise PluginError(f"parameter {param.name}: low {param.low} is above high {param.high}")
    try:
        param.coerce(param.default)
    except Exception as exc:  # noqa: BLE001 - the reason is the message
        raise PluginError(f"the default of parameter {param.name} is invalid: {first_line(exc)}") from None


def distribution_name(point: EntryPoint) -> str:
    """The name of the installed package that declares ``point``."""
    dist = getattr(point, "dist", None)
    return (dist.metadata["Name"] if dist is not None else None) or "an unnamed package"


def _skip(name: str, where: str, reason: str) -> None:
    log.warning("plugin method %r (from %s) skipped: %s", name, where, reason)


def plugin_folders() -> list[str]:
    """The ``sys.path`` folders that hold the distributions of the plugin methods in use, except the
    site-packages folders every interpreter of this installation sees: what a child process
    (benchmark worker, Ray worker) needs on its ``PYTHONPATH`` to find the same plugins."""
    from .registry import list_methods

    sources = {m.source for m in list_methods() if m.source}
    if not sources:
        return []
    default = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    folders = []
    for point in entry_points(group=GROUP):
        if point.dist is None or distribution_name(point) not in sources:
            continue
        folder = os.path.realpath(Path(point.dist.locate_file("")))
        if folder not in default and folder not in folders:
            folders.append(folder)
    return folders
