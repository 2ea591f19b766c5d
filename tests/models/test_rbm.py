"""RBM: energies, free energies and conditionals against enumeration; Gibbs sampling against exact p(v)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM

from ebm_engine.models import RBM, SimpleEBM


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def random_rbm(n_visible: int, n_hidden: int, seed: int = 0, std: float = 1.0) -> RBM:
    g = gen(seed)
    rbm = RBM(n_visible, n_hidden, g, init_std=std, dtype=torch.float64)
    with torch.no_grad():
        rbm.v_bias.normal_(0, std, generator=g)
        rbm.h_bias.normal_(0, std, generator=g)
    return rbm


def joint_log_weights(rbm: RBM, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All (v, h) pairs and ``-E(v,h)/T``: ``vs (2^nv, nv)``, ``hs (2^nh, nh)``, ``logw (2^nv, 2^nh)``."""
    vs, hs = states(rbm.n_visible), states(rbm.n_hidden)
    v = vs.repeat_interleave(len(hs), dim=0)
    h = hs.repeat(len(vs), 1)
    with torch.no_grad():
        logw = -rbm.energy(v, h).reshape(len(vs), len(hs)) / temperature
    return vs, hs, logw


def exact_p_v(rbm: RBM, temperature: float = 1.0) -> torch.Tensor:
    _, _, logw = joint_log_weights(rbm, temperature)
    return torch.softmax(torch.logsumexp(logw, dim=1), dim=0)


def state_index(v: torch.Tensor) -> torch.Tensor:
    """Row index of each binary row in ``states(n)`` (first unit is the most significant bit)."""
    n = v.shape[1]
    return (v.long() * (2 ** torch.arange(n - 1, -1, -1))).sum(dim=1)


def tv_tolerance(p: torch.Tensor, n: int) -> float:
    """Three times a bound on the expected total variation of an n-sample empirical distribution.

    E|p̂_s - p_s| <= sd(p̂_s) = sqrt(p_s (1 - p_s) / n), so E[TV] <= 0.5 Σ_s sqrt(p_s (1 - p_s) / n).
    """
    return 3 * 0.5 * float(torch.sqrt(p * (1 - p) / n).sum())


# --- construction -------------------------------------------------------------------------------------

def test_construction_shapes_and_reproducible_init():
    a, b = RBM(7, 3, gen(5), init_std=0.1), RBM(7, 3, gen(5), init_std=0.1)
    assert a.W.shape == (7, 3) and a.v_bias.shape == (7,) and a.h_bias.shape == (3,)
    assert isinstance(a.W, torch.nn.Parameter)
    assert torch.equal(a.W, b.W) and not torch.equal(a.W, RBM(7, 3, gen(6), init_std=0.1).W)
    assert not a.v_bias.detach().any() and not a.h_bias.detach().any()
    big = RBM(200, 100, gen(0), init_std=0.5)
    assert abs(float(big.W.detach().std()) - 0.5) < 0.02
    for bad in ((0, 3), (3, 0), (2.5, 3)):
        with pytest.raises(ValueError):
            RBM(*bad)


def test_models_package_exports_both():
    assert RBM.__name__ == "RBM" and SimpleEBM.__name__ == "SimpleEBM"


# --- energies -----------------------------------------------------------------------------------------

