"""Scores and the Fisher divergence against closed forms for Gaussians."""
import torch

from ebm_engine.energies.targets import Gaussian
from ebm_engine.metrics.fisher import energy_score, fisher_divergence, log_density_score

COV = torch.tensor([[1.0, 0.4], [0.4, 0.7]], dtype=torch.float64)


def test_scores_of_a_gaussian():
    p = Gaussian((0.5, -1.0), COV).double()
    x = torch.randn(100, 2, dtype=torch.float64)
    exact = -(x - p.mean) @ torch.linalg.inv(COV)
    assert torch.allclose(log_density_score(p.log_prob, x), exact, atol=1e-6)
    assert torch.allclose(energy_score(p, x), exact, atol=1e-6)


def test_fisher_divergence_is_zero_for_the_truth_and_matches_a_shifted_mean():
    p = Gaussian((0.0, 0.0), COV).double()
    shift = torch.tensor([0.3, -0.2], dtype=torch.float64)
    q = Gaussian(shift, COV).double()
    x = p.sample(5000, torch.Generator().manual_seed(0))
    assert fisher_divergence(p, p.log_prob, x) < 1e-20
    # the score difference is the constant Σ⁻¹ shift, so the divergence is ½ ||Σ⁻¹ shift||² exactly
    expected = 0.5 * float((torch.linalg.inv(COV) @ shift).pow(2).sum())
    assert abs(fisher_divergence(q, p.log_prob, x) - expected) < 1e-6 * expected   # targets store float32 buffers
