"""The step-able score-matching trainer: every method at one level and on a ladder, live settings, rollback."""
import math

import pytest
import torch

from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM, geometric_ladder
from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.training.score_trainer import ScoreMatching, ScoreMatchingConfig

DATA = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 0.5])


def batches(n, g):
    return DATA[torch.randint(len(DATA), (n,), generator=g)]


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("method", ["denoising", "sliced", "exact"])
def test_every_method_lowers_its_loss(method, conditional):
    torch.manual_seed(0)
    model = (NoiseConditionalEBM(2, geometric_ladder(1.0, 0.1, 3), 32, 2) if conditional
             else SimpleEBM(2, 32, 2))
    trainer = ScoreMatching(model, batches, ScoreMatchingConfig(method=method, batch_size=256, lr=1e-2),
                            generator=torch.Generator().manual_seed(1))
    losses = [trainer.step().loss for _ in range(60)]
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


def test_settings_change_between_steps_and_are_validated():
    trainer = ScoreMatching(SimpleEBM(2, 16, 1), batches, generator=torch.Generator().manual_seed(0))
    trainer.step()
    trainer.update_config(method="sliced", lr=1e-4, projection="gaussian", n_projections=2)
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-4
    trainer.step()
    with pytest.raises(ValueError):
        trainer.update_config(method="cd")
    with pytest.raises(ValueError):
        trainer.update_config(sigma=0.0)
    with pytest.raises(ValueError, match="unknown"):
        trainer.update_config(temperature=2.0)


def test_non_finite_step_is_rolled_back():
    model = SimpleEBM(2, 16, 1)
    trainer = ScoreMatching(model, batches, generator=torch.Generator().manual_seed(0), checkpoint_every=1)
    trainer.step()
    good = [p.clone() for p in model.parameters()]
    with torch.no_grad():
        model.network[0].weight.fill_(float("nan"))
    stats = trainer.step()
    assert stats.diverged and trainer.divergences == 1
    assert all(torch.equal(a, b) for a, b in zip(good, model.parameters()))
