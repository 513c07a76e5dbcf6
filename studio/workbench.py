"""The Studio tab's handlers: generate, restore (and show the comparison at once), measure in detail,
add the user's own files, compare any two results or files of the session, export downloads,
separate stems.

Handlers convert at the edge (file paths, JSON, gradio updates) and call the public API of
:mod:`restoration`; every :class:`RestorationError` becomes a one-line ``gr.Error``
(:func:`studio.errors.user_errors`).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np

from restoration import BadInputError, load_audio, parse_chain, restore, save_audio, to_pcm16
from restoration.analysis.metrics import reference_mismatch
from restoration.audio import probe_audio
from restoration.models import musicgen
from restoration.models.catalog import ModelCatalog

from . import budget, comparison, downloads, guard, history as session_history, models, notices, own_files, peers
from .comparison import Side
from .errors import as_text, last_error, user_errors
from .gpu import run_neural as _run_neural
from .jobs import accelerator, progress_callback

#: Scratch files older than this are deleted (gradio keeps its own copies while they are shown).
SCRATCH_MAX_AGE_S = 3600.0
#: Uploads the A/B player plays as they are (decoded like soundfile does, sample for sample).
BROWSER_PLAYS = (".wav", ".flac")
log = logging.getLogger("restoration.app")
#: Stem players in the Stems panel: the most any Demucs model makes (htdemucs_6s).
MAX_STEMS = 6

def parse_params(text: str | dict | None) -> dict:
    """The parameters box (a JSON object) as a dict."""
    if isinstance(text, dict):
        return text
    try:
        values = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise BadInputError(f"parameters must be a JSON object: {exc.msg} at character {exc.pos}") from None
    if not isinstance(values, dict):
        raise BadInputError(f"parameters must be a JSON object such as {{\"band_hz\": 6000}}, got {text!r}")
    return values


def cli_line(method: str, params: dict) -> str:
    sets = " ".join(f"--set {key}={value}" for key, value in params.items())
    return f"python -m restoration restore in.wav out.wav -m {method} {sets}".rstrip()


class Workbench:
    """Handlers of the Studio tab. Files it writes for gradio go to ``workdir`` (pruned after an hour);
    models come from ``catalog`` by name; clips are read within ``limits`` (:mod:`studio.guard`).

    ``blocks`` (set once the app is built) lets a running job notice that its browser went away.
    ``example_cache`` maps ``(fingerprint of the samples, method)`` to a restoration made at start
    with default parameters, so an example shows its finished comparison at once.
    """

    def __init__(self, workdir: str | os.PathLike, *, catalog: ModelCatalog | None = None,
                 limits: guard.Limits | None = None):
        self.files = guard.ScratchFolder(workdir, max_age_s=SCRATCH_MAX_AGE_S)
        self.catalog = catalog or ModelCatalog.build()
        self.limits = limits or guard.Limits()
        self.blocks: gr.Blocks | None = None
        self.example_cache: dict[tuple[str, str], tuple[np.ndarray, int, float]] = {}

    # ---------------------------------------------------------------------------- files
    def scratch(self, name: str) -> Path:
        """A fresh path named ``name`` (in a folder of its own) in the work folder; prunes old ones."""
        return self.files.path(name)

    def read(self, path: str | None, what: str) -> tuple[np.ndarray, int]:
        """An uploaded clip, within this server's limits (``what`` names it in errors); what was odd
        about it (truncated, beyond full scale) shows as a warning toast."""
        return self.read_noting(path, what)[0]

    def read_noting(self, path: str | None, what: str) -> tuple[tuple[np.ndarray, int], list[str]]:
        """:meth:`read`, and the path-free notes on the clip (also shown as warning toasts)."""
        with notices.collected() as caught:
            clip = guard.read_clip(path, what, self.limits)
        notes = [guard.scrub(note) for note in caught]
        for note in notes:
            gr.Warning(as_text(note))
        return clip, notes

    def load_result(self, path: str) -> tuple[np.ndarray, int]:
        """A file this app wrote or already read (a result, an original), at most at ``limits.max_rate``."""
        return load_audio(path, max_sr=self.limits.max_rate)

    # ---------------------------------------------------------------------------- source
    @user_errors
    def generate(self, prompt: str, model: str, duration_s: float, guidance_scale: float, temperature: float,
                 top_k: int, seed: int, progress: gr.Progress = gr.Progress()) -> str:
        """Generate a clip with MusicGen (``model``: a catalog name); returns the path of a 32 kHz WAV."""
        source = guard.musicgen_source(self.catalog, model)
        models.require("musicgen", models.musicgen_ready(source), str(model), models.ready_musicgen(self.catalog))
        settings = dict(duration_s=duration_s, guidance_scale=guidance_scale, temperature=temperature,
                        top_k=top_k, seed=seed)
        report = progress_callback(progress, "generating")
        with accelerator(progress):
            y, sr = _run_neural(musicgen.generate, str(prompt or ""), model=source, progress=report, **settings)
        return str(save_audio(self.scratch("musicgen.wav"), y, sr))

    def audio_rate(self, audio: str | None) -> int | None:
        """The sample rate of the loaded clip (None without one or when it cannot be read)."""
        if not audio:
            return None
        try:
            return probe_audio(audio).samplerate  # the header only: Restore reads (and checks) the whole file
        except Exception:  # the restore button says what is wrong with the file
            return None

    # ---------------------------------------------------------------------------- restore
    @user_errors
    def restore(self, audio: str | None, reference: str | None, method: str, params: str = "{}",
                history: list | None = None, request: gr.Request = None, progress: gr.Progress = gr.Progress()):
        """Restore ``audio`` with ``method`` (a name or chain) and ``params`` (JSON), and compare at once.

        Returns the restored file (16-bit WAV named ``song.method.wav``), a report, the session's
        history (state, table and choosers), the compare section's title, pictures, metrics table
        and A/B player value, and the pair now shown (state for :meth:`details`).
        """
        peers.limit("restore", request)  # before anything is read or written
        history = history if history is not None else []  # the session's own list: files added meanwhile stay
        (y, sr), notes = self.read_noting(audio, "the audio to restore")
        ref = self.read(reference, "the reference") if reference else None  # refused before any work
        mismatch = reference_note(ref, {f"original ({downloads.source_stem(audio)})": (y, sr)})
        values = parse_params(params)
        chain = parse_chain(method)
        loaded = guard.restore_params(self.catalog, method, values, self.limits)  # model names -> sources
        models.check_restore(method, loaded, self.catalog)
        neural = any(m.neural for m in chain)
        budget.check_work(budget.estimate_seconds(chain, values, y.shape[-1] / sr, sr, gpu=neural and budget.gpu_available()),
                          self.limits, what=f"restoring {guard._clock(y.shape[-1] / sr)} with {method}")
        report = progress_callback(progress, f"restoring with {method}", end=0.7, blocks=self.blocks, request=request,
                                   limit_s=budget.deadline_s(self.limits))
        original_measured = comparison.measure_later((y, sr))  # while the restoration runs
        cached = self.example_cache.get((fingerprint(y, sr), method)) if _defaults(chain, values) else None
        start = time.perf_counter()
        if cached is not None:
            out, rate, seconds = cached
        else:
            if neural:
                with accelerator(progress):
                    out, rate = _run_neural(restore, y, sr, method, loaded, progress=report)
            else:
                out, rate = restore(y, sr, method, loaded, progress=report)
            seconds = time.perf_counter() - start
        restored_at = time.perf_counter()
        stem = downloads.source_stem(audio)
        restored_path = save_audio(self.scratch(downloads.download_name(audio, method)), out, rate)
        as_uploaded = Path(audio).suffix.lower() in BROWSER_PLAYS and probe_audio(audio).samplerate == sr
        original_path = audio if as_uploaded else save_audio(self.scratch(f"{stem}.original.wav"), y, sr)
        run, clock = len(history) + 1, time.strftime("%H:%M:%S")
        a = Side(str(original_path), f"original ({stem})", sr)
        b = Side(str(restored_path), f"#{run} {method}", rate)
        caption = f"{a.label} vs {b.label}, restored at {clock}"
        painting = time.perf_counter()
        shown = comparison.first_paint(self.scratch, a, original_measured, b, (out, rate), ref, caption=caption,
                                       progress=_sub(progress, 0.7, 1.0))
        log.info("restore %s: %.2f s clip restored in %.2f s, saved in %.2f s, first paint in %.2f s", method,
                 y.shape[-1] / sr, seconds, painting - restored_at, time.perf_counter() - painting)
        history.append(session_history.entry(run, method=method, params=values, seconds=seconds, clock=clock,
                                              source=stem, original=a, restored=b, reference=reference))
        duration = y.shape[-1] / sr
        text = "".join(f"⚠️ {html.escape(note, quote=False)}  \n" for note in notes + ([mismatch] if mismatch else [])) + (
                f"**{method}**: {duration:.2f} s restored in {seconds:.2f} s (real-time factor "
                f"{seconds / duration:.3f}), {sr} Hz → {rate} Hz.  \nSame on the command line: `{cli_line(method, values)}`")
        pair = {"a": a.as_dict(), "b": b.as_dict(), "reference": reference}
        return (str(restored_path), text, history, session_history.table(history),
                *session_history.chooser_updates(history), compare_title(caption, note=mismatch),
                shown["spectrograms"], shown["difference"], shown["psd"], shown["table"], shown["ab"], pair)

    def restore_started(self, method: str, history: list | None) -> str:
        """The compare section's title while a restoration runs."""
        last = (history or [])[-1:]
        shown = f" The comparison below is still #{last[0]['run']} {last[0]['method']} ({last[0]['time']})." if last else ""
        return compare_title(f"Restoring with {method}…{shown}", busy=True)

    def restore_failed(self, method: str, history: list | None, request: gr.Request = None) -> tuple:
        """After a failed restoration: clear the compare section, the Restored player and its report
        (no earlier result under the error), and say what failed and when."""
        message = last_error(request)
        text = f"Restoring with {method} failed at {time.strftime('%H:%M:%S')}" + (f": {message.rstrip('.')}." if message else ".")
        if history:
            text += " Nothing is compared now; earlier results are in the history below (A/B any two there)."
        return (compare_title(text, failed=True), None, None, None, None, None, None, None, "")

    # ---------------------------------------------------------------------------- compare
    @user_errors
    def details(self, pair: dict | None, visqol: bool = True, progress: gr.Progress = gr.Progress()):
        """The complete metrics table of the pair shown (adds HPSS, MR-STFT, log-mel and ViSQOL)."""
        if not pair:
            raise BadInputError("nothing to measure yet: restore a clip first")
        a, b = Side.from_dict(dict(pair["a"])), Side.from_dict(dict(pair["b"]))
        reference = pair.get("reference")
        start = time.perf_counter()
        ref = self.read(reference, "the reference") if reference else None
        table = comparison.details(self.load_result(a.path), self.load_result(b.path), a, b, ref, visqol=bool(visqol),
                                   progress=progress)
        log.info("details of %s: %.2f s", b.label, time.perf_counter() - start)
        return table, {"a": a.as_dict(), "b": b.as_dict(), "reference": reference}

    @user_errors
    def analyze(self, original: str | None, restored: str | None, reference: str | None = None,
                visqol: bool = True, progress: gr.Progress = gr.Progress()):
        """Compare two files (and both with a clean ``reference``): title, pictures, the complete
        metrics table, the A/B player's value and the pair shown."""
        x, x_sr = self.read(original, "the original")
        y, y_sr = self.read(restored, "the restored audio")
        ref = self.read(reference, "the reference") if reference else None
        a = Side(str(save_audio(self.scratch("a.wav"), x, x_sr)), f"original ({downloads.source_stem(original)})", x_sr)
        b = Side(str(save_audio(self.scratch("b.wav"), y, y_sr)), downloads.source_stem(restored), y_sr)
        caption = f"{a.label} vs {b.label}, measured at {time.strftime('%H:%M:%S')}"
        mismatch = reference_note(ref, {a.label: (x, x_sr), b.label: (y, y_sr)})
        shown = comparison.first_paint(self.scratch, a, (x, x_sr), b, (y, y_sr), ref, caption=caption,
                                       progress=_sub(progress, 0.0, 0.5))
        table = comparison.details((x, x_sr), (y, y_sr), a, b, ref, visqol=bool(visqol), progress=_sub(progress, 0.5, 1.0))
        pair = {"a": a.as_dict(), "b": b.as_dict(), "reference": reference}
        return (compare_title(caption, note=mismatch), shown["spectrograms"], shown["difference"], shown["psd"], table,
                shown["ab"], pair)

    @user_errors
    def compare_history(self, history: list | None, a_key: str, b_key: str, reference: str | None = None,
                        progress: gr.Progress = gr.Progress()):
        """A/B any two results or files of the session (or one and the original): the compare section's
        outputs. A ``<clip>.reference`` file of the user's files compared replaces ``reference``
        (:func:`studio.own_files.pair_reference`); sides of different lengths are refused
        (:func:`studio.own_files.check_lengths`)."""
        a, b = session_history.side(history, a_key), session_history.side(history, b_key)
        if a.path == b.path:
            raise BadInputError("choose two different results for A and B")
        a.against_reference = b.against_reference = None
        audio_a, audio_b = self.load_result(a.path), self.load_result(b.path)
        reference, note = own_files.pair_reference(history, a_key, b_key, reference)
        ref = self.read(reference, "the reference") if reference else None
        own_files.check_lengths({a.label: audio_a, b.label: audio_b, **({"the reference": ref} if ref else {})})
        caption = f"{a.label} vs {b.label}, from this session's history{note}"
        mismatch = reference_note(ref, {a.label: audio_a, b.label: audio_b})
        shown = comparison.first_paint(self.scratch, a, audio_a, b, audio_b, ref, caption=caption,
                                       progress=_sub(progress, 0.0, 1.0))
        pair = {"a": a.as_dict(), "b": b.as_dict(), "reference": reference}
        return (compare_title(caption, note=mismatch), shown["spectrograms"], shown["difference"], shown["psd"],
                shown["table"], shown["ab"], pair)

    # ---------------------------------------------------------------------------- your files
    @user_errors
    def add_files(self, files: list | None, history: list | None):
        """Add the user's files (audio or zips, :mod:`studio.own_files`) to the session's history.

        Returns the status (one line per file skipped), the emptied upload, the history (state and
        table) and the A, B and replay choosers, A and B set to the first two files added.
        """
        history = history if history is not None else []
        added, skipped = own_files.add([str(f) for f in files or []], history, folder_for=self.scratch,
                                       limits=self.limits, playable=self.playable)
        keys = [str(h["run"]) for h in added]
        a, b = keys[:2] if len(keys) > 1 else (None, keys[0])
        return (own_files.status(added, skipped), None, history, session_history.table(history),
                *session_history.chooser_updates(history, a, b))

    def playable(self, path: str | Path, y: np.ndarray, sr: int) -> str:
        """The file the A/B player plays for ``path`` decoded as ``(y, sr)``: WAV and FLAC as they are
        (the browser decodes them sample for sample), anything else as a WAV copy."""
        path = Path(path)
        if path.suffix.lower() in BROWSER_PLAYS:
            return str(path)
        return str(save_audio(self.scratch(f"{downloads.source_stem(path)}.wav"), y, sr))

    # ---------------------------------------------------------------------------- downloads
    @user_errors
    def export(self, history: list | None, key: str | None, file_format: str = downloads.DEFAULT_FORMAT):
        """The result ``key`` of the session to replay, and as a download named ``song.method.ext``."""
        if not history or not key:
            return None, None
        run = session_history.find(history, key)
        path = run["restored"]["path"]
        y, sr = load_audio(path)
        name = downloads.download_name(run["source"], run["method"], file_format)
        return path, str(downloads.export(self.scratch(name), y, sr, file_format))

    # ---------------------------------------------------------------------------- stems
    @user_errors
    def separate(self, audio: str | None, model: str, shifts: int, overlap: float, segment: float,
                 device: str, progress: gr.Progress = gr.Progress()) -> list:
        """Separate ``audio`` with the Demucs model named ``model``; one player update per stem slot
        (unused slots hidden)."""
        from restoration.models.demucs_method import separate

        chosen = guard.demucs_settings(self.catalog, model)
        models.require("demucs", models.demucs_ready(chosen["model"], chosen["repo"]), str(model),
                       models.ready_demucs(self.catalog))
        budget.check_demucs(shifts, overlap, self.limits)
        segment = budget.demucs_segment(segment, self.limits)
        y, sr = self.read(audio, "the audio to separate")
        settings = dict(**chosen, shifts=shifts, overlap=overlap, segment=segment, device=device)
        demucs = parse_chain("demucs")
        cost = budget.estimate_seconds(demucs, {"shifts": shifts, "overlap": overlap}, y.shape[-1] / sr, sr,
                                       gpu=budget.gpu_available())
        budget.check_work(cost, self.limits, what=f"separating {guard._clock(y.shape[-1] / sr)}")
        report = progress_callback(progress, "separating stems", limit_s=budget.deadline_s(self.limits))
        with accelerator(progress):
            stems, rate = _run_neural(separate, y, sr, progress=report, **settings)
        players = [gr.update(value=(rate, to_pcm16(stem)), label=name, visible=True) for name, stem in stems.items()]
        return players + [gr.update(value=None, visible=False)] * (MAX_STEMS - len(players))

    # ---------------------------------------------------------------------------- examples
    def cache_example(self, clip: str | os.PathLike, method: str) -> None:
        """Restore an example clip with ``method``'s defaults now, so clicking it later is instant."""
        y, sr = load_audio(clip)
        start = time.perf_counter()
        out, rate = restore(y, sr, method)
        self.example_cache[(fingerprint(y, sr), method)] = (out, rate, time.perf_counter() - start)


