"""The header oracle: a scripted listener takes a 30-trial ABX test against the running app, fetches
every stimulus over HTTP as the browser does, and tries to name X from everything but the sound
(sizes, headers, the bytes before the audio, dates, ETags, file names and their order). Each
predictor must do no better than chance (at most 60 % of trials named right); no two files served
may be bit-identical; and the wire never carries the database's secret."""

from __future__ import annotations

import hashlib
import sqlite3
import urllib.request
from dataclasses import dataclass

import pytest

from app_server import running_app
from restoration import save_audio
from restoration.listening import ListeningStore, build_test, pair_clips
from signals import make_music

pytestmark = pytest.mark.slow
PASSWORD = "pw"
#: Five methods that change the sound, on three clips: 3 x C(5, 2) = 30 ABX trials.
METHODS = ["passthrough", "spectral_gating", "spectral_subtraction", "mcra_wiener", "sbr"]
#: Bytes of a WAV header (RIFF, fmt and data chunk heads): everything before the audio data.
HEADER_BYTES = 44
EDGE_BYTES = 4096


@dataclass(frozen=True)
class Fetched:
    """One stimulus as the browser gets it."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str]


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory):
    """Build the test into the database, start the app on it, and take the whole test as "Eve":
    per trial the three fetched files and the right answer (read on the server side)."""
    from gradio_client import Client

    folder = tmp_path_factory.mktemp("oracle")
    db = folder / "listening.sqlite"
    store = ListeningStore(db)
    clips = [save_audio(folder / f"clip{k}.wav", 0.3 * make_music(sr=32000, seconds=0.6, seed=k), 32000)
             for k in range(3)]
    test_id = build_test(store, name="oracle", protocol="abx", clips=pair_clips(clips), methods=METHODS, max_seconds=0)
    with running_app(folder, db=str(db), admin_password=PASSWORD) as url:
        client = Client(url, download_files=False, verbose=False)
        trials, responses = [], []
        view = client.predict(test="oracle", name="Eve", api_name="/listening_join")
        responses.append(view)
        while not view["done"]:
            assert [s["key"] for s in view["slots"]] == ["A", "B", "X"]  # the slot order is fixed: it says nothing
            files = {s["key"]: fetch(s["file"]["url"]) for s in view["slots"]}
            shown = store.presentation(view["token"]).slots
            truth = "A" if shown["X"] == shown["A"] else "B"
            trials.append((files, truth))
            for key in ("A", "B", "X"):
                responses.append(client.predict(token=view["token"], slot=key, seconds=view["min_play_s"],
                                                api_name="/listening_played"))
            token = view["token"]
            view = client.predict(token=token, answer=truth, api_name="/listening_answer")
            responses.append(view)
        yield client, url, store, test_id, trials, responses, token


def fetch(url: str) -> Fetched:
    with urllib.request.urlopen(url, timeout=30) as response:
        return Fetched(url.rsplit("/", 1)[-1], url, response.read(), {k.lower(): v for k, v in response.headers.items()})


def matcher(feature):
    """A predictor that names the side whose ``feature`` equals X's, when exactly one does (else nothing)."""

    def predict(files: dict[str, Fetched]) -> str | None:
        x, a, b = (feature(files[k]) for k in ("X", "A", "B"))
        if (x == a) != (x == b):
            return "A" if x == a else "B"
        return None

    return predict


def name_neighbour(files: dict[str, Fetched]) -> str | None:
    """Sorting the three names, X copies its neighbour when X sorts first or last (in the middle: nothing)."""
    ranked = sorted(files, key=lambda k: files[k].name)
    if ranked[0] == "X":
        return ranked[1]
    if ranked[-1] == "X":
        return ranked[1]
    return None


