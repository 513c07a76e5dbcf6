"""The shared device convention of the neural methods."""

import pytest
import torch

from restoration import BadParameterError
from restoration.models.device import resolve_device


def test_auto_picks_cuda_only_when_available():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_bad_or_unavailable_device_is_a_parameter_error():
    with pytest.raises(BadParameterError, match="auto, cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BadParameterError, match="no CUDA GPU"):
            resolve_device("cuda")
