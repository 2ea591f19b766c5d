"""Device selection and explicit generators."""
from __future__ import annotations

import pytest
import torch

from ebm_engine.device import describe_device, make_generator, select_device

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
needs_no_accelerator = pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(), reason="checks the CPU-only path")


@pytest.fixture(autouse=True)
def no_env_override(monkeypatch):
    monkeypatch.delenv("EBM_LAB_DEVICE", raising=False)


@needs_no_accelerator
def test_auto_selects_cpu_without_accelerator():
    assert select_device() == torch.device("cpu")
    assert select_device("auto") == torch.device("cpu")


def test_explicit_cpu():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("cpu").type == "cpu"


@pytest.mark.parametrize("name", ["tpu", "gpu", "CPU-ish", "xla", "cpu:abc"])
def test_unknown_device_raises_value_error(name):
    with pytest.raises(ValueError):
        select_device(name)


@needs_no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_unavailable_cuda_raises_value_error(name):
    with pytest.raises(ValueError, match="cuda"):
        select_device(name)


def test_environment_variable_is_honoured(monkeypatch):
    monkeypatch.setenv("EBM_LAB_DEVICE", "cpu")
    assert select_device() == torch.device("cpu")
    monkeypatch.setenv("EBM_LAB_DEVICE", "auto")
    assert select_device().type in ("cpu", "cuda", "mps")
    monkeypatch.setenv("EBM_LAB_DEVICE", "quantum")
    with pytest.raises(ValueError):
        select_device()


@needs_no_cuda
def test_environment_variable_is_validated_like_an_argument(monkeypatch):
    monkeypatch.setenv("EBM_LAB_DEVICE", "cuda")
    with pytest.raises(ValueError):
        select_device()


def test_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("EBM_LAB_DEVICE", "quantum")
    assert select_device("cpu") == torch.device("cpu")


def test_make_generator_is_reproducible():
    a = torch.randn(100, generator=make_generator(7))
    b = torch.randn(100, generator=make_generator(7))
    c = torch.randn(100, generator=make_generator(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    g = make_generator(0, "cpu")
    assert isinstance(g, torch.Generator) and g.device == torch.device("cpu")
    assert g.initial_seed() == 0


def test_make_generator_does_not_touch_global_rng():
    state = torch.get_rng_state()
    make_generator(123)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("seed", [-1, -100, 1.5, "3", None])
def test_make_generator_rejects_bad_seeds(seed):
    with pytest.raises(ValueError):
        make_generator(seed)


def test_describe_device():
    assert describe_device(torch.device("cpu")).startswith("cpu (")
