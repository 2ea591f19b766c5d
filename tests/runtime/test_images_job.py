"""The Images jobs driven directly: both models, knobs, sample quality, generate-from-noise animation."""
import time

import numpy as np
import pytest
import torch

from ebm_engine.runtime.host import EngineHost
from ebm_engine.runtime.jobs.images_convebm import ConvEBMJob
from ebm_engine.runtime.jobs.images_generator import EBMGeneratorJob
from tests.devices import DEVICES, bitwise_reproducible

SMALL = {"buffer_size": 500, "batch_size": 32, "quality_every_s": 0.0, "quality_samples": 100,
         "generate_chains": 9, "width": 8}
JOBS = {"conv_ebm": ConvEBMJob, "ebm_generator": EBMGeneratorJob}


def ready(job):
    job.scorer_thread.join(60)
    assert job.scorer is not None, job.scorer_error
    return job


@pytest.mark.parametrize("model", ["conv_ebm", "ebm_generator"])
def test_snapshot_images_curves_and_quality(model):
    job = ready(JOBS[model](SMALL, knobs={"generate_steps": 5}))
    for _ in range(12):
        job.step()
    snap = job.snapshot()
    assert snap["samples"].shape == (6 * 8 + 5, 6 * 8 + 5)
    assert ("buffer" in snap) == (model == "conv_ebm") and ("proposals" in snap) == (model == "ebm_generator")
    history = snap["history"]
    assert len(history["step"]) == 12 and np.isfinite(history["e_data"]).all() and np.isfinite(history["loss"]).all()
    quality = snap["quality_history"]
    assert len(quality["step"]) >= 1 and np.isfinite(quality["fid"]).all() and (quality["inception_score"] >= 1).all()
    assert snap["fid"] > 0 and snap["classifier_accuracy"] > 0.9


def test_knobs_reach_the_trainers():
    job = ConvEBMJob(SMALL)
    job.set_knobs(lr=0.01, langevin_steps=5, step_size=2.0, noise_scale=0.05, reinit_fraction=0.2, temperature=0.5)
    cfg = job.trainer.config
    assert (cfg.lr, cfg.langevin_steps, cfg.step_size, cfg.noise_scale, cfg.reinit_fraction,
            cfg.sample_temperature) == (0.01, 5, 2.0, 0.05, 0.2, 0.5)
    job = EBMGeneratorJob(SMALL)
    job.set_knobs(langevin_steps=0, entropy_weight=0.5)
    assert (job.trainer.config.refine_steps, job.trainer.config.entropy_weight) == (0, 0.5)
    with pytest.raises(ValueError):
        job.set_knobs(noise_scale=-1.0)


def test_generate_animates_while_paused_in_the_host():
    host = EngineHost(max_rate_hz=1000.0)
    host.handle("open", "images", ("images", SMALL, {"generate_steps": 4}))
    host.tick()
    host.drain()
    host.handle("action", "images", ("generate", {}))
    frames = []
    for _ in range(200):
        wait = host.tick()
        frames += [snap["generation_step"] for _, snap in host.drain() if "generation_step" in snap]
        if frames and frames[-1] == 4:
            break
        time.sleep(min(wait, 0.01))   # as the engine's loop does: a tick sooner than the next frame does nothing
    assert frames[-1] == 4 and len(set(frames)) >= 3   # shown step by step, not only the end
    assert host.slots["images"].state == "paused" and host.slots["images"].job.step_count == 0


def test_missing_mnist_folder_and_unknown_model_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        ConvEBMJob({"dataset": "mnist"})
    with pytest.raises(ValueError, match="model"):
        ConvEBMJob({"model": "gan"})   # the job is the model: no setting chooses it


def test_mnist_format_folder_trains_on_28x28_images(tmp_path):
    from tests.data.test_idx import mnist_folder

    folder = mnist_folder(tmp_path / "mnist", n_train=40, n_test=20)
    job = ready(ConvEBMJob({**SMALL, "dataset": "mnist", "mnist_folder": str(folder), "quality_samples": 20},
                          knobs={"langevin_steps": 2}))
    assert job.energy.image_shape == (28, 28)
    for _ in range(3):
        job.step()
    snap = job.snapshot()
    assert snap["shape"] == (28, 28) and snap["samples"].shape == (6 * 28 + 5, 6 * 28 + 5)
    assert np.isfinite(snap["history"]["loss"]).all()


