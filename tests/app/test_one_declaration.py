"""One declaration per control: a knob added to a job's declaration is on the page (a parameter and a
widget with its label), travels in a link, and is accepted by the engine and the command line."""
import param
import pytest

from app import url_state
from app.pages.base import LabPage
from app.pages.energy_landscape import EnergyLandscapePage
from app.registry import PAGES
from ebm_engine.checkpoints import load_checkpoint
from ebm_engine.cli import main
from ebm_engine.runtime import controls
from ebm_engine.runtime.controls import LOG_KNOB
from ebm_engine.runtime.jobs.energy_landscape import LandscapeControls, LandscapeJob
from ebm_engine.runtime.registry import JOB_KINDS, job_class
from tests.app.stub_session import StubSession


class ExtendedControls(LandscapeControls):
    extra = param.Number(default=0.5, bounds=(0.01, 10.0), label="An extra knob", doc="added in one place",
                         metadata=LOG_KNOB)


class ExtendedJob(LandscapeJob):
    CONTROLS = ExtendedControls


class ExtendedPage(EnergyLandscapePage, ExtendedControls):
    JOB_KIND = "tests.app.test_one_declaration:ExtendedJob"


def test_a_knob_added_to_the_declaration_is_on_the_page_in_links_and_in_the_engine():
    session = StubSession()
    page = ExtendedPage(session)
    assert "extra" in page.knob_names() and session.sent[0][3]["extra"] == 0.5      # opened with it
    widget = page.control("extra")
    assert widget.label == "An extra knob"
    page.extra = 2.0
    assert session.sent[-1] == ("knobs", page.job_id, {"extra": 2.0})
    query = url_state.encode(page)
    assert query == {"extra": "2"}
    values, problems = url_state.decode(ExtendedPage, query)
    assert values == {"extra": 2.0} and not problems
    assert url_state.decode(ExtendedPage, {"extra": "20"})[1] == ["extra = '20' (out of range)"]
    job = ExtendedJob({"n_train": 200, "n_test": 100, "resolution": 16})
    assert job.set_knobs(extra=0.25) == {"extra": 0.25}
    with pytest.raises(ValueError, match="extra"):
        job.set_knobs(extra=100.0)


def test_a_knob_added_to_the_declaration_is_accepted_by_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setitem(JOB_KINDS, "landscape", "tests.app.test_one_declaration:ExtendedJob")
    out = tmp_path / "m.pt"
    code = main(["train", "mlp_ebm", "--steps", "1", "--out", str(out), "--quiet", "--set", "n_train=200",
                 "--set", "n_test=100", "--knob", "extra=0.3"])
    assert code == 0 and load_checkpoint(out)[1]["knobs"]["extra"] == 0.3
    assert main(["train", "mlp_ebm", "--steps", "1", "--out", str(out), "--quiet", "--knob", "extra=30"]) == 2


@pytest.mark.parametrize("entry", PAGES, ids=lambda e: e.name)
def test_every_page_inherits_its_jobs_declaration(entry):
    pages = [entry.factory(StubSession())]
    pages += list(pages[0].url_sections().values())
    for page in pages:
        declared = controls.declared(job_class(page.JOB_KIND).CONTROLS)
        if not controls.declared(type(page)):
            pytest.skip(f"{page.TITLE} still lists its own controls")
        for name, parameter in declared.items():
            assert type(page).param[name] is parameter, name
        assert isinstance(page, LabPage)
