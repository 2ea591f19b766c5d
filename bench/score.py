"""Score matching against contrastive divergence after equal wall time, and equivariant vs plain data efficiency.

Part 1: on each of three toy sets, train ``SimpleEBM(2, 128, 2, "silu")`` for the same number of
*training* seconds by
  cd        ContrastiveDivergence with the default CDConfig, as the Energy Landscape page trains
            (batch 256, 10 Langevin steps of 0.02 from a replay buffer, L2 0.1, max_chain_norm);
            the baseline every ratio is taken against;
  dsm       denoising score matching, σ = --sigma (0.1), batch 256, Adam 3e-3;
  ssm       sliced score matching (one Rademacher projection, variance-reduced) on the clean data,
            batch 256, Adam 3e-3;
and report the held-out NLL (``grid_nll``, 200² grid on ``toy2d.bounds``, 2000 held-out points),
the true NLL where the density is known, and each method's gap to the truth as a ratio of CD's.
All three start from the same weights; evaluation time is not counted.

Part 2: on 8gaussians (one eighth: the points within ±π/8 of the x axis) and rings (one quarter),
train by CD for the same wall time (a) a plain SimpleEBM on the sector, (b) an EquivariantEBM
(C8 resp. C4 group average of the same SimpleEBM, same initial weights) on the sector, and
(c) for reference a plain SimpleEBM on the full set. Report the NLL on the full symmetric held-out
set and the share of the density off the sector.

    .venv/bin/python bench/score.py            # 15 s per run, 15 runs (~4.5 min)
    .venv/bin/python bench/score.py --quick    # 3 s per run (~1 min)

On a machine shared with other work, ``--threads 1 --clock cpu`` budgets each run by its own CPU
seconds, so every method gets the same compute whatever else runs.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ebm_engine.data import toy2d  # noqa: E402
from ebm_engine.device import make_generator  # noqa: E402
from ebm_engine.metrics.partition import grid_nll, log_density_grid  # noqa: E402
from ebm_engine.models.equivariant_ebm import EquivariantEBM  # noqa: E402
from ebm_engine.models.point_groups import cyclic  # noqa: E402
from ebm_engine.models.simple_ebm import SimpleEBM  # noqa: E402
from ebm_engine.runtime.jobs.symmetry_latents import in_sector  # noqa: E402
from ebm_engine.training.contrastive_divergence import CDConfig, ContrastiveDivergence  # noqa: E402
from ebm_engine.training.score_trainer import ScoreMatching, ScoreMatchingConfig  # noqa: E402
from machine import cpu_model, load_average  # noqa: E402

DATASETS = ("8gaussians", "rings", "moons")
SYMMETRY = (("8gaussians", 8), ("rings", 4))
N_TRAIN, N_TEST, RESOLUTION = 10000, 2000, 200


class Setup:
    """Data and held-out points of one toy set, drawn from ``seed`` as the lab's jobs draw them."""

    def __init__(self, name: str, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.name, self.seed = name, seed
        self.train = toy2d.sample(name, N_TRAIN, g)
        self.test = toy2d.sample(name, N_TEST, g)
        self.bounds = toy2d.bounds(name)
        log_prob = toy2d.true_log_prob(name)
        self.true_nll = float(-log_prob(self.test.double()).mean()) if log_prob else None
        self.lo = torch.tensor([b[0] for b in self.bounds])
        self.hi = torch.tensor([b[1] for b in self.bounds])
        self.radius = float(max(abs(v) for b in self.bounds for v in b))

    def init_fn(self, n, g):
        return self.lo + (self.hi - self.lo) * torch.rand(n, 2, generator=g)

    def batches(self, points):
        return lambda n, g: points[torch.randint(len(points), (n,), generator=g)]

    def base(self) -> SimpleEBM:
        torch.manual_seed(self.seed)
        return SimpleEBM(2, 128, 2, "silu")


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = CLOCKS["wall"]


def train_for(trainer, budget: float) -> tuple[int, float]:
    """Step ``trainer`` until ``budget`` training seconds have passed on ``CLOCK``; returns (iterations, seconds)."""
    steps, t0 = 0, CLOCK()
    while CLOCK() - t0 < budget:
        trainer.step()
        steps += 1
    return steps, CLOCK() - t0


def nll(model, setup: Setup) -> float:
    model.eval()
    try:
        return grid_nll(model, setup.test, setup.bounds, resolution=RESOLUTION)
    except FloatingPointError:
        return math.nan


def mass_off_sector(model, setup: Setup, sectors: int) -> float:
    """Share of the grid density off the training sector, within the box's inscribed disc."""
    xs, ys, log_p, _ = log_density_grid(model, setup.bounds, resolution=RESOLUTION)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    centres = torch.stack([gx.flatten(), gy.flatten()], dim=1).float()
    p = log_p.exp().flatten()
    disc = centres.norm(dim=1) <= setup.radius
    return float(p[disc & ~in_sector(centres, sectors)].sum() / p[disc].sum())


def cd_trainer(model, setup: Setup, points) -> ContrastiveDivergence:
    return ContrastiveDivergence(model, setup.batches(points), setup.init_fn,
                                 CDConfig(max_chain_norm=3 * setup.radius), generator=make_generator(setup.seed))


def part_one(args) -> None:
    print(f"## Part 1: held-out NLL after {args.budget:g} s of training (nats; lower is better)\n")
    print("| data | true NLL | CD | DSM σ=%g | SSM | DSM gap / CD gap | SSM gap / CD gap | iterations CD / DSM / SSM |"
          % args.sigma)
    print("|---|---|---|---|---|---|---|---|")
    for name in DATASETS:
        setup = Setup(name, args.seed)
        results = {}
        for method in ("cd", "dsm", "ssm"):
            model = setup.base()
            if method == "cd":
                trainer = cd_trainer(model, setup, setup.train)
            else:
                config = ScoreMatchingConfig(method="denoising" if method == "dsm" else "sliced", sigma=args.sigma)
                trainer = ScoreMatching(model, setup.batches(setup.train), config, generator=make_generator(setup.seed))
            steps, _ = train_for(trainer, args.budget)
            results[method] = (nll(model, setup), steps)
        true = setup.true_nll

        def ratio(method: str) -> str:
            if true is None:   # no truth: the difference to CD instead
                return f"Δ {results[method][0] - results['cd'][0]:+.3f} vs CD"
            return f"{(results[method][0] - true) / (results['cd'][0] - true):.2f}"

        true_s = f"{true:.3f}" if true is not None else "–"
        print(f"| {name} | {true_s} | {results['cd'][0]:.3f} | {results['dsm'][0]:.3f} | {results['ssm'][0]:.3f} | "
              f"{ratio('dsm')} | {ratio('ssm')} | {results['cd'][1]} / {results['dsm'][1]} / {results['ssm'][1]} |",
              flush=True)
    print()


def part_two(args) -> None:
    print(f"## Part 2: trained on one sector for {args.budget:g} s by CD; NLL on the full symmetric held-out set\n")
    print("| data (sector) | true NLL | plain on sector | equivariant on sector | plain on full set | "
          "plain gap / equivariant gap | mass off sector: plain / equivariant / truth | iterations |")
    print("|---|---|---|---|---|---|---|---|")
    for name, sectors in SYMMETRY:
        setup = Setup(name, args.seed)
        sector = setup.train[in_sector(setup.train, sectors)]
        runs = {"plain": (setup.base(), sector),
                "equivariant": (EquivariantEBM(cyclic(sectors), base=setup.base()), sector),
                "full": (setup.base(), setup.train)}
        out = {}
        for key, (model, points) in runs.items():
            steps, _ = train_for(cd_trainer(model, setup, points), args.budget)
            out[key] = (nll(model, setup), mass_off_sector(model, setup, sectors), steps)
        true = setup.true_nll
        truth_off = 1 - 1 / sectors
        gap = (out["plain"][0] - true) / (out["equivariant"][0] - true)
        print(f"| {name} (1/{sectors}, {len(sector)} pts) | {true:.3f} | {out['plain'][0]:.3f} | "
              f"{out['equivariant'][0]:.3f} | {out['full'][0]:.3f} | {gap:.1f} | "
              f"{out['plain'][1]:.3f} / {out['equivariant'][1]:.3f} / {truth_off:.3f} | "
              f"{out['plain'][2]} / {out['equivariant'][2]} / {out['full'][2]} |", flush=True)
    print()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=15.0, help="training seconds per run (default 15)")
    p.add_argument("--sigma", type=float, default=0.1, help="noise level of denoising score matching")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="budget clock: wall time (default) or this process's CPU time, which other processes "
                        "on a busy machine do not eat into (with --threads 1 it equals wall time when idle)")
    p.add_argument("--quick", action="store_true", help="3 s per run")
    args = p.parse_args(argv)
    global CLOCK
    CLOCK = CLOCKS[args.clock]
    if args.quick:
        args.budget = min(args.budget, 3.0)
    torch.set_num_threads(args.threads)
    print("score: score matching vs contrastive divergence at equal wall time; equivariant vs plain")
    print(f"cpu: {cpu_model()} ({len(os.sched_getaffinity(0))} cores available), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, python {platform.python_version()}")
    print(f"seed {args.seed}, {args.budget:g} s training per run ({args.clock} clock), held-out {N_TEST} pts, "
          f"grid {RESOLUTION}^2")
    print(f"load average at start: {load_average()}\n")
    t0 = time.perf_counter()
    part_one(args)
    part_two(args)
    print(f"total {time.perf_counter() - t0:.0f} s; load average at end: {load_average()} "
          f"(this benchmark adds ~{torch.get_num_threads()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
