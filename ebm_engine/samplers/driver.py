"""One driver for every kernel: optional warm-up (with dual averaging for MH kernels), then sampling.

``sample`` runs ``warmup + n_steps`` kernel steps on ``x0``'s device. Warm-up steps are burn-in:
nothing from them is kept. For Metropolis-adjusted kernels (MALA, HMC) warm-up also adapts the
step size by dual averaging towards ``target_accept`` (default per kernel in
``DEFAULT_TARGET_ACCEPT``) and sampling then uses the averaged step size. Unadjusted Langevin has
no acceptance to aim at: its step size is never adapted (a warning says so if a
``target_accept`` was asked for), and warm-up is plain burn-in.

The energy may be an ``Energy``, any ``nn.Module`` or any callable mapping ``(n_chains, *event)`` to
``(n_chains,)`` energies: it is wrapped once by ``as_energy`` (gradients by autograd, with respect to the
positions only, so a module's parameters are neither changed nor given a ``.grad``).

``compile=True`` runs the steps as compiled programs of ``steps_per_call(kernel, energy)`` steps each (``compiled``:
the kernel's own ``transition``, traced and fused; compiled before the timed phase), ``"auto"``
starts eagerly and swaps to the program when a background thread has compiled it. Warm-up that
adapts the step size, and steps left over after the last whole program call, run eagerly. A failed
compile runs eagerly and says why in ``SampleRun.compile_status``.

Kept positions are copied to the CPU as float32, so a long run of many chains stays bounded in
memory whatever the device. Every per-chain count (acceptance, divergences) covers the sampling
phase only, as do ``elapsed_s`` and ``n_grad_evals``, so that ESS per second and per gradient
compare kernels fairly.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ebm_engine.energies.base import EnergyLike, as_energy
from ebm_engine.samplers.adaptation import DEFAULT_TARGET_ACCEPT, DualAveraging
from ebm_engine.samplers.compiled import MODES, ProgramBuilder, steps_per_call
from ebm_engine.samplers.hmc import HMC
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.mala import MALA
from ebm_engine.samplers.state import SamplerState, StepInfo, check_count, check_positive

KERNELS: dict[str, Callable[[], Any]] = {"langevin": Langevin, "mala": MALA, "hmc": HMC}
"""Kernel classes by name; ``KERNELS["hmc"]()`` builds one with default settings."""

Callback = Callable[[int, SamplerState, StepInfo], None]


@dataclass
class SampleRun:
    """What ``sample`` returns. Tensors are on the CPU; ``final_state`` stays on ``x0``'s device."""

    samples: torch.Tensor        # (n_kept, n_chains, *event_shape) float32, kept after warm-up
    energies: torch.Tensor       # (n_kept, n_chains) float32, energies of the kept positions
    accept_rate: torch.Tensor    # (n_chains,) fraction of accepted steps after warm-up
    step_size: float             # step size used after warm-up (adapted for MH kernels with warm-up)
    divergences: torch.Tensor    # (n_chains,) int64 divergent steps after warm-up
    n_grad_evals: int            # gradient evaluations per chain after warm-up
    elapsed_s: float             # wall time of the sampling phase (after warm-up)
    temperature: float = 1.0
    kernel: str = ""
    warmup: int = 0
    keep_every: int = 1
    final_state: SamplerState | None = field(default=None, repr=False)  # on x0's device, to continue
    compiled_steps: int = 0      # sampling steps that ran as compiled programs
    compile_status: str = "eager"
    compile_s: float = 0.0       # seconds spent compiling (0 when the process had the program already)

    def diagnostics(self) -> dict[str, Any]:
        """ESS, R-hat, acceptance and cost summary: see ``ebm_engine.metrics.diagnostics.summarize``."""
        from ebm_engine.metrics.diagnostics import summarize
        return summarize(self)


def _resolve_kernel(kernel: Any) -> Any:
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")
        return KERNELS[kernel]()
    if not (hasattr(kernel, "init") and hasattr(kernel, "step")):
        raise ValueError(f"kernel must have init() and step() or be one of {sorted(KERNELS)}, got {kernel!r}")
    return kernel


