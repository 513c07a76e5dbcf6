"""The Gradio app: it builds, and each handler works on real audio and turns bad input into gr.Error."""

import json
import sys
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
from studio import guard  # noqa: E402


@pytest.fixture
def studio(tmp_path):
    return app.Studio(tmp_path / "work")


@pytest.fixture
def clip(tmp_path, music):
    """A 2 s mono clip at 32 kHz with a band limit at 11 kHz, as a WAV file."""
    from signals import lowpass

    return str(save_audio(tmp_path / "clip.wav", lowpass(music(32000, 2.0, 1, seed=2), 32000, 11000), 32000))


def components(demo, kind):
    return [b for b in demo.blocks.values() if isinstance(b, kind)]


def test_build_ui_has_the_api_and_a_control_per_method_parameter(tmp_path):
    demo = app.build_ui(workdir=tmp_path / "work", db_path=str(tmp_path / "tests.sqlite"))
    assert isinstance(demo, gr.Blocks)
    api_names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"generate", "restore", "analyze"} <= api_names
    labels = [getattr(b, "label", None) for b in demo.blocks.values()]
    for method in list_methods():
        for param in method.params:
            assert (param.name in labels) == guard.offered(method.name, param), f"{method.name}.{param.name}"
    dropdowns = {b.label: b for b in components(demo, gr.Dropdown)}
    assert "htdemucs" in [value for _, value in dropdowns["model"].choices]  # names, never free paths
    assert not any(b.label in ("repo", "checkpoint") for b in components(demo, gr.Textbox))
    assert not demo.is_running


def test_every_registered_parameter_gets_a_valid_control():
    with gr.Blocks():
        for method in list_methods():
            for param in method.params:
                control = app.control_for(param)
                assert control.label == param.name
                if isinstance(control, gr.Slider):
                    step = control.step
                    for value in (param.default, param.low, param.high):
                        assert abs((value - param.low) / step - round((value - param.low) / step)) < 1e-6, param


def test_control_kinds_follow_the_parameter_specs():
    with gr.Blocks():
        assert isinstance(app.control_for(Param("on", "bool", True, "")), gr.Checkbox)
        choice = app.control_for(Param("rate", "choice", 0, "", choices=(0, 44100, 48000)))
        assert isinstance(choice, gr.Dropdown) and choice.value == 0
        assert isinstance(app.control_for(Param("folder", "text", "", "")), gr.Textbox)
        assert isinstance(app.control_for(Param("gain", "float", 0.5, "", 0.0, 1.0)), gr.Slider)
        seed = app.control_for(Param("seed", "int", 0, "", -1, 2**31 - 1))
        assert isinstance(seed, gr.Number) and seed.precision == 0
    assert app.slider_step(Param("t", "float", 2.0, "", 0.05, 30.0)) == pytest.approx(0.01)
    assert app.slider_step(Param("n", "int", 1, "", 0, 20)) == 1


def test_controls_collect_the_selected_stages():
    with gr.Blocks():
        controls = app.MethodControls(list_methods(), selected="spectral_gating")
    values = [p.default for m in list_methods() for p in m.params if guard.offered(m.name, p)]
    single = json.loads(controls.collect("spectral_gating", *values))
    assert single == get_method("spectral_gating").defaults()
    chain = json.loads(controls.collect("spectral_gating+sbr", *values))
    assert set(chain) == {f"{m}.{p.name}" for m in ("spectral_gating", "sbr") for p in get_method(m).params}
    visible = controls.show("spectral_gating+sbr")
    shown = [name for name, update in zip(controls.groups, visible) if update["visible"]]
    assert shown == ["spectral_gating", "sbr"]
    assert "unknown method" in controls.show("nonsense")[-1]


def test_restore_writes_the_output_rate_and_records_the_session(studio, clip):
    path, download, report, history, table = studio.restore(clip, "sbr", "{}", "flac", [])
    assert path == download and path.endswith(".flac")
    y, sr = load_audio(path)
    assert sr == 48000 and y.shape == (1, 2 * 48000)
    assert "32000 Hz → 48000 Hz" in report and "-m sbr" in report
    assert history == table and history[0][1] == "sbr" and history[0][-1] == 48000
    *_, history = studio.restore(clip, "spectral_gating", json.dumps({"prop_decrease": 0.0}), "wav", history)
    assert [row[0] for row in history] == [1, 2]


