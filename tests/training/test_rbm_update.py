"""The packed RBM update: the same gradient step as the reference formula, and exact Gibbs chains."""
from __future__ import annotations

import itertools

import pytest
import torch

from ebm_engine.models import RBM
from ebm_engine.training.rbm_update import ChainBuffers, PackedRBMUpdate

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_rbm(n_v: int, n_h: int, seed: int, std: float = 0.7) -> RBM:
    g = gen(seed)
    rbm = RBM(n_v, n_h, g, init_std=std, dtype=F64)
    with torch.no_grad():
        rbm.v_bias.normal_(0, std, generator=g)
        rbm.h_bias.normal_(0, std, generator=g)
    return rbm


def with_unit(v: torch.Tensor) -> torch.Tensor:
    return torch.cat([v, torch.ones_like(v[:, :1])], dim=1)


def binary(rows: int, cols: int, seed: int) -> torch.Tensor:
    return (torch.rand(rows, cols, generator=gen(seed), dtype=F64) < 0.5).to(F64)


@pytest.mark.parametrize("persistent, n_neg, n_pos, k, t, momentum, decay", [
    (True, 7, 3, 2, 1.7, 0.5, 0.01),     # more chains than rows, tempered, momentum and decay
    (True, 4, 5, 1, 1.0, 0.0, 0.0),      # fewer chains than rows, plain step
    (False, 5, 5, 3, 0.6, 0.9, 0.0),     # CD-3
])
def test_packed_step_equals_the_reference_update(persistent, n_neg, n_pos, k, t, momentum, decay):
    rbm = random_rbm(6, 4, seed=1)
    packed = rbm.packed()
    data = binary(20, 6, seed=2)
    buffers = ChainBuffers(n_neg, max(n_pos, 5), 6, 4, torch.device("cpu"), F64)
    buffers.negatives.copy_(binary(n_neg, 6, seed=3))
    kernel = PackedRBMUpdate(gen(4))
    index = torch.tensor([3, 11, 0, 19, 7][:n_pos])
    kernel.negatives(packed, buffers, with_unit(data), index, n_pos, k, t, persistent)

    v_pos, v_neg = buffers.positives.clone(), buffers.negatives.clone()
    assert torch.equal(v_pos, data[index])
    assert set(v_neg.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(buffers.positive_hidden, rbm.h_probs(v_pos, t), atol=1e-12)
    assert torch.allclose(buffers.neg_hidden, rbm.h_probs(v_neg, t), atol=1e-12)

    increment = torch.randn(packed.shape, generator=gen(5), dtype=F64) * 0.01
    increment[-1, -1] = 0.0
    lr = 0.3
    ph_pos, ph_neg = rbm.h_probs(v_pos, t), rbm.h_probs(v_neg, t)
    grad = torch.zeros_like(packed)
    grad[:6, :4] = (v_pos.t() @ ph_pos / n_pos - v_neg.t() @ ph_neg / n_neg) / t
    grad[:6, 4] = (v_pos.mean(0) - v_neg.mean(0)) / t
    grad[6, :4] = (ph_pos.mean(0) - ph_neg.mean(0)) / t
    expected_inc = momentum * increment + lr * grad
    expected_inc[:6, :4] -= lr * decay * rbm.W.detach()
    expected = packed + expected_inc
    kernel.apply(packed, increment, buffers, lr, t, momentum, decay)
    assert torch.allclose(packed, expected, atol=1e-12)
    assert abs(packed[-1, -1]) < 1e-12   # the unused corner only collects rounding
    if momentum or decay:
        assert torch.allclose(increment, expected_inc, atol=1e-12)


def exact_visible_distribution(rbm: RBM, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=rbm.n_visible)), dtype=F64)
    return states, torch.softmax(-rbm.free_energy(states, t), dim=0)


def empirical(samples: torch.Tensor, n_visible: int) -> torch.Tensor:
    codes = (samples.long() * (2 ** torch.arange(n_visible - 1, -1, -1))).sum(dim=1)
    return torch.bincount(codes, minlength=2 ** n_visible).to(F64) / len(samples)


