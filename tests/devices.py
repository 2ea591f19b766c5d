"""The devices tests run on (CUDA where there is a GPU), and bit-for-bit reproducible arithmetic on them."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
import torch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                  reason="needs a CUDA GPU"))]


@contextmanager
def bitwise_reproducible(device: str) -> Iterator[None]:
    """On a GPU, deterministic kernels only (cuDNN's convolution backward may otherwise add in a
    different order from one call to the next); the CPU's are deterministic already. cuBLAS also
    needs ``CUBLAS_WORKSPACE_CONFIG``, which ``tests/conftest.py`` sets before CUDA starts."""
    if torch.device(device).type != "cuda":
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1], before[2]
