"""Pages whose model picks the job kind: a model change opens that kind, and a checkpoint of another
kind's model, loaded from the checkpoint panel, opens that kind first."""
import pytest

from app.pages.images import ImagesPage
from app.pages.jem import JEMPage
from app.session import LabSession
from tests.app.page_helpers import pump, wait_until

SMALL = {"buffer_size": 300, "batch_size": 16, "width": 8, "quality_every_s": 1e9}


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    session = LabSession(inline=True)
    yield session
    session.stop()


def shown(page) -> dict:
    return page.last_snapshot or {}


def job_of(page):
    return page.session.runner.host.slots[page.job_id].job


def test_a_model_change_opens_that_kind_with_the_pages_settings_and_knobs(session):
    page = ImagesPage(session, width=8, langevin_steps=3)
    pump(page)
    assert job_of(page).KIND == "images" and "model" not in page.settings()
    page.model = "ebm_generator"
    wait_until(page, lambda: shown(page).get("kind") == "images_generator")
    job = job_of(page)
    assert job.config["width"] == 8 and job.knobs["langevin_steps"] == 3 and page.state == "paused"
    page.width = 16                                  # another setting: the same kind starts over
    pump(page)
    assert job_of(page).KIND == "images_generator" and job_of(page).config["width"] == 16


def test_loading_a_checkpoint_of_the_other_model_switches_the_page_to_it(session):
    page = ImagesPage(session, model="ebm_generator", width=8)
    session.runner.command(page.job_id, "reset", SMALL)
    page.step_button.clicks += 1
    page.step_button.clicks += 1
    wait_until(page, lambda: shown(page).get("step") == 2)
    page.checkpoint_action("save_checkpoint", checkpoint="gen-two")
    page.model = "conv_ebm"
    wait_until(page, lambda: shown(page).get("kind") == "images"
               and "gen-two" in page.last_snapshot["checkpoint"]["option_models"])
    page.checkpoints.select.value = "gen-two"
    page.checkpoints.load_button.clicks += 1         # the panel's Load
    wait_until(page, lambda: shown(page).get("kind") == "images_generator" and page.step_count == 2)
    assert page.model == "ebm_generator" and page.last_snapshot["checkpoint"]["ok"]
    assert "Loaded gen-two" in page.last_snapshot["checkpoint"]["message"]


def test_the_jem_page_loads_a_jem_checkpoint_while_it_scores_the_images_conv_ebm(session):
    images, jem = ImagesPage(session, width=8), JEMPage(session)
    session.runner.command(images.job_id, "reset", SMALL)
    session.runner.command(jem.job_id, "reset", {"buffer_size": 100, "width": 8})
    pump(jem)
    jem.checkpoint_action("save_checkpoint", checkpoint="a-jem")
    images.step_button.clicks += 1
    wait_until(images, lambda: shown(images).get("step") == 1)
    jem.model = "images_conv_ebm"
    wait_until(jem, lambda: shown(jem).get("kind") == "jem_borrowed")
    jem.checkpoint_action("load_checkpoint", checkpoint="a-jem")
    wait_until(jem, lambda: shown(jem).get("kind") == "jem")
    assert jem.model == "jem" and jem.last_snapshot["checkpoint"]["ok"]
