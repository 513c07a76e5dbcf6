"""The user's own files in the Studio (studio.own_files): names, zips, reading within limits, the
history entries they become, their reference, and the compare of two of them."""

import sys
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from restoration import BadInputError, load_audio, save_audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studio import guard, history, own_files  # noqa: E402
from studio.workbench import Workbench  # noqa: E402


@pytest.fixture
def song(tmp_path, music):
    """song.reference.wav (48 kHz), song.a.wav (48 kHz, 8 kHz band) and song.b.flac (32 kHz), 2 s each."""
    from signals import lowpass

    reference = music(48000, 2.0, 2, seed=3)
    narrow = lowpass(music(32000, 2.0, 2, seed=3), 32000, 11000)
    return {"reference": save_audio(tmp_path / "song.reference.wav", reference, 48000),
            "a": save_audio(tmp_path / "song.a.wav", lowpass(reference, 48000, 8000), 48000),
            "b": save_audio(tmp_path / "song.b.flac", narrow, 32000)}


@pytest.fixture
def bench(tmp_path):
    return Workbench(tmp_path / "work", limits=guard.Limits(max_seconds=10.0, max_upload_mb=5.0))


def corrupt(path: Path) -> Path:
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio" * 20)
    return path


@pytest.mark.parametrize("name, clip, condition", [
    ("song.audiosr.wav", "song", "audiosr"),
    ("My Song.v2.apollo.flac", "My Song.v2", "apollo"),
    ("song.reference.wav", "song", "reference"),
    ("mix.wav", "mix", None),
    ("take (final).wav", "take _final", None),  # no condition: the file's safe stem
    ("song.bad condition!.wav", "song.bad condition", None),  # not a condition name: the stem as it is
])
def test_names_follow_the_convention_and_a_plain_name_is_its_stem(name, clip, condition):
    named = own_files.name_file(f"/uploads/x/{name}")
    assert (named.clip, named.condition) == (clip, condition)
    assert named.label == (f"{clip} · {condition}" if condition else clip)


def test_zips_are_extracted_flat_inside_the_scratch_folder(tmp_path, song):
    archive = tmp_path / "outputs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(song["a"], "../../escaped.a.wav")
        zipped.write(song["b"], "nested/dir/song.b.flac")
        zipped.writestr("notes.txt", "not audio")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "empty.zip").write_bytes(_zip_of(tmp_path, {"readme.md": b"# nothing"}))
    folders = []

    def folder_for(name):
        folders.append(tmp_path / "scratch" / str(len(folders)) / name)
        return folders[-1]

    found, skipped = own_files.gather([archive, tmp_path / "broken.zip", tmp_path / "empty.zip", tmp_path / "x.txt",
                                       song["reference"]], folder_for, max_bytes=10**7)
    assert sorted(p.name for p in found) == ["escaped.a.wav", "song.b.flac", "song.reference.wav"]
    assert all(p.parent == folders[0] for p in found if p.name != "song.reference.wav")
    assert not (tmp_path.parent / "escaped.a.wav").exists() and not (tmp_path / "escaped.a.wav").exists()
    assert [own_files.line(s) for s in skipped] == [
        "cannot read broken.zip: not a readable zip archive",
        "empty.zip: holds no audio files (.wav, .flac, .ogg, .mp3)",
        "x.txt: neither audio (.wav, .flac, .ogg, .mp3) nor a .zip"]
    too_big, skipped = own_files.gather([archive], folder_for, max_bytes=1000)
    assert not too_big and "extracts to more than" in skipped[0].reason


def _zip_of(folder: Path, members: dict[str, bytes]) -> bytes:
    path = folder / "made.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path.read_bytes()


