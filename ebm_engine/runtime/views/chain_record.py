"""Bookkeeping shared by the live sampling jobs: trails, a window of recent draws, histograms."""
from __future__ import annotations

import numpy as np
import torch

from ebm_engine.metrics.diagnostics import summarize
from ebm_engine.runtime.job import to_numpy


class ChainRecord:
    """Keeps the last ``trail`` positions of each chain for drawing and a window of recent draws
    (``window`` steps × chains) for histograms and diagnostics. ``restart()`` empties the window
    (after a knob change, so diagnostics describe the current settings only).
    """

    def __init__(self, n_chains: int, dim: int, trail: int = 24, window: int = 1500):
        self.trail_len, self.window_len = trail, window
        self.resize(n_chains, dim)

    def resize(self, n_chains: int, dim: int) -> None:
        self.n_chains, self.dim = n_chains, dim
        self.trail = np.full((self.trail_len, n_chains, dim), np.nan, np.float32)
        self.last_accepted = np.ones(n_chains, bool)
        self.restart()

    def restart(self) -> None:
        self.draws = np.zeros((self.window_len, self.n_chains, self.dim), np.float32)
        self.energies = np.zeros((self.window_len, self.n_chains), np.float32)
        self.n_draws = 0
        self.accepted = np.zeros(self.n_chains, np.float64)
        self.divergent = np.zeros(self.n_chains, np.int64)
        self.grad_evals = 0
        self.sampling_time = 0.0

    def record(self, x: torch.Tensor, info, seconds: float) -> None:
        """Record the chains' positions ``x`` after a kernel step that returned ``info`` and took ``seconds``."""
        pos = to_numpy(x.reshape(len(x), -1))
        self.trail = np.roll(self.trail, -1, axis=0)
        self.trail[-1] = pos
        slot = self.n_draws % self.window_len
        self.draws[slot] = pos
        self.energies[slot] = to_numpy(info.energy)
        self.n_draws += 1
        self.last_accepted = to_numpy(info.accepted.float()) > 0.5
        self.accepted += self.last_accepted
        self.divergent += to_numpy(info.divergent.float()).astype(np.int64)
        self.grad_evals += info.n_grad_evals
        self.sampling_time += seconds

    def cut_trails(self, chains: np.ndarray) -> None:
        """Break the trails of chains that jumped (reset or spawned) so no line crosses the plot."""
        self.trail[:, chains] = np.nan

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        """Draws ``(steps, chains, dim)`` and energies ``(steps, chains)`` in time order."""
        n = min(self.n_draws, self.window_len)
        start = self.n_draws % self.window_len if self.n_draws > self.window_len else 0
        order = (np.arange(n) + start) % self.window_len
        return self.draws[order], self.energies[order]

    def trails(self, max_chains: int = 64) -> dict[str, list]:
        """Per-chain polylines (NaN-free) for a multi-line glyph."""
        segments = [self.trail[:, c] for c in range(min(self.n_chains, max_chains))]
        segments = [seg[np.isfinite(seg).all(axis=1)] for seg in segments]
        return {"xs": [seg[:, 0] for seg in segments], "ys": [seg[:, 1] for seg in segments]}

    def histograms(self, bounds, bins: int = 40) -> dict[str, np.ndarray]:
        """Normalised marginal histograms of the window along x and y, with bin edges."""
        draws, _ = self.window()
        out = {}
        for axis, name in ((0, "x"), (1, "y")):
            lo, hi = bounds[axis]
            values = draws[..., axis].ravel() if len(draws) else np.zeros(0)
            counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
            width = (hi - lo) / bins
            out[f"hist_{name}"] = counts / max(1, len(values)) / width
            out[f"edges_{name}"] = edges
        return out

    def diagnostics(self) -> dict:
        """MCMC diagnostics of the window (none below 8 draws)."""
        draws, _ = self.window()
        if len(draws) < 8:
            return {}
        return summarize(draws, elapsed_s=self.sampling_time, n_grad_evals=self.grad_evals,
                         accept_rate=self.accepted / max(1, self.n_draws), divergences=self.divergent)
