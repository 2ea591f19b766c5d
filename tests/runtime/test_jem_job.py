"""The JEM & OOD job driven directly: live scores, histograms, rates, metrics, samples, probe images."""
import time
import io

import numpy as np
import pytest
import torch
from PIL import Image

from ebm_engine.data.ood import OOD_SET_NAMES
from ebm_engine.runtime.jobs.jem import ClassifierJob, JEMJob
from ebm_engine.runtime.jobs.jem_borrowed import BorrowedEnergyJob
from tests.devices import DEVICES, bitwise_reproducible


@pytest.fixture(scope="module")
def job():
    j = JEMJob({"eval_every_s": 0.0, "buffer_size": 500}, {"sgld_steps": 5})
    for _ in range(3):
        j.step()
    yield j
    j.close()


def png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_snapshot_has_histograms_rates_and_metrics(job):
    snap = job.snapshot()
    assert snap["ood_sets"] == list(OOD_SET_NAMES)
    edges = snap["edges"]
    assert edges.shape == (41,) and np.all(np.diff(edges) > 0)
    width = np.diff(edges)
    assert (snap["hist_id"] * width).sum() == pytest.approx(1.0)            # densities
    for name in OOD_SET_NAMES:
        assert (snap["hist_sets"][name] * width).sum() == pytest.approx(1.0)
        for kind in ("energy", "softmax"):
            m = snap["metrics"][name][kind]
            assert 0 <= m["auroc"] <= 1 and 0 <= m["aupr"] <= 1 and 0 <= m["fpr95"] <= 1
    rates = snap["rates"]
    assert rates["id"][0] == 0.0 and rates["id"][-1] == 1.0 and np.all(np.diff(rates["id"]) >= 0)
    i95 = np.searchsorted(snap["thresholds"], snap["threshold95"])
    assert rates["id"][i95] >= 0.95
    assert snap["eval_history"]["test_accuracy"][-1] == snap["accuracy"]
    assert snap["samples"].shape == (10 * 9 - 1, 6 * 9 - 1)          # 10 classes × 6 chains
    assert snap["examples"].shape == (7 * 9 - 1, 8 * 9 - 1)
    assert np.isfinite(snap["history"]["e_neg"]).all()


def test_score_and_temperature_knobs_rescore_at_once(job):
    job.set_knobs(score="softmax")
    snap = job.snapshot()
    assert snap["score"] == "softmax" and -1.0 - 0.05 <= snap["edges"][0] and snap["edges"][-1] <= -0.1 + 0.05
    job.set_knobs(score="energy", temperature=10.0)
    hot = job.snapshot()
    job.set_knobs(temperature=1.0)
    cold = job.snapshot()
    # -T·logsumexp(f/T) ≤ -max f - ... : at T = 10 the energies lie far lower (≈ -T·log K)
    assert hot["edges"][-1] < cold["edges"][0]
    job.set_knobs(score="gradnorm")
    assert job.snapshot()["edges"][0] >= -0.1
    job.set_knobs(score="energy")


def test_sample_class_knob(job):
    job.set_knobs(sample_class="3")
    job.step()
    snap = job.snapshot()
    assert snap["samples"].shape == (6 * 9 - 1, 6 * 9 - 1) and (job.sample_energy.labels == 3).all()
    job.set_knobs(sample_class="all")


def test_probe_images_and_their_errors(job):
    img = np.zeros((16, 16), np.uint8)
    img[3:13, 7:9] = 255
    job.act("probe_png", data=png_bytes(img), filename="one.png")
    probe = job.snapshot()["probe"]
    assert probe["source"] == "one.png" and np.isfinite(probe["score"]) and 0 <= probe["prediction"] <= 9
    assert probe["image"].shape == (8, 8)
    job.act("probe_png", data=png_bytes(np.zeros((10, 12), np.uint8)))
    snap = job.snapshot()
    assert snap["probe"] is None and "square" in snap["probe_error"]
    job.act("probe_strokes", xs=[[0.5, 0.5]], ys=[[0.2, 0.8]])
    snap = job.snapshot()
    assert snap["probe_error"] is None and snap["probe"]["source"] == "drawing"
    job.act("clear_probe")
    assert job.snapshot()["probe"] is None