def test_files_are_read_within_the_limits_and_added_to_the_history(tmp_path, song, bench, music):
    long_clip = save_audio(tmp_path / "song.long.wav", music(16000, 12.0, 1), 16000)
    runs = [history.entry(1, method="sbr", params={}, seconds=0.1, clock="12:00:00", source="song",
                          original=own_files.Side("/w/o.wav", "original (song)", 48000),
                          restored=own_files.Side("/w/r.wav", "#1 sbr", 48000), reference=None)]
    paths = [song["b"], song["a"], corrupt(tmp_path / "song.c.wav"), long_clip, song["reference"]]
    added, skipped = own_files.add(paths, runs, folder_for=bench.scratch, limits=bench.limits, playable=bench.playable)
    assert [h["restored"]["label"] for h in added] == ["#2 song · a", "#3 song · b", "#4 song · reference"]
    assert [h["run"] for h in runs] == [1, 2, 3, 4]  # appended to the session's list itself
    assert [(h["file"]["name"], h["restored"]["sr"], h["method"]) for h in added] == [
        ("song.a.wav", 48000, "a"), ("song.b.flac", 32000, "b"), ("song.reference.wav", 48000, "reference")]
    assert added[1]["restored"]["path"] == str(song["b"])  # FLAC plays as it is
    assert [own_files.line(s) for s in skipped] == [
        "cannot decode song.c.wav: not decodable audio (WAV, FLAC, OGG/Vorbis and MP3 are supported)",
        "song.long.wav is 12.0 s long; this server accepts at most 10.0 s"]
    text = own_files.status(added, skipped)
    assert text.splitlines()[1] == "song.reference is the clean reference of the metrics whenever a file of song is compared."
    assert text.splitlines()[2].startswith("Skipped: cannot decode song.c.wav")
    assert history.table(runs)[2] == [3, added[1]["time"], "your file song.b.flac", "", "", 32000]
    labels = dict((key, label) for label, key in history.choices(runs))
    assert labels["original"] == "original (song)" and labels["3"].startswith("#3 song · b (your file, ")

    with pytest.raises(BadInputError, match=r"none of the files could be added: notes.txt: neither audio .* \(and 1 more\)$"):
        own_files.add([tmp_path / "song.c.wav", tmp_path / "notes.txt"], [], folder_for=bench.scratch,
                      limits=bench.limits, playable=bench.playable)
    with pytest.raises(BadInputError, match="no files: add audio files"):
        own_files.add([], [], folder_for=bench.scratch, limits=bench.limits, playable=bench.playable)


def test_mp3_and_ogg_play_as_a_wav_copy(tmp_path, bench, music):
    y = music(44100, 1.0, 2, seed=5)
    mp3 = save_audio(tmp_path / "song.codec.mp3", y, 44100)
    added, _ = own_files.add([mp3], [], folder_for=bench.scratch, limits=bench.limits, playable=bench.playable)
    played = Path(added[0]["restored"]["path"])
    assert played.suffix == ".wav" and played.is_relative_to(bench.files.folder)
    assert load_audio(played)[1] == 44100


def test_a_session_holds_a_bounded_number_of_files(tmp_path, song, bench, monkeypatch):
    monkeypatch.setattr(own_files, "MAX_SESSION_FILES", 2)
    runs = []
    added, skipped = own_files.add([song["a"], song["b"], song["reference"]], runs, folder_for=bench.scratch,
                                   limits=bench.limits, playable=bench.playable)
    assert len(added) == 2 and skipped[0].where == "song.reference.wav" and "2 in a session" in skipped[0].reason
    with pytest.raises(BadInputError, match="not added: at most"):
        own_files.add([song["a"]], runs, folder_for=bench.scratch, limits=bench.limits, playable=bench.playable)


def test_history_of_files_alone_has_no_original():
    runs = [history.file_entry(i, clock="12:00:00", name=f"song.{c}.wav", clip="song", condition=c,
                               side=own_files.Side(f"/w/song.{c}.wav", f"#{i} song · {c}", 44100))
            for i, c in ((1, "a"), (2, "b"))]
    assert [key for _, key in history.choices(runs)] == ["1", "2"]
    a, b, pick = history.chooser_updates(runs, "1", "2")
    assert (a["value"], b["value"], pick["value"]) == ("1", "2", "2") and len(pick["choices"]) == 2
    assert history.chooser_updates(runs)[0]["value"] is None  # no original to default to
    with pytest.raises(gr.Error, match="No original in this session yet"):
        history.side(runs, "original")
    assert history.side(runs, "2").path == "/w/song.b.wav"


