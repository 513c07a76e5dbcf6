"""The app's guard toward clients: the model catalog, names instead of paths, limits, path-free
messages, logged errors, the admin-password throttle and self-cleaning scratch files."""

import json
import logging
import os
import sys
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from restoration import RestorationError, save_audio
from restoration.models.catalog import ModelCatalog, UnknownModelError, check_models_dir, scan_models_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import app  # noqa: E402
from studio import guard  # noqa: E402
from studio.workbench import Workbench  # noqa: E402


@pytest.fixture
def models(tmp_path):
    """An operator's models folder: a Demucs bag and pickle, a U-Net checkpoint, a MusicGen folder."""
    root = tmp_path / "models"
    (root / "demucs").mkdir(parents=True)
    (root / "demucs" / "mybag.yaml").write_text("models: [sig1]\n")
    (root / "demucs" / "sig1-abcd1234.th").write_bytes(b"not loaded by the scan")
    (root / "unet" / "v2").mkdir(parents=True)
    for name in ("model.safetensors", "config.json"):
        (root / "unet" / "v2" / name).write_text("{}")
    (root / "unet" / "incomplete").mkdir()
    (root / "musicgen" / "tiny").mkdir(parents=True)
    (root / "musicgen" / "tiny" / "config.json").write_text("{}")
    return root


@pytest.fixture
def clip_file(tmp_path, music):
    return str(save_audio(tmp_path / "clip.wav", music(32000, 1.0, 1), 32000))


def test_catalog_lists_builtins_and_the_operator_folders(models):
    catalog = ModelCatalog.build([models])
    assert {"htdemucs", "htdemucs_ft", "htdemucs_6s", "demucs_unittest", "mybag", "sig1"} <= set(catalog.names("demucs"))
    assert catalog.names("unet")[:1] == ["shipped"] and "v2" in catalog.names("unet")
    assert "incomplete" not in catalog.names("unet")
    assert {"facebook/musicgen-small", "tiny"} <= set(catalog.names("musicgen"))
    entry = catalog.get("demucs", "mybag")
    assert (entry.source, entry.folder) == ("mybag", str((models / "demucs").resolve()))
    assert catalog.get("demucs", "htdemucs").folder == ""  # demucs's own download
    assert catalog.get("unet", "v2").source == str((models / "unet" / "v2").resolve())


def test_a_models_folder_name_replaces_the_builtin(models):
    (models / "demucs" / "htdemucs.yaml").write_text("models: [sig1]\n")
    assert ModelCatalog.build([models]).get("demucs", "htdemucs").folder == str((models / "demucs").resolve())


def test_anything_but_a_name_gets_the_same_line(models, tmp_path):
    catalog = ModelCatalog.build([models])
    secret = tmp_path / "secret"
    secret.mkdir()
    messages = set()
    for value in (str(secret), str(tmp_path / "missing"), "/root/.ssh", "../models/demucs", "nope", "", None, 3):
        with pytest.raises(UnknownModelError) as info:
            catalog.get("demucs", value)
        messages.add(str(info.value))
    assert len(messages) == 1
    (message,) = messages
    assert "not offered by this server" in message and "/" not in message.replace("/musicgen", "")