def test_energy_shape_and_hand_computed_values():
    rbm = RBM(3, 2, dtype=torch.float64)
    with torch.no_grad():
        rbm.W.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]))
        rbm.v_bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        rbm.h_bias.copy_(torch.tensor([-0.5, 0.25]))
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    h = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    # sample 0: v·b = 0.4, h·c = -0.25, vWh = (1 - 1) + (-2 + 3) = 1 -> E = -1.15
    # sample 1: v·b = -0.2, h·c = -0.5, vWh = 0.5 -> E = 0.2
    # sample 2: v·b = 0.2, h·c = 0.25, vWh = -2 + 0 + 3 = 1 -> E = -1.45
    e = rbm.energy(v, h)
    assert e.shape == (3,)
    assert torch.allclose(e, torch.tensor([-1.15, 0.2, -1.45], dtype=torch.float64))
    with pytest.raises(ValueError, match="batch"):
        rbm.energy(v, h[:2])
    with pytest.raises(ValueError, match="shape"):
        rbm.energy(v[:, :2], h)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_free_energy_equals_enumeration_over_hidden(temperature):
    """F_T(v) = -log Σ_h exp(-E(v,h)/T), so p_T(v) ∝ exp(-F_T(v))."""
    rbm = random_rbm(5, 4, seed=1)
    vs, _, logw = joint_log_weights(rbm, temperature)
    expected = -torch.logsumexp(logw, dim=1)
    got = rbm.free_energy(vs, temperature)
    assert got.shape == (32,)
    assert torch.allclose(got, expected, atol=1e-10)
    assert torch.allclose(rbm(vs), rbm.free_energy(vs))
    if temperature != 1.0:  # temperature acts on the joint: F_T is not F_1 / T
        assert not torch.allclose(got, rbm.free_energy(vs) / temperature, atol=1e-3)
    with pytest.raises(ValueError, match="temperature"):
        rbm.free_energy(vs, 0.0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_conditionals_match_the_joint(temperature):
    rbm = random_rbm(5, 4, seed=2)
    vs, hs, logw = joint_log_weights(rbm, temperature)
    p_h_given_v = torch.softmax(logw, dim=1) @ hs           # E[h_j | v] = p(h_j = 1 | v)
    p_v_given_h = torch.softmax(logw, dim=0).t() @ vs       # E[v_i | h]
    assert torch.allclose(rbm.h_probs(vs, temperature), p_h_given_v, atol=1e-10)
    assert torch.allclose(rbm.v_probs(hs, temperature), p_v_given_h, atol=1e-10)
    assert torch.allclose(rbm.reconstruct(vs, temperature),
                          rbm.v_probs(rbm.h_probs(vs, temperature), temperature))


def test_sample_h_and_v_draw_bernoulli_of_their_probabilities():
    rbm = random_rbm(6, 5, seed=3)
    v = torch.ones(20000, 6, dtype=torch.float64)
    probs, h = rbm.sample_h(v, gen(0))
    assert set(h.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(h.mean(0), probs[0], atol=4 * 0.5 / math.sqrt(20000))
    probs_v, v_s = rbm.sample_v(h[:3], gen(1))
    assert probs_v.shape == (3, 6) and set(v_s.unique().tolist()) <= {0.0, 1.0}
    a, b = rbm.sample_h(v[:50], gen(7))[1], rbm.sample_h(v[:50], gen(7))[1]
    assert torch.equal(a, b)


# --- Gibbs sampling -----------------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_gibbs_samples_the_exact_visible_distribution(temperature):
    rbm = random_rbm(4, 3, seed=4, std=1.5)
    n = 20000
    start = torch.bernoulli(torch.full((n, 4), 0.5, dtype=torch.float64), generator=gen(0))
    probs, v = rbm.gibbs(start, k=30, generator=gen(1), temperature=temperature)
    assert probs.shape == v.shape == (n, 4) and not probs.requires_grad
    empirical = torch.bincount(state_index(v), minlength=16).double() / n
    p = exact_p_v(rbm, temperature)
    tv = 0.5 * float((empirical - p).abs().sum())
    assert tv < tv_tolerance(p, n), (tv, tv_tolerance(p, n))
    other = exact_p_v(rbm, 3.0 - temperature)  # the test has power: the other temperature fails
    assert 0.5 * float((empirical - other).abs().sum()) > 3 * tv_tolerance(other, n)


def test_clamped_units_never_change_and_free_units_follow_the_conditional():
    rbm = random_rbm(4, 3, seed=5, std=1.5)
    n = 20000
    mask = torch.tensor([True, False, True, False])
    start = torch.bernoulli(torch.full((n, 4), 0.5, dtype=torch.float64), generator=gen(2))
    start[:, 0], start[:, 2] = 1.0, 0.0
    for k in (1, 2, 25):
        probs, v = rbm.gibbs(start, k=k, generator=gen(3), clamp_mask=mask)
        assert torch.equal(v[:, mask], start[:, mask]) and torch.equal(probs[:, mask], start[:, mask])
    assert not torch.equal(v[:, ~mask], start[:, ~mask])
    p = exact_p_v(rbm)
    vs = states(4)
    keep = (vs[:, 0] == 1) & (vs[:, 2] == 0)
    conditional = p * keep / float((p * keep).sum())
    empirical = torch.bincount(state_index(v), minlength=16).double() / n
    assert 0.5 * float((empirical - conditional).abs().sum()) < tv_tolerance(conditional, n)


def test_clamp_values_per_row_and_validation():
    rbm = random_rbm(5, 3, seed=6)
    v = torch.zeros(4, 5, dtype=torch.float64)
    mask = torch.zeros(4, 5, dtype=torch.bool)
    mask[1, :2] = True
    values = torch.ones(4, 5, dtype=torch.float64)
    _, out = rbm.gibbs(v, k=3, generator=gen(0), clamp_mask=mask, clamp_values=values)
    assert torch.equal(out[1, :2], torch.ones(2, dtype=torch.float64))
    probs, same = rbm.gibbs(v, k=0)
    assert torch.equal(same, v) and torch.equal(probs, v)
    with pytest.raises(ValueError, match="bool"):
        rbm.gibbs(v, clamp_mask=torch.ones(5))
    with pytest.raises(ValueError, match="clamp_mask"):
        rbm.gibbs(v, clamp_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="without clamp_mask"):
        rbm.gibbs(v, clamp_values=values)
    with pytest.raises(ValueError, match="k must"):
        rbm.gibbs(v, k=-1)


# --- initialisation and scikit-learn ------------------------------------------------------------------

def test_init_visible_bias_gives_the_data_marginals():
    data = torch.zeros(10, 3)
    data[:3, 0] = 1.0   # p = 0.3
    data[:, 1] = 1.0    # always on: clipped
    rbm = RBM(3, 2)
    rbm.init_visible_bias(data)
    p = torch.sigmoid(rbm.v_bias.detach().double())
    assert abs(float(p[0]) - 0.3) < 1e-6
    assert torch.isfinite(rbm.v_bias).all() and abs(float(p[1]) - 0.999) < 1e-6 and abs(float(p[2]) - 0.001) < 1e-6


def test_from_sklearn_matches_transform_and_free_energy():
    x = (load_digits().data[:400] > 7).astype(np.float64)
    skl = BernoulliRBM(n_components=10, learning_rate=0.05, n_iter=3, random_state=0).fit(x)
    rbm = RBM.from_sklearn(skl, dtype=torch.float64)
    assert rbm.W.shape == (64, 10)
    v = torch.from_numpy(x)
    assert np.allclose(rbm.h_probs(v).detach().numpy(), skl.transform(x), atol=1e-12)
    assert np.allclose(rbm.free_energy(v).detach().numpy(), skl._free_energy(x), atol=1e-9)
    single = RBM.from_sklearn(skl)
    assert single.W.dtype == torch.float32
    assert np.allclose(single.h_probs(v.float()).detach().numpy(), skl.transform(x), atol=1e-5)
    with pytest.raises(ValueError, match="fitted"):
        RBM.from_sklearn(BernoulliRBM())


def test_packed_parameters_are_views_and_survive_conversion():
    rbm = RBM(5, 3, torch.Generator().manual_seed(0), init_std=0.5)
    with torch.no_grad():
        rbm.v_bias.copy_(torch.arange(5.0))
        rbm.h_bias.copy_(-torch.arange(3.0))
    p = rbm.packed()
    assert p.shape == (6, 4)
    assert torch.equal(p[:5, :3], rbm.W) and torch.equal(p[:5, 3], rbm.v_bias) and torch.equal(p[5, :3], rbm.h_bias)
    with torch.no_grad():
        p[0, 0] += 1.0
        rbm.h_bias[1] = 7.0
    assert rbm.W[0, 0] == p[0, 0] and p[5, 1] == 7.0
    w = rbm.W.detach().clone()
    wide = rbm.double()                     # new parameter tensors: packed again, values kept
    q = wide.packed()
    assert q.dtype == torch.float64 and torch.allclose(q[:5, :3], w.double())
    with torch.no_grad():
        q[1, 1] = 3.0
    assert wide.W[1, 1] == 3.0
    assert list(rbm.state_dict()) == ["W", "v_bias", "h_bias"]
