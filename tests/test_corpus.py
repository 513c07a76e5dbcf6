"""The corpus builder: MIDI handling, a tiny corpus rendered with fluidsynth, determinism, growth."""

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from restoration.corpus import (SR, CorpusError, Midi, Source, build_corpus, chord_chart, is_silent,
                                make_mma_midi, render_clip, shelf)

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None or not SOUNDFONT.exists(),
                                      reason="fluidsynth or fluid-soundfont-gm not installed")


def write_midi(path: Path, notes: list[int], *, beat_ticks: int = 480, tempo_us: int = 500000,
               program: int = 19) -> Path:
    """A format-0 standard MIDI file written byte by byte: one note per beat, each held two beats."""
    def varlen(value: int) -> bytes:
        out = [value & 0x7F]
        while value > 0x7F:
            value >>= 7
            out.append(0x80 | (value & 0x7F))
        return bytes(reversed(out))

    events = [(0, b"\xff\x51\x03" + tempo_us.to_bytes(3, "big")), (0, bytes([0xC0, program]))]
    for i, note in enumerate(notes):
        events += [(i * beat_ticks, bytes([0x90, note, 100])), ((i + 2) * beat_ticks, bytes([0x80, note, 0]))]
    events.sort(key=lambda e: e[0])
    body, last = b"", 0
    for tick, data in events:
        body += varlen(tick - last) + data
        last = tick
    body += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, beat_ticks) + b"MTrk" + struct.pack(">I", len(body)) + body)
    return path


def test_midi_parse_duration_and_excerpt(tmp_path):
    midi = Midi.parse(write_midi(tmp_path / "a.mid", [60, 64, 67, 72, 67, 64, 60, 55]).read_bytes())
    assert midi.division == 480 and len(midi.tracks) == 1
    assert midi.duration() == pytest.approx(3.5)  # last note starts on beat 8 at 120 bpm
    again = Midi.parse(midi.to_bytes())
    assert again.tracks[0][:-1] == [e for e in midi.tracks[0] if e[1][:2] != b"\xff\x2f"][:len(again.tracks[0]) - 1]
    # 1 s from 1.0 s: the notes starting in [1.0, 2.0] s, program and tempo kept at tick 0
    part = Midi.parse(midi.excerpt(1.0, 1.0).to_bytes())
    starts = [(t, e[1]) for t, e in part.tracks[0] if e[0] == 0x90]
    assert starts == [(0, 67), (480, 72), (960, 67)]  # notes 2, 3, 4 at 1.0, 1.5, 2.0 s
    assert (0, bytes([0xC0, 19])) in part.tracks[0]
    assert bytes([0xB0, 123, 0]) in [e for _, e in part.tracks[0]]  # held notes released at the end
    # twice as fast: the same notes in half the time
    fast = Midi.parse(midi.excerpt(0.0, 4.0, tempo_factor=2.0).to_bytes())
    assert fast.duration() == pytest.approx(midi.duration() / 2)
    with pytest.raises(CorpusError, match="MIDI"):
        Midi.parse(b"RIFF0000WAVE")