def test_user_ood_set(job, tmp_path):
    np.save(tmp_path / "mine.npy", np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8))
    job.act("load_ood_set", path=str(tmp_path / "mine.npy"))
    snap = job.snapshot()
    assert "user" in snap["ood_sets"] and "user" in snap["metrics"] and snap["user_set"].endswith("mine.npy")
    with pytest.raises(FileNotFoundError):
        job.act("load_ood_set", path=str(tmp_path / "missing.npy"))


def test_plain_classifier_has_no_sgld_samples():
    j = ClassifierJob({"eval_every_s": 100.0, "buffer_size": 100})
    j.step()
    snap = j.snapshot()
    assert np.isnan(snap["history"]["e_neg"]).all() and snap["model"] == "classifier"
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['model'\]"):   # the job is the model
        j.reset({"model": "convebm"})


def test_scores_with_the_images_pages_conv_ebm():
    """The third model: a frozen copy of the Images page's ConvEBM, scored by its energy E(x)."""
    import torch

    from ebm_engine.runtime.jobs.images_convebm import ConvEBMJob

    images = ConvEBMJob({"quality_every_s": 1e9, "buffer_size": 256, "batch_size": 32}, {"langevin_steps": 2})
    peers = {"images": images}
    with pytest.raises(ValueError, match="open the Images page and train"):
        BorrowedEnergyJob(peers=lambda: peers)
    for _ in range(3):
        images.step()
    job = BorrowedEnergyJob({"eval_every_s": 0.0}, {"score": "energy"}, peers=lambda: peers)
    job.step()
    snap = job.snapshot()
    with torch.no_grad():
        direct = images.energy(job.test.reshape(-1, 1, 8, 8)).double().cpu().numpy()
    lo, hi = snap["edges"][0], snap["edges"][-1]
    assert lo <= direct.min() and direct.max() <= hi
    counts = np.histogram(direct, bins=snap["edges"], density=True)[0]
    np.testing.assert_allclose(snap["hist_id"], counts, rtol=1e-6, atol=1e-9)
    assert np.isnan(snap["accuracy"]) and snap["borrowed_step"] == 3 and "ConvEBM" in snap["score_label"]
    for name in snap["ood_sets"]:
        assert 0 <= snap["metrics"][name]["energy"]["auroc"] <= 1
        assert np.isnan(snap["metrics"][name]["softmax"]["auroc"])
    assert snap["samples"].shape == (10 * 9 - 1, 6 * 9 - 1)
    job.set_knobs(score="gradnorm")
    assert np.isfinite(job.snapshot()["hist_id"]).all()
    # a copy: training on the Images page goes on without changing this page's scores until Reset
    before = snap["hist_id"].copy()
    images.step()
    job.set_knobs(score="energy")
    np.testing.assert_allclose(job.snapshot()["hist_id"], before, rtol=1e-6)
    job.reset()
    assert job.snapshot()["borrowed_step"] == 4
    job.act("save_checkpoint", checkpoint="borrowed")       # not this page's model to save
    assert not job.snapshot()["checkpoint"]["ok"] and "Images page" in job.snapshot()["checkpoint"]["message"]
    images.close()
    job.close()


