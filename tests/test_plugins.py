"""Plugin methods (entry-point group ``restoration.methods``).

The example plugin (examples/aexciter-plugin) is installed with pip, without network, into a
temporary folder, and used through the CLI, a chain, ``bench --quick``, a Ray batch whose workers
must find it, the app's ``/restore`` and a listening test. Broken plugins (fake distributions: an
import error, an object that is no Method, bad specs, names taken) are one warning line each and
are skipped; everything else keeps working.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from signals import lowpass

from restoration import load_audio, resample, restore, save_audio
from restoration.analysis.metrics import band_level_dbfs
from restoration.registry import get_method, list_methods, refresh_plugins

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "aexciter-plugin"
BUILTIN = ["passthrough", "spectral_gating", "spectral_subtraction", "mcra_wiener", "sbr", "unet", "demucs"]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """The example plugin installed by pip into a fresh folder: no index, no build isolation (the
    installed setuptools builds it), from a copy (pip builds in the source folder)."""
    base = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(EXAMPLE, base / "source")
    site = base / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--disable-pip-version-check", "--target", str(site), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (site / "restoration_aexciter-0.1.0.dist-info" / "entry_points.txt").is_file()
    return site


@pytest.fixture
def with_plugin(plugin_site, monkeypatch):
    """This process sees the plugin (on ``sys.path`` only, not on ``PYTHONPATH``)."""
    monkeypatch.syspath_prepend(str(plugin_site))
    refresh_plugins()
    yield plugin_site
    refresh_plugins()


def cli(*args, paths=(), cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``python -m restoration ARGS`` with this checkout and ``paths`` on its PYTHONPATH."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *map(str, paths)]), **(env or {})}
    return subprocess.run([sys.executable, "-m", "restoration", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=environment, timeout=timeout)


@pytest.fixture
def clip(tmp_path, music) -> Path:
    """2 s of 32 kHz stereo music low-passed at 11 kHz, as MusicGen's output is."""
    return save_audio(tmp_path / "clip.wav", lowpass(music(32000, 2.0, 2, seed=7), 32000, 11000), 32000)


def high_band_db(y: np.ndarray, sr: int) -> float:
    return band_level_dbfs(y, sr, low_hz=16000.0)


def rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


# ------------------------------------------------------------------------------ the example plugin


@needs_ffmpeg
def test_cli_lists_restores_and_chains_the_plugin(plugin_site, clip, tmp_path):
    listed = cli("methods", paths=[plugin_site])
    assert listed.returncode == 0 and listed.stderr == ""
    assert "aexciter  (48000 Hz, plugin from restoration-aexciter)" in listed.stdout
    for flag in ("--set amount_db=0.0  (float [-30, 12])", "--set drive=8.5  (float [0.1, 10])",
                 "--set freq_hz=7500.0  (float [2000, 12000])"):
        assert flag in listed.stdout
    assert "plugin from" not in listed.stdout.split("aexciter  (")[0]  # built-ins are not marked
    imported = subprocess.run([sys.executable, "-c", "import sys; from restoration import list_methods; list_methods(); "
                               "print([m for m in ('torch', 'restoration_aexciter.exciter') if m in sys.modules])"],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(plugin_site)])})
    assert imported.stdout == "[]\n", imported.stderr  # listing imports the spec only: no torch, no function

    y, sr = load_audio(clip)
    plain = high_band_db(resample(y, sr, 48000), 48000)
    done = cli("restore", clip, tmp_path / "excited.wav", "-m", "aexciter", "--quiet", paths=[plugin_site])
    assert done.returncode == 0, done.stderr
    excited, rate = load_audio(tmp_path / "excited.wav")
    assert rate == 48000 and excited.shape == (2, 96000)
    assert high_band_db(excited, rate) > plain + 10.0  # harmonics above 16 kHz where the input had none
    body = lowpass(resample(y, sr, 48000), 48000, 4000.0)
    assert rms(lowpass(excited, 48000, 4000.0) - body) < 0.01 * rms(body)  # the body is left alone

    done = cli("restore", clip, tmp_path / "chain.flac", "-m", "sbr+aexciter", "--set", "aexciter.amount_db=6",
               "--quiet", paths=[plugin_site])
    assert done.returncode == 0, done.stderr
    chained, rate = load_audio(tmp_path / "chain.flac")
    sbr_only, _ = restore(y, sr, "sbr")
    assert rate == 48000 and chained.shape == sbr_only.shape == (2, 96000)
    assert high_band_db(chained, rate) > high_band_db(sbr_only, rate) + 1.0

    refused = cli("restore", clip, tmp_path / "no.wav", "-m", "aexciter", "--set", "freq_hz=20000", paths=[plugin_site])
    assert refused.returncode == 2 and not (tmp_path / "no.wav").exists()
    assert refused.stderr == "error: aexciter.freq_hz must be within [2000.0, 12000.0], got 20000.0\n"


