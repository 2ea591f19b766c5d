"""The RBM job driven directly: training, images, clamp-and-complete, AIS in the background."""
import time

import numpy as np
import pytest
import torch

from ebm_engine.runtime.jobs.rbm import RBMJob, half_mask
from ebm_engine.runtime.mosaic import tile


@pytest.fixture
def job():
    j = RBMJob({"ais_every_s": 0.0, "ais_betas": 300, "ais_chains": 50})
    yield j
    j.close()


def wait_for_ais(job, seconds=60.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job.step()
        if "test_ll" in job.ais and job.ais.get("ais_step", 0) >= 1:
            return job.snapshot()
        time.sleep(0.05)
    raise AssertionError("AIS never reported")


def test_images_have_the_right_mosaic_shapes(job):
    job.step()
    snap = job.snapshot()
    assert snap["reconstructions"].shape == (4 * 8 + 3, 8 * 8 + 7)      # 16 digit/recon pairs, 8 tiles a row
    assert snap["filters"].shape == (8 * 8 + 7, 8 * 8 + 7)               # 64 filters
    assert np.nanmin(snap["filters"]) >= 0 and np.nanmax(snap["filters"]) <= 1


def test_training_lowers_reconstruction_error_and_ais_reports(job):
    for _ in range(400):
        job.step()
    errors = job.snapshot()["history"]["recon_error"]
    assert errors[-20:].mean() < 0.7 * errors[:5].mean()
    snap = wait_for_ais(job)
    assert -40 < snap["test_ll"] < -10 and 0 <= snap["log_z_std"] < 1.0
    assert snap["ais_error"] is None


def test_clamp_and_complete_keeps_the_visible_half(job):
    for _ in range(50):
        job.step()
    job.act("complete", half="top", n=4)
    for _ in range(10):
        job.step()
    c = job.completion
    kept = c["mask"]
    assert torch.equal(c["state"][:, kept], c["original"][:, kept])
    assert job.snapshot()["completion"].shape == (3 * 8 + 2, 4 * 8 + 3)
    with pytest.raises(ValueError):
        job.act("complete", half="middle")


def test_knobs_reach_the_trainer(job):
    job.set_knobs(lr=0.01, k=3, method="cd", momentum=0.0)
    cfg = job.trainer.config
    assert (cfg.lr, cfg.k, cfg.persistent, cfg.momentum) == (0.01, 3, False, 0.0)


def test_missing_mnist_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        RBMJob({"dataset": "mnist"})
    with pytest.raises(Exception, match="train-images"):
        RBMJob({"dataset": "mnist", "mnist_folder": str(tmp_path)})


def test_half_masks_and_tiles():
    keep = half_mask((8, 8), "bottom").reshape(8, 8)
    assert keep[:4].all() and not keep[4:].any()
    mosaic = tile(np.arange(2 * 4).reshape(2, 2, 2), cols=2, bottom_up=False)
    assert mosaic.shape == (2, 5) and np.isnan(mosaic[0, 2]) and mosaic[0, 0] == 0 and mosaic[1, 4] == 7