@pytest.mark.parametrize("device", DEVICES)
def test_iterations_in_slices_train_the_same_model_while_the_samples_keep_moving(device):
    config, knobs = {"eval_every_s": 1e9, "buffer_size": 500}, {"sgld_steps": 5}
    whole, sliced = JEMJob(config, knobs, device=device), JEMJob(config, knobs, device=device)
    with bitwise_reproducible(device):
        for _ in range(3):
            whole.step()
    moves = 0
    while sliced.step_count < 3:
        before = sliced.samples.clone()
        with bitwise_reproducible(device):
            sliced.step(seconds=1e-9)   # one SGLD step of the negatives per slice
        if sliced.trainer.in_flight is not None:
            moves += int(not torch.equal(before, sliced.samples))
    assert moves == 3 * 4   # 5 SGLD steps per iteration: 4 slices in flight, each moving the samples
    for a, b in zip(whole.model.parameters(), sliced.model.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(whole.trainer.buffer.store, sliced.trainer.buffer.store)
    assert torch.equal(whole.generator.get_state(), sliced.generator.get_state())
    sliced.step(seconds=1e-9)
    sliced.settle()   # a checkpoint save finishes the iteration in flight
    assert sliced.step_count == 4 and sliced.trainer.in_flight is None


def test_a_new_temperature_is_scored_from_kept_logits_exactly():
    """Paused, the logits of the test and OOD sets are kept; a temperature change scores them again
    without a forward pass, and gives what a fresh evaluation gives."""
    job_a = JEMJob({"buffer_size": 500, "eval_every_s": 60.0}, device="cpu")
    job_a.set_knobs(temperature=2.0)
    kept = {name: entry[1] for name, entry in job_a.kept_outputs.items()}
    job_a.set_knobs(temperature=3.0)
    assert all(job_a.kept_outputs[name][1] is kept[name] for name in kept)   # no new forward pass
    job_b = JEMJob({"buffer_size": 500, "eval_every_s": 60.0}, device="cpu", knobs={"temperature": 3.0})
    a, b = job_a.evaluation, job_b.evaluation
    np.testing.assert_array_equal(a["hist_id"], b["hist_id"])
    for name in a["hist_sets"]:
        np.testing.assert_array_equal(a["hist_sets"][name], b["hist_sets"][name])
        assert a["metrics"][name] == b["metrics"][name]
    job_a.step()                                   # new weights; a knob's answer rescores the evaluation
    job_a.set_knobs(temperature=2.0)               # on the page, from its kept logits
    assert all(job_a.kept_outputs[name][1] is kept[name] for name in kept)
    assert job_a.evaluation["eval_step"] == 0 and job_a.evaluation["temperature"] == 2.0
    assert list(job_a.eval_history["step"]) == [0.0]   # a rescoring is not a new evaluation
    job_a.config["eval_every_s"] = 0.0
    job_a.snapshot()                               # the next evaluation: the new weights' logits
    assert all(job_a.kept_outputs[name][1] is not kept[name] for name in kept)
    assert job_a.evaluation["eval_step"] == 1 and list(job_a.eval_history["step"]) == [0.0, 1.0]


def test_the_metrics_table_waits_for_a_moving_temperature_knob():
    """While the temperature slider moves, its answer carries the new histograms and the last metrics;
    once it rests, the metrics at the new temperature follow."""
    from ebm_engine.runtime.host import EngineHost

    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "j", ("jem", {"buffer_size": 500, "eval_every_s": 60.0}, {}))
    host.tick()
    first = dict(host.drain())["j"]
    host.handle("knobs", "j", {"temperature": 5.0})
    host.tick()
    answer = dict(host.drain())["j"]
    assert answer["temperature"] == 5.0 and not np.array_equal(answer["edges"], first["edges"])
    assert answer["metrics"] == first["metrics"]
    time.sleep(host.settle_s + 0.02)
    host.tick()
    rested = dict(host.drain())["j"]
    assert rested["temperature"] == 5.0 and rested["metrics"] != first["metrics"]
    fresh = JEMJob({"buffer_size": 500, "eval_every_s": 60.0}, device=str(host.slots["j"].job.device),
                   knobs={"temperature": 5.0})
    assert rested["metrics"] == fresh.evaluation["metrics"]


def test_a_metrics_table_interrupted_by_a_waiting_command_stays_due():
    job = JEMJob({"buffer_size": 500, "eval_every_s": 60.0}, device="cpu")
    before = job.evaluation["metrics"]
    job.knobs_moving = True                       # as the host marks a moving knob
    job.set_knobs(temperature=5.0)
    job.knobs_moving = False                      # at rest, but another command waits
    job.command_waiting = lambda: True
    snap = job.snapshot()
    assert job.metrics_due and snap["metrics"] == before
    job.command_waiting = lambda: False
    assert job.snapshot()["metrics"] != before and not job.metrics_due


def test_between_evaluations_the_histograms_follow_training_slice_by_slice():
    """Each snapshot after a training step rescores a slice of every set with the new weights: the
    histograms move at the frame rate, the metrics table and the accuracy curve wait for an evaluation."""
    job = JEMJob({"eval_every_s": 1e9, "buffer_size": 500, "rescore_slices": 4}, {"sgld_steps": 2}, device="cpu")
    first = job.snapshot()
    shown = [first["hist_id"]]
    for _ in range(3):
        job.step()
        snap = job.snapshot()
        shown.append(snap["hist_id"])
        assert snap["metrics"] == first["metrics"] and snap["eval_step"] == first["eval_step"]
        assert len(snap["eval_history"]["step"]) == len(first["eval_history"]["step"])
        assert snap["rolling_accuracy"]["step"] == job.step_count and snap["rolling_accuracy"]["test_accuracy"] == snap["accuracy"]
    assert all(not np.array_equal(a, b) for a, b in zip(shown, shown[1:]))


