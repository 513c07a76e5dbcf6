"""The Gradio app: it builds, and each Studio handler works on real audio and turns bad input into gr.Error."""

import json
import sys
import warnings
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from restoration import Param, get_method, list_methods, load_audio, save_audio
from restoration.analysis.loudness import integrated_loudness
from restoration.analysis.metrics import no_reference_metrics

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import app  # noqa: E402
from studio import controls as studio_controls  # noqa: E402
from studio import guard  # noqa: E402
from studio import history as studio_history  # noqa: E402
from studio.examples import example_rows  # noqa: E402
from studio.workbench import MAX_STEMS, Workbench  # noqa: E402

#: Outputs of Workbench.restore, in order.
RESTORE_OUTPUTS = ("restored", "report", "history", "history_table", "a", "b", "pick", "title", "spectrograms",
                   "difference", "psd", "table", "ab", "pair")


@pytest.fixture
def bench(tmp_path):
    return Workbench(tmp_path / "work")


@pytest.fixture
def clip(tmp_path, music):
    """A 2 s mono clip at 32 kHz with a band limit at 11 kHz, as a WAV file named song.wav."""
    from signals import lowpass

    return str(save_audio(tmp_path / "song.wav", lowpass(music(32000, 2.0, 1, seed=2), 32000, 11000), 32000))


def run_restore(bench, clip, method="sbr", params="{}", history=None, reference=None) -> dict:
    return dict(zip(RESTORE_OUTPUTS, bench.restore(clip, reference, method, params, history or [])))


def rows_of(table: dict) -> dict:
    return {row[0].split(",")[0]: row[1:] for row in table["data"]}


def test_build_ui_has_the_api_and_a_control_per_method_parameter(tmp_path):
    demo = app.build_ui(workdir=tmp_path / "work", db_path=str(tmp_path / "tests.sqlite"))
    assert isinstance(demo, gr.Blocks)
    api_names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"generate", "restore", "analyze"} <= api_names
    labels = [getattr(b, "label", None) for b in demo.blocks.values()]
    for method in list_methods():
        for param in method.params:
            assert (param.name in labels) == guard.offered(method.name, param), f"{method.name}.{param.name}"
    dropdowns = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "model"]
    assert any("htdemucs" in [value for _, value in d.choices] for d in dropdowns)  # names, never free paths
    assert not any(b.label in ("repo", "checkpoint") for b in demo.blocks.values() if isinstance(b, gr.Textbox))
    assert not demo.is_running
    queues = {fn.api_name: fn.concurrency_id for fn in demo.fns.values() if fn.api_name}
    assert queues["restore"] == "restore" and queues["generate"] == "gpu" and queues["analyze"] == "light"


def test_the_ab_player_and_metrics_table_come_from_static_files(tmp_path):
    demo = app.build_ui(workdir=tmp_path / "work", db_path=str(tmp_path / "tests.sqlite"))
    player = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "ab-player")
    assert player.js_on_load == (ROOT / "studio" / "static" / "ab_player.js").read_text()
    assert player.css_template == (ROOT / "studio" / "static" / "ab_player.css").read_text()
    assert "ab-icon-pause" in player.html_template and "⏸" not in player.html_template  # SVG, not a glyph
    assert Path(app.STYLESHEETS[0]).is_file()


def test_every_registered_parameter_gets_a_valid_control():
    with gr.Blocks():
        for method in list_methods():
            for param in method.params:
                control = studio_controls.control_for(param)
                assert control.label == param.name
                if isinstance(control, gr.Slider):
                    step = control.step
                    for value in (param.default, param.low, param.high):
                        assert abs((value - param.low) / step - round((value - param.low) / step)) < 1e-6, param


