"""RBM: a restricted Boltzmann machine with binary visible and hidden units.

Conventions (``v`` is ``(batch, n_visible)``, ``h`` is ``(batch, n_hidden)``, ``b`` = ``v_bias``,
``c`` = ``h_bias``):

- joint energy ``E(v, h) = -(v·b + h·c + (vW)·h)``, one value per sample (``v @ W @ h`` would
  have the wrong shapes for a batch);
- at temperature ``T`` the joint is ``p_T(v, h) ∝ exp(-E(v, h)/T)``, so every conditional and
  sampler divides its pre-activation by ``T``;
- ``free_energy(v, T) = -log Σ_h exp(-E(v, h)/T) = -v·b/T - Σ_j softplus((c_j + (vW)_j)/T)``
  is dimensionless: ``p_T(v) = exp(-F_T(v)) / Z_T``. (It is *not* ``F_1(v)/T``: temperature acts
  on the joint, before ``h`` is summed out, which is why ``RBM`` is not an ``Energy`` subclass,
  whose ``tempered`` would divide the marginal energy instead.)
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ebm_engine.samplers.state import check_count, check_positive


def bernoulli(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 draws with the given probabilities: ``u < p`` for uniforms ``u`` (several times faster
    than ``torch.bernoulli`` on the CPU for the small matrices of an RBM)."""
    u = torch.rand(probs.shape, generator=generator, device=probs.device, dtype=probs.dtype)
    return (u < probs).to(probs.dtype)


def base_bias_from_data(data: torch.Tensor, clip: float = 1e-3) -> torch.Tensor:
    """Visible biases of the maximum-likelihood ``W = 0`` model: ``logit`` of the pixel means clipped
    to ``[clip, 1 - clip]`` (Hinton's practical guide §8; the clip keeps always-off or always-on
    pixels finite)."""
    if data.dim() != 2 or data.shape[0] < 1:
        raise ValueError(f"data must have shape (N >= 1, n_visible), got {tuple(data.shape)}")
    p = data.double().mean(dim=0).clamp(clip, 1 - clip)
    return torch.log(p) - torch.log1p(-p)


