"""``Config``: hyper-parameters declared with param, checked on construction, on ``replace`` and on assignment."""
import copy
import math
import pickle

import param
import pytest

from ebm_engine.config import POSITIVE, Config, Interval
from ebm_engine.samplers.adaptation import DualAveragingConfig
from ebm_engine.samplers.hmc import HMCConfig
from ebm_engine.samplers.langevin import LangevinConfig
from ebm_engine.training import (CDConfig, EBMGeneratorConfig, JEMConfig, LatentEBMConfig, RBMConfig,
                                 ScoreMatchingConfig)


class Toy(Config):
    lr = param.Number(0.1, **POSITIVE)
    steps = param.Integer(5, bounds=(0, None))
    margin = param.Number(1.0)
    cap = param.Number(None, **POSITIVE)
    loss = param.Selector(default="cd", objects=["cd", "hinge"])
    on = param.Boolean(False)
    clamp = Interval(None, allow_None=True)
    betas = param.Range((0.9, 0.999), bounds=(0, 1), inclusive_bounds=(True, False))


BAD = [
    ("lr", 0.0, "greater than 0"), ("lr", -1.0, "greater than 0"), ("steps", -1, "at least 0"),
    ("lr", math.nan, "finite"), ("margin", math.nan, "finite"), ("cap", math.nan, "finite"),
    ("lr", math.inf, "finite"), ("margin", -math.inf, "finite"), ("cap", math.inf, "finite"),
    ("lr", True, "must be a number"), ("steps", True, "must be a number"), ("lr", "fast", "must be a number"),
    ("steps", 2.5, "integer"), ("on", 1, "True or False"), ("loss", "mse", "does not accept"),
    ("clamp", (1.0, 0.0), "low < high"), ("clamp", (0.0, 0.0), "low < high"), ("clamp", (math.nan, 1.0), "finite"),
    ("betas", (1.0, 0.5), "bound"), ("betas", (0.9,), "length"), ("betas", (0.9, math.inf), "finite"),
    ("betas", [0.9, 0.99], "tuple"), ("lr", None, "None"),
]


@pytest.mark.parametrize("name, value, fragment", BAD)
def test_a_bad_value_is_refused_at_construction_naming_the_field(name, value, fragment):
    with pytest.raises(ValueError, match=fragment) as error:
        Toy(**{name: value})
    assert f"Toy.{name}" in str(error.value)


@pytest.mark.parametrize("name, value, fragment", BAD)
def test_a_bad_value_is_refused_by_replace_and_by_assignment_leaving_the_config_as_it_was(name, value, fragment):
    config = Toy(lr=0.5)
    before = config.as_dict()
    with pytest.raises(ValueError, match=fragment):
        config.replace(**{name: value})
    with pytest.raises(ValueError, match=fragment):
        setattr(config, name, value)
    assert config.as_dict() == before


def test_good_values_pass_and_none_where_allowed():
    config = Toy(lr=2, steps=0, margin=-3.5, cap=None, loss="hinge", on=True, clamp=(-1, 1), betas=(0.99, 0.5))
    assert (config.lr, config.clamp, config.betas) == (2, (-1, 1), (0.99, 0.5))   # Adam's betas need no order


def test_replace_returns_a_checked_copy_and_leaves_the_original_untouched():
    original = Toy()
    changed = original.replace(lr=0.01, loss="hinge")
    assert (changed.lr, changed.loss) == (0.01, "hinge")
    assert (original.lr, original.loss) == (0.1, "cd")
    assert changed is not original and changed != original and original.replace() == original
    with pytest.raises(ValueError, match=r"unknown Toy setting\(s\) \['learning_rate'\]"):
        original.replace(learning_rate=0.01)
    with pytest.raises(ValueError, match="unknown"):
        original.replace(name="other")      # param's own name is no field


def test_dataclass_conveniences():
    config = Toy(steps=7)
    assert Toy.names() == ("lr", "steps", "margin", "cap", "loss", "on", "clamp", "betas")
    assert config.as_dict() == {"lr": 0.1, "steps": 7, "margin": 1.0, "cap": None, "loss": "cd", "on": False,
                                "clamp": None, "betas": (0.9, 0.999)}
    assert config == Toy(steps=7) and config != Toy() and config != CDConfig()
    assert repr(config).startswith("Toy(lr=0.1, steps=7, ") and str(config) == repr(config)
    with pytest.raises(TypeError):
        Toy(learning_rate=0.01)            # as a dataclass: an unknown keyword is a TypeError
    with pytest.raises(TypeError):
        hash(config)                       # equal by value and mutable: not hashable
    for copied in (copy.deepcopy(config), pickle.loads(pickle.dumps(config)), copy.copy(config)):
        assert copied == config
    deep = copy.deepcopy(config)
    deep.steps = 8
    assert config.steps == 7


# --- the converted configurations ---------------------------------------------------------------------
CONFIGS = {CDConfig: 17, RBMConfig: 9, LatentEBMConfig: 9, EBMGeneratorConfig: 12, JEMConfig: 17,
           ScoreMatchingConfig: 8, DualAveragingConfig: 5, HMCConfig: 3, LangevinConfig: 2}


@pytest.mark.parametrize("cls", CONFIGS)
def test_each_config_builds_with_its_defaults(cls):
    config = cls()
    assert len(cls.names()) == CONFIGS[cls] and config == cls(**config.as_dict())


