"""MusicGen loading and generation on a tiny randomly initialized model saved to a temporary folder."""

from pathlib import Path

import numpy as np
import pytest

from restoration import BadParameterError, MissingModelError
from restoration.models import musicgen

WORDS = ("▁a", "▁calm", "▁lofi", "▁song", "▁rock", "▁with", "▁drums", "▁piano")


def save_tiny_musicgen(folder: Path, *, channels: int = 1) -> Path:
    """Save a randomly initialized MusicGen (32 kHz, 50 frames/s, 4 codebooks per channel) and an
    offline T5 tokenizer + EnCodec feature extractor to ``folder``, as ``save_pretrained`` would."""
    from transformers import (EncodecConfig, EncodecFeatureExtractor, MusicgenConfig, MusicgenDecoderConfig,
                              MusicgenForConditionalGeneration, MusicgenProcessor, T5Config, T5Tokenizer)

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)] + [(w, -3.0 - i / 10) for i, w in enumerate(WORDS)]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    processor = MusicgenProcessor(feature_extractor=EncodecFeatureExtractor(feature_size=channels, sampling_rate=32000),
                                  tokenizer=tokenizer)
    codebook = 16  # 4 bits per code: 0.8 kbit/s at 50 frames/s = 4 quantizers, as musicgen-small's 2.2 kbit/s with 11 bits
    config = MusicgenConfig(
        text_encoder=T5Config(vocab_size=len(vocab), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2),
        audio_encoder=EncodecConfig(sampling_rate=32000, audio_channels=1, hidden_size=8, num_filters=2,
                                    upsampling_ratios=[8, 5, 4, 4], codebook_size=codebook, target_bandwidths=[0.8],
                                    num_lstm_layers=1),
        decoder=MusicgenDecoderConfig(vocab_size=codebook, hidden_size=16, ffn_dim=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_codebooks=4 * channels, audio_channels=channels,
                                      pad_token_id=codebook, bos_token_id=codebook, max_position_embeddings=2048),
    )
    model = MusicgenForConditionalGeneration(config)
    for layer in model.audio_encoder.quantizer.layers:  # EnCodec starts with all-zero codebooks: every code would decode alike
        layer.codebook.embed.normal_()
    model.generation_config.decoder_start_token_id = codebook
    model.generation_config.pad_token_id = codebook
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(save_tiny_musicgen(tmp_path_factory.mktemp("musicgen-tiny")))


def test_generates_32khz_audio_of_the_requested_length_with_progress(tiny_model):
    calls = []
    y, sr = musicgen.generate("a calm lofi song", model=tiny_model, duration_s=1.5, seed=3, device="cpu",
                              progress=lambda done, total: calls.append((done, total)))
    assert sr == 32000
    assert y.dtype == np.float32 and y.shape == (1, 48000)
    assert np.all(np.isfinite(y)) and np.any(y != 0)
    steps = 75 + 3  # 50 tokens per second plus the codebook delay of the last frame
    assert calls[-1] == (steps, steps)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) >= steps


def test_seed_makes_generation_repeatable(tiny_model):
    a, _ = musicgen.generate("rock with drums", model=tiny_model, duration_s=1.0, seed=7, device="cpu")
    b, _ = musicgen.generate("rock with drums", model=tiny_model, duration_s=1.0, seed=7, device="cpu")
    c, _ = musicgen.generate("rock with drums", model=tiny_model, duration_s=1.0, seed=8, device="cpu")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_model_is_cached_per_model_and_device(tiny_model):
    first = musicgen.load_musicgen(tiny_model, "cpu")
    assert musicgen.load_musicgen(tiny_model, "cpu") is first
    net, processor = first
    assert type(net).__name__ == "MusicgenForConditionalGeneration"
    assert processor.tokenizer("a calm song")["input_ids"][-1] == processor.tokenizer.eos_token_id


def test_stereo_model_gives_two_channels(tmp_path):
    folder = save_tiny_musicgen(tmp_path / "stereo", channels=2)
    y, sr = musicgen.generate("piano", model=str(folder), duration_s=1.0, seed=0, device="cpu")
    assert sr == 32000 and y.shape == (2, 32000)
    assert not np.array_equal(y[0], y[1])


def test_environment_variable_names_the_default_model(tiny_model, monkeypatch):
    monkeypatch.setenv("MUSICGEN_MODEL", tiny_model)
    assert musicgen.resolve_model("") == tiny_model
    assert musicgen.resolve_model(None) == tiny_model
    monkeypatch.delenv("MUSICGEN_MODEL")
    assert musicgen.resolve_model("  ") == musicgen.DEFAULT_MODEL


def test_missing_folder_says_how_to_fix_it(tmp_path):
    with pytest.raises(MissingModelError, match="not found.*MUSICGEN_MODEL"):
        musicgen.generate("a song", model=str(tmp_path / "nowhere"), duration_s=1.0)


def test_folder_without_a_model_is_a_missing_model_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(MissingModelError, match="cannot load MusicGen model.*local folder") as info:
        musicgen.load_musicgen(str(tmp_path), "cpu")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("settings, message", [
    ({"duration_s": 31.0}, r"duration_s must be within \[1.0, 30.0\]"),
    ({"duration_s": 0.5}, r"duration_s must be within"),
    ({"temperature": 0.0}, r"temperature must be within"),
    ({"top_k": 2.5}, r"top_k must be int"),
])
def test_out_of_range_settings_are_refused_before_loading(settings, message):
    with pytest.raises(BadParameterError, match=message):
        musicgen.generate("a song", model="/nonexistent/never-loaded", **settings)
