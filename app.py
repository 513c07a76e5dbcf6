"""Restoration studio: generate music with MusicGen, restore it, and compare before and after.

``python app.py [--host 127.0.0.1] [--port 7860] [--share] [--db PATH] [--models-dir DIR] [--max-duration S]
[--max-upload-mb MB]`` (admin password: env ``RESTORATION_ADMIN_PASSWORD``)

``build_ui()`` builds the Gradio app without launching it; ``main()`` parses the flags and launches.
Handlers are thin: they convert at the edge (file paths, ``(rate, int16)`` arrays, JSON) and call
the ``restoration`` library; every :class:`RestorationError` becomes a one-line ``gr.Error``.
Clients pick models by name from the operator's catalog and never name a server path (``studio.guard``).
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import gradio as gr
import numpy as np

from restoration import (BadInputError, Method, Param, RestorationError, list_methods, parse_chain,
                         resample, restore, save_audio, to_pcm16)
from restoration.audio import to_channels
from restoration.models import musicgen
from restoration.models.catalog import ModelCatalog
from studio import guard

ASSETS = Path(__file__).resolve().parent / "assets"
#: Method selected when the app opens (the first registered one if it is missing).
DEFAULT_METHOD = "sbr"
#: Loudness both sides of the A/B player are matched to, LUFS.
DEFAULT_AB_LUFS = -20.0
#: Stem players in the Stems panel: the most any Demucs model makes (htdemucs_6s).
MAX_STEMS = 6
#: Parameters of the demucs method that the Separate button passes to ``separate``.
SEPARATE_SETTINGS = ("model", "shifts", "overlap", "segment", "device")
#: Scratch files older than this are deleted (gradio keeps its own copies while they are shown).
SCRATCH_MAX_AGE_S = 3600.0
#: Events that need the accelerator (MusicGen, neural restoration, separation) run one at a time.
GPU_QUEUE = "gpu"

try:  # On Hugging Face ZeroGPU, a GPU is attached only while a function decorated with spaces.GPU runs.
    import spaces

    _on_gpu = spaces.GPU(duration=180)
except ImportError:
    def _on_gpu(fn: Callable) -> Callable:
        return fn


# ============================================================================== handlers

def user_errors(fn: Callable) -> Callable:
    """Turn :class:`RestorationError` (bad input, missing model, ...) into a one-line, path-free
    ``gr.Error`` and log every error under the handler's endpoint (``guard.handled``)."""
    return guard.handled(f"/{fn.__name__}")(fn)


def progress_callback(progress: gr.Progress, desc: str, *, unit: str | None = None) -> Callable[[int, int], None]:
    """The library's ``progress(done, total)`` drawn on a gradio progress bar (counts when ``unit`` is set)."""
    def report(done: int, total: int) -> None:
        if unit:
            progress((done, total), desc=desc, unit=unit)
        else:
            progress(done / total if total else 1.0, desc=desc)
    return report


@_on_gpu
def _generate_audio(prompt: str, model: str, settings: dict, progress: gr.Progress) -> tuple[np.ndarray, int]:
    return musicgen.generate(prompt, model=model, progress=progress_callback(progress, "generating", unit="tokens"),
                             **settings)


def _restore(y: np.ndarray, sr: int, method: str, params: dict, progress: gr.Progress):
    return restore(y, sr, method, params, progress=progress_callback(progress, f"restoring with {method}"))


_restore_on_gpu = _on_gpu(_restore)


@_on_gpu
def _separate_on_gpu(y: np.ndarray, sr: int, settings: dict, progress: gr.Progress):
    from restoration.models.demucs_method import separate

    return separate(y, sr, progress=progress_callback(progress, "separating stems"), **settings)


