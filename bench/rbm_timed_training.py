"""Timed training for the RBM bench: scikit-learn's BernoulliRBM and the lab's trainer, epoch by epoch.

``train_side_by_side`` alternates one epoch of each (ours runs between sklearn's epochs, inside its
``fit`` and outside its timing); ``lean_pcd_epochs`` and ``wide_timings`` are speed references
(``bench/rbm.py --lean`` / ``--wide``). The set-up and the goals are in ``bench/rbm.py``.
"""
from __future__ import annotations

import cProfile
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.neural_network import BernoulliRBM

from ebm_engine.models import RBM
from ebm_engine.training import RBMConfig, RBMTrainer

BATCHES = (100, 10)


@dataclass
class Run:
    """One trained model: who trained it, its epoch times and its AIS log-likelihoods."""

    who: str          # "sklearn", "ours", "default"
    hidden: int
    batch: int
    seed: int
    epoch_s: list[float]
    rbm: RBM | None
    test_ll: float = float("nan")
    train_ll: float = float("nan")
    log_z: float = float("nan")
    log_z_std: float = float("nan")


def train_sklearn(x: np.ndarray, hidden: int, batch: int, lr: float, epochs: int, seed: int,
                  between_epochs: Callable[[], None] | None = None) -> Run:
    """Fit BernoulliRBM once for ``epochs`` epochs, timing every epoch; ``between_epochs`` (untimed
    for sklearn) runs after each of them, inside ``fit``."""
    model = BernoulliRBM(n_components=hidden, learning_rate=lr, batch_size=batch, n_iter=epochs,
                         random_state=seed)
    n_batches = math.ceil(x.shape[0] / batch)
    epoch_s: list[float] = []
    inner = model._fit  # bound method; fit() calls self._fit(X[batch_slice], rng) once per mini-batch
    calls = 0
    started = 0.0

    def counted(v_pos, rng):
        nonlocal calls, started
        if calls % n_batches == 0:
            started = time.perf_counter()
        inner(v_pos, rng)
        calls += 1
        if calls % n_batches == 0:
            epoch_s.append(time.perf_counter() - started)
            if between_epochs is not None:
                between_epochs()

    model._fit = counted
    model.fit(x)
    del model._fit
    if calls != n_batches * epochs:
        raise RuntimeError(f"sklearn made {calls} mini-batch updates, expected {n_batches * epochs}")
    return Run("sklearn", hidden, batch, seed, epoch_s, RBM.from_sklearn(model))


class OursTimed:
    """Our RBM and trainer for one configuration; ``epoch()`` trains and times one epoch."""

    def __init__(self, who: str, train: torch.Tensor, hidden: int, config: RBMConfig, seed: int,
                 profile: cProfile.Profile | None = None):
        gen = torch.Generator().manual_seed(seed)
        self.who, self.hidden, self.batch, self.seed = who, hidden, config.batch_size, seed
        self.rbm = RBM(train.shape[1], hidden, generator=gen)
        self.trainer = RBMTrainer(self.rbm, train, config, gen)
        self.profile = profile
        self.epoch_s: list[float] = []

    def epoch(self) -> None:
        if self.profile is not None:
            self.profile.enable()
        t0 = time.perf_counter()
        self.trainer.train_epoch()
        self.epoch_s.append(time.perf_counter() - t0)
        if self.profile is not None:
            self.profile.disable()

    def run(self) -> Run:
        if self.trainer.divergences:
            print(f"#   WARNING: {self.who} H={self.hidden} B={self.batch} seed {self.seed}: "
                  f"{self.trainer.divergences} diverged updates")
        return Run(self.who, self.hidden, self.batch, self.seed, self.epoch_s, self.rbm)


def train_ours(who: str, train: torch.Tensor, hidden: int, config: RBMConfig, epochs: int, seed: int,
               profile: cProfile.Profile | None = None) -> Run:
    """Train our RBM for ``epochs`` epochs with ``config``; time every ``train_epoch``."""
    ours = OursTimed(who, train, hidden, config, seed, profile)
    for _ in range(epochs):
        ours.epoch()
    return ours.run()


