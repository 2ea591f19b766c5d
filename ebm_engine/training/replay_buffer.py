"""Replay buffer of persistent chains for contrastive-divergence training (PCD / JEM / IGEBM)."""
from __future__ import annotations

from typing import Callable

import torch

InitFn = Callable[[int, torch.Generator | None], torch.Tensor]


class ReplayBuffer:
    """A fixed-size store of past negative samples.

    ``sample(n)`` returns ``n`` chains: each is re-initialised from ``init_fn`` with probability
    ``reinit_fraction`` (so fresh modes keep being discovered) and drawn from the buffer otherwise.
    ``update(indices, x)`` writes the chains back after they have been evolved.
    """

    def __init__(self, capacity: int, init_fn: InitFn, generator: torch.Generator | None = None):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.init_fn = init_fn
        self.store = init_fn(capacity, generator).detach().clone()
        self.capacity = capacity

    def sample(self, n: int, reinit_fraction: float,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` starting points and their buffer indices."""
        if not 0.0 <= reinit_fraction <= 1.0:
            raise ValueError(f"reinit_fraction must be in [0, 1], got {reinit_fraction}")
        device = self.store.device
        draw_on = generator.device if generator is not None else device   # a generator draws on its own device
        idx = torch.randint(self.capacity, (n,), generator=generator, device=draw_on).to(device)
        x = self.store[idx].clone()
        fresh = (torch.rand(n, generator=generator, device=draw_on) < reinit_fraction).to(device)
        n_fresh = int(fresh.sum())   # the one host sync: the fresh chains' count sizes init_fn's draw
        if n_fresh:
            x[fresh] = self.init_fn(n_fresh, generator).to(x)
        return x, idx

    def update(self, indices: torch.Tensor, x: torch.Tensor) -> None:
        """Write the chains back; where an index repeats, the last chain drawn for it wins.

        A repeated index in a plain ``store[indices] = x`` leaves the winner to the device (on a GPU
        it varies from run to run): every write of a slot carries the same chain here instead."""
        indices = indices.to(self.store.device)
        order = torch.arange(len(indices), device=indices.device)
        last = torch.full((self.capacity,), -1, dtype=torch.long, device=indices.device)
        last.scatter_reduce_(0, indices, order, reduce="amax")
        self.store[indices] = x.detach().to(self.store)[last[indices]]

    def write_back(self, indices: torch.Tensor, x: torch.Tensor, max_norm: float | None = None,
                   generator: torch.Generator | None = None, norm_width: int | None = None
                   ) -> tuple[torch.Tensor, int]:
        """``update``, then re-initialise the chains that are not finite or lie farther out than
        ``max_norm`` (measured on their first ``norm_width`` numbers; all by default). Returns the
        good chains and how many were re-initialised."""
        flat = x.reshape(len(x), -1)
        bad = ~torch.isfinite(flat).all(dim=1)
        if max_norm is not None:
            bad |= flat[:, :norm_width].norm(dim=1) > max_norm
        self.update(indices, x)
        return x[~bad], self.reset(indices[bad], generator)

    def reset(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """Re-initialise the stored chains at ``indices`` (or a boolean mask); returns how many."""
        if indices.dtype == torch.bool:
            indices = indices.nonzero().flatten()
        indices = indices.unique()
        if len(indices):
            self.store[indices] = self.init_fn(len(indices), generator).to(self.store)
        return len(indices)
