"""Trainers with ``sampler="captured"`` draw the same negatives as with the eager Langevin kernel."""
from __future__ import annotations

import pytest
import torch

from ebm_engine.data.digits import load_digits_grey
from ebm_engine.models.conv_ebm import ConvEBM
from ebm_engine.models.jem import JEM
from ebm_engine.samplers.compiled import CompiledKernel
from ebm_engine.training import JEMConfig, JEMTrainer
from ebm_engine.training.image_recipes import image_cd_trainer, lab_image_config

SPLIT = load_digits_grey()


def conv_trainer(sampler: str, precision: str = "fp32"):
    torch.manual_seed(0)
    config = lab_image_config(batch_size=32, buffer_size=128, langevin_steps=5, sampler=sampler, precision=precision)
    return image_cd_trainer(ConvEBM((8, 8), width=8), SPLIT.train[:256].reshape(-1, 1, 8, 8), config,
                            torch.Generator().manual_seed(1))


def jem_trainer(sampler: str):
    torch.manual_seed(0)
    return JEMTrainer(JEM((8, 8), width=8), SPLIT.train[:256], SPLIT.train_labels[:256],
                      JEMConfig(batch_size=32, buffer_size=128, sgld_steps=5, warmup_steps=0, sampler=sampler),
                      generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_conv_ebm_captured_sampling_matches_eager(precision):
    eager, captured = conv_trainer("eager", precision), conv_trainer("captured", precision)
    for _ in range(3):
        a, b = eager.step(), captured.step()
        assert b.loss == pytest.approx(a.loss, rel=1e-3, abs=1e-4)
    torch.testing.assert_close(captured.last_negatives, eager.last_negatives, rtol=1e-3, atol=1e-3)
    kernel = captured._negative_sampler.get(captured.energy, *[getattr(captured.config, k) for k in
                                            ("noise_scale", "clamp", "precision", "sampler")])[0]
    assert isinstance(kernel, CompiledKernel) and kernel.backend == "eager"   # compiled, as CUDA graphs, on a GPU
    assert kernel.status == "compiled"


def test_jem_captured_sampling_matches_eager_and_the_setting_is_checked():
    eager, captured = jem_trainer("eager"), jem_trainer("captured")
    for _ in range(3):
        a, b = eager.step(), captured.step()
        assert b.loss == pytest.approx(a.loss, rel=1e-3, abs=1e-4)
    torch.testing.assert_close(captured.last_negatives, eager.last_negatives, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="sampler"):
        captured.update_config(sampler="graph")