class RBM(nn.Module):
    """Bernoulli-Bernoulli RBM with weights ``W (n_visible, n_hidden)`` and both biases.

    ``W`` starts as ``N(0, init_std²)`` drawn from ``generator``; biases start at zero (use
    ``init_visible_bias(data)`` for the usual data-driven start). All methods are batched,
    device-agnostic and use explicit generators. ``forward(v)`` is ``free_energy(v)`` at ``T = 1``.
    """

    def __init__(self, n_visible: int, n_hidden: int, generator: torch.Generator | None = None,
                 init_std: float = 0.01, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        check_count("n_visible", n_visible, 1)
        check_count("n_hidden", n_hidden, 1)
        if not (math.isfinite(init_std) and init_std >= 0):
            raise ValueError(f"init_std must be a finite number >= 0, got {init_std}")
        if generator is not None and device is None:
            device = generator.device
        dtype = dtype or torch.get_default_dtype()
        w = torch.randn(n_visible, n_hidden, generator=generator, device=device, dtype=dtype) * init_std
        self.W = nn.Parameter(w)
        self.v_bias = nn.Parameter(torch.zeros(n_visible, device=device, dtype=dtype))
        self.h_bias = nn.Parameter(torch.zeros(n_hidden, device=device, dtype=dtype))
        self._packed: torch.Tensor | None = None
        self.packed()

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    @torch.no_grad()
    def packed(self) -> torch.Tensor:
        """All parameters in one ``(n_visible + 1, n_hidden + 1)`` tensor ``[[W, b], [cᵀ, 0]]``.

        ``W``, ``v_bias`` and ``h_bias`` are views of it, so in-place changes of either show in the
        other. With a constant-1 unit appended to ``v`` and to ``h``, ``[v, 1] @ P[:, :-1]`` is the
        hidden pre-activation and ``[h, 1] @ P[:-1].T`` the visible one, and a single outer product
        ``[v, 1]ᵀ [h, 1]`` holds the statistics of ``W`` and both biases. If the parameters were
        replaced or moved (``.to()``, ``.double()``), they are packed again (values kept).
        """
        n_v, n_h = self.W.shape
        p = self._packed
        if p is not None:   # are W, b and c still the views of p? (addresses compared, no views made)
            start, size = p.data_ptr(), p.element_size()
            if (self.W.data_ptr() == start and self.W.stride() == p.stride() and p.shape == (n_v + 1, n_h + 1)
                    and self.v_bias.data_ptr() == start + n_h * size
                    and self.h_bias.data_ptr() == start + n_v * (n_h + 1) * size
                    and self.v_bias.stride() == (n_h + 1,) and self.h_bias.stride() == (1,)
                    and p.device == self.W.device and p.dtype == self.W.dtype):
                return p
        p = torch.zeros(n_v + 1, n_h + 1, device=self.W.device, dtype=self.W.dtype)
        p[:n_v, :n_h] = self.W
        p[:n_v, n_h] = self.v_bias
        p[n_v, :n_h] = self.h_bias
        self.W.data = p[:n_v, :n_h]
        self.v_bias.data = p[:n_v, n_h]
        self.h_bias.data = p[n_v, :n_h]
        self._packed = p
        return p

    def _check(self, x: torch.Tensor, width: int, name: str) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != width:
            raise ValueError(f"{name} must have shape (batch, {width}), got {tuple(x.shape)}")
        return x.to(device=self.W.device, dtype=self.W.dtype)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Joint energy ``-(v·b + h·c + (vW)·h)`` per sample, shape ``(batch,)``."""
        v = self._check(v, self.n_visible, "v")
        h = self._check(h, self.n_hidden, "h")
        if v.shape[0] != h.shape[0]:
            raise ValueError(f"v and h batch sizes differ: {v.shape[0]} vs {h.shape[0]}")
        return -(v @ self.v_bias + h @ self.h_bias + ((v @ self.W) * h).sum(dim=1))

    def free_energy(self, v: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """``F_T(v) = -log Σ_h exp(-E(v,h)/T)``, shape ``(batch,)``; ``p_T(v) ∝ exp(-F_T(v))``."""
        t = check_positive("temperature", temperature)
        v = self._check(v, self.n_visible, "v")
        return -(v @ self.v_bias) / t - F.softplus(torch.addmm(self.h_bias, v, self.W) / t).sum(dim=1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.free_energy(v)

    def h_probs(self, v: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """``p_T(h_j = 1 | v) = σ((c_j + (vW)_j) / T)``, shape ``(batch, n_hidden)``."""
        t = check_positive("temperature", temperature)
        pre = torch.addmm(self.h_bias, self._check(v, self.n_visible, "v"), self.W)
        return torch.sigmoid(pre if t == 1.0 else pre / t)

    def v_probs(self, h: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """``p_T(v_i = 1 | h) = σ((b_i + (W h)_i) / T)``, shape ``(batch, n_visible)``."""
        t = check_positive("temperature", temperature)
        pre = torch.addmm(self.v_bias, self._check(h, self.n_hidden, "h"), self.W.t())
        return torch.sigmoid(pre if t == 1.0 else pre / t)

    @torch.no_grad()
    def sample_h(self, v: torch.Tensor, generator: torch.Generator | None = None,
                 temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(p(h=1|v), h)`` with ``h`` a Bernoulli draw of those probabilities (no graph)."""
        probs = self.h_probs(v, temperature)
        return probs, bernoulli(probs, generator)

    @torch.no_grad()
    def sample_v(self, h: torch.Tensor, generator: torch.Generator | None = None,
                 temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(p(v=1|h), v)`` with ``v`` a Bernoulli draw of those probabilities (no graph)."""
        probs = self.v_probs(h, temperature)
        return probs, bernoulli(probs, generator)

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, k: int = 1, generator: torch.Generator | None = None,
              temperature: float = 1.0, clamp_mask: torch.Tensor | None = None,
              clamp_values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``k`` block-Gibbs sweeps ``v -> h -> v`` at temperature ``T``; returns ``(v_probs, v_sample)``.

        With ``clamp_mask`` (bool, ``(n_visible,)`` or ``(batch, n_visible)``) the masked visible
        units are set to ``clamp_values`` (default: their values in ``v``) before the first sweep
        and after every sweep, in both the returned sample and probabilities: the free units are
        then sampled from ``p_T(v_free | v_clamped)`` (clamp and complete, e.g. inpainting).
        ``k = 0`` returns ``v`` (clamped) as both.
        """
        check_count("k", k, 0)
        t = check_positive("temperature", temperature)
        v = self._check(v, self.n_visible, "v")
        mask, values = self._clamp(v, clamp_mask, clamp_values)
        if mask is not None:
            v = torch.where(mask, values, v)
        probs = v
        for _ in range(k):
            _, h = self.sample_h(v, generator, t)
            probs, v = self.sample_v(h, generator, t)
            if mask is not None:
                v = torch.where(mask, values, v)
                probs = torch.where(mask, values, probs)
        return probs, v

    def _clamp(self, v: torch.Tensor, clamp_mask: torch.Tensor | None, clamp_values: torch.Tensor | None
               ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if clamp_mask is None:
            if clamp_values is not None:
                raise ValueError("clamp_values was given without clamp_mask")
            return None, None
        mask = torch.as_tensor(clamp_mask, device=v.device)
        if mask.dtype != torch.bool:
            raise ValueError(f"clamp_mask must be a bool tensor, got {mask.dtype}")
        if mask.shape not in ((self.n_visible,), tuple(v.shape)):
            raise ValueError(f"clamp_mask must have shape ({self.n_visible},) or {tuple(v.shape)}, "
                             f"got {tuple(mask.shape)}")
        values = v.clone() if clamp_values is None else torch.as_tensor(clamp_values, device=v.device,
                                                                         dtype=v.dtype)
        try:
            values = values.expand_as(v)
        except RuntimeError as err:
            raise ValueError(f"clamp_values of shape {tuple(values.shape)} does not broadcast to "
                             f"{tuple(v.shape)}") from err
        return mask.expand_as(v), values

    def reconstruct(self, v: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """One deterministic up-down pass with probabilities: ``p(v | p(h | v))``."""
        return self.v_probs(self.h_probs(v, temperature), temperature)

    @torch.no_grad()
    def init_visible_bias(self, data: torch.Tensor, clip: float = 1e-3) -> None:
        """Set the visible biases to ``base_bias_from_data(data, clip)``: with ``W = 0``, the
        maximum-likelihood independent-pixel model."""
        if not 0 < clip < 0.5:
            raise ValueError(f"clip must be in (0, 0.5), got {clip}")
        self.v_bias.copy_(base_bias_from_data(self._check(data, self.n_visible, "data"), clip))

    @classmethod
    def from_sklearn(cls, bernoulli_rbm: Any, dtype: torch.dtype | None = None,
                     device: torch.device | str | None = None) -> "RBM":
        """An RBM with the weights of a fitted ``sklearn.neural_network.BernoulliRBM``.

        sklearn stores ``components_ (n_hidden, n_visible)``, ``intercept_visible_`` and
        ``intercept_hidden_``; its ``transform`` equals our ``h_probs``.
        """
        try:
            comps = torch.as_tensor(bernoulli_rbm.components_)
            b = torch.as_tensor(bernoulli_rbm.intercept_visible_)
            c = torch.as_tensor(bernoulli_rbm.intercept_hidden_)
        except AttributeError as err:
            raise ValueError("from_sklearn needs a fitted BernoulliRBM (components_, intercept_visible_, "
                             "intercept_hidden_)") from err
        n_hidden, n_visible = comps.shape
        rbm = cls(n_visible, n_hidden, init_std=0.0, dtype=dtype, device=device)
        with torch.no_grad():
            rbm.W.copy_(comps.t())
            rbm.v_bias.copy_(b)
            rbm.h_bias.copy_(c)
        return rbm
