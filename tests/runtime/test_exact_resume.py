"""Every catalog model resumes exactly: train N+M == train N, save, load the file, train M.

The checkpoint carries what training needs beyond the weights (optimiser moments, replay buffers
and persistent chains, the position in an epoch, random generators), so the resumed run follows
the uninterrupted one step for step: every tensor of the final state must be bitwise equal.
"""
import pytest
import torch

from ebm_engine import catalog
from ebm_engine.checkpoints import save_checkpoint

TOY = {"n_train": 400, "n_test": 100}
TINY = {
    "mlp_ebm": {**TOY, "hidden": 16, "batch_size": 32},
    "score_ebm": {**TOY, "hidden": 16},
    "rbm": {"n_hidden": 16, "batch_size": 500, "n_fantasy": 8, "pl_every": 2},   # an epoch ends within the run
    "conv_ebm": {"width": 4, "batch_size": 8, "buffer_size": 32},
    "ebm_generator": {"width": 4, "batch_size": 8},
    "jem": {"width": 4, "batch_size": 8, "buffer_size": 32},
    "equivariant_ebm": {**TOY, "hidden": 16, "batch_size": 32, "nll_resolution": 16},
    "latent_ebm": {**TOY, "hidden": 16, "batch_size": 32, "nll_resolution": 16},
    "symmetry_latent_ebms": {**TOY, "hidden": 16, "batch_size": 32, "nll_resolution": 16},
}
FIRST, THEN = 3, 3


def build(name):
    return catalog.build_job(name, seed=1, settings=TINY[name])


def test_every_catalog_model_is_covered():
    assert set(TINY) == set(catalog.MODELS)


@pytest.mark.parametrize("name", list(TINY))
def test_training_resumed_from_a_checkpoint_equals_uninterrupted_training(name, tmp_path):
    straight = build(name)
    catalog.train(straight, FIRST)
    path = save_checkpoint(tmp_path / f"{name}.pt", straight.model_state(), straight.checkpoint_header())
    catalog.train(straight, THEN)                       # the run goes on as if nothing was saved

    resumed = catalog.job_from_checkpoint(path, expected_model=name)
    assert resumed.step_count == FIRST and resumed.restored_training_state
    catalog.train(resumed, THEN)

    expected, got = straight.model_state(), resumed.model_state()
    assert resumed.step_count == straight.step_count == FIRST + THEN
    assert expected.keys() == got.keys()
    different = [key for key in expected if not torch.equal(expected[key], got[key])]
    assert not different, f"{name}: {different}"
    for job in (straight, resumed):
        job.close()
