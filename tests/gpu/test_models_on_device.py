"""Every model trains a few steps and samples on the device, with every tensor staying there.

The same test bodies run on the CPU (so they are exercised by the CPU suite) and on CUDA when a
GPU is present (skipped cleanly otherwise). Generators live on the device, as the jobs make them.
"""
from __future__ import annotations

import pytest
import torch

from ebm_engine.data.digits import load_digits_binary, load_digits_grey
from ebm_engine.device import make_generator
from ebm_engine.models import SimpleEBM
from ebm_engine.models.conv_ebm import ConvEBM
from ebm_engine.models.equivariant_ebm import EquivariantEBM
from ebm_engine.models.image_generator import ImageGenerator
from ebm_engine.models.jem import JEM
from ebm_engine.models.latent_ebm import LatentEBM
from ebm_engine.models.point_groups import cyclic
from ebm_engine.models.rbm import RBM
from ebm_engine.samplers import HMC, MALA, Langevin, short_run_samples
from ebm_engine.training import (CDConfig, ContrastiveDivergence, EBMGeneratorConfig, EBMGeneratorTrainer, JEMConfig,
                                 JEMTrainer, LatentEBMConfig, LatentEBMTrainer, RBMConfig, RBMTrainer, ScoreMatching,
                                 ScoreMatchingConfig)
from ebm_engine.training.image_recipes import image_batches, image_cd_trainer, lab_image_config
from tests.devices import DEVICES



def on(device: str, t: torch.Tensor) -> bool:
    return t.device.type == torch.device(device).type


def ring_data(device: str):
    angles = torch.linspace(0, 6.2, 512, device=device)
    data = torch.stack([angles.cos(), angles.sin()], dim=1) * 2.0

    def data_fn(n: int, g: torch.Generator | None) -> torch.Tensor:
        return data[torch.randint(len(data), (n,), generator=g, device=g.device)]

    def init_fn(n: int, g: torch.Generator | None) -> torch.Tensor:
        return 6 * torch.rand(n, 2, generator=g, device=g.device) - 3

    return data_fn, init_fn


def assert_trained(losses: list[float], module: torch.nn.Module, device: str) -> None:
    assert all(torch.isfinite(torch.tensor(loss)) for loss in losses)
    assert all(on(device, p) for p in module.parameters())


def sample_2d(energy, device: str, g: torch.Generator) -> None:
    for kernel in (Langevin(), MALA(), HMC(n_leapfrog=3)):
        state = kernel.init(energy, torch.randn(32, 2, generator=g, device=device))
        for _ in range(3):
            state, info = kernel.step(energy, state, 0.05, 1.0, g)
        assert on(device, state.x) and on(device, info.accepted) and bool(torch.isfinite(state.x).all())


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_energy_trains_and_samples(device):
    g = make_generator(0, device)
    data_fn, init_fn = ring_data(device)
    model = SimpleEBM(2, hidden=32, depth=2).to(device)
    trainer = ContrastiveDivergence(model, data_fn, init_fn, CDConfig(batch_size=64, buffer_size=256), g)
    assert_trained([trainer.step().loss for _ in range(3)], model, device)
    assert on(device, trainer.buffer.store)
    sample_2d(model, device, g)


@pytest.mark.parametrize("device", DEVICES)
def test_score_matching_and_equivariant_and_latent_models(device):
    g = make_generator(1, device)
    data_fn, init_fn = ring_data(device)
    sm_model = SimpleEBM(2, hidden=32, depth=2).to(device)
    sm = ScoreMatching(sm_model, data_fn, ScoreMatchingConfig(batch_size=64), g)
    assert_trained([sm.step().loss for _ in range(3)], sm_model, device)

    equivariant = EquivariantEBM(cyclic(4), SimpleEBM(2, 32, 2)).to(device)
    cd = ContrastiveDivergence(equivariant, data_fn, init_fn, CDConfig(batch_size=64, buffer_size=256), g)
    assert_trained([cd.step().loss for _ in range(3)], equivariant, device)
    sample_2d(equivariant, device, g)

    latent = LatentEBM(2, 1, hidden=32, depth=2, encoder_hidden=16, marginal_samples=8).to(device)
    lt = LatentEBMTrainer(latent, data_fn, init_fn, LatentEBMConfig(batch_size=64, buffer_size=256), g)
    assert_trained([lt.step().loss for _ in range(3)], latent, device)
    sample_2d(latent.marginal(8, g), device, g)


