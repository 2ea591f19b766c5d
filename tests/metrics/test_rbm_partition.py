"""RBM log Z (exact enumeration, AIS) and likelihoods against brute-force enumeration of both layers."""
from __future__ import annotations

import itertools

import pytest
import torch
from sklearn.datasets import load_digits

from ebm_engine.metrics import partition
from ebm_engine.metrics.partition import rbm_log_partition_ais, rbm_log_partition_exact
from ebm_engine.metrics.rbm_likelihood import pseudo_likelihood, rbm_log_likelihood
from ebm_engine.metrics.rbm_partition import ais_betas
from ebm_engine.models import RBM
from ebm_engine.training import RBMConfig, RBMTrainer


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def random_rbm(n_visible: int, n_hidden: int, seed: int = 0, std: float = 1.0,
               dtype: torch.dtype = torch.float64) -> RBM:
    g = gen(seed)
    rbm = RBM(n_visible, n_hidden, g, init_std=std, dtype=dtype)
    with torch.no_grad():
        rbm.v_bias.normal_(0, 0.5, generator=g)
        rbm.h_bias.normal_(0, 0.5, generator=g)
    return rbm


def brute_log_joint(rbm: RBM, temperature: float = 1.0) -> torch.Tensor:
    """``-E(v,h)/T`` for every pair, shape ``(2^nv, 2^nh)``: no layer summed analytically."""
    vs, hs = states(rbm.n_visible), states(rbm.n_hidden)
    with torch.no_grad():
        e = rbm.energy(vs.repeat_interleave(len(hs), dim=0), hs.repeat(len(vs), 1))
    return -e.reshape(len(vs), len(hs)) / temperature


# --- exact ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 5), (5, 6), (4, 4)])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_exact_log_z_matches_enumeration_of_both_layers(shape, temperature):
    rbm = random_rbm(*shape, seed=sum(shape))
    expected = float(torch.logsumexp(brute_log_joint(rbm, temperature).reshape(-1), dim=0))
    assert rbm_log_partition_exact(rbm, temperature) == pytest.approx(expected, abs=1e-10)
    assert rbm_log_partition_exact(rbm, temperature, chunk_size=3) == pytest.approx(expected, abs=1e-10)


def test_exact_refuses_more_than_24_units_in_the_smaller_layer():
    with pytest.raises(ValueError, match="24 units.*rbm_log_partition_ais"):
        rbm_log_partition_exact(RBM(30, 25))
    with pytest.raises(ValueError, match="temperature"):
        rbm_log_partition_exact(RBM(3, 2), temperature=-1.0)


def test_exact_in_float32_model_is_computed_in_float64():
    rbm64 = random_rbm(12, 7, seed=3)
    rbm32 = RBM(12, 7, dtype=torch.float32)
    rbm32.load_state_dict({k: v.float() for k, v in rbm64.state_dict().items()})
    assert rbm_log_partition_exact(rbm32) == pytest.approx(rbm_log_partition_exact(rbm64), abs=1e-4)


def test_re_exported_from_partition_module():
    assert "rbm_log_partition_exact" in partition.__all__ and "rbm_log_partition_ais" in partition.__all__
    assert "log_partition_grid" in partition.__all__


# --- AIS ------------------------------------------------------------------------------------------

