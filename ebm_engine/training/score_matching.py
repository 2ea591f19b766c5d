"""Score-matching objectives: train an energy without its partition function.

The model's score is ``s(x) = ∇x log p(x) = -∇x E(x)``; ``log Z`` does not depend on ``x``, so it
never appears. Three objectives, all for any event shape ``(batch, *event)``:

- ``denoising_score_matching_loss`` (Vincent 2011): perturb ``x̃ = x + σ ε`` and regress the
  model's score at ``x̃`` on the score of the perturbation kernel, ``-(x̃ - x)/σ² = -ε/σ``.
  Weighted by ``σ²`` (Song & Ermon 2019) so that several noise levels share one scale:
  ``½ ||σ s(x̃) + ε||²``. Its minimiser is the score of the noisy data ``p_σ = p * N(0, σ² I)``.
  Mind the sign: with ``s = -∇E``, ``∇E(x̃)`` must match ``+ε/σ``.
- ``sliced_score_matching_loss`` (Song et al. 2019): Hyvärinen's objective with the Hessian
  trace replaced by random projections ``vᵀ ∇s v`` (Rademacher or Gaussian ``v``); one extra
  backward pass per projection, whatever the dimension.
- ``exact_score_matching_loss`` (Hyvärinen 2005): ``½ ||s||² + tr ∇s`` with the trace computed
  exactly, one backward pass per dimension: for low dimensions.

Each returns the mean over the batch, or per-sample values with ``reduction="none"``. Every
objective builds a graph through ``∇x E`` (``create_graph=True``) so the loss can be
back-propagated into the energy's parameters.
"""
from __future__ import annotations

from typing import Callable

import torch

from ebm_engine.samplers.state import per_chain_sum, randn_on

EnergyFn = Callable[[torch.Tensor], torch.Tensor]
PROJECTIONS = ("rademacher", "gaussian")
EXACT_MAX_DIM = 64


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def energy_gradient(energy: EnergyFn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_leaf, ∇x E(x))`` with a graph kept for second derivatives and parameter gradients."""
    x = x.detach().requires_grad_(True)
    e = energy(x)
    if e.shape != (x.shape[0],):
        raise ValueError(f"energy returned shape {tuple(e.shape)}, expected ({x.shape[0]},)")
    (grad,) = torch.autograd.grad(e.sum(), x, create_graph=True)
    return x, grad


def _per_sample(sigma: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Noise level(s) broadcast to ``x``'s shape: a float or one value per sample."""
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if s.dim() == 0:
        s = s.expand(x.shape[0])
    if s.shape != (x.shape[0],) or not bool((s > 0).all()) or not bool(torch.isfinite(s).all()):
        raise ValueError(f"sigma must be positive and finite, a float or one value per sample; got shape "
                         f"{tuple(s.shape)}")
    return s.reshape(-1, *([1] * (x.dim() - 1)))


def denoising_score_matching_loss(energy: EnergyFn, x: torch.Tensor, sigma: float | torch.Tensor,
                                  generator: torch.Generator | None = None,
                                  reduction: str = "mean") -> torch.Tensor:
    """``½ ||σ s(x + σε) + ε||²``, ``s = -∇E``: the σ²-weighted denoising score-matching loss.

    ``sigma`` is a float or a ``(batch,)`` tensor (one noise level per sample). ``energy`` maps
    the perturbed points to ``(batch,)``; for a noise-conditional model pass a closure that
    conditions on the same per-sample levels.
    """
    s = _per_sample(sigma, x)
    eps = randn_on(x.shape, x, generator)
    _, grad = energy_gradient(energy, x.detach() + s * eps)
    residual = eps - s * grad          # σ s(x̃) + ε with s = -∇E
    return _reduce(0.5 * per_chain_sum(residual ** 2), reduction)


def _projections(x: torch.Tensor, n: int, kind: str, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    shape = (n, *x.shape)
    if kind == "gaussian":
        v = torch.randn(shape, generator=generator, device=device, dtype=x.dtype)
    elif kind == "rademacher":
        v = torch.randint(0, 2, shape, generator=generator, device=device).to(x.dtype) * 2 - 1
    else:
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {kind!r}")
    return v.to(x.device)


def sliced_score_matching_loss(energy: EnergyFn, x: torch.Tensor, n_projections: int = 1,
                               projection: str = "rademacher", variance_reduced: bool = True,
                               generator: torch.Generator | None = None,
                               reduction: str = "mean") -> torch.Tensor:
    """Sliced score matching: ``vᵀ∇s v + ½ (vᵀ s)²`` averaged over projections, ``s = -∇E``.

    With ``variance_reduced`` (SSM-VR, the paper's recommendation when ``E[vvᵀ] = I``) the
    second term is replaced by its expectation ``½ ||s||²``. Works for any event shape: the
    projections have the shape of ``x``.
    """
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    x, grad = energy_gradient(energy, x)
    vs = _projections(x, n_projections, projection, generator)
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for v in vs:
        grad_v = per_chain_sum(grad * v)                               # vᵀ∇E = -vᵀs
        (hess_v,) = torch.autograd.grad(grad_v.sum(), x, create_graph=True)
        v_hess_v = per_chain_sum(hess_v * v)                           # vᵀ(∇²E)v = -vᵀ∇s v
        quadratic = 0.5 * per_chain_sum(grad ** 2) if variance_reduced else 0.5 * grad_v ** 2
        total = total + quadratic - v_hess_v
    return _reduce(total / n_projections, reduction)


def exact_score_matching_loss(energy: EnergyFn, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Hyvärinen's objective ``½ ||∇E||² - tr ∇²E`` (= ``½||s||² + tr ∇s``), the trace computed exactly.

    One backward pass per dimension of the event, so only for events of at most
    ``EXACT_MAX_DIM`` numbers.
    """
    dim = x[0].numel()
    if dim > EXACT_MAX_DIM:
        raise ValueError(f"exact score matching needs one backward pass per dimension; {dim} > "
                         f"{EXACT_MAX_DIM}: use sliced or denoising score matching")
    x, grad = energy_gradient(energy, x)
    flat = grad.reshape(x.shape[0], -1)
    trace = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(dim):
        (row,) = torch.autograd.grad(flat[:, i].sum(), x, create_graph=True)
        trace = trace + row.reshape(x.shape[0], -1)[:, i]
    return _reduce(0.5 * (flat ** 2).sum(dim=1) - trace, reduction)