def test_shelves_and_silence_detection():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, SR)).astype(np.float32) * 0.1
    f = np.fft.rfftfreq(SR, 1 / SR)
    spec = np.abs(np.fft.rfft(noise[0])) ** 2

    def gain(y, lo, hi):
        out = np.abs(np.fft.rfft(y[0])) ** 2
        return 10 * np.log10(out[(f >= lo) & (f < hi)].mean() / spec[(f >= lo) & (f < hi)].mean())

    bright = shelf(noise, SR, gain_db=9.0, corner_hz=2000.0)
    assert abs(gain(bright, 50, 300)) < 0.5 and 8.0 < gain(bright, 12000, 20000) < 9.1
    no_bass = shelf(noise, SR, gain_db=-6.0, corner_hz=200.0, high=False)
    assert -6.1 < gain(no_bass, 10, 40) < -5.0 and abs(gain(no_bass, 3000, 20000)) < 0.1
    assert not is_silent(noise)
    assert is_silent(noise * 1e-4)
    gappy = noise.copy()
    gappy[:, : SR // 2] = 0.0  # half the clip silent
    assert is_silent(gappy)


@pytest.mark.skipif(shutil.which("mma") is None, reason="mma not installed")
def test_mma_chart_compiles_to_midi_with_notes(tmp_path):
    chart = chord_chart(np.random.default_rng(1), bars=8)
    assert len(chart) == 8 and chart[0].startswith("1 ")
    midi = Midi.parse(make_mma_midi("BossaNova", 120.0, chart, tmp_path / "b.mid").read_bytes())
    notes = [e for tr in midi.tracks for _, e in tr if e[0] & 0xF0 == 0x90 and e[2] > 0]
    assert len(notes) > 20 and 14.0 < midi.duration() < 17.0  # 8 bars of 4/4 at 120 bpm = 16 s
    with pytest.raises(CorpusError, match="mma failed"):
        make_mma_midi("NoSuchGroove", 120.0, chart, tmp_path / "c.mid")


def _sources(tmp_path: Path) -> list[Source]:
    """A train and a valid source (the split is a hash of the name), each a small MIDI file."""
    found = {}
    for i in range(200):
        source = Source("openttd-openmsx", f"piece{i}", path=tmp_path / f"piece{i}.mid")
        found.setdefault(source.split, source)
        if len(found) == 2:
            break
    for k, source in enumerate(found.values()):
        write_midi(source.path, [60 + k, 64, 67, 72, 67, 64, 60, 55, 60, 64])
    return list(found.values())


@needs_fluidsynth
def test_tiny_corpus_builds_reproducibly_and_grows(tmp_path):
    sources = _sources(tmp_path)
    kwargs = dict(sources=sources, soundfont_dir=SOUNDFONT.parent, soundfonts=[SOUNDFONT.name],
                  clip_s=2.0)
    out = tmp_path / "corpus"
    manifest = build_corpus(out, clips=2, seed=5, **kwargs)
    assert sorted(manifest) == ["train/clip_00000.flac", "train/clip_00001.flac"]
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["counts"] == {"train": 2} and doc["sample_rate"] == 48000
    entry = doc["clips"][0]
    for key in ("file", "split", "source_package", "midi", "soundfont", "settings", "license", "seed"):
        assert key in entry
    assert entry["soundfont"] == SOUNDFONT.name and "GPL-2" in entry["license"] and "MIT" in entry["license"]
    train_source = next(s for s in sources if s.split == "train")
    assert entry["midi"] == str(train_source.path)
    y, rate = sf.read(out / entry["file"], always_2d=True)
    assert rate == 48000 and y.shape == (96000, 2) and not is_silent(y.T.astype(np.float32))
    assert 0.05 < np.max(np.abs(y)) <= 0.9

    again = build_corpus(tmp_path / "again", clips=2, seed=5, **kwargs)
    assert again["train/clip_00000.flac"]["settings"] == manifest["train/clip_00000.flac"]["settings"]
    np.testing.assert_array_equal(sf.read(tmp_path / "again/train/clip_00001.flac")[0],
                                  sf.read(out / "train/clip_00001.flac")[0])

    before = (out / "train/clip_00000.flac").stat().st_mtime_ns
    grown = build_corpus(out, clips=6, seed=5, **kwargs)  # clip 5 is a valid clip from the held-out source
    assert (out / "train/clip_00000.flac").stat().st_mtime_ns == before
    assert grown["valid/clip_00005.flac"]["piece"] == next(s for s in sources if s.split == "valid").name
    assert json.loads((out / "manifest.json").read_text())["counts"] == {"train": 5, "valid": 1}


@needs_fluidsynth
def test_silent_render_is_skipped(tmp_path):
    silent = Source("openttd-openmsx", "silent", path=write_midi(tmp_path / "s.mid", []))
    result = render_clip(0, silent, np.random.default_rng(0), tmp_path, soundfonts=[SOUNDFONT.name],
                         eq=np.random.default_rng(1), clip_s=1.0, soundfont_dir=SOUNDFONT.parent)
    assert result is None
