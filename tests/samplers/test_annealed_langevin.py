"""Annealed Langevin: through a ladder of noisy Gaussians it ends at the smallest level's distribution."""
import torch

from ebm_engine.energies.targets import Gaussian
from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM, geometric_ladder
from ebm_engine.samplers.annealed_langevin import annealed_langevin

COV = torch.tensor([[1.0, 0.5], [0.5, 0.8]])


def noisy_gaussian(sigma: float) -> Gaussian:
    """N(0, Σ + σ² I): the data distribution N(0, Σ) perturbed at level σ."""
    return Gaussian((1.0, -1.0), COV + sigma ** 2 * torch.eye(2))


def test_annealed_langevin_reaches_the_smallest_level():
    sigmas = geometric_ladder(3.0, 0.05, 5)
    g = torch.Generator().manual_seed(0)
    x0 = 8 * torch.rand(4000, 2, generator=g) - 4
    x = annealed_langevin(noisy_gaussian, sigmas, x0, steps_per_level=60, step_scale=2e-3, generator=g)
    target = noisy_gaussian(sigmas[-1])
    assert torch.allclose(x.mean(0), target.mean, atol=0.08)
    assert torch.allclose(torch.cov(x.T), target.cov, atol=0.12)


def test_ladder_and_conditional_model():
    ladder = geometric_ladder(1.0, 0.01, 3)
    assert ladder[0] == 1.0 and abs(ladder[1] - 0.1) < 1e-12 and abs(ladder[2] - 0.01) < 1e-12
    model = NoiseConditionalEBM(2, ladder, hidden=16, depth=1)
    x = torch.randn(10, 2)
    assert torch.allclose(model(x), model.at(0.01)(x))
    assert not torch.allclose(model.at(1.0)(x), model(x))
    per_sample = model.energy_at(x, torch.full((10,), 1.0))
    assert torch.allclose(per_sample, model.at(1.0)(x))
