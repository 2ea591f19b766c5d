"""Training and held-out points of a 2D toy set or analytic target, with its box and chain starts, for the 2D jobs."""
from __future__ import annotations

import torch

from ebm_engine.data import toy2d
from ebm_engine.energies.targets import TARGETS

# analytic targets with exact samplers whose bounds box holds their mass (the funnel's does not)
ANALYTIC = ("gaussian", "mixture", "banana", "donut", "squiggle")
SOURCES = (*toy2d.NAMES, *ANALYTIC)


class ToyData:
    """Points of a ``toy2d`` set or an analytic target (``SOURCES``) drawn once from ``seed``."""

    def __init__(self, name: str, n_train: int, n_test: int, seed: int, device: torch.device):
        if name not in SOURCES:
            raise ValueError(f"unknown data set {name!r}; choose from {list(SOURCES)}")
        data_gen = torch.Generator().manual_seed(int(seed))
        self.name = name
        if name in ANALYTIC:
            target = TARGETS[name]()
            self.train = target.sample(n_train, data_gen).float().to(device)
            self.test = target.sample(n_test, data_gen).float().to(device)
            self.bounds = tuple(tuple(float(v) for v in b) for b in target.bounds)
            self.log_prob = target.double().log_prob
        else:
            self.train = toy2d.sample(name, n_train, data_gen).to(device)
            self.test = toy2d.sample(name, n_test, data_gen).to(device)
            self.bounds = toy2d.bounds(name)
            self.log_prob = toy2d.true_log_prob(name)
        self.device = device
        self.lo = torch.tensor([b[0] for b in self.bounds], device=device)
        self.hi = torch.tensor([b[1] for b in self.bounds], device=device)
        self.radius = float(max(abs(v) for b in self.bounds for v in b))

    @property
    def true_nll(self) -> float | None:
        return float(-self.log_prob(self.test.cpu().double()).mean()) if self.log_prob else None

    @property
    def smooth(self) -> bool:
        """Whether the true density is known and differentiable (so its score is too)."""
        return self.log_prob is not None and self.name != "checkerboard"

    def uniform(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """``n`` points uniform on the plotting box (fresh chain starts)."""
        return self.lo + (self.hi - self.lo) * torch.rand(n, 2, generator=generator, device=self.device)

    def batch(self, n: int, generator: torch.Generator | None, points: torch.Tensor | None = None) -> torch.Tensor:
        """A random mini-batch of the training points (or of ``points``)."""
        pool = self.train if points is None else points
        return pool[torch.randint(len(pool), (n,), generator=generator, device=self.device)]
