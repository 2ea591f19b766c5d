"""One compiled path for every kernel: ``K`` steps of a kernel's own ``transition`` as one program.

``program(kernel, energy, like, steps)`` traces ``steps`` consecutive ``transition`` calls (the
kernel's one copy of its algorithm; the eager ``step`` runs the same function) into a single
``torch.compile`` program (inductor, ``fullgraph``, static shapes). Python and kernel-launch
overhead is paid once per call instead of at every operation, and the compiler fuses each step's
element-wise work with the energy's gradient. The randomness of all ``K`` steps is drawn ahead by
the kernel's ``draw`` from the caller's generator and fed in, so the program holds no random state.
Step size and temperature enter as 0-d tensors: moving a knob reuses the program; a new kernel
setting, energy, chain count, dtype or device compiles a new one. Energies enter through
``Energy.traceable_energy_and_grad`` (closed forms, the fused MLP gradient, ``torch.func`` for any
other energy). Accept and divergence flags of every step come back stacked, and summed per chain;
nothing syncs with the host inside a call.

On CUDA the program runs as one CUDA graph: by default the uncompiled program captured as it is
(``backend="cuda_graph"``, the faster of the two in bench/RESULTS.md#gpu), or inductor's code in its
``reduce-overhead`` mode (``backend="inductor"``). Either way one launch per call. Programs are kept per process, and inductor keeps its generated code on disk under the
lab's cache folder, so a new process skips code generation.

``ProgramBuilder`` compiles one program at once or in a background thread (the caller steps eagerly
meanwhile and swaps at a step boundary: the chains carry over). ``CompiledKernel`` gives any kernel
a compiled one-step ``step`` built that way. Where compiling fails (no C++ compiler, an operation
the tracer refuses) they stay eager and say why in ``status``.
"""
from __future__ import annotations

import os
import threading
import time
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.state import Kernel, SamplerState, StepInfo, check_positive

BACKEND = "inductor"   # torch.compile's backend for sample(compile=...) off CUDA
GRADS_PER_CALL = 10   # gradient evaluations per program call in long runs: amortises the call, keeps compiling short
MODES = (False, True, "auto")
MAX_PROGRAMS = 64
BACKGROUND_DELAY_S = 0.5   # a background compile starts this long after the first eager step
SMALL_WEIGHTS = 10_000   # energies with fewer weights than this get inductor's C++ wrapper

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(
    Path(os.environ.get("EBM_LAB_CACHE") or Path.home() / ".cache" / "ebm-lab") / "inductor"))


class TracedEnergy:
    """An energy as a program sees it: ``energy_and_grad`` by ``traceable_energy_and_grad``."""

    def __init__(self, energy: Energy):
        self.energy = energy

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.energy.traceable_energy_and_grad(x)

    def hard_projection(self):
        return self.energy.hard_projection()


def chain_steps(kernel: Kernel, energy, steps: int) -> Callable:
    """The pure function of ``steps`` transitions that a program compiles, with a code object of its own:
    the compiler keeps its compiled entries per code object, so each program has one, checked alone."""
    def run(x, e, g, draws, step_size, temperature):
        state, moves = SamplerState(x, e, g), []
        for k in range(steps):
            state, info = kernel.transition(energy, state, tuple(d[k] for d in draws), step_size, temperature)
            moves.append((state.x, state.energy, info.accepted, info.accept_prob, info.divergent))
        positions, energies, accepted, accept_prob, divergent = (torch.stack(t) for t in zip(*moves))
        return positions, energies, state.grad, accepted, accept_prob, divergent, accepted.sum(0), divergent.sum(0)
    return types.FunctionType(run.__code__.replace(), run.__globals__, run.__name__, None, run.__closure__)


@dataclass
class Block:
    """What one program call returns: every step's positions, energies and flags, stacked ``(K, n_chains, …)``."""

    positions: torch.Tensor
    energies: torch.Tensor
    grad: torch.Tensor          # the gradient at the last positions
    accepted: torch.Tensor
    accept_prob: torch.Tensor
    divergent: torch.Tensor
    n_accepted: torch.Tensor    # per chain, summed over the block's steps inside the program
    n_divergent: torch.Tensor

    def final_state(self) -> SamplerState:
        return SamplerState(self.positions[-1], self.energies[-1], self.grad)


def default_backend(device: torch.device) -> str:
    """``"cuda_graph"`` on CUDA, ``BACKEND`` elsewhere."""
    return "cuda_graph" if device.type == "cuda" else BACKEND


