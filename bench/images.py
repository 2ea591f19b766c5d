"""Sample quality of the lab's image EBMs on 8×8 digits against a naive recipe and real digits.

Recipes (CPU, fixed seeds, ``ConvEBM(width=32, depth=1, swish)`` for every EBM, batch 128)
  lab ConvEBM      ``image_cd_trainer`` with ``lab_image_config()``: replay buffer of 10000 chains (5%
                   re-initialised from uniform noise), 20 SGLD steps of step size 1.0 and noise 0.01,
                   chains clamped to [0, 1], L2 energy penalty 0.1, gradient clipping, divergence guard.
                   Scored on two sample sets: 500 replay-buffer chains ("buffer"), and 500 fresh chains
                   run 60 steps from uniform noise with the same step size and noise ("from noise").
  EBM + generator  ``EBMGeneratorTrainer`` at its defaults: 10 refinement steps, entropy weight 0.05,
                   cooperative weight 1.0. Scored on 500 refined proposals ("refined") and the raw ones.
  naive    ``naive_image_config()``: every negative from N(0, I), 10 Langevin steps of 0.01 with
                   noise sqrt(0.02), no buffer, no clamping, no L2, no clipping, Adam 1e-4. Scored on
                   500 fresh chains of the same kind, clamped to [0, 1].
  real digits      500 training digits (the ceiling).

Every recipe trains for the largest budget (default 10 minutes; ``--minutes 2,10``) and is scored
when its training time passes each budget. Training time is the CPU time of the recipe's process
(``time.process_time``, one torch thread; scoring excluded): on an idle machine it equals wall time,
and on a shared one it is not cut short by other processes. The recipes train in parallel
processes (``--jobs``), which therefore does not change their figures. Scores are the Fréchet distance of
the digit classifier's features against the 360 test digits, and the inception score
(``ebm_engine.metrics.sample_quality``). Ratios are naive FID / lab FID at the same budget.

Goal: at the largest budget the lab's ConvEBM FID ("buffer") is below half the naive recipe's.
The exit status is 0 only if it is.

Memory-efficient mode: a deeper ConvEBM (28×28 input, width 16, depth 6: 25 convolutions, 256 images) does one
CD-style forward + backward (energy of a batch, gradients for weights and inputs) with and without
``checkpointing``; each mode runs in a fresh subprocess and reports the bytes autograd keeps for
the backward pass (counted with ``saved_tensors_hooks``), the peak resident memory growth
(``ru_maxrss`` after minus before, glibc's mmap threshold fixed at 64 KiB so that freed blocks leave
at once) and the median CPU time of 5 passes. On a CPU the peak also holds the convolutions' transient
work buffers, which checkpointing does not shrink. The energies and gradients of
the two modes match (tests/models/test_conv_ebm.py).

    nice -n 10 .venv/bin/python bench/images.py                # 3 recipes x 10 CPU minutes (~12 min on 3 idle cores)
    .venv/bin/python bench/images.py --minutes 0.25,0.5        # smoke run (~2 min)
    .venv/bin/python bench/images.py --memory-only             # only the checkpointing figures
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.machine import cpu_model, load_average  # noqa: E402
from ebm_engine.data import load_digits_grey  # noqa: E402
from ebm_engine.metrics.sample_quality import SampleQuality  # noqa: E402
from ebm_engine.models import ConvEBM, ImageGenerator  # noqa: E402
from ebm_engine.runtime.mosaic import tile  # noqa: E402
from ebm_engine.runtime.exports import mosaic_png  # noqa: E402
from ebm_engine.samplers.short_run import short_run_samples  # noqa: E402
from ebm_engine.training import EBMGeneratorConfig, EBMGeneratorTrainer  # noqa: E402
from ebm_engine.training.image_recipes import (image_batches, image_cd_trainer, lab_image_config,  # noqa: E402
                                               naive_image_config)

N_SCORED = 500
GRID_PATH = Path(__file__).with_name("images_samples.png")


def scored_sets(recipe: str, trainer, energy, generator: torch.Generator) -> dict[str, np.ndarray]:
    """The sample sets a recipe is judged on, as (n, 1, 8, 8) arrays."""
    if recipe == "lab ConvEBM":
        index = torch.randperm(trainer.buffer.capacity, generator=generator)[:N_SCORED]
        noise = short_run_samples(energy, N_SCORED, (1, 8, 8), 60, trainer.config.step_size,
                                  trainer.config.noise_scale, generator=generator)
        return {"buffer": trainer.buffer.store[index].numpy(), "from noise": noise.numpy()}
    if recipe == "EBM + generator":
        _, proposals, refined = trainer.propose(N_SCORED)
        return {"refined": refined.numpy(), "raw proposals": proposals.numpy()}
    cfg = trainer.config
    samples = short_run_samples(energy, N_SCORED, (1, 8, 8), cfg.langevin_steps, cfg.step_size, cfg.noise_scale,
                                clamp=None, init="gaussian", generator=generator)
    return {"from noise": samples.clamp(0, 1).numpy()}


def make_recipe(recipe: str, images: torch.Tensor, seed: int):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    energy = ConvEBM((8, 8), width=32, depth=1)
    if recipe == "lab ConvEBM":
        return energy, image_cd_trainer(energy, images, lab_image_config(), generator), generator
    if recipe == "EBM + generator":
        trainer = EBMGeneratorTrainer(energy, ImageGenerator((8, 8)), image_batches(images), EBMGeneratorConfig(),
                                      generator)
        return energy, trainer, generator
    return energy, image_cd_trainer(energy, images, naive_image_config(), generator, init="gaussian"), generator


def run_recipe(recipe: str, budgets_s: list[float], seed: int):
    """Train one recipe, scoring it whenever its CPU time passes a budget; runs in its own process."""
    torch.set_num_threads(1)
    split = load_digits_grey()
    images = split.train.reshape(-1, 1, 8, 8)
    quality = SampleQuality(split)
    energy, trainer, generator = make_recipe(recipe, images, seed)
    results, grids, trained, iterations = [], {}, 0.0, 0
    for budget in budgets_s:
        while trained < budget:
            start = time.process_time()
            trainer.step()
            trained += time.process_time() - start
            iterations += 1
        sets = scored_sets(recipe, trainer, energy, generator)
        for name, samples in sets.items():
            score = quality.evaluate(samples)
            results.append({"recipe": recipe, "set": name, "minutes": budget / 60, "iterations": iterations,
                            "fid": score["fid"], "inception_score": score["inception_score"],
                            "divergences": trainer.divergences})
            grids[name] = samples[:48]
        print(f"  {recipe:16s} {budget / 60:5.2f} min, {iterations:6d} iterations: " +
              ", ".join(f"{r['set']} FID {r['fid']:.2f} IS {r['inception_score']:.2f}"
                        for r in results if r["minutes"] == budget / 60), flush=True)
    return results, grids


def memory_probe(checkpointing: bool) -> dict:
    """One subprocess's figures for a forward + backward: bytes kept for backward, peak RSS growth, time."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ConvEBM((28, 28), width=16, depth=6, checkpointing=checkpointing)
    x = torch.rand(256, 1, 28, 28)
    kept = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:   # tensors autograd keeps for the backward pass
        kept[0] += t.numel() * t.element_size()
        return t

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for i in range(5):
        start = time.process_time()
        xr = x.clone().requires_grad_(True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            energy = model(xr)
        if i == 0:
            kept_mib = kept[0] / 2**20
        loss = energy.mean() + 0.1 * energy.pow(2).mean()
        model.zero_grad(set_to_none=True)
        loss.backward()
        times.append(time.process_time() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"checkpointing": checkpointing, "kept_mib": kept_mib, "peak_mib": (peak - before) / 1024,
            "median_s": statistics.median(times), "parameters": sum(p.numel() for p in model.parameters())}


def memory_table() -> list[dict]:
    """Both modes, each in a fresh process; glibc returns large blocks at once (fixed mmap threshold),
    so the resident-memory peak follows what is really live."""
    rows = []
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    for flag in ("off", "on"):
        out = subprocess.run([sys.executable, __file__, "--memory-probe", flag], capture_output=True, text=True,
                             check=True, env=env)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", default="2,10", help="training budgets in minutes, comma-separated")
    parser.add_argument("--quick", action="store_true", help="budgets of 0.25 and 0.5 minutes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipes", default="lab ConvEBM,EBM + generator,naive")
    parser.add_argument("--jobs", type=int, default=3, help="recipes trained at once, one process each")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--memory-probe", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--grid", default=str(GRID_PATH), help="where to write the sample grid PNG")
    args = parser.parse_args()
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe == "on")))
        return 0
    torch.set_num_threads(1)
    print(f"machine: {cpu_model()}, {platform.machine()}, torch {torch.__version__}, 1 thread, "
          f"load average {load_average()}")

    print("\nMemory-efficient mode: ConvEBM 28x28, width 16, depth 6, batch 256, forward + backward")
    memory = memory_table()
    for row in memory:
        print(f"  checkpointing {'on ' if row['checkpointing'] else 'off'}: kept for backward {row['kept_mib']:6.1f} MiB, "
              f"peak RSS growth {row['peak_mib']:6.1f} MiB, median {row['median_s'] * 1000:6.1f} ms "
              f"({row['parameters']} parameters)")
    off, on = memory
    print(f"  off/on: kept for backward {off['kept_mib'] / on['kept_mib']:.2f}x, peak RSS "
          f"{off['peak_mib'] / max(on['peak_mib'], 1e-9):.2f}x; time on/off {on['median_s'] / off['median_s']:.2f}x")
    if args.memory_only:
        return 0

    budgets = [0.25, 0.5] if args.quick else [float(m) for m in args.minutes.split(",")]
    budgets_s = [60 * m for m in sorted(budgets)]
    split = load_digits_grey()
    start = time.perf_counter()
    quality = SampleQuality(split)
    print(f"\ndigit classifier: test accuracy {quality.classifier.test_accuracy:.3f}, "
          f"fitted in {time.perf_counter() - start:.1f} s")
    rng = np.random.default_rng(args.seed)
    real = split.train.numpy()[rng.choice(len(split.train), N_SCORED, replace=False)]
    ceiling = quality.evaluate(real)
    noise = quality.evaluate(rng.random((N_SCORED, 64)))
    print(f"  real train digits: FID {ceiling['fid']:.2f} IS {ceiling['inception_score']:.2f};  "
          f"uniform noise: FID {noise['fid']:.2f} IS {noise['inception_score']:.2f}\n")

    rows, grids = [], {}
    recipes = [r.strip() for r in args.recipes.split(",")]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(run_recipe, recipes, [budgets_s] * len(recipes), [args.seed] * len(recipes)))
    for recipe, (result, grid) in zip(recipes, outcomes):
        rows += result
        grids.update({f"{recipe}: {name}": g for name, g in grid.items()})

    print("\n| recipe | samples | minutes | iterations | FID | IS | FID naive / FID |")
    print("|---|---|---|---|---|---|---|")
    naive = {r["minutes"]: r["fid"] for r in rows if r["recipe"] == "naive"}
    for r in rows:
        ratio = naive.get(r["minutes"], float("nan")) / r["fid"] if r["fid"] > 0 else float("nan")
        print(f"| {r['recipe']} | {r['set']} | {r['minutes']:g} | {r['iterations']} | {r['fid']:.2f} | "
              f"{r['inception_score']:.2f} | {ratio:.2f} |")
    print(f"| real digits (ceiling) | train | – | – | {ceiling['fid']:.2f} | {ceiling['inception_score']:.2f} | – |")

    panels = [tile(g.reshape(-1, 8, 8)[:48], cols=8, bottom_up=False) for g in grids.values()]
    gap = np.full((panels[0].shape[0], 7), np.nan, np.float32)
    gap[:, 3] = 0.5   # a grey rule between the panels
    mosaic = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    Path(args.grid).write_bytes(mosaic_png(mosaic, scale=6, bottom_up=False))
    print(f"\nsample grid ({', '.join(grids)}) written to {args.grid}")

    last = max(budgets) if budgets else 0
    lab = [r["fid"] for r in rows if r["recipe"] == "lab ConvEBM" and r["set"] == "buffer" and r["minutes"] == last]
    if not lab or last not in naive:
        print("goal not judged (the lab ConvEBM and the naive recipe must both run)")
        return 1
    passed = lab[0] < 0.5 * naive[last]
    print(f"goal: lab ConvEBM FID {lab[0]:.2f} < half the naive recipe's {naive[last]:.2f} / 2 = "
          f"{naive[last] / 2:.2f} at {last:g} min: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
