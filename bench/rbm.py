"""Seconds per epoch and test log-likelihood of the lab's RBM trainer against scikit-learn's BernoulliRBM.

Data
  ``ebm_engine.data.load_digits_binary()``: sklearn's 8×8 digits, ``pixel >= 8`` → 1, the fixed
  stratified split (1437 train / 360 test rows, 64 visible units). Both libraries get the very same
  float32 train array (sklearn then trains in float32 too, its fastest mode; ours is float32).

Models, like for like
  sklearn   ``BernoulliRBM(n_components=H, learning_rate=LR, batch_size=B, n_iter=EPOCHS)``: PCD with
            k=1, B persistent chains, mean gradient over the batch (its lr is divided by the batch
            size), no momentum, no weight decay, batches in data order.
  ours      ``RBMTrainer(RBM(64, H), train, RBMConfig(lr=LR, k=1, persistent=True, momentum=0.0,
            weight_decay=0.0, batch_size=B, n_persistent=B))``: the same algorithm and settings.
  default   ours with ``RBMConfig(batch_size=B)`` otherwise at its defaults (the lab's own recipe, CD-1
            with momentum and weight decay; see ``RBMConfig``): reported, not judged.
  Hidden units H in (64, 256), batch sizes B in (100, 10), the same number of epochs for all.
  LR is 0.1 (sklearn's default) at B=100 and 0.05 at B=10 (``--lr`` sets one value for both): with
  only 10 persistent chains, PCD at lr 0.1 makes the final test LL swing by ±4 nats from seed to
  seed for both libraries (measured: -20 to -36 nats), which would drown any comparison.

Timing
  ``time.perf_counter`` around each epoch: ours around ``trainer.train_epoch()`` (construction of the
  model and trainer excluded); sklearn inside one ``fit`` call, from the first to the last mini-batch
  of every epoch (its private ``_fit`` wrapped by a counter that adds one Python call per mini-batch;
  the algorithm is untouched; ``fit``'s own set-up is excluded). The two alternate epoch by epoch:
  after each sklearn epoch, inside ``fit``, one epoch of ours runs (outside sklearn's timing), so
  that the machine's speed, which drifts by up to 1.7× within a second on this VM, is sampled alike
  for both. Reported: the median
  seconds per epoch over all epochs of all seeds. Both libraries get the same thread count:
  ``torch.set_num_threads(--threads)`` and ``threadpoolctl.threadpool_limits(--threads)`` for
  numpy's BLAS. The load average is printed: other processes on a 2-core machine distort timings,
  and with 2 threads both torch (OpenMP) and OpenBLAS degrade badly when another process holds a core.

Log-likelihood
  Mean log p(v) in nats over the 360 test rows, for every trained model (sklearn's loaded with
  ``RBM.from_sklearn``) by OUR AIS (``rbm_log_partition_ais``: --chains chains, --betas
  temperatures, base-rate visible biases from the training data; run with --ais-threads, untimed)
  and ``rbm_log_likelihood``. The AIS std is that of log Z (the only random part of the estimate
  for a given model). Each configuration is trained with --seeds seeds; the table shows the mean
  test LL, the seed-to-seed sd and the (rms) AIS std. "Equal or better" means
  mean(ours) ≥ mean(sklearn) - 2·sqrt(se_ours² + se_sklearn²), se = max(seed sd, AIS std)/sqrt(seeds).
  The test LL of the independent-pixel model is printed as the floor any RBM should beat.

Goals: batch 100 ≥ 3× faster per epoch, batch 10 ≥ 1.5× faster, each at equal or better test LL,
for every hidden size (like-for-like rows). The exit status is 0 only if both pass.

    .venv/bin/python bench/rbm.py                 # full run (~4-5 min on 2 idle cores)
    .venv/bin/python bench/rbm.py --threads 1     # the same with one thread per library
    .venv/bin/python bench/rbm.py --quick         # 5 epochs, 1 seed, short AIS (~30 s)
    .venv/bin/python bench/rbm.py --lean          # + a minimal eager-torch PCD-1 epoch as a speed reference
    .venv/bin/python bench/rbm.py --wide          # + speed only, 784×500 on synthetic MNIST-sized data (~15 s)
    .venv/bin/python bench/rbm.py --profile       # + cProfile of our like-for-like epochs
"""
from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from ebm_engine.data import load_digits_binary  # noqa: E402
from ebm_engine.metrics.rbm_likelihood import rbm_log_likelihood  # noqa: E402
from ebm_engine.training import RBMConfig  # noqa: E402
from machine import cpu_model, load_average as load
from rbm_timed_training import (BATCHES, Run, lean_pcd_epochs, train_ours, train_side_by_side,  # noqa: E402
                                wide_timings)

