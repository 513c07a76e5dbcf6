"""Real-recording corpus: bandwidth measurement, the reserved-package guard, the split by track."""

import json

import numpy as np
import pytest
import soundfile as sf

from restoration import corpus, recordings
from restoration.audio import resample
from restoration.recordings import (Package, RecordingsError, bandwidth_hz, build_recordings, check_allowed, list_tracks,
                                    split_tracks, Track)


def noise(seconds=4.0, sr=48000, seed=0):
    return np.random.default_rng(seed).standard_normal((2, int(sr * seconds))).astype(np.float32) * 0.1


def brickwall(y, sr, cutoff):
    """An encoder's low-pass: every FFT bin above ``cutoff`` removed."""
    spec = np.fft.rfft(y, axis=-1)
    spec[..., np.fft.rfftfreq(y.shape[-1], 1 / sr) > cutoff] = 0
    return np.fft.irfft(spec, n=y.shape[-1], axis=-1).astype(np.float32)


@pytest.mark.parametrize("cutoff", [11000.0, 16000.0, 19500.0])
def test_bandwidth_finds_an_encoder_lowpass(cutoff):
    y = brickwall(noise(), 48000, cutoff)
    assert abs(bandwidth_hz(y, 48000) - cutoff) < 400


def test_bandwidth_of_full_band_and_44k_sources():
    assert bandwidth_hz(noise(), 48000) > 23500
    from_44k = resample(noise(sr=44100), 44100, 48000)  # nothing above 22.05 kHz after resampling
    assert 21000 < bandwidth_hz(from_44k, 48000) < 22300


def test_bandwidth_keeps_natural_treble_roll_off():
    """A dark but real band (-40 dB at 18 kHz) is content, not an encoder's cut."""
    y = noise()
    spec = np.fft.rfft(y, axis=-1)
    hz = np.fft.rfftfreq(y.shape[-1], 1 / 48000)
    spec *= 10 ** (-np.clip(hz - 4000, 0, None) / 1000 * 2.5 / 20)  # -2.5 dB/kHz above 4 kHz
    assert bandwidth_hz(np.fft.irfft(spec, n=y.shape[-1]), 48000) > 23000