def test_restore_applies_the_parameters(studio, clip):
    x, _ = load_audio(clip)
    gentle, *_ = studio.restore(clip, "spectral_gating", json.dumps({"prop_decrease": 0.0}), "wav", [])
    strong, *_ = studio.restore(clip, "spectral_gating", json.dumps({"prop_decrease": 1.0}), "wav", [])
    err_gentle = np.abs(load_audio(gentle)[0] - x).max()
    err_strong = np.abs(load_audio(strong)[0] - x).max()
    assert err_gentle < 1e-3 < err_strong


@pytest.mark.parametrize("audio, method, params, message", [
    (None, "sbr", "{}", "no audio"),
    ("clip", "nonsense", "{}", "unknown method 'nonsense'"),
    ("clip", "spectral_gating", "{not json", "parameters must be a JSON object"),
    ("clip", "spectral_gating", "[1, 2]", "parameters must be a JSON object"),
    ("clip", "spectral_gating", '{"prop_decrease": 3}', r"prop_decrease must be within \[0.0, 1.0\]"),
    ("clip", "spectral_gating", '{"volume": 3}', "has no parameter 'volume'"),
    ("silent", "spectral_gating", "{}", "silent"),
    ("missing", "spectral_gating", "{}", "no such file"),
])
def test_bad_restore_input_is_a_one_line_gr_error(studio, clip, tmp_path, audio, method, params, message):
    files = {"clip": clip, "silent": str(save_audio(tmp_path / "silent.wav", np.zeros((1, 32000)), 32000)),
             "missing": str(tmp_path / "missing.wav")}
    with pytest.raises(gr.Error, match=message) as info:
        studio.restore(files.get(audio, audio), method, params, "wav", [])
    assert "\n" not in info.value.message