def test_the_clip_reference_serves_its_files_and_an_uploaded_one_the_rest():
    def own(run, clip, condition):
        return history.file_entry(run, clock="t", name=f"{clip}.{condition}.wav", clip=clip, condition=condition,
                                  side=own_files.Side(f"/w/{clip}.{condition}.wav", f"#{run} {clip} · {condition}", 48000))

    runs = [own(1, "song", "a"), own(2, "song", "Reference"), own(3, "other", "a"), own(4, "other", "reference"),
            own(5, "third", "a"),
            history.entry(6, method="sbr", params={}, seconds=0.1, clock="t", source="x",
                          original=own_files.Side("/w/o.wav", "original (x)", 48000),
                          restored=own_files.Side("/w/r.wav", "#6 sbr", 48000), reference=None)]
    assert own_files.pair_reference(runs, "1", "6", "/up/ref.wav") == ("/w/song.Reference.wav",
                                                                       ", against the reference #2 song · Reference")
    assert own_files.pair_reference(runs, "1", "2", None)[0] == "/w/song.Reference.wav"
    assert own_files.pair_reference(runs, "1", "3", "/up/ref.wav") == (
        None, ", without reference metrics (the two files have different references)")
    assert own_files.pair_reference(runs, "5", "6", "/up/ref.wav") == ("/up/ref.wav", "")
    assert own_files.pair_reference(runs, "original", "6", None) == (None, "")


def test_only_versions_of_one_clip_are_compared():
    def clip(seconds, sr):
        return np.zeros((2, int(seconds * sr)), np.float32), sr

    own_files.check_lengths({"a": clip(10.0, 48000), "b": clip(10.4, 32000), "the reference": clip(10.2, 44100)})
    own_files.check_lengths({"a": clip(60.0, 48000), "b": clip(61.1, 48000)})  # 2 % of a minute
    with pytest.raises(BadInputError, match=r"^a lasts 10.00 s and b 11.00 s: only versions of one clip can be compared"):
        own_files.check_lengths({"a": clip(10.0, 48000), "b": clip(11.0, 32000)})


def test_two_files_at_different_rates_compare_with_their_reference(song, bench):
    runs = []
    status, emptied, _, rows, a, b, pick = bench.add_files([str(song["a"]), str(song["b"]), str(song["reference"])], runs)
    assert status.startswith("Added 3 file(s)") and emptied is None and len(rows) == 3
    assert (a["value"], b["value"], pick["value"]) == ("1", "2", "2")
    title, spectrograms, difference, psd, table, ab, pair = bench.compare_history(runs, "1", "2", None, progress=None)
    assert "#1 song · a vs #2 song · b" in title and "against the reference #3 song · reference" in title
    for image in (spectrograms, difference, psd):
        assert Path(image).read_bytes()[:4] == b"\x89PNG"
    rows = {row[0].split(",")[0]: row[1:] for row in table["data"]}
    lsd_a, lsd_b = (float(v) for v in rows["log-spectral distance to the reference"][:2])
    assert 0 < lsd_a < lsd_b  # 8 kHz band at 48 kHz is closer to the reference than 32 kHz audio
    assert rows["bandwidth (as the spectrogram shows it)"][2] == "✓ better"  # 8 kHz band (A) against 11 kHz (B)
    assert pair["reference"] == str(song["reference"]) and (ab["label_a"], ab["label_b"]) == ("#1 song · a", "#2 song · b")
    table = bench.details(pair, visqol=False, progress=lambda *args, **kwargs: None)[0]
    assert "measuring" not in str(table)


def test_a_restoration_after_files_continues_their_numbering(song, bench):
    runs = []
    bench.add_files([str(song["a"])], runs)
    restored, _, history_out, rows, a, b, pick, *_ = bench.restore(str(song["reference"]), None, "passthrough", "{}", runs)
    assert history_out is runs and [row[:3] for row in rows] == [[1, rows[0][1], "your file song.a.wav"],
                                                                 [2, rows[1][1], "passthrough"]]
    assert [key for _, key in a["choices"]] == ["original", "1", "2"] and (a["value"], b["value"]) == ("original", "2")
