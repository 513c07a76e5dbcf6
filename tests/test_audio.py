"""Audio I/O: formats, rates, channels, atomic writes and bad files."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from restoration import BadInputError, load_audio, save_audio
from restoration.audio import check_signal, from_pcm, resample, to_channels, to_pcm16


@pytest.mark.parametrize("suffix,subtype,tol", [(".wav", "pcm16", 1e-4), (".wav", "pcm24", 1e-6),
                                                 (".wav", "float", 0.0), (".flac", "pcm16", 1e-4),
                                                 (".flac", "pcm24", 1e-6)])
def test_round_trip_formats(tmp_path, music, suffix, subtype, tol):
    y = music(32000, 0.5, 2)
    path = save_audio(tmp_path / f"x{suffix}", y, 32000, subtype=subtype)
    back, sr = load_audio(path)
    assert sr == 32000 and back.shape == (2, 16000) and back.dtype == np.float32
    assert np.max(np.abs(back - y)) <= tol + 1e-7


def test_reads_integer_mono_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    pcm = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    sf.write(tmp_path / "mono.wav", pcm, 44100, subtype="PCM_16")
    y, sr = load_audio(tmp_path / "mono.wav", sr=48000)
    assert sr == 48000 and y.shape == (1, 48000)
    assert abs(np.max(np.abs(y)) - 0.5) < 0.01


def test_mono_downmix(tmp_path, music):
    y = music(16000, 0.5, 2)
    save_audio(tmp_path / "s.wav", y, 16000, subtype="float")
    mono, _ = load_audio(tmp_path / "s.wav", mono=True)
    assert mono.shape == (1, 8000)
    np.testing.assert_allclose(mono[0], y.mean(axis=0), atol=1e-6)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("codec,suffix", [("libvorbis", ".ogg"), ("libmp3lame", ".mp3")])
def test_reads_lossy_formats(tmp_path, music, codec, suffix):
    save_audio(tmp_path / "src.wav", music(44100, 1.0, 2), 44100)
    out = tmp_path / f"enc{suffix}"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(tmp_path / "src.wav"), "-c:a", codec, str(out)], check=True)
    y, sr = load_audio(out)
    assert sr == 44100 and y.shape[0] == 2 and abs(y.shape[1] - 44100) < 3000


def test_resample_length_and_tone():
    t = np.arange(32000) / 32000
    y = np.sin(2 * np.pi * 1000 * t).astype(np.float32)[None]
    z = resample(y, 32000, 48000)
    assert z.shape == (1, 48000)
    spectrum = np.abs(np.fft.rfft(z[0]))
    assert abs(np.argmax(spectrum) * 48000 / 48000 - 1000) <= 1


def test_channels_and_pcm_edges():
    y = np.array([[0.5, -1.5, 0.0]], dtype=np.float32)
    assert to_channels(y, 2).shape == (2, 3)
    pcm = to_pcm16(y)
    assert pcm.dtype == np.int16 and pcm.shape == (3, 1) and pcm[1, 0] == -32767
    np.testing.assert_allclose(from_pcm(pcm)[0], [0.5, -1.0, 0.0], atol=1e-4)


def test_bad_files(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(BadInputError, match="empty file"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "text.wav").write_text("not audio at all")
    with pytest.raises(BadInputError, match="cannot decode"):
        load_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "quad.wav", np.zeros((100, 4), np.float32), 8000)
    with pytest.raises(BadInputError, match="4 channels"):
        load_audio(tmp_path / "quad.wav")


@pytest.mark.parametrize("signal,message", [
    (np.zeros((1, 0), np.float32), "zero length"),
    (np.zeros((1, 100), np.float32), "too short"),
    (np.zeros((1, 5000), np.float32), "silent"),
    (np.full((1, 5000), np.nan, np.float32), "NaN"),
    (np.ones((3, 5000), np.float32), "3 channels"),
    (np.ones((5000, 2), np.float32), "(samples, channels)"),
])
def test_check_signal_names_the_problem(signal, message):
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_signal(signal, 32000)


def test_save_refuses_input_and_leaves_nothing_on_failure(tmp_path, music):
    src = save_audio(tmp_path / "in.wav", music(16000, 0.5, 1), 16000)
    with pytest.raises(BadInputError, match="overwrite the input"):
        save_audio(src, music(16000, 0.5, 1), 16000, source=src)
    with pytest.raises(BadInputError, match="FLAC cannot hold float"):
        save_audio(tmp_path / "x.flac", music(16000, 0.5, 1), 16000, subtype="float")
    with pytest.raises(BadInputError, match=r"\.ogg: use \.wav, \.flac or \.mp3"):
        save_audio(tmp_path / "x.ogg", music(16000, 0.5, 1), 16000)
    with pytest.raises(BadInputError, match="MP3 cannot hold 11025 Hz"):
        save_audio(tmp_path / "x.mp3", music(11025, 0.5, 1), 11025)
    with pytest.raises(Exception):
        save_audio(tmp_path / "bad.wav", music(16000, 0.5, 1), -5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_save_writes_in_blocks_clips_and_leaves_the_signal_alone(tmp_path, monkeypatch):
    import restoration.audio as audio

    monkeypatch.setattr(audio, "WRITE_BLOCK", 1000)  # several blocks and a partial last one
    rng = np.random.default_rng(0)
    for channels in (1, 2):
        y = (1.5 * rng.standard_normal((channels, 4321))).astype(np.float32)
        before = y.copy()
        for subtype, clip in (("pcm24", True), ("float", False)):
            path = save_audio(tmp_path / f"b{channels}{subtype}.wav", y, 48000, subtype=subtype)
            back, sr = sf.read(path, dtype="float32", always_2d=True)
            expected = np.clip(y, -1, 1) if clip else y
            assert sr == 48000 and back.shape == (4321, channels)
            np.testing.assert_allclose(back.T, expected, atol=1e-6)
        np.testing.assert_array_equal(y, before)  # the caller's array is never clipped in place


@pytest.mark.parametrize("channels,mono", [(2, False), (1, False), (2, True)])
def test_block_decoding_equals_whole_decode_and_resample(tmp_path, music, channels, mono):
    y = music(96000, 3.3, channels)
    path = save_audio(tmp_path / "hi.flac", y, 96000, subtype="pcm24")
    whole, rate = load_audio(path)
    expected = resample(to_channels(whole, 1) if mono else whole, rate, 48000)
    got, sr = load_audio(path, max_sr=48000, mono=mono)
    assert sr == 48000 and got.shape == expected.shape and got.dtype == np.float32
    assert np.max(np.abs(got - expected)) < 1e-6
    same, same_sr = load_audio(path, max_sr=192000)  # below max_sr: read as it is
    assert same_sr == 96000 and np.array_equal(same, whole)


def test_block_decoding_never_holds_the_full_rate_signal(tmp_path):
    import tracemalloc

    seconds, rate = 8.0, 384000
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (int(seconds * rate), 2)).astype(np.float32)
    sf.write(tmp_path / "wide.wav", noise, rate, subtype="PCM_16")
    del noise
    full_rate_bytes = int(seconds * rate) * 2 * 4  # the file's signal as float32: 24.6 MB
    tracemalloc.start()
    try:
        y, sr = load_audio(tmp_path / "wide.wav", max_sr=48000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sr == 48000 and y.shape == (2, int(seconds * 48000))
    assert peak < full_rate_bytes / 4  # the 48 kHz result (3.1 MB) and a few blocks, nothing at 384 kHz


def test_block_decoding_scales_by_the_files_own_peak(tmp_path, music):
    y = 2.0 * music(96000, 1.0, 2) / np.max(np.abs(music(96000, 1.0, 2)))
    save_audio(tmp_path / "loud.wav", y, 96000, subtype="float")
    with pytest.warns(UserWarning, match="beyond full scale"):
        got, _ = load_audio(tmp_path / "loud.wav", max_sr=48000)
    np.testing.assert_allclose(got, resample(y / 2.0, 96000, 48000), atol=1e-6)
    y[1, 100] = np.nan
    save_audio(tmp_path / "nan.wav", y, 96000, subtype="float")
    with pytest.raises(BadInputError, match="NaN or infinite"):
        load_audio(tmp_path / "nan.wav", max_sr=48000)