def fingerprint(y: np.ndarray, sr: int) -> str:
    """A digest of the samples and rate: the key of a cached example (the same clip, whatever its path)."""
    digest = hashlib.sha1(np.ascontiguousarray(y))  # the samples' own buffer: no copy
    digest.update(str(sr).encode())
    return digest.hexdigest()


def _defaults(chain: list, values: dict) -> bool:
    """Whether ``values`` are the defaults of a single-method ``chain`` (the cached examples' setting)."""
    if len(chain) != 1:
        return False
    try:
        return chain[0].resolve(values) == chain[0].defaults()
    except Exception:
        return False


def _sub(progress: Callable, start: float, end: float) -> Callable:
    """``progress(fraction, desc=...)`` mapped into ``[start, end]`` of the whole job."""
    def report(fraction: float, desc: str = "") -> None:
        if progress is not None:
            progress(start + (end - start) * fraction, desc=desc)
    return report


def compare_title(text: str, *, busy: bool = False, failed: bool = False, note: str | None = None) -> str:
    """The compare section's title line (Markdown): what is compared, from when; or what failed; and a
    warning ``note`` (e.g. :func:`reference_note`) on a line of its own."""
    icon = "⏳ " if busy else ("⚠️ " if failed else "")
    warning = f"  \n⚠️ {html.escape(note, quote=False)}" if note else ""
    return f"#### 3 · Compare\n{icon}{html.escape(text, quote=False)}{warning}"


def reference_note(reference: tuple[np.ndarray, int] | None, sides: dict[str, tuple[np.ndarray, int]]) -> str | None:
    """Why the clean ``reference`` does not look like the original of the first of ``sides`` (``{label:
    (y, sr)}``) it does not match (:func:`restoration.analysis.metrics.reference_mismatch`, the CLI's
    ``analyze --reference`` check), also shown as a warning toast; None when it matches or there is none.
    The metrics are still measured (on the common length), as the CLI prints them."""
    if reference is None:
        return None
    for label, (y, sr) in sides.items():
        why = reference_mismatch(y, sr, *reference)
        if why:
            note = f"reference vs {label}: {why}"
            gr.Warning(as_text(note))
            return note
    return None