class Studio:
    """The app's handlers. Files it writes for gradio go to ``workdir`` (pruned after an hour);
    models come from ``catalog`` by name; clips are read within ``limits``."""

    def __init__(self, workdir: str | os.PathLike, *, catalog: ModelCatalog | None = None,
                 limits: guard.Limits | None = None):
        self.workdir = Path(workdir)
        self.files = guard.ScratchFolder(workdir, max_age_s=SCRATCH_MAX_AGE_S)
        self.catalog = catalog or ModelCatalog.build()
        self.limits = limits or guard.Limits()

    # ---------------------------------------------------------------------------- source
    @user_errors
    def generate(self, prompt: str, model: str, duration_s: float, guidance_scale: float, temperature: float,
                 top_k: int, seed: int, progress: gr.Progress = gr.Progress()) -> str:
        """Generate a clip with MusicGen; returns the path of a 32 kHz WAV."""
        settings = dict(duration_s=duration_s, guidance_scale=guidance_scale, temperature=temperature,
                        top_k=top_k, seed=seed)
        y, sr = _generate_audio(str(prompt or ""), guard.musicgen_source(self.catalog, model), settings, progress)
        return str(save_audio(self.scratch("musicgen.wav"), y, sr))

    # ---------------------------------------------------------------------------- restore
    @user_errors
    def restore(self, audio: str | None, method: str, params: str = "{}", file_format: str = "wav",
                history: list | None = None, progress: gr.Progress = gr.Progress()):
        """Restore ``audio`` with ``method`` (a name or chain) and ``params`` (JSON object).

        Returns the restored file (WAV or FLAC at the method's output rate, shown in the player and
        offered as the download), a one-line report, and the session's updated history and its table.
        """
        if file_format not in ("wav", "flac"):
            raise BadInputError(f"file_format must be wav or flac, got {file_format!r}")
        y, sr = self.read(audio, "the audio to restore")
        values = parse_params(params)
        loaded = guard.restore_params(self.catalog, method, values, self.limits)
        run = _restore_on_gpu if any(m.neural for m in parse_chain(method)) else _restore
        start = time.perf_counter()
        out, rate = run(y, sr, method, loaded, progress)
        seconds = time.perf_counter() - start
        path = save_audio(self.scratch(f"restored-{_slug(method)}.{file_format}"), out, rate)
        duration = y.shape[-1] / sr
        report = (f"**{method}**: {duration:.2f} s restored in {seconds:.2f} s (real-time factor "
                  f"{seconds / duration:.3f}), {sr} Hz → {rate} Hz.  \nSame on the command line: `{cli_line(method, values)}`")
        row = [len(history or []) + 1, method, json.dumps(values), round(seconds, 2), rate]
        history = [*(history or []), row]
        return str(path), str(path), report, history, history

    # ---------------------------------------------------------------------------- compare
    @user_errors
    def analyze(self, original: str | None, restored: str | None, reference: str | None = None,
                ab_lufs: float = DEFAULT_AB_LUFS, visqol: bool = True, progress: gr.Progress = gr.Progress()):
        """Compare ``original`` with ``restored`` (and both with a clean ``reference`` when given).

        Returns the spectrogram pair, their difference and the PSD overlay (PNG paths), the metrics
        table, and the A/B player's value (both sides loudness-matched to ``ab_lufs``).
        """
        from restoration.analysis import loudness, metrics, plots

        x, x_sr = self.read(original, "the original")
        y, y_sr = self.read(restored, "the restored audio")
        ref = self.read(reference, "the reference") if reference else None
        progress(0.1, desc="plotting")
        figures = [
            plots.spectrogram_pair(x, x_sr, y, y_sr, titles=("Original", "Restored")),
            plots.difference_spectrogram(x, x_sr, y, y_sr),
            plots.psd_overlay({"original": (x, x_sr), "restored": (y, y_sr), **({"reference": ref} if ref else {})}),
        ]
        images = [self.save_figure(fig, name) for fig, name in zip(figures, ("spectrograms", "difference", "psd"))]
        progress(0.5, desc="measuring")
        table = metrics_table(metrics, x, x_sr, y, y_sr, ref, visqol=bool(visqol))
        progress(0.9, desc="loudness matching")
        ab = self.ab_pair(loudness, x, x_sr, y, y_sr, float(ab_lufs))
        return (*images, table, ab)

    def ab_pair(self, loudness, x: np.ndarray, x_sr: int, y: np.ndarray, y_sr: int, lufs: float) -> dict:
        """The A/B player's value: both sides at ``y_sr`` and one loudness, as 16-bit WAV files.

        Each side is matched to ``lufs``; when a side had to stay quieter to keep its peak below
        full scale, the other is brought down to the same loudness.
        """
        x = to_channels(resample(x, x_sr, y_sr), y.shape[0])
        reachable = [loudness.integrated_loudness(loudness.match_loudness(s, y_sr, lufs)[0], y_sr) for s in (x, y)]
        level = min(reachable)  # below each side's peak limit, so neither is limited at this level
        (a, gain_a), (b, gain_b) = (loudness.match_loudness(s, y_sr, level) for s in (x, y))
        return {
            "a": ab_file(save_audio(self.scratch("ab-original.wav"), a, y_sr)),
            "b": ab_file(save_audio(self.scratch("ab-restored.wav"), b, y_sr)),
            "lufs": round(level, 2), "gain_a_db": round(gain_a, 2), "gain_b_db": round(gain_b, 2),
            "note": f"Both sides at {level:.1f} LUFS: original {gain_a:+.1f} dB, restored {gain_b:+.1f} dB "
                    f"(original resampled to {y_sr} Hz).",
        }

    # ---------------------------------------------------------------------------- stems
    @user_errors
    def separate(self, audio: str | None, model: str, shifts: int, overlap: float, segment: float,
                 device: str, progress: gr.Progress = gr.Progress()) -> list:
        """Separate ``audio`` with the Demucs model named ``model``; one player update per stem slot (unused slots hidden)."""
        y, sr = self.read(audio, "the audio to separate")
        settings = dict(**guard.demucs_settings(self.catalog, model), shifts=shifts, overlap=overlap, segment=segment,
                        device=device)
        stems, rate = _separate_on_gpu(y, sr, settings, progress)
        players = [gr.update(value=(rate, to_pcm16(stem)), label=name, visible=True) for name, stem in stems.items()]
        return players + [gr.update(value=None, visible=False)] * (MAX_STEMS - len(players))

    # ---------------------------------------------------------------------------- files
    def scratch(self, name: str) -> Path:
        """A fresh path named ``name`` in the work folder; deletes scratch files past their age."""
        return self.files.path(name)

    def read(self, path: str | None, what: str) -> tuple[np.ndarray, int]:
        """An uploaded clip, within this server's limits (``what`` names it in errors)."""
        return guard.read_clip(path, what, self.limits)

    def save_figure(self, fig, name: str) -> str:
        path = self.scratch(f"{name}.png")
        fig.savefig(path, dpi=100)
        return str(path)


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


