"""A scripted listener through gradio_client: the named endpoints of the running app take a test
from creation to results, refuse bad answers, and hand every listener and slot its own file."""

import hashlib
from pathlib import Path

import pytest

from app_server import running_app
from restoration import save_audio
from restoration.listening import ListeningStore

pytestmark = pytest.mark.slow
PASSWORD = "pw"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from gradio_client import Client

    folder = tmp_path_factory.mktemp("listening-client")
    db = folder / "listening.sqlite"
    with running_app(folder, db=str(db), admin_password=PASSWORD) as url:
        yield Client(url, download_files=str(folder / "downloads"), verbose=False), ListeningStore(db), folder


def x_is(store, token):
    """The right ABX answer, read on the server side (the client cannot know it)."""
    slots = store.presentation(token).slots
    return "A" if slots["X"] == slots["A"] else "B"


def test_a_scripted_listener_completes_a_test(served, music):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, store, folder = served
    clip = save_audio(folder / "tune.wav", music(sr=32000, seconds=1.0, seed=5), 32000)
    report = client.predict(password=PASSWORD, name="scripted abx", protocol="abx", uploads=[handle_file(str(clip))],
                            references=[], examples=[], methods=["passthrough"],
                            chains="passthrough+passthrough, passthrough+passthrough+passthrough",
                            target_lufs=-23.0, max_seconds=0, practice=False, api_name="/listening_create")
    assert "3 trial(s) per listener" in report

    seen: list[Path] = []
    for name in ("Ann", "Bob"):
        view = client.predict(test="scripted abx", name=name, api_name="/listening_join")
        if name == "Ann":
            with pytest.raises(AppError, match="play every sample before answering"):
                client.predict(token=view["token"], answer="A", api_name="/listening_answer")
            with pytest.raises(AppError, match="not valid in a abx test"):
                client.predict(token=view["token"], answer="maybe", api_name="/listening_answer")
        numbers = []
        while not view["done"]:
            assert [s["key"] for s in view["slots"]] == ["A", "B", "X"] and view["protocol"] == "abx"
            files = [Path(s["file"]) for s in view["slots"]]
            assert len({hashlib.sha256(f.read_bytes()).hexdigest() for f in files}) == 3
            seen += files
            numbers.append(view["number"])
            for key in ("A", "B", "X"):
                played = client.predict(token=view["token"], slot=key, seconds=view["min_play_s"],
                                        api_name="/listening_played")
            assert played == {"A": view["min_play_s"], "B": view["min_play_s"], "X": view["min_play_s"]}
            view = client.predict(token=view["token"], answer=x_is(store, view["token"]), api_name="/listening_answer")
        assert numbers == [1, 2, 3] and "All 3 trials done" in view["message"]
    # Every slot of every trial of both listeners had its own file name (and so its own URL).
    assert len(seen) == 18 and len({f.name for f in seen}) == 18

    summary, first, *_ = client.predict(password=PASSWORD, test_id=store.find_test("scripted abx").id,
                                        post_screening=False, api_name="/listening_results")
    assert "2 of 2 listener(s) finished" in summary and "?test=" in summary
    row = next(r for r in first["value"]["data"] if r[0] == "all pairs")
    assert row[1:3] == [6, 6]  # every answer correct, as the script knew from the server side