@pytest.mark.parametrize("name", ["some-game-music", "fretsonfire-songs-other", ""])
def test_packages_outside_the_vetted_list_are_refused(name, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(recordings.subprocess, "run", lambda *a, **k: calls.append(a))
    assert check_allowed("ufoai-music") == "ufoai-music"
    with pytest.raises(RecordingsError, match="not a vetted recording package"):
        check_allowed(name)
    with pytest.raises(RecordingsError, match="not a vetted"):
        recordings.fetch(name, tmp_path)
    with pytest.raises(RecordingsError, match="not a vetted"):
        build_recordings(tmp_path, tmp_path, {}, packages=[name], is_silent=lambda y: False, fade=lambda y: y,
                         save_manifest=lambda: None)
    assert calls == [] and not any(tmp_path.iterdir())  # nothing downloaded, nothing written


def test_corpus_cli_refuses_a_package_outside_the_vetted_list(tmp_path, capsys):
    assert corpus.main(["--out", str(tmp_path / "c"), "--cache", str(tmp_path / "d"),
                        "--packages", "some-game-music"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "some-game-music is not a vetted recording package" in err
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.deb"))


def test_tracks_split_by_track_with_one_held_out_per_small_package():
    tracks = [Track(p, f"t{i}.ogg", None) for p in ("a", "b") for i in range(8)] + [Track("c", "only.ogg", None)]
    split = split_tracks(tracks)
    for package in ("a", "b"):
        assert sum(split[f"{package}/t{i}.ogg"] == "real" for i in range(8)) == 2  # ceil(0.15 * 8)
    assert split["c/only.ogg"] == "train"
    assert split == split_tracks(list(reversed(tracks)))  # stable


def test_every_track_of_an_unseen_package_is_kept_for_evaluation(monkeypatch):
    monkeypatch.setattr(recordings, "PACKAGES", {"seen": Package("g", "CC0", "x"),
                                                 "later": Package("g", "CC0", "x", unseen=True),
                                                 "extra": Package("g", "CC0", "x", train_only=True)})
    tracks = [Track(p, f"t{i}.ogg", None) for p in ("seen", "later", "extra") for i in range(8)]
    split = split_tracks(tracks)
    assert [split[f"later/t{i}.ogg"] for i in range(8)] == ["unseen"] * 8
    assert [split[f"extra/t{i}.ogg"] for i in range(8)] == ["train"] * 8  # the held-out set does not change
    assert sorted(split[f"seen/t{i}.ogg"] for i in range(8)) == ["real"] * 2 + ["train"] * 6


def test_a_music_folder_beside_sound_effects_gives_only_its_own_tracks_never_excluded_copies(tmp_path, monkeypatch):
    root = tmp_path / "pkg"
    for name in ("usr/share/games/g/sounds/musics/m1.ogg", "usr/share/games/g/sounds/musics/m2.ogg",
                 "usr/share/games/g/sounds/chunks/shot.ogg", "usr/share/games/g/sounds/musics/readme.txt",
                 "usr/share/games/g/music/other.ogg", "usr/share/games/g/sounds/musics/m1_fast.ogg"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    monkeypatch.setattr(recordings, "PACKAGES", {
        "by-folder": Package("g", "CC0", "x", music_folder="usr/share/games/*/sounds/musics", exclude=("*_fast.ogg",)),
        "default": Package("g", "CC0", "x")})
    assert [t.name for t in list_tracks("by-folder", root)] == ["usr/share/games/g/sounds/musics/m1.ogg",
                                                              "usr/share/games/g/sounds/musics/m2.ogg"]
    assert [t.name for t in list_tracks("default", root)] == ["usr/share/games/g/music/other.ogg"]  # sounds/ left out


def test_build_recordings_cuts_measures_and_never_mixes_splits(tmp_path, monkeypatch, music):
    root = tmp_path / "cache" / "pkgs" / "fake-music"
    (root / "music").mkdir(parents=True)
    (root / ".unpacked").write_text("ok\n")
    for i in range(4):  # 35 s tracks; odd ones went through a 16 kHz encoder low-pass
        y = np.concatenate([music(seconds=5.0, seed=i * 7 + k) for k in range(7)], axis=-1)
        if i % 2:
            y = brickwall(y, 48000, 16000)
        sf.write(root / "music" / f"track{i}.wav", y.T, 48000, subtype="FLOAT")  # lossy decodes are float
    other = tmp_path / "cache" / "pkgs" / "fake-sfx"  # a second package: its files must not take the held-out slot
    (other / "music").mkdir(parents=True)
    (other / ".unpacked").write_text("ok\n")
    (other / "music" / "blip.flac").write_bytes(b"")  # undecodable: skipped with a message
    sf.write(other / "music" / "short.flac", music(seconds=2.0).T, 48000)  # a sound effect
    monkeypatch.setattr(recordings, "PACKAGES", {"fake-music": Package("testgenre", "CC0", "synthetic"),
                                                 "fake-sfx": Package("testgenre", "CC0", "synthetic")})
    monkeypatch.setattr(recordings, "VALID_MIN_BANDWIDTH_HZ", 15000.0)
    out, manifest, lines = tmp_path / "corpus", {}, []
    build_recordings(out, tmp_path / "cache", manifest, clip_s=4.0, is_silent=corpus.is_silent, fade=corpus.fade,
                     save_manifest=lambda: None, log=lines.append)
    clips = [e for e in manifest.values() if e["split"] in ("train", "real")]
    assert {e["split"] for e in clips} == {"train", "real"}
    by_track = {}
    for entry in clips:
        by_track.setdefault(entry["track"], set()).add(entry["split"])
        assert (out / entry["file"]).exists() and entry["genre"] == "testgenre" and entry["license"] == "CC0"
        odd = entry["track"].endswith(("track1.wav", "track3.wav"))
        assert (abs(entry["bandwidth_hz"] - 16000) < 400 if odd else entry["bandwidth_hz"] > 19000), entry
        assert sf.info(out / entry["file"]).samplerate == 48000
    assert all(len(s) == 1 for s in by_track.values())  # a track is train or validation, never both
    # the manifest's bandwidth (of the float decode) is what training uses, not a re-measure of the file
    from restoration.training.data import cached_pairs
    odd_entry = next(e for e in clips if e["track"].endswith("track1.wav"))
    pair, = cached_pairs([out / odd_entry["file"]], seeds=[0], cache=tmp_path / "pairs", degrade=lambda y, sr, **k: y,
                         bandwidths={(out / odd_entry["file"]).name: odd_entry["bandwidth_hz"]})
    assert pair.bandwidth == odd_entry["bandwidth_hz"]
    assert sf.info(out / odd_entry["file"]).subtype == "PCM_24"  # no 16-bit floor read as treble
    assert any("blip.flac" in line for line in lines)
    assert any("short" in e["track"] and e["split"] == "skipped" for e in manifest.values())
    before = json.dumps(manifest, sort_keys=True)
    build_recordings(out, tmp_path / "cache", manifest, clip_s=4.0, is_silent=corpus.is_silent, fade=corpus.fade,
                     save_manifest=lambda: None)  # resumable: nothing new, nothing decoded again
    assert json.dumps(manifest, sort_keys=True) == before


@pytest.mark.parametrize("stdout, rate", [("44100\n", 44100), ("44100,\n\n", 44100), ("48000,\n", 48000), ("", None), ("N/A\n", None)])
def test_sample_rate_is_read_from_every_ffprobe_answer(stdout, rate):
    """A Vorbis stream with side data makes ffprobe answer ``44100,`` and an empty line (UFO:AI's tracks)."""
    assert recordings.probed_rate(stdout) == rate
