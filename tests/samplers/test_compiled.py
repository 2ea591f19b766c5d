"""The compiled path: K steps of a kernel's own transition traced whole, equal to the eager steps on the same
draws, never recompiled by a knob, swapped in from the background without a jump, eager when compiling fails.

Most tests trace with dynamo and run the traced graph without code generation (``CompileCounter``,
``aot_eager``): that checks what the program computes and when it recompiles in seconds. One test
compiles with inductor, as users run it.
"""
from __future__ import annotations

import threading

import pytest
import torch
from torch._dynamo.testing import CompileCounter

from ebm_engine.energies.base import Energy, FunctionEnergy
from ebm_engine.energies.constraints import Ball
from ebm_engine.energies.penalties import ConstrainedEnergy
from ebm_engine.energies.targets import Banana, Gaussian
from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.samplers import HMC, MALA, Langevin, sample
from ebm_engine.samplers.compiled import CompiledKernel, ProgramBuilder, program

KERNELS = {"langevin": lambda: Langevin(), "mala": lambda: MALA(), "hmc": lambda: HMC(n_leapfrog=4),
           "hmc-fixed": lambda: HMC(n_leapfrog=3, jitter=0.0)}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def mlp_energy() -> SimpleEBM:
    torch.manual_seed(0)
    return SimpleEBM(2, 16, 2)


def autograd_energy() -> Energy:
    """No closed form: the program differentiates it with torch.func."""
    return FunctionEnergy(lambda x: 0.5 * (x * x).sum(1) + torch.sin(3 * x[:, 0]), "wavy")


ENERGIES = {"banana": Banana, "mlp": mlp_energy, "autograd": autograd_energy}


@pytest.mark.parametrize("energy_name", sorted(ENERGIES))
@pytest.mark.parametrize("kernel_name", sorted(KERNELS))
def test_a_program_runs_the_kernels_own_transitions(kernel_name, energy_name):
    """K steps traced whole (fullgraph) equal K eager transitions on the same draws and knobs."""
    kernel, energy = KERNELS[kernel_name](), ENERGIES[energy_name]()
    x = torch.randn(16, 2, generator=gen(1))
    state = kernel.init(energy, x)
    counter = CompileCounter()
    compiled = program(kernel, energy, x, 5, backend=counter)
    draws = kernel.draw(x, gen(2), (5,))
    block = compiled(state, draws, 0.15, 1.3)
    eager = state
    for k in range(5):
        eager, info = kernel.transition(energy, eager, tuple(d[k] for d in draws), 0.15, 1.3)
        torch.testing.assert_close(block.positions[k], eager.x, rtol=1e-5, atol=1e-5)
        assert torch.equal(block.accepted[k], info.accepted)
        assert torch.equal(block.divergent[k], info.divergent)
    torch.testing.assert_close(block.grad, eager.grad, rtol=1e-4, atol=1e-5)
    assert counter.frame_count == 1   # one graph: nothing fell back to Python between the steps


def test_moving_a_knob_never_recompiles_but_a_new_chain_count_does():
    kernel, energy, counter = HMC(n_leapfrog=3), Banana(), CompileCounter()
    x = torch.randn(32, 2, generator=gen(0))
    state = kernel.init(energy, x)
    g = gen(1)
    for step_size, temperature in ((0.1, 1.0), (0.3, 1.0), (0.3, 2.5), (0.05, 0.2)):
        state = program(kernel, energy, x, 4, backend=counter).run(state, step_size, temperature, g).final_state()
    rebuilt = HMC(n_leapfrog=3)   # what a page does on a knob change: same settings, same program
    assert program(rebuilt, energy, x, 4, backend=counter) is program(kernel, energy, x, 4, backend=counter)
    assert counter.frame_count == 1
    wider = torch.randn(48, 2, generator=gen(2))
    program(kernel, energy, wider, 4, backend=counter).run(kernel.init(energy, wider), 0.1, 1.0, g)
    assert counter.frame_count == 2


def test_a_constraint_weight_change_does_not_recompile():
    energy = ConstrainedEnergy(Gaussian(), [(Ball((0.0, 0.0), 1.0), 3.0)])
    kernel, counter = MALA(), CompileCounter()
    x = torch.randn(16, 2, generator=gen(0))
    compiled = program(kernel, energy, x, 3, backend=counter)
    g = gen(1)
    before = compiled.run(kernel.init(energy, x), 0.1, 1.0, g)
    energy.set_weight(0, 30.0)
    after = compiled.run(kernel.init(energy, x), 0.1, 1.0, gen(1))
    assert counter.frame_count == 1
    assert not torch.allclose(after.energies, before.energies)   # the new weight is used
    reference = MALA().transition(energy, kernel.init(energy, x), tuple(d[0] for d in kernel.draw(x, gen(1), (3,))),
                                  0.1, 1.0)[0]
    torch.testing.assert_close(after.positions[0], reference.x, rtol=1e-5, atol=1e-5)


