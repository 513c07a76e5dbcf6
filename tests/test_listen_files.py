"""Listening tests of files made anywhere (``<clip>.<condition>.<ext>``), mixed with registry methods:
the library, ``restoration listen create|results``, and the app's Create tab and listener endpoints."""

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from restoration import BadInputError, load_audio, save_audio
from restoration.analysis.loudness import integrated_loudness
from restoration.conditions import collect, from_uploads
from restoration.listening import ListeningService, ListeningStore, build_test, outside_clips, summarize
from restoration.listening.protocol import ANCHOR, REFERENCE
from restoration.listening.render import DEFAULT_SOURCE
from restoration.synth import make_music

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "pw"
CLIPS = ("song", "tune")
#: Outside conditions: (rate, channels) of each file, unlike each other on purpose.
OUTSIDE = {"input": (32000, 2), "audiosr": (48000, 2), "apollo": (44100, 1)}


def write_outside(folder: Path, *, seconds: float = 1.0, references: bool = True) -> Path:
    """Two clips x three outside conditions (and clean references) named by the convention."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, clip in enumerate(CLIPS):
        for j, (condition, (rate, channels)) in enumerate(OUTSIDE.items()):
            y = (0.2 + 0.2 * j) * make_music(sr=rate, seconds=seconds, channels=channels, seed=k)
            save_audio(folder / f"{clip}.{condition}.{'flac' if condition == 'audiosr' else 'wav'}", y, rate)
        if references:
            save_audio(folder / f"{clip}.reference.wav", make_music(sr=48000, seconds=seconds, seed=k), 48000)
    return folder


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "restoration", "listen", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def table_rows(stdout: str, title: str) -> dict[str, list[str]]:
    """The rows of one table printed by ``listen results``, by their first cell."""
    lines = stdout.splitlines()
    start = lines.index(title) + 2  # title, header, rows... up to a blank line
    end = next((k for k in range(start, len(lines)) if not lines[k].strip()), len(lines))
    return {line.split()[0]: line.split() for line in lines[start:end]}


def conditions_by_clip(store, test_id):
    table = {}
    for s in store.stimuli(test_id).values():
        table.setdefault(s.clip, set()).add(s.condition)
    return table


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    return write_outside(tmp_path_factory.mktemp("outside") / "files")


@pytest.fixture
def store(tmp_path):
    return ListeningStore(tmp_path / "db.sqlite")


# ------------------------------------------------------------------------------ the library


def test_ab_of_outside_files_and_a_registry_method_rendered_from_the_source(store, outside):
    clips = outside_clips(collect(outside), source=DEFAULT_SOURCE)
    assert [c.source.name for c in clips] == ["song.input.wav", "tune.input.wav"]
    test_id = build_test(store, name="theirs vs sbr", protocol="ab", clips=clips, methods=["sbr"])
    assert conditions_by_clip(store, test_id) == {c: {"input", "audiosr", "apollo", "sbr"} for c in CLIPS}
    assert len(store.trials(test_id)) == 2 * 6  # every pair of four conditions, per clip
    for clip in CLIPS:
        stimuli = {s.condition: s for s in store.stimuli(test_id).values() if s.clip == clip}
        audio = {c: sf.read(str(s.path), dtype="float32", always_2d=True)[0].T for c, s in stimuli.items()}
        # One rate (the highest), one channel count, one length, one loudness for all of a clip's versions.
        assert {sf.info(str(s.path)).samplerate for s in stimuli.values()} == {48000}
        assert {y.shape for y in audio.values()} == {(2, 48000)}
        loudness = [integrated_loudness(y, 48000) for y in audio.values()]
        assert max(loudness) - min(loudness) < 0.1 and abs(loudness[0] + 23.0) < 0.2
        # An outside file is played as it is, only scaled by its loudness gain.
        original, _ = load_audio(outside / f"{clip}.audiosr.flac")
        gain = 10 ** (stimuli["audiosr"].gain_db / 20)
        np.testing.assert_allclose(audio["audiosr"], gain * original, atol=1e-3)
        # sbr restored the source file (input), not another condition.
        assert not np.allclose(audio["sbr"], audio["input"], atol=1e-2)


def test_mushra_of_outside_files_adds_hidden_reference_and_anchor(store, outside):
    test_id = build_test(store, name="mushra", protocol="mushra", clips=outside_clips(collect(outside)), methods=[])
    table = conditions_by_clip(store, test_id)
    assert table == {c: {"input", "audiosr", "apollo", REFERENCE, ANCHOR} for c in CLIPS}
    trials = store.trials(test_id)
    stimuli = store.stimuli(test_id)
    assert len(trials) == 2 and all(stimuli[t.reference].condition == REFERENCE for t in trials)
    assert store.get_test(test_id).settings["conditions"] == ["apollo", "audiosr", "input"]


def test_abx_without_methods_and_ab_ignores_references(store, outside):
    abx = build_test(store, name="abx", protocol="abx", clips=outside_clips(collect(outside)), methods=[])
    assert conditions_by_clip(store, abx) == {c: set(OUTSIDE) for c in CLIPS}
    assert len(store.trials(abx)) == 2 * 3


def test_files_that_cannot_be_used_refuse_the_test_in_one_line(store, outside, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in outside.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    (bad / "song.audiosr.flac").write_bytes(b"not audio")  # undecodable
    save_audio(bad / "tune.apollo.wav", make_music(sr=44100, seconds=3.0, channels=1, seed=9), 44100)  # another clip
    save_audio(bad / "tune.input.wav", make_music(sr=32000, seconds=0.1, seed=9), 32000)  # too short
    with pytest.raises(BadInputError) as error:
        build_test(store, name="x", protocol="ab", clips=outside_clips(collect(bad)), methods=[])
    message = str(error.value)
    assert "\n" not in message and message.startswith("cannot make a test of these files:")
    assert "cannot decode song.audiosr.flac" in message
    assert "tune.apollo.wav is 3.00 s long, the files of clip tune" in message
    assert "tune.input.wav is 0.10 s long" in message
    assert store.list_tests() == [] and not store.media_root.exists()  # refused before anything was made


@pytest.mark.parametrize("remove, methods, source, message", [
    ("tune.apollo.wav", [], None, "clip tune lacks apollo"),
    ("tune.input.wav", ["sbr"], "input", "the methods restore each clip's 'input' file .* which tune lack"),
    (None, ["sbr"], "apollo", None),  # any condition may be the source
])
def test_clips_must_match_and_have_a_source_for_the_methods(store, outside, tmp_path, remove, methods, source,
                                                            message):
    folder = tmp_path / "f"
    folder.mkdir()
    for path in outside.iterdir():
        if path.name != remove:
            (folder / path.name).write_bytes(path.read_bytes())
    if message is None:
        clips = outside_clips(collect(folder), source=source)
        assert build_test(store, name="x", protocol="ab", clips=clips, methods=methods)
        return
    with pytest.raises(BadInputError, match=message):
        build_test(store, name="x", protocol="ab", clips=outside_clips(collect(folder), source=source),
                   methods=methods)
    assert store.list_tests() == []


def test_condition_names_that_clash_are_refused(store, outside, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("clip,condition,path\n"
                        f"song,anchor,{outside / 'song.input.wav'}\nsong,sbr,{outside / 'song.audiosr.flac'}\n")
    with pytest.raises(BadInputError, match="anchor cannot be a condition of your files"):
        build_test(store, name="x", protocol="ab", clips=outside_clips(collect(manifest)), methods=[])
    manifest.write_text("clip,condition,path\n"
                        f"song,input,{outside / 'song.input.wav'}\nsong,sbr,{outside / 'song.audiosr.flac'}\n")
    with pytest.raises(BadInputError, match="condition name.s. sbr are also methods of this test"):
        build_test(store, name="x", protocol="ab", clips=outside_clips(collect(manifest), source="input"),
                   methods=["sbr"])


def test_listeners_never_receive_condition_names(store, outside, tmp_path):
    test_id = build_test(store, name="blind", protocol="abx", clips=outside_clips(collect(outside), source="input"),
                         methods=["sbr"])
    service = ListeningService(store, tmp_path / "scratch")
    try:
        view = service.join(test_id, "Ann")
        names = [*OUTSIDE, "sbr", *CLIPS]
        while not view.done:
            sent = json.dumps(view.payload())
            assert not any(name in sent for name in names)
            for slot in view.slots:
                assert not any(name.encode() in slot.path.read_bytes() for name in names)
                service.played(view.token, slot.key, view.min_play_s)
            view = service.answer(view.token, "A")
        assert summarize(store, test_id).answers == 12
    finally:
        service.close()


def test_uploads_and_zips_become_one_bounded_collection(outside, tmp_path):
    archive = tmp_path / "theirs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(outside.glob("tune.*")):
            zipped.write(path, f"deep/folder/{path.name}")
    plain = sorted(outside.glob("song.*"))
    collection = from_uploads([*plain, archive], tmp_path / "scratch")
    assert collection.clips() == list(CLIPS) and collection.conditions() == sorted(OUTSIDE)
    assert all(f.path.parent.parent == tmp_path / "scratch" for f in collection.files if f.clip == "tune")
    with pytest.raises(BadInputError, match="more than 5 audio files in all"):
        from_uploads([*plain, archive], tmp_path / "s2", max_files=5)
    with pytest.raises(BadInputError, match="MB in all"):
        from_uploads([*plain, archive], tmp_path / "s3", max_bytes=sum(p.stat().st_size for p in plain) + 10)


# ------------------------------------------------------------------------------ the command line


def test_cli_create_from_a_folder_and_a_manifest_then_results(outside, tmp_path):
    folder = write_outside(tmp_path / "files", references=False)
    (folder / "notes.txt").write_text("not audio")
    db = tmp_path / "db.sqlite"
    done = cli("create", "--db", db, "--name", "cli ab", "--protocol", "ab", "--files", folder, "--methods", "sbr")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "warning: skipped notes.txt: not an audio file (.wav, .flac, .ogg, .mp3)"
    first = done.stdout.splitlines()[0]
    assert first.startswith("created test ") and "2 clip(s) × 3 condition(s) (apollo, audiosr, input)" in first
    assert first.endswith("methods sbr; 12 trial(s) per listener")
    test_id = first.split()[2]

    manifest = tmp_path / "m.csv"
    rows = [f"song,{c},files/song.{c}.{'flac' if c == 'audiosr' else 'wav'}" for c in OUTSIDE]
    manifest.write_text("clip,condition,path\n" + "\n".join(rows) + "\n")
    done = cli("create", "--db", db, "--name", "cli mushra", "--protocol", "mushra", "--manifest", manifest,
               "--seconds", "0.5")
    assert done.returncode == 0, done.stderr
    assert "1 trial(s) per listener" in done.stdout

    store = ListeningStore(db)
    service = ListeningService(store, tmp_path / "scratch")
    view = service.join(test_id, "Ann")
    while not view.done:
        for slot in view.slots:
            service.played(view.token, slot.key, view.min_play_s)
        view = service.answer(view.token, "A")
    service.close()
    out = tmp_path / "answers.csv"
    done = cli("results", "--db", db, "cli ab", "--csv", out)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"cli ab ({test_id}): A/B preference (A, B or no preference), ready; 1 of 1 listener(s) " \
                       "finished, 12 answer(s)"
    header = lines.index("Methods (win rate excludes ties)") + 1
    assert lines[header].split() == ["method", "n", "wins", "losses", "ties", "win_rate", "ci95_low", "ci95_high",
                                     "bt_strength", "bt_rank"]
    rows = table_rows(done.stdout, "Methods (win rate excludes ties)")
    assert set(rows) == {"input", "audiosr", "apollo", "sbr"}
    assert sum(int(r[2]) for r in rows.values()) == 12 and all(r[1] == "6" for r in rows.values())
    assert "Pairs (exact sign test, ties excluded)" in lines
    with open(out, newline="") as handle:
        answers = list(csv.DictReader(handle))
    assert len(answers) == 12 and {a["preferred"] for a in answers} <= set(OUTSIDE) | {"sbr"}


def test_cli_create_from_a_zip(outside, tmp_path):
    archive = tmp_path / "theirs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(outside.iterdir()):
            zipped.write(path, f"outputs/{path.name}")
    done = cli("create", "--db", tmp_path / "db.sqlite", "--name", "zip", "--protocol", "abx", "--files", archive)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "2 clip(s) × 3 condition(s) (apollo, audiosr, input), 2 with a reference; 6 trial(s)" in done.stdout
    store = ListeningStore(tmp_path / "db.sqlite")
    assert conditions_by_clip(store, store.find_test("zip").id) == {c: set(OUTSIDE) for c in CLIPS}


@pytest.mark.parametrize("args, message", [
    (["--files", "nowhere"], "error: not a folder: nowhere"),
    (["--files", "{outside}", "--methods", "nope"], "error: unknown method 'nope'"),
    (["--files", "{outside}", "--source", "input"], "error: --source names the file the --methods restore"),
    (["--manifest", "{manifest}"], "error: manifest m.csv lacks the column(s) path"),
    (["--files", "{broken}"], "error: cannot make a test of these files: cannot decode song.audiosr.flac"),
])
def test_cli_create_errors_are_one_line_and_leave_no_database(outside, tmp_path, args, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text("clip,condition\nsong,a\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in outside.iterdir():
        (broken / path.name).write_bytes(b"junk" if path.name == "song.audiosr.flac" else path.read_bytes())
    args = [a.format(outside=outside, manifest=manifest, broken=broken) for a in args]
    done = cli("create", "--db", tmp_path / "db.sqlite", "--name", "t", "--protocol", "ab", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(message), done.stderr
    assert not (tmp_path / "db.sqlite").exists() and not (tmp_path / "db-media").exists()


def test_cli_results_errors(tmp_path):
    done = cli("results", "--db", tmp_path / "none.sqlite", "t")
    assert (done.returncode, done.stderr) == (2, "error: no such listening database: "
                                                 f"{tmp_path / 'none.sqlite'}\n")
    ListeningStore(tmp_path / "db.sqlite")
    done = cli("results", "--db", tmp_path / "db.sqlite", "nosuch")
    assert (done.returncode, done.stderr) == (2, "error: no listening test named 'nosuch'\n")


# ------------------------------------------------------------------------------ the app


@pytest.fixture(scope="module")
def served(tmp_path_factory, outside):
    """A test made by ``listen create --files`` into a database, then the app started on it."""
    from gradio_client import Client

    from app_server import running_app

    folder = tmp_path_factory.mktemp("listen-files-app")
    db = folder / "listening.sqlite"
    done = cli("create", "--db", db, "--name", "made outside", "--protocol", "ab", "--files", outside)
    assert done.returncode == 0, done.stderr
    with running_app(folder, db=str(db), admin_password=PASSWORD) as url:
        yield Client(url, download_files=str(folder / "downloads"), verbose=False), db, folder


@pytest.mark.slow
def test_a_cli_made_test_is_answered_through_the_app_and_reported_by_the_cli(served):
    client, db, _ = served
    store = ListeningStore(db)
    preferred = []
    for name in ("Ann", "Bob"):
        view = client.predict(test="made outside", name=name, api_name="/listening_join")
        while not view["done"]:
            assert [s["key"] for s in view["slots"]] == ["A", "B"]
            sent = json.dumps(view)
            assert not any(c in sent for c in OUTSIDE)
            for slot in view["slots"]:
                assert not any(c.encode() in Path(slot["file"]).read_bytes() for c in OUTSIDE)
                client.predict(token=view["token"], slot=slot["key"], seconds=view["min_play_s"],
                               api_name="/listening_played")
            shown = store.presentation(view["token"])
            a = store.stimuli(shown.test_id)[shown.slots["A"]].condition
            b = store.stimuli(shown.test_id)[shown.slots["B"]].condition
            choice = "A" if a == "audiosr" or (b != "audiosr" and a == "apollo") else "B"
            preferred.append(a if choice == "A" else b)
            view = client.predict(token=view["token"], answer=choice, api_name="/listening_answer")
        assert "All 6 trials done" in view["message"]
    done = cli("results", "--db", db, "made outside")
    assert done.returncode == 0, done.stderr
    assert "2 of 2 listener(s) finished, 12 answer(s)" in done.stdout
    rows = table_rows(done.stdout, "Methods (win rate excludes ties)")
    # audiosr beat both others in every trial (8 wins), apollo beat input (4), input never won.
    assert {name: (int(r[2]), int(r[3]), r[-1]) for name, r in rows.items()} == {
        "audiosr": (8, 0, "1"), "apollo": (4, 4, "2"), "input": (0, 8, "3")}
    assert preferred.count("audiosr") == 8


@pytest.mark.slow
def test_the_create_tab_makes_a_test_of_an_uploaded_zip_with_a_registry_method(served, outside):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, db, folder = served
    archive = folder / "ours.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(outside.iterdir()):
            zipped.write(path, path.name)
    common = dict(password=PASSWORD, protocol="mushra", uploads=[], references=[], examples=[], chains="",
                  target_lufs=-23.0, max_seconds=0, practice=False, own_files=[handle_file(str(archive))],
                  own_source="input", api_name="/listening_create")
    report = client.predict(name="zip mushra", methods=["sbr"], own_with_methods=True, **common)
    assert "2 clip(s) × 3 condition(s) (apollo, audiosr, input), 2 with a reference; methods sbr" in report
    assert "2 trial(s) per listener" in report
    store = ListeningStore(db)
    test = store.find_test("zip mushra")
    assert conditions_by_clip(store, test.id) == {c: {*OUTSIDE, "sbr", REFERENCE, ANCHOR} for c in CLIPS}
    view = client.predict(test="zip mushra", name="Cy", api_name="/listening_join")
    assert [s["label"] for s in view["slots"]] == [f"Sample {k}" for k in range(1, 7)] + ["Reference"]
    with pytest.raises(AppError, match="wrong admin password"):
        client.predict(name="x", methods=[], own_with_methods=False, **{**common, "password": "nope"})
    with pytest.raises(AppError, match="either of clips to restore or of your own files"):
        client.predict(name="x", methods=[], own_with_methods=False,
                       **{**common, "uploads": [handle_file(str(outside / "song.input.wav"))]})
    assert [t.name for t in store.list_tests()].count("x") == 0


def test_create_tab_handlers_check_own_files_and_clean_up(outside, tmp_path, monkeypatch):
    import tempfile

    import gradio as gr

    from studio.listening_tab import ListeningHandlers

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    store = ListeningStore(tmp_path / "db.sqlite")
    handlers = ListeningHandlers(store, PASSWORD, ListeningService(store, tmp_path / "scratch"))
    archive = tmp_path / "theirs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(outside.glob("tune.*")):
            zipped.write(path, path.name)
        zipped.writestr("tune.audiosr.wav", b"junk")  # after tune.audiosr.flac: a second audiosr, skipped by name
    junk = tmp_path / "song.wav"  # no condition in its name
    junk.write_bytes((outside / "song.input.wav").read_bytes())
    files = [*map(str, sorted(outside.glob("song.*"))), str(junk), str(archive)]

    assert handlers.check_own_files("", "ab", files) == "Enter the admin password above to check these files."
    with pytest.raises(gr.Error, match="wrong admin password"):
        handlers.check_own_files("nope", "ab", files)
    summary = handlers.check_own_files(PASSWORD, "mushra", files)
    assert summary.startswith("2 clip(s) × 3 condition(s) (apollo, audiosr, input), 2 with a reference; 2 skipped (")
    assert "song.wav: no condition in the name" in summary
    assert "a second file of clip tune, condition audiosr" in summary
    assert summary.endswith("All of them can be used.")
    broken = tmp_path / "song.audiosr.flac"
    broken.write_bytes(b"junk")
    files_broken = [f for f in files if not f.endswith("song.audiosr.flac")] + [str(broken)]
    assert "**Not usable as they are:** cannot make a test of these files: cannot decode song.audiosr.flac" in \
        handlers.check_own_files(PASSWORD, "ab", files_broken)

    quiet = lambda *args, **kwargs: None  # noqa: E731 (gr.Progress outside an event)
    report = handlers.create(PASSWORD, "own ab", "ab", [], [], [], ["passthrough"], "", -23.0, 0.5, False,
                             files, False, "input", progress=quiet)
    assert "2 clip(s) × 3 condition(s)" in report and "6 trial(s) per listener" in report
    test = store.find_test("own ab")
    assert conditions_by_clip(store, test.id) == {c: set(OUTSIDE) for c in CLIPS}  # passthrough not added
    with pytest.raises(gr.Error, match="which song, tune lack"):
        handlers.create(PASSWORD, "x", "ab", [], [], [], ["sbr"], "", -23.0, 0.5, False, files, True, "original",
                        progress=quiet)
    assert not list((tmp_path / "tmp").glob("listening-own-*"))  # every extraction folder removed