def metrics_table(metrics, x: np.ndarray, x_sr: int, y: np.ndarray, y_sr: int, ref: tuple | None, *,
                  visqol: bool) -> dict:
    """Rows of metric name and values: no-reference metrics of both, their log-mel distance, and the
    reference metrics of both against ``ref`` when one is given."""
    columns = {"original": metrics.no_reference_metrics(x, x_sr), "restored": metrics.no_reference_metrics(y, y_sr)}
    rows = [[name, *(_cell(values.get(name)) for values in columns.values())] for name in columns["original"]]
    rows.append(["logmel_original_vs_restored", _cell(metrics.log_mel_distance(x, x_sr, y, y_sr)), None])
    headers = ["metric", *columns]
    if ref is not None:
        against = [metrics.reference_metrics(s, s_sr, *ref, visqol=visqol) for s, s_sr in ((x, x_sr), (y, y_sr))]
        rows += [[f"{name} (vs reference)", *(_cell(v[name]) for v in against)] for name in against[0]]
    return {"headers": headers, "data": rows}


def _cell(value: Any) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return float(f"{float(value):.5g}")


def ab_file(path: Path) -> dict:
    """A gradio file payload: gradio serves it and puts its URL in the A/B player's value."""
    return {"path": str(path), "orig_name": path.name, "mime_type": "audio/wav", "meta": {"_type": "gradio.FileData"}}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)[:40]


# ============================================================================== parameter controls

def slider_step(param: Param) -> float:
    """A step that puts the default and both bounds on the slider's grid (about 200 to 2000 steps)."""
    span = float(param.high) - float(param.low)
    step = 10.0 ** math.floor(math.log10(span / 200.0)) if span > 0 else 1.0
    if param.kind == "int":
        return max(1, int(step))
    while step > 1e-6 and any(abs(v / step - round(v / step)) > 1e-6 for v in (param.low, param.high, param.default)):
        step /= 10.0
    return step


def control_for(param: Param) -> gr.components.Component:
    """The input component for one method parameter, built from its spec."""
    common = dict(label=param.name, info=param.help, value=param.default)
    if param.kind == "bool":
        return gr.Checkbox(**common)
    if param.kind == "choice":
        return gr.Dropdown(choices=[(str(c), c) for c in param.choices], **common)
    if param.kind == "text":
        return gr.Textbox(**common)
    bounded = param.low is not None and param.high is not None
    if bounded and (param.kind == "float" or param.high - param.low <= 10_000):
        return gr.Slider(minimum=param.low, maximum=param.high, step=slider_step(param), **common)
    return gr.Number(minimum=param.low, maximum=param.high, precision=0 if param.kind == "int" else None, **common)


