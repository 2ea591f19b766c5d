"""The lab's compiled samplers (``sample(..., compile=True)``) against BlackJAX (``jit`` + ``vmap`` + ``scan``).

Targets, float32 on both sides
  banana  the lab's ``Banana()`` (s1 = 1, b = 0.5, s2 = 0.5), written out again in JAX.
  mlp     ``SimpleEBM(2, 256, 2, "silu")`` (2-256-256-1, ``torch.manual_seed(0)``); BlackJAX gets the
          same weights as JAX arrays. ESS means nothing on a random energy: chain-steps/s only, at a
          fixed step size (``MLP_STEP``), and the 4096-chain Langevin rate against the matmul bound.

Samplers, like for like (identity mass, fixed step size, no adaptation)
  hmc       lab ``HMC(n_leapfrog=10, jitter=0.0)``   BlackJAX ``mcmc.hmc.build_kernel()``, 10 steps
  mala      lab ``MALA()``                           BlackJAX ``mcmc.mala.build_kernel()``
  langevin  lab ``Langevin()``                       BlackJAX ``sgmcmc.sgld.build_kernel()`` with the
            full gradient (unadjusted Langevin): both ``x' = x + ε∇log p + sqrt(2ε) ξ``.
  BlackJAX's step size is an argument of its jitted program, as ours is a tensor of our program, so
  neither compiles again across the step-size grid. Both keep every draw (ours on the CPU as
  float32; BlackJAX as the ``scan`` output).

Protocol (banana): 500 burn-in steps, then 2,000 timed steps; for each sampler, library and chain
count, the best ESS/s over a step-size grid among step sizes whose E[x1²] (truth 1) and E[x2]
(truth 0) are within 0.1 of the truth. ESS: bulk, from arviz-stats (``metrics.diagnostics.ess``),
pooled over chains, the minimum over the two coordinates. Two runs per cell, libraries
interleaved; the mean of the two is reported. Compile seconds: ours with an empty inductor cache
(the run's own cache folder: cold) and, in a new process on that cache, warm; BlackJAX's
``jit(...).lower(...).compile()`` in this process. End to end to 1M ESS (1024 chains): compile
(ours warm), plus the 500 burn-in steps, plus 1M / ESS per second of sampling.

What bounds ours where a goal is missed is printed beside it: the program call alone (draws made
ahead), the draws, and the driver's per-call bookkeeping, per step.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "--probe" not in sys.argv:   # a cold inductor cache of this run's own, inherited by the warm probe
    os.environ["EBM_LAB_CACHE"] = tempfile.mkdtemp(prefix="ebm-lab-bench-compiled-")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ebm_engine.energies.penalties import ConstrainedEnergy  # noqa: E402
from ebm_engine.energies.constraints import Ball  # noqa: E402
from ebm_engine.energies.targets import Banana  # noqa: E402
from ebm_engine.metrics.diagnostics import ess  # noqa: E402
from ebm_engine.models import SimpleEBM  # noqa: E402
from ebm_engine.samplers import HMC, MALA, Langevin, sample  # noqa: E402
from ebm_engine.samplers.compiled import ProgramBuilder, program, steps_per_call  # noqa: E402
from cpu_rates import gemm_rate  # noqa: E402
from machine import cpu_model, load_average  # noqa: E402

KERNELS = ("hmc", "mala", "langevin")
CHAINS = (64, 1024, 4096)
GRIDS = {"hmc": (0.1, 0.2, 0.3, 0.4), "mala": (0.1, 0.2, 0.3, 0.4), "langevin": (0.01, 0.02, 0.05, 0.1)}
BURN, DRAWS, L, MLP_STEP, TOL = 500, 2000, 10, 0.01, 0.1
STEP_FLOPS = 2 * 2 * (2 * 256 + 256 * 256 + 256)   # one Langevin chain-step of the MLP: forward + input gradient
GOALS = {64: 0.5, 1024: 1.0, 4096: 1.0}


BANANA = Banana()   # one instance: a program is made per energy object


def lab_kernel(name: str):
    return {"hmc": lambda: HMC(n_leapfrog=L, jitter=0.0), "mala": MALA, "langevin": Langevin}[name]()


def mlp_energy() -> SimpleEBM:
    torch.manual_seed(0)
    return SimpleEBM(2, 256, 2, "silu")


# ---- the lab ---------------------------------------------------------------------------------------
def run_lab(kernel_name: str, energy, x0: torch.Tensor, eps: float, n: int, seed: int) -> dict:
    kernel, g = lab_kernel(kernel_name), torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    burn = sample(energy, x0, kernel, BURN, eps, generator=g, keep_every=BURN, compile=True)
    burn_s = time.perf_counter() - t0 - burn.compile_s
    run = sample(energy, burn.final_state, kernel, n, eps, generator=g, compile=True)
    assert run.compiled_steps == n, run.compile_status
    return {"x": run.samples.numpy(), "s": run.elapsed_s, "burn_s": burn_s, "compile_s": burn.compile_s}


def lab_bounds(kernel_name: str, energy, chains: int, eps: float) -> dict:
    """Per step: the program call alone (draws ready), the draws, and the whole driver."""
    kernel = lab_kernel(kernel_name)
    x = torch.randn(chains, 2, generator=torch.Generator().manual_seed(9))
    k = steps_per_call(kernel, energy)
    prog, state, g = program(kernel, energy, x, k), kernel.init(energy, x), torch.Generator().manual_seed(1)
    draws = kernel.draw(x, g, (k,))

    def per_step(fn, calls=30):
        fn()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) / (calls * k) * 1e6

    return {"program_us": per_step(lambda: prog(state, draws, eps, 1.0)),
            "draws_us": per_step(lambda: kernel.draw(x, g, (k,)))}


def probe(kernel_name: str, energy_name: str, chains: int) -> None:
    """In a new process on the run's cache: seconds until the program is ready, with inductor imported
    first as the lab's engine processes have it (``runtime/engine_preload.py``)."""
    import torch._inductor.compile_fx  # noqa: F401
    energy = BANANA if energy_name == "banana" else mlp_energy()
    kernel = lab_kernel(kernel_name)
    x = torch.randn(chains, 2)
    builder = ProgramBuilder(kernel, energy, kernel.init(energy, x), steps_per_call(kernel, energy), background=False)
    print(json.dumps({"compile_s": builder.compile_s, "status": builder.status}))


