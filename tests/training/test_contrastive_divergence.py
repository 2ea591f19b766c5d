"""Contrastive divergence: config validation, live updates, one step, the divergence guard, quality."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from ebm_engine.stepwise import finish
from ebm_engine.data import toy2d
from ebm_engine.energies.base import Energy
from ebm_engine.metrics.partition import grid_nll
from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.training.contrastive_divergence import CDConfig, CDStats, ContrastiveDivergence

DATA_CENTRE = torch.tensor([1.0, -1.0])


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data_fn(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return DATA_CENTRE + 0.3 * torch.randn(n, 2, generator=generator)


class RecordingInit:
    """Uniform chain starts on [-2, 2]^2 that remember what they drew last."""

    def __init__(self):
        self.last: torch.Tensor | None = None

    def __call__(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        self.last = 4 * torch.rand(n, 2, generator=generator) - 2
        return self.last


class Poisonable(Energy):
    """A model whose energies can be made non-finite on demand (``poison = nan`` or ``inf``)."""

    def __init__(self, model: Energy):
        super().__init__()
        self.model = model
        self.poison: float | None = None

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        e = self.model(x)
        return e if self.poison is None else e + self.poison


def small_model(seed: int = 0) -> SimpleEBM:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SimpleEBM(2, 16, 2)


def make_trainer(seed: int = 0, checkpoint_every: int = 25, energy: Energy | None = None,
                 init_fn=None, **config) -> ContrastiveDivergence:
    settings = {"batch_size": 64, "buffer_size": 500, "langevin_steps": 5, **config}
    return ContrastiveDivergence(energy if energy is not None else small_model(seed), data_fn,
                                 init_fn or RecordingInit(), CDConfig(**settings), generator=gen(seed),
                                 checkpoint_every=checkpoint_every)


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_weights_equal(module: torch.nn.Module, saved: dict[str, torch.Tensor]) -> None:
    now = module.state_dict()
    assert now.keys() == saved.keys()
    for k in saved:
        assert torch.equal(now[k], saved[k]), k


def all_finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


# --- configuration --------------------------------------------------------------------------------


def capture_negatives(cd) -> dict:
    """Record the positions and buffer indices of the negatives the next steps sample."""
    captured = {}
    original = cd.sample_negatives

    def spy():
        x, idx = original()
        captured["x"], captured["idx"] = x.clone(), idx.clone()
        return x, idx

    cd.sample_negatives = spy
    return captured

def test_default_config_is_valid():
    cfg = CDConfig()   # a config is checked when it is made
    assert cfg.reinit_fraction == 0.05 and cfg.l2_weight > 0 and cfg.noise_scale is None


@pytest.mark.parametrize("bad", [
    {"lr": 0.0}, {"lr": -1e-3}, {"lr": math.nan}, {"lr": math.inf},
    {"step_size": 0.0}, {"step_size": math.nan},
    {"sample_temperature": 0.0}, {"sample_temperature": math.inf},
    {"batch_size": 0}, {"buffer_size": 0}, {"langevin_steps": -1},
    {"reinit_fraction": -0.1}, {"reinit_fraction": 1.1}, {"reinit_fraction": math.nan},
    {"l2_weight": -0.1}, {"l2_weight": math.nan}, {"l2_weight": math.inf},
    {"loss": "mse"},
    {"grad_clip": 0.0}, {"grad_clip": -1.0}, {"grad_clip": math.nan},
    {"noise_scale": -0.1}, {"noise_scale": math.nan}, {"noise_scale": math.inf},
    {"hinge_margin": math.nan}, {"hinge_margin": math.inf},
    {"max_chain_norm": 0.0}, {"max_chain_norm": -1.0}, {"max_chain_norm": math.nan},
    {"betas": (1.0, 0.999)}, {"betas": (0.9, -0.1)}, {"betas": (0.9,)},
])
def test_validate_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        CDConfig(**bad)
    with pytest.raises(ValueError):
        make_trainer(**bad)


def test_update_config_changes_lr_and_betas_in_the_optimizer():
    cd = make_trainer()
    cd.update_config(lr=1e-4, betas=(0.5, 0.9), step_size=0.05, langevin_steps=2)
    assert cd.config.lr == 1e-4 and cd.config.step_size == 0.05 and cd.config.langevin_steps == 2
    for group in cd.optimizer.param_groups:
        assert group["lr"] == 1e-4
        assert tuple(group["betas"]) == (0.5, 0.9)


def test_update_config_rejects_unknown_names_bad_values_and_buffer_resizing():
    cd = make_trainer()
    before = copy.deepcopy(cd.config)
    with pytest.raises(ValueError, match="unknown"):
        cd.update_config(learning_rate=1e-4)
    with pytest.raises(ValueError):
        cd.update_config(lr=-1.0)
    with pytest.raises(ValueError):
        cd.update_config(l2_weight=math.nan)
    with pytest.raises(ValueError, match="buffer_size"):
        cd.update_config(buffer_size=123)
    assert cd.config == before  # a rejected change leaves everything as it was
    assert all(group["lr"] == before.lr for group in cd.optimizer.param_groups)
    cd.update_config(buffer_size=before.buffer_size)  # an unchanged size is fine


def test_langevin_steps_zero_returns_buffer_starts():
    cd = make_trainer(langevin_steps=0, reinit_fraction=0.0)
    x, idx = cd.sample_negatives()
    assert torch.equal(x, cd.buffer.store[idx])


def test_sampling_negatives_leaves_parameters_trainable_and_without_grads():
    cd = make_trainer()
    params = list(cd.energy.parameters())
    params[0].requires_grad_(False)  # a frozen layer stays frozen
    x, _ = cd.sample_negatives()
    assert not x.requires_grad
    assert [p.requires_grad for p in params] == [False] + [True] * (len(params) - 1)
    assert all(p.grad is None for p in params)


# --- one training step ----------------------------------------------------------------------------

def test_step_returns_finite_stats_and_changes_parameters():
    cd = make_trainer()
    before = weights(cd.energy)
    stats = cd.step()
    assert isinstance(stats, CDStats)
    assert stats.step == 1 and cd.step_count == 1
    assert not stats.diverged and stats.chains_reset == 0
    for value in (stats.loss, stats.e_data, stats.e_neg, stats.grad_norm):
        assert math.isfinite(value)
    assert stats.grad_norm > 0
    assert any(not torch.equal(v, before[k]) for k, v in cd.energy.state_dict().items())
    assert cd.last_negatives.shape == (64, 2) and torch.isfinite(cd.last_negatives).all()


def test_step_writes_evolved_chains_back_to_the_buffer():
    cd = make_trainer(reinit_fraction=0.0)
    captured = capture_negatives(cd)
    cd.step()
    idx, x = captured["idx"], captured["x"]
    once = torch.bincount(idx, minlength=cd.buffer.capacity)[idx] == 1  # unambiguous writes
    assert torch.equal(cd.buffer.store[idx[once]], x[once])
    assert torch.equal(cd.last_negatives, x)


def test_loss_is_the_cd_objective_plus_the_l2_penalty():
    stats = make_trainer(l2_weight=0.0).step()
    assert stats.loss == pytest.approx(stats.e_data - stats.e_neg, rel=1e-5, abs=1e-6)
    w = 0.5
    stats = make_trainer(l2_weight=w).step()
    # mean(e²) >= mean(e)², so the penalty is at least w (ē_data² + ē_neg²).
    assert stats.loss >= stats.e_data - stats.e_neg + w * (stats.e_data ** 2 + stats.e_neg ** 2) - 1e-5
    stats = make_trainer(l2_weight=0.0, loss="hinge", hinge_margin=1.0).step()
    assert stats.loss == pytest.approx(max(0.0, 1.0 + stats.e_data - stats.e_neg), rel=1e-5, abs=1e-6)


def test_step_lowers_the_objective_on_its_own_batch():
    # A small first Adam step moves each weight by about lr against its gradient: to first order
    # the CD objective on the very same positives and negatives must go down. A flipped loss sign
    # makes it go up.
    cd = make_trainer(lr=1e-4, l2_weight=0.0, grad_clip=None)
    batches = {}
    sample, draw = cd.sample_negatives, cd.data_fn

    def spy_neg():
        x, idx = sample()
        batches["neg"] = x.clone()
        return x, idx

    def spy_data(n, g):
        batches["pos"] = draw(n, g)
        return batches["pos"]

    cd.sample_negatives, cd.data_fn = spy_neg, spy_data
    stats = cd.step()
    before = stats.e_data - stats.e_neg   # measured before the update, on these batches
    with torch.no_grad():
        after = float(cd.energy(batches["pos"]).mean() - cd.energy(batches["neg"]).mean())
    assert after < before - 1e-6, (before, after)


def test_training_is_reproducible():
    a, b = make_trainer(seed=3), make_trainer(seed=3)
    for _ in range(3):
        assert a.step() == b.step()
    assert_weights_equal(a.energy, weights(b.energy))


# --- the divergence guard -------------------------------------------------------------------------

def test_nan_parameter_is_rolled_back_to_the_last_checkpoint():
    cd = make_trainer(checkpoint_every=5)
    for _ in range(5):
        assert not cd.step().diverged
    assert cd.last_good_step == 5
    good = weights(cd.energy)
    cd.step()
    cd.step()
    assert any(not torch.equal(v, good[k]) for k, v in cd.energy.state_dict().items())
    with torch.no_grad():
        cd.energy.network[0].weight[0, 0] = math.nan
    stats = cd.step()
    assert stats.diverged and stats.step == 8 and cd.divergences == 1
    assert not math.isfinite(stats.loss)
    assert_weights_equal(cd.energy, good)
    assert all_finite(cd.energy) and torch.isfinite(cd.buffer.store).all()
    # Training goes on from there.
    stats = cd.step()
    assert not stats.diverged and math.isfinite(stats.loss) and all_finite(cd.energy)


@pytest.mark.parametrize("poison", [math.nan, math.inf])
def test_non_finite_energy_is_reported_and_rolled_back(poison):
    energy = Poisonable(small_model())
    cd = make_trainer(energy=energy, checkpoint_every=4)
    for _ in range(4):
        cd.step()
    good = weights(energy)
    cd.step()
    energy.poison = poison
    stats = cd.step()
    assert stats.diverged and cd.divergences == 1
    assert_weights_equal(energy, good)
    assert all_finite(energy) and torch.isfinite(cd.buffer.store).all()
    energy.poison = None
    assert not cd.step().diverged


def test_non_finite_weights_after_the_optimizer_step_are_rolled_back():
    cd = make_trainer(checkpoint_every=3)
    for _ in range(3):
        cd.step()
    good = weights(cd.energy)
    original = cd.optimizer.step
    first = next(cd.energy.parameters())

    def exploding_step(*args, **kwargs):
        out = original(*args, **kwargs)
        with torch.no_grad():
            first.view(-1)[0] = math.inf
        return out

    cd.optimizer.step = exploding_step
    stats = cd.step()
    assert stats.diverged and math.isfinite(stats.loss)  # the loss was fine; the weights were not
    assert_weights_equal(cd.energy, good)
    assert all_finite(cd.energy)


def test_repeated_divergences_restore_the_same_checkpoint_including_optimizer_state():
    energy = Poisonable(small_model())
    cd = make_trainer(energy=energy, checkpoint_every=5)
    for _ in range(5):
        cd.step()
    good_model = weights(energy)
    good_optimizer = copy.deepcopy(cd.optimizer.state_dict())
    for _ in range(2):            # diverge, recover, take a good step (Adam updates its moments in place), diverge again
        energy.poison = math.nan
        assert cd.step().diverged
        energy.poison = None
        assert not cd.step().diverged
    energy.poison = math.nan
    assert cd.step().diverged
    assert cd.last_good_step == 5
    assert_weights_equal(energy, good_model)
    state = cd.optimizer.state_dict()["state"]
    assert state.keys() == good_optimizer["state"].keys()
    for pid, saved in good_optimizer["state"].items():
        for key, value in saved.items():
            assert torch.equal(state[pid][key], value), (pid, key)


def test_restore_keeps_the_current_learning_rate():
    energy = Poisonable(small_model())
    cd = make_trainer(energy=energy)
    cd.step()
    cd.update_config(lr=1e-4, betas=(0.8, 0.99))
    energy.poison = math.nan
    assert cd.step().diverged
    for group in cd.optimizer.param_groups:
        assert group["lr"] == 1e-4 and tuple(group["betas"]) == (0.8, 0.99)


def test_far_chains_are_reinitialised_and_counted():
    init = RecordingInit()
    cd = make_trainer(init_fn=init, reinit_fraction=0.0, max_chain_norm=1.5, langevin_steps=2)
    captured = capture_negatives(cd)
    stats = cd.step()
    x, idx = captured["x"], captured["idx"]
    far = x.norm(dim=1) > 1.5
    reset_rows = idx[far].unique()
    assert far.any() and (~far).any()   # uniform starts on [-2, 2]^2: both kinds are present
    assert stats.chains_reset == len(reset_rows)
    # The reset rows hold fresh starts (the last draw of init_fn), and far chains are not used as negatives.
    assert torch.equal(cd.buffer.store[reset_rows], init.last)
    assert torch.equal(cd.last_negatives, x[~far])
    assert (cd.last_negatives.norm(dim=1) <= 1.5).all()
    assert not stats.diverged and math.isfinite(stats.e_neg)


# --- quality: training lowers the held-out NLL ---------------------------------------------------

def test_training_on_8gaussians_approaches_the_true_nll():
    """300 iterations of the default recipe on 8gaussians (as the Energy Landscape job sets it up).

    Measured (held-out NLL minus the true NLL on 2000 points, seeds 0-4): 1.52-1.57 nats at
    initialisation, 0.43-0.51 after 300 iterations (0.49 for seed 0, used here; its standard error
    over the held-out points is 0.017 nats). With the loss sign flipped the gap grows to about
    9.5 nats. The 0.6-nat bound leaves about 0.1 nats (6 standard errors, and more than the whole
    seed-to-seed spread) over the measured run, and is far below what an untrained (1.5) or
    broken (9.5) trainer reaches; a drop of 0.8 nats from initialisation (measured: 1.07) is
    required as well.
    """
    name = "8gaussians"
    data_gen = gen(0)
    train = toy2d.sample(name, 10000, data_gen)
    test = toy2d.sample(name, 2000, data_gen)
    bounds = toy2d.bounds(name)
    true_nll = float(-toy2d.true_log_prob(name)(test.double()).mean())
    lo = torch.tensor([b[0] for b in bounds])
    hi = torch.tensor([b[1] for b in bounds])

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = SimpleEBM(2, 128, 2, "silu")
    trainer = ContrastiveDivergence(
        model,
        lambda n, g: train[torch.randint(len(train), (n,), generator=g)],
        lambda n, g: lo + (hi - lo) * torch.rand(n, 2, generator=g),
        CDConfig(), generator=gen(100))
    nll_start = grid_nll(model, test, bounds)
    assert nll_start - true_nll > 1.0

    diverged = sum(trainer.step().diverged for _ in range(300))
    model.eval()
    nll_end = grid_nll(model, test, bounds)
    assert diverged == 0
    assert nll_start - nll_end > 0.8, (nll_start, nll_end)
    assert nll_end - true_nll < 0.6, (nll_end, true_nll)


@pytest.mark.parametrize("loss", ["cd", "hinge"])
def test_the_provisional_figures_of_finished_chains_are_the_iterations_own(loss):
    """An iteration draws its data batch with its chains; ``provisional`` (what it would measure if
    the chains stopped now) therefore equals, once the chains are done, what ``step`` measures."""
    cd = make_trainer(loss=loss, l2_weight=0.3)
    cd.step()
    assert cd.provisional() is None                 # no iteration in flight
    next(cd.negative_steps())                       # the next iteration's first Langevin step (then closed)
    first = cd.provisional()
    finish(cd.negative_steps())                     # all its steps
    done = cd.provisional()
    stats = cd.step()
    assert done != first
    for key, measured in (("e_data", stats.e_data), ("e_neg", stats.e_neg), ("loss", stats.loss)):
        assert measured == pytest.approx(done[key], rel=1e-5, abs=1e-6), key
