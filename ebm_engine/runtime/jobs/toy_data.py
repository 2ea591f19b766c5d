"""Training and held-out points of a 2D toy set, with its box and chain initialisation, as the 2D jobs use them."""
from __future__ import annotations

import torch

from ebm_engine.data import toy2d


class ToyData:
    """Points of ``toy2d`` set ``name`` drawn once from ``seed``: ``train``, ``test``, ``bounds``, samplers."""

    def __init__(self, name: str, n_train: int, n_test: int, seed: int, device: torch.device):
        if name not in toy2d.NAMES:
            raise ValueError(f"unknown data set {name!r}; choose from {list(toy2d.NAMES)}")
        data_gen = torch.Generator().manual_seed(int(seed))
        self.name = name
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
        return float(-self.log_prob(self.test.cpu()).mean()) if self.log_prob else None

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
