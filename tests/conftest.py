"""Shared test setup: offline hubs, a non-interactive matplotlib, and synthetic music."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

from signals import make_music  # noqa: E402


@pytest.fixture
def music():
    """Factory: ``music(sr=48000, seconds=2.0, channels=2, seed=0)`` -> float32 (channels, samples)."""
    return make_music


@pytest.fixture
def one_torch_thread():
    """One torch thread: on a shared 2-core machine, two threads spin against each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