def test_schedule_shape():
    betas = ais_betas(10000)
    assert len(betas) == 10000 and betas[0] == 0 and betas[-1] == 1
    assert bool((betas[1:] > betas[:-1]).all())
    assert int((betas < 0.5).sum()) == 500 and int(((betas >= 0.5) & (betas < 0.9)).sum()) == 4000
    assert torch.equal(ais_betas(2), torch.tensor([0.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError):
        ais_betas(1)


@pytest.mark.parametrize("std", [0.5, 1.0])
def test_ais_lands_within_its_uncertainty_and_a_broken_schedule_does_not(std):
    rbm = random_rbm(64, 12, seed=1, std=std, dtype=torch.float32)
    exact = rbm_log_partition_exact(rbm)
    log_z, sd = rbm_log_partition_ais(rbm, n_chains=100, n_betas=10000, generator=gen(2))
    assert 0 < sd < 0.5
    assert abs(log_z - exact) < 3 * sd + 1e-3, (log_z, exact, sd)
    bad_z, bad_sd = rbm_log_partition_ais(rbm, n_chains=100, n_betas=2, generator=gen(2))
    assert abs(bad_z - exact) > 10 * sd and bad_sd > 10 * sd, (bad_z, bad_sd, exact, sd)


def test_ais_with_a_data_base_on_a_trained_rbm():
    data = torch.tensor(load_digits().data[:1000] > 7, dtype=torch.float32)
    g = gen(5)
    rbm = RBM(64, 12, g)
    rbm.init_visible_bias(data)
    trainer = RBMTrainer(rbm, data, RBMConfig(lr=0.1, batch_size=20), g)
    for _ in range(3):
        trainer.run_epoch()
    exact = rbm_log_partition_exact(rbm)
    log_z, sd = rbm_log_partition_ais(rbm, n_chains=100, n_betas=2000, generator=gen(6), data=data)
    assert abs(log_z - exact) < 3 * sd + 1e-3 and sd < 0.1, (log_z, exact, sd)
    zero_z, zero_sd = rbm_log_partition_ais(rbm, n_chains=100, n_betas=2000, generator=gen(6))
    assert zero_sd > sd  # the data base starts much closer to the model
    logits = torch.logit(data.double().mean(0).clamp(1e-3, 1 - 1e-3))
    same = rbm_log_partition_ais(rbm, n_chains=100, n_betas=2000, generator=gen(6), base_visible_bias=logits)
    assert same[0] == pytest.approx(log_z, abs=1e-4)
    with pytest.raises(ValueError, match="either"):
        rbm_log_partition_ais(rbm, data=data, base_visible_bias=torch.zeros(64))


def test_ais_at_a_temperature_and_reproducibility():
    rbm = random_rbm(10, 8, seed=7, std=1.0)
    exact = rbm_log_partition_exact(rbm, temperature=2.0)
    a = rbm_log_partition_ais(rbm, 50, 1000, gen(1), temperature=2.0)
    assert abs(a[0] - exact) < 3 * a[1] + 1e-3
    assert a == rbm_log_partition_ais(rbm, 50, 1000, gen(1), temperature=2.0)


# --- likelihoods ----------------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_log_likelihood_equals_enumerated_log_p(temperature):
    rbm = random_rbm(6, 5, seed=11)
    log_p = torch.log_softmax(torch.logsumexp(brute_log_joint(rbm, temperature), dim=1), dim=0)
    idx = torch.tensor([0, 5, 17, 63, 40])
    data = states(6)[idx]
    got = rbm_log_likelihood(rbm, data, rbm_log_partition_exact(rbm, temperature), temperature)
    assert got == pytest.approx(float(log_p[idx].mean()), abs=1e-10)
    with pytest.raises(ValueError, match="binary"):
        rbm_log_likelihood(rbm, data * 0.5, 0.0)


def test_pseudo_likelihood_exact_and_stochastic():
    rbm = random_rbm(6, 5, seed=12)
    vs = states(6)
    log_p = torch.log_softmax(torch.logsumexp(brute_log_joint(rbm), dim=1), dim=0)
    data = vs[[3, 9, 33, 60]]
    expected = 0.0
    for v in data:  # Σ_i log p(v_i | v_-i) from the enumerated p(v)
        for i in range(6):
            flip = v.clone()
            flip[i] = 1 - flip[i]
            a = log_p[int((v * 2 ** torch.arange(5, -1, -1)).sum())]
            b = log_p[int((flip * 2 ** torch.arange(5, -1, -1)).sum())]
            expected += float(a - torch.logaddexp(a, b))
    expected /= len(data)
    assert pseudo_likelihood(rbm, data, exact=True) == pytest.approx(expected, abs=1e-10)
    many = data.repeat(5000, 1)
    stochastic = pseudo_likelihood(rbm, many, gen(0))
    assert stochastic == pytest.approx(expected, abs=0.1)
    assert pseudo_likelihood(rbm, data, gen(3)) == pseudo_likelihood(rbm, data, gen(3))
