"""Plots send the browser only what changed: a part goes out when its version (``snapshot["versions"]``) is
new, never by comparing arrays; trails move without their colours, the energy trace streams new steps."""
import numpy as np
import pytest
from bokeh.document import Document
from bokeh.document.events import ColumnDataChangedEvent, ColumnsStreamedEvent

import app.pages  # noqa: F401  (registers the pages)
from app.plots.chain_plot import ChainPlot
from app.plots.image_grid import ImageGrid
from app.plots.marginals import MarginalPlot, TracePlot
from app.plots.score_histogram import ScoreHistogram
from app.plots.sent_versions import SentVersions
from app.plots.surface_plot import SurfacePlot
from app.plots.vector_field_plot import VectorFieldPlot
from app.registry import PAGES
from app.session import LabSession
from tests.app.page_helpers import pump

BOUNDS = ((-2.0, 2.0), (-1.0, 1.0))


def recorded(figure) -> list:
    doc = Document()
    doc.add_root(figure)
    events = []
    doc.on_change(events.append)
    return events


def recorded_in(doc: Document) -> list:
    events = []
    doc.on_change(events.append)
    return events


def data_events(events, source=None) -> list:
    return [e for e in events if isinstance(e, (ColumnDataChangedEvent, ColumnsStreamedEvent))
            and (source is None or e.model is source)]


def test_a_slot_is_due_for_a_version_it_has_not_sent_and_never_without_one():
    sent = SentVersions()
    assert not sent.due("grid", None)
    assert sent.due("grid", 7) and not sent.due("grid", 7)
    assert sent.due("points", 7)                  # slots are apart
    assert not sent.due("grid", None) and sent.due("grid", 8) and sent.due("grid", 7)


def test_an_unchanged_surface_field_and_samples_are_not_sent_again():
    plot = VectorFieldPlot(title="t")
    events = recorded(plot.figure)
    grid = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    field = {k: np.linspace(0, 1, 4) for k in ("x", "y", "angle", "magnitude")}
    for _ in range(3):
        plot.show_grid(grid.copy(), BOUNDS, 0.0, 1.0, "label", 1)
        plot.show_arrows({k: v.copy() for k, v in field.items()}, BOUNDS, 1.0, 1)
        plot.show_samples(np.ones((5, 2)), 2)
    assert len(data_events(events, plot.image)) == 1
    assert len(data_events(events, plot.arrows)) == 1
    assert len(data_events(events, plot.samples)) == 1
    plot.show_grid(grid + 1, BOUNDS, 0.0, 1.0, "label", 3)
    assert len(data_events(events, plot.image)) == 2
    assert np.array_equal(plot.image.data["image"][0], grid + 1)


def _surface(plot, a, v):
    plot.show_grid(a, BOUNDS, 0.0, 1.0, "label", v)


def _trails(plot, a, v):
    plot.show_trails({"xs": list(a[:2]), "ys": list(a[2:4])}, a[:2, :2], np.ones(2, bool), v)


def _histogram(plot, a, v):
    plot.show(np.linspace(0.0, 1.0, 9), a[0], {"gaussian": a[1]}, {"gaussian"}, v)


def _marginal(plot, a, v):
    plot.update({"edges_x": np.linspace(-2, 2, 9), "hist_x": a[0], "grid_x": a[1], "marginal_x": a[2]}, v, v)


# (component, its figure, the source it patches, how a page hands it an 8×8 array with a version)
SENDERS = {
    "surface": (lambda: SurfacePlot(), lambda p: p.figure, lambda p: p.image, _surface),
    "points": (lambda: SurfacePlot(), lambda p: p.figure, lambda p: p.points, lambda p, a, v: p.show_points(a, v)),
    "field": (lambda: VectorFieldPlot(), lambda p: p.figure, lambda p: p.image, _surface),
    "arrows": (lambda: VectorFieldPlot(), lambda p: p.figure, lambda p: p.arrows,
               lambda p, a, v: p.show_arrows(dict(zip(("x", "y", "angle", "magnitude"), a[:4])), BOUNDS, 1.0, v)),
    "trails": (lambda: ChainPlot(), lambda p: p.figure, lambda p: p.trails, _trails),
    "image": (lambda: ImageGrid("t"), lambda p: p.figure, lambda p: p.source, lambda p, a, v: p.show(a, v)),
    "histogram": (lambda: ScoreHistogram(["gaussian"], {}), lambda p: p.figure, lambda p: p.sources["id"],
                  _histogram),
    "marginal": (lambda: MarginalPlot("x"), lambda p: p.figure, lambda p: p.hist, _marginal),
}


@pytest.mark.parametrize("name", list(SENDERS))
def test_the_version_decides_what_is_sent_not_the_arrays(name):
    """Identical content under a new version goes out (no hidden diffing); an old version stays home even
    for another array object, whatever it holds; no version sends nothing."""
    make, figure_of, source_of, show = SENDERS[name]
    plot = make()
    events = recorded(figure_of(plot))
    array = np.random.default_rng(1).random((8, 8)).astype(np.float32)
    show(plot, array, None)                  # a snapshot without versions: nothing new is sent
    assert data_events(events, source_of(plot)) == []
    show(plot, array, 1)
    assert len(data_events(events, source_of(plot))) == 1
    show(plot, array.copy(), 2)              # the same numbers, a new version: sent
    assert len(data_events(events, source_of(plot))) == 2
    show(plot, array + 1.0, 2)               # another array under the version already sent: not sent
    show(plot, array.copy(), 2)
    show(plot, array + 1.0, None)
    assert len(data_events(events, source_of(plot))) == 2


