"""The Energy Landscape page without a browser: an in-process runner, real jobs, real Bokeh sources."""
import pytest

from app.plots.framed import WAITING_HINT
from app.pages.energy_landscape import EnergyLandscapePage
from app.session import LabSession
from ebm_engine.runtime.jobs.energy_landscape import LandscapeJob
from tests.app.page_helpers import pump, wait_until

SMALL = {"n_train": 2000, "n_test": 500, "resolution": 48}


@pytest.fixture
def landscape():
    session = LabSession(inline=True)
    statuses = []
    p = EnergyLandscapePage(session, on_status=statuses.append)
    session.runner.command(p.job_id, "reset", SMALL)   # smaller data for speed
    p.statuses = statuses
    session.drain()
    return p


def test_first_snapshot_fills_plots_and_readouts(landscape):
    page = landscape
    assert page.state == "paused" and page.step_count == 0
    image = page.surface.image.data["image"][0]
    assert image.shape == (48, 48)
    assert len(page.surface.points.data["x"]) > 100
    assert page.readouts.values["log_z_grid"] != "–"
    assert page.statuses and page.statuses[-1] is page
    assert page.surface.figure.title.text.startswith("Density")


def axes_of(figure) -> tuple:
    return (figure.x_range.start, figure.x_range.end), (figure.y_range.start, figure.y_range.end)


def test_before_the_first_grid_the_surface_is_an_empty_frame_with_a_hint():
    session = LabSession(inline=True)
    page = EnergyLandscapePage(session, dataset="checkerboard")
    session.runner.command(page.job_id, "reset", SMALL)
    surface = page.surface
    assert surface.image.data["image"] == []            # no placeholder square
    assert surface.hint.visible and surface.hint.text == WAITING_HINT
    frame = axes_of(surface.figure)
    assert (surface.hint.x, surface.hint.y) == (sum(frame[0]) / 2, sum(frame[1]) / 2)
    pump(page)
    assert page.last_snapshot["config"]["dataset"] == "checkerboard"
    assert frame == tuple(tuple(b) for b in page.last_snapshot["bounds"])   # the grid came on the same axes
    assert not surface.hint.visible and surface.image.data["image"][0].shape == (48, 48)


def test_play_trains_and_streams_curves(landscape):
    page = landscape
    page.play_button.clicks += 1
    pump(page, 5)
    assert page.state == "playing" and page.step_count == 5
    assert len(page.curves.source.data["step"]) == 5
    assert len(page.surface.chains.data["x"]) > 0
    page.pause_button.clicks += 1
    pump(page, 3)
    assert page.step_count == 5 and page.state == "paused"
    page.step_button.clicks += 1
    pump(page)
    assert page.step_count == 6


def test_temperature_slider_changes_the_density_and_log_z(landscape):
    page = landscape
    before = page.readouts.values["log_z_grid"]
    page.temperature = 2.5
    pump(page)
    assert page.last_snapshot["knobs"]["temperature"] == 2.5
    assert "T = 2.5" in page.surface.figure.title.text
    # log Z follows once the slider has rested (the density comes first)
    wait_until(page, lambda: page.readouts.values["log_z_grid"] != before, seconds=10)


def test_energy_view_toggle(landscape):
    page = landscape
    page.show = "Energy"
    assert page.surface.figure.title.text == "Energy E(x)"
    low, high = page.last_snapshot["energy_range"]
    assert page.surface.mapper.low == pytest.approx(low) and page.surface.mapper.high == pytest.approx(high)


def test_knobs_change_the_running_job_without_restart(landscape):
    page = landscape
    page.play_button.clicks += 1
    pump(page, 3)
    page.lr = 1e-2
    page.langevin_steps = 4
    pump(page, 2)
    snap = page.last_snapshot
    assert snap["knobs"]["lr"] == 1e-2 and snap["knobs"]["langevin_steps"] == 4
    assert page.step_count == 4   # kept counting: nothing restarted (one pump only answered the knobs)


def test_changing_the_dataset_resets_with_new_data(landscape):
    page = landscape
    page.play_button.clicks += 1
    pump(page, 3)
    old_points = page.surface.points.data["x"].copy()
    page.dataset = "moons"
    pump(page)
    assert page.step_count == 0 and page.state == "paused"
    assert page.last_snapshot["config"]["dataset"] == "moons"
    assert len(page.curves.source.data["step"]) == 0
    assert (page.surface.points.data["x"] != old_points).any()


def test_diverging_step_size_shows_a_warning_and_recovers(landscape):
    page = landscape
    page.play_button.clicks += 1
    pump(page, 30)
    page.step_size = 10.0
    pump(page, 3)
    assert page.alert.visible and "step size" in page.alert.object
    assert page.state == "playing"
    page.step_size = 0.02                         # (training yields while the knob moves: wait, not count)
    wait_until(page, lambda: not page.alert.visible)


def test_out_of_range_values_are_rejected_by_the_page():
    session = LabSession(inline=True)
    page = EnergyLandscapePage(session)
    with pytest.raises(ValueError):
        page.lr = 0.7
    with pytest.raises(ValueError):
        page.temperature = -1.0
    with pytest.raises(ValueError):
        page.dataset = "nope"


def test_the_page_controls_are_the_jobs_declarations():
    for name in (*LandscapeJob.CONFIG, *LandscapeJob(None).knobs.as_dict()):
        assert EnergyLandscapePage.param[name] is LandscapeJob.CONTROLS.param[name], name
    assert set(EnergyLandscapePage.knob_names()) == set(LandscapeJob(None).knobs.as_dict())
    assert "batch_size" not in EnergyLandscapePage.setting_names()     # a hidden setting: not on the page
