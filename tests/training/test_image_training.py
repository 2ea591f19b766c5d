"""Image training: contrastive divergence on digits (lab and naive recipes) and EBM + generator."""
import copy
import math

import pytest
import torch

from ebm_engine.data import load_digits_grey
from ebm_engine.models import ConvEBM, ImageGenerator
from ebm_engine.samplers.short_run import ShortRunChain, noise_images, short_run_samples
from ebm_engine.training import EBMGeneratorConfig, EBMGeneratorTrainer
from ebm_engine.training.ebm_generator import nearest_neighbour_entropy
from ebm_engine.training.image_recipes import (image_batches, image_cd_trainer, lab_image_config,
                                               naive_image_config)


@pytest.fixture(scope="module")
def digits():
    return load_digits_grey().train.reshape(-1, 1, 8, 8)


class Spy:
    """A data_fn that remembers its last batch."""

    def __init__(self, images):
        self.draw, self.last = image_batches(images), None

    def __call__(self, n, generator=None):
        self.last = self.draw(n, generator)
        return self.last


def test_one_iteration_lowers_data_energy_relative_to_samples(digits):
    torch.manual_seed(0)
    model = ConvEBM((8, 8), width=16)
    trainer = image_cd_trainer(model, digits, lab_image_config(batch_size=64, buffer_size=256, lr=1e-3),
                               torch.Generator().manual_seed(0))
    spy = Spy(digits)
    trainer.data_fn = spy
    before = copy.deepcopy(model)
    stats = trainer.step()
    x_pos, x_neg = spy.last, trainer.last_negatives
    with torch.no_grad():
        gap_before = before(x_neg).mean() - before(x_pos).mean()
        gap_after = model(x_neg).mean() - model(x_pos).mean()
    assert not stats.diverged
    assert gap_after > gap_before + 1e-4


def test_chains_stay_in_the_data_range_and_the_buffer_keeps_them(digits):
    trainer = image_cd_trainer(ConvEBM((8, 8), width=8), digits,
                               lab_image_config(batch_size=32, buffer_size=64, step_size=50.0, noise_scale=0.3,
                                                reinit_fraction=0.0),
                               torch.Generator().manual_seed(0))
    start = trainer.buffer.store.clone()
    trainer.step()
    store = trainer.buffer.store
    assert store.min() >= 0 and store.max() <= 1
    assert (store != start).flatten(1).any(dim=1).sum() >= 20   # evolved chains were written back


def test_naive_recipe_starts_every_chain_from_gaussian_noise(digits):
    cfg = naive_image_config()
    assert (cfg.reinit_fraction, cfg.l2_weight, cfg.grad_clip, cfg.clamp) == (1.0, 0.0, None, None)
    assert cfg.noise_scale == pytest.approx(math.sqrt(2 * cfg.step_size))
    trainer = image_cd_trainer(ConvEBM((8, 8), width=8), digits, naive_image_config(batch_size=16),
                               torch.Generator().manual_seed(0), init="gaussian")
    trainer.step()
    assert trainer.last_negatives.min() < -1 and trainer.last_negatives.max() > 2   # never clamped


def test_divergence_rolls_back_the_weights(digits):
    model = ConvEBM((8, 8), width=8)
    trainer = image_cd_trainer(model, digits, lab_image_config(batch_size=16, buffer_size=32),
                               torch.Generator().manual_seed(0))
    good = copy.deepcopy(model.state_dict())
    trainer.data_fn = lambda n, g=None: torch.full((n, 1, 8, 8), float("nan"))
    stats = trainer.step()
    assert stats.diverged and trainer.divergences == 1
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, good[name])


def test_short_run_generation_is_clamped_and_animates_step_by_step():
    torch.manual_seed(0)
    model = ConvEBM((8, 8), width=8)
    g = torch.Generator().manual_seed(0)
    chain = ShortRunChain(model, noise_images(6, (1, 8, 8), g), step_size=5.0, noise_scale=0.2, generator=g)
    first = chain.x.clone()
    chain.step()
    assert chain.steps_done == 1 and not torch.equal(chain.x, first)
    samples = short_run_samples(model, 6, (1, 8, 8), steps=5, step_size=5.0, noise_scale=0.2, generator=g)
    assert samples.shape == (6, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    assert all(p.requires_grad for p in model.parameters())


def make_pair(digits, **config):
    torch.manual_seed(0)
    energy, net = ConvEBM((8, 8), width=8), ImageGenerator((8, 8), latent_dim=8, hidden=64)
    trainer = EBMGeneratorTrainer(energy, net, image_batches(digits), EBMGeneratorConfig(batch_size=32, **config),
                                  torch.Generator().manual_seed(0))
    return energy, net, trainer


def test_generator_training_lowers_the_energy_of_its_samples(digits):
    energy, net, trainer = make_pair(digits, refine_steps=0, entropy_weight=0.0)
    z = net.sample_latent(64, torch.Generator().manual_seed(3))
    energy_before = copy.deepcopy(energy.state_dict())
    with torch.no_grad():
        start = energy(net(z)).mean()
    for _ in range(30):
        trainer.generator_step(net.sample_latent(32, trainer.generator))
    with torch.no_grad():
        end = energy(net(z)).mean()
    assert end < start - 0.05 * abs(start) - 1e-3
    for name, tensor in energy.state_dict().items():   # the energy itself did not move
        torch.testing.assert_close(tensor, energy_before[name])


def test_ebm_update_lowers_data_energy_relative_to_proposals(digits):
    energy, net, trainer = make_pair(digits, refine_steps=3)
    spy = Spy(digits)
    trainer.data_fn = spy
    before = copy.deepcopy(energy)
    stats = trainer.step()
    x_pos, x_neg = spy.last, trainer.last_refined
    with torch.no_grad():
        assert (energy(x_neg).mean() - energy(x_pos).mean()) > (before(x_neg).mean() - before(x_pos).mean())
    assert not stats.diverged
    assert x_neg.min() >= 0 and x_neg.max() <= 1 and not torch.equal(x_neg, trainer.last_proposals)


def test_nearest_neighbour_entropy_grows_by_log_scale():
    x = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    assert float(nearest_neighbour_entropy(3 * x) - nearest_neighbour_entropy(x)) == pytest.approx(math.log(3), abs=1e-4)


def test_generator_diverged_step_restores_both_networks(digits):
    energy, net, trainer = make_pair(digits, refine_steps=0)
    saved = copy.deepcopy(net.state_dict()), copy.deepcopy(energy.state_dict())
    trainer.data_fn = lambda n, g=None: torch.full((n, 1, 8, 8), float("nan"))
    assert trainer.step().diverged
    for state, module in zip(saved, (net, energy)):
        for name, tensor in module.state_dict().items():
            torch.testing.assert_close(tensor, state[name])
    with pytest.raises(ValueError):
        trainer.update_config(entropy_weight=-1.0)