def test_restore_params_map_names_and_refuse_paths(models, tmp_path):
    catalog, limits = ModelCatalog.build([models]), guard.Limits()
    assert guard.restore_params(catalog, "demucs", {"model": "mybag", "shifts": 0}, limits) == {
        "model": "mybag", "repo": str((models / "demucs").resolve()), "shifts": 0, "segment": limits.max_segment_s}
    chain = guard.restore_params(catalog, "spectral_gating+unet", {"unet.checkpoint": "v2"}, limits)
    assert chain == {"unet.checkpoint": str((models / "unet" / "v2").resolve())}
    assert guard.restore_params(catalog, "unet", {}, limits) == {"checkpoint": ""}  # the shipped weights
    refusals = set()
    for method, params in [("demucs", {"repo": str(models / "demucs")}), ("demucs", {"repo": "/nonexistent"}),
                           ("demucs", {"model": str(models / "demucs" / "mybag")}),
                           ("spectral_gating+demucs", {"demucs.repo": str(tmp_path)}),
                           ("unet", {"checkpoint": str(models / "unet" / "v2")}),
                           ("unet", {"checkpoint": "/nonexistent"})]:
        with pytest.raises(UnknownModelError) as info:
            guard.restore_params(catalog, method, params, limits)
        assert str(tmp_path) not in str(info.value) and "/nonexistent" not in str(info.value)
        refusals.add(str(info.value).split(";")[0])
    assert len(refusals) <= 3  # one line per kind of model, whatever the path
    with pytest.raises(RestorationError, match="at most 4 stages"):
        guard.restore_params(catalog, "+".join(["passthrough"] * 5), {}, limits)


@pytest.mark.parametrize("where", ["upload", "inside upload", "temp root", "writable by others", "link to upload"])
def test_models_folder_clients_could_write_is_refused(tmp_path, where):
    upload = tmp_path / "gradio"
    upload.mkdir()
    folder = {"upload": upload, "inside upload": upload / "x", "temp root": Path("/tmp"),
              "writable by others": tmp_path / "shared", "link to upload": tmp_path / "linked"}[where]
    folder.mkdir(exist_ok=True)
    if where == "writable by others":
        (folder / "demucs").mkdir()
        (folder / "demucs").chmod(0o777)
    if where == "link to upload":
        (folder / "demucs").symlink_to(upload)
    with pytest.raises(RestorationError, match="temporary folder|clients can write|writable by other users"):
        check_models_dir(folder, forbidden=[upload])


def test_a_models_folder_is_checked_again_right_before_loading(models, tmp_path, clip_file):
    upload = tmp_path / "gradio"
    upload.mkdir()
    catalog, limits = ModelCatalog.build([models], forbidden=[upload]), guard.Limits()
    weights = models / "unet" / "v2" / "model.safetensors"
    assert guard.restore_params(catalog, "unet", {"checkpoint": "v2"}, limits)["checkpoint"].endswith("v2")
    weights.chmod(0o666)  # changed after start: anyone may now replace the weights
    with pytest.raises(RestorationError, match="model.safetensors in models folder .* is writable by other users"):
        guard.restore_params(catalog, "unet", {"checkpoint": "v2"}, limits)
    bench = Workbench(tmp_path / "work", catalog=catalog)
    with pytest.raises(gr.Error, match="writable by other users") as info:
        bench.restore(clip_file, None, "unet", json.dumps({"checkpoint": "v2"}), [])
    assert str(tmp_path) not in info.value.message  # no server path
    weights.chmod(0o644)
    pickle = models / "demucs" / "sig1-abcd1234.th"
    pickle.unlink()
    pickle.symlink_to(upload / "planted.th")  # now points where clients upload
    with pytest.raises(RestorationError, match="clients can write"):
        guard.demucs_settings(catalog, "mybag")
    with pytest.raises(RestorationError, match="clients can write"):
        guard.musicgen_source(catalog, "tiny")  # the whole folder is refused, whichever model is asked for
    assert guard.demucs_settings(catalog, "htdemucs")["repo"] == ""  # built-ins need no folder


def test_main_refuses_a_models_dir_in_gradios_upload_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-cache"))
    (tmp_path / "gradio-cache" / "abc").mkdir(parents=True)
    monkeypatch.setattr(app, "launch", lambda *a, **k: pytest.fail("launched"))
    with pytest.raises(SystemExit) as info:
        app.main(["--models-dir", str(tmp_path / "gradio-cache" / "abc")])
    assert info.value.code == 2 and "clients can write" in capsys.readouterr().err