class CudaGraphProgram:
    """``fn(x, e, g, draws, step_size, temperature)`` captured as one CUDA graph at its first call, then replayed.

    A call copies its inputs into the graph's buffers, replays it and returns copies of its outputs (the
    next replay overwrites them). Module weights are read from their memory at every replay, so
    in-place optimiser updates are seen; the draws are inputs, so the graph holds no random state.
    """

    def __init__(self, fn: Callable, warmup: int = 3):
        self.fn, self.warmup, self.graph = fn, warmup, None

    def _capture(self, values: list[torch.Tensor], n_draws: int) -> None:
        self.inputs = [t.detach().clone() for t in values]
        run = lambda: self.fn(*self.inputs[:3], tuple(self.inputs[3:3 + n_draws]), *self.inputs[3 + n_draws:])  # noqa: E731
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):   # warm-up outside the capture (allocator, lazy initialisation)
            for _ in range(self.warmup):
                run()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = run()

    def __call__(self, x, e, g, draws, step_size, temperature) -> tuple[torch.Tensor, ...]:
        values = [x, e, g, *draws, step_size, temperature]
        if self.graph is None:
            self._capture(values, len(draws))
        for static, value in zip(self.inputs, values):
            static.copy_(value)
        self.graph.replay()
        return tuple(t.clone() for t in self.outputs)