class MethodControls:
    """One group of parameter controls per registered method; a chain shows the groups of its stages."""

    def __init__(self, methods: list[Method], *, selected: str = "", catalog: ModelCatalog | None = None):
        self.methods = methods
        catalog = catalog or ModelCatalog.build()
        self.groups: dict[str, gr.Column] = {}
        self.controls: dict[str, dict[str, gr.components.Component]] = {m.name: {} for m in methods}
        shown = self.stages(selected)
        for method in methods:
            with gr.Column(visible=method.name in shown) as group:
                if method.params:
                    gr.Markdown(f"**{method.name}** parameters")
                self.controls[method.name] = {p.name: guard.model_control(method.name, p, catalog) or control_for(p)
                                              for p in method.params if guard.offered(method.name, p)}
            self.groups[method.name] = group

    @property
    def inputs(self) -> list:
        return [c for controls in self.controls.values() for c in controls.values()]

    def stages(self, method: str) -> list[str]:
        names = [part.strip() for part in str(method or "").split("+")]
        return [n for n in names if n in self.controls]

    def show(self, method: str) -> list:
        """Visibility of every group, and the description of ``method``."""
        stages = self.stages(method)
        return [gr.update(visible=name in stages) for name in self.groups] + [describe(method)]

    def collect(self, method: str, *values) -> str:
        """The parameters of ``method``'s stages as JSON (``stage.name`` keys in a chain)."""
        flat = iter(values)
        chosen = {}
        stages = self.stages(method)
        for name, controls in self.controls.items():
            for key in controls:
                value = next(flat)
                if name in stages:
                    chosen[f"{name}.{key}" if len(stages) > 1 else key] = value
        return json.dumps(chosen)


# ============================================================================== the A/B player

AB_TEMPLATE = """
<div class="ab" data-a="${value?.a?.url ?? ''}" data-b="${value?.b?.url ?? ''}">
  <div class="ab-row">
    <button class="ab-play" type="button" disabled>▶ Play</button>
    <button class="ab-toggle" type="button" disabled title="Switch between original and restored (key X)">A · Original</button>
    <input class="ab-seek" type="range" min="0" max="1000" value="0" disabled aria-label="position">
    <span class="ab-time">0:00 / 0:00</span>
  </div>
  <div class="ab-note">${value?.note ?? 'Restore a clip to compare the original (A) and the restored audio (B) here.'}</div>
  <div class="ab-status"></div>
</div>
"""

AB_CSS = """
.ab { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px; }
.ab-row { display: flex; gap: 10px; align-items: center; }
.ab-row button { padding: 6px 14px; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); cursor: pointer; white-space: nowrap; }
.ab-toggle[data-side="1"] { background: var(--color-accent-soft); }
.ab-seek { flex: 1; }
.ab-time { font-variant-numeric: tabular-nums; min-width: 90px; }
.ab-note, .ab-status { font-size: 0.9em; margin-top: 6px; opacity: 0.85; }
"""

