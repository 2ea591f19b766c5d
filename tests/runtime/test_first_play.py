"""The first Play of a fresh Images job continues from the shipped ConvEBM; "Start from scratch" undoes it."""
import numpy as np
import pytest
import torch

from ebm_engine.checkpoint_store import ASSETS_FOLDER
from ebm_engine.checkpoints import load_checkpoint
from ebm_engine.runtime.host import EngineHost
from ebm_engine.runtime.jobs.images_convebm import ConvEBMJob

ASSET = ASSETS_FOLDER / "conv_ebm-digits.pt"
# the shipped model's settings (width 32); a small buffer and a short settling keep the test quick
FAST = {"buffer_size": 300, "batch_size": 16, "quality_every_s": 1e9, "settle_chains": 16, "settle_steps": 3}
LANDSCAPE = {"n_train": 500, "n_test": 200, "resolution": 24}


@pytest.fixture(autouse=True)
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path / "checkpoints"))


def hosted(kind="images", config=None):
    host = EngineHost(max_rate_hz=1000.0)
    host.handle("open", "j", (kind, FAST if config is None else config, {}))
    return host, host.slots["j"].job


def shipped_weights():
    state, header = load_checkpoint(ASSET)
    return {k[len("energy."):]: v for k, v in state.items() if k.startswith("energy.")}, header


def same_weights(job, weights):
    return all(torch.equal(job.energy.state_dict()[k], v) for k, v in weights.items())


def test_the_first_play_of_a_fresh_page_continues_from_the_pretrained_model():
    weights, header = shipped_weights()
    host, job = hosted()
    host.handle("play", "j")
    assert host.slots["j"].state == "playing" and job.step_count == header["step"]
    assert same_weights(job, weights)
    expected = f"pretrained conv_ebm-digits (iteration {header['step']})"
    snap = job.snapshot()
    assert job.started_from == expected and snap["started_from"] == expected
    assert snap["checkpoint"]["started_from"] == expected
    assert snap["checkpoint"]["message"].startswith(f"Continuing from {expected}")
    assert "Start from scratch" in snap["checkpoint"]["message"]
    for _ in range(200):                          # the buffer settles, then training goes on from there
        host.tick()
        if job.step_count > header["step"]:
            break
    assert job.step_count == header["step"] + 1 and job.settling is None
    host.handle("pause", "j")
    host.handle("play", "j")                      # a later Play goes on: nothing is loaded again
    assert job.step_count == header["step"] + 1 and job.checkpoint_status["loads"] == 1


def test_a_loaded_convebm_settles_its_buffer_into_digits():
    job = ConvEBMJob({**FAST, "buffer_size": 1000, "settle_chains": 64, "settle_steps": 30})
    job.scorer_thread.join(60)
    noise = job.scorer.fid(job.trainer.buffer.store[:500].numpy().reshape(500, -1))
    job.before_play()
    assert job.settling is not None and "settling_step" in job.snapshot()
    while job.settling is not None:
        job.step(seconds=0.01)
    store = job.trainer.buffer.store
    assert torch.equal(store[:64], store[64:128])   # every slot holds one of the settled chains
    digits = job.scorer.fid(store[:500].numpy().reshape(500, -1))
    assert noise > 40 and digits < 25, (noise, digits)


def test_the_first_measurement_shows_the_buffer_score_before_the_chain_from_noise_ends():
    job = ConvEBMJob({**FAST, "quality_every_s": 0.0, "quality_samples": 50}, {"generate_steps": 30})
    job.scorer_thread.join(60)
    job.before_play()
    job.step()
    assert job.quality_run is not None and np.isfinite(job.snapshot()["fid"])
    assert "fid_other" not in job.snapshot() and job.snapshot()["quality_step"] == job.step_count - 1


@pytest.mark.parametrize("before", ["step", "other settings", "a load"])
def test_no_pretrained_start_unless_the_job_is_fresh_and_the_model_fits(before):
    host, job = hosted(config={**FAST, "width": 16} if before == "other settings" else FAST)
    if before == "step":
        host.handle("step", "j")
    elif before == "a load":
        job.act("save_checkpoint", checkpoint="mine")
        host.handle("reset", "j")
        job.act("load_checkpoint", checkpoint="mine")
    loads = job.checkpoint_status["loads"]
    host.handle("play", "j")
    assert job.started_from is None and job.snapshot()["started_from"] is None
    assert job.checkpoint_status["loads"] == loads and job.step_count <= 1


def test_start_from_scratch_resets_and_the_next_play_trains_a_new_model():
    weights, _ = shipped_weights()
    initial = ConvEBMJob(FAST).energy.state_dict()
    host, job = hosted()
    host.handle("play", "j")
    host.handle("pause", "j")
    host.handle("action", "j", ("start_from_scratch", {}))
    assert job.step_count == 0 and job.started_from is None and not same_weights(job, weights)
    assert same_weights(job, initial)             # the seeded initial weights of a new model
    assert job.checkpoint_status["message"].startswith("Started from scratch")
    host.handle("play", "j")
    assert job.step_count == 0 and job.checkpoint_status["loads"] == 1 and job.started_from is None


def test_the_page_reset_after_a_pretrained_start_also_trains_from_scratch():
    host, job = hosted()
    host.handle("play", "j")
    host.handle("reset", "j", dict(FAST))         # what the page's Reset button sends
    assert job.step_count == 0 and job.started_from is None and host.slots["j"].state == "paused"
    assert job.snapshot()["checkpoint"]["message"].startswith("Started from scratch")
    host.handle("play", "j")
    assert job.step_count == 0 and job.started_from is None


def test_pages_without_a_first_play_setting_train_from_scratch():
    host, job = hosted("landscape", LANDSCAPE)
    host.handle("play", "j")
    assert job.step_count == 0 and job.started_from is None and job.checkpoint_status["loads"] == 0