@needs_ffmpeg
def test_example_is_chunked_exactly_and_needs_ffmpeg(with_plugin, clip, tmp_path, monkeypatch):
    from restoration_aexciter import exciter

    y, sr = load_audio(clip)
    whole = exciter.excite(y, sr, freq_hz=6000.0)
    monkeypatch.setattr(exciter, "CHUNK_S", 0.3)  # seven chunks with context either side
    calls = []
    chunked = exciter.excite(y, sr, freq_hz=6000.0, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(chunked, whole)
    assert calls[-1] == (7, 7)

    missing = cli("restore", clip, tmp_path / "out.wav", "-m", "aexciter", paths=[with_plugin], env={"PATH": ""})
    assert missing.returncode == 2 and not (tmp_path / "out.wav").exists()
    assert missing.stderr == "error: the aexciter method needs ffmpeg on the PATH (apt-get install ffmpeg)\n"


@needs_ffmpeg
@pytest.mark.slow
def test_bench_quick_runs_the_plugin(plugin_site, tmp_path):
    # in tmp_path there is no corpus: the quick benchmark runs on its built-in synthetic clips
    done = cli("bench", "--quick", "--methods", "aexciter", "passthrough", "--clips", "2", "--seconds", "1",
               "--no-visqol", "--out", tmp_path / "bench", paths=[plugin_site], cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    report = results["methods"]["aexciter"]
    assert report["status"] == "ok", report
    assert report["rtf"] > 0 and len(report["degraded"]) == 2
    assert all(np.isfinite(values["lsd"]) for values in report["degraded"].values())
    assert "| aexciter |" in (tmp_path / "bench" / "benchmark.md").read_text()


@needs_ffmpeg
@pytest.mark.slow
def test_ray_batch_workers_load_the_plugin(with_plugin, tmp_path, music):
    ray = pytest.importorskip("ray")
    from restoration.batch import run_batch

    assert not ray.is_initialized()
    assert str(with_plugin) not in os.environ.get("PYTHONPATH", "")  # workers learn of it from the batch itself
    src = tmp_path / "in"
    src.mkdir()
    for seed in (1, 2):
        save_audio(src / f"song{seed}.wav", music(32000, 1.5, 2, seed=seed), 32000)
    summary = run_batch(src, tmp_path / "out", "aexciter", {"amount_db": -3}, workers=1, progress=False)
    assert (summary.total, summary.ok, summary.errors) == (2, 2, 0)
    for seed in (1, 2):
        y, sr = load_audio(tmp_path / "out" / f"song{seed}.flac")
        assert sr == 48000 and y.shape == (2, 72000)


@needs_ffmpeg
def test_listening_test_renders_the_plugin(with_plugin, clip, tmp_path):
    from restoration.listening import ListeningStore
    from restoration.listening.render import build_test, pair_clips

    store = ListeningStore(tmp_path / "listening.sqlite")
    test_id = build_test(store, name="plugin", protocol="ab", clips=pair_clips([clip]),
                         methods=["passthrough", "aexciter"], params={"aexciter": {"amount_db": -6}})
    stimuli = store.stimuli(test_id).values()
    assert sorted(s.condition for s in stimuli) == ["aexciter", "passthrough"]
    versions = {s.condition: load_audio(s.path) for s in stimuli}
    assert versions["aexciter"][0].shape == versions["passthrough"][0].shape
    assert high_band_db(*versions["aexciter"]) > high_band_db(*versions["passthrough"]) + 10.0


# ------------------------------------------------------------------------------ broken plugins

#: Fake distributions: name -> entry points (method name = "module:object").
FAKE_DISTS = {
    "fake-good": {"fake_ok": "fakeplug:make_method"},  # a function returning a Method
    "fake-import": {"broken_import": "fakeplug_missing_module:METHOD"},
    "fake-object": {"not_a_method": "fakeplug:NOT_A_METHOD"},
    "fake-builtin": {"sbr": "fakeplug:SBR"},
    "fake-twin-a": {"twin": "fakeplug:TWIN"},
    "fake-twin-b": {"twin": "fakeplug:TWIN"},
    "fake-plus": {"a+b": "fakeplug:PLUS"},
    "fake-target": {"no_target": "fakeplug:NO_TARGET"},
    "fake-renamed": {"renamed": "fakeplug:RENAMED"},
    "fake-param": {"bad_default": "fakeplug:BAD_DEFAULT"},
    "fake-late": {"late_fail": "fakeplug:LATE"},
}
SKIPPED = {"broken_import": "ModuleNotFoundError: No module named 'fakeplug_missing_module'",
           "not_a_method": "fakeplug:NOT_A_METHOD is a str, not a restoration.Method",
           "sbr": "a built-in method has this name",
           "twin": "more than one installed package declares this name",
           "a+b": "must be letters, digits, '_' or '-'",
           "no_target": "the module fakeplug_nowhere of target fakeplug_nowhere:run cannot be found",
           "renamed": "the entry point is named 'renamed' but its Method is named 'other'",
           "bad_default": "the default of parameter gain_db is invalid: gain_db must be within"}
FAKEPLUG = '''
    from restoration import Method, Param

    def halve(y, sr, *, progress=None, gain_db=-6.0):
        return y * 10 ** (gain_db / 20)

    def make_method():
        return Method("fake_ok", "a gain (fake plugin)", "fakeplug:halve",
                      params=(Param("gain_db", "float", -6.0, "gain, dB", -20.0, 0.0),))

    def spec(name, target="fakeplug:halve", default=-6.0):
        return Method(name, "fake", target, params=(Param("gain_db", "float", default, "gain, dB", -20.0, 0.0),))

    NOT_A_METHOD = "hello"
    SBR, TWIN, PLUS, RENAMED = spec("sbr"), spec("twin"), spec("a+b"), spec("other")
    NO_TARGET = spec("no_target", "fakeplug_nowhere:run")
    BAD_DEFAULT = spec("bad_default", default=3.0)
    LATE = spec("late_fail", "fakeplug_late:run")
'''


@pytest.fixture
def broken_site(tmp_path) -> Path:
    """A folder with fake distributions (dist-info with METADATA and entry_points.txt) and their module."""
    site = tmp_path / "broken-site"
    site.mkdir()
    for dist, points in FAKE_DISTS.items():
        info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {target}\n" for name, target in points.items())
        (info / "entry_points.txt").write_text(f"[restoration.methods]\n{lines}")
    (site / "fakeplug.py").write_text(textwrap.dedent(FAKEPLUG))
    (site / "fakeplug_late.py").write_text("import fakeplug_dependency_not_installed\n")
    return site


def test_broken_plugins_are_one_warning_each_and_skipped(broken_site, monkeypatch, caplog, music):
    monkeypatch.syspath_prepend(str(broken_site))
    refresh_plugins()
    try:
        with caplog.at_level("WARNING", logger="restoration.plugins"):
            names = [m.name for m in list_methods()]
            list_methods()  # looked up once
        assert names == [*BUILTIN, "fake_ok", "late_fail"]
        assert get_method("sbr").source == "" and get_method("fake_ok").source == "fake-good"
        messages = [r.getMessage() for r in caplog.records if r.name == "restoration.plugins"]
        assert len(messages) == len(SKIPPED) and all("\n" not in m for m in messages)
        for name, reason in SKIPPED.items():
            assert sum(m.startswith(f"plugin method {name!r} (from ") for m in messages) == 1, name
            assert any(m.startswith(f"plugin method {name!r}") and reason in m for m in messages), (name, messages)
        assert any("(from fake-twin-a, fake-twin-b)" in m for m in messages)
        y = music(32000, 0.5, 2, seed=1)
        out, rate = restore(y, 32000, "fake_ok+sbr", {"fake_ok.gain_db": -20})
        assert rate == 48000 and out.shape == (2, 24000)
    finally:
        refresh_plugins()


def test_cli_with_broken_plugins_warns_and_works(broken_site, tmp_path, music):
    listed = cli("methods", paths=[broken_site])
    assert listed.returncode == 0
    warnings = listed.stderr.splitlines()
    assert len(warnings) == len(SKIPPED) and all(w.startswith("warning: plugin method ") for w in warnings)
    assert "fake_ok  (input rate, plugin from fake-good)" in listed.stdout
    assert listed.stdout.count("\nsbr  (") == 1 and "\ntwin  (" not in listed.stdout

    clip = save_audio(tmp_path / "clip.wav", music(32000, 0.5, 1, seed=2), 32000)
    late = cli("restore", clip, tmp_path / "late.wav", "-m", "late_fail", paths=[broken_site])
    assert late.returncode == 2 and not (tmp_path / "late.wav").exists()
    assert late.stderr.splitlines()[-1] == ("error: method late_fail cannot run here: "
                                            "No module named 'fakeplug_dependency_not_installed'")
    unknown = cli("restore", clip, tmp_path / "x.wav", "-m", "twin", paths=[broken_site])
    assert unknown.returncode == 2 and unknown.stderr.splitlines()[-1].startswith("error: unknown method 'twin'")


# ------------------------------------------------------------------------------ the app


@needs_ffmpeg
@pytest.mark.slow
def test_app_offers_the_plugin_with_controls_and_restores_with_it(plugin_site, broken_site, clip, tmp_path):
    import urllib.request

    from gradio_client import Client, handle_file

    from app_server import running_app

    paths = os.pathsep.join([str(ROOT), str(plugin_site), str(broken_site)])
    with running_app(tmp_path / "app", db=str(tmp_path / "listening.sqlite"), env={"PYTHONPATH": paths}) as url:
        with urllib.request.urlopen(url + "config", timeout=30) as response:
            components = [c.get("props", {}) for c in json.load(response)["components"]]
        by_id = {props.get("elem_id"): props for props in components if props.get("elem_id")}
        assert ["aexciter", "aexciter"] in by_id["method"]["choices"]  # the Studio's method dropdown
        assert ["aexciter", "aexciter"] in by_id["create-methods"]["choices"]  # listening-test creation
        assert "Plugin methods installed here: aexciter (restoration-aexciter), fake_ok" in by_id["models-status"]["value"]
        sliders = {p["label"]: p for p in components if p.get("label") in ("amount_db", "drive", "freq_hz")}
        assert {name: (p["minimum"], p["maximum"], p["value"]) for name, p in sliders.items()} == {
            "amount_db": (-30.0, 12.0, 0.0), "drive": (0.1, 10.0, 8.5), "freq_hz": (2000.0, 12000.0, 7500.0)}

        client = Client(url, download_files=str(tmp_path / "downloads"), verbose=False)
        restored, report, *_ = client.predict(audio=handle_file(str(clip)), reference=None, method="aexciter",
                                              params=json.dumps({"amount_db": -3, "freq_hz": 6000}),
                                              api_name="/restore")
        y, sr = load_audio(restored)
        assert sr == 48000 and y.shape == (2, 96000) and Path(restored).name == "clip.aexciter.wav"
        assert "aexciter" in report
    log = next((tmp_path / "app").glob("app-*.log")).read_text()
    skipped = [line for line in log.splitlines() if "plugin method" in line]
    assert len(skipped) == len(SKIPPED), skipped
