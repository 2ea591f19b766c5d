"""A job whose step failed goes back to its trainers' last good weights (``restore_last_good``)."""
import pytest
import torch

from ebm_engine.runtime.jobs.energy_landscape import LandscapeJob
from ebm_engine.runtime.jobs.score_matching import ScoreMatchingJob
from ebm_engine.runtime.jobs.symmetry_latents import SymmetryLatentsJob

JOBS = {
    "landscape": (LandscapeJob, {"n_train": 500, "n_test": 100, "resolution": 16}),
    "score_matching": (ScoreMatchingJob, {"n_train": 500, "n_test": 100, "resolution": 16, "arrow_resolution": 5,
                                          "balance": "steps"}),
    "symmetry_latents": (SymmetryLatentsJob, {"n_train": 500, "n_test": 100, "resolution": 16,
                                              "latent_resolution": 8, "marginal_samples": 4}),
}


@pytest.mark.parametrize("name", sorted(JOBS))
def test_recover_restores_the_last_good_weights_of_every_trainer(name):
    cls, config = JOBS[name]
    job = cls(config, device="cpu")
    for _ in range(2):
        job.step()
    with torch.no_grad():
        for module in job.model_modules().values():
            for p in module.parameters():
                p.fill_(float("nan"))
    job.recover()
    now = job.model_state(training=False)
    assert all(torch.isfinite(v).all() for v in now.values())
    # the last good copy was taken when the trainers were built (the next at iteration 25)
    initial = cls(config, device="cpu").model_state(training=False)
    assert all(torch.equal(now[k], initial[k]) for k in initial)