def test_demucs_safetensors_load_without_pickles_and_only_known_classes(tmp_path, music):
    pytest.importorskip("demucs")
    from demucs.htdemucs import HTDemucs
    from safetensors.torch import save_file

    from restoration.models import demucs_method as dm

    net = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=4, depth=4, t_layers=0, dconv_comp=2,
                   segment=3)
    dm.save_safetensors(net, tmp_path / "tiny.safetensors")
    (tmp_path / "bag.yaml").write_text("models: [tiny]\nsegment: 2\n")
    stems, rate = dm.separate(music(44100, 1.0, 2), 44100, model="bag", repo=str(tmp_path), shifts=0)
    assert list(stems) == ["drums", "bass", "other", "vocals"] and rate == 44100
    save_file({"x": net.state_dict()[next(iter(net.state_dict()))]}, str(tmp_path / "evil.safetensors"),
              metadata={"klass": "os.system", "args": json.dumps(["touch " + str(tmp_path / "owned")]), "kwargs": "{}"})
    with pytest.raises(RestorationError, match="names a model class other than"):
        dm.separate(music(44100, 1.0, 2), 44100, model="evil", repo=str(tmp_path), shifts=0)
    assert not (tmp_path / "owned").exists()
    assert [e.name for e in scan_models_dir(tmp_path.parent) if e.kind == "demucs"] == []  # no demucs/ subfolder


def test_scrub_keeps_base_names_only():
    assert guard.scrub("empty file: /tmp/x/gradio-cache/ab12/empty.wav") == "empty file: empty.wav"
    assert guard.scrub("cannot load 'm' from /srv/models/demucs (bad)") == "cannot load 'm' from demucs (bad)"
    assert guard.scrub("see https://example.org/a/b and ./rel/path.wav") == "see https://example.org/a/b and ./rel/path.wav"


def test_handled_logs_one_line_per_error_and_a_traceback_for_bugs(caplog):
    @guard.handled("/restore")
    def refuse():
        raise RestorationError("cannot decode /tmp/gradio/abc/x.wav: not decodable audio")

    @guard.handled("/restore")
    def crash():
        raise KeyError("bug")

    with caplog.at_level(logging.INFO, logger="restoration.app"):
        with pytest.raises(gr.Error) as info:
            refuse()
        assert info.value.message == "cannot decode x.wav: not decodable audio" and not info.value.print_exception
        with pytest.raises(gr.Error, match="the server failed on this request"):
            crash()
    first, second = caplog.records
    assert first.getMessage() == "/restore refused: cannot decode x.wav: not decodable audio" and not first.exc_info
    assert second.getMessage() == "/restore failed" and second.exc_info[0] is KeyError


def test_throttle_locks_out_one_client_and_backs_off():
    now = [1000.0]
    throttle = guard.Throttle(free=3, base_s=2.0, max_s=60.0, clock=lambda: now[0])
    for _ in range(2):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
    throttle.check("10.0.0.1")  # two wrong guesses: still free
    throttle.failed("10.0.0.1")
    with pytest.raises(gr.Error, match="too many wrong passwords; try again in 3 s"):
        throttle.check("10.0.0.1")
    throttle.check("10.0.0.2")  # another client is not affected
    now[0] += 2.5
    throttle.check("10.0.0.1")
    throttle.failed("10.0.0.1")  # the fourth: 4 s
    with pytest.raises(gr.Error, match="try again in 5 s"):
        throttle.check("10.0.0.1")
    for _ in range(10):
        throttle.failed("10.0.0.1")
    with pytest.raises(gr.Error, match="try again in 61 s"):  # capped at max_s
        throttle.check("10.0.0.1")
    throttle.succeeded("10.0.0.1")
    throttle.check("10.0.0.1")


def test_listening_admin_password_is_throttled_per_client(tmp_path):
    from studio.listening_tab import ListeningHandlers

    from restoration.listening import ListeningStore

    handlers = ListeningHandlers(ListeningStore(tmp_path / "t.sqlite"), "right")
    attacker = type("Request", (), {"client": type("Client", (), {"host": "203.0.113.9"})()})()
    for _ in range(handlers.throttle.free):
        with pytest.raises(gr.Error, match="wrong admin password"):
            handlers.check_admin("guess", attacker)
    with pytest.raises(gr.Error, match="too many wrong passwords"):
        handlers.check_admin("right", attacker)  # even the right one waits out the lockout
    handlers.check_admin("right", None)  # another client