# Both sides are decoded into Web Audio buffers and started together on one clock; the toggle moves
# the gain from one to the other with a 10 ms ramp, so the switch keeps the playback position exactly.
AB_JS = """
const player = { ctx: null, bufs: null, gains: [], srcs: [], side: 0, playing: false, offset: 0, startedAt: 0, duration: 0, token: 0 };
const $ = (sel) => element.querySelector(sel);
const fmt = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
const status = (text) => { const el = $('.ab-status'); if (el) el.textContent = text; };
const position = () => player.playing ? Math.min(player.duration, player.offset + player.ctx.currentTime - player.startedAt) : player.offset;
function render() {
  const root = $('.ab'); if (!root) return;
  const ready = !!player.bufs;
  root.dataset.side = player.side; root.dataset.playing = player.playing; root.dataset.ready = ready;
  root.dataset.position = position().toFixed(3);
  for (const b of root.querySelectorAll('button, input')) b.disabled = !ready;
  $('.ab-play').textContent = player.playing ? '⏸ Pause' : '▶ Play';
  const toggle = $('.ab-toggle');
  toggle.textContent = player.side ? 'B · Restored' : 'A · Original';
  toggle.dataset.side = player.side;
  if (player.duration) $('.ab-seek').value = Math.round(1000 * position() / player.duration);
  $('.ab-time').textContent = `${fmt(position())} / ${fmt(player.duration)}`;
}
function stopSources() {
  for (const s of player.srcs) { s.onended = null; try { s.stop(); } catch (e) {} }
  player.srcs = [];
}
function start(at) {
  const ctx = player.ctx;
  const when = ctx.currentTime + 0.05;
  player.gains = player.bufs.map((buf, i) => {
    const gain = ctx.createGain();
    gain.gain.value = i === player.side ? 1 : 0;
    gain.connect(ctx.destination);
    const src = ctx.createBufferSource();
    src.buffer = buf; src.connect(gain); src.start(when, at);
    player.srcs.push(src);
    return gain;
  });
  player.srcs[0].onended = () => { stopSources(); player.playing = false; player.offset = 0; render(); };
  player.startedAt = when; player.offset = at; player.playing = true;
  const tick = () => { if (player.playing) { render(); requestAnimationFrame(tick); } };
  requestAnimationFrame(tick);
}
function pause() { player.offset = position(); stopSources(); player.playing = false; }
function playPause() {
  if (!player.bufs) return;
  player.ctx.resume();
  if (player.playing) pause(); else start(player.offset >= player.duration - 0.01 ? 0 : player.offset);
  render();
}
function toggleSide() {
  if (!player.bufs) return;
  player.side = 1 - player.side;
  if (player.playing) {
    const t = player.ctx.currentTime;
    player.gains.forEach((g, i) => { g.gain.setValueAtTime(g.gain.value, t); g.gain.linearRampToValueAtTime(i === player.side ? 1 : 0, t + 0.01); });
  }
  render();
}
function seek(fraction) {
  const was = player.playing;
  if (was) pause();
  player.offset = fraction * player.duration;
  if (was) start(player.offset);
  render();
}
async function load() {
  const root = $('.ab'); if (!root) return;
  const urls = [root.dataset.a, root.dataset.b];
  if (player.playing) pause();
  player.bufs = null; player.duration = 0; player.offset = 0;
  const token = ++player.token;
  if (!urls[0] || !urls[1]) { render(); return; }
  status('loading…'); render();
  try {
    player.ctx = player.ctx || new AudioContext();
    const bufs = await Promise.all(urls.map(async (u) => {
      const response = await fetch(u);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return player.ctx.decodeAudioData(await response.arrayBuffer());
    }));
    if (token !== player.token) return;
    player.bufs = bufs;
    player.duration = Math.min(bufs[0].duration, bufs[1].duration);
    status('ready: press X (or the A/B button) to switch at the same position');
  } catch (e) {
    status(`cannot load the audio: ${e.message}`);
  }
  render();
}
element.addEventListener('click', (e) => {
  if (e.target.closest('.ab-play')) playPause();
  else if (e.target.closest('.ab-toggle')) toggleSide();
});
element.addEventListener('input', (e) => { if (e.target.closest('.ab-seek')) seek(e.target.value / 1000); });
window.restorationAB = { toggle: toggleSide, playPause, position, get side() { return player.side; } };
if (!window.restorationABKey) {
  window.restorationABKey = true;
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)) && !(t.classList && t.classList.contains('ab-seek'));
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'x' || e.key === 'X') { e.preventDefault(); window.restorationAB.toggle(); }
  });
}
watch('value', load);
load();
"""


def ab_player() -> gr.HTML:
    return gr.HTML(value=None, html_template=AB_TEMPLATE, css_template=AB_CSS, js_on_load=AB_JS,
                   elem_id="ab-player", label="A/B player")


# ============================================================================== layout