class ChainProgram:
    """``steps`` transitions of a kernel on an energy, for one chain shape, dtype and device."""

    def __init__(self, kernel: Kernel, energy: Energy, like: torch.Tensor, steps: int, backend: str | Callable):
        self.kernel, self.steps = kernel, steps
        self.graphs = like.is_cuda and backend == "inductor"
        fn = chain_steps(kernel, energy if backend == "eager" else TracedEnergy(energy), steps)
        if backend == "eager":
            self.fn = fn
        elif backend == "cuda_graph":
            self.fn = CudaGraphProgram(fn)
        else:
            # inductor's C++ wrapper halves the call's own cost (what small programs are made of) but its calls
            # to matrix products are slower (an MLP gradient at 4096 chains: 14.5 against 10 ms): only for
            # energies without large weights
            self.fn = torch.compile(fn, fullgraph=True, dynamic=False, backend=backend,
                                    mode="reduce-overhead" if self.graphs else None,
                                    options={"cpp_wrapper": True} if backend == "inductor" and small_energy(energy)
                                    and not self.graphs else None)
        self._knobs: tuple | None = None
        self.ready = False   # True once a call has run (compiled, for a compiler backend)

    def knob_tensors(self, step_size: float, temperature: float, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The knobs as 0-d tensors on the chains' device, made again only when a value changed."""
        key = (float(step_size), float(temperature))
        if self._knobs is None or self._knobs[0] != key:
            self._knobs = key, tuple(torch.tensor(v, device=like.device, dtype=like.dtype) for v in key)
        return self._knobs[1]

    def __call__(self, state: SamplerState, draws: tuple[torch.Tensor, ...], step_size: float,
                 temperature: float) -> Block:
        knobs = self.knob_tensors(step_size, temperature, state.x)
        with torch.no_grad():   # no autograd bookkeeping around the call (gradients inside come from torch.func)
            if self.graphs:   # a replay overwrites the graph's outputs: copy them out
                torch.compiler.cudagraph_mark_step_begin()
                return Block(*(t.clone() for t in self.fn(state.x, state.energy, state.grad, draws, *knobs)))
            return Block(*self.fn(state.x, state.energy, state.grad, draws, *knobs))

    def run(self, state: SamplerState, step_size: float, temperature: float,
            generator: torch.Generator | None) -> Block:
        """``steps`` steps from ``state`` with fresh draws from ``generator``."""
        return self(state, self.kernel.draw(state.x, generator, (self.steps,)), step_size, temperature)


_programs: OrderedDict[tuple, tuple[weakref.ref, ChainProgram]] = OrderedDict()
_programs_lock = threading.Lock()


def program(kernel: Kernel, energy: Energy, like: torch.Tensor, steps: int,
            backend: str | Callable = "inductor", create: bool = True) -> ChainProgram | None:
    """The process's program for this kernel's settings, energy, chain shape and ``steps`` (made when new;
    ``create=False``: ``None`` unless there is one)."""
    key = (kernel.settings(), id(energy), steps, tuple(like.shape), like.dtype, like.device, backend)
    with _programs_lock:
        found = _programs.get(key)
        if found is None or found[0]() is not energy:
            if not create:
                return None
            found = (weakref.ref(energy), ChainProgram(kernel, energy, like, steps, backend))
            _programs[key] = found
            if len(_programs) > MAX_PROGRAMS:
                _programs.popitem(last=False)
        _programs.move_to_end(key)
        return found[1]


class ProgramBuilder:
    """A program compiled now (``background=False``) or in a thread; ``get()`` is ``None`` until it is ready.

    Compiling means calling the program once on a copy of the chains and throwaway draws, so the
    caller's chains and random stream are untouched. ``status``: ``"compiling"``, ``"compiled"`` or
    ``"eager: <why compiling failed>"``; ``compile_s`` is how long it took.
    """

    def __init__(self, kernel: Kernel, energy: Energy, state: SamplerState, steps: int,
                 backend: str | Callable | None = None, background: bool = True):
        backend = default_backend(state.x.device) if backend is None else backend
        self.status, self.compile_s = "compiling", 0.0
        self._program: ChainProgram | None = None
        known = program(kernel, energy, state.x, steps, backend, create=False)
        if known is not None and known.ready:   # compiled before in this process: at once
            self._program, self.status = known, "compiled"
            return
        example = SamplerState(state.x.detach().clone(), state.energy.clone(), state.grad.clone())
        build = lambda: self._build(kernel, energy, example, steps, backend)   # noqa: E731
        if background:   # a moment after the first steps, so that the first frames are not slowed
            thread = threading.Timer(BACKGROUND_DELAY_S, build)
            thread.daemon, thread.name = True, "compile-chains"
            thread.start()
        else:
            build()

    def _build(self, kernel, energy, example, steps, backend) -> None:
        start = time.perf_counter()
        try:
            candidate = program(kernel, energy, example.x, steps, backend)
            generator = torch.Generator(device=example.x.device).manual_seed(0)
            candidate.run(example, 0.01, 1.0, generator)
            candidate.ready = True
        except Exception as exc:   # no C++ compiler, an operation the tracer refuses, ...
            while (inner := getattr(exc, "inner_exception", None) or exc.__cause__) is not None:
                exc = inner   # the compiler's own error, not the wrapper's
            why = (str(exc).strip().splitlines() or [""])[0][:160]
            self.status = f"eager: compiling failed ({type(exc).__name__}: {why})"
            return
        self.compile_s = time.perf_counter() - start
        self._program, self.status = candidate, "compiled"

    def get(self) -> ChainProgram | None:
        return self._program


def small_energy(energy: Energy) -> bool:
    """Does the energy have few weights (a closed form, a small net)? Then a program is bound by its calls."""
    return sum(p.numel() for p in energy.parameters()) < SMALL_WEIGHTS


def steps_per_call(kernel: Kernel, energy: Energy) -> int:
    """Steps per program call in long runs: two, so that the call's own cost (some 40 µs on a CPU) is shared;
    for a small energy about ``GRADS_PER_CALL`` gradients. A large energy's steps stay few: each step's
    activations are fresh memory in an unrolled program (an MLP at 4096 chains ran 25-45% slower at 10)."""
    if not small_energy(energy):
        return 2
    return max(2, GRADS_PER_CALL // kernel.grad_evals_per_step())


def for_pages(kernel: Kernel) -> Kernel:
    """The kernel as the lab's pages run it: compiled in the background (``CompiledKernel``), or the plain
    eager kernel where ``EBM_LAB_COMPILE=off``."""
    return kernel if os.environ.get("EBM_LAB_COMPILE", "auto") == "off" else CompiledKernel(kernel)


def path_of(kernels: list[Kernel]) -> str:
    """How chains step: ``"compiled"`` when every kernel runs its program, else the first other status."""
    statuses = [getattr(k, "status", "eager") for k in kernels]
    return next((s for s in statuses if s != "compiled"), "compiled")


class CompiledKernel(Kernel):
    """``kernel`` whose ``step`` runs as a compiled one-step program once one is ready for the energy and chains.

    ``background=True`` (the lab's pages) steps eagerly at once while the program compiles in a
    thread; ``False`` compiles at the first step. ``status`` says which path the last step took.
    """

    def __init__(self, kernel: Kernel, background: bool = True, backend: str | Callable | None = None):
        self.kernel, self.background, self.backend = kernel, background, backend   # None: default_backend
        self.name, self.metropolis_adjusted = kernel.name, kernel.metropolis_adjusted
        self._key: tuple | None = None
        self._builder: ProgramBuilder | None = None

    @property
    def status(self) -> str:
        return "eager" if self._builder is None else self._builder.status

    def settings(self) -> tuple:
        return self.kernel.settings()

    def grad_evals_per_step(self) -> int:
        return self.kernel.grad_evals_per_step()

    def init(self, energy: Energy, x: torch.Tensor) -> SamplerState:
        return self.kernel.init(energy, x)

    def draw(self, like, generator, steps=()):
        return self.kernel.draw(like, generator, steps)

    def transition(self, energy, state, draws, step_size, temperature):
        return self.kernel.transition(energy, state, draws, step_size, temperature)

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        key = (energy, tuple(state.x.shape), state.x.dtype, state.x.device)
        if self._key is None or key[0] is not self._key[0] or key[1:] != self._key[1:]:
            self._key = key
            self._builder = ProgramBuilder(self.kernel, energy, state, 1, self.backend, self.background)
        compiled = self._builder.get()
        if compiled is None:
            return self.kernel.step(energy, state, step_size, temperature, generator)
        block = compiled.run(state, check_positive("step_size", step_size),
                             check_positive("temperature", temperature), generator)
        info = StepInfo(accepted=block.accepted[0], accept_prob=block.accept_prob[0], divergent=block.divergent[0],
                        energy=block.energies[0], n_grad_evals=self.kernel.grad_evals_per_step())
        return block.final_state(), info
