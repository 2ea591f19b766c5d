"""The captured (sync-free, compiled or CUDA-graphed) Langevin step follows the eager chain."""
from __future__ import annotations

import os
import shutil

import pytest
import torch

from ebm_engine.energies.base import Energy
from ebm_engine.models import SimpleEBM
from ebm_engine.samplers import HMC, Langevin
from ebm_engine.samplers.captured_hmc import CapturedHMC
from ebm_engine.samplers.captured_langevin import CapturedLangevin


def frozen_mlp(seed: int = 0, hidden: int = 32) -> SimpleEBM:
    torch.manual_seed(seed)
    model = SimpleEBM(2, hidden=hidden, depth=2)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def run_pair(energy, captured: CapturedLangevin, device: str = "cpu", steps: int = 20, clamp=None):
    eager = Langevin(noise_scale=captured.noise_scale, clamp=clamp)
    g_eager = torch.Generator(device=device).manual_seed(3)
    g_captured = torch.Generator(device=device).manual_seed(3)
    x0 = torch.randn(64, 2, generator=torch.Generator(device=device).manual_seed(1), device=device)
    a, b = eager.init(energy, x0), captured.init(energy, x0)
    for i in range(steps):
        step_size = 0.01 if i < steps // 2 else 0.02   # a knob change half-way
        a, _ = eager.step(energy, a, step_size, 1.5, g_eager)
        b, info = captured.step(energy, b, step_size, 1.5, g_captured)
    return a, b, info


def test_eager_backend_is_the_same_chain_as_langevin():
    kernel = CapturedLangevin(backend="eager", clamp=(-2.0, 2.0))
    a, b, info = run_pair(frozen_mlp(), kernel, clamp=(-2.0, 2.0))
    torch.testing.assert_close(b.x, a.x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.energy, a.energy, rtol=1e-5, atol=1e-5)
    assert kernel.active_backend == "eager" and bool(info.accepted.all()) and not bool(info.divergent.any())


def test_auto_runs_eagerly_off_the_gpu_and_knob_changes_do_not_rebuild():
    kernel = CapturedLangevin()
    energy = frozen_mlp()
    state = kernel.init(energy, torch.zeros(8, 2))
    state, _ = kernel.step(energy, state, 0.01)
    built = kernel._run
    state, _ = kernel.step(energy, state, 0.05, temperature=2.0)
    assert kernel.active_backend == "eager" and kernel._run is built


class Cliff(Energy):
    """Quadratic for x₀ < 1, NaN beyond: chains that step over the edge must stay where they were."""

    def energy(self, x):
        e = 0.5 * x.pow(2).sum(dim=1)
        return torch.where(x[:, 0] < 1.0, e, torch.full_like(e, float("nan")))


def test_non_finite_chains_stay_put_and_are_flagged_without_a_branch():
    kernel = CapturedLangevin(backend="eager")
    start = torch.tensor([[0.99, 0.0], [-3.0, 0.0]])
    state = kernel.init(Cliff(), start)
    state, info = kernel.step(Cliff(), state, 0.5, generator=torch.Generator().manual_seed(0))
    assert info.divergent.tolist() == [True, False]
    assert torch.equal(state.x[0], start[0]) and bool(torch.isfinite(state.energy).all())


def test_a_failing_compiler_falls_back_to_eager(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")
    monkeypatch.setattr(torch, "compile", broken)
    kernel = CapturedLangevin(backend="compile")
    with pytest.warns(RuntimeWarning, match="running eagerly"):
        a, b, _ = run_pair(frozen_mlp(), kernel, steps=4)
    assert kernel.active_backend == "eager"
    torch.testing.assert_close(b.x, a.x, rtol=1e-5, atol=1e-5)


HAS_C_COMPILER = shutil.which("gcc") is not None or shutil.which("cc") is not None


@pytest.mark.parametrize("compiler", [
    "aot_eager",   # the traced step (forward and ∇ₓE through torch.func), without code generation: seconds
    pytest.param("inductor", marks=[   # generated C++ kernels: about a minute on two busy cores, so opt-in
        pytest.mark.skipif(not HAS_C_COMPILER, reason="torch.compile on the CPU needs a C compiler"),
        pytest.mark.skipif(not os.environ.get("EBM_LAB_COMPILE_TESTS"), reason="set EBM_LAB_COMPILE_TESTS=1")])])
def test_compiled_step_is_the_same_chain_as_eager_on_the_cpu(compiler):
    kernel = CapturedLangevin(backend="compile", compiler=compiler)
    a, b, _ = run_pair(frozen_mlp(hidden=8), kernel, steps=10)
    assert kernel.active_backend == "compile"
    torch.testing.assert_close(b.x, a.x, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("backend", ["cuda_graph", "compile"])
def test_captured_step_on_cuda_is_the_same_chain_as_eager(backend):
    kernel = CapturedLangevin(backend=backend)
    a, b, _ = run_pair(frozen_mlp().cuda(), kernel, device="cuda")
    assert kernel.active_backend == backend
    torch.testing.assert_close(b.x, a.x, rtol=1e-4, atol=1e-4)


def run_hmc_pair(energy, captured: CapturedHMC, device: str = "cpu", steps: int = 8):
    eager = HMC(n_leapfrog=captured.n_leapfrog, jitter=captured.jitter)
    g_eager = torch.Generator(device=device).manual_seed(5)
    g_captured = torch.Generator(device=device).manual_seed(5)
    x0 = torch.randn(64, 2, generator=torch.Generator(device=device).manual_seed(2), device=device)
    a, b = eager.init(energy, x0), captured.init(energy, x0)
    for i in range(steps):
        step_size = 0.1 if i < steps // 2 else 0.3
        a, info_a = eager.step(energy, a, step_size, 1.0, g_eager)
        b, info_b = captured.step(energy, b, step_size, 1.0, g_captured)
        assert torch.equal(info_a.accepted, info_b.accepted)
    return a, b


@pytest.mark.parametrize("jitter", [0.0, 0.1])
def test_captured_hmc_is_the_same_chain_as_hmc(jitter):
    kernel = CapturedHMC(n_leapfrog=4, jitter=jitter)
    a, b = run_hmc_pair(frozen_mlp(), kernel)
    assert kernel.active_backend == "eager"
    torch.testing.assert_close(b.x, a.x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.energy, a.energy, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_captured_hmc_on_cuda_replays_a_graph_of_the_same_chain():
    kernel = CapturedHMC(n_leapfrog=4)
    a, b = run_hmc_pair(frozen_mlp().cuda(), kernel, device="cuda")
    assert kernel.active_backend == "cuda_graph"
    torch.testing.assert_close(b.x, a.x, rtol=1e-4, atol=1e-4)
