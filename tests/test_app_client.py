"""The running app's API through gradio_client: restore, analyze, and errors as one-line messages."""

import json
from pathlib import Path

import pytest

from app_server import running_app
from restoration import load_audio, save_audio

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from gradio_client import Client

    folder = tmp_path_factory.mktemp("client")
    with running_app(folder, db=str(folder / "listening.sqlite")) as url:
        yield Client(url, download_files=str(folder / "downloads"), verbose=False)


@pytest.fixture
def clip(tmp_path, music):
    from signals import lowpass

    return str(save_audio(tmp_path / "clip.wav", lowpass(music(32000, 2.0, 2, seed=4), 32000, 11000), 32000))


def test_api_names_the_main_events(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/generate", "/restore", "/analyze"} <= set(endpoints)
    restore_inputs = [p["parameter_name"] for p in endpoints["/restore"]["parameters"]]
    assert restore_inputs == ["audio", "reference", "method", "params"]


def test_restore_returns_everything_shown(client, clip):
    from gradio_client import handle_file

    (restored, report, history, _a, _b, _pick, title, spectrograms, difference, psd, table,
     ab) = client.predict(audio=handle_file(clip), reference=None, method="spectral_gating+sbr",
                          params=json.dumps({"sbr.level_db": -3.0}), api_name="/restore")
    y, sr = load_audio(restored)
    assert sr == 48000 and y.shape == (2, 2 * 48000) and Path(restored).name == "clip.spectral_gating+sbr.wav"
    assert "spectral_gating+sbr" in report and "#1 spectral_gating+sbr" in title
    assert history["data"][0][2] == "spectral_gating+sbr"
    for image in (spectrograms, difference, psd):
        assert Path(image).read_bytes()[:4] == b"\x89PNG"
    rows = {row[0].split(",")[0]: row[1:] for row in table["data"]}
    assert {"bandwidth (as the spectrogram shows it)", "loudness (BS.1770)"} <= set(rows)
    a, a_sr = load_audio(ab["a"])  # the client downloads the files of the A/B pair
    b, b_sr = load_audio(ab["b"])
    assert (a_sr, b_sr) == (32000, 48000) and a.shape[0] == b.shape[0] == 2
    assert ab["lufs_b"] == pytest.approx(float(rows["loudness (BS.1770)"][1]), abs=0.06)


def test_analyze_compares_two_files(client, clip):
    from gradio_client import handle_file

    title, spectrograms, difference, psd, table, ab = client.predict(
        original=handle_file(clip), restored=handle_file(clip), reference=None, visqol=False, api_name="/analyze")
    rows = {row[0].split(",")[0]: row[1:] for row in table["data"]}
    assert rows["bandwidth (as the spectrogram shows it)"][2] == "= about the same"
    assert "measuring" not in str(table)


def test_bad_input_comes_back_as_its_message(client, clip):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown method 'nonsense'"):
        client.predict(audio=handle_file(clip), reference=None, method="nonsense", params="{}", api_name="/restore")
    with pytest.raises(AppError, match=r"sbr.level_db must be within"):
        client.predict(audio=handle_file(clip), reference=None, method="sbr", params='{"level_db": 99}',
                       api_name="/restore")
    with pytest.raises(AppError, match=r"cutoff_hz = 20000 Hz is above the Nyquist frequency"):
        client.predict(audio=handle_file(clip), reference=None, method="sbr", params='{"cutoff_hz": 20000}',
                       api_name="/restore")