def warm_compile_s(kernel_name: str, energy_name: str, chains: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--probe", kernel_name, energy_name, str(chains)],
                         capture_output=True, text=True, env=os.environ, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["compile_s"]


def recompiles_on_knob_changes() -> int:
    """Graphs compiled while the step size, the temperature and a constraint weight move (should be 0)."""
    from torch._dynamo.utils import counters
    energy = ConstrainedEnergy(BANANA, [(Ball((0.0, 0.0), 2.0), 3.0)])
    kernel, x = MALA(), torch.randn(256, 2)
    prog, g = program(kernel, energy, x, 10), torch.Generator().manual_seed(0)
    state = prog.run(kernel.init(energy, x), 0.1, 1.0, g).final_state()
    before = counters["stats"]["unique_graphs"]
    for eps, temperature, weight in ((0.2, 1.0, 3.0), (0.2, 2.0, 3.0), (0.05, 0.5, 30.0), (0.3, 1.0, 0.5)):
        energy.set_weight(0, weight)
        state = prog.run(state, eps, temperature, g).final_state()
    return counters["stats"]["unique_graphs"] - before


# ---- BlackJAX -------------------------------------------------------------------------------------
def jax_target(energy_name: str, torch_mlp: SimpleEBM):
    import jax.numpy as jnp
    if energy_name == "banana":
        def logdensity(x):
            d = x[1] - 0.5 * (x[0] ** 2 - 1.0)
            return -0.5 * x[0] ** 2 - 0.5 * d ** 2 / 0.25
        return logdensity
    w = [(jnp.asarray(m.weight.detach().numpy()), jnp.asarray(m.bias.detach().numpy()))
         for m in torch_mlp.network[::2]]

    def logdensity(x):
        h = x
        for weight, bias in w[:-1]:
            z = weight @ h + bias
            h = z * (1.0 / (1.0 + jnp.exp(-z)))
        return -(w[-1][0] @ h + w[-1][1])[0]
    return logdensity


def blackjax_program(kernel_name: str, logdensity, chains: int, n: int):
    """A jitted ``(key, state, eps) -> (state, positions)`` running ``n`` steps of every chain, and its compile time."""
    import blackjax
    import jax
    import jax.numpy as jnp
    if kernel_name == "hmc":
        k = blackjax.mcmc.hmc.build_kernel()
        step = lambda key, s, eps: k(key, s, logdensity, eps, jnp.ones(2), L)[0]   # noqa: E731
        init = jax.vmap(lambda x: blackjax.mcmc.hmc.init(x, logdensity))
    elif kernel_name == "mala":
        k = blackjax.mcmc.mala.build_kernel()
        step = lambda key, s, eps: k(key, s, logdensity, eps)[0]   # noqa: E731
        init = jax.vmap(lambda x: blackjax.mcmc.mala.init(x, logdensity))
    else:
        k, grad = blackjax.sgmcmc.sgld.build_kernel(), jax.grad(logdensity)
        step = lambda key, x, eps: k(key, x, lambda p, _: grad(p), None, eps)   # noqa: E731
        init = lambda x: x   # noqa: E731
    position = (lambda s: s) if kernel_name == "langevin" else (lambda s: s.position)

    def run(key, state, eps):
        def one(s, key):
            s = jax.vmap(step, in_axes=(0, 0, None))(jax.random.split(key, chains), s, eps)
            return s, position(s)
        return jax.lax.scan(one, state, jax.random.split(key, n))

    x0 = jnp.zeros((chains, 2), jnp.float32)
    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(jax.random.PRNGKey(0), init(x0), jnp.float32(0.1)).compile()
    return compiled, init, time.perf_counter() - t0


def run_blackjax(programs: dict, x0: np.ndarray, eps: float, seed: int) -> dict:
    import jax
    import jax.numpy as jnp
    burn, draws, init = programs["burn"], programs["draws"], programs["init"]
    key = jax.random.PRNGKey(seed)
    t0 = time.perf_counter()
    state, _ = burn(jax.random.fold_in(key, 0), init(jnp.asarray(x0)), jnp.float32(eps))
    jax.block_until_ready(state)
    burn_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, xs = draws(jax.random.fold_in(key, 1), state, jnp.float32(eps))
    xs = jax.block_until_ready(xs)
    return {"x": np.asarray(xs), "s": time.perf_counter() - t0, "burn_s": burn_s}


# ---- the comparison ------------------------------------------------------------------------------
def score(result: dict) -> dict:
    x = result["x"]
    ok = bool(np.isfinite(x).all()) and abs(float((x[..., 0] ** 2).mean()) - 1.0) < TOL \
        and abs(float(x[..., 1].mean())) < TOL
    e = float(ess(x).min()) if np.isfinite(x).all() else 0.0
    return {**result, "ok": ok, "ess_per_s": e / result["s"], "steps_per_s": x.shape[0] * x.shape[1] / result["s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="64 and 1024 chains, two step sizes, one run per cell")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", choices=("banana", "mlp"), help="one of the two energies")
    ap.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe:
        probe(args.probe[0], args.probe[1], int(args.probe[2]))
        return
    import blackjax
    import jax
    chains_list = (64, 1024) if args.quick else CHAINS
    runs = 1 if args.quick else 2
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, torch threads {torch.get_num_threads()}, "
          f"load {load_average()}; torch {torch.__version__}, jax {jax.__version__}, blackjax {blackjax.__version__}")
    print(f"protocol: {BURN} burn-in + {DRAWS} draws, ESS bulk (min over coords), moment tolerance {TOL}, "
          f"{runs} interleaved run(s) per cell; inductor cache {os.environ['TORCHINDUCTOR_CACHE_DIR']}\n")
    mlp = mlp_energy()
    rows, e2e, failures = [], [], []
    for kernel_name in KERNELS if args.only != "mlp" else ():
        for chains in chains_list:
            x0 = BANANA.sample(chains, torch.Generator().manual_seed(chains))
            logdensity = jax_target("banana", mlp)
            bj = {"burn": None, "draws": None}
            bj["burn"], bj["init"], bj_compile_burn = blackjax_program(kernel_name, logdensity, chains, BURN)
            bj["draws"], _, bj_compile = blackjax_program(kernel_name, logdensity, chains, DRAWS)
            grid = GRIDS[kernel_name][1:3] if args.quick else GRIDS[kernel_name]
            cells = {"lab": {}, "blackjax": {}}
            for r in range(runs):
                for eps in grid:
                    order = ("lab", "blackjax") if r % 2 == 0 else ("blackjax", "lab")
                    for lib in order:
                        res = score(run_lab(kernel_name, BANANA, x0, eps, DRAWS, r) if lib == "lab"
                                    else run_blackjax(bj, x0.numpy(), eps, r))
                        cells[lib].setdefault(eps, []).append(res)
            best = {}
            for lib, by_eps in cells.items():
                ok = {eps: rs for eps, rs in by_eps.items() if all(c["ok"] for c in rs)} or by_eps
                eps = max(ok, key=lambda e: np.mean([c["ess_per_s"] for c in ok[e]]))
                rs = ok[eps]
                best[lib] = {"eps": eps, "ess_per_s": np.mean([c["ess_per_s"] for c in rs]),
                             "steps_per_s": np.mean([c["steps_per_s"] for c in rs]),
                             "burn_s": np.mean([c["burn_s"] for c in rs]),
                             "compile_s": max(c.get("compile_s", 0.0) for by in by_eps.values() for c in by)}
            best["blackjax"]["compile_s"] = bj_compile + bj_compile_burn
            ratio = best["lab"]["ess_per_s"] / best["blackjax"]["ess_per_s"]
            bounds = lab_bounds(kernel_name, BANANA, chains, best["lab"]["eps"])
            verdict = "PASS" if ratio >= GOALS[chains] else "FAIL"
            if verdict == "FAIL":
                failures.append(f"{kernel_name} banana {chains}")
            rows.append((kernel_name, "banana", chains, best, ratio, verdict, bounds))
            print(f"{kernel_name:8s} banana {chains:5d}: lab {best['lab']['ess_per_s']:.3g} ESS/s (eps {best['lab']['eps']}), "
                  f"blackjax {best['blackjax']['ess_per_s']:.3g} (eps {best['blackjax']['eps']}): {ratio:.2f}x "
                  f"(goal {GOALS[chains]}x {verdict}); lab per step {1e6 / (best['lab']['steps_per_s'] / chains):.0f} us "
                  f"= program {bounds['program_us']:.0f} + draws {bounds['draws_us']:.0f} + driver; "
                  f"compile cold {best['lab']['compile_s']:.1f} s, blackjax {best['blackjax']['compile_s']:.1f} s",
                  flush=True)
            if chains == 1024:
                warm = warm_compile_s(kernel_name, "banana", chains)
                times = {lib: (warm if lib == "lab" else best[lib]["compile_s"]) + best[lib]["burn_s"]
                         + 1e6 / best[lib]["ess_per_s"] for lib in best}
                e2e.append((kernel_name, warm, times))
                print(f"  end to end to 1M ESS at 1024 chains: lab {times['lab']:.1f} s (warm compile {warm:.1f} s), "
                      f"blackjax {times['blackjax']:.1f} s", flush=True)

    # MLP: chain-steps/s at one step size, the same matrix products on both sides
    mlp_rows = []
    logdensity = jax_target("mlp", mlp)
    for kernel_name in KERNELS if args.only != "banana" else ():
        for chains in chains_list:
            grads = L if kernel_name == "hmc" else 1
            n = max(10, min(400, int(1e11 / (chains * grads * STEP_FLOPS)) // 10 * 10))   # about 100 GFLOP
            x0 = torch.randn(chains, 2, generator=torch.Generator().manual_seed(chains))
            prog, init, bj_compile = blackjax_program(kernel_name, logdensity, chains, n)
            bj = {"burn": prog, "draws": prog, "init": init}
            lab = [score(run_lab(kernel_name, mlp, x0, MLP_STEP, n, r)) for r in range(runs)]
            jx = [score(run_blackjax(bj, x0.numpy(), MLP_STEP, r)) for r in range(runs)]
            lab_rate, bj_rate = np.mean([c["steps_per_s"] for c in lab]), np.mean([c["steps_per_s"] for c in jx])
            mlp_rows.append((kernel_name, chains, lab_rate, bj_rate, max(c["compile_s"] for c in lab), bj_compile))
            print(f"{kernel_name:8s} mlp {chains:5d}: lab {lab_rate:.3g} chain-steps/s, blackjax {bj_rate:.3g}: "
                  f"{lab_rate / bj_rate:.2f}x; compile lab {mlp_rows[-1][4]:.1f} s, blackjax {bj_compile:.1f} s",
                  flush=True)
            if chains == 1024 and kernel_name == "langevin" and lab_rate < bj_rate:
                failures.append("langevin mlp 1024")

    gemm = gemm_rate(4096, 256, 256)
    bound = gemm / STEP_FLOPS
    at_4096 = next((r[2] for r in mlp_rows if r[0] == "langevin" and r[1] == max(chains_list)), None)
    recompiles = recompiles_on_knob_changes()
    if recompiles:
        failures.append("recompiles")

    print("\n| sampler | chains | lab ESS/s (ε) | BlackJAX ESS/s (ε) | lab / BlackJAX | goal | lab µs/step: all = "
          "program + draws + driver | compile s: lab cold / BlackJAX |")
    print("|---|---:|---:|---:|---:|---|---|---|")
    for kernel_name, _, chains, best, ratio, verdict, bounds in rows:
        step_us = 1e6 / (best["lab"]["steps_per_s"] / chains)
        other = step_us - bounds["program_us"] - bounds["draws_us"]
        print(f"| {kernel_name} | {chains} | {best['lab']['ess_per_s']:.3g} ({best['lab']['eps']}) "
              f"| {best['blackjax']['ess_per_s']:.3g} ({best['blackjax']['eps']}) | {ratio:.2f}× "
              f"| ≥{GOALS[chains]}× {verdict} | {step_us:.0f} = {bounds['program_us']:.0f} + {bounds['draws_us']:.0f} "
              f"+ {other:.0f} | {best['lab']['compile_s']:.1f} / {best['blackjax']['compile_s']:.1f} |")
    print("\n| sampler (MLP 2-256-256-1) | chains | lab chain-steps/s | BlackJAX | ratio | compile s: lab cold / BlackJAX |")
    print("|---|---:|---:|---:|---:|---|")
    for kernel_name, chains, lab_rate, bj_rate, lab_c, bj_c in mlp_rows:
        print(f"| {kernel_name} | {chains} | {lab_rate:.3g} | {bj_rate:.3g} | {lab_rate / bj_rate:.2f}× "
              f"| {lab_c:.1f} / {bj_c:.1f} |")
    print("\n| sampler | end to end to 1M ESS at 1024 chains: lab (warm compile) | BlackJAX (with compile) | goal |")
    print("|---|---:|---:|---|")
    for kernel_name, warm, times in e2e:
        ok = "PASS" if times["lab"] <= times["blackjax"] else "FAIL"
        if ok == "FAIL":
            failures.append(f"{kernel_name} end to end")
        print(f"| {kernel_name} | {times['lab']:.1f} s ({warm:.1f} s) | {times['blackjax']:.1f} s | {ok} |")
    if at_4096 is not None:
        print(f"\nmatmul bound, MLP Langevin at {max(chains_list)} chains: GEMM {gemm / 1e9:.1f} GFLOP/s / "
              f"{STEP_FLOPS} FLOP per chain-step = {bound:.3g} chain-steps/s; lab {at_4096:.3g} = {at_4096 / bound:.0%}")
    print(f"graphs compiled while step size, temperature and a constraint weight moved: {recompiles} "
          f"({'PASS' if recompiles == 0 else 'FAIL'})")
    print(f"load {load_average()}; goals missed: {', '.join(failures) or 'none'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