def build_ui(*, db_path: str | None = None, admin_password: str | None = None,
             workdir: str | os.PathLike | None = None, catalog: ModelCatalog | None = None,
             limits: guard.Limits | None = None) -> gr.Blocks:
    """Build the app (nothing is launched). ``db_path`` and ``admin_password`` go to the listening test;
    ``workdir`` holds the files the handlers write (default: a new temporary folder); ``catalog`` is
    what clients may pick (default: the built-in models); ``limits`` bound each request."""
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="restoration-app-")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    catalog = catalog or ModelCatalog.build()
    limits = limits or guard.Limits()
    studio = Studio(workdir, catalog=catalog, limits=limits)
    methods = list_methods()
    names = [m.name for m in methods]
    with gr.Blocks(title="MusicGen restoration studio", delete_cache=(3600, 3600)) as demo:
        history = gr.State([])  # this browser session's restorations
        gr.Markdown("# MusicGen restoration studio\nGenerate or load a clip, restore it, and compare: "
                    "spectrograms, PSD, metrics and a loudness-matched A/B player.")
        with gr.Tab("Studio"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1):
                    src = _source_panel(catalog, limits)
                with gr.Column(scale=1):
                    rest = _restore_panel(methods, DEFAULT_METHOD if DEFAULT_METHOD in names else names[0], catalog)
            cmp = _compare_panel()
            with gr.Accordion("Stems (Demucs)", open=False, visible="demucs" in names):
                gr.Markdown("Separate the original into stems with the Demucs settings of the *demucs* method "
                            "(choose it above to change them; its gain sliders set the remix).")
                separate_btn = gr.Button("Separate")
                stems = [gr.Audio(label=f"stem {i + 1}", visible=False, interactive=False, type="numpy")
                         for i in range(MAX_STEMS)]
            with gr.Accordion("This session's restorations", open=False):
                history_table = gr.Dataframe(headers=["#", "method", "parameters", "seconds", "output Hz"],
                                             interactive=False, elem_id="history")
        if _listening_available():
            with gr.Tab("Listening test"):
                from studio.listening_tab import build_listening_tab

                build_listening_tab(db_path=db_path, admin_password=admin_password)

        controls = rest.controls
        rest.method.change(controls.show, inputs=rest.method, outputs=[*controls.groups.values(), rest.description],
                           queue=False, api_visibility="private")
        src.generate.click(studio.generate, inputs=[src.prompt, src.model, *src.settings], outputs=src.original,
                           api_name="generate", concurrency_id=GPU_QUEUE, concurrency_limit=1)
        compare = dict(fn=studio.analyze, inputs=[src.original, rest.restored, src.reference, cmp.ab_lufs, cmp.visqol],
                       outputs=[cmp.spectrograms, cmp.difference, cmp.psd, cmp.table, cmp.player])
        cmp.analyze.click(**compare, api_name="analyze")
        (rest.button.click(controls.collect, inputs=[rest.method, *controls.inputs], outputs=rest.params,
                           queue=False, api_visibility="private")
         .success(studio.restore, inputs=[src.original, rest.method, rest.params, rest.file_format, history],
                  outputs=[rest.restored, rest.download, rest.report, history, history_table], api_name="restore",
                  concurrency_id=GPU_QUEUE, concurrency_limit=1)
         .success(**compare, api_visibility="private"))
        demucs = controls.controls.get("demucs", {})
        if all(k in demucs for k in SEPARATE_SETTINGS):
            separate_btn.click(studio.separate, inputs=[src.original, *(demucs[k] for k in SEPARATE_SETTINGS)],
                               outputs=stems, api_name="separate", concurrency_id=GPU_QUEUE, concurrency_limit=1)
    return demo


def _source_panel(catalog: ModelCatalog, limits: guard.Limits) -> SimpleNamespace:
    gr.Markdown("### 1 · Source")
    with gr.Accordion("Generate with MusicGen", open=False):
        prompt = gr.Textbox(label="prompt", value="an upbeat lofi hip hop beat with warm piano")
        offered = catalog.names("musicgen")
        chosen = Path(musicgen.default_model()).name if Path(musicgen.default_model()).is_dir() else musicgen.default_model()
        model = gr.Dropdown(choices=offered, allow_custom_value=False, value=chosen if chosen in offered else offered[0],
                            label="model", info="models this server offers (the operator adds them with --models-dir)")
        settings = [control_for(p) for p in musicgen.PARAMS]
        generate = gr.Button("Generate", variant="secondary")
    original = gr.Audio(label="Original", type="filepath", sources=["upload", "microphone"], elem_id="original-audio")
    reference = gr.Audio(label="Clean reference (optional, for reference metrics)", type="filepath",
                         sources=["upload"], elem_id="reference-audio")
    gr.Markdown(limits.note(), elem_id="upload-limits")
    if example_rows():
        gr.Examples(example_rows(), inputs=[original, reference],
                    label="Example clips (made with fluidsynth and the MusicGen-like degradation)")
    return SimpleNamespace(prompt=prompt, model=model, settings=settings, generate=generate, original=original,
                           reference=reference)


