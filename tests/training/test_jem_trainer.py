"""JEM and plain-classifier training steps: cross-entropy falls, energies stay finite, divergence rolls back."""
import pytest
import torch
import torch.nn.functional as F

from ebm_engine.data.digits import load_digits_grey
from ebm_engine.models.jem import JEM
from ebm_engine.training.jem_trainer import JEMConfig, JEMTrainer


@pytest.fixture(scope="module")
def digits():
    return load_digits_grey()


def make(digits, width=8, **config):
    torch.manual_seed(0)
    model = JEM(digits.shape, width=width)
    trainer = JEMTrainer(model, digits.train, digits.train_labels, JEMConfig(**config),
                         generator=torch.Generator().manual_seed(0))
    return model, trainer


def train_ce(model, digits):
    with torch.no_grad():
        return float(F.cross_entropy(model.logits(digits.train[:500]), digits.train_labels[:500]))


@pytest.mark.parametrize("generative_weight", [0.0, 1.0])
def test_training_reduces_cross_entropy_and_keeps_energies_finite(digits, generative_weight):
    model, trainer = make(digits, width=16, generative_weight=generative_weight, sgld_steps=5, buffer_size=500,
                          batch_size=64, lr=3e-3)
    before = train_ce(model, digits)
    buffer_before = trainer.buffer.store.clone()
    for _ in range(60):
        stats = trainer.step()
        assert not stats.diverged
        assert all(map(lambda v: v == v and abs(v) < 1e3, (stats.loss, stats.e_data, stats.e_neg)))
    after = train_ce(model, digits)
    assert after < 0.8 * before
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(20, 64))).all()
    if generative_weight:
        assert not torch.equal(trainer.buffer.store, buffer_before)     # negatives went back to the buffer
        assert trainer.buffer.store.min() >= 0 and trainer.buffer.store.max() <= 1
    else:
        assert torch.equal(trainer.buffer.store, buffer_before)         # no sampling for the classifier


def test_divergence_rolls_back_to_the_last_good_weights(digits):
    model, trainer = make(digits, sgld_steps=2, buffer_size=200)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.buffer.store[:5] = 0.5
    trainer.update_config(max_energy=1e-9)        # any energy now counts as divergence
    stats = trainer.step()
    assert stats.diverged and trainer.divergences == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, good[k])
    assert not (trainer.buffer.store[:5] == 0.5).all()       # the buffer was refilled with noise


def test_shifted_images_move_by_at_most_max_shift(digits):
    model, trainer = make(digits, max_shift=1, buffer_size=10)
    x = torch.zeros(50, 64)
    x[:, 3 * 8 + 4] = 1.0                          # one lit pixel at row 3, column 4
    moved = trainer.shifted(x)
    rows, cols = (moved.reshape(50, 8, 8) == 1).nonzero()[:, 1:].T
    assert moved.sum(dim=1).eq(1).all()
    assert set(rows.tolist()) == {2, 3, 4} and set(cols.tolist()) == {3, 4, 5}
    trainer.update_config(max_shift=0)
    assert torch.equal(trainer.shifted(x), x)


def test_config_is_validated(digits):
    model, trainer = make(digits, buffer_size=10)
    with pytest.raises(ValueError):
        trainer.update_config(lr=-1.0)
    with pytest.raises(ValueError):
        trainer.update_config(nonsense=1)
    with pytest.raises(ValueError, match="buffer_size"):
        trainer.update_config(buffer_size=20)
    trainer.update_config(lr=1e-2, weight_decay=0.01)
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-2