def test_defaults_are_unchanged():
    assert CDConfig().as_dict() == dict(
        lr=3e-3, batch_size=256, langevin_steps=10, step_size=0.02, noise_scale=None, reinit_fraction=0.05,
        l2_weight=0.1, loss="cd", hinge_margin=1.0, grad_clip=1.0, buffer_size=10000, sample_temperature=1.0,
        max_chain_norm=None, clamp=None, betas=(0.9, 0.999), precision="fp32", sampler="eager")
    assert RBMConfig().as_dict() == dict(lr=0.05, k=1, persistent=False, momentum=0.5, weight_decay=1e-4,
                                         batch_size=100, n_persistent=100, temperature=1.0, stats_every=1)
    assert LatentEBMConfig().as_dict() == dict(lr=3e-3, batch_size=256, langevin_steps=10, step_size=0.02,
                                               reinit_fraction=0.05, l2_weight=0.1, grad_clip=1.0,
                                               buffer_size=10000, max_chain_norm=None)
    assert EBMGeneratorConfig().as_dict() == dict(
        lr=1e-3, generator_lr=1e-3, batch_size=128, refine_steps=10, step_size=1.0, noise_scale=0.01,
        temperature=1.0, l2_weight=0.1, entropy_weight=0.05, cooperative_weight=1.0, grad_clip=1.0, clamp=(0.0, 1.0))
    assert JEMConfig().as_dict() == dict(
        lr=1e-3, weight_decay=0.0, batch_size=64, generative_weight=1.0, warmup_steps=200, sgld_steps=20,
        sgld_step_size=1.0, sgld_noise=0.01, reinit_fraction=0.05, buffer_size=5000, l2_weight=0.1, grad_clip=10.0,
        max_energy=1e3, pixel_range=(0.0, 1.0), max_shift=1, precision="fp32", sampler="eager")
    assert ScoreMatchingConfig().as_dict() == dict(method="denoising", sigma=0.1, lr=3e-3, batch_size=256,
                                                   n_projections=1, projection="rademacher", grad_clip=1.0,
                                                   betas=(0.9, 0.999))


# one bad value of each kind a config has: out of bounds, NaN, inf, a bool as a number, a wrong choice, a bad pair
EACH_KIND = [
    (CDConfig, "lr", 0.0), (CDConfig, "l2_weight", math.nan), (CDConfig, "hinge_margin", math.inf),
    (CDConfig, "batch_size", True), (CDConfig, "loss", "mse"), (CDConfig, "precision", "fp16"),
    (CDConfig, "sampler", "graph"), (CDConfig, "clamp", (1.0, 0.0)), (CDConfig, "betas", (0.9, 1.0)),
    (CDConfig, "reinit_fraction", 1.5), (CDConfig, "grad_clip", 0.0), (CDConfig, "max_chain_norm", math.nan),
    (RBMConfig, "momentum", 1.0), (RBMConfig, "lr", math.nan), (RBMConfig, "temperature", math.inf),
    (RBMConfig, "k", True), (RBMConfig, "persistent", 1), (RBMConfig, "stats_every", -1),
    (LatentEBMConfig, "langevin_steps", -1), (LatentEBMConfig, "l2_weight", math.nan),
    (LatentEBMConfig, "step_size", math.inf), (LatentEBMConfig, "batch_size", True),
    (LatentEBMConfig, "reinit_fraction", -0.1),
    (EBMGeneratorConfig, "batch_size", 1), (EBMGeneratorConfig, "noise_scale", math.nan),
    (EBMGeneratorConfig, "temperature", math.inf), (EBMGeneratorConfig, "refine_steps", False),
    (EBMGeneratorConfig, "clamp", (1.0, 1.0)),
    (JEMConfig, "max_shift", -1), (JEMConfig, "sgld_noise", math.nan), (JEMConfig, "max_energy", math.inf),
    (JEMConfig, "sgld_steps", True), (JEMConfig, "sampler", "graph"), (JEMConfig, "pixel_range", (1.0, 0.0)),
    (ScoreMatchingConfig, "n_projections", 0), (ScoreMatchingConfig, "sigma", math.nan),
    (ScoreMatchingConfig, "lr", math.inf), (ScoreMatchingConfig, "batch_size", True),
    (ScoreMatchingConfig, "method", "cd"), (ScoreMatchingConfig, "projection", "sphere"),
    (ScoreMatchingConfig, "betas", (-0.1, 0.9)),
    (DualAveragingConfig, "target_accept", 1.0), (DualAveragingConfig, "gamma", math.nan),
    (DualAveragingConfig, "initial_step_size", math.inf), (DualAveragingConfig, "t0", True),
    (HMCConfig, "jitter", 1.0), (HMCConfig, "divergence_threshold", math.nan),
    (HMCConfig, "divergence_threshold", math.inf), (HMCConfig, "n_leapfrog", True),
    (LangevinConfig, "noise_scale", -1.0), (LangevinConfig, "noise_scale", math.nan),
    (LangevinConfig, "noise_scale", math.inf), (LangevinConfig, "noise_scale", True),
    (LangevinConfig, "clamp", (0.5, -0.5)),
]


@pytest.mark.parametrize("cls, name, value", EACH_KIND, ids=lambda v: getattr(v, "__name__", repr(v)))
def test_each_config_refuses_each_kind_of_bad_value(cls, name, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name}\b"):
        cls(**{name: value})
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name}\b"):
        cls().replace(**{name: value})
