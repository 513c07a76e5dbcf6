"""This browser session's restorations and the user's own files (:mod:`studio.own_files`): each one
can be replayed, downloaded and A/B-compared with any other (or with the original). Kept in a
``gr.State``, so it lives on the server, per session.

Every entry has a run number (its key), a time and the side it puts in the choosers under
``"restored"``; a restoration also has its ``"original"``, one of the user's files has ``"file"``
(``{"name", "clip", "condition"}``) and no original."""

from __future__ import annotations

import gradio as gr

from .comparison import Side

#: Key of the original clip in the A/B choosers.
ORIGINAL = "original"
TABLE_HEADERS = ["#", "time", "method", "parameters", "seconds", "output Hz"]


def entry(run: int, *, method: str, params: dict, seconds: float, clock: str, source: str, original: Side,
          restored: Side, reference: str | None) -> dict:
    """One restoration: what ran, when, and both sides (their files and metrics)."""
    return {"run": run, "method": method, "params": params, "seconds": round(seconds, 2), "time": clock,
            "source": source, "original": original.as_dict(), "restored": restored.as_dict(), "reference": reference}


def file_entry(run: int, *, clock: str, name: str, clip: str, condition: str | None, side: Side) -> dict:
    """One of the user's files (``name`` as uploaded, ``clip``/``condition`` read from it): ``method``
    is its condition (or ``file``), so a download is named ``clip.condition.ext``."""
    return {"run": run, "method": condition or "file", "params": {}, "seconds": None, "time": clock, "source": clip,
            "original": None, "restored": side.as_dict(), "reference": None,
            "file": {"name": name, "clip": clip, "condition": condition}}


def table(history: list[dict]) -> list[list]:
    """Rows of the history table, newest last (one of the user's files: its name, no parameters or seconds)."""
    return [[h["run"], h["time"], f"your file {h['file']['name']}", "", "", h["restored"]["sr"]] if h.get("file") else
            [h["run"], h["time"], h["method"], _params(h["params"]), h["seconds"], h["restored"]["sr"]] for h in history]


def _params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def latest_original(history: list[dict]) -> dict | None:
    """The original of the latest restoration (as a :class:`Side` dict), None before the first one."""
    return next((h["original"] for h in reversed(history) if h.get("original")), None)


def choices(history: list[dict]) -> list[tuple[str, str]]:
    """``(label, key)`` for the A/B choosers: the latest original, then every result and file."""
    original = latest_original(history)
    return ([(original["label"], ORIGINAL)] if original else []) + [(_choice(h), str(h["run"])) for h in history]


def _choice(h: dict) -> str:
    if h.get("file"):
        return f"{h['restored']['label']} (your file, {h['time']})"
    return f"#{h['run']} {h['method']} ({h['time']})"


def side(history: list[dict], key: str) -> Side:
    """The side chosen by ``key`` (:data:`ORIGINAL` or a run number); a stale key is a ``gr.Error``."""
    if not history:
        raise gr.Error("Nothing in this session yet: restore a clip or add your files first.", print_exception=False)
    if key == ORIGINAL:
        original = latest_original(history)
        if original is None:
            raise gr.Error("No original in this session yet: restore a clip first, or pick one of your files.",
                           print_exception=False)
        return Side.from_dict(dict(original))
    for h in history:
        if str(h["run"]) == str(key):
            return Side.from_dict(dict(h["restored"]))
    raise gr.Error(f"No result #{key} in this session's history.", print_exception=False)


def find(history: list[dict], key: str) -> dict:
    """The history entry of run ``key``."""
    for h in history:
        if str(h["run"]) == str(key):
            return h
    raise gr.Error(f"No result #{key} in this session's history.", print_exception=False)


def chooser_updates(history: list[dict], a: str | None = None, b: str | None = None) -> tuple:
    """Updates of the A, B and replay choosers after ``history`` changed: A shows ``a`` (default: the
    original), B and replay ``b`` (default: the latest entry)."""
    options = choices(history)
    latest = str(history[-1]["run"]) if history else None
    first = ORIGINAL if latest_original(history) else None
    return (gr.update(choices=options, value=a or first),
            gr.update(choices=options, value=b or latest),
            gr.update(choices=[o for o in options if o[1] != ORIGINAL], value=b or latest))