def test_control_kinds_follow_the_parameter_specs():
    with gr.Blocks():
        assert isinstance(studio_controls.control_for(Param("on", "bool", True, "")), gr.Checkbox)
        choice = studio_controls.control_for(Param("rate", "choice", 0, "", choices=(0, 44100, 48000)))
        assert isinstance(choice, gr.Dropdown) and choice.value == 0
        assert isinstance(studio_controls.control_for(Param("folder", "text", "", "")), gr.Textbox)
        assert isinstance(studio_controls.control_for(Param("gain", "float", 0.5, "", 0.0, 1.0)), gr.Slider)
        seed = studio_controls.control_for(Param("seed", "int", 0, "", -1, 2**31 - 1))
        assert isinstance(seed, gr.Number) and seed.precision == 0
    assert studio_controls.slider_step(Param("t", "float", 2.0, "", 0.05, 30.0)) == pytest.approx(0.01)
    assert studio_controls.slider_step(Param("n", "int", 1, "", 0, 20)) == 1


def test_controls_collect_the_selected_stages_and_fold_demucs():
    with gr.Blocks():
        controls = studio_controls.MethodControls(list_methods(), selected="spectral_gating")
    values = [p.default for m in list_methods() for p in m.params if guard.offered(m.name, p)]
    single = json.loads(controls.collect("spectral_gating", *values))
    assert single == get_method("spectral_gating").defaults()
    chain = json.loads(controls.collect("spectral_gating+sbr", *values))
    assert set(chain) == {f"{m}.{p.name}" for m in ("spectral_gating", "sbr") for p in get_method(m).params}
    visible = controls.show("spectral_gating+sbr")
    shown = [name for name, update in zip(controls.groups, visible) if update["visible"]]
    assert shown == ["spectral_gating", "sbr"]
    assert "unknown method" in controls.show("nonsense")[-1]
    assert controls.groups["demucs"].open is False and controls.groups["sbr"].open is True


def test_frequency_controls_follow_the_input_rate():
    with gr.Blocks():
        controls = studio_controls.MethodControls(list_methods(), selected="sbr")
    bounded = {(param.name, id(control)) for param, control in controls.bounded_by_rate()}
    assert ("cutoff_hz", id(controls.controls["sbr"]["cutoff_hz"])) in bounded
    assert ("band_hz", id(controls.controls["spectral_gating"]["band_hz"])) in bounded
    at_32k = controls.ranges_for_rate(32000)
    assert {u["maximum"] for u in at_32k} == {16000.0} and "16000 Hz" in at_32k[0]["info"]
    assert {u["maximum"] for u in controls.ranges_for_rate(None)} == {24000.0}


def test_the_method_dropdown_offers_the_useful_chains():
    choices = studio_controls.method_choices(list_methods())
    values = [value for _, value in choices]
    assert values[:len(list_methods())] == [m.name for m in list_methods()]
    assert {"spectral_gating+sbr", "spectral_gating+unet"} <= set(values)
    label = dict((v, k) for k, v in choices)["spectral_gating+unet"]
    assert label.startswith("spectral_gating+unet — ") and "U-Net" in label


