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
    assert restore_inputs == ["audio", "method", "params", "file_format"]


def test_restore_then_analyze(client, clip):
    from gradio_client import handle_file

    restored, download, report, history = client.predict(
        audio=handle_file(clip), method="spectral_gating+sbr", params=json.dumps({"sbr.level_db": -3.0}),
        file_format="flac", api_name="/restore")
    y, sr = load_audio(restored)
    assert sr == 48000 and y.shape == (2, 2 * 48000)
    assert Path(download).suffix == ".flac" and "spectral_gating+sbr" in report
    assert history["data"][0][1] == "spectral_gating+sbr"

    spectrograms, difference, psd, table, ab = client.predict(
        original=handle_file(clip), restored=handle_file(restored), reference=None, ab_lufs=-20.0, visqol=False,
        api_name="/analyze")
    for image in (spectrograms, difference, psd):
        assert Path(image).read_bytes()[:4] == b"\x89PNG"
    rows = {row[0]: row[1:] for row in table["data"]}
    assert {"lufs", "cutoff_hz", "logmel_original_vs_restored"} <= set(rows)
    a, a_sr = load_audio(ab["a"])  # the client downloads the files of the A/B pair
    b, b_sr = load_audio(ab["b"])
    assert a_sr == b_sr == 48000 and a.shape == b.shape and ab["lufs"] == pytest.approx(-20.0, abs=1.0)


def test_bad_input_comes_back_as_its_message(client, clip):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown method 'nonsense'"):
        client.predict(audio=handle_file(clip), method="nonsense", params="{}", file_format="wav", api_name="/restore")
    with pytest.raises(AppError, match=r"sbr.level_db must be within"):
        client.predict(audio=handle_file(clip), method="sbr", params='{"level_db": 99}', file_format="wav",
                       api_name="/restore")
