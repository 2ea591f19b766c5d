"""Hostile and broken input on every page: fuzzed parameters, knobs and settings (NaN, inf, negative,
huge, wrong type), an exception inside a step, NaN weights, an outside path and a data folder that
disappears while it loads. Each is refused with a clear message or survived; no traceback reaches
the page and the job stays usable."""
import math
import shutil

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ebm_engine.data.idx as idx
from app.pages.constraints import ConstraintsPage
from app.pages.energy_landscape import EnergyLandscapePage
from app.pages.images import ImagesPage
from app.pages.jem import JEMPage
from app.pages.rbm import RBMPage
from app.pages.samplers import SamplersPage
from app.pages.score_matching import ScoreMatchingPage
from app.pages.symmetry_latents import SymmetryLatentsPage
from app.session import LabSession
from tests.data.test_idx import mnist_folder

PAGES = [EnergyLandscapePage, SamplersPage, ConstraintsPage, RBMPage, ImagesPage, JEMPage, ScoreMatchingPage,
         SymmetryLatentsPage]
BOOKKEEPING = {"name", "state", "step_count", "steps_per_sec", "device"}
HOSTILE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, -1e9, 10**30, 2**63, 1e300, -0.0, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**6, max_value=-1),
    st.text(max_size=12),
    st.sampled_from([None, True, False, [], [1, 2], {"a": 1}, b"\x00", "../../etc/passwd", "/etc"]),
)


@pytest.fixture(params=PAGES, ids=lambda p: p.TITLE)
def page(request):
    session = LabSession(inline=True)
    view = request.param(session)
    session.drain()
    yield view
    session.stop()


def views_of(page):
    """The page and, on Samplers, its Race section (a second job)."""
    return [page, page.race] if hasattr(page, "race") else [page]


def pump(page, n=2):
    for _ in range(n):
        page.session.drain()     # an exception here fails the test: nothing may escape to the server


def assert_no_traceback(view):
    text = str(view.alert.object) if view.alert.visible else ""
    assert "Traceback" not in text and 'File "' not in text, text


def assert_usable(view):
    """Back to valid settings, one Step makes progress without an error."""
    view.session.command(view.job_id, "reset", view.settings())
    pump(view, 1)
    before = view.step_count
    view.step_button.clicks += 1
    pump(view, 2)
    assert view.state != "error", view.alert.object
    assert view.step_count > before or view.step_count >= 1


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_parameters_knobs_and_settings(page, data):
    view = data.draw(st.sampled_from(views_of(page)))
    names = sorted(set(view.param) - BOOKKEEPING)
    name = data.draw(st.sampled_from(names))
    value = data.draw(HOSTILE)
    route = data.draw(st.sampled_from(["param", "engine"]))
    if route == "param":
        default = view.param[name].default
        try:
            setattr(view, name, value)
        except (ValueError, TypeError) as exc:        # refused by the parameter, naming it
            assert name in str(exc)
        pump(view)
        assert_no_traceback(view)
        try:
            setattr(view, name, default)
        except (ValueError, TypeError):
            pass
    else:                                             # past the widgets: straight to the engine
        job = view.session.runner.host.slots[view.job_id].job
        try:
            job.knobs.update(**{name: value}) if name in view.knob_names() else job.checked_settings({name: value})
            refused = False
        except (ValueError, KeyError):
            refused = name in view.knob_names() or name in job.CONFIG
        if name in view.knob_names():
            view.session.set_knobs(view.job_id, **{name: value})
        else:
            view.session.command(view.job_id, "reset", {name: value})
        pump(view)
        assert_no_traceback(view)
        if refused:                                   # said so, naming the knob or setting
            assert view.alert.visible and name in view.alert.object, (name, value, view.alert.object)
    pump(view)
    assert_no_traceback(view)


def modules_of(job):
    return [m for m in vars(job).values() if isinstance(m, torch.nn.Module)]


def test_faults_inside_the_job_are_reported_and_survived(page):
    for view in views_of(page):
        job = view.session.runner.host.slots[view.job_id].job
        real_advance = job.advance
        calls = {"n": 0}

        def failing_once():
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("injected fault")
            return real_advance()

        job.advance = failing_once
        view.step_button.clicks += 1
        pump(view)
        assert view.state == "error" and "injected fault" in view.alert.object
        assert_no_traceback(view)
        job = view.session.runner.host.slots[view.job_id].job
        job.advance = real_advance if job.advance is failing_once else job.advance
        assert_usable(view)


NAN_PAGES = [EnergyLandscapePage, RBMPage, ImagesPage, JEMPage, ScoreMatchingPage, SymmetryLatentsPage]


@pytest.mark.parametrize("page", NAN_PAGES, ids=lambda p: p.TITLE, indirect=True)
def test_nan_weights_are_reported_and_the_job_keeps_training(page):
    page.step_button.clicks += 1
    pump(page)
    job = page.session.runner.host.slots[page.job_id].job
    modules = modules_of(job) or [m for t in vars(job).values() for m in modules_of(t)]
    assert modules, "no model found on the job"
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.fill_(math.nan)
    for _ in range(3):
        page.step_button.clicks += 1
        pump(page)
    assert page.alert.visible, "NaN weights went unreported"
    assert_no_traceback(page)
    assert_usable(page)
    job = page.session.runner.host.slots[page.job_id].job
    assert all(torch.isfinite(p).all() for m in modules_of(job) for p in m.parameters())


@pytest.mark.parametrize("page", [RBMPage, ImagesPage], ids=lambda p: p.TITLE, indirect=True)
def test_outside_path_and_a_folder_removed_while_loading(page, tmp_path, monkeypatch):
    page.dataset = "mnist"
    page.mnist_folder = "../../../../../../etc"
    pump(page)
    assert page.alert.visible and "outside the lab's data folders" in page.alert.object
    assert page.last_snapshot["config"]["dataset"] == "digits"
    folder = mnist_folder(tmp_path / "mnist", n_train=20, n_test=10)
    real_read = idx.read_idx

    def read_then_vanish(path):
        values = real_read(path)
        shutil.rmtree(folder, ignore_errors=True)     # the folder goes away after the first file
        return values

    monkeypatch.setattr(idx, "read_idx", read_then_vanish)
    page.mnist_folder = str(folder)
    pump(page)
    assert page.alert.visible and "no " in page.alert.object and str(folder) in page.alert.object
    assert_no_traceback(page)
    assert page.last_snapshot["config"]["dataset"] == "digits"
    page.dataset = "digits"
    assert_usable(page)