try:
    from ebm_engine.metrics.partition import rbm_log_partition_ais  # noqa: E402
except ImportError:
    from ebm_engine.metrics.rbm_partition import rbm_log_partition_ais  # noqa: E402

HIDDEN = (64, 256)
GOALS = {100: 3.0, 10: 1.5}
LR = {100: 0.1, 10: 0.05}  # per batch size, the same for both libraries (see the module docstring)
LL_SIGMAS = 2.0


@dataclass
class Cell:
    """All seeds of one (who, hidden, batch): pooled epoch times and per-seed log-likelihoods."""

    runs: list[Run]

    @property
    def s_per_epoch(self) -> float:
        return statistics.median(t for r in self.runs for t in r.epoch_s)

    @property
    def ll(self) -> float:
        return statistics.fmean(r.test_ll for r in self.runs)

    @property
    def ll_sd(self) -> float:
        """Seed-to-seed standard deviation of the test LL (0 with one seed)."""
        return statistics.stdev(r.test_ll for r in self.runs) if len(self.runs) > 1 else 0.0

    @property
    def ais_std(self) -> float:
        """Root-mean-square AIS standard deviation of log Z over the seeds."""
        return math.sqrt(statistics.fmean(r.log_z_std ** 2 for r in self.runs))

    @property
    def ll_se(self) -> float:
        """Standard error of the mean test LL: the seed spread, floored by the AIS noise."""
        n = len(self.runs)
        return max(self.ll_sd, self.ais_std) / math.sqrt(n)

    def fmt_ll(self) -> str:
        if len(self.runs) == 1:
            return f"{self.ll:.2f} ± {self.ais_std:.3f}"
        return f"{self.ll:.2f} ± {self.ll_sd:.2f} (AIS ± {self.ais_std:.3f})"


