"""Served stimulus copies: alike in size, header, date and name pattern; never bit-identical; the same sound."""

import hashlib
import os

import numpy as np
import pytest
import soundfile as sf

from restoration import BadInputError, save_audio
from restoration.analysis.loudness import integrated_loudness
from restoration.listening.serve import LSB_24, dither_to_pcm24, serve_copies, serve_copy

WAV_HEADER_BYTES = 44


@pytest.fixture
def stimuli(tmp_path, music):
    """Two versions of one clip as the renderer stores them (24-bit FLAC), and a 16-bit one of an older test."""
    y = 0.5 * music(sr=48000, seconds=1.0, seed=3)
    a = save_audio(tmp_path / "a.flac", y, 48000, subtype="pcm24")
    b = save_audio(tmp_path / "b.flac", 0.5 * music(sr=48000, seconds=1.0, seed=4), 48000, subtype="pcm24")
    old = save_audio(tmp_path / "old.flac", y, 48000, subtype="pcm16")
    return a, b, old


def test_copies_of_one_trial_differ_in_nothing_but_their_sound(tmp_path, stimuli):
    a, b, _ = stimuli
    folder = tmp_path / "served"
    folder.mkdir()
    copies = serve_copies([a, b, a, a], folder)  # A, B, X = A, and the same again
    blobs = [p.read_bytes() for p in copies]
    assert len({len(blob) for blob in blobs}) == 1  # one size
    assert len({blob[:WAV_HEADER_BYTES] for blob in blobs}) == 1  # one header, nothing after the samples
    assert len(blobs[0]) == WAV_HEADER_BYTES + 48000 * 2 * 3
    assert len({hashlib.sha256(blob).hexdigest() for blob in blobs}) == 4  # no two copies bit-identical
    for size in (4096,):  # not even their first or last 4 KB of samples
        assert len({blob[WAV_HEADER_BYTES:WAV_HEADER_BYTES + size] for blob in blobs}) == 4
        assert len({blob[-size:] for blob in blobs}) == 4
    assert len({p.stat().st_mtime_ns for p in copies}) == 1  # one Last-Modified, one ETag
    assert all(p.suffix == ".wav" and p.parent == folder and len(p.stem) >= 20 for p in copies)
    assert len({p.name for p in copies}) == 4
    info = sf.info(str(copies[0]))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_24", 48000, 2)


def test_a_copy_sounds_like_its_stimulus(tmp_path, stimuli):
    """The dither is far below audibility: the difference is -144.5 dBFS RMS (half a 24-bit step; one
    step is -138.5 dBFS) and the loudness moves by less than 0.001 LU."""
    a, _, old = stimuli
    for source in (a, old):
        rendered, sr = sf.read(str(source), dtype="float64", always_2d=True)
        served, served_sr = sf.read(str(serve_copy(source, tmp_path / "copy.wav")), dtype="float64", always_2d=True)
        assert served_sr == sr and served.shape == rendered.shape
        difference = served - rendered
        assert np.abs(difference).max() == pytest.approx(LSB_24)  # never more than one step
        level_db = 20 * np.log10(np.sqrt(np.mean(difference ** 2)))
        assert level_db == pytest.approx(-144.5, abs=0.3)
        assert abs(integrated_loudness(served.T, sr) - integrated_loudness(rendered.T, sr)) < 1e-3


def test_dither_is_triangular_and_independent_per_copy():
    rng = np.random.default_rng(0)
    y = np.full(200_000, 1000.25 * LSB_24)  # between two steps: TPDF dither gives 999..1001 with mean 1000.25
    q = dither_to_pcm24(y, rng)
    assert set(np.unique(q)) <= {999, 1000, 1001} and np.mean(q) == pytest.approx(1000.25, abs=0.01)
    on_grid = dither_to_pcm24(np.full(200_000, 7 * LSB_24), rng) - 7
    assert [np.mean(on_grid == k) for k in (-1, 0, 1)] == pytest.approx([0.125, 0.75, 0.125], abs=0.01)
    assert np.corrcoef(on_grid, dither_to_pcm24(np.full(200_000, 7 * LSB_24), rng) - 7)[0, 1] == pytest.approx(0, abs=0.01)
    assert dither_to_pcm24(np.array([1.5, -1.5]), rng).tolist() == [2 ** 23 - 1, -(2 ** 23)]  # clipped


def test_shorter_and_mono_sources_are_padded_and_spread_to_the_set(tmp_path, music):
    long = save_audio(tmp_path / "long.wav", 0.3 * music(sr=32000, seconds=1.0, seed=1), 32000)
    short = save_audio(tmp_path / "short.wav", 0.3 * music(sr=32000, seconds=0.5, channels=1, seed=2), 32000)
    folder = tmp_path / "served"
    folder.mkdir()
    copies = serve_copies([long, short], folder)
    assert len({p.stat().st_size for p in copies}) == 1
    padded, _ = sf.read(str(copies[1]), dtype="float64", always_2d=True)
    assert padded.shape == (32000, 2) and np.abs(padded[:, 0] - padded[:, 1]).max() <= 2 * LSB_24
    assert np.abs(padded[16000:]).max() <= LSB_24  # silence, dithered
    other_rate = save_audio(tmp_path / "rate.wav", music(sr=44100, seconds=1.0, seed=1), 44100)
    with pytest.raises(BadInputError, match="one sample rate"):
        serve_copies([long, other_rate], folder)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF")
    with pytest.raises(Exception):
        serve_copies([long, broken], folder)
    assert sorted(os.listdir(folder)) == sorted(p.name for p in copies)  # a failed set leaves nothing
