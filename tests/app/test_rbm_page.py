"""The RBM page without a browser: in-process runner, real job, real Bokeh sources."""
import time

import pytest

from app.pages.rbm import RBMPage
from app.session import LabSession
from ebm_engine.runtime.jobs.rbm import RBMJob
from tests.app.page_helpers import pump, assert_page_bounds_match_knobs


@pytest.fixture
def rbm_page():
    session = LabSession(inline=True)
    view = RBMPage(session)
    session.runner.command(view.job_id, "reset", {"ais_every_s": 0.0, "ais_betas": 200, "ais_chains": 30})
    session.drain()
    yield view
    session.stop()


def test_images_curves_and_ais_readout(rbm_page):
    rbm_page.play_button.clicks += 1
    pump(rbm_page, 30)
    assert rbm_page.recon.source.data["image"][0].shape == (35, 71)
    assert rbm_page.filters.source.data["image"][0].shape == (71, 71)
    assert len(rbm_page.curves.source.data["step"]) == 30
    end = time.monotonic() + 60
    while rbm_page.readouts.values.get("test_ll", "–") == "–" and time.monotonic() < end:
        pump(rbm_page)
        time.sleep(0.02)
    assert rbm_page.readouts.values["test_ll"] != "–" and "±" in rbm_page.readouts.values["test_ll"]


def test_complete_button_and_knobs(rbm_page):
    rbm_page.half = "left"
    rbm_page.complete_button.clicks += 1
    rbm_page.step_button.clicks += 1
    pump(rbm_page)
    assert rbm_page.completion.source.data["image"][0].shape == (26, 71)
    assert rbm_page.last_snapshot["completion_half"] == "left"
    rbm_page.method = "cd"
    rbm_page.k = 5
    pump(rbm_page)
    assert rbm_page.last_snapshot["knobs"]["method"] == "cd" and rbm_page.last_snapshot["knobs"]["k"] == 5


def test_mnist_without_a_folder_shows_an_error_and_keeps_digits(rbm_page):
    rbm_page.dataset = "mnist"
    pump(rbm_page)
    assert rbm_page.alert.visible and "folder" in rbm_page.alert.object
    assert rbm_page.last_snapshot["config"]["dataset"] == "digits"


def test_page_bounds_match_the_engine_knobs():
    assert_page_bounds_match_knobs(RBMPage, RBMJob)
