"""The user's own files through the running app's API (/add_files, /compare): added to the session's
history, compared with each other and with a restoration, skipped with a reason, zips kept inside."""

import json
import uuid
import zipfile
from pathlib import Path

import pytest

from app_server import running_app
from restoration import load_audio, save_audio

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own-files")
    with running_app(folder, db=str(folder / "listening.sqlite")) as url:
        yield url


@pytest.fixture
def client(app_url, tmp_path):
    """A client of its own: a browser session with an empty history."""
    from gradio_client import Client

    return Client(app_url, download_files=str(tmp_path / "downloads"), verbose=False)


@pytest.fixture
def song(tmp_path, music):
    """song.reference.wav (48 kHz), song.a.wav (its 8 kHz band), song.b.flac (32 kHz, 11 kHz band), 2 s each;
    and song.c.wav, which is no audio at all."""
    from signals import lowpass

    reference = music(48000, 2.0, 2, seed=7)
    (tmp_path / "song.c.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" * 40)
    return {"reference": save_audio(tmp_path / "song.reference.wav", reference, 48000),
            "a": save_audio(tmp_path / "song.a.wav", lowpass(reference, 48000, 8000), 48000),
            "b": save_audio(tmp_path / "song.b.flac", lowpass(music(32000, 2.0, 2, seed=7), 32000, 11000), 32000),
            "c": tmp_path / "song.c.wav"}


def add(client, *paths):
    from gradio_client import handle_file

    return client.predict(files=[handle_file(str(p)) for p in paths], api_name="/add_files")


def compare(client, a, b):
    return client.predict(a_key=a, b_key=b, reference=None, api_name="/compare")


def rows_of(table):
    return {row[0].split(",")[0]: row[1:] for row in table["data"]}


def test_the_api_names_adding_files_and_comparing(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/add_files"]["parameters"]] == ["files"]
    assert [p["parameter_name"] for p in endpoints["/compare"]["parameters"]] == ["a_key", "b_key", "reference"]


def test_files_join_the_history_and_two_of_them_compare_with_their_reference(client, song):
    status, emptied, history, a, b, pick = add(client, song["a"], song["b"], song["reference"], song["c"])
    lines = status.splitlines()
    assert lines[0].startswith("Added 3 file(s): #1 song · a, #2 song · b, #3 song · reference.")
    assert lines[-1] == ("Skipped: cannot decode song.c.wav: not decodable audio "
                         "(WAV, FLAC, OGG/Vorbis and MP3 are supported)")
    assert emptied is None and (a["value"], b["value"], pick["value"]) == ("1", "2", "2")
    assert [key for _, key in a["choices"]] == ["1", "2", "3"] and a["choices"][2][0].startswith("#3 song · reference")
    assert [row[2:] for row in history["data"]] == [["your file song.a.wav", "", "", 48000],
                                                    ["your file song.b.flac", "", "", 32000],
                                                    ["your file song.reference.wav", "", "", 48000]]

    title, spectrograms, difference, psd, table, ab = compare(client, "1", "2")
    assert "#1 song · a vs #2 song · b" in title and "against the reference #3 song · reference" in title
    for image in (spectrograms, difference, psd):
        assert Path(image).read_bytes()[:4] == b"\x89PNG"
    rows = rows_of(table)
    lsd_a, lsd_b = (float(value) for value in rows["log-spectral distance to the reference"][:2])
    assert 0 < lsd_a < lsd_b and rows["log-spectral distance to the reference"][2] == "✗ worse"
    assert rows["bandwidth (as the spectrogram shows it)"][2] == "✓ better"  # 8 kHz band against 11 kHz
    played_a, rate_a = load_audio(ab["a"])
    played_b, rate_b = load_audio(ab["b"])
    assert (rate_a, rate_b) == (48000, 32000) and played_a.shape == (2, 96000) and played_b.shape == (2, 64000)
    assert ab["lufs_b"] == pytest.approx(float(rows["loudness (BS.1770)"][1]), abs=0.06)

    title, *_, table, ab = compare(client, "3", "1")  # the reference itself against a file: LSD 0
    assert rows_of(table)["log-spectral distance to the reference"][0] == "0.00"


def test_a_file_compares_with_a_restoration_of_this_session(client, tmp_path, music):
    from gradio_client import handle_file
    from signals import lowpass

    clip = save_audio(tmp_path / "tune.wav", lowpass(music(32000, 2.0, 2, seed=4), 32000, 11000), 32000)
    client.predict(audio=handle_file(str(clip)), reference=None, method="sbr", params=json.dumps({}),
                   api_name="/restore")
    other = save_audio(tmp_path / "tune.mine.flac", music(44100, 2.0, 1, seed=4), 44100)
    status, _, history, a, b, pick = add(client, other)
    assert status.startswith("Added 1 file(s): #2 tune · mine.") and (a["value"], b["value"]) == ("original", "2")
    assert [key for _, key in pick["choices"]] == ["1", "2"]
    assert [row[2] for row in history["data"]] == ["sbr", "your file tune.mine.flac"]
    title, *_, table, ab = compare(client, "1", "2")
    assert "#1 sbr vs #2 tune · mine" in title and "against the reference" not in title
    assert table["headers"] == ["metric, unit, better", "#1 sbr", "#2 tune · mine", "B against A"]
    assert (load_audio(ab["a"])[1], load_audio(ab["b"])[1]) == (48000, 44100)
    title, *_ = compare(client, "original", "2")
    assert "original (tune) vs #2 tune · mine" in title


def test_a_zip_is_added_and_its_paths_stay_inside(client, song, tmp_path):
    escaped = f"escaped-{uuid.uuid4().hex[:8]}"
    archive = tmp_path / "outputs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(song["a"], f"../../../../{escaped}.a.wav")
        zipped.write(song["b"], "deep/folder/song.b.flac")
        zipped.writestr("readme.txt", "not audio")
    status, _, history, a, b, _ = add(client, archive)
    assert status.startswith(f"Added 2 file(s): #1 {escaped} · a, #2 song · b.")
    assert [row[2] for row in history["data"]] == [f"your file {escaped}.a.wav", "your file song.b.flac"]
    for folder in (Path("/tmp"), Path.cwd(), Path(__file__).resolve().parents[1], tmp_path):
        assert not list(folder.glob(f"{escaped}*")), folder
    title, *_ = compare(client, "1", "2")
    assert f"#1 {escaped} · a vs #2 song · b" in title


def test_what_cannot_be_used_is_one_line(client, song, tmp_path, music):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"^none of the files could be added: cannot decode song.c.wav: not decodable"):
        add(client, song["c"])
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    longer = save_audio(tmp_path / "song.longer.wav", music(48000, 3.0, 2, seed=7), 48000)
    status, *_ = add(client, song["a"], longer, tmp_path / "broken.zip")
    assert status.splitlines()[-1] == "Skipped: cannot read broken.zip: not a readable zip archive"
    with pytest.raises(AppError, match=r"^#1 song · a lasts 2.00 s and #2 song · longer 3.00 s: only versions of one "
                                       r"clip can be compared"):
        compare(client, "1", "2")


def test_a_client_cannot_add_a_server_path(app_url):
    from test_attack import call, file_data

    audio_on_the_server = Path(__file__).resolve().parents[1] / "assets" / "train_tune.flac"  # readable, not uploaded
    event, _ = call(app_url, "add_files", [file_data(str(audio_on_the_server))])
    assert event == "error"  # gradio refuses a file outside its upload folder before the handler runs
