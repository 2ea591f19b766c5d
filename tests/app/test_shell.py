"""Shell, registry and session without a browser."""
import panel as pn

import app.pages  # noqa: F401  (registers the pages)
from app.registry import PAGES, register_page
from app.session import LabSession
from app.shell import LabShell
from tests.app.stub_session import RecordingSink

PAGE_NAMES = ["Energy Landscape", "Samplers", "Constraints", "RBM", "Images", "JEM & OOD", "Score Matching",
              "Symmetry & Latents"]


def test_registered_pages_use_the_house_names():
    names = [p.name for p in PAGES]
    assert "Energy Landscape" in names
    assert all(n in PAGE_NAMES for n in names)


def test_shell_builds_an_offline_template_with_navigation_and_status():
    session = LabSession(inline=True)
    shell = LabShell(session)
    assert isinstance(shell.template, pn.template.BootstrapTemplate)
    assert shell.nav.value == "Energy Landscape"
    page = shell.page("Energy Landscape")
    assert shell.page_controls.objects[0] is page.controls
    session.drain()
    assert 'data-state="paused"' in shell.status_bar.pane.object
    assert "cpu" in shell.status_bar.pane.object


def test_dark_theme_and_initial_page_from_arguments():
    shell = LabShell(LabSession(inline=True), theme="dark", initial_page="Energy Landscape")
    assert shell.theme_switch.value is True
    assert LabShell(LabSession(inline=True), initial_page="nonsense").nav.value == "Energy Landscape"


def test_register_page_replaces_an_entry_of_the_same_name():
    before = list(PAGES)
    try:
        register_page("Samplers", object)
        register_page("Samplers", dict)
        assert [p.factory for p in PAGES if p.name == "Samplers"] == [dict]
    finally:
        PAGES[:] = before


class CrashedRunner:
    crashed, exit_code, restarted, opened = True, -9, 0, {}

    def restart(self):
        self.restarted += 1
        self.crashed = False

    def poll(self):
        return {}

    def open(self, *args):
        pass

    def stop(self):
        self.stopped = True


def test_session_reports_and_restarts_a_crashed_engine():
    runner = CrashedRunner()
    session = LabSession(runner=runner)
    sink = RecordingSink()
    session.attach("job", "landscape", sink)
    session.drain()
    assert runner.restarted == 1
    assert sink.events and "exit code -9" in sink.events[0]
    session.stop()
    assert session.closed and runner.stopped
    session.drain()   # a closed session does nothing
    assert runner.restarted == 1


def test_stopped_session_ignores_commands():
    session = LabSession(inline=True)
    session.stop()
    session.command("x", "play")
    session.set_knobs("x", lr=1.0)
    assert "x" not in session.runner.host.slots


def test_engine_stops_soon_after_the_tab_disconnects(monkeypatch):
    count = {"n": 0}
    session = LabSession(inline=True, connections=lambda: count["n"])
    session.drain()
    assert not session.closed          # never connected yet: keep waiting for the browser
    count["n"] = 1
    session.drain()
    count["n"] = 0
    session.drain()
    assert not session.closed          # within the grace period
    monkeypatch.setattr(LabSession, "DISCONNECT_GRACE_S", 0.0)
    session.drain()
    assert session.closed