def test_sampling_compiled_recovers_the_banana_moments_with_inductor():
    """``sample(compile=True)``: inductor's code, K steps per call, the known answer of the banana."""
    g = gen(3)
    run = sample(Banana(), torch.randn(256, 2, generator=g), MALA(), n_steps=600, step_size=0.15, warmup=100,
                 generator=g, compile=True)
    assert run.compile_status == "compiled"
    assert run.compiled_steps == 600 and run.samples.shape == (600, 256, 2)
    x = run.samples[100:].reshape(-1, 2)
    assert abs(float((x[:, 0] ** 2).mean()) - 1.0) < 0.1   # E[x1²] = s1² = 1
    assert abs(float(x[:, 1].mean())) < 0.1                # E[x2] = 0
    assert 0.3 < float(run.accept_rate.mean()) < 0.95
    assert torch.equal(run.energies[-1], run.final_state.energy.float())


def test_compiled_runs_keep_every_kth_step_and_leftover_steps_run_eagerly(monkeypatch):
    monkeypatch.setattr("ebm_engine.samplers.compiled.BACKEND", "aot_eager")
    eager = sample(Banana(), torch.randn(8, 2, generator=gen(5)), Langevin(), n_steps=23, step_size=0.05,
                   generator=gen(6), keep_every=2)
    compiled = sample(Banana(), torch.randn(8, 2, generator=gen(5)), Langevin(), n_steps=23, step_size=0.05,
                      generator=gen(6), keep_every=2, compile=True)
    assert compiled.compiled_steps == 20   # two calls of ten; the last three steps eagerly
    assert compiled.samples.shape == eager.samples.shape == (11, 8, 2)
    torch.testing.assert_close(compiled.samples, eager.samples, rtol=1e-4, atol=1e-4)


def test_the_background_compile_swaps_in_without_a_jump():
    """While the program compiles the kernel steps eagerly; then it swaps. The chain is the eager chain."""
    gate = threading.Event()

    def gated(gm, example_inputs):
        gate.wait(30)
        return gm.forward

    energy, x = Banana(), torch.randn(64, 2, generator=gen(0))
    eager, background = MALA(), CompiledKernel(MALA(), background=True, backend=gated)
    a, b = eager.init(energy, x), background.init(energy, x)
    ga, gb = gen(1), gen(1)
    statuses = []
    for i in range(40):
        if i == 10:
            gate.set()
            builder = background._builder
            for _ in range(300):
                if builder.get() is not None:
                    break
                threading.Event().wait(0.1)
        a, _ = eager.step(energy, a, 0.2, 1.0, ga)
        b, _ = background.step(energy, b, 0.2, 1.0, gb)
        statuses.append(background.status)
        torch.testing.assert_close(b.x, a.x, rtol=1e-5, atol=1e-5)
    assert statuses[0] == "compiling" and statuses[-1] == "compiled"


def test_a_failed_compile_stays_eager_and_says_why():
    def broken(gm, example_inputs):
        raise RuntimeError("no C++ compiler found")

    kernel = CompiledKernel(HMC(n_leapfrog=2), background=False, backend=broken)
    energy = Banana()
    state, info = kernel.step(energy, kernel.init(energy, torch.zeros(4, 2)), 0.1, 1.0, gen(0))
    assert kernel.status.startswith("eager: compiling failed") and "no C++ compiler" in kernel.status
    assert info.accepted.shape == (4,)
    builder = ProgramBuilder(MALA(), energy, state, 2, backend=broken, background=False)
    assert builder.get() is None and builder.status.startswith("eager")


def test_compile_argument_is_checked():
    with pytest.raises(ValueError, match="compile"):
        sample(Banana(), torch.zeros(2, 2), MALA(), n_steps=2, step_size=0.1, compile="yes")


def test_auto_starts_eagerly_and_runs_the_rest_compiled(monkeypatch):
    """``compile="auto"``: the steps before the program is ready run eagerly, the rest compiled; one chain."""
    gate = threading.Event()

    def gated(gm, example_inputs):
        gate.wait(30)
        return gm.forward

    monkeypatch.setattr("ebm_engine.samplers.compiled.BACKEND", gated)
    monkeypatch.setattr("ebm_engine.samplers.compiled.BACKGROUND_DELAY_S", 0.0)
    seen = []

    def callback(step, state, info):
        seen.append(step)
        if step == 40:   # let the compiler finish, and wait for it
            gate.set()
            threading.Event().wait(2.0)

    x0 = torch.randn(32, 2, generator=gen(7))
    auto = sample(Banana(), x0, Langevin(), n_steps=100, step_size=0.05, warmup=10, keep_every=3,
                  generator=gen(8), compile="auto", callback=callback)
    eager = sample(Banana(), x0, Langevin(), n_steps=100, step_size=0.05, warmup=10, keep_every=3,
                   generator=gen(8))
    assert seen == list(range(110))   # warm-up steps first, numbered on through the swap
    assert auto.compile_status == "compiled" and 0 < auto.compiled_steps < 80
    torch.testing.assert_close(auto.samples, eager.samples, rtol=1e-4, atol=1e-4)
    assert torch.equal(auto.accept_rate, eager.accept_rate)