def train_side_by_side(x: np.ndarray, train: torch.Tensor, hidden: int, batch: int, lr: float, epochs: int,
                       seed: int, profile: cProfile.Profile | None = None) -> tuple[Run, Run]:
    """sklearn and our like-for-like trainer, one epoch of each in turn (so that drifts of the
    machine's speed hit both alike)."""
    ours = OursTimed("ours", train, hidden, like_for_like(lr, batch), seed, profile)
    sk = train_sklearn(x, hidden, batch, lr, epochs, seed, between_epochs=ours.epoch)
    return sk, ours.run()


def like_for_like(lr: float, batch: int) -> RBMConfig:
    """PCD-1 with sklearn's settings; no per-step statistics (sklearn computes none while fitting)."""
    return RBMConfig(lr=lr, k=1, persistent=True, momentum=0.0, weight_decay=0.0,
                     batch_size=batch, n_persistent=batch, stats_every=0)


@torch.no_grad()
def lean_pcd_epochs(train: torch.Tensor, hidden: int, batch: int, lr: float, epochs: int, seed: int) -> list[float]:
    """Reference only (``--lean``): the trainer's PCD-1 update written as few eager torch ops as possible.

    Same algorithm as ``like_for_like`` (fresh permutation per epoch, fantasy chains of ``batch``
    rows, h resampled from the fantasy with the current parameters, negative statistics from the
    visible sample and hidden probabilities), but: Bernoulli draws as ``rand < p`` (torch's CPU
    ``bernoulli`` is 3-4× slower at 100×256), updates fused into ``addmm_`` / ``add_(alpha=)``, no
    per-step diagnostics and no per-step host sync (one finiteness check per epoch). It shows how
    fast this machine can run the trainer's algorithm in eager torch; it is not part of the engine.
    """
    gen = torch.Generator().manual_seed(seed)
    n, n_vis = train.shape
    w = torch.randn(n_vis, hidden, generator=gen) * 0.01
    b, c = torch.zeros(n_vis), torch.zeros(hidden)
    wt = w.t()

    def bernoulli(p: torch.Tensor) -> torch.Tensor:
        return (torch.rand(p.shape, generator=gen) < p).to(p.dtype)

    fantasy = bernoulli(train.mean(dim=0).expand(batch, -1))
    epoch_s = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            v0 = train.index_select(0, order[start:start + batch])
            scale = lr / v0.shape[0]
            ph0 = torch.sigmoid(torch.addmm(c, v0, w))
            h = bernoulli(torch.sigmoid(torch.addmm(c, fantasy, w)))
            vn = bernoulli(torch.sigmoid(torch.addmm(b, h, wt)))
            phn = torch.sigmoid(torch.addmm(c, vn, w))
            w.addmm_(v0.t(), ph0, alpha=scale).addmm_(vn.t(), phn, alpha=-scale * v0.shape[0] / vn.shape[0])
            b.add_(v0.mean(dim=0) - vn.mean(dim=0), alpha=lr)
            c.add_(ph0.mean(dim=0) - phn.mean(dim=0), alpha=lr)
            fantasy = vn
        if not bool(torch.isfinite(w.sum() + b.sum() + c.sum())):
            raise FloatingPointError("lean reference diverged")
        epoch_s.append(time.perf_counter() - t0)
    return epoch_s


def wide_timings(threads: int, epochs: int = 3, seed: int = 0) -> list[str]:
    """Speed only (``--wide``): MNIST-sized synthetic data, 784 visible × 500 hidden, 5000 rows of Bernoulli(0.13).

    Shows where time goes once GEMMs dominate (no log-likelihood; lr 0.05 for both).
    """
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(5000, 784, generator=gen) < 0.13).float()
    lines = []
    for batch in BATCHES:
        sk, ours = train_side_by_side(x.numpy(), x, 500, batch, 0.05, epochs, seed)
        s_sk, s_ours = statistics.median(sk.epoch_s), statistics.median(ours.epoch_s)
        lines.append(f"784×500 B={batch} (threads {threads}): sklearn {s_sk:.3f} s/epoch, ours {s_ours:.3f} s/epoch, "
                     f"speed-up {s_sk / s_ours:.2f}×")
    return lines