def test_rescored_slices_add_up_to_a_full_evaluation():
    """Once every slice has been rescored with the same weights, the histograms, rates and accuracy are
    those a full evaluation of these weights gives."""
    config = {"eval_every_s": 1e9, "buffer_size": 500, "rescore_slices": 3}
    job = JEMJob(config, {"sgld_steps": 2}, device="cpu")
    job.step()
    for _ in range(3):                       # the three slices, one per snapshot, then nothing is stale
        job.snapshot()
    assert job._stale_slice() is None
    rolled = job.snapshot()
    job.evaluate()
    full = job.snapshot()
    for key in ("edges", "hist_id", "thresholds"):
        np.testing.assert_array_equal(rolled[key], full[key])
    for name in rolled["hist_sets"]:
        np.testing.assert_array_equal(rolled["hist_sets"][name], full["hist_sets"][name])
    assert rolled["accuracy"] == full["accuracy"]
    # the accuracy curve's tail is the rescored accuracy at the step it was rescored; an evaluation ends it
    assert rolled["rolling_accuracy"] == {"step": 1.0, "test_accuracy": full["accuracy"]}
    assert full["rolling_accuracy"] is None and full["eval_history"]["test_accuracy"][-1] == full["accuracy"]


def test_the_gradient_norm_score_keeps_to_the_evaluations():
    job = JEMJob({"eval_every_s": 1e9, "buffer_size": 500}, {"sgld_steps": 2, "score": "gradnorm"}, device="cpu")
    before = job.snapshot()["hist_id"]
    job.step()
    np.testing.assert_array_equal(job.snapshot()["hist_id"], before)


def test_the_training_curves_have_a_tail_to_the_sgld_chains_in_flight():
    job = JEMJob({"eval_every_s": 1e9, "buffer_size": 500}, {"sgld_steps": 4}, device="cpu")
    job.step()
    assert job.snapshot()["history_tail"] is None
    fractions = []
    while True:
        job.step(seconds=1e-9)   # one SGLD step per slice
        if job.trainer.in_flight is None:
            break
        chains = job.trainer.in_flight[1]
        tail = job.snapshot()["history_tail"]
        fractions.append(tail["step"])
        job.model.eval()
        with torch.no_grad():
            assert tail["e_neg"] == pytest.approx(float(job.model.energy(chains.x).mean()), rel=1e-5, abs=1e-5)
    assert fractions == [1.25, 1.5, 1.75] and job.snapshot()["history_tail"] is None


def test_a_paused_page_settles_at_once_on_a_full_evaluation():
    """Between evaluations the histograms are rescored a slice at a time; on a pause the next
    snapshot is a full evaluation of the weights training stopped at, so the paused page does not
    keep changing afterwards."""
    import time

    from ebm_engine.runtime.host import EngineHost

    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "j", ("jem", {"eval_every_s": 1e9, "buffer_size": 500}, {"sgld_steps": 2}))
    host.handle("play", "j")
    job = host.slots["j"].job
    deadline = time.monotonic() + 30
    while job.step_count < 3 and time.monotonic() < deadline:
        host.tick()
        host.drain()
    host.handle("pause", "j")
    host.tick()
    paused = dict(host.drain())["j"]
    assert paused["eval_step"] == job.step_count >= 3 and paused["eval_history"]["step"][-1] == job.step_count
    assert paused["rolling_accuracy"] is None and job._stale_slice() is None


def test_an_evaluation_gives_way_to_a_waiting_command_between_its_steps():
    job = JEMJob({"eval_every_s": 1e9, "buffer_size": 100}, {"sgld_steps": 2}, device="cpu")
    job.step()
    shown = job.evaluation
    asked = []

    def waiting() -> bool:   # a command arrives after the readout's fourth step
        asked.append(1)
        return len(asked) > 4

    job.command_waiting = waiting
    assert not job.readout(job.evaluation_steps())         # dropped: the page keeps the last evaluation
    assert job.evaluation is shown and len(asked) == 5 and job.waited_for_knobs
    job.command_waiting = None
    assert job.readout(job.evaluation_steps())
    assert job.evaluation is not shown and job.evaluation["eval_step"] == 1
