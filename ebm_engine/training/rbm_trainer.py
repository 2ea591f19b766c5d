"""Step-able CD-k / PCD training of an ``RBM`` (no autograd: the updates are closed-form tensor ops).

One ``step()`` is one minibatch update (Hinton, "A practical guide to training RBMs", 2010):

- positive phase: data ``v0`` and the hidden *probabilities* ``p(h | v0)``;
- negative phase: a chain driven by *samples*: ``h ~ p(h | v)``, ``v ~ p(v | h)``, repeated ``k``
  times, started at the data (CD-k) or at the persistent ``fantasy`` chains (PCD, Tieleman 2008);
- negative statistics: the final visible *sample* ``v_k`` with hidden *probabilities* ``p(h | v_k)``.
  (§3 also allows the last visible probabilities, which lowers noise but biases the estimate;
  samples keep CD and PCD identical and a valid Markov chain for PCD, as in scikit-learn.)
- update: ``Δθ ← momentum·Δθ + lr·(grad - weight_decay·W)`` with the L2 term on ``W`` only, where
  ``grad_W = (v0ᵀ p(h|v0) - v_kᵀ p(h|v_k)) / (batch · T)`` (biases alike).

``temperature`` ``T`` is applied to both phases: training then ascends the log-likelihood of the
tempered model ``p_T(v) ∝ exp(-F_T(v))``; ``T = 1`` is ordinary CD/PCD.

The ``fantasy`` chains (``n_persistent`` of them) always exist: PCD uses them as its negative
chains; under CD they only move when ``advance_fantasy`` is called, so the app can show the
model's own samples evolving. The tensor work of an update is ``rbm_update.PackedRBMUpdate``.

If the updates of a call (``step``, ``train``, ``train_epoch``) made a parameter non-finite, they
are undone: the parameters return to their values at the start of the call, the momentum is
cleared, the stats say ``diverged=True`` and ``divergences`` counts it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import param
import torch

from ebm_engine.config import POSITIVE, Config
from ebm_engine.device import threads_for_product
from ebm_engine.models.rbm import RBM, bernoulli
from ebm_engine.samplers.state import check_count, check_positive
from ebm_engine.training.rbm_update import ChainBuffers, PackedRBMUpdate


class RBMConfig(Config):
    """Hyper-parameters; ``lr``, ``momentum``, ``k``, ``persistent``, ``weight_decay``, ``temperature``,
    ``batch_size`` and ``n_persistent`` may change between steps."""

    lr = param.Number(0.05, **POSITIVE)
    k = param.Integer(1, bounds=(1, None))
    persistent = param.Boolean(False)
    momentum = param.Number(0.5, bounds=(0, 1), inclusive_bounds=(True, False))
    weight_decay = param.Number(1e-4, bounds=(0, None))
    batch_size = param.Integer(100, bounds=(1, None))
    n_persistent = param.Integer(100, bounds=(1, None))
    temperature = param.Number(1.0, **POSITIVE)
    stats_every = param.Integer(1, bounds=(0, None), doc="measure reconstruction error, free-energy gap and "
                                                         "norms every n steps (0: never)")


@dataclass
class RBMStats:
    """What one minibatch update measured (plain Python numbers)."""

    step: int                 # updates done so far, this one included
    epoch: int                # 0-based epoch this minibatch belongs to
    epoch_fraction: float     # fraction of that epoch done after this step (1.0 on its last batch)
    recon_error: float        # per-pixel MSE between the batch and reconstruct(batch), before the update
    free_energy_gap: float    # mean F_T(negatives) - mean F_T(batch): > 0 when data are more probable
    lr: float
    momentum: float
    k: int
    persistent: bool
    temperature: float
    batch_size: int           # rows in this minibatch (the epoch's last one may be smaller)
    weight_norm: float        # Frobenius norm of W after the update
    update_ratio: float       # |ΔW| / |W|: Hinton suggests about 1e-3
    diverged: bool            # the update was non-finite and was not applied


class RBMTrainer:
    """CD-k / PCD trainer over ``train_data (N, n_visible)`` of values in ``[0, 1]`` (usually 0/1).

    Minibatches follow a fresh random permutation each epoch (drawn from ``generator``); every
    row is used exactly once per epoch, the last batch holding the remainder.
    """

    def __init__(self, rbm: RBM, train_data: torch.Tensor, config: RBMConfig | None = None,
                 generator: torch.Generator | None = None):
        self.rbm = rbm
        self.config = config or RBMConfig()
        self.generator = generator
        self.data = self._check_data(train_data)
        self._data_with_unit = torch.cat([self.data, torch.ones_like(self.data[:, :1])], dim=1)
        self.step_count = 0
        self.epoch = 0
        self.divergences = 0
        self._n_rows = len(self.data)
        self._order = torch.randperm(self._n_rows, generator=generator, device=self._gen_device())
        self._position = 0
        self._batches: list[tuple[torch.Tensor, int, int]] | None = None
        self._batches_of: tuple[int, int] | None = None
        self._next_batch_index = 0
        self._kernel = PackedRBMUpdate(generator)
        packed = rbm.packed()
        self._increment = torch.zeros_like(packed)
        self._last_recon_error = self._last_gap = float("nan")
        self._last_norms = (float("nan"), float("nan"))
        self._cd_buffers: ChainBuffers | None = None
        self._pcd_buffers = self._new_chains(self.config.n_persistent, self.config.batch_size)

    def _gen_device(self) -> torch.device:
        return self.generator.device if self.generator is not None else torch.device("cpu")

    def _check_data(self, data: torch.Tensor) -> torch.Tensor:
        if data.dim() != 2 or data.shape[1] != self.rbm.n_visible or data.shape[0] < 1:
            raise ValueError(f"train_data must have shape (N >= 1, {self.rbm.n_visible}), got {tuple(data.shape)}")
        data = data.to(device=self.rbm.W.device, dtype=self.rbm.W.dtype)
        if not torch.isfinite(data).all():
            raise ValueError("train_data holds non-finite values")
        if data.min() < 0 or data.max() > 1:
            raise ValueError(f"train_data must lie in [0, 1], got [{float(data.min())}, {float(data.max())}]")
        return data

    def _buffers(self, n_neg: int, max_pos: int) -> ChainBuffers:
        return ChainBuffers(n_neg, max_pos, self.rbm.n_visible, self.rbm.n_hidden, self.data.device, self.data.dtype)

    def _new_chains(self, n: int, max_pos: int, start: torch.Tensor | None = None) -> ChainBuffers:
        """Persistent chains, started at ``start`` or from the independent-pixel model of the data."""
        chains = self._buffers(n, max_pos)
        if start is None:
            start = bernoulli(self.data.mean(dim=0).expand(n, -1).contiguous(), self.generator)
        chains.negatives.copy_(start)
        self._fantasy_probs = start.clone()
        self._fantasy_probs_stale = False
        return chains

    @property
    def fantasy(self) -> torch.Tensor:
        """The persistent chains' visible sample ``(n_persistent, n_visible)`` (updated in place)."""
        return self._pcd_buffers.negatives

    @property
    def fantasy_probs(self) -> torch.Tensor:
        """The persistent chains' last visible probabilities (a buffer, computed from the training
        updates' pre-activations when first asked for after them)."""
        if self._fantasy_probs_stale:
            torch.sigmoid(self._pcd_buffers.v_logits, out=self._fantasy_probs)
            self._fantasy_probs_stale = False
        return self._fantasy_probs

    def update_config(self, **changes) -> None:
        """Change hyper-parameters between steps (validated; unknown names raise).

        Changing ``n_persistent`` re-creates the fantasy chains; toggling ``persistent`` keeps
        them (they exist, and are advanced, under CD as well).
        """
        candidate = self.config.replace(**changes)
        if self.config.momentum == 0.0 and self.config.weight_decay == 0.0 and (
                candidate.momentum != 0.0 or candidate.weight_decay != 0.0):
            self._increment.zero_()   # momentum-free updates leave no increment behind
        if candidate.n_persistent != self.config.n_persistent:
            self._pcd_buffers = self._new_chains(candidate.n_persistent, candidate.batch_size)
        elif candidate.batch_size != self.config.batch_size:
            self._pcd_buffers = self._new_chains(candidate.n_persistent, candidate.batch_size, self.fantasy)
        self.config = candidate

    @torch.no_grad()
    def gradient(self, v_pos: torch.Tensor, v_neg: torch.Tensor, temperature: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Ascent direction ``(dW, db, dc)`` of the log-likelihood from positive and negative visibles.

        Equals ``-∇θ [mean F_T(v_pos) - mean F_T(v_neg)]``, with hidden probabilities in both phases.
        """
        rbm, t = self.rbm, temperature
        ph_pos = rbm.h_probs(v_pos, t)
        ph_neg = rbm.h_probs(v_neg, t)
        n_pos, n_neg = v_pos.shape[0], v_neg.shape[0]
        d_w = v_pos.t() @ ph_pos / (n_pos * t) - v_neg.t() @ ph_neg / (n_neg * t)
        d_b = (v_pos.mean(dim=0) - v_neg.mean(dim=0)) / t
        d_c = (ph_pos.mean(dim=0) - ph_neg.mean(dim=0)) / t
        return d_w, d_b, d_c

    @torch.no_grad()
    def apply_gradient(self, grads: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> bool:
        """Momentum step with L2 decay on ``W`` from explicit gradients; ``False`` (nothing changed,
        momentum cleared) if the result would be non-finite. ``step`` does the same, fused."""
        cfg, rbm, inc = self.config, self.rbm, self._increment
        n_v, n_h = rbm.n_visible, rbm.n_hidden
        increments = (inc[:n_v, :n_h], inc[:n_v, n_h], inc[n_v, :n_h])   # views for W, v_bias and h_bias
        for increment, grad in zip(increments, grads):
            increment.mul_(cfg.momentum).add_(grad, alpha=cfg.lr)
        if cfg.weight_decay:
            increments[0].add_(rbm.W, alpha=-cfg.lr * cfg.weight_decay)
        if not bool(torch.isfinite(rbm.packed().sum() + self._increment.sum())):
            self._increment.zero_()
            return False
        rbm.packed().add_(self._increment)
        return True

    def _next_indices(self) -> tuple[torch.Tensor, int, int, float]:
        """Row indices of the next minibatch, their number, its epoch and the fraction of that
        epoch done after it."""
        n, batch = self._n_rows, self.config.batch_size
        if self._position >= n:
            self.epoch += 1
            self._order = torch.randperm(n, generator=self.generator, device=self._gen_device())
            self._position = 0
            self._batches = None
        if self._batches is None or self._batches_of != (self.epoch, batch):
            # the rest of the epoch planned at once: (row indices, their number, position after)
            start = self._position
            self._batches = [(idx, idx.shape[0], min(start + (i + 1) * batch, n))
                             for i, idx in enumerate(self._order[start:].split(batch))]
            self._batches_of, self._next_batch_index = (self.epoch, batch), 0
        idx, count, stop = self._batches[self._next_batch_index]
        self._next_batch_index += 1
        self._position = stop
        return idx, count, self.epoch, stop / n

    @torch.no_grad()
    def train(self, n_updates: int) -> RBMStats:
        """``n_updates`` minibatch updates (statistics every ``stats_every``); returns those of the last one."""
        check_count("n_updates", n_updates, 1)
        cfg, rbm, kernel = self.config, self.rbm, self._kernel
        work = max(cfg.batch_size, cfg.n_persistent) * 2 * (rbm.n_visible + 1) * (rbm.n_hidden + 1)
        # a second CPU thread, when allowed, draws the next chunk of logistic variates meanwhile
        kernel.logistic.prefetch = torch.get_num_threads() > 1
        with threads_for_product(work, self.data.device):
            return self._train(n_updates)

    def _train(self, n_updates: int) -> RBMStats:
        cfg, rbm, kernel = self.config, self.rbm, self._kernel
        packed = rbm.packed()
        if self._increment.shape != packed.shape or self._increment.device != packed.device:
            self._increment = torch.zeros_like(packed)
        t, persistent, data = cfg.temperature, cfg.persistent, self._data_with_unit
        saved = packed.clone()
        measured = False
        k, lr, momentum, decay, every = cfg.k, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.stats_every
        chains = self._pcd_buffers if persistent else None
        for _ in range(n_updates):
            idx, n_pos, epoch, fraction = self._next_indices()
            if not persistent:   # scratch chains, one per positive row, re-made when the batch size changes
                if self._cd_buffers is None or self._cd_buffers.n_neg != n_pos:
                    self._cd_buffers = self._buffers(n_pos, n_pos)
                chains = self._cd_buffers
            kernel.negatives(packed, chains, data, idx, n_pos, k, t, persistent)
            measured = every > 0 and self.step_count % every == 0
            if measured:   # reconstruction error and free-energy gap, with the parameters before the update
                w_before = rbm.W.clone()
                v0, vn = chains.positives, chains.negatives
                self._last_recon_error = float((rbm.v_probs(chains.positive_hidden, t) - v0).pow(2).mean())
                self._last_gap = float(rbm.free_energy(vn, t).mean() - rbm.free_energy(v0, t).mean())
            kernel.apply(packed, self._increment, chains, lr, t, momentum, decay)
            if measured:
                w_norm = float(rbm.W.norm())
                step_norm = float((rbm.W - w_before).norm())
                self._last_norms = (w_norm, step_norm / w_norm if w_norm > 0 else float("inf"))
            self.step_count += 1
        if persistent:
            self._fantasy_probs_stale = True
        diverged = not math.isfinite(float(packed.sum()))
        if diverged:
            packed.copy_(saved)
            self._increment.zero_()
            self.divergences += 1
            self._last_norms = (float(rbm.W.norm()), float("nan"))
        w_norm, ratio = self._last_norms
        return RBMStats(step=self.step_count, epoch=epoch, epoch_fraction=fraction,
                        recon_error=self._last_recon_error, free_energy_gap=self._last_gap, lr=cfg.lr,
                        momentum=cfg.momentum, k=cfg.k, persistent=cfg.persistent, temperature=t,
                        batch_size=n_pos, weight_norm=w_norm, update_ratio=ratio, diverged=diverged)

    def step(self) -> RBMStats:
        """One minibatch update (CD-k or PCD-k per the config)."""
        return self.train(1)

    def train_epoch(self) -> RBMStats:
        """Updates until the current epoch is finished (a full pass when called at an epoch start)."""
        left = self._n_rows - self._position
        if left <= 0:
            left = self._n_rows
        return self.train(-(-left // self.config.batch_size))

    def run_epoch(self) -> list[RBMStats]:
        """Like ``train_epoch``, one ``step`` at a time, with the statistics of every update."""
        stats = [self.step()]
        while self._position < self._n_rows:
            stats.append(self.step())
        return stats

    def resume_state(self) -> dict[str, torch.Tensor]:
        """What an exact resume needs besides the weights: momentum, persistent chains, the epoch's
        order and position, and the stream of the Bernoulli draws' random numbers."""
        stream = self._kernel.logistic.state()
        return {"increment": self._increment, "order": self._order, "position": torch.tensor(self._position),
                "epoch": torch.tensor(self.epoch), "chains": self._pcd_buffers.negatives,
                "chain_probs": self.fantasy_probs, "uniforms_generator": stream["generator"],
                "uniforms_next": stream["next"]}

    def load_resume_state(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Restore ``resume_state()`` where it fits this trainer; returns the parts restored."""
        restored = []
        if state.get("increment") is not None and state["increment"].shape == self._increment.shape:
            self._increment.copy_(state["increment"])
            restored.append("momentum")
        if state.get("chains") is not None and state["chains"].shape == self.fantasy.shape:
            self.fantasy.copy_(state["chains"])
            self.fantasy_probs.copy_(state.get("chain_probs", state["chains"]))
            restored.append("persistent chains")
        if state.get("order") is not None and len(state["order"]) == self._n_rows:
            self._order = state["order"].to(self._order)
            self._position, self.epoch = int(state["position"]), int(state["epoch"])
            self._batches = self._batches_of = None
            restored.append("epoch position")
        if state.get("uniforms_generator") is not None:
            self._kernel.logistic.load_state({"generator": state["uniforms_generator"],
                                              "next": state["uniforms_next"]})
            restored.append("Gibbs sampling stream")
        return restored

    @torch.no_grad()
    def advance_fantasy(self, k: int = 1, temperature: float | None = None) -> torch.Tensor:
        """Move the fantasy chains ``k`` Gibbs sweeps (at ``temperature``, default the config's); returns them."""
        t = self.config.temperature if temperature is None else check_positive("temperature", temperature)
        probs, sample = self.rbm.gibbs(self.fantasy, k, self.generator, t)
        self.fantasy_probs.copy_(probs)
        self.fantasy.copy_(sample)
        return self.fantasy

    @torch.no_grad()
    def recon_error(self, data: torch.Tensor | None = None) -> float:
        """Per-pixel MSE between ``data`` (default: all training data) and its reconstruction."""
        data = self.data if data is None else self._check_data(data)
        return float((self.rbm.reconstruct(data, self.config.temperature) - data).pow(2).mean())
