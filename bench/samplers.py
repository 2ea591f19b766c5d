"""Chain-steps/s and ESS/s of the lab's Langevin and HMC against torchebm, on the same energies.

Energies
  mlp     ``SimpleEBM(2, 256, 2, "silu")`` (2-256-256-1, SiLU), random init with ``torch.manual_seed(0)``.
          ESS means nothing for a random energy: only chain-steps/s is reported, at a fixed step
          size (``MLP_STEP``) for both libraries.
  banana  ``ebm_engine.energies.targets.Banana()``. Every sampler runs a small step-size grid and
          is reported at its own best step size = highest ESS/s (min over dimensions of the bulk
          ESS, pooled over chains, from ``ebm_engine.metrics.diagnostics.ess``, i.e. arviz-stats,
          applied to both libraries' draws). Guard: a step size only competes if its draws are
          finite and E[x1²] (true value 1) and E[x2] (true value 0) are within ``MOMENT_TOL`` = 0.2
          of the truth; this drops unadjusted-Langevin step sizes at which chains diverge or are
          grossly biased (the ESS of a diverging chain is meaningless). Excluded points are printed.

Samplers, like for like
  ours      ``ebm_engine.samplers.sample`` with ``Langevin()`` or ``HMC(n_leapfrog=L, jitter=0.0)``
            (fixed step, no dual averaging: ``warmup=0``; burn-in is a separate, untimed call).
  torchebm  ``LangevinDynamics(model, step_size=eps, noise_scale=1.0)`` and
            ``HamiltonianMonteCarlo(model, step_size=eps, n_leapfrog_steps=L)``, identity mass.
  The energy is handed to torchebm wrapped in a ``torchebm.core.BaseModel`` whose ``forward`` calls
  the very same ``Energy`` module, so both libraries evaluate the same function; torchebm
  differentiates it with its own ``BaseModel.gradient`` (autograd). Ours calls the energy's own
  ``energy_and_grad``, which is part of what is measured: the closed form for banana
  (``Target._closed_form``) and a hand-written backward pass for the MLP (``MLPGradient``: one
  GEMM per layer on ``[Wᵀ; b]``, reused buffers); both equal autograd's values (tests/energies,
  tests/models).

Step-size mapping (read from torchebm 0.8.x source)
  torchebm Langevin = ``EulerMaruyamaIntegrator`` with drift ``-∇U`` and diffusion ``D = noise_scale²``:
      x' = x - h ∇U(x) + sqrt(2 D h) ξ = x - h ∇U(x) + noise_scale · sqrt(2h) ξ
  ours:  x' = x - ε ∇E(x)/T + sqrt(2ε) ξ.
  So with ``noise_scale=1`` and ``T=1`` the two are the same update with ``h = ε``: same step size,
  same (ULA-biased) stationary distribution. HMC: both use the standard leapfrog with identity
  mass, ``H = U + |p|²/2``; the same ``ε`` and ``L`` give the same transition kernel (torchebm
  clamps forces at 1e6 and ΔH at ±50, which never binds here). torchebm evaluates the force at both
  ends of every leapfrog step and the energy twice per transition (2L gradients + 2 energies per
  step); ours reuses the cached gradient (L gradients per step).

Timing
  ``time.perf_counter`` around each library's public ``sample`` call only (its own set-up included,
  burn-in excluded), both keeping every draw (ours copies to a CPU float32 buffer, torchebm writes
  its ``return_trajectory`` buffer). The two libraries' runs are interleaved (ours/torchebm, then
  torchebm/ours, ...) so both see the same machine state. Every reported configuration is timed 3
  times; medians of chain-steps/s and of ESS/s. ``torch.set_num_threads(--threads)`` (default: all
  cores). Only an idle machine gives meaningful numbers: on 2 cores, another process holding a core
  slows 2-thread torch down several times (the GEMM rate is measured at the start and the end, and a
  change of more than 20% prints a warning).

Matmul bound (4096 chains, Langevin, MLP)
  GEMM FLOPs of one forward pass per chain: F = 2·(2·256 + 256·256 + 256·1) = 132,608.
  The input gradient needs only the input-gradient GEMMs (no weight gradients: true of autograd,
  checked with torch.profiler, and of the hand-written pass), which cost the same as the forward
  ones: one Langevin chain-step = 2F =
  265,216 FLOPs. The rougher "3× forward" rule (which would include weight gradients) is printed
  too; the goal is judged against the stricter 2F bound. GEMM rate: the sustained rate of
  ``addmm`` at the MLP's hidden shape (4096×256 · 256×256, the GEMM that dominates), the better of
  a measurement at the start and one at the end of the run (a 2048³ GEMM is printed for reference).
  Bound: max chain-steps/s = GEMM rate / FLOPs per chain-step. For context the script also times
  ``energy_and_grad`` alone (no sampler around it, same chains, same number of calls, in the same
  interleaved rounds) for the MLP at 64 and 4096 chains and banana at 64: the ceiling of any
  sampler that takes one such gradient per step.
  It also times the activation work alone (SiLU forward and ``silu_backward`` on both 4096×256
  hidden layers, torch's own kernels) and prints the share of the bound a step would reach if it
  were made of the ideal GEMM time plus that and nothing else: the ceiling set by the activation.

    .venv/bin/python bench/samplers.py            # full run (~2.5 min on 2 idle cores)
    .venv/bin/python bench/samplers.py --quick    # 64 and 4096 chains, 3-point grids, half the steps (~1 min)
    .venv/bin/python bench/samplers.py --compile   # ours through sample(..., compile=True)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ebm_engine.energies.targets import Banana  # noqa: E402
from ebm_engine.metrics.diagnostics import ess  # noqa: E402
from ebm_engine.models import SimpleEBM  # noqa: E402
from ebm_engine.samplers import HMC, Langevin, sample  # noqa: E402
from cpu_rates import gemm_rate, silu_seconds
from machine import cpu_model

try:
    import torchebm  # noqa: E402
    from torchebm.core import BaseModel  # noqa: E402
    from torchebm.samplers import HamiltonianMonteCarlo, LangevinDynamics  # noqa: E402
except ImportError as err:  # pragma: no cover - depends on the optional "bench" extra
    sys.exit(f"torchebm is needed: pip install -e '.[bench]' ({err})")

CHAINS = (64, 512, 4096)
N_LEAPFROG = 10
MLP_STEP = 0.01
GRIDS = {"langevin": (0.005, 0.01, 0.02, 0.05, 0.1), "hmc": (0.1, 0.2, 0.3, 0.4, 0.5)}
QUICK_GRIDS = {"langevin": (0.02, 0.05, 0.1), "hmc": (0.2, 0.3, 0.4)}
REPEATS = 3
LIBS = ("ours", "torchebm")
GRAD_ONLY_AT = {("mlp", 64), ("banana", 64), ("mlp", 4096)}   # bare energy_and_grad timed in these rounds
MOMENT_TOL = 0.2   # banana: E[x1^2] = 1 and E[x2] = 0; a grid step size further off than this is excluded
MLP_STEPS = {"langevin": {64: 400, 512: 150, 4096: 40},   # timed steps per MLP run (~0.2-1 s each)
             "hmc": {64: 40, 512: 15, 4096: 5}}
HIDDEN = 256
FWD_FLOPS = 2 * (2 * HIDDEN + HIDDEN * HIDDEN + HIDDEN * 1)   # GEMM FLOPs of one forward, per chain
STEP_FLOPS = 2 * FWD_FLOPS                                    # + input-gradient GEMMs (same FLOPs)
STEP_FLOPS_3X = 3 * FWD_FLOPS                                 # the "3x forward" convention


class TorchEBMEnergy(BaseModel):
    """torchebm model whose energy is exactly our ``Energy`` module (same forward, same arithmetic)."""

    def __init__(self, energy: torch.nn.Module):
        super().__init__()
        self.inner = energy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


@dataclass
class Cell:
    """One (energy, chains, sampler, library) configuration at one step size."""

    step: float
    times: list[float] = field(default_factory=list)
    ess: list[float] = field(default_factory=list)
    n_steps: int = 0
    chains: int = 0
    detail: str = ""
    stable: bool = True

    @property
    def steps_per_s(self) -> float:
        return self.chains * self.n_steps / statistics.median(self.times)

    @property
    def ess_per_s(self) -> float | None:
        if not self.ess:
            return None
        return statistics.median(e / t for e, t in zip(self.ess, self.times))


def n_steps_for(energy: str, kernel: str, chains: int, quick: bool) -> tuple[int, int]:
    """(timed steps, burn-in steps): enough draws for ESS on banana, ~0.2-1.5 s per MLP timing."""
    if energy == "banana":
        n, burn = (800, 200) if kernel == "langevin" else (200, 50)
        if quick:
            n, burn = n // 2, burn // 2
        return n, burn
    n = MLP_STEPS[kernel][chains]
    return (max(5, n // 2) if quick else n), 5


COMPILE = False   # --compile


def run_ours(kernel: str, energy, x0: torch.Tensor, step: float, n: int, burn: int, seed: int):
    k = Langevin() if kernel == "langevin" else HMC(n_leapfrog=N_LEAPFROG, jitter=0.0)
    gen = torch.Generator().manual_seed(seed)
    x = x0
    if burn:
        x = sample(energy, x, k, burn, step, generator=gen, keep_every=burn,
                   compile=COMPILE).final_state   # continued below
    t0 = time.perf_counter()
    run = sample(energy, x, k, n, step, generator=gen, compile=COMPILE)
    elapsed = time.perf_counter() - t0
    bad = (~torch.isfinite(run.samples)).any().item()
    acc = float(run.accept_rate.mean())
    return run.samples, elapsed, acc, bad


def run_torchebm(kernel: str, model, x0: torch.Tensor, step: float, n: int, burn: int, seed: int):
    if kernel == "langevin":
        s = LangevinDynamics(model, step_size=step, noise_scale=1.0)
    else:
        s = HamiltonianMonteCarlo(model, step_size=step, n_leapfrog_steps=N_LEAPFROG)
    gen = torch.Generator().manual_seed(seed)
    x = x0
    if burn:
        x = s.sample(x=x, n_steps=burn, generator=gen)
    t0 = time.perf_counter()
    traj = s.sample(x=x, n_steps=n, return_trajectory=True, generator=gen)
    elapsed = time.perf_counter() - t0
    draws = traj.permute(1, 0, 2).contiguous()                # (n_draws, n_chains, dim), like ours
    bad = (~torch.isfinite(draws)).any().item()
    moved = (draws[1:] != draws[:-1]).any(dim=2).float().mean().item()  # acceptance proxy
    return draws, elapsed, moved, bad


def time_grad_only(energy, x0: torch.Tensor, n: int) -> float:
    """Seconds for ``n`` calls of ``energy.energy_and_grad`` alone (no sampler around it)."""
    energy.energy_and_grad(x0)
    t0 = time.perf_counter()
    for _ in range(n):
        energy.energy_and_grad(x0)
    return time.perf_counter() - t0


def measure(kernel: str, energy_name: str, energy, model, x0, steps: dict[str, float], n: int, burn: int,
            repeats: int, seed: int, grad_only: bool = False) -> dict[str, Cell]:
    """Time both libraries ``repeats`` times, interleaved (ours/torchebm, then torchebm/ours, ...)
    so that both see the same machine state; on banana also the ESS of every run. With
    ``grad_only``, ``n`` bare ``energy_and_grad`` calls are timed in the same rounds (cell "grad")."""
    cells = {lib: Cell(step=steps[lib], n_steps=n, chains=x0.shape[0]) for lib in LIBS}
    if grad_only:
        cells["grad"] = Cell(step=0.0, n_steps=n, chains=x0.shape[0])
    for r in range(repeats):
        if grad_only:
            cells["grad"].times.append(time_grad_only(energy, x0, n))
        for lib in (LIBS if r % 2 == 0 else LIBS[::-1]):
            cell = cells[lib]
            fn = run_ours if lib == "ours" else run_torchebm
            draws, elapsed, acc, bad = fn(kernel, energy if lib == "ours" else model, x0, cell.step, n, burn,
                                          seed + r)
            cell.times.append(elapsed)
            if energy_name != "banana":
                continue
            cell.ess.append(float(ess(draws, "bulk").min()) if not bad else 0.0)
            if r == 0:
                x = draws.reshape(-1, 2).double()
                m1, m2 = float((x[:, 0] ** 2).mean()), float(x[:, 1].mean())
                cell.stable = not bad and abs(m1 - 1.0) <= MOMENT_TOL and abs(m2) <= MOMENT_TOL
                cell.detail = (f"acc={acc:.2f} E[x1^2]={m1:.3g} E[x2]={m2:+.3g}"
                               f"{' NONFINITE' if bad else ''}{'' if cell.stable else '  (excluded: unstable/biased)'}")
    return cells




def fmt(v: float | None, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads")
    ap.add_argument("--quick", action="store_true", help="smaller grids, fewer steps and chain counts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compile", action="store_true",
                    help="ours runs sample(..., compile=True): one compiled program per few steps, with the "
                         "MLP's fused gradient (compiled in the untimed burn-in, time printed)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    chains_list = (64, 4096) if args.quick else CHAINS
    grids = QUICK_GRIDS if args.quick else GRIDS
    t_start = time.perf_counter()

    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, threads={torch.get_num_threads()}, "
          f"load avg {os.getloadavg()[0]:.2f}")
    print(f"torch {torch.__version__}, torchebm {torchebm.__version__}, python {platform.python_version()}")
    print(f"HMC: n_leapfrog={N_LEAPFROG}, ours jitter=0; MLP step size {MLP_STEP}; "
          f"banana grids {grids}; {REPEATS} timings per reported config (median)\n")

    torch.manual_seed(args.seed)
    energies = {"mlp": SimpleEBM(2, HIDDEN, 2, "silu"), "banana": Banana()}
    models = {name: TorchEBMEnergy(e) for name, e in energies.items()}
    global COMPILE
    COMPILE = args.compile
    print("ours: " + ("sample(..., compile=True), programs compiled during the untimed burn-in\n" if COMPILE
                      else "eager (the MLP by its hand-written backward pass, MLPGradient)\n"))

    rate_start = gemm_rate(4096, HIDDEN, HIDDEN)
    rows = []
    grad_only: dict[tuple[str, int], float] = {}
    for energy_name in ("mlp", "banana"):
        energy, model = energies[energy_name], models[energy_name]
        for chains in chains_list:
            gen = torch.Generator().manual_seed(args.seed + chains)
            if energy_name == "banana":
                x0 = energy.sample(chains, gen)                 # start in the typical set
            else:
                x0 = torch.randn(chains, 2, generator=gen)
            for kernel in ("langevin", "hmc"):
                n, burn = n_steps_for(energy_name, kernel, chains, args.quick)
                want_grad = kernel == "langevin" and (energy_name, chains) in GRAD_ONLY_AT
                if energy_name == "mlp":
                    best = measure(kernel, energy_name, energy, model, x0, {lib: MLP_STEP for lib in LIBS},
                                   n, burn, REPEATS, args.seed, grad_only=want_grad)
                else:
                    grid = [measure(kernel, energy_name, energy, model, x0, {lib: eps for lib in LIBS},
                                    n, burn, 1, args.seed) for eps in grids[kernel]]
                    best = {}
                    for lib in LIBS:
                        cells = [g[lib] for g in grid]
                        for c in cells:
                            print(f"  grid {energy_name:6s} {chains:5d} {kernel:8s} {lib:8s} eps={c.step:<6g} "
                                  f"steps/s={c.steps_per_s:9.4g} ESS/s={c.ess_per_s:9.4g}  {c.detail}")
                        stable = [c for c in cells if c.stable] or cells
                        best[lib] = max(stable, key=lambda c: c.ess_per_s)
                    more = measure(kernel, energy_name, energy, model, x0, {lib: best[lib].step for lib in LIBS},
                                   n, burn, REPEATS - 1, args.seed + 1, grad_only=want_grad)
                    if want_grad:
                        best["grad"] = more["grad"]
                    for lib in LIBS:
                        best[lib].times += more[lib].times
                        best[lib].ess += more[lib].ess
                if want_grad:
                    grad_only[(energy_name, chains)] = best["grad"].steps_per_s
                o, t = best["ours"], best["torchebm"]
                step = f"{o.step:g}" if o.step == t.step else f"{o.step:g}/{t.step:g}"
                rows.append((energy_name, chains, kernel, step, o.steps_per_s, t.steps_per_s,
                             o.ess_per_s, t.ess_per_s))
                print(f"{energy_name:6s} {chains:5d} {kernel:8s} eps={step:10s} ours {o.steps_per_s:10.4g} "
                      f"torchebm {t.steps_per_s:10.4g} chain-steps/s ({ratio(o.steps_per_s, t.steps_per_s)})"
                      f"  n={n} [{time.perf_counter() - t_start:.0f}s]", flush=True)

    # ---- matmul bound ------------------------------------------------------------------------
    rate_end = gemm_rate(4096, HIDDEN, HIDDEN)
    rate_mlp = max(rate_start, rate_end)   # the stricter bound: the better of the two measurements
    rate_big = gemm_rate(2048, 2048, 2048, bias=False)
    big = max(chains_list)
    t_silu = silu_seconds(big, HIDDEN)
    bound = rate_mlp / STEP_FLOPS
    bound_3x = rate_mlp / STEP_FLOPS_3X
    ours_4096 = next((r[4] for r in rows if r[0] == "mlp" and r[1] == big and r[2] == "langevin"))

    # ---- table ---------------------------------------------------------------------------------
    print("\n| energy | chains | sampler | step size (ours/torchebm) | ours chain-steps/s | torchebm chain-steps/s "
          "| ratio | ours ESS/s | torchebm ESS/s | ratio |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for energy_name, chains, kernel, step, os_, ts, oe, te in rows:
        print(f"| {energy_name} | {chains} | {kernel} | {step} | {os_:,.0f} | {ts:,.0f} | {ratio(os_, ts)} "
              f"| {fmt(oe, ',.0f')} | {fmt(te, ',.0f')} | {ratio(oe, te)} |")
    print(f"\nMLP: ESS is not reported (random energy); chain-steps/s at the fixed step size {MLP_STEP}. "
          f"An HMC chain-step is one transition of {N_LEAPFROG} leapfrog steps.")
    print(f"GEMM rate: addmm 4096x{HIDDEN}x{HIDDEN} {rate_mlp / 1e9:.1f} GFLOP/s (start {rate_start / 1e9:.1f}, "
          f"end {rate_end / 1e9:.1f}; 2048^3 mm: {rate_big / 1e9:.1f} GFLOP/s)")
    if abs(rate_start - rate_end) > 0.2 * rate_mlp:
        print("WARNING: the GEMM rate changed by >20% during the run: the machine was busy; rerun when idle")
    print(f"FLOPs per Langevin chain-step on the MLP: 2F = 2*2*(2*{HIDDEN} + {HIDDEN}*{HIDDEN} + {HIDDEN}) "
          f"= {STEP_FLOPS:,} (3F convention: {STEP_FLOPS_3X:,})")
    print(f"max chain-steps/s = GEMM rate / FLOPs per chain-step = {bound:,.0f} (3F: {bound_3x:,.0f}); "
          f"ours at {max(chains_list)} chains: {ours_4096:,.0f} = {ours_4096 / bound:.0%} of the bound "
          f"({ours_4096 / bound_3x:.0%} of the 3F bound)")
    print(f"energy_and_grad alone (no sampler) at {big} chains, MLP: {grad_only[('mlp', big)]:,.0f} chain-steps/s "
          f"= {grad_only[('mlp', big)] / bound:.0%} of the bound; ours reaches "
          f"{ours_4096 / grad_only[('mlp', big)]:.0%} of it")
    t_gemms = big * STEP_FLOPS / rate_mlp
    print(f"SiLU forward + derivative on both hidden layers at {big} chains: {t_silu * 1e3:.2f} ms per step "
          f"against {t_gemms * 1e3:.2f} ms of ideal GEMM time: a step made of nothing else would reach "
          f"{t_gemms / (t_gemms + t_silu):.0%} of the bound")

    # ---- goals ---------------------------------------------------------------------------------
    print("\nGoals")
    for energy_name in ("mlp", "banana"):
        r = next(r for r in rows if r[0] == energy_name and r[1] == 64 and r[2] == "langevin")
        f = r[4] / r[5]
        ceiling = grad_only[(energy_name, 64)] / r[5]
        print(f"  [{'PASS' if f >= 2 else 'FAIL'}] 64 chains, {energy_name}: ours Langevin >= 2x torchebm "
              f"chain-steps/s: {f:.2f}x ({r[4]:,.0f} vs {r[5]:,.0f}); a sampler with zero overhead around "
              f"energy_and_grad would reach {ceiling:.2f}x")
    frac = ours_4096 / bound
    print(f"  [{'PASS' if frac >= 0.85 else 'FAIL'}] {big} chains, MLP Langevin >= 85% of the matmul "
          f"bound: {frac:.0%} ({ours_4096:,.0f} of {bound:,.0f} chain-steps/s; {ours_4096 / bound_3x:.0%} "
          f"of the 3F bound)")
    for r in rows:
        if r[0] == "banana" and r[2] == "hmc":
            f = r[6] / r[7] if r[7] else float("inf")
            print(f"  [{'PASS' if f >= 2 else 'FAIL'}] {r[1]} chains, banana: ours HMC ESS/s >= 2x torchebm: "
                  f"{f:.2f}x ({r[6]:,.0f} vs {r[7]:,.0f})")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s, load avg now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
