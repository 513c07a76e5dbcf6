"""The metrics table: the numbers that answer "did it help?" first, with units, the better direction,
a verdict per row, and the reason for every empty cell. Shown by a ``gr.HTML`` whose template and
CSS are ``static/metrics_table.*``; its value is ``{"headers": [...], "data": [[...], ...]}``."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Callable

PENDING = "measuring…"


@dataclass(frozen=True)
class Row:
    """How one metric is shown: ``better`` is ``"higher"``, ``"lower"``, ``"zero"`` or ``""`` (no direction);
    ``same`` is the change below which the verdict is 'about the same'."""

    key: str
    label: str
    unit: str
    better: str
    same: float
    scale: Callable[[float], float] = lambda v: v
    digits: int = 1


_KHZ = lambda v: v / 1000.0  # noqa: E731
_PERCENT = lambda v: 100.0 * v  # noqa: E731

#: Against a clean reference: the clearest answer to "did it help?".
REFERENCE_ROWS = (
    Row("lsd", "log-spectral distance to the reference", "dB", "lower", 0.05, digits=2),
    Row("lsd_hf", "log-spectral distance above 16 kHz", "dB", "lower", 0.05, digits=2),
    Row("visqol", "ViSQOL quality (MOS-LQO, 1 to 5)", "MOS", "higher", 0.02, digits=2),
    Row("si_sdr", "SI-SDR to the reference", "dB", "higher", 0.1),
    Row("hf_gain_db", "energy above 16 kHz vs the reference", "dB", "zero", 0.5),
    Row("hf_env_corr", "envelope correlation above 16 kHz", "", "higher", 0.01, digits=3),
    Row("mrstft", "multi-resolution STFT distance", "", "lower", 0.005, digits=3),
    Row("logmel", "log-mel distance to the reference", "Np", "lower", 0.005, digits=3),
)
#: Without a reference: bandwidth first, then noise, then level.
SIGNAL_ROWS = (
    Row("bandwidth_hz", "bandwidth (as the spectrogram shows it)", "kHz", "higher", 100.0, _KHZ),
    Row("cutoff_hz", "effective cutoff (a 15 dB drop)", "kHz", "", 100.0, _KHZ),
    Row("hf_ratio", "energy above 16 kHz", "%", "", 1e-5, _PERCENT, 3),
    Row("rolloff99_hz", "99 % roll-off", "kHz", "higher", 100.0, _KHZ),
    Row("noise_floor_dbfs", "noise floor (quiet frames)", "dBFS", "lower", 0.5),
    Row("hf6k_dbfs", "level above 6 kHz", "dBFS", "", 0.1),
    Row("lufs", "loudness (BS.1770)", "LUFS", "", 0.1),
    Row("peak_dbfs", "sample peak", "dBFS", "", 0.1),
    Row("crest_db", "crest factor", "dB", "", 0.1),
    Row("hpss_ratio_db", "harmonic / percussive energy", "dB", "", 0.1),
    Row("centroid_hz", "spectral centroid", "kHz", "", 10.0, _KHZ, 2),
    Row("rolloff85_hz", "85 % roll-off", "kHz", "", 10.0, _KHZ, 2),
    Row("flatness", "spectral flatness (0 to 1)", "", "", 1e-4, digits=4),
    Row("zcr", "zero-crossing rate", "1/sample", "", 1e-4, digits=4),
    Row("quiet_fraction", "quiet frames", "%", "", 1e-3, _PERCENT),
)
_ARROWS = {"higher": "↑ higher is better", "lower": "↓ lower is better", "zero": "→ 0 is best", "": ""}


def metrics_view(**kwargs):
    """The table's component (a ``gr.HTML`` drawn from ``static/metrics_table.html``)."""
    import gradio as gr

    from . import static_text

    return gr.HTML(value=None, html_template=static_text("metrics_table.html"),
                   css_template=static_text("metrics_table.css"), **kwargs)


def _name(row: Row) -> str:
    """The first cell: the metric, its unit and its better direction."""
    return ", ".join(part for part in (row.label, row.unit, _ARROWS[row.better]) if part)


def _cell(row: Row, value: float | None, reason: str) -> str:
    if value is None:
        return reason
    if not math.isfinite(value):
        return reason or "n/a"
    return f"{row.scale(value):.{row.digits}f}"


def verdict(row: Row, a: float | None, b: float | None) -> str:
    """'better', 'worse' or 'about the same' for B against A in ``row``'s direction ('' without one)."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or not row.better:
        return ""
    change = (abs(a) - abs(b)) if row.better == "zero" else (b - a if row.better == "higher" else a - b)
    if abs(b - a) < row.same:
        return "= about the same"
    return "✓ better" if change > 0 else "✗ worse"


def _reason(key: str, value: float | None, sr: int, pending: bool, visqol_on: bool) -> str:
    if value is None:
        return PENDING if pending else "not measured"
    if key in ("hf_ratio", "lsd_hf", "hf_gain_db", "hf_env_corr") and sr <= 32000:
        return f"n/a ({sr / 1000:g} kHz audio: no band above 16 kHz)"
    if key == "noise_floor_dbfs":
        return "n/a (never quieter than -45 dBFS)"
    if key == "visqol":
        return "off (tick ViSQOL above)" if not visqol_on else "n/a (clip shorter than 1 s)"
    return "n/a"


def build(a: dict, b: dict, *, a_sr: int, b_sr: int, ref_a: dict | None = None, ref_b: dict | None = None,
          reference_sr: int | None = None, pending: bool = False, visqol_on: bool = True,
          labels: tuple[str, str] = ("A", "B")) -> dict:
    """The table's value: rows against the reference first (when one is given), then the signal rows.

    ``a``/``b`` are the metrics of the two sides (:func:`restoration.analysis.compare.core_metrics`,
    plus ``detail_metrics`` once measured); ``ref_a``/``ref_b`` those against the reference. A
    missing key reads "measuring…" while ``pending`` and "not measured" afterwards.
    """
    rows = []
    if ref_a is not None and ref_b is not None:
        common = max(b_sr, reference_sr or b_sr)
        for row in REFERENCE_ROWS:
            va, vb = ref_a.get(row.key), ref_b.get(row.key)
            rows.append([_name(row),
                         _cell(row, va, _reason(row.key, va, max(a_sr, reference_sr or a_sr), pending, visqol_on)),
                         _cell(row, vb, _reason(row.key, vb, common, pending, visqol_on)), verdict(row, va, vb)])
    else:
        rows.append(["distance to a clean reference (LSD, ViSQOL, SI-SDR)", "needs a reference", "needs a reference",
                     "add a clean reference in 1 · Source"])
    for row in SIGNAL_ROWS:
        va, vb = a.get(row.key), b.get(row.key)
        rows.append([_name(row), _cell(row, va, _reason(row.key, va, a_sr, pending, visqol_on)),
                     _cell(row, vb, _reason(row.key, vb, b_sr, pending, visqol_on)), verdict(row, va, vb)])
    headers = ["metric, unit, better", *labels, "B against A"]
    return {"headers": [html.escape(h) for h in headers], "data": [[html.escape(str(c)) for c in r] for r in rows]}
