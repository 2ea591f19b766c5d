"""The Score Matching page without a browser: an in-process runner, the real job, real Bokeh sources."""
import pytest

from app.pages.score_matching import ScoreMatchingPage
from tests.app.page_helpers import assert_page_bounds_match_knobs
from app.session import LabSession
from ebm_engine.runtime.jobs.score_matching import ScoreMatchingJob

SMALL = {"n_train": 2000, "n_test": 500, "resolution": 32, "arrow_resolution": 9, "readout_every_s": 0.0,
         "surface_every_s": 0.0, "nll_resolution": 80, "hidden": 64}


def pump(page, n=1):
    for _ in range(n):
        page.session.drain()


@pytest.fixture
def sm_page():
    session = LabSession(inline=True)
    p = ScoreMatchingPage(session)
    session.runner.command(p.job_id, "reset", SMALL)
    pump(p)
    return p


def test_first_snapshot_fills_fields_surfaces_and_readouts(sm_page):
    page = sm_page
    assert page.state == "paused" and page.step_count == 0
    assert page.learned.image.data["image"][0].shape == (32, 32)
    assert len(page.learned.arrows.data["x0"]) == 3 * 81      # shaft and two head strokes per arrow
    assert len(page.truth.arrows.data["x0"]) == 3 * 81
    assert len(page.learned.samples.data["x"]) == 300
    assert page.disagreement.image.data["image"][0].shape == (32, 32)
    assert page.contrastive.image.data["image"][0].shape == (32, 32)
    for key in ("fisher_sm", "fisher_cd", "nll_sm", "nll_cd", "nll_true"):
        assert page.readouts.values[key] != "–", key
    assert page.learned.figure.title.text.startswith("Denoising, σ = 0.1:")


def test_play_trains_both_models_and_streams_the_loss(sm_page):
    page = sm_page
    page.play_button.clicks += 1
    pump(page, 6)
    assert page.state == "playing" and page.step_count == 6
    assert len(page.curves.source.data["step"]) >= 1
    snap = page.last_snapshot
    assert snap["steps_sm"] + snap["steps_cd"] == 6
    page.pause_button.clicks += 1
    pump(page, 2)
    assert page.step_count == 6


def test_method_and_noise_level_act_without_a_restart(sm_page):
    page = sm_page
    page.play_button.clicks += 1
    pump(page, 3)
    page.method = "sliced"
    page.sigma = 0.3
    pump(page, 2)
    snap = page.last_snapshot
    assert snap["knobs"]["method"] == "sliced" and snap["knobs"]["sigma"] == 0.3
    assert page.step_count == 4   # kept counting (5 pumps, one of which only answered the knobs)
    assert page.learned.figure.title.text.startswith("Sliced, σ = 0.3:")


def test_noise_levels_reset_to_an_annealed_model(sm_page):
    page = sm_page
    page.noise_levels = 4
    pump(page)
    assert page.step_count == 0 and page.last_snapshot["config"]["noise_levels"] == 4
    assert len(page.last_snapshot["ladder"]) == 4
    assert "4 levels" in page.learned.figure.title.text


def test_a_set_without_a_closed_form_density_shows_data_only(sm_page):
    page = sm_page
    page.dataset = "moons"
    pump(page)
    assert page.truth.arrows.data["x0"] == []
    assert page.readouts.values["fisher_sm"] == "–"
    assert "data only" in page.truth.figure.title.text


def test_before_the_first_grids_the_fields_and_heatmaps_are_empty_frames_with_a_hint():
    session = LabSession(inline=True)
    page = ScoreMatchingPage(session, dataset="banana")     # a box far from the default square
    session.runner.command(page.job_id, "reset", SMALL)
    plots = (page.learned, page.truth, page.disagreement, page.contrastive)
    frames = [((p.figure.x_range.start, p.figure.x_range.end), (p.figure.y_range.start, p.figure.y_range.end))
              for p in plots]
    for plot in plots:
        assert plot.image.data["image"] == [] and plot.hint.visible and "press Play" in plot.hint.text
    assert page.learned.arrows.data["x0"] == []
    pump(page)
    bounds = tuple(tuple(b) for b in page.last_snapshot["bounds"])
    assert frames == [bounds] * 4
    for plot in plots:
        assert not plot.hint.visible and plot.image.data["image"][0].shape == (32, 32)


def test_a_set_without_a_closed_form_score_has_no_disagreement_map_and_no_hint():
    session = LabSession(inline=True)
    page = ScoreMatchingPage(session, dataset="moons")
    session.runner.command(page.job_id, "reset", SMALL)
    pump(page)
    assert page.disagreement.image.data["image"] == [] and not page.disagreement.hint.visible
    assert "no disagreement map" in page.disagreement.figure.title.text


def test_the_page_controls_are_the_jobs_declarations():
    assert_page_bounds_match_knobs(ScoreMatchingPage, ScoreMatchingJob)
