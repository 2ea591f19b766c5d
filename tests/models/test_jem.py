"""JEM: the energies are functions of the logits, and any image size fits the backbone."""
import pytest
import torch

from ebm_engine.models.jem import JEM, ClassConditionalEnergy
from ebm_engine.samplers.langevin import Langevin


@pytest.fixture
def model():
    torch.manual_seed(0)
    return JEM((8, 8), n_classes=10, width=8)


def test_energy_identities(model):
    x = torch.rand(5, 64)
    logits = model.logits(x)
    assert logits.shape == (5, 10)
    e = model(x)
    assert e.shape == (5,)
    assert torch.allclose(e, -torch.logsumexp(logits, dim=1))
    for y in range(10):
        labels = torch.full((5,), y)
        assert torch.allclose(model.joint_energy(x, labels), -logits[:, y])
    joint = torch.stack([model.joint_energy(x, torch.full((5,), y)) for y in range(10)], dim=1)
    # E(x) = -log Σ_y exp(-E(x, y)), and p(y|x) = exp(E(x) - E(x, y)) is the softmax
    assert torch.allclose(e, -torch.logsumexp(-joint, dim=1), atol=1e-6)
    assert torch.allclose(torch.exp(e[:, None] - joint), torch.softmax(logits, dim=1), atol=1e-6)
    assert torch.equal(model.classify(x), logits.argmax(dim=1))


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (5, 7)])
def test_backbone_feature_size_is_measured(shape):
    m = JEM(shape, n_classes=3, width=4)
    assert m.logits(torch.rand(2, shape[0] * shape[1])).shape == (2, 3)


def test_class_conditional_energy_runs_langevin(model):
    labels = torch.tensor([0, 3, 7])
    energy = ClassConditionalEnergy(model, labels)
    x = torch.rand(3, 64)
    assert torch.allclose(energy(x), model.joint_energy(x, labels))
    kernel = Langevin(noise_scale=0.01, clamp=(0.0, 1.0))
    state = kernel.init(energy, x)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        state, info = kernel.step(energy, state, 1.0, 1.0, g)
    assert state.x.shape == (3, 64) and torch.isfinite(state.x).all()
    assert state.x.min() >= 0 and state.x.max() <= 1
    # the chains lower their own class's energy
    assert (energy(state.x) < energy(x)).all()
    with pytest.raises(ValueError, match="labels"):
        energy(torch.rand(2, 64))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        JEM((8, 8), n_classes=1)
