"""This browser session's restorations: each one can be replayed, downloaded and A/B-compared with
any other (or with the original). Kept in a ``gr.State``, so it lives on the server, per session."""

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


def table(history: list[dict]) -> list[list]:
    """Rows of the history table, newest last."""
    return [[h["run"], h["time"], h["method"], _params(h["params"]), h["seconds"], h["restored"]["sr"]] for h in history]


def _params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def choices(history: list[dict]) -> list[tuple[str, str]]:
    """``(label, key)`` for the A/B choosers: the latest original, then every result."""
    if not history:
        return []
    original = history[-1]["original"]
    return [(original["label"], ORIGINAL)] + [(f"#{h['run']} {h['method']} ({h['time']})", str(h["run"])) for h in history]


def side(history: list[dict], key: str) -> Side:
    """The side chosen by ``key`` (:data:`ORIGINAL` or a run number); a stale key is a ``gr.Error``."""
    if not history:
        raise gr.Error("Nothing restored yet in this session: restore a clip first.", print_exception=False)
    if key == ORIGINAL:
        return Side.from_dict(dict(history[-1]["original"]))
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


def chooser_updates(history: list[dict]) -> tuple:
    """Updates of the A, B and replay choosers after ``history`` changed (A: original, B and replay: latest)."""
    options = choices(history)
    latest = str(history[-1]["run"]) if history else None
    return (gr.update(choices=options, value=ORIGINAL if history else None),
            gr.update(choices=options, value=latest),
            gr.update(choices=options[1:], value=latest))
