"""Time-to-quality benchmark on 8gaussians: the lab's default CD recipe against a plain baseline.

For each seed and method, train ``SimpleEBM(2, 128, 2, "silu")`` and measure the wall-clock
seconds of *training* until the held-out NLL (``grid_nll`` at resolution 200 on
``toy2d.bounds``) is within ``--target-gap`` nats (0.15) of the true density's NLL on the same
held-out points. The NLL is evaluated every ``--eval-every`` iterations; evaluation time is not
counted. A run that has not reached the target after ``--budget`` seconds of training is
"not reached" and counts as the budget in the medians, so a ratio involving it is a lower
bound (printed ">=").

Methods
  lab       ContrastiveDivergence with the default CDConfig (batch_size 256, max_chain_norm as the
            app's Energy Landscape job sets it): persistent chains in a replay buffer, L2 energy
            penalty, gradient clipping, Adam lr 3e-3.
  baseline  the plain textbook recipe: Adam lr 1e-4 (--baseline-lr), negatives drawn
            fresh from N(0, I) every step, 10 Langevin steps of size 0.01 with noise sqrt(2*0.01),
            no buffer, no regularisation, no clipping, loss = mean E(data) - mean E(neg).

The data set-up mirrors ``ebm_engine/runtime/jobs/energy_landscape.py``: per seed, 10000 training and
2000 held-out points drawn once from a generator seeded with the seed, chain inits uniform over
the bounds box, random training minibatches. Both methods start from the same weights per seed.

    .venv/bin/python bench/train_2d.py            # 3 seeds, 40 s budget per run (< ~4 min)
    .venv/bin/python bench/train_2d.py --quick    # 1 seed, 15 s budget
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ebm_engine.data import toy2d  # noqa: E402
from ebm_engine.device import make_generator  # noqa: E402
from ebm_engine.metrics.partition import grid_nll  # noqa: E402
from ebm_engine.models.simple_ebm import SimpleEBM  # noqa: E402
from ebm_engine.samplers import Langevin  # noqa: E402
from ebm_engine.training.contrastive_divergence import CDConfig, ContrastiveDivergence  # noqa: E402
from machine import cpu_model, load_average

DATASET = "8gaussians"
N_TRAIN, N_TEST, BATCH = 10000, 2000, 256
RESOLUTION = 200


@dataclass
class Result:
    method: str
    seed: int
    seconds: float | None      # training seconds to reach the target; None: not reached
    train_time: float          # training seconds actually spent
    iterations: int
    final_gap: float           # last evaluated NLL minus the true NLL (nan if the model diverged)
    note: str = ""


class Setup:
    """Data, held-out set and chain initialisation for one seed, as the app builds them."""

    def __init__(self, seed: int):
        self.seed = seed
        data_gen = torch.Generator().manual_seed(seed)
        self.train = toy2d.sample(DATASET, N_TRAIN, data_gen)
        self.test = toy2d.sample(DATASET, N_TEST, data_gen)
        self.bounds = toy2d.bounds(DATASET)
        self.true_nll = float(-toy2d.true_log_prob(DATASET)(self.test.double()).mean())
        self.lo = torch.tensor([b[0] for b in self.bounds])
        self.hi = torch.tensor([b[1] for b in self.bounds])
        self.radius = float(max(abs(v) for b in self.bounds for v in b))

    def init_fn(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return self.lo + (self.hi - self.lo) * torch.rand(n, 2, generator=generator)

    def data_fn(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return self.train[torch.randint(len(self.train), (n,), generator=generator)]

    def model(self) -> SimpleEBM:
        torch.manual_seed(self.seed)   # identical initial weights for both methods
        return SimpleEBM(2, 128, 2, "silu")

    def gap(self, model: SimpleEBM) -> float:
        model.eval()
        try:
            nll = grid_nll(model, self.test, self.bounds, resolution=RESOLUTION)
        except FloatingPointError:
            return math.nan
        return nll - self.true_nll if math.isfinite(nll) else math.nan


class PlainBaseline:
    """The plain textbook recipe: fresh N(0, I) negatives, short-run Langevin, no buffer/penalty/clip."""

    def __init__(self, model: SimpleEBM, setup: Setup, lr: float, generator: torch.Generator,
                 langevin_steps: int = 10, step_size: float = 0.01):
        self.model, self.setup, self.generator = model, setup, generator
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.kernel = Langevin()   # noise sqrt(2 * step_size)
        self.langevin_steps, self.step_size = langevin_steps, step_size

    def step(self) -> bool:
        """One iteration; returns False when the loss or the weights became non-finite."""
        self.model.train()
        x = torch.randn(BATCH, 2, generator=self.generator)
        params = list(self.model.parameters())
        for p in params:
            p.requires_grad_(False)
        try:
            state = self.kernel.init(self.model, x)
            for _ in range(self.langevin_steps):
                state, _ = self.kernel.step(self.model, state, self.step_size, 1.0, self.generator)
        finally:
            for p in params:
                p.requires_grad_(True)
        x_pos = self.setup.data_fn(BATCH, self.generator)
        loss = self.model(x_pos).mean() - self.model(state.x).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return bool(torch.isfinite(loss)) and all(bool(torch.isfinite(p).all()) for p in params)


def run(method: str, setup: Setup, args: argparse.Namespace) -> Result:
    model = setup.model()
    generator = make_generator(setup.seed)
    if method == "lab":
        trainer = ContrastiveDivergence(model, setup.data_fn, setup.init_fn,
                                        CDConfig(batch_size=BATCH, max_chain_norm=3 * setup.radius),
                                        generator=generator)

        def step() -> bool:
            trainer.step()
            return True
    else:
        step = PlainBaseline(model, setup, args.baseline_lr, generator).step

    train_time, it, gap = 0.0, 0, math.nan
    while train_time < args.budget:
        t0 = time.perf_counter()
        ok = True
        for _ in range(args.eval_every):
            ok = step()
            it += 1
            if not ok:
                break
        train_time += time.perf_counter() - t0
        gap = setup.gap(model)      # not on the training clock
        if not ok or math.isnan(gap):
            return Result(method, setup.seed, None, train_time, it, gap, "diverged")
        if gap <= args.target_gap:
            return Result(method, setup.seed, train_time, train_time, it, gap)
    return Result(method, setup.seed, None, train_time, it, gap)




def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=float, default=40.0, help="training seconds per run (default 40)")
    p.add_argument("--eval-every", type=int, default=25, help="iterations between NLL evaluations")
    p.add_argument("--target-gap", type=float, default=0.15, help="nats above the true NLL")
    p.add_argument("--baseline-lr", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=available_cores(), help="torch threads (default: all cores)")
    p.add_argument("--quick", action="store_true", help="1 seed, 15 s budget")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.budget = args.seeds[:1], min(args.budget, 15.0)
    torch.set_num_threads(args.threads)

    print(f"train_2d: time to NLL within {args.target_gap} nats of the truth on {DATASET}")
    print(f"cpu: {cpu_model()} ({available_cores()} cores available), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, python {platform.python_version()}")
    print(f"seeds {args.seeds}, budget {args.budget:g} s training per run, NLL every {args.eval_every} "
          f"iterations (eval time excluded), held-out {N_TEST} pts, grid {RESOLUTION}^2, "
          f"baseline lr {args.baseline_lr:g}")
    print(f"load average at start: {load_average()}")
    print()

    header = f"{'seed':>4}  {'method':<9} {'seconds to target':>18}  {'final gap':>9}  {'iters':>6}  {'it/s':>5}"
    print(header)
    print("-" * len(header))
    results: list[Result] = []
    for seed in args.seeds:
        setup = Setup(seed)
        for method in ("lab", "baseline"):
            r = run(method, setup, args)
            results.append(r)
            when = f"{r.seconds:.1f}" if r.seconds is not None else \
                f"not reached ({r.note or f'{r.train_time:.0f} s'})"
            print(f"{seed:>4}  {method:<9} {when:>18}  {r.final_gap:>9.3f}  {r.iterations:>6}  "
                  f"{r.iterations / r.train_time:>5.0f}", flush=True)
    print()

    def summary(method: str) -> tuple[float, bool]:
        rs = [r for r in results if r.method == method]
        times = [r.seconds if r.seconds is not None else args.budget for r in rs]
        return statistics.median(times), any(r.seconds is None for r in rs)

    lab_med, lab_censored = summary("lab")
    base_med, base_censored = summary("baseline")
    # A median is only a lower bound when it is itself a not-reached run (= the budget).
    lab_low = lab_censored and lab_med >= args.budget
    base_low = base_censored and base_med >= args.budget
    ratio = base_med / lab_med
    lab_s = f"{'>= ' if lab_low else ''}{lab_med:.1f} s"
    base_s = f"{'>= ' if base_low else ''}{base_med:.1f} s"
    if lab_low:
        ratio_s = "n/a (neither median reached the target)" if base_low else f"<= {ratio:.1f}x"
    else:
        ratio_s = f"{'>= ' if base_low else ''}{ratio:.1f}x"
    print(f"lab median {lab_s}, baseline median {base_s}, ratio {ratio_s}")
    if base_censored or lab_censored:
        print(f"(runs marked 'not reached' count as the {args.budget:g} s budget)")
    print(f"load average at end: {load_average()} (this benchmark itself adds ~{torch.get_num_threads()}; "
          "much more, or an it/s that varies between runs, means other processes competed: rerun)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