def _restore_panel(methods: list[Method], selected: str, catalog: ModelCatalog) -> SimpleNamespace:
    gr.Markdown("### 2 · Restore")
    method = gr.Dropdown(choices=[m.name for m in methods], value=selected, allow_custom_value=True, label="method",
                         info="a registered method, or a chain such as spectral_gating+sbr", elem_id="method")
    description = gr.Markdown(describe(selected))
    controls = MethodControls(methods, selected=selected, catalog=catalog)
    file_format = gr.Radio(["wav", "flac"], value="wav", label="download format")
    button = gr.Button("Restore", variant="primary", elem_id="restore-button")
    params = gr.Textbox(label="parameters used (JSON)", interactive=False, lines=1)
    restored = gr.Audio(label="Restored", type="filepath", interactive=False, elem_id="restored-audio")
    download = gr.File(label="download", interactive=False)
    report = gr.Markdown(elem_id="restore-report")
    return SimpleNamespace(method=method, description=description, controls=controls, file_format=file_format,
                           button=button, params=params, restored=restored, download=download, report=report)


def _compare_panel() -> SimpleNamespace:
    gr.Markdown("### 3 · Compare")
    player = ab_player()
    with gr.Row():
        ab_lufs = gr.Slider(-36, -9, value=DEFAULT_AB_LUFS, step=0.5, label="A/B loudness (LUFS)")
        visqol = gr.Checkbox(value=True, label="ViSQOL in the reference metrics (slower)")
        analyze = gr.Button("Analyze again")
    image = dict(type="filepath", interactive=False, show_label=False)
    spectrograms = gr.Image(label="Spectrograms", elem_id="spectrograms", **image)
    with gr.Row():
        difference = gr.Image(label="Difference spectrogram", elem_id="difference", **image)
        psd = gr.Image(label="Power spectral density", elem_id="psd", **image)
    table = gr.Dataframe(headers=["metric", "original", "restored"], label="Metrics", interactive=False,
                         elem_id="metrics")
    return SimpleNamespace(player=player, ab_lufs=ab_lufs, visqol=visqol, analyze=analyze, spectrograms=spectrograms,
                           difference=difference, psd=psd, table=table)


def describe(method: str) -> str:
    """What each stage of ``method`` does and its output rate (Markdown), or why it is not a method."""
    try:
        chain = parse_chain(method)
    except RestorationError as exc:
        return f"⚠️ {exc}"
    return "  \n".join(f"**{m.name}**: {m.description} Output: {f'{m.output_sr} Hz' if m.output_sr else 'the input rate'}."
                        for m in chain)


def example_rows(folder: Path = ASSETS) -> list[list[str | None]]:
    """``[clip, clean reference or None]`` for each example clip in ``folder``."""
    clips = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".flac", ".ogg", ".wav", ".mp3"))
    references = {p.name.replace("_clean_reference", ""): p for p in clips if "_clean_reference" in p.stem}
    return [[str(p), str(references[p.name]) if p.name in references else None]
            for p in clips if "_clean_reference" not in p.stem]


def _listening_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("studio.listening_tab") is not None


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
           block: bool = True, quiet: bool = False, limits: guard.Limits | None = None):
    """Queue and launch ``demo`` (uploads capped at ``limits.max_upload_mb``); returns gradio's
    ``(app, local_url, share_url)``."""
    guard.install_logging()
    demo.queue(default_concurrency_limit=2)
    if block:  # serving until stopped: a SIGTERM exits normally, so the scratch files are removed
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                       ssr_mode=False, quiet=quiet, show_error=False,
                       max_file_size=f"{(limits or guard.Limits()).max_upload_mb:g}mb")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--db", default=os.environ.get("RESTORATION_DB"),
                        help="SQLite file of the listening tests (env RESTORATION_DB)")
    parser.add_argument("--admin-password", default=os.environ.get("RESTORATION_ADMIN_PASSWORD"),
                        help="password of the listening-test admin tabs; prefer the env RESTORATION_ADMIN_PASSWORD "
                             "(a flag shows in the process list)")
    guard.add_arguments(parser)
    args = parser.parse_args(argv)
    catalog, limits = guard.from_arguments(parser, args)
    launch(build_ui(db_path=args.db, admin_password=args.admin_password, catalog=catalog, limits=limits),
           host=args.host, port=args.port, share=args.share, limits=limits)


if __name__ == "__main__":
    main()
