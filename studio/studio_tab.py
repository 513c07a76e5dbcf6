"""The Studio tab: source (generate, upload, examples) → restore → compare (A/B player, pictures,
metrics) → this session's results and the user's own files (replay, download, A/B any two) → stems.

Queues: neural work (generation, separation, neural restoration) holds the one accelerator
(:mod:`studio.jobs`); restorations run in the ``restore`` queue; everything light (the detailed
metrics, comparing two results, downloads, parameter ranges) runs in the ``light`` queue, so it
never waits behind someone's long job.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr


from restoration import list_methods
from restoration.registry import DEFAULT_METHOD
from restoration.models import musicgen
from restoration.models.catalog import ModelCatalog

from . import downloads, guard, models
from .ab_player import ab_player
from .components import WavAudio
from .controls import MethodControls, control_for, describe, method_choices
from .examples import example_rows
from .history import TABLE_HEADERS
from .metrics_table import metrics_view
from .workbench import MAX_STEMS, Workbench, compare_title

#: Parameters of the demucs method that the Separate button passes to ``separate``.
SEPARATE_SETTINGS = ("model", "shifts", "overlap", "segment", "device")
#: Queues (gradio concurrency ids) and how many of their events run at once.
GPU_QUEUE, RESTORE_QUEUE, LIGHT_QUEUE = "gpu", "restore", "light"
LIGHT = dict(concurrency_id=LIGHT_QUEUE, concurrency_limit=4)
#: Shares of the results table's width: #, time, method, parameters, seconds, output Hz.
HISTORY_COLUMN_WIDTHS = ["6%", "11%", "17%", "40%", "12%", "14%"]


def build_studio_tab(workbench: Workbench) -> SimpleNamespace:
    """Add the Studio tab's components and events to the current Blocks; returns its parts."""
    methods = list_methods()
    names = [m.name for m in methods]
    selected = DEFAULT_METHOD if DEFAULT_METHOD in names else names[0]
    history = gr.State([])  # this browser session's restorations
    pair = gr.State(None)  # the two sides the compare section shows
    gr.Markdown(models.summary(workbench.catalog), elem_id="models-status")
    with gr.Row(equal_height=False, elem_id="source-and-restore"):  # on a phone Restore follows the upload (CSS)
        with gr.Column(scale=1, min_width=300, elem_id="source-column"):
            src = _source_panel(workbench.catalog, workbench.limits)
        with gr.Column(scale=1, min_width=300, elem_id="restore-column"):
            rest = _restore_panel(methods, selected, workbench.catalog)
    cmp = _compare_panel()
    res = _results_panel()
    with gr.Accordion("Stems (Demucs)", open=False, visible="demucs" in names):
        gr.Markdown("Separate the original into stems with the Demucs settings of the *demucs* method "
                    "(choose it above to change them; its gain sliders set the remix).")
        separate_btn = gr.Button("Separate")
        stems = [gr.Audio(label=f"stem {i + 1}", visible=False, interactive=False, type="numpy")
                 for i in range(MAX_STEMS)]

    controls = rest.controls
    compare_outputs = [cmp.title, cmp.spectrograms, cmp.difference, cmp.psd, cmp.table, cmp.player, pair]
    rest.method.change(controls.show, inputs=rest.method, outputs=[*controls.groups.values(), rest.description],
                       queue=False, api_visibility="private")
    bounded = [control for _, control in controls.bounded_by_rate()]
    src.original.change(lambda audio: controls.ranges_for_rate(workbench.audio_rate(audio)), inputs=src.original,
                        outputs=bounded, show_progress="hidden", api_visibility="private", **LIGHT)
    src.generate.click(workbench.generate, inputs=[src.prompt, src.model, *src.settings], outputs=src.original,
                       show_progress_on=[src.generate_status], api_name="generate", concurrency_id=GPU_QUEUE,
                       concurrency_limit=1)

    def restore_chain(start, *, api_name: str | None):
        """Collect the parameters, restore and compare, then measure in detail and prepare the download."""
        def prepare(method: str, shown: list | None, *values) -> tuple[str, str]:
            """The parameters' JSON and the title while restoring, in one round trip before the queued restore."""
            return controls.collect(method, *values), workbench.restore_started(method, shown)

        done = (start(prepare, inputs=[rest.method, history, *controls.inputs], outputs=[rest.params, cmp.title],
                      queue=False, api_visibility="private")
                .success(workbench.restore, inputs=[src.original, src.reference, rest.method, rest.params, history],
                         outputs=[rest.restored, rest.report, history, res.table, res.a, res.b, res.pick, *compare_outputs],
                         show_progress_on=[rest.report, cmp.title], concurrency_id=RESTORE_QUEUE, concurrency_limit=2,
                         **({"api_name": api_name} if api_name else {"api_visibility": "private"})))
        done.success(workbench.details, inputs=[pair, cmp.visqol], outputs=[cmp.table, pair], show_progress="hidden",
                     api_visibility="private", **LIGHT)
        done.success(workbench.export, inputs=[history, res.pick, res.file_format], outputs=[res.replay, res.download],
                     show_progress="hidden", api_visibility="private", **LIGHT)
        done.failure(workbench.restore_failed, inputs=[rest.method, history],
                     outputs=[*compare_outputs, rest.restored, rest.report], queue=False,
                     api_visibility="private")

    restore_chain(rest.button.click, api_name="restore")
    if src.examples is not None:
        restore_chain(src.examples.load_input_event.then, api_name=None)

    cmp.analyze.click(workbench.analyze, inputs=[src.original, rest.restored, src.reference, cmp.visqol],
                      outputs=compare_outputs, api_name="analyze", **LIGHT)
    cmp.visqol.input(workbench.details, inputs=[pair, cmp.visqol], outputs=[cmp.table, pair], api_visibility="private",
                     **LIGHT)
    (res.files.upload(workbench.add_files, inputs=[res.files, history],
                      outputs=[res.files_status, res.files, history, res.table, res.a, res.b, res.pick],
                      api_name="add_files", **LIGHT)
     .success(workbench.export, inputs=[history, res.pick, res.file_format], outputs=[res.replay, res.download],
              show_progress="hidden", api_visibility="private", **LIGHT))
    (res.compare.click(workbench.compare_history, inputs=[history, res.a, res.b, src.reference],
                       outputs=compare_outputs, api_name="compare", **LIGHT)
     .success(workbench.details, inputs=[pair, cmp.visqol], outputs=[cmp.table, pair], show_progress="hidden",
              api_visibility="private", **LIGHT))
    gr.on([res.pick.input, res.file_format.input], workbench.export, inputs=[history, res.pick, res.file_format],
          outputs=[res.replay, res.download], api_visibility="private", trigger_mode="always_last", **LIGHT)

    demucs = controls.controls.get("demucs", {})
    if all(k in demucs for k in SEPARATE_SETTINGS):
        separate_btn.click(workbench.separate, inputs=[src.original, *(demucs[k] for k in SEPARATE_SETTINGS)],
                           outputs=stems, api_name="separate", concurrency_id=GPU_QUEUE, concurrency_limit=1)
    return SimpleNamespace(source=src, restore=rest, compare=cmp, results=res, history=history, pair=pair)