@pytest.mark.parametrize("device", DEVICES)
def test_rbm_trains_and_gibbs_samples(device):
    g = make_generator(2, device)
    data = load_digits_binary().train[:200].to(device)
    rbm = RBM(64, 16, g, device=device)
    trainer = RBMTrainer(rbm, data, RBMConfig(batch_size=50, persistent=True, n_persistent=20), g)
    stats = [trainer.step() for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(s.recon_error)) for s in stats)
    fantasy = trainer.advance_fantasy(2)
    assert on(device, fantasy) and on(device, rbm.W)
    probs, sample = rbm.gibbs(data[:8], 2, g)
    assert on(device, sample) and set(torch.unique(sample).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision, sampler", [("fp32", "eager"), ("bf16", "eager"), ("bf16", "captured")])
def test_conv_ebm_and_ebm_generator_train_and_sample(device, precision, sampler):
    g = make_generator(3, device)
    images = load_digits_grey().train[:256].reshape(-1, 1, 8, 8).to(device)
    energy = ConvEBM((8, 8), width=8).to(device)
    config = lab_image_config(batch_size=32, buffer_size=128, langevin_steps=3, precision=precision, sampler=sampler)
    trainer = image_cd_trainer(energy, images, config, g)
    assert_trained([trainer.step().loss for _ in range(2)], energy, device)
    assert trainer.last_negatives.dtype == torch.float32 and on(device, trainer.last_negatives)
    samples = short_run_samples(energy, 8, (1, 8, 8), 3, 1.0, 0.01, generator=g)
    assert on(device, samples) and samples.shape == (8, 1, 8, 8)

    generator_net = ImageGenerator((8, 8)).to(device)
    pair = EBMGeneratorTrainer(ConvEBM((8, 8), width=8).to(device), generator_net, image_batches(images),
                               EBMGeneratorConfig(batch_size=16, refine_steps=2), g)
    assert_trained([pair.step().loss for _ in range(2)], generator_net, device)
    assert on(device, pair.last_refined)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision, sampler", [("fp32", "eager"), ("bf16", "eager"), ("fp32", "captured")])
def test_jem_trains_and_samples(device, precision, sampler):
    g = make_generator(4, device)
    split = load_digits_grey()
    model = JEM((8, 8), width=8).to(device)
    trainer = JEMTrainer(model, split.train[:256].to(device), split.train_labels[:256].to(device),
                         JEMConfig(batch_size=32, buffer_size=128, sgld_steps=3, warmup_steps=0, precision=precision,
                                   sampler=sampler),
                         generator=g)
    assert_trained([trainer.step().loss for _ in range(2)], model, device)
    assert on(device, trainer.last_negatives) and trainer.last_negatives.dtype == torch.float32
    x = trainer.sgld(model, trainer.fresh_noise(8, g), 3)
    assert on(device, x) and x.shape == (8, 64)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel", [Langevin(), MALA(), HMC(n_leapfrog=3)], ids=["langevin", "mala", "hmc"])
def test_one_step_programs_follow_the_eager_chains_on_the_device(device, kernel):
    """On CUDA the program is one CUDA graph (the default backend there); on the CPU the uncompiled program."""
    from ebm_engine.samplers.compiled import CompiledKernel

    torch.manual_seed(0)
    energy = SimpleEBM(2, 32, 2).to(device)
    program = CompiledKernel(kernel, background=False, backend=None if device == "cuda" else "eager")
    x = torch.randn(64, 2, device=device)
    a, b = kernel.init(energy, x), program.init(energy, x)
    ga, gb = make_generator(1, torch.device(device)), make_generator(1, torch.device(device))
    for _ in range(5):
        a, _ = kernel.step(energy, a, 0.05, 1.0, ga)
        b, info = program.step(energy, b, 0.05, 1.0, gb)
    assert program.status == "compiled" and on(device, b.x) and on(device, info.accepted)
    torch.testing.assert_close(b.x, a.x, rtol=1e-4, atol=1e-4)