def test_same_seed_same_model_and_the_global_generator_is_untouched():
    import torch

    state = torch.get_rng_state()
    first, second = ConvEBMJob({**SMALL, "seed": 3}), ConvEBMJob({**SMALL, "seed": 3})
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first.energy.parameters(), second.energy.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("device", DEVICES)
def test_iterations_in_slices_train_the_same_model_and_show_the_chains_in_flight(device):
    config = {**SMALL, "quality_every_s": 1e9}
    whole, sliced = ConvEBMJob(config, device=device), ConvEBMJob(config, device=device)
    with bitwise_reproducible(device):
        for _ in range(3):
            whole.step()
    seen_in_flight = []
    while sliced.step_count < 3:
        with bitwise_reproducible(device):
            sliced.step(seconds=1e-9)   # one Langevin step per slice
        chains = sliced.trainer.in_flight
        if chains is not None:
            snap = sliced.snapshot()
            seen_in_flight.append(snap["chain_step"])
            assert np.array_equal(snap["samples"], sliced._mosaic(chains.x[:36]), equal_nan=True)
    assert seen_in_flight[:19] == list(range(1, 20))   # 20 Langevin steps: 19 snapshots in flight, then the update
    for a, b in zip(whole.energy.parameters(), sliced.energy.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(whole.trainer.buffer.store, sliced.trainer.buffer.store)
    assert sliced.snapshot()["chain_step"] is None


def test_a_checkpoint_saved_mid_iteration_finishes_the_iteration_first(tmp_path, monkeypatch):
    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path))
    job = ConvEBMJob({**SMALL, "quality_every_s": 1e9})
    job.step(seconds=1e-9)
    assert job.trainer.in_flight is not None and job.step_count == 0
    job.act("save_checkpoint", checkpoint="mid")
    assert job.checkpoint_status["ok"], job.checkpoint_status
    assert job.trainer.in_flight is None and job.step_count == 1


def test_the_step_button_runs_a_whole_iteration_while_play_runs_slices():
    host = EngineHost()
    host.handle("open", "img", ("images", {**SMALL, "quality_every_s": 1e9}, {}))
    host.slice_s = 1e-9
    host.handle("play", "img")
    host.tick()
    job = host.slots["img"].job
    assert job.step_count == 0 and job.trainer.in_flight.steps_done == 1
    host.handle("step", "img")
    assert job.step_count == 1 and job.trainer.in_flight is None


def test_the_buffer_view_shows_the_slots_the_iteration_in_flight_drew():
    job = ConvEBMJob({**SMALL, "quality_every_s": 1e9}, device="cpu")
    job.step()
    job.step(seconds=1e-9)                      # one Langevin step of the next iteration
    chains = job.trainer.in_flight
    assert chains is not None
    drawn = job.trainer.buffer.store[chains.idx[:36]]
    np.testing.assert_array_equal(job.snapshot()["buffer"], job._mosaic(drawn))
    first = job.snapshot()["buffer"]
    while job.trainer.in_flight is not None:    # the iteration ends; the next one draws other slots
        job.step(seconds=1e-9)
    job.step(seconds=1e-9)
    assert not np.array_equal(job.snapshot()["buffer"], first)


def test_the_curves_have_a_tail_to_what_the_iteration_in_flight_would_measure():
    """While an iteration's chains move, the snapshot carries, at the fraction of the iteration done,
    the energies and loss it would measure if the chains stopped now; its last slice ends where the
    iteration's point lands."""
    job = ConvEBMJob({**SMALL, "quality_every_s": 1e9}, {"langevin_steps": 4}, device="cpu")
    job.step()
    assert job.snapshot()["history_tail"] is None           # between iterations: no tail
    tails = []
    while True:
        job.step(seconds=1e-9)                              # one Langevin step per slice
        chains = job.trainer.in_flight
        if chains is None:
            break
        tail = job.snapshot()["history_tail"]
        tails.append(tail)
        with torch.no_grad():
            e_neg, e_pos = job.energy(chains.x), job.energy(job.trainer.positive)
        assert tail["e_samples"] == pytest.approx(float(e_neg.mean()), rel=1e-5, abs=1e-5)
        assert tail["e_data"] == pytest.approx(float(e_pos.mean()), rel=1e-5, abs=1e-5)
        assert tail["loss"] == pytest.approx(float(job.trainer.loss(e_pos, e_neg)), rel=1e-5, abs=1e-5)
    assert [t["step"] for t in tails] == [1.25, 1.5, 1.75]
    snap = job.snapshot()
    assert snap["history_tail"] is None and snap["history"]["step"][-1] == 2.0
