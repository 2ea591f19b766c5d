"""bf16 training of ConvEBM and JEM: the networks run in bf16, the losses still go down."""
from __future__ import annotations

import torch

from ebm_engine.data.digits import load_digits_grey
from ebm_engine.models.conv_ebm import ConvEBM
from ebm_engine.models.jem import JEM
from ebm_engine.training import JEMConfig, JEMTrainer
from ebm_engine.training.image_recipes import image_cd_trainer, lab_image_config


def record_output_dtypes(layer: torch.nn.Module) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    layer.register_forward_hook(lambda _m, _inp, out: seen.append(out.dtype))
    return seen


def test_conv_ebm_bf16_separates_digits_from_noise():
    split = load_digits_grey()
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    energy = ConvEBM((8, 8), width=16)
    seen = record_output_dtypes(energy.head)
    images = split.train.reshape(-1, 1, 8, 8)
    trainer = image_cd_trainer(energy, images, lab_image_config(batch_size=64, buffer_size=512, langevin_steps=10,
                                                                precision="bf16"), g)
    test = split.test.reshape(-1, 1, 8, 8)[:200]
    noise = torch.rand(200, 1, 8, 8, generator=g)

    def gap() -> float:   # how much lower the energy of held-out digits is than that of noise
        with torch.no_grad():
            return float(energy(noise).mean() - energy(test).mean())

    before = gap()
    assert abs(before) < 0.05
    stats = [trainer.step() for _ in range(40)]
    assert torch.bfloat16 in seen                      # the option really runs the network in bf16
    assert not any(s.diverged for s in stats)
    assert gap() > before + 0.2   # untrained: no gap (|before| < 0.01)


def test_jem_bf16_lowers_the_cross_entropy():
    split = load_digits_grey()
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    model = JEM((8, 8), width=16)
    seen = record_output_dtypes(model.classifier)
    trainer = JEMTrainer(model, split.train, split.train_labels,
                         JEMConfig(lr=1e-2, batch_size=64, buffer_size=512, sgld_steps=3, warmup_steps=200,
                                   precision="bf16"), generator=g)
    stats = [trainer.step() for _ in range(30)]
    assert torch.bfloat16 in seen
    assert trainer.last_negatives.dtype == torch.float32 and not any(s.diverged for s in stats)
    first = sum(s.cross_entropy for s in stats[:5]) / 5
    last = sum(s.cross_entropy for s in stats[-5:]) / 5
    assert last < 0.8 * first