PREDICTORS = {
    "size": matcher(lambda f: len(f.body)),
    "Content-Length": matcher(lambda f: f.headers.get("content-length")),
    "header bytes": matcher(lambda f: f.body[:HEADER_BYTES]),
    "hash of the first 4 KB": matcher(lambda f: hashlib.sha256(f.body[:EDGE_BYTES]).digest()),
    "hash of the last 4 KB": matcher(lambda f: hashlib.sha256(f.body[-EDGE_BYTES:]).digest()),
    "hash of the file": matcher(lambda f: hashlib.sha256(f.body).digest()),
    "ETag": matcher(lambda f: f.headers.get("etag")),
    "Last-Modified": matcher(lambda f: f.headers.get("last-modified")),
    "Content-Type": matcher(lambda f: f.headers.get("content-type")),
    "file name": matcher(lambda f: f.name),
    "name order": name_neighbour,
}


def test_the_test_has_at_least_30_trials_and_the_listener_finished(oracle_run):
    *_, trials, responses, _ = oracle_run
    assert len(trials) >= 30 and "All 30 trials done" in responses[-1]["message"]
    truths = [truth for _, truth in trials]
    assert 0 < truths.count("A") < len(truths)


@pytest.mark.parametrize("predictor", list(PREDICTORS))
def test_nothing_but_the_sound_predicts_x(oracle_run, predictor):
    *_, trials, _, _ = oracle_run
    guesses = [(PREDICTORS[predictor](files), truth) for files, truth in trials]
    named_right = sum(guess == truth for guess, truth in guesses)
    assert named_right <= 0.6 * len(trials), f"{predictor} named X in {named_right} of {len(trials)} trials"
    if predictor != "name order":  # a matching feature would single out X's source: it never singles out a side
        assert all(guess is None for guess, _ in guesses), predictor


def test_the_files_of_a_trial_are_alike_and_no_two_files_are_identical(oracle_run):
    *_, trials, _, _ = oracle_run
    bodies = [f.body for files, _ in trials for f in files.values()]
    assert len({hashlib.sha256(b).digest() for b in bodies}) == len(bodies) == 3 * len(trials)
    for files, _ in trials:
        assert len({len(f.body) for f in files.values()}) == 1
        assert len({f.body[:HEADER_BYTES] for f in files.values()}) == 1
        assert {f.headers["content-type"] for f in files.values()} == {"audio/wav"}
        assert len({f.headers.get("last-modified") for f in files.values()}) == 1
        assert len({f.name for f in files.values()}) == 3


def test_a_reused_token_and_a_flood_are_refused_on_the_wire(oracle_run):
    from gradio_client.exceptions import AppError

    client, _, store, _, _, _, token = oracle_run
    with pytest.raises(AppError, match="this trial is already answered") as info:
        client.predict(token=token, answer="A", api_name="/listening_answer")
    assert "\n" not in str(info.value)
    with pytest.raises(AppError, match="already answered"):
        client.predict(token=token, slot="A", seconds=0.1, api_name="/listening_played")
    with pytest.raises(AppError, match="unknown or expired trial token"):
        client.predict(token="made-up", slot="A", seconds=0.1, api_name="/listening_played")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM plays WHERE token = ?", (token,)).fetchone()[0] == 3


def test_results_of_a_perfect_listener_and_no_secret_on_the_wire(oracle_run):
    """30 of 30 right: the Results page (chart and CSV) comes out; neither it, the listener's replies
    nor the page's config carry the secret or the listener's seed."""
    client, url, store, test_id, _, responses, _ = oracle_run
    summary, first, _, chart, csv_file = client.predict(password=PASSWORD, test_id=test_id, post_screening=False,
                                                        api_name="/listening_results")
    row = next(r for r in first["value"]["data"] if r[0] == "all pairs")
    assert row[1:3] == [30, 30] and chart is not None
    csv_text = fetch(csv_file["url"]).body.decode()
    assert csv_text.count("\n") == 31
    secret = store.secret.hex()
    seed = str(store.join(test_id, "Eve").seed)
    with urllib.request.urlopen(url + "config", timeout=30) as response:
        config = response.read().decode()
    for text in (str(responses), summary, str(first), csv_text, config):
        assert secret not in text and secret.upper() not in text and seed not in text
