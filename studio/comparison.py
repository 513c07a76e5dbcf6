"""The compare section's content for two sides (A, B) and an optional clean reference.

:func:`first_paint` is what the user sees within a second: the spectrogram pair, the difference,
the spectra, the cheap metrics and the A/B player, all from one STFT per signal.
:func:`details` adds the slow metrics (HPSS, multi-resolution STFT, log-mel, ViSQOL) afterwards, when
the browser asks for them (starting them earlier, while the first paint travels and the A/B player
decodes its audio, made the player later on a loaded 2-core machine: docs/benchmark.md).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from restoration.analysis import compare, images

from . import metrics_table
from .ab_player import ab_value


@dataclass
class Side:
    """One side of a comparison: its audio (``path`` is a WAV the browser can play), a label, and
    its metrics once measured (``metrics`` single-signal, ``against_reference`` with a reference)."""

    path: str
    label: str
    sr: int
    metrics: dict = field(default_factory=dict)
    against_reference: dict | None = None

    def as_dict(self) -> dict:
        return {"path": self.path, "label": self.label, "sr": self.sr, "metrics": self.metrics,
                "against_reference": self.against_reference}

    @classmethod
    def from_dict(cls, values: dict) -> "Side":
        return cls(**values)


def _no_progress(fraction: float, desc: str = "") -> None:
    return None


#: Threads that analyse signals side by side (numpy, scipy, soxr and pyloudnorm's filters release the GIL).
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analysis")
Audio = tuple[np.ndarray, int]


def _measure(audio: Audio) -> tuple[compare.SignalView, dict]:
    view = compare.analyse(*audio)
    return view, compare.core_metrics(view)


def measure_later(audio: Audio) -> Future:
    """Start analysing ``audio`` (STFT and cheap metrics) in the background, e.g. the original while it
    is being restored; pass the future to :func:`first_paint` in place of the audio."""
    return _POOL.submit(_measure, audio)


def first_paint(path_for: Callable[[str], Path], a: Side, a_audio: Audio | Future, b: Side, b_audio: Audio | Future,
                reference: Audio | None = None, *, caption: str, progress: Callable = _no_progress) -> dict:
    """Pictures (PNG paths), the table with the cheap metrics, and the A/B player's value.

    ``path_for(name)`` gives a fresh path for each picture; ``a_audio``/``b_audio`` are ``(y, sr)`` or
    a :func:`measure_later` future. Fills
    ``a.metrics``/``b.metrics`` (and ``against_reference`` when ``reference`` is given).
    """
    progress(0.0, desc="analysing")
    future_a = a_audio if isinstance(a_audio, Future) else measure_later(a_audio)
    if isinstance(b_audio, Future):
        view_b, core_b = b_audio.result()
    else:  # B's time-domain metrics in a worker while its STFT is taken here
        signal_b = _POOL.submit(compare.signal_metrics, *b_audio)
        view_b = compare.analyse(*b_audio)
        core_b = compare.merge(signal_b.result(), compare.spectral_metrics(view_b))
    view_ref = compare.analyse(*reference) if reference is not None else None
    view_a, core_a = future_a.result()
    progress(0.5, desc="drawing")
    a.metrics = {**core_a, **a.metrics}
    b.metrics = {**core_b, **b.metrics}
    if view_ref is not None:
        a.against_reference = compare.core_reference_metrics(view_a, view_ref)
        b.against_reference = compare.core_reference_metrics(view_b, view_ref)
    pictures = {
        "spectrograms": images.spectrogram_pair(view_a, view_b, titles=(a.label, b.label), stacked=True),
        "difference": images.difference_spectrogram(view_a, view_b),
        "psd": images.psd_overlay({a.label: view_a, b.label: view_b,
                                   **({"reference": view_ref} if view_ref is not None else {})}),
    }
    paths = {name: images.save_png(image, path_for(f"{name}.png")) for name, image in pictures.items()}
    return {**paths, "table": table(a, b, reference_sr=reference[1] if reference else None, pending=True),
            "ab": player_value(a, b, caption=caption)}


def details(a_audio: tuple[np.ndarray, int], b_audio: tuple[np.ndarray, int], a: Side, b: Side,
            reference: tuple[np.ndarray, int] | None = None, *, visqol: bool = True,
            progress: Callable = _no_progress) -> dict:
    """Add the slow metrics to ``a`` and ``b``, one side after the other (in parallel they took both
    cores from a browser on the same machine decoding the A/B player's audio); returns the complete table."""
    view_ref = compare.analyse(*reference) if reference is not None else None
    for index, (side, audio) in enumerate(((a, a_audio), (b, b_audio))):
        progress(0.5 * index, desc=f"measuring {side.label} in detail")
        view = compare.analyse(*audio)
        side.metrics = {**side.metrics, **compare.detail_metrics(view)}
        if view_ref is not None:
            side.against_reference = {**(side.against_reference or compare.core_reference_metrics(view, view_ref)),
                                      **compare.detail_reference_metrics(view, view_ref, visqol=visqol)}
    return table(a, b, reference_sr=reference[1] if reference else None, pending=False, visqol_on=visqol)


def table(a: Side, b: Side, *, reference_sr: int | None, pending: bool, visqol_on: bool = True) -> dict:
    return metrics_table.build(a.metrics, b.metrics, a_sr=a.sr, b_sr=b.sr, ref_a=a.against_reference,
                               ref_b=b.against_reference, reference_sr=reference_sr, pending=pending,
                               visqol_on=visqol_on, labels=(a.label, b.label))


def player_value(a: Side, b: Side, *, caption: str) -> dict:
    """The A/B player's value: both files with their measured loudness and peak."""
    return ab_value({"path": a.path, "label": a.label, "lufs": a.metrics["lufs"], "peak_dbfs": a.metrics["peak_dbfs"]},
                    {"path": b.path, "label": b.label, "lufs": b.metrics["lufs"], "peak_dbfs": b.metrics["peak_dbfs"]},
                    caption=caption)