def evaluate(run: Run, train: torch.Tensor, test: torch.Tensor, chains: int, betas: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    log_z, std = rbm_log_partition_ais(run.rbm, n_chains=chains, n_betas=betas, generator=gen, data=train)
    run.log_z, run.log_z_std = float(log_z), float(std)
    run.test_ll = float(rbm_log_likelihood(run.rbm, test, run.log_z))
    run.train_ll = float(rbm_log_likelihood(run.rbm, train, run.log_z))
    run.rbm = None  # keep memory flat


def independent_pixels_ll(train: torch.Tensor, test: torch.Tensor, clip: float = 1e-3) -> float:
    """Test LL (nats) of the independent-pixel model fitted to the training pixel means: the floor to beat."""
    p = train.double().mean(dim=0).clamp(clip, 1 - clip)
    t = test.double()
    return float((t * p.log() + (1 - t) * (-p).log1p()).sum(dim=1).mean())




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch and BLAS threads while training (default: all cores)")
    ap.add_argument("--ais-threads", type=int, default=1,
                    help="torch threads for the (untimed) AIS evaluation (default 1: fastest for these sizes)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per model (default 20, quick 5)")
    ap.add_argument("--seeds", type=int, default=None, help="training seeds per configuration (default 5, quick 1)")
    ap.add_argument("--lr", type=float, default=None,
                    help="learning rate of sklearn and of our like-for-like runs, for every batch size "
                         "(default: 0.1 at batch 100, 0.05 at batch 10)")
    ap.add_argument("--chains", type=int, default=None, help="AIS chains (default 100, quick 50)")
    ap.add_argument("--betas", type=int, default=None, help="AIS temperatures (default 5000, quick 1000)")
    ap.add_argument("--seed", type=int, default=0, help="first training seed")
    ap.add_argument("--quick", action="store_true", help="5 epochs, 1 seed, short AIS (~30 s)")
    ap.add_argument("--lean", action="store_true",
                    help="also time a minimal eager-torch PCD-1 epoch (reference, see lean_pcd_epochs)")
    ap.add_argument("--profile", action="store_true", help="cProfile our like-for-like epochs, print the top entries")
    ap.add_argument("--wide", action="store_true",
                    help="also time (speed only) a 784×500 RBM on synthetic MNIST-sized data (see wide_timings)")
    args = ap.parse_args(argv)
    epochs = args.epochs or (5 if args.quick else 20)
    n_seeds = args.seeds or (1 if args.quick else 5)
    lrs = {batch: args.lr or LR[batch] for batch in BATCHES}
    chains = args.chains or (50 if args.quick else 100)
    betas = args.betas or (1000 if args.quick else 5000)
    seeds = [args.seed + i for i in range(n_seeds)]

    data = load_digits_binary()
    train, test = data.train, data.test
    x_np = train.numpy().copy()
    print(f"# RBM bench: {data.name}, {train.shape[0]} train / {test.shape[0]} test rows, {train.shape[1]} visible")
    print(f"# cpu: {cpu_model()}, {os.cpu_count()} cores; training threads {args.threads} (torch and BLAS), "
          f"AIS threads {args.ais_threads}; torch {torch.__version__}, sklearn {sklearn.__version__}, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    print(f"# epochs {epochs}, seeds {seeds}, lr per batch size {lrs}, AIS {chains} chains × {betas} betas; "
          f"load average at start: {load()}")

    runs: list[Run] = []
    lean: dict[tuple[int, int], list[float]] = {}
    profile = cProfile.Profile() if args.profile else None
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        for hidden in HIDDEN:
            for batch in BATCHES:
                for seed in seeds:
                    runs.extend(train_side_by_side(x_np, train, hidden, batch, lrs[batch], epochs, seed, profile))
                    runs.append(train_ours("default", train, hidden, RBMConfig(batch_size=batch), epochs, seed))
                    if args.lean:
                        lean.setdefault((hidden, batch), []).extend(
                            lean_pcd_epochs(train, hidden, batch, lrs[batch], epochs, seed))
                print(f"#   trained H={hidden} B={batch} ({time.perf_counter() - t_start:.0f} s)", flush=True)
        wide = wide_timings(args.threads) if args.wide else []
    t_train = time.perf_counter() - t_start
    load_after_training = load()
    torch.set_num_threads(args.ais_threads)
    t0 = time.perf_counter()
    for i, run in enumerate(runs):
        evaluate(run, train, test, chains, betas, 10_000 + i)
    t_ais = time.perf_counter() - t0
    torch.set_num_threads(args.threads)
    print(f"# training {t_train:.1f} s (load average after: {load_after_training}), AIS {t_ais:.1f} s "
          f"({t_ais / len(runs):.1f} s per model); load average at end: {load()}")
    print()

    cells = {}
    for run in runs:
        cells.setdefault((run.who, run.hidden, run.batch), Cell([])).runs.append(run)

    ll_note = "mean ± seed sd (AIS std)" if n_seeds > 1 else "± AIS std"
    head = (f"| hidden | batch | sklearn s/epoch | ours s/epoch | speed-up | sklearn test LL ({ll_note}) "
            f"| ours test LL | ours default recipe s/epoch | default recipe test LL |")
    print(head)
    print("|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|")
    for hidden in HIDDEN:
        for batch in BATCHES:
            sk, ours, dflt = (cells[w, hidden, batch] for w in ("sklearn", "ours", "default"))
            print(f"| {hidden} | {batch} | {sk.s_per_epoch:.4f} | {ours.s_per_epoch:.4f} | "
                  f"{sk.s_per_epoch / ours.s_per_epoch:.2f}× | {sk.fmt_ll()} | {ours.fmt_ll()} | "
                  f"{dflt.s_per_epoch:.4f} | {dflt.fmt_ll()} |")
    print()
    print(f"reference: independent-pixel model (training pixel means) test LL = {independent_pixels_ll(train, test):.2f} nats")
    print("train LL (mean over seeds): " + ", ".join(
        f"{w} H={h} B={b}: {statistics.fmean(r.train_ll for r in c.runs):.2f}" for (w, h, b), c in cells.items()))
    if lean:
        print("lean eager-torch PCD-1 reference (s/epoch, speed-up vs sklearn): " + ", ".join(
            f"H={h} B={b}: {statistics.median(t):.4f} ({cells['sklearn', h, b].s_per_epoch / statistics.median(t):.2f}×)"
            for (h, b), t in lean.items()))
    for line in wide:
        print("wide (speed only): " + line)
    print()

    all_pass = True
    for batch, goal in GOALS.items():
        parts, ok = [], True
        for hidden in HIDDEN:
            sk, ours = cells["sklearn", hidden, batch], cells["ours", hidden, batch]
            ratio = sk.s_per_epoch / ours.s_per_epoch
            tol = LL_SIGMAS * math.hypot(sk.ll_se, ours.ll_se)
            diff = ours.ll - sk.ll
            speed_ok, ll_ok = ratio >= goal, diff >= -tol
            ok &= speed_ok and ll_ok
            parts.append(f"H={hidden}: {ratio:.2f}× ({'ok' if speed_ok else 'short'}), "
                         f"LL ours - sklearn {diff:+.2f} nats (allowed ≥ -{tol:.2f}: {'ok' if ll_ok else 'worse'})")
        all_pass &= ok
        print(f"GOAL batch {batch}: ≥ {goal:g}× faster per epoch at equal or better test LL: "
              f"{'PASS' if ok else 'FAIL'} — " + "; ".join(parts))

    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats("tottime").print_stats(25)
        print()
        print("# cProfile of our like-for-like run_epoch calls (all configs and seeds), by own time:")
        print(out.getvalue())
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