def test_scratch_folder_prunes_old_entries(tmp_path):
    scratch = guard.ScratchFolder(tmp_path / "s", max_age_s=60.0)
    old = scratch.path("answers.csv")
    old.write_text("a,b\n")
    past = time.time() - 120
    os.utime(old.parent, (past, past))
    new = scratch.path("answers.csv")
    assert new.name == "answers.csv" and new.parent != old.parent
    assert not old.parent.exists() and new.parent.exists()


def test_studio_refuses_a_one_hz_upload_and_long_clips_at_once(tmp_path, music):
    studio = Workbench(tmp_path / "work", limits=guard.Limits(max_seconds=1.0))
    one_hz = tmp_path / "upload" / "one_hz.wav"
    one_hz.parent.mkdir()
    sf.write(one_hz, np.zeros(4000, np.int16), 1, subtype="PCM_16")
    start = time.perf_counter()
    with pytest.raises(gr.Error, match="sample rate of one_hz.wav must be a whole number from 8000"):
        studio.restore(str(one_hz), None, "sbr", "{}", [])
    assert time.perf_counter() - start < 1.0
    long = save_audio(tmp_path / "upload" / "long.wav", music(32000, 2.0, 1), 32000)
    with pytest.raises(gr.Error, match=r"long.wav is 2.0 s long; this server accepts at most 1.0 s"):
        studio.restore(str(long), None, "sbr", "{}", [])
    (tmp_path / "upload" / "empty.wav").write_bytes(b"")
    with pytest.raises(gr.Error) as info:
        studio.restore(str(tmp_path / "upload" / "empty.wav"), None, "sbr", "{}", [])
    assert info.value.message == "empty file: empty.wav"  # no server path


def test_the_ui_shows_the_limits_next_to_the_upload(tmp_path):
    demo = app.build_ui(workdir=tmp_path / "work", db_path=str(tmp_path / "t.sqlite"),
                        limits=guard.Limits(max_seconds=600.0, max_upload_mb=50.0))
    notes = [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and b.elem_id == "upload-limits"]
    assert notes == ["Uploads: up to 50 MB and 10:00 min of audio, 8–384 kHz (read at up to 48 kHz), mono or stereo."]
    models = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "model"]
    assert models and not any(m.allow_custom_value for m in models)


def test_results_exports_stay_in_one_pruned_folder(tmp_path):
    import tempfile

    from studio.listening_tab import ListeningHandlers

    from restoration.listening import ListeningStore, build_test, bundled_clips

    store = ListeningStore(tmp_path / "t.sqlite")
    test_id = build_test(store, name="Export", protocol="ab", clips=bundled_clips()[:1], methods=["passthrough", "spectral_gating"],
                         max_seconds=1.0)
    handlers = ListeningHandlers(store, None)
    before = set(Path(tempfile.gettempdir()).glob("listening-*"))
    first = Path(handlers.results(None, test_id, False)[-1])
    second = Path(handlers.results(None, test_id, False)[-1])
    assert first.name == second.name == "Export-answers.csv" and first != second
    assert handlers.exports.folder in first.parents and handlers.exports.folder in second.parents
    assert set(Path(tempfile.gettempdir()).glob("listening-*")) == before  # no new folder per export


@pytest.mark.parametrize("argv, env", [(["--max-duration", "-1"], {}), (["--max-upload-mb", "0"], {}),
                                       ([], {"RESTORATION_MAX_DURATION_S": "abc"})])
def test_bad_limits_stop_the_app_with_one_line(argv, env, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(app, "launch", lambda *a, **k: pytest.fail("launched"))
    with pytest.raises(SystemExit) as info:
        app.main(argv)
    assert info.value.code == 2 and "must be" in capsys.readouterr().err.strip().splitlines()[-1]
