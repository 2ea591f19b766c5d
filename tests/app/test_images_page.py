"""The Images page without a browser: in-process runner, real job, real Bokeh sources."""

import pytest

from app.pages.images import ImagesPage
from app.session import LabSession
from ebm_engine.runtime.registry import job_class
from tests.app.page_helpers import pump, wait_until, assert_page_bounds_match_knobs

SMALL = {"buffer_size": 500, "batch_size": 32, "quality_every_s": 0.0, "quality_samples": 100, "width": 8}


@pytest.fixture
def images_page():
    session = LabSession(inline=True)
    view = ImagesPage(session)
    view.view  # build the layout, as the shell does
    session.runner.command(view.job_id, "reset", SMALL)
    session.drain()
    yield view
    session.stop()


def test_grids_curves_quality_and_png_export(images_page):
    page = images_page
    page.play_button.clicks += 1
    wait_until(page, lambda: page.readouts.values.get("fid_other", "–") != "–")   # a whole measurement
    pump(page, 5)
    assert page.samples.source.data["image"][0].shape == (53, 53)
    assert page.buffer.source.data["image"][0].shape == (53, 53) and page.buffer.figure.visible and not page.proposals.figure.visible
    assert len(page.energy_curves.source.data["step"]) >= 5 and len(page.fid_curves.source.data["step"]) >= 1
    png = page.samples_png().getvalue()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 100
    assert "replay buffer" in page.quality_note.object
    assert [item.label.value for item in page.fid_curves.figure.legend.items] == ["replay buffer", "short-run from noise"]


def test_generator_model_shows_proposals_beside_refinements(images_page):
    page = images_page
    page.model = "ebm_generator"
    page.step_button.clicks += 1
    wait_until(page, lambda: page.last_snapshot.get("model") == "ebm_generator" and page.last_snapshot["step"] == 1)
    assert page.proposals.figure.visible and not page.buffer.figure.visible
    assert page.proposals.source.data["image"][0].shape == (53, 53)
    assert [item.label.value for item in page.is_curves.figure.legend.items] == ["refined proposals", "raw proposals"]


def test_generate_from_noise_animates_and_knobs_apply(images_page):
    page = images_page
    page.generate_steps = 5
    page.step_size = 3.0
    page.generate_button.clicks += 1
    wait_until(page, lambda: page.last_snapshot.get("generation_step") == 5)
    assert page.generation.source.data["image"][0].shape == (53, 53)
    assert page.last_snapshot["knobs"]["step_size"] == 3.0 and page.readouts.values["generation_step"] == "5"


def test_mnist_without_a_folder_shows_an_error_and_keeps_digits(images_page):
    images_page.dataset = "mnist"
    pump(images_page)
    assert images_page.alert.visible and "folder" in images_page.alert.object
    assert images_page.last_snapshot["config"]["dataset"] == "digits"


def test_page_bounds_match_the_engine_knobs():
    assert set(ImagesPage.KINDS) == set(ImagesPage.param.model.objects)   # each model opens a job kind
    for kind in ImagesPage.KINDS.values():
        assert_page_bounds_match_knobs(ImagesPage, job_class(kind))
        assert set(ImagesPage.setting_names()) - {ImagesPage.KIND_SETTING} <= set(job_class(kind).CONFIG)
