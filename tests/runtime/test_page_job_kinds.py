"""The Images and JEM & OOD pages' job kinds, each on its own: build, step, snapshot, a checkpoint round trip,
and the checkpoints of the page's other kinds listed but loaded only by the kind that trains them."""
import numpy as np
import pytest
import torch

from ebm_engine.runtime.host import EngineHost
from ebm_engine.runtime.jobs.images_convebm import ConvEBMJob
from ebm_engine.runtime.jobs.images_generator import EBMGeneratorJob
from ebm_engine.runtime.jobs.jem import ClassifierJob, JEMJob
from ebm_engine.runtime.jobs.jem_borrowed import BorrowedEnergyJob
from ebm_engine.runtime.registry import job_class

IMAGES = {"buffer_size": 200, "batch_size": 16, "width": 8, "quality_every_s": 1e9, "generate_chains": 4,
          "settle_chains": 8, "settle_steps": 2}
JEM = {"buffer_size": 100, "batch_size": 16, "width": 8, "eval_every_s": 1e9}
TRAINED = {ConvEBMJob: IMAGES, EBMGeneratorJob: IMAGES, JEMJob: JEM, ClassifierJob: JEM}


@pytest.fixture(autouse=True)
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    return tmp_path / "checkpoints"


def weights(job):
    return job.model_state(training=False)


@pytest.mark.parametrize("cls", list(TRAINED), ids=lambda c: c.__name__)
def test_each_trained_kind_builds_steps_snapshots_and_round_trips_a_checkpoint(cls):
    job = cls(TRAINED[cls], {"langevin_steps": 2} if cls in (ConvEBMJob, EBMGeneratorJob) else {"sgld_steps": 2},
              device="cpu")
    assert job_class(cls.KIND) is cls
    for _ in range(2):
        job.step()
    snap = job.snapshot()
    assert snap["kind"] == cls.KIND and snap["step"] == 2 and np.isfinite(snap["samples"]).any()
    assert snap["checkpoint"]["model"] == job.model_name() in cls.CHECKPOINT_MODELS
    job.act("save_checkpoint", checkpoint="mine")
    assert job.checkpoint_status["ok"], job.checkpoint_status
    other = cls(TRAINED[cls], device="cpu")
    assert not all(torch.equal(v, weights(other)[k]) for k, v in weights(job).items())
    other.act("load_checkpoint", checkpoint="mine")
    assert other.checkpoint_status["ok"], other.checkpoint_status
    assert other.step_count == 2 and all(torch.equal(v, weights(other)[k]) for k, v in weights(job).items())
    other.step()
    assert other.step_count == 3
    job.close()
    other.close()


def test_the_images_kinds_list_each_others_checkpoints_and_load_only_their_own(folder):
    generator = EBMGeneratorJob(IMAGES, {"langevin_steps": 2}, device="cpu")
    generator.step()
    generator.act("save_checkpoint", checkpoint="with-generator")
    conv = ConvEBMJob(IMAGES, device="cpu")
    info = conv.snapshot()["checkpoint"]
    assert info["option_models"]["with-generator"] == "ebm_generator"   # the page opens that kind to load it
    assert "with-generator" in [reference for _, reference in info["options"]]
    before = weights(conv)
    conv.act("load_checkpoint", checkpoint="with-generator")
    assert not conv.checkpoint_status["ok"] and "not a 'ebm_generator' model" in conv.checkpoint_status["message"]
    assert all(torch.equal(v, weights(conv)[k]) for k, v in before.items()) and conv.step_count == 0
    assert [c.model for c in conv._listing() if c.pretrained] and conv.snapshot()["checkpoint"]["has_pretrained"]
    assert not generator.snapshot()["checkpoint"]["has_pretrained"]   # no shipped EBM + generator
    generator.act("load_pretrained")
    assert not generator.checkpoint_status["ok"] and generator.step_count == 1
    generator.close()
    conv.close()


def test_the_first_play_of_each_images_kind_continues_only_its_own_pretrained_model():
    host = EngineHost(max_rate_hz=1000.0)
    host.handle("open", "images", ("images_generator", IMAGES, {"langevin_steps": 2}))
    host.handle("play", "images")
    assert host.slots["images"].job.started_from is None
    host.handle("open", "images", ("images", {**IMAGES, "width": 32}, {}))    # the shipped ConvEBM's width
    host.handle("play", "images")
    job = host.slots["images"].job
    assert isinstance(job, ConvEBMJob) and job.started_from and job.step_count > 0
    host.close_all()


def test_the_borrowed_energy_kind_scores_steps_and_saves_nothing(folder):
    images = ConvEBMJob(IMAGES, {"langevin_steps": 2}, device="cpu")
    images.step()
    job = BorrowedEnergyJob({"eval_every_s": 1e9}, peers=lambda: {"images": images}, device="cpu")
    job.step()
    snap = job.snapshot()
    assert snap["kind"] == "jem_borrowed" and snap["model"] == "images_conv_ebm" and snap["borrowed_step"] == 1
    assert np.isnan(snap["accuracy"]) and snap["rolling_accuracy"] is None
    job.act("save_checkpoint", checkpoint="borrowed")
    assert not job.checkpoint_status["ok"] and not (folder / "borrowed.pt").exists()
    trained = JEMJob(JEM, device="cpu")
    trained.act("save_checkpoint", checkpoint="a-jem")
    job.act("list_checkpoints")
    info = job.snapshot()["checkpoint"]
    assert info["option_models"]["a-jem"] == "jem" and not info["has_pretrained"]
    job.act("load_checkpoint", checkpoint="a-jem")
    assert not job.checkpoint_status["ok"] and "no model of its own" in job.checkpoint_status["message"]
    for closing in (images, job, trained):
        closing.close()


def test_a_kind_that_cannot_open_in_place_of_a_job_leaves_it_with_a_notice():
    host = EngineHost(max_rate_hz=1000.0)
    host.handle("open", "jem", ("jem", JEM, {}))
    before = host.slots["jem"].job
    host.handle("open", "jem", ("jem_borrowed", {}, {}))       # no Images page to borrow from
    assert host.slots["jem"].job is before and "train a model there first" in host.slots["jem"].notice
    assert not errors_sent(host, "jem")
    host.handle("close", "jem")
    host.handle("open", "jem", ("jem_borrowed", {}, {}))       # nothing to stay: the page shows the error
    assert "jem" not in host.slots and any("train a model there first" in e for e in errors_sent(host, "jem"))


def errors_sent(host: EngineHost, job_id: str) -> list[str]:
    """The error texts of the status events the host has queued for ``job_id``."""
    return [message["status"]["error"] for target, message in host.outbox
            if target == job_id and message.get("status", {}).get("state") == "error"]
