"""Samplers and Constraints pages without a browser: in-process runner, real jobs and Bokeh sources."""
import math

import numpy as np
import pytest

from app.pages.constraints import ConstraintsPage
from app.pages.samplers import SamplersPage
from app.session import LabSession
from tests.app.page_helpers import wait_until
from tests.app.stub_session import StubSession

FAST = {"resolution": 32, "diagnostics_every_s": 0.0}


@pytest.fixture
def samplers():
    session = LabSession(inline=True)
    view = SamplersPage(session)
    session.runner.command(view.job_id, "reset", FAST)
    session.runner.set_knobs(view.job_id, speed=2000.0)
    session.drain()
    return view


def pump(view, n=1):
    for _ in range(n):
        view.session.drain()


def test_play_draws_trails_histograms_and_diagnostics(samplers):
    samplers.play_button.clicks += 1
    wait_until(samplers, lambda: samplers.step_count > 10)   # steps are paced in time, not per drain
    assert len(samplers.plot.trails.data["xs"]) == 32
    assert len(samplers.marginal_x.hist.data["top"]) == 40 and len(samplers.marginal_x.exact.data["x"]) == 32
    assert samplers.table.verdicts["rhat"] is not None
    assert "diag-rhat" in samplers.table.pane.object


def test_autotune_moves_the_step_size_slider(samplers):
    slider = samplers.controls and samplers.widgets["step_size"]
    samplers.step_size = 2.5                 # past the slider's end: the slider widens to show it
    assert slider.end == pytest.approx(math.log10(2.5)) and slider.value == pytest.approx(math.log10(2.5))
    samplers.autotune_button.clicks += 1
    pump(samplers, 2)
    assert samplers.step_size != 2.5
    assert samplers.last_snapshot["autotuned_step_size"] == pytest.approx(samplers.step_size)
    assert slider.value == pytest.approx(math.log10(samplers.step_size))


def test_the_step_size_slider_is_logarithmic_and_sets_the_knob():
    session = StubSession()
    page = SamplersPage(session, step_size=0.3)
    slider = page.controls and page.widgets["step_size"]
    assert (slider.start, slider.end) == (pytest.approx(-3.0), pytest.approx(math.log10(2.0)))
    assert slider.value == pytest.approx(math.log10(0.3))
    slider.value = -1.5                       # dragged to 10^-1.5
    assert page.step_size == 0.0316           # three significant digits
    assert session.sent[-1] == ("knobs", page.job_id, {"step_size": 0.0316})
    sent = len(session.sent)
    page.step_size = 0.28371                  # as auto-tune sets it: the slider follows, sends no rounded value back
    assert slider.value == pytest.approx(math.log10(0.28371))
    assert page.step_size == 0.28371 and session.sent[sent:] == [("knobs", page.job_id, {"step_size": 0.28371})]


def test_a_fresh_chain_plot_is_an_empty_frame_on_the_targets_box():
    session = LabSession(inline=True)
    page = SamplersPage(session, target="banana")
    session.runner.command(page.job_id, "reset", FAST)
    figure = page.plot.figure
    frame = ((figure.x_range.start, figure.x_range.end), (figure.y_range.start, figure.y_range.end))
    assert page.plot.image.data["image"] == [] and page.plot.hint.visible
    session.drain()
    assert frame == tuple(tuple(b) for b in page.last_snapshot["bounds"])
    assert not page.plot.hint.visible and len(page.plot.image.data["image"]) == 1


def test_tap_spawns_chains(samplers):
    samplers.spawn(1.5, 2.5)
    pump(samplers)
    heads = samplers.plot.heads.data
    near = [(abs(x - 1.5) < 0.3 and abs(y - 2.5) < 0.3) for x, y in zip(heads["x"], heads["y"])]
    assert sum(near) == 8


def test_sampler_and_temperature_knobs_reach_the_job(samplers):
    samplers.sampler = "hmc"
    samplers.temperature = 2.0
    pump(samplers)
    knobs = samplers.last_snapshot["knobs"]
    assert knobs["sampler"] == "hmc" and knobs["temperature"] == 2.0
    assert "T = 2" in samplers.plot.figure.title.text


def test_bad_step_size_is_reported_not_raised(samplers):
    samplers.sampler = "langevin"
    samplers.step_size = 1000.0
    samplers.play_button.clicks += 1
    pump(samplers, 5)
    assert samplers.alert.visible and "diverged" in samplers.alert.object
    with pytest.raises(ValueError):
        samplers.step_size = 1e4


def test_race_section_renders_one_plot_per_racer(samplers):
    race = samplers.race
    race.session.runner.command(race.job_id, "reset", {"resolution": 32, "racers": "mala,hmc"})
    race.racers = "mala,hmc"
    race.play_button.clicks += 1
    pump(samplers, 10)
    assert len(race.plot_row) == 2
    assert "race-hmc-grad_evals" in race.table.object


def test_constraints_page_sliders_boxes_and_hard_mode():
    session = LabSession(inline=True)
    view = ConstraintsPage(session)
    session.runner.command(view.job_id, "reset", FAST)
    session.drain()
    before = view.plot.image.data["image"][0].copy()
    view.weights[1].value = 6.0           # the ball
    session.drain()
    assert (view.plot.image.data["image"][0] != before).any()
    assert len(view.outlines.data["xs"]) == 2       # half-plane and ball are active
    view.boxes.data = {"x": [0.0], "y": [0.0], "width": [1.0], "height": [1.0]}
    session.drain()
    kinds = [c["kind"] for c in view.last_snapshot["constraints"]]
    assert kinds[-1] == "box"
    view.hard = True
    view.play_button.clicks += 1
    for _ in range(20):
        session.drain()
    assert view.last_snapshot["hard"] and view.readouts.values["violation_rate"] == "0.000"


def test_race_plots_share_one_surface_sent_once(samplers):
    """The racers' plots draw one image source: a temperature change sends the grid once, and every
    plot shows it under its own title."""
    race = samplers.race
    race.session.runner.command(race.job_id, "reset", {"resolution": 32, "racers": "mala,hmc"})
    race.racers = "mala,hmc"
    pump(samplers, 3)
    shown = [race.plots[n] for n in ("mala", "hmc")]
    sources = {id(r.data_source) for p in shown for r in p.figure.renderers if hasattr(r.glyph, "image")}
    assert len(sources) == 1
    race.temperature = 2.0
    pump(samplers, 3)
    density = race.last_snapshot["density"]
    assert race.last_snapshot["knobs"]["temperature"] == 2.0
    for plot in shown:
        assert np.array_equal(plot.image.data["image"][0], density)
        assert plot.figure.title.text.endswith("at T = 2")