def test_an_unchanged_image_mosaic_is_not_sent_again():
    grid = ImageGrid("digits")
    events = recorded(grid.figure)
    mosaic = np.random.default_rng(0).random((17, 17)).astype(np.float32)
    mosaic[8, :] = np.nan                 # the gaps between tiles
    for _ in range(3):
        grid.show(mosaic.copy(), 5)
    assert len(data_events(events, grid.source)) == 1
    grid.show(mosaic * 0.5, 6)
    assert len(data_events(events, grid.source)) == 2


def test_a_blank_image_lays_the_frame_out_before_any_image():
    grid = ImageGrid("yours", width=90, height=90, blank=(8, 8))
    assert grid.figure.x_range.end == 8 and np.isnan(grid.source.data["image"][0]).all()
    assert grid.source.data["image"][0].shape == (8, 8)


def test_trails_move_without_resending_their_colours():
    plot = ChainPlot()
    events = recorded(plot.figure)
    trails = {"xs": [np.zeros(3), np.ones(3)], "ys": [np.zeros(3), np.ones(3)]}
    positions, accepted = np.zeros((2, 2)), np.array([True, False])
    plot.show_trails(trails, positions, accepted, 1)
    moved = {"xs": [np.zeros(4), np.ones(4)], "ys": [np.zeros(4), np.ones(4)]}
    plot.show_trails(moved, positions + 1, accepted, 2)
    first, second = data_events(events, plot.trails)
    assert set(first.cols or plot.trails.data) >= {"color"} and set(second.cols) == {"xs", "ys"}
    assert len(plot.trails.data["xs"][0]) == 4 and list(plot.heads.data["x"]) == [1.0, 1.0]
    assert list(plot.rejected.data["x"]) == [1.0]
    plot.show_trails({"xs": [np.zeros(2)] * 3, "ys": [np.zeros(2)] * 3}, np.zeros((3, 2)), np.ones(3, bool), 3)
    assert len(plot.trails.data["color"]) == 3 and len(plot.heads.data["color"]) == 3


def test_trails_travel_inline_not_as_one_binary_buffer_per_chain():
    from bokeh.core.serialization import Serializer
    plot = ChainPlot()
    recorded(plot.figure)
    rng = np.random.default_rng(0)
    trails = {"xs": list(rng.normal(size=(16, 40)).astype(np.float32)), "ys": list(rng.normal(size=(16, 40)))}
    plot.show_trails(trails, rng.normal(size=(16, 2)), np.ones(16, bool), 1)
    encoded = Serializer(deferred=True).serialize(plot.trails.data)
    assert encoded.buffers == []   # the server would otherwise send each chain's array as a frame of its own
    np.testing.assert_allclose(plot.trails.data["xs"][3], trails["xs"][3], atol=1e-4)


def test_trace_streams_new_steps_and_replaces_a_restarted_trace():
    plot = TracePlot(length=5)
    events = recorded(plot.figure)
    energies = np.arange(10.0)
    plot.update(energies[:3], 3)
    plot.update(energies[:6], 6)
    assert isinstance(data_events(events, plot.source)[-1], ColumnsStreamedEvent)
    assert list(plot.source.data["step"]) == [1, 2, 3, 4, 5]
    plot.update(energies[:6], 6)                       # nothing new: nothing sent
    assert len(data_events(events, plot.source)) == 2
    plot.update(np.array([7.5, 1.0]), 2)               # chains restarted: the trace starts over
    assert list(plot.source.data["step"]) == [0, 1] and list(plot.source.data["energy"]) == [7.5, 1.0]


@pytest.fixture(scope="module")
def session():
    lab = LabSession(inline=True)
    yield lab
    lab.stop()


@pytest.fixture(params=[entry.name for entry in PAGES])
def page_and_doc(request, session):
    """A page whose job has made a few steps, shown in a document, its latest snapshot applied."""
    page = next(entry for entry in PAGES if entry.name == request.param).factory(session)
    session.drain()
    page.step_button.clicks += 1
    pump(page, 3)
    doc = Document()
    doc.add_root(page.view.get_root(doc))
    page.apply_snapshot(dict(page.last_snapshot))
    yield page, doc
    session.command(page.job_id, "close")
    session.sinks.pop(page.job_id, None)


def test_a_repeated_snapshot_sends_no_data_on_any_page(page_and_doc):
    """A knob answer while paused repeats the chains, samples and surfaces: none of it goes out again,
    nor anything of a status-only snapshot (the session's own) or of a snapshot without versions."""
    page, doc = page_and_doc
    snapshot = dict(page.last_snapshot)
    events = recorded_in(doc)
    page.apply_snapshot(snapshot)
    page.apply_snapshot({"status": {"state": "queued", "queued_ahead": 1, "steps_per_sec": 0.0}})
    page.apply_snapshot({k: v for k, v in snapshot.items() if k != "versions"})
    assert data_events(events) == []


def test_new_versions_are_sent_on_any_page_even_with_the_same_arrays(page_and_doc):
    """No page compares arrays: the very same arrays under new versions go out again."""
    page, doc = page_and_doc
    snapshot = dict(page.last_snapshot)
    assert snapshot["versions"]
    events = recorded_in(doc)
    page.apply_snapshot({**snapshot, "versions": {k: v + 1 for k, v in snapshot["versions"].items()}})
    assert data_events(events)
