"""Small parts of the studio UI: download names and formats, the metrics table, errors shown as text,
the session history, and models refused at once when their hub is out of reach."""

import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from restoration import BadInputError, MissingModelError, load_audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studio import downloads, errors, history, metrics_table, models  # noqa: E402
from studio.comparison import Side  # noqa: E402


@pytest.mark.parametrize("source, method, fmt, name", [
    ("/uploads/abc/song.mp3", "unet", "WAV 16-bit", "song.unet.wav"),
    ("/x/My Song (final).flac", "spectral_gating+unet", "FLAC 24-bit", "My Song _final.spectral_gating+unet.flac"),
    ("", "sbr", "MP3", "audio.sbr.mp3"),
    ("/x/../../etc/passwd", "sbr", "WAV 32-bit float", "passwd.sbr.wav"),
])
def test_download_names_keep_the_song_and_add_the_method(source, method, fmt, name):
    assert downloads.download_name(source, method, fmt) == name


@pytest.mark.parametrize("fmt, subtype, sr", [
    ("WAV 16-bit", "PCM_16", 48000), ("WAV 24-bit", "PCM_24", 48000), ("WAV 32-bit float", "FLOAT", 48000),
    ("FLAC 24-bit", "PCM_24", 48000), ("MP3", "MPEG_LAYER_III", 48000),
])
def test_every_download_format_writes_a_readable_file(tmp_path, music, fmt, subtype, sr):
    import soundfile

    y = music(sr, 1.0, 2, seed=4)
    path = downloads.export(tmp_path / downloads.download_name("song.wav", "sbr", fmt), y, sr, fmt)
    assert path.name.startswith("song.sbr.")
    assert soundfile.info(str(path)).subtype == subtype
    back, rate = load_audio(path)
    assert rate == sr and back.shape[0] == 2
    if fmt != "MP3":  # lossless: the same samples within the format's precision
        assert np.abs(back - y).max() < 1e-4
    with pytest.raises(BadInputError, match="download format must be one of"):
        downloads.export(tmp_path / "x.ogg", y, sr, "OGG")


def test_mp3_refuses_a_rate_it_cannot_hold(tmp_path, music):
    with pytest.raises(BadInputError, match="MP3 cannot hold 96000 Hz"):
        downloads.export(tmp_path / "x.mp3", music(96000, 0.5, 1), 96000, "MP3")


def test_metrics_table_puts_did_it_help_first_with_units_and_reasons():
    a = {"bandwidth_hz": 11000.0, "cutoff_hz": 11000.0, "hf_ratio": float("nan"), "noise_floor_dbfs": float("nan"),
         "lufs": -20.0}
    b = {"bandwidth_hz": 24000.0, "cutoff_hz": 19500.0, "hf_ratio": 0.01, "noise_floor_dbfs": -60.0, "lufs": -20.02}
    ref_a = {"lsd": 9.0, "visqol": float("nan"), "si_sdr": 3.0}
    ref_b = {"lsd": 6.0, "visqol": float("nan"), "si_sdr": 1.0}
    table = metrics_table.build(a, b, a_sr=32000, b_sr=48000, ref_a=ref_a, ref_b=ref_b, reference_sr=48000,
                                pending=False, visqol_on=False, labels=("original", "#1 <sbr>"))
    assert table["headers"] == ["metric, unit, better", "original", "#1 &lt;sbr&gt;", "B against A"]
    names = [row[0] for row in table["data"]]
    assert names[0] == "log-spectral distance to the reference, dB, ↓ lower is better"
    rows = {row[0].split(",")[0]: row[1:] for row in table["data"]}
    assert rows["log-spectral distance to the reference"] == ["9.00", "6.00", "✓ better"]
    assert rows["SI-SDR to the reference"][2] == "✗ worse"
    assert rows["ViSQOL quality (MOS-LQO"][:2] == ["off (tick ViSQOL above)"] * 2
    assert rows["bandwidth (as the spectrogram shows it)"] == ["11.0", "24.0", "✓ better"]
    assert rows["effective cutoff (a 15 dB drop)"] == ["11.0", "19.5", ""]  # shown, judged by the row above
    assert rows["energy above 16 kHz"][0] == "n/a (32 kHz audio: no band above 16 kHz)"
    assert rows["noise floor (quiet frames)"][0] == "n/a (never quieter than -45 dBFS)"
    assert rows["loudness (BS.1770)"][2] == ""  # no better direction
    assert rows["harmonic / percussive energy"] == ["not measured", "not measured", ""]
    pending = metrics_table.build(a, b, a_sr=32000, b_sr=48000, pending=True)
    pending_rows = {row[0].split(",")[0]: row[1:] for row in pending["data"]}
    assert pending_rows["harmonic / percussive energy"][0] == "measuring…"
    assert pending["data"][0][1] == "needs a reference"
    same = metrics_table.verdict(metrics_table.SIGNAL_ROWS[0], 24000.0, 24050.0)
    assert same == "= about the same"


def test_errors_are_shown_whole_as_text():
    @errors.user_errors
    def fails(request=None):
        raise MissingModelError("cannot load Demucs model 'htdemucs' (<urlopen error [Errno -3] name resolution>)")

    class Request:
        session_hash = "s1"

    with pytest.raises(gr.Error) as info:
        fails(request=Request())
    assert info.value.message == ("cannot load Demucs model 'htdemucs' (&lt;urlopen error [Errno -3] name "
                                  "resolution&gt;)")
    assert errors.last_error(Request()).endswith("name resolution>)")
    assert errors.last_error(Request()) == ""  # read once
    assert errors.as_text("a\nb" + "x" * 2000).startswith("a b") and len(errors.as_text("x" * 2000)) == errors.MAX_MESSAGE