def _source_panel(catalog: ModelCatalog, limits: guard.Limits) -> SimpleNamespace:
    gr.Markdown("### 1 · Source")
    with gr.Accordion("Generate with MusicGen", open=False):
        prompt = gr.Textbox(label="prompt", value="an upbeat lofi hip hop beat with warm piano")
        offered = catalog.names("musicgen")
        default = musicgen.default_model()
        chosen = Path(default).name if Path(default).is_dir() else default
        model = gr.Dropdown(choices=offered, allow_custom_value=False, value=chosen if chosen in offered else offered[0],
                            label="model", info="models this server offers (the operator adds them with --models-dir)")
        settings = [control_for(p) for p in musicgen.PARAMS]
        generate = gr.Button("Generate", variant="secondary")
        generate_status = gr.Markdown(elem_id="generate-status")
    original = gr.Audio(label="Original", type="filepath", sources=["upload", "microphone"], elem_id="original-audio")
    reference = gr.Audio(label="Clean reference (optional, for the metrics against it)", type="filepath",
                         sources=["upload"], elem_id="reference-audio")
    gr.Markdown(limits.note(), elem_id="upload-limits")
    examples = None
    rows = example_rows()
    if rows:
        examples = gr.Examples(rows, inputs=[original, reference], elem_id="examples",
                               label="Examples: one click restores and compares (the clip with a reference also "
                                     "gets LSD and ViSQOL)")
    return SimpleNamespace(prompt=prompt, model=model, settings=settings, generate=generate,
                           generate_status=generate_status, original=original, reference=reference, examples=examples)