def test_analyze_gives_plots_metrics_and_a_loudness_matched_pair(studio, clip, tmp_path, music):
    restored, *_ = studio.restore(clip, "sbr", "{}", "wav", [])
    reference = str(save_audio(tmp_path / "ref.wav", music(48000, 2.0, 1, seed=2), 48000))
    spec, diff, psd, table, ab = studio.analyze(clip, restored, reference, -18.0, False)
    for image in (spec, diff, psd):
        assert Path(image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {row[0]: row[1:] for row in table["data"]}
    assert table["headers"] == ["metric", "original", "restored"]
    for column, path in enumerate((clip, restored)):
        expected = no_reference_metrics(*load_audio(path))
        for name in ("lufs", "cutoff_hz", "rolloff99_hz"):
            assert rows[name][column] == pytest.approx(expected[name], rel=1e-4)
    assert rows["logmel_original_vs_restored"][0] > 0
    assert "lsd (vs reference)" in rows and rows["visqol (vs reference)"] == [None, None]
    (a, a_sr), (b, b_sr) = load_audio(ab["a"]["path"]), load_audio(ab["b"]["path"])
    assert a_sr == b_sr == 48000 and a.shape == b.shape
    assert integrated_loudness(a, a_sr) == pytest.approx(integrated_loudness(b, b_sr), abs=0.2)
    assert integrated_loudness(a, a_sr) == pytest.approx(ab["lufs"], abs=0.2)
    for source, gain in ((clip, ab["gain_a_db"]), (restored, ab["gain_b_db"])):
        assert integrated_loudness(*load_audio(source)) + gain == pytest.approx(ab["lufs"], abs=0.2)
    assert "original" in ab["note"] and "restored" in ab["note"] and ab["a"]["meta"] == {"_type": "gradio.FileData"}


def test_ab_pair_stays_matched_when_the_target_would_clip(studio, music):
    from restoration.analysis import loudness

    x, y = music(32000, 2.0, 1, seed=5), music(48000, 2.0, 2, seed=6)
    ab = studio.ab_pair(loudness, x, 32000, y, 48000, -6.0)  # too loud for these peaky clips
    (a, rate), (b, _) = load_audio(ab["a"]["path"]), load_audio(ab["b"]["path"])
    assert rate == 48000 and a.shape == b.shape == (2, 96000)  # mono original duplicated to stereo
    assert ab["lufs"] < -7.0
    assert integrated_loudness(a, rate) == pytest.approx(integrated_loudness(b, rate), abs=0.2)
    assert max(np.abs(a).max(), np.abs(b).max()) < 1.0


def test_analyze_without_a_restored_clip_says_so(studio, clip):
    with pytest.raises(gr.Error, match="no audio for the restored audio"):
        studio.analyze(clip, None, None, -20.0, False)


def test_generate_uses_the_same_loader_as_the_library(tmp_path):
    from test_musicgen import save_tiny_musicgen

    from restoration.models.catalog import ModelCatalog

    folder = save_tiny_musicgen(tmp_path / "models" / "musicgen" / "tiny")
    studio = app.Studio(tmp_path / "work", catalog=ModelCatalog.build([tmp_path / "models"]))
    path = studio.generate("a calm lofi song", "tiny", 1.0, 3.0, 1.0, 250, 5)
    y, sr = load_audio(path)
    assert sr == 32000 and y.shape == (1, 32000)


def test_generate_without_weights_says_how_to_fix_it(studio, tmp_path):
    with pytest.raises(gr.Error, match="MUSICGEN_MODEL"):  # offline: the hub id cannot be fetched
        studio.generate("a song", "facebook/musicgen-small", 1.0, 3.0, 1.0, 250, 0)
    with pytest.raises(gr.Error, match=r"duration_s must be within \[1.0, 30.0\]"):
        studio.generate("a song", "facebook/musicgen-small", 45.0, 3.0, 1.0, 250, 0)


def test_separate_fills_one_player_per_stem(studio, tmp_path, music):
    pytest.importorskip("demucs")
    clip = str(save_audio(tmp_path / "stereo.wav", music(44100, 1.0, 2), 44100))
    updates = studio.separate(clip, "demucs_unittest", 0, 0.25, 0.0, "cpu")
    assert len(updates) == app.MAX_STEMS
    shown = [u for u in updates if u["visible"]]
    assert [u["label"] for u in shown] == ["drums", "bass", "other", "vocals"]
    rate, pcm = shown[0]["value"]
    assert rate == 44100 and pcm.dtype == np.int16 and pcm.shape == (44100, 2)


def test_examples_pair_clips_with_their_references():
    rows = app.example_rows()
    assert 2 <= len(rows) <= 3
    for clip, reference in rows:
        assert Path(clip).stat().st_size < 400_000
        y, sr = load_audio(clip)
        assert sr == 32000 and 5.0 <= y.shape[-1] / sr <= 8.0
        if reference:
            assert load_audio(reference)[1] == 48000
    assert any(reference for _, reference in rows)


def test_main_passes_the_flags_and_environment(monkeypatch, tmp_path):
    seen = {}

    def build_ui(**kwargs):
        seen["ui"] = kwargs
        return "demo"

    def launch(demo, **kwargs):
        seen["launch"] = (demo, kwargs)

    monkeypatch.setattr(app, "build_ui", build_ui)
    monkeypatch.setattr(app, "launch", launch)
    monkeypatch.setenv("RESTORATION_DB", "/tmp/from-env.sqlite")
    monkeypatch.setenv("RESTORATION_ADMIN_PASSWORD", "secret")
    monkeypatch.setenv("RESTORATION_MAX_DURATION_S", "60")
    (tmp_path / "models" / "demucs").mkdir(parents=True)
    (tmp_path / "models" / "demucs" / "mine.yaml").write_text("models: [x]\n")
    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(tmp_path / "models"))
    app.main(["--port", "7999", "--share"])
    ui = seen["ui"]
    assert (ui["db_path"], ui["admin_password"]) == ("/tmp/from-env.sqlite", "secret")
    assert ui["limits"] == guard.Limits(max_seconds=60.0, max_upload_mb=300.0)
    assert "mine" in ui["catalog"].names("demucs") and "htdemucs" in ui["catalog"].names("demucs")
    demo, flags = seen["launch"]
    assert demo == "demo" and (flags["host"], flags["port"], flags["share"]) == ("127.0.0.1", 7999, True)
    app.main(["--db", "x.sqlite", "--admin-password", "pw", "--host", "0.0.0.0", "--max-upload-mb", "20"])
    assert (seen["ui"]["db_path"], seen["ui"]["admin_password"]) == ("x.sqlite", "pw")
    assert seen["launch"][1]["host"] == "0.0.0.0" and seen["launch"][1]["limits"].max_upload_mb == 20.0
