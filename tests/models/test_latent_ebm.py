"""LatentEBM: the importance-sampled marginal energy against quadrature over a 1-D latent."""
import math

import pytest
import torch

from ebm_engine.models.latent_ebm import LatentEBM
from ebm_engine.training.latent_trainer import LatentEBMConfig, LatentEBMTrainer


def quadrature_marginal(model: LatentEBM, x: torch.Tensor, half_width: float = 14.0, n: int = 20001) -> torch.Tensor:
    """``-log ∫ exp(-E(x, z)) dz`` by the trapezoid rule on a fine grid of the 1-D latent (float64)."""
    z = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    with torch.no_grad():
        e = model.joint_energy(x.repeat_interleave(n, 0), z.repeat(len(x))[:, None]).reshape(len(x), n)
    log_f = -e
    dz = z[1] - z[0]
    weights = torch.full((n,), 1.0, dtype=torch.float64)
    weights[0] = weights[-1] = 0.5
    return -(torch.logsumexp(log_f + torch.log(weights), dim=1) + torch.log(dz))


@pytest.fixture
def model():
    torch.manual_seed(3)
    m = LatentEBM(2, 1, hidden=32, encoder_hidden=16).double()
    with torch.no_grad():   # a posterior that is not the standard normal prior: weights of size ~1
        for p in m.joint_network.parameters():
            p.mul_(3.0)
    return m


def test_marginal_matches_quadrature_over_the_latent(model):
    x = torch.randn(20, 2, dtype=torch.float64) * 2
    exact = quadrature_marginal(model, x)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        estimate, stderr = model.marginal_energy(x, 20000, g)
    assert torch.isfinite(stderr).all() and (stderr > 0).all()
    z_scores = (estimate - exact) / stderr
    assert float(z_scores.abs().max()) < 4.5
    assert float(stderr.median()) < 0.02   # precise enough for the comparison to have power
    # the joint energy at the encoder's mean (a joint energy, not a marginal) is not it
    with torch.no_grad():
        joint = model.joint_energy(x, model.encode(x)[0])
    assert float((joint - exact).abs().mean()) > 0.2


def test_standard_error_is_calibrated(model):
    """Across independent estimates, the spread of Ê matches the reported standard error."""
    x = torch.randn(5, 2, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        runs = [model.marginal_energy(x, 400, g) for _ in range(200)]
    estimates = torch.stack([r[0] for r in runs])
    mean_se = torch.stack([r[1] for r in runs]).mean(0)
    ratio = estimates.std(0) / mean_se
    assert float(ratio.min()) > 0.6 and float(ratio.max()) < 1.6
    exact = quadrature_marginal(model, x)
    assert float((estimates.mean(0) - exact).abs().max()) < 4 * float(mean_se.max()) / math.sqrt(200) + 0.02


def test_joint_energy_is_confined_in_the_latent_and_views_agree(model):
    x = torch.zeros(1, 2, dtype=torch.float64)
    far = model.joint_energy(x, torch.full((1, 1), 50.0, dtype=torch.float64))
    assert float(far.detach()) > 500   # ½ z² dominates the MLP's at most linear growth
    xz = torch.randn(7, 3, dtype=torch.float64)
    assert torch.allclose(model.joint()(xz), model.joint_energy(xz[:, :2], xz[:, 2:]))
    g = torch.Generator().manual_seed(2)
    e = model.marginal(512, g)(xz[:, :2])
    assert e.shape == (7,)


def test_trainer_steps_stay_finite_and_train_the_encoder():
    torch.manual_seed(0)
    model = LatentEBM(2, 1, hidden=32, encoder_hidden=16)
    g = torch.Generator().manual_seed(0)
    data = torch.cat([torch.randn(500, 2) * 0.3 + 2, torch.randn(500, 2) * 0.3 - 2])
    trainer = LatentEBMTrainer(model, lambda n, gen: data[torch.randint(len(data), (n,), generator=gen)],
                               lambda n, gen: 6 * torch.rand(n, 2, generator=gen) - 3,
                               LatentEBMConfig(batch_size=64, buffer_size=512), generator=g)
    before = [p.clone() for p in model.encoder.parameters()]
    stats = [trainer.step() for _ in range(20)]
    assert not any(s.diverged for s in stats)
    assert all(math.isfinite(s.loss) for s in stats)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.encoder.parameters()))
    assert trainer.last_negatives.shape[1] == 3


def test_common_noise_gives_a_smooth_unbiased_surface(model):
    """With shared draws, nearby points get nearby estimates; each estimate still matches quadrature."""
    x = torch.stack([torch.linspace(-2, 2, 41, dtype=torch.float64), torch.zeros(41, dtype=torch.float64)], 1)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        common, se = model.marginal_energy(x, 4000, g, common_noise=True)
        independent, _ = model.marginal_energy(x, 64, g)
    exact = quadrature_marginal(model, x)
    assert float(((common - exact) / se).abs().max()) < 4.5
    assert float((common - exact).diff().abs().max()) < float((independent - exact).diff().abs().max())


@pytest.mark.parametrize("common_noise", [True, False])
def test_the_marginal_in_pieces_equals_the_marginal_in_one_go(model, monkeypatch, common_noise):
    import ebm_engine.models.latent_ebm as latent_module
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    whole = model.marginal_energy(x, 16, torch.Generator().manual_seed(0), common_noise)
    monkeypatch.setattr(latent_module, "JOINT_ROWS", 16 * 7)   # 7 points a piece: 43 pieces, the last one short
    pieces = model.marginal_energy(x, 16, torch.Generator().manual_seed(0), common_noise)
    for a, b in zip(whole, pieces):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