def _restore_panel(methods, selected: str, catalog: ModelCatalog) -> SimpleNamespace:
    gr.Markdown("### 2 · Restore")
    method = gr.Dropdown(choices=method_choices(methods), value=selected, allow_custom_value=True, label="method",
                         info="a method, a suggested chain, or your own chain such as mcra_wiener+unet",
                         elem_id="method")
    description = gr.Markdown(describe(selected))
    button = gr.Button("Restore", variant="primary", elem_id="restore-button")
    with gr.Accordion("Parameters", open=False, elem_id="parameters"):
        controls = MethodControls(methods, selected=selected, catalog=catalog)
        params = gr.Textbox(label="parameters used (JSON)", interactive=False, lines=1)
    restored = WavAudio(label="Restored (16-bit WAV; other formats under Results)", type="filepath",
                        interactive=False, elem_id="restored-audio")
    report = gr.Markdown(elem_id="restore-report")
    return SimpleNamespace(method=method, description=description, controls=controls, button=button, params=params,
                           restored=restored, report=report)


def _compare_panel() -> SimpleNamespace:
    title = gr.Markdown(compare_title("Restore a clip (or click an example) to compare it here."), elem_id="compare-title")
    player = ab_player()
    with gr.Row():
        visqol = gr.Checkbox(value=False, label="ViSQOL against the reference (a few seconds more)", elem_id="visqol")
        analyze = gr.Button("Measure original vs restored again", size="sm")
    image = dict(type="filepath", interactive=False, show_label=False, buttons=["download", "fullscreen"])
    with gr.Column(elem_id="compare-pictures"):  # a grid when wide, one above the other on a phone (studio.css)
        spectrograms = gr.Image(label="Spectrograms", elem_id="spectrograms", **image)
        difference = gr.Image(label="Difference spectrogram", elem_id="difference", **image)
        psd = gr.Image(label="Power spectral density", elem_id="psd", **image)
    gr.Markdown("**Metrics: did it help?** B against A; with a clean reference its rows come first. "
                "An empty cell says why it is empty.")
    table = metrics_view(elem_id="metrics", label="metrics")
    return SimpleNamespace(title=title, player=player, visqol=visqol, analyze=analyze, spectrograms=spectrograms,
                           difference=difference, psd=psd, table=table)


def _results_panel() -> SimpleNamespace:
    with gr.Accordion("Results of this session and your files: replay, download, A/B any two", open=True,
                      elem_id="results"):
        with gr.Row(equal_height=False):
            files = gr.File(label="Your files: outputs of other tools, or a .zip of them (song.audiosr.wav, "
                                  "song.apollo.flac; song.reference.wav is the clean reference of song)",
                            file_count="multiple", type="filepath", elem_id="own-files")
            files_status = gr.Textbox(label="added files", lines=3, max_lines=12, interactive=False,
                                      elem_id="own-files-status")
        # The parameters wrap inside their share, so "seconds" and "output Hz" stay in view.
        table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, elem_id="history", wrap=True,
                             column_widths=HISTORY_COLUMN_WIDTHS)
        with gr.Row():
            a = gr.Dropdown(label="A", choices=[], elem_id="history-a")
            b = gr.Dropdown(label="B", choices=[], elem_id="history-b")
            compare = gr.Button("A/B these two", elem_id="history-compare")
        with gr.Row():
            pick = gr.Dropdown(label="result to replay and download", choices=[], elem_id="history-pick")
            file_format = gr.Radio(list(downloads.FORMATS), value=downloads.DEFAULT_FORMAT, label="download format",
                                   elem_id="download-format")
        with gr.Row():
            replay = WavAudio(label="replay", type="filepath", interactive=False, elem_id="replay")
            download = gr.File(label="download", interactive=False, elem_id="download")
    return SimpleNamespace(files=files, files_status=files_status, table=table, a=a, b=b, compare=compare, pick=pick,
                           file_format=file_format, replay=replay, download=download)