@pytest.mark.parametrize("t", [1.0, 2.0])
def test_persistent_chains_sample_the_tempered_model(t):
    """Sweeps of the PCD chains (no parameter update) reach p_T(v) from a uniform start."""
    rbm = random_rbm(4, 3, seed=6, std=1.2)
    packed = rbm.packed()
    n = 6000
    buffers = ChainBuffers(n, 1, 4, 3, torch.device("cpu"), F64)
    buffers.negatives.copy_(binary(n, 4, seed=7))
    kernel = PackedRBMUpdate(gen(8))
    data = with_unit(binary(1, 4, seed=9))
    for _ in range(25):
        kernel.negatives(packed, buffers, data, torch.tensor([0]), 1, 1, t, True)
    _, exact = exact_visible_distribution(rbm, t)
    _, other = exact_visible_distribution(rbm, 3.0 - t)
    tv = 0.5 * (empirical(buffers.negatives, 4) - exact).abs().sum()
    assert tv < 0.03, tv
    assert 0.5 * (other - exact).abs().sum() > 0.1   # the wrong temperature would be caught


@pytest.mark.parametrize("persistent", [False, True])
def test_negatives_are_one_gibbs_sweep_from_their_start(persistent):
    """CD-1 negatives start at the data, PCD-1 negatives at the chains' visible state: from a
    fixed v0 both have the law Σ_h p(h | v0) p(v | h) under the current parameters."""
    rbm = random_rbm(4, 3, seed=10, std=1.2)
    packed = rbm.packed()
    n = 6000
    v0 = torch.tensor([[1.0, 0.0, 1.0, 1.0]], dtype=F64)
    buffers = ChainBuffers(n, n, 4, 3, torch.device("cpu"), F64)
    kernel = PackedRBMUpdate(gen(11))
    if persistent:
        buffers.negatives.copy_(v0.expand(n, -1))
        data, index, n_pos = with_unit(binary(1, 4, seed=12)), torch.tensor([0]), 1
    else:
        data, index, n_pos = with_unit(v0), torch.zeros(n, dtype=torch.long), n
    kernel.negatives(packed, buffers, data, index, n_pos, 1, 1.0, persistent)
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=F64)
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=F64)
    ph = rbm.h_probs(v0)[0]
    p_h = (hs * ph + (1 - hs) * (1 - ph)).prod(dim=1)                 # (8,)
    pv = rbm.v_probs(hs)                                              # (8, 4)
    p_v_given_h = (states[None] * pv[:, None] + (1 - states[None]) * (1 - pv[:, None])).prod(dim=2)
    exact = p_h @ p_v_given_h
    tv = 0.5 * (empirical(buffers.negatives, 4) - exact).abs().sum()
    assert tv < 0.03, tv


def test_buffers_refuse_a_batch_larger_than_allocated():
    buffers = ChainBuffers(3, 4, 2, 2, torch.device("cpu"), F64)
    with pytest.raises(ValueError, match="does not fit"):
        buffers.set_positive_rows(5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("prefetch", [False, True])
def test_logistic_stream_draws_independent_logistic_variates(dtype, prefetch):
    """Standard logistic (σ(L) uniform on [0, 1] by Kolmogorov-Smirnov), uncorrelated across
    consecutive draws, the same numbers for the same seed whether or not the next chunk is drawn
    ahead, fresh for every update."""
    from scipy import stats

    from ebm_engine.training.rbm_update import LogisticStream

    def draws(prefetch_on: bool) -> torch.Tensor:
        stream = LogisticStream(gen(3))
        stream.CHUNK_FLOATS = 4 * 2 * 5 * (6 + 4) * 3      # a few updates per chunk, so chunks roll over
        stream.prefetch = prefetch_on
        blocks = []
        for _ in range(40):
            l_vis, l_hid = stream.take(2, 5, 6, 4, torch.device("cpu"), dtype)
            assert len(l_vis) == 2 and l_vis[0].shape == (5, 6) and l_hid[1].shape == (5, 4)
            assert l_vis[0].dtype == dtype
            blocks.append(torch.cat([t.reshape(-1) for t in (*l_vis, *l_hid)]).clone())
        stream._settle()
        return torch.stack(blocks)

    logistic = draws(prefetch)
    assert torch.equal(logistic, draws(not prefetch))
    u = torch.sigmoid(logistic.double())
    flat = u.reshape(-1).numpy()
    assert 0.0 <= flat.min() and flat.max() < 1.0
    assert stats.kstest(flat, "uniform").pvalue > 1e-3
    assert abs(stats.pearsonr(flat[:-1], flat[1:])[0]) < 4 / len(flat) ** 0.5
    assert not torch.equal(u[0], u[1]) and len(torch.unique(u)) > 0.99 * u.numel()
