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


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Each test starts with full per-client buckets: in-process calls all come from one client ("local"),
    so a suite that restores many times a minute would otherwise be refused by the app's own rate limits."""
    try:
        from studio import peers
    except ImportError:  # gradio missing: no app tests either
        yield
        return
    before = peers.limiter()
    peers.use_limiter(peers.RateLimiter())
    yield
    peers.use_limiter(before)
