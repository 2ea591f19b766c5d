"""``sample`` on any energy: a user's own ``nn.Module`` or a plain callable, on 2-D and image-shaped
states, with every kernel. The wrapped energy gives the very chains of the same function written as
an ``Energy``, and the user's parameters are neither changed nor given a ``.grad``."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import Energy, FunctionEnergy, as_energy
from ebm_engine.energies.targets import Gaussian
from ebm_engine.samplers import HMC, MALA, Langevin, sample
from tests.samplers.gaussian_target import COV, MEAN, Z, gen, moment_z_scores, overdispersed_start

SHAPES = {"2d": (2,), "image": (1, 8, 8)}
KERNELS = {"langevin": Langevin, "mala": MALA, "hmc": lambda: HMC(n_leapfrog=3)}


class UserModule(nn.Module):
    """A user's network, no ``Energy``: ``(n, *event) -> (n, 1)``, confined by a quadratic term."""

    def __init__(self, event_shape: tuple[int, ...]):
        super().__init__()
        torch.manual_seed(0)   # the weights only; sampling uses explicit generators
        if len(event_shape) == 1:
            self.features = nn.Sequential(nn.Linear(event_shape[0], 16), nn.SiLU())
            width = 16
        else:
            self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.SiLU(), nn.Flatten())
            width = 4 * event_shape[1] * event_shape[2]
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.features(x)) + 0.5 * x.flatten(1).pow(2).sum(1, keepdim=True)


class WrittenOut(Energy):
    """The same function as a hand-written ``Energy``: the reference the wrapped one must match."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def energy(self, x):
        return self.fn(x)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize("user", ["module", "lambda"])
def test_a_module_or_a_lambda_samples_the_chains_of_the_same_energy(user, kernel, shape):
    fn = UserModule(shape) if user == "module" else (lambda x: 0.5 * x.flatten(1).pow(2).sum(1))
    params = list(fn.parameters()) if user == "module" else []
    before = [p.detach().clone() for p in params]
    x0 = torch.randn(16, *shape, generator=gen(1))
    theirs = sample(fn, x0, kernel(), n_steps=6, step_size=0.05, generator=gen(2), keep_every=2)
    ours = sample(WrittenOut(fn), x0, kernel(), n_steps=6, step_size=0.05, generator=gen(2), keep_every=2)
    assert theirs.samples.shape == (3, 16, *shape)
    assert torch.equal(theirs.samples, ours.samples) and torch.equal(theirs.energies, ours.energies)
    assert not torch.equal(theirs.samples[-1], x0)   # the chains did move
    assert all(p.grad is None and p.requires_grad for p in params)
    assert all(torch.equal(p, b) for p, b in zip(params, before))


@pytest.mark.parametrize("kernel, step_size, n_steps", [(MALA(), 0.2, 150), (HMC(n_leapfrog=10), 0.5, 60)],
                         ids=["mala", "hmc"])
def test_a_gaussian_given_as_a_lambda_is_sampled_exactly(kernel, step_size, n_steps):
    """2,000 independent chains from an overdispersed start: their final positions are draws from
    ``N(μ, Σ)``, so mean and covariance land within ``Z`` standard errors, and a 30% wider
    covariance is excluded by the same draws."""
    precision = torch.linalg.inv(COV)
    run = sample(lambda x: 0.5 * (((x - MEAN) @ precision) * (x - MEAN)).sum(1), overdispersed_start(2000, 3),
                 kernel, n_steps=n_steps, step_size=step_size, generator=gen(4), keep_every=n_steps)
    x = run.samples[-1]
    assert (moment_z_scores(x, MEAN, COV) < Z).all()
    assert (moment_z_scores(x, MEAN, 1.3 * COV)[2:4] > Z).all()


def test_as_energy_wraps_once_and_checks_what_it_is_given():
    target = Gaussian()
    assert as_energy(target) is target
    wrapped = as_energy(UserModule((2,)))
    assert isinstance(wrapped, FunctionEnergy) and as_energy(wrapped) is wrapped
    assert wrapped(torch.zeros(5, 2)).shape == (5,)                         # (n, 1) energies accepted
    assert len(list(wrapped.parameters())) == 4                              # the module's, for .to(device)
    with pytest.raises(ValueError, match="expected \\(5,\\)"):
        as_energy(lambda x: x.sum())(torch.zeros(5, 2))                      # one number for the batch
    with pytest.raises(TypeError, match="callable"):
        as_energy(3.0)