def test_restore_shows_everything_at_once(bench, clip):
    out = run_restore(bench, clip)
    assert Path(out["restored"]).name == "song.sbr.wav"
    y, sr = load_audio(out["restored"])
    assert sr == 48000 and y.shape == (1, 2 * 48000)
    assert "32000 Hz → 48000 Hz" in out["report"] and "-m sbr" in out["report"]
    for name in ("spectrograms", "difference", "psd"):
        assert Path(out[name]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = rows_of(out["table"])
    assert out["table"]["headers"][1:3] == ["original (song)", "#1 sbr"]
    assert float(rows["bandwidth (as the spectrogram shows it)"][0]) == pytest.approx(11.0, abs=0.6)
    assert float(rows["bandwidth (as the spectrogram shows it)"][1]) == pytest.approx(24.0, abs=0.1)
    assert rows["bandwidth (as the spectrogram shows it)"][2] == "✓ better"
    assert rows["harmonic / percussive energy"] == ["measuring…", "measuring…", ""]  # after the first paint
    assert rows["energy above 16 kHz"][0].startswith("n/a (32 kHz audio")
    ab = out["ab"]
    assert ab["label_a"] == "original (song)" and ab["label_b"] == "#1 sbr" and ab["target"] == -20.0
    expected = no_reference_metrics(*load_audio(out["restored"]))
    assert ab["lufs_b"] == pytest.approx(expected["lufs"], abs=0.01)
    assert ab["peak_b"] == pytest.approx(20 * np.log10(np.abs(y).max()), abs=0.01)
    assert ab["lufs_a"] == pytest.approx(integrated_loudness(*load_audio(clip)), abs=0.01)
    assert "#1 sbr" in out["title"] and out["pair"]["b"]["label"] == "#1 sbr"
    assert out["history_table"][0][2] == "sbr" and out["history_table"][0][-1] == 48000
    again = run_restore(bench, clip, "spectral_gating", json.dumps({"prop_decrease": 0.0}), out["history"])
    assert [row[0] for row in again["history_table"]] == [1, 2]
    assert [v for _, v in again["a"]["choices"]] == ["original", "1", "2"] and again["b"]["value"] == "2"


def test_details_fill_the_slow_metrics_and_the_reference_rows(bench, clip, tmp_path, music):
    reference = str(save_audio(tmp_path / "ref.wav", music(48000, 2.0, 1, seed=2), 48000))
    out = run_restore(bench, clip, reference=reference)
    first = rows_of(out["table"])
    assert out["table"]["data"][0][0].startswith("log-spectral distance to the reference, dB, ↓ lower is better")
    assert first["ViSQOL quality (MOS-LQO"][1] == "measuring…"
    table, pair = bench.details(out["pair"], False)
    rows = rows_of(table)
    assert rows["ViSQOL quality (MOS-LQO"][0] == "off (tick ViSQOL above)"
    assert float(rows["harmonic / percussive energy"][1]) == pytest.approx(
        no_reference_metrics(*load_audio(out["restored"]))["hpss_ratio_db"], abs=0.05)
    assert float(rows["log-spectral distance to the reference"][1]) > 0
    assert pair["b"]["metrics"]["hpss_ratio_db"] == pytest.approx(float(rows["harmonic / percussive energy"][1]), abs=0.05)


def test_a_reference_of_another_clip_or_length_is_warned_about_as_the_cli_does(bench, clip, tmp_path, music):
    matching = str(save_audio(tmp_path / "ref.wav", music(48000, 2.0, 1, seed=2), 48000))
    backwards = music(48000, 2.0, 1, seed=2)[:, ::-1]  # the same sounds in another order: another clip
    other = str(save_audio(tmp_path / "other.wav", backwards, 48000))
    short = str(save_audio(tmp_path / "short.wav", music(48000, 1.0, 1, seed=2), 48000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_restore(bench, clip, reference=matching)
    assert not [w for w in caught if "reference" in str(w.message)] and "⚠️" not in out["title"] + out["report"]
    with pytest.warns(UserWarning, match="reference vs original \\(song\\): the reference does not look like the same clip"):
        out = run_restore(bench, clip, reference=other)
    assert "⚠️ reference vs original (song): the reference does not look like the same clip" in out["title"]
    assert out["report"].startswith("⚠️ reference vs original (song): the reference does not look like")
    assert float(rows_of(out["table"])["log-spectral distance to the reference"][1]) > 0  # still measured
    with pytest.warns(UserWarning, match="the reference is 1.00 s long and the file 2.00 s"):
        title, *_ = bench.analyze(clip, out["restored"], short, False)
    assert "⚠️ reference vs original (song): the reference is 1.00 s long" in title
    with pytest.warns(UserWarning, match="does not look like the same clip"):
        title, *_, table, _, _ = bench.compare_history(out["history"], studio_history.ORIGINAL, "1", other)
    assert "⚠️ reference vs original (song)" in title and "nan" not in json.dumps(table)


@pytest.mark.parametrize("audio, method, params, message", [
    (None, "sbr", "{}", "no audio"),
    ("clip", "nonsense", "{}", "unknown method &#x27;nonsense&#x27;|unknown method 'nonsense'"),
    ("clip", "spectral_gating", "{not json", "parameters must be a JSON object"),
    ("clip", "spectral_gating", "[1, 2]", "parameters must be a JSON object"),
    ("clip", "spectral_gating", '{"prop_decrease": 3}', r"prop_decrease must be within \[0.0, 1.0\]"),
    ("clip", "spectral_gating", '{"volume": 3}', "has no parameter"),
    ("clip", "sbr", '{"cutoff_hz": 20000}', r"above the Nyquist frequency of the 32000 Hz input \(16000 Hz\)"),
    ("silent", "spectral_gating", "{}", "silent"),
    ("missing", "spectral_gating", "{}", "no such file"),
])
def test_bad_restore_input_is_a_one_line_gr_error(bench, clip, tmp_path, audio, method, params, message):
    files = {"clip": clip, "silent": str(save_audio(tmp_path / "silent.wav", np.zeros((1, 32000)), 32000)),
             "missing": str(tmp_path / "missing.wav")}
    with pytest.raises(gr.Error, match=message) as info:
        bench.restore(files.get(audio, audio), None, method, params, [])
    assert "\n" not in info.value.message


def test_a_failed_restore_clears_the_comparison_and_says_why(bench, clip):
    class Request:
        session_hash = "abc"

    history = run_restore(bench, clip)["history"]
    with pytest.raises(gr.Error, match="&lt;urlopen"):
        bench.restore(clip, None, "sbr+<urlopen>", "{}", history, Request())
    title, *cleared = bench.restore_failed("sbr+<urlopen>", history, Request())
    assert "Restoring with sbr+&lt;urlopen&gt; failed at" in title and "unknown method" in title
    assert cleared == [None] * 7 + [""]  # the compare section, the Restored player and its report are cleared


def test_the_failure_event_clears_the_restored_player(tmp_path):
    demo = app.build_ui(workdir=tmp_path / "work", db_path=str(tmp_path / "t.sqlite"))
    restored = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "restored-audio")
    failure = next(d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "restore_failed")
    assert restored in failure.outputs and len(failure.outputs) == 9


def test_compare_any_two_results_of_the_session(bench, clip):
    first = run_restore(bench, clip)
    second = run_restore(bench, clip, "spectral_gating", "{}", first["history"])
    title, spectrograms, difference, psd, table, ab, pair = bench.compare_history(second["history"], "1", "2")
    assert ab["label_a"] == "#1 sbr" and ab["label_b"] == "#2 spectral_gating"
    assert load_audio(ab["a"]["path"])[1] == 48000 and load_audio(ab["b"]["path"])[1] == 32000
    assert table["headers"][1:3] == ["#1 sbr", "#2 spectral_gating"] and "#1 sbr vs #2 spectral_gating" in title
    _, _, _, _, _, ab, _ = bench.compare_history(second["history"], studio_history.ORIGINAL, "2")
    assert ab["label_a"] == "original (song)"
    with pytest.raises(gr.Error, match="No result #7"):
        bench.compare_history(second["history"], "1", "7")
    with pytest.raises(gr.Error, match="two different results"):
        bench.compare_history(second["history"], "2", "2")


def test_export_names_the_download_after_the_song_and_method(bench, clip):
    history = run_restore(bench, clip, "spectral_gating+sbr")["history"]
    replay, download = bench.export(history, "1", "FLAC 24-bit")
    assert Path(download).name == "song.spectral_gating+sbr.flac" and Path(replay).name == "song.spectral_gating+sbr.wav"
    y, sr = load_audio(download)
    assert sr == 48000 and np.allclose(y, load_audio(replay)[0], atol=1e-4)
    assert bench.export([], None, "MP3") == (None, None)


def test_analyze_compares_two_files_with_every_metric(bench, clip):
    restored = run_restore(bench, clip)["restored"]
    title, spectrograms, difference, psd, table, ab, pair = bench.analyze(clip, restored, None, False)
    rows = rows_of(table)
    assert "measuring…" not in json.dumps(table)
    assert float(rows["bandwidth (as the spectrogram shows it)"][1]) == pytest.approx(24.0, abs=0.1)
    with pytest.raises(gr.Error, match="no audio for the restored audio"):
        bench.analyze(clip, None, None, False)


def test_examples_are_cached_and_shown_at_once(bench):
    clip = example_rows()[0][0]
    bench.cache_example(clip, "sbr")
    (cached_out, rate, seconds), = bench.example_cache.values()
    out = run_restore(bench, clip)
    assert np.allclose(load_audio(out["restored"])[0], cached_out, atol=1e-4) and rate == 48000
    assert f"restored in {seconds:.2f} s" in out["report"]


def test_generate_uses_the_same_loader_as_the_library(tmp_path):
    from test_musicgen import save_tiny_musicgen

    from restoration.models.catalog import ModelCatalog

    save_tiny_musicgen(tmp_path / "models" / "musicgen" / "tiny")
    bench = Workbench(tmp_path / "work", catalog=ModelCatalog.build([tmp_path / "models"]))
    path = bench.generate("a calm lofi song", "tiny", 1.0, 3.0, 1.0, 250, 5)
    y, sr = load_audio(path)
    assert sr == 32000 and y.shape == (1, 32000)


def test_models_missing_offline_fail_at_once(bench, tmp_path, clip, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(gr.Error, match="htdemucs&#x27;? is not on this server|'htdemucs' is not on this server"):
        bench.restore(clip, None, "demucs", json.dumps({"model": "htdemucs"}), [])
    with pytest.raises(gr.Error, match="ready here: demucs_unittest;"):  # as the models line says
        bench.restore(clip, None, "demucs", "{}", [])
    with pytest.raises(gr.Error, match="MusicGen model .* is not on this server.*MUSICGEN_MODEL"):
        bench.generate("a song", "facebook/musicgen-small", 1.0, 3.0, 1.0, 250, 0)
    with pytest.raises(gr.Error, match="not offered by this server"):
        bench.generate("a song", str(tmp_path), 1.0, 3.0, 1.0, 250, 0)  # a path is never a model
    assert time.perf_counter() - start < 2.0


def test_creating_a_listening_test_with_a_model_not_here_fails_at_once_with_the_whole_line(tmp_path, monkeypatch):
    import time

    from restoration.listening import ListeningStore, bundled_clips
    from studio.listening_tab import ListeningHandlers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = ListeningStore(tmp_path / "t.sqlite")
    handlers = ListeningHandlers(store, None)
    start = time.perf_counter()
    with pytest.raises(gr.Error) as info:
        handlers.create(None, "Offline", "ab", [], [], [bundled_clips()[0].name], ["passthrough", "demucs"], "",
                        -23.0, 2.0, False)
    assert time.perf_counter() - start < 2.0
    message = info.value.message
    assert message.startswith("Demucs model 'htdemucs' is not on this server") and "\n" not in message
    assert message.endswith("an operator adds models with --models-dir") and "ready here: demucs_unittest" in message
    assert store.list_tests() == []


def test_a_truncated_upload_is_restored_with_a_notice(bench, clip, tmp_path):
    whole = Path(clip).read_bytes()
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(whole[:len(whole) // 3])  # the header still promises 2 s
    with pytest.warns(UserWarning, match="cut.wav is truncated"):
        out = run_restore(bench, str(truncated))
    assert out["report"].startswith("⚠️ cut.wav is truncated: its header promises")
    assert str(tmp_path) not in out["report"]
    assert load_audio(out["restored"])[0].shape[-1] < 48000  # what was there, restored
    assert "truncated" not in run_restore(bench, clip)["report"]  # a whole file: no notice


def test_separate_fills_one_player_per_stem(bench, tmp_path, music):
    pytest.importorskip("demucs")
    clip = str(save_audio(tmp_path / "stereo.wav", music(44100, 1.0, 2), 44100))
    updates = bench.separate(clip, "demucs_unittest", 0, 0.25, 0.0, "cpu")
    assert len(updates) == MAX_STEMS
    shown = [u for u in updates if u["visible"]]
    assert [u["label"] for u in shown] == ["drums", "bass", "other", "vocals"]
    rate, pcm = shown[0]["value"]
    assert rate == 44100 and pcm.dtype == np.int16 and pcm.shape == (44100, 2)


def test_examples_pair_clips_with_their_references():
    rows = example_rows()
    assert 2 <= len(rows) <= 3
    for clip, reference in rows:
        assert Path(clip).stat().st_size < 400_000
        y, sr = load_audio(clip)
        assert sr == 32000 and 5.0 <= y.shape[-1] / sr <= 8.0
        if reference:
            assert load_audio(reference)[1] == 48000
    assert any(reference for _, reference in rows)


def test_startup_lines_say_where_everything_is():
    lines = "\n".join(app.startup_lines("http://127.0.0.1:7860/", share_url=None, db_path="x.sqlite",
                                        admin_password=None))
    assert "http://127.0.0.1:7860/" in lines and str(Path("x.sqlite").resolve()) in lines
    assert "admin pages:   NOT protected" in lines
    assert "protected by a password" in "\n".join(app.startup_lines("u", share_url=None, db_path=None,
                                                                    admin_password="pw"))


def test_the_console_and_the_model_choices_say_what_can_load_here(monkeypatch):
    from restoration.models import hub
    from restoration.models.catalog import ModelCatalog
    from studio import models

    monkeypatch.setattr(hub, "_probed", {})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lines = app.startup_lines("u", share_url=None, db_path=None, admin_password=None)
    assert "  hub downloads: off (HF_HUB_OFFLINE); the Studio tab lists the models ready here" in lines
    dropdown = guard.model_control("demucs", get_method("demucs").param("model"), ModelCatalog.build())
    labels = dict((value, label) for label, value in dropdown.choices)
    assert labels["demucs_unittest"] == "demucs_unittest"
    assert labels["htdemucs"] == "htdemucs (not on this server, cannot be downloaded)"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "connects", lambda host, timeout_s: host == "huggingface.co")
    assert models.downloads_state() == "off (dl.fbaipublicfiles.com cannot be reached)"
    monkeypatch.setattr(hub, "_probed", {})
    monkeypatch.setattr(hub, "connects", lambda host, timeout_s: True)
    assert models.downloads_state() == "on"
    dropdown = guard.model_control("demucs", get_method("demucs").param("model"), ModelCatalog.build())
    assert all(label == value for label, value in dropdown.choices)


def test_main_passes_the_flags_and_environment(monkeypatch, capsys, tmp_path):
    seen = {}

    class Demo:
        def block_thread(self):
            seen["blocked"] = True

    def build_ui(**kwargs):
        seen["ui"] = kwargs
        return Demo()

    def launch(demo, **kwargs):
        seen["launch"] = kwargs
        return None, "http://127.0.0.1:7999/", None

    monkeypatch.setattr(app, "build_ui", build_ui)
    monkeypatch.setattr(app, "launch", launch)
    monkeypatch.setattr(app, "start_warm_up", lambda *a, **k: seen.setdefault("warm", True))
    monkeypatch.setenv("RESTORATION_DB", "/tmp/from-env.sqlite")
    monkeypatch.setenv("RESTORATION_ADMIN_PASSWORD", "secret")
    monkeypatch.setenv("RESTORATION_MAX_DURATION_S", "60")
    (tmp_path / "models" / "demucs").mkdir(parents=True)
    (tmp_path / "models" / "demucs" / "mine.yaml").write_text("models: [x]\n")
    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(tmp_path / "models"))
    app.main(["--port", "7999", "--share"])
    assert seen["ui"]["db_path"] == "/tmp/from-env.sqlite" and seen["ui"]["admin_password"] == "secret"
    workbench = seen["ui"]["workbench"]
    assert workbench.limits == guard.Limits(max_seconds=60.0, max_upload_mb=300.0)
    assert {"mine", "htdemucs"} <= set(workbench.catalog.names("demucs"))
    limits = seen["launch"].pop("limits")
    assert seen["launch"] == {"host": "127.0.0.1", "port": 7999, "share": True, "quiet": True} and limits.max_seconds == 60
    assert seen["warm"] and seen["blocked"]
    printed = capsys.readouterr().out
    assert "http://127.0.0.1:7999/" in printed and "/tmp/from-env.sqlite" in printed and "protected by a password" in printed
