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
model's own samples evolving. An update that would make a parameter non-finite is not applied:
the step reports ``diverged=True``, the momentum is cleared and ``divergences`` counts it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch

from ebm_engine.models.rbm import RBM, bernoulli, check_temperature


@dataclass
class RBMConfig:
    """Hyper-parameters; ``lr``, ``momentum``, ``k``, ``persistent``, ``weight_decay``, ``temperature``,
    ``batch_size`` and ``n_persistent`` may change between steps."""

    lr: float = 0.05
    k: int = 1
    persistent: bool = False
    momentum: float = 0.5
    weight_decay: float = 1e-4
    batch_size: int = 100
    n_persistent: int = 100
    temperature: float = 1.0
    stats_every: int = 1   # measure reconstruction error, free-energy gap and norms every n steps (0: never)

    def validate(self) -> None:
        if isinstance(self.stats_every, bool) or not isinstance(self.stats_every, int) or self.stats_every < 0:
            raise ValueError(f"stats_every must be an int >= 0, got {self.stats_every!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        for name in ("k", "batch_size", "n_persistent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.persistent, bool):
            raise ValueError(f"persistent must be a bool, got {self.persistent!r}")
        check_temperature(self.temperature)


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
        self.config.validate()
        self.generator = generator
        self.data = self._check_data(train_data)
        self.step_count = 0
        self.epoch = 0
        self.divergences = 0
        self._order = torch.randperm(len(self.data), generator=generator, device=self._gen_device())
        self._position = 0
        self._increments = [torch.zeros_like(p) for p in (rbm.W, rbm.v_bias, rbm.h_bias)]
        self._last_recon_error = self._last_gap = float("nan")
        self._last_norms = (float("nan"), float("nan"))
        self.fantasy = self._new_fantasy(self.config.n_persistent)
        self.fantasy_probs = self.fantasy.clone()

    # --- set-up -----------------------------------------------------------------------------------

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

    def _new_fantasy(self, n: int) -> torch.Tensor:
        """Chains started from the independent-pixel model of the data (Bernoulli of pixel means)."""
        means = self.data.mean(dim=0).expand(n, -1).contiguous()
        return bernoulli(means, self.generator)

    def update_config(self, **changes) -> None:
        """Change hyper-parameters between steps (validated; unknown names raise).

        Changing ``n_persistent`` re-creates the fantasy chains; toggling ``persistent`` keeps
        them (they exist, and are advanced, under CD as well).
        """
        unknown = set(changes) - {f.name for f in fields(RBMConfig)}
        if unknown:
            raise ValueError(f"unknown RBM training settings: {sorted(unknown)}")
        candidate = RBMConfig(**{**asdict(self.config), **changes})
        candidate.validate()
        if candidate.n_persistent != self.config.n_persistent:
            self.fantasy = self._new_fantasy(candidate.n_persistent)
            self.fantasy_probs = self.fantasy.clone()
        self.config = candidate

    # --- the two phases and the update ------------------------------------------------------------

    @torch.no_grad()
    def negative_chain(self, v_start: torch.Tensor, k: int, temperature: float,
                       h_start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``k`` sample-driven sweeps from ``v_start`` (or from a given first hidden sample): ``(v_probs, v)``."""
        rbm, g = self.rbm, self.generator
        h = h_start if h_start is not None else rbm.sample_h(v_start, g, temperature)[1]
        probs, v = rbm.sample_v(h, g, temperature)
        for _ in range(k - 1):
            _, h = rbm.sample_h(v, g, temperature)
            probs, v = rbm.sample_v(h, g, temperature)
        return probs, v

    @torch.no_grad()
    def gradient(self, v_pos: torch.Tensor, v_neg: torch.Tensor, temperature: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Ascent direction ``(dW, db, dc)`` of the log-likelihood from positive and negative visibles.

        Equals ``-∇θ [mean F_T(v_pos) - mean F_T(v_neg)]``, with hidden probabilities in both phases.
        """
        rbm = self.rbm
        ph_pos = rbm.h_probs(v_pos, temperature)
        ph_neg = rbm.h_probs(v_neg, temperature)
        return self._gradient(v_pos, ph_pos, v_neg, ph_neg, temperature)

    @staticmethod
    def _gradient(v_pos: torch.Tensor, ph_pos: torch.Tensor, v_neg: torch.Tensor, ph_neg: torch.Tensor,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n_pos, n_neg = v_pos.shape[0], v_neg.shape[0]
        d_w = v_pos.t() @ ph_pos / (n_pos * temperature) - v_neg.t() @ ph_neg / (n_neg * temperature)
        d_b = (v_pos.mean(dim=0) - v_neg.mean(dim=0)) / temperature
        d_c = (ph_pos.mean(dim=0) - ph_neg.mean(dim=0)) / temperature
        return d_w, d_b, d_c

    @torch.no_grad()
    def apply_gradient(self, grads: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                       measure: bool = True) -> tuple[bool, float]:
        """Momentum step with L2 decay on ``W``; returns ``(applied, |ΔW|)`` (NaN unless ``measure``).

        A non-finite increment is not applied (and the momentum is cleared): one host sync checks all.
        """
        cfg, rbm = self.config, self.rbm
        params = (rbm.W, rbm.v_bias, rbm.h_bias)
        for i, (param, grad, inc) in enumerate(zip(params, grads, self._increments)):
            inc.mul_(cfg.momentum).add_(grad, alpha=cfg.lr)
            if i == 0 and cfg.weight_decay:
                inc.add_(param, alpha=-cfg.lr * cfg.weight_decay)
        total = sum(p.sum() + inc.sum() for p, inc in zip(params, self._increments))
        if not bool(torch.isfinite(total)):   # NaN and ±inf in the parameters or steps survive the sum
            for inc in self._increments:
                inc.zero_()
            return False, float("nan")
        for param, inc in zip(params, self._increments):
            param.add_(inc)
        return True, float(self._increments[0].norm()) if measure else float("nan")

    def _next_batch(self) -> tuple[torch.Tensor, int, float]:
        """The next minibatch, its epoch and the fraction of that epoch done after it."""
        if self._position >= len(self._order):
            self.epoch += 1
            self._order = torch.randperm(len(self.data), generator=self.generator, device=self._gen_device())
            self._position = 0
        stop = min(self._position + self.config.batch_size, len(self._order))
        idx = self._order[self._position:stop].to(self.data.device)
        self._position = stop
        return self.data.index_select(0, idx), self.epoch, stop / len(self._order)

    @torch.no_grad()
    def step(self) -> RBMStats:
        """One minibatch update (CD-k or PCD-k per the config)."""
        cfg, rbm, g = self.config, self.rbm, self.generator
        t = cfg.temperature
        v0, epoch, fraction = self._next_batch()
        pre0 = torch.addmm(rbm.h_bias, v0, rbm.W)
        ph0 = torch.sigmoid(pre0 / t)
        measure = cfg.stats_every > 0 and self.step_count % cfg.stats_every == 0
        if measure:
            recon = torch.sigmoid(torch.addmm(rbm.v_bias, ph0, rbm.W.t()) / t)
            self._last_recon_error = float((recon - v0).pow(2).mean())
        if cfg.persistent:
            vn_probs, vn = self.negative_chain(self.fantasy, cfg.k, t)
            self.fantasy, self.fantasy_probs = vn, vn_probs
        else:
            _, vn = self.negative_chain(v0, cfg.k, t, h_start=bernoulli(ph0, g))
        pren = torch.addmm(rbm.h_bias, vn, rbm.W)
        phn = torch.sigmoid(pren / t)
        if measure:
            f_pos = -(v0 @ rbm.v_bias) / t - torch.nn.functional.softplus(pre0 / t).sum(dim=1)
            f_neg = -(vn @ rbm.v_bias) / t - torch.nn.functional.softplus(pren / t).sum(dim=1)
            self._last_gap = float(f_neg.mean() - f_pos.mean())
        applied, step_norm = self.apply_gradient(self._gradient(v0, ph0, vn, phn, t), measure=measure)
        self.step_count += 1
        if not applied:
            self.divergences += 1
        if measure:
            w_norm = float(rbm.W.norm())
            self._last_norms = (w_norm, step_norm / w_norm if w_norm > 0 else float("inf"))
        w_norm, ratio = self._last_norms
        return RBMStats(step=self.step_count, epoch=epoch, epoch_fraction=fraction,
                        recon_error=self._last_recon_error, free_energy_gap=self._last_gap, lr=cfg.lr,
                        momentum=cfg.momentum, k=cfg.k, persistent=cfg.persistent, temperature=t,
                        batch_size=v0.shape[0], weight_norm=w_norm, update_ratio=ratio, diverged=not applied)

    def run_epoch(self) -> list[RBMStats]:
        """Steps until the current epoch is finished (a full pass when called at an epoch start)."""
        stats = [self.step()]
        while self._position < len(self._order):
            stats.append(self.step())
        return stats

    @torch.no_grad()
    def advance_fantasy(self, k: int = 1, temperature: float | None = None) -> torch.Tensor:
        """Move the fantasy chains ``k`` Gibbs sweeps (at ``temperature``, default the config's); returns them."""
        t = self.config.temperature if temperature is None else check_temperature(temperature)
        self.fantasy_probs, self.fantasy = self.rbm.gibbs(self.fantasy, k, self.generator, t)
        return self.fantasy

    @torch.no_grad()
    def recon_error(self, data: torch.Tensor | None = None) -> float:
        """Per-pixel MSE between ``data`` (default: all training data) and its reconstruction."""
        data = self.data if data is None else self._check_data(data)
        return float((self.rbm.reconstruct(data, self.config.temperature) - data).pow(2).mean())