def test_history_choices_and_sides():
    original = Side("/w/song.original.wav", "original (song)", 32000, {"lufs": -20.0})
    runs = [history.entry(i, method=m, params={}, seconds=0.1, clock="12:00:00", source="song", original=original,
                          restored=Side(f"/w/song.{m}.wav", f"#{i} {m}", 48000), reference=None)
            for i, m in ((1, "sbr"), (2, "unet"))]
    assert history.choices(runs) == [("original (song)", "original"), ("#1 sbr (12:00:00)", "1"),
                                     ("#2 unet (12:00:00)", "2")]
    a, b, pick = history.chooser_updates(runs)
    assert (a["value"], b["value"], pick["value"]) == ("original", "2", "2") and len(pick["choices"]) == 2
    assert history.side(runs, "2").path == "/w/song.unet.wav" and history.side(runs, "original").sr == 32000
    with pytest.raises(gr.Error, match="Nothing in this session yet"):
        history.side([], "1")
    assert history.table(runs)[1] == [2, "12:00:00", "unet", "defaults", 0.1, 48000]


def test_models_not_here_fail_at_once_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.offline() and not models.hub.reachable("demucs")
    assert models.demucs_ready("demucs_unittest") and models.demucs_ready("htdemucs", "/some/repo")
    with pytest.raises(MissingModelError, match="Demucs model 'nope' is not on this server .* ready here: demucs_unittest; "
                                                "an operator adds models with --models-dir"):
        models.require("demucs", False, "nope", ["demucs_unittest"])
    models.check_restore("demucs", {"model": "demucs_unittest"})  # ready: no error
    models.check_restore("spectral_gating+sbr", {})
    with pytest.raises(MissingModelError, match="'htdemucs' is not on this server"):
        models.check_restore("passthrough+demucs", {"demucs.model": "htdemucs", "demucs.repo": ""})
    from restoration.models.catalog import ModelCatalog

    summary = models.summary(ModelCatalog.build())
    assert "downloads are switched off" in summary and "demucs_unittest" in summary


def test_a_running_job_stops_when_its_browser_has_gone():
    from types import SimpleNamespace

    from studio.jobs import JobCancelled, abandoned, progress_callback

    job = SimpleNamespace(session_hash="s1", alive=True)
    blocks = SimpleNamespace(_queue=SimpleNamespace(active_jobs=[[job], None]))
    request = SimpleNamespace(session_hash="s1")
    seen = []
    report = progress_callback(lambda fraction, desc="": seen.append(round(fraction, 2)), "restoring", end=0.5,
                               blocks=blocks, request=request)
    report(500, 1000)
    assert seen == [0.25] and not abandoned(blocks, request)
    job.alive = False  # what gradio's clean_events does when the page's event stream closes
    assert abandoned(blocks, request) and not abandoned(blocks, SimpleNamespace(session_hash="other"))
    with pytest.raises(JobCancelled, match="page that asked for this job was closed"):
        report(600, 1000)
    assert not abandoned(None, request)


def test_wav_results_are_served_without_an_ffprobe_per_restore(tmp_path, music, monkeypatch):
    from gradio import processing_utils

    from restoration import save_audio
    from studio.components import WavAudio

    monkeypatch.setattr(processing_utils, "audio_is_playable", lambda path: pytest.fail("probed " + path))
    wav = save_audio(tmp_path / "song.sbr.wav", music(48000, 0.5, 2), 48000)
    with gr.Blocks():
        player = WavAudio(type="filepath", interactive=False)
    assert player.get_block_name() == "audio"  # drawn by gradio's own audio player
    data = player.postprocess(str(wav))
    assert data.path == str(wav) and data.orig_name == "song.sbr.wav"
    assert player.postprocess(None) is None


@pytest.mark.parametrize("added_db, expected", [(-50.0, "= about the same"), (-10.0, "✓ better")])
def test_bandwidth_verdict_says_better_only_when_the_added_band_carries_energy(added_db, expected):
    """Noise cut at 14 kHz against the same noise plus a band from 14 kHz to Nyquist at ``added_db``
    below the level under 14 kHz: a band a spectrogram barely shows is not a wider bandwidth."""
    from scipy.signal import butter, sosfiltfilt

    from restoration.analysis.compare import analyse, core_metrics

    sr = 48000
    noise = np.random.default_rng(0).standard_normal((2, 1, 3 * sr))
    low = sosfiltfilt(butter(8, 14000, fs=sr, output="sos"), 0.1 * noise[0], axis=-1)
    band = sosfiltfilt(butter(8, 14000, btype="highpass", fs=sr, output="sos"), 0.1 * noise[1], axis=-1)
    a = core_metrics(analyse(low.astype(np.float32), sr))
    b = core_metrics(analyse((low + band * 10 ** (added_db / 20)).astype(np.float32), sr))
    row = next(r for r in metrics_table.SIGNAL_ROWS if r.key == "bandwidth_hz")
    assert metrics_table.verdict(row, a["bandwidth_hz"], b["bandwidth_hz"]) == expected