def _sync(device: torch.device) -> None:
    """Wait for queued device work so that wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sample(energy: EnergyLike, x0: torch.Tensor | SamplerState, kernel: Any, n_steps: int, step_size: float,
           temperature: float = 1.0, warmup: int = 0, target_accept: float | None = None,
           generator: torch.Generator | None = None, keep_every: int = 1,
           callback: Callback | None = None, compile: bool | str = False) -> SampleRun:
    """Run ``kernel`` (an instance or a name in ``KERNELS``) from ``x0`` of shape ``(n_chains, *event)``.

    ``n_steps`` sampling steps follow ``warmup`` steps; every ``keep_every``-th sampling step is
    kept (``n_steps // keep_every`` of them). ``x0`` may be a previous run's ``final_state`` on the
    same energy: the run continues from it without evaluating the energy at its start again.
    ``callback(step, state, info)``, if given, is called after every step, warm-up included
    (``step < warmup`` during warm-up). ``energy`` is anything ``as_energy`` takes. ``compile``:
    ``False``, ``True`` or ``"auto"`` (see the module docstring).
    """
    energy = as_energy(energy)
    kernel = _resolve_kernel(kernel)
    n_steps = check_count("n_steps", n_steps, 1)
    warmup = check_count("warmup", warmup, 0)
    keep_every = check_count("keep_every", keep_every, 1)
    if keep_every > n_steps:
        raise ValueError(f"keep_every ({keep_every}) must not exceed n_steps ({n_steps}): nothing would be kept")
    if compile not in MODES:
        raise ValueError(f"compile must be False, True or 'auto', got {compile!r}")
    step_size = check_positive("step_size", step_size)
    temperature = check_positive("temperature", temperature)
    resumed = x0 if isinstance(x0, SamplerState) else None
    x0 = x0 if resumed is None else resumed.x
    if x0.dim() < 1 or x0.shape[0] < 1:
        raise ValueError(f"x0 must have shape (n_chains, *event_shape) with n_chains >= 1, got {tuple(x0.shape)}")

    name = getattr(kernel, "name", type(kernel).__name__.lower())
    adapt = warmup > 0 and getattr(kernel, "metropolis_adjusted", False)
    if adapt:
        target = DEFAULT_TARGET_ACCEPT.get(name, 0.65) if target_accept is None else target_accept
        adaptation = DualAveraging(step_size, target)
    elif target_accept is not None:
        warnings.warn(f"target_accept is ignored: kernel {name!r} is not Metropolis-adjusted "
                      "or warmup is 0, so its step size is not adapted", stacklevel=2)

    device = x0.device
    state = resumed or kernel.init(energy, x0)
    n_chains, event_shape = x0.shape[0], tuple(x0.shape[1:])
    builder = None
    if compile:
        builder = ProgramBuilder(kernel, energy, state, 1 if callback else steps_per_call(kernel, energy),
                                 background=compile == "auto")
        if compile is True and builder.get() is None:
            warnings.warn(f"running eagerly: {builder.status}", RuntimeWarning, stacklevel=2)

    n_kept = n_steps // keep_every
    samples = torch.empty((n_kept, n_chains, *event_shape), dtype=torch.float32)
    energies = torch.empty((n_kept, n_chains), dtype=torch.float32)
    n_accepted = torch.zeros(n_chains, dtype=torch.int64, device=device)
    n_divergent = torch.zeros(n_chains, dtype=torch.int64, device=device)
    counts = {"grad_evals": 0, "compiled": 0, "settled": 0}   # settled: steps where every chain moved

    def run(first: int, n: int, keep: bool, current: float) -> SamplerState:
        """Steps ``first .. first + n - 1`` (numbered as the callback sees them); ``keep``: the sampling phase."""
        nonlocal state
        j = 0
        while j < n:
            compiled = builder.get() if builder is not None and not (adapt and not keep) else None
            if compiled is not None and n - j >= compiled.steps:
                block = compiled.run(state, current, temperature, generator)
                state = block.final_state()
                if keep:
                    n_accepted.add_(block.n_accepted)
                    n_divergent.add_(block.n_divergent)
                    counts["grad_evals"] += compiled.steps * kernel.grad_evals_per_step()
                    counts["compiled"] += compiled.steps
                    first_kept = next((k for k in range(compiled.steps) if (j + k + 1) % keep_every == 0), None)
                    if first_kept is not None:   # the block's kept steps, ``keep_every`` apart
                        kept = slice(first_kept, None, keep_every)
                        row = (j + first_kept + 1) // keep_every - 1
                        n_rows = len(range(compiled.steps)[kept])
                        samples[row:row + n_rows].copy_(block.positions[kept])
                        energies[row:row + n_rows].copy_(block.energies[kept])
                if callback is not None:   # one-step programs when there is a callback
                    callback(first + j, state, StepInfo(block.accepted[0], block.accept_prob[0], block.divergent[0],
                                                        block.energies[0], kernel.grad_evals_per_step()))
                j += compiled.steps
                continue
            state, info = kernel.step(energy, state, current, temperature, generator)
            if adapt and not keep:
                current = adaptation.update(float(info.accept_prob.mean()))
            if keep:
                if info.all_accepted:
                    counts["settled"] += 1
                else:
                    n_accepted.add_(info.accepted)
                    n_divergent.add_(info.divergent)
                counts["grad_evals"] += int(info.n_grad_evals)
                if (j + 1) % keep_every == 0:
                    k = (j + 1) // keep_every - 1
                    samples[k].copy_(state.x)
                    energies[k].copy_(state.energy)
            if callback is not None:
                callback(first + j, state, info)
            j += 1
        return state

    if warmup:
        run(0, warmup, keep=False, current=step_size)
    if adapt:
        step_size = adaptation.final_step_size

    _sync(device)
    start = time.perf_counter()
    run(warmup, n_steps, keep=True, current=step_size)
    n_accepted += counts["settled"]
    _sync(device)
    elapsed = time.perf_counter() - start

    return SampleRun(samples=samples, energies=energies,
                     accept_rate=(n_accepted.double() / n_steps).cpu(), step_size=float(step_size),
                     divergences=n_divergent.cpu(), n_grad_evals=counts["grad_evals"], elapsed_s=elapsed,
                     temperature=temperature, kernel=name, warmup=warmup, keep_every=keep_every,
                     final_state=state, compiled_steps=counts["compiled"],
                     compile_status="eager" if builder is None else builder.status,
                     compile_s=0.0 if builder is None else builder.compile_s)
