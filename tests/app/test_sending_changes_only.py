"""Plots send the browser only what changed: unchanged surfaces, fields, points and image mosaics are
not re-sent, trails move without their colours, the energy trace streams new steps."""
import numpy as np
import pytest
from bokeh.document import Document
from bokeh.document.events import ColumnDataChangedEvent, ColumnsStreamedEvent

import app.pages  # noqa: F401  (registers the pages)
from app.components.chain_plot import ChainPlot
from app.components.image_grid import ImageGrid
from app.components.last_sent import LastSent, same
from app.components.marginals import TracePlot
from app.components.vector_field_plot import VectorFieldPlot
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


def data_events(events, source) -> list:
    return [e for e in events if isinstance(e, (ColumnDataChangedEvent, ColumnsStreamedEvent)) and e.model is source]


def test_same_compares_arrays_nested_values_and_nans():
    a = np.array([1.0, np.nan, 3.0], np.float32)
    assert same(a, a.copy()) and not same(a, a + 1) and not same(a, a.astype(np.float64))
    assert same({"x": [a, 2]}, {"x": [a.copy(), 2]}) and not same({"x": a}, {"y": a})
    assert same(None, None) and not same(None, a)


def test_last_sent_keeps_a_copy_so_changes_in_place_are_seen():
    sent, grid = LastSent(), np.zeros((3, 3))
    assert sent.changed("grid", grid) and not sent.changed("grid", grid)
    grid[1, 1] = 5.0                       # a job in this process may reuse its buffer
    assert sent.changed("grid", grid)
    sent.forget("grid")
    assert sent.changed("grid", grid)


def test_an_unchanged_surface_field_and_samples_are_not_sent_again():
    plot = VectorFieldPlot(title="t")
    events = recorded(plot.figure)
    grid = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    field = {k: np.linspace(0, 1, 4) for k in ("x", "y", "angle", "magnitude")}
    for _ in range(3):
        plot.show_grid(grid.copy(), BOUNDS, 0.0, 1.0, "label")
        plot.show_arrows({k: v.copy() for k, v in field.items()}, BOUNDS, 1.0)
        plot.show_samples(np.ones((5, 2)))
    assert len(data_events(events, plot.image)) == 1
    assert len(data_events(events, plot.arrows)) == 1
    assert len(data_events(events, plot.samples)) == 1
    plot.show_grid(grid + 1, BOUNDS, 0.0, 1.0, "label")
    assert len(data_events(events, plot.image)) == 2
    assert np.array_equal(plot.image.data["image"][0], grid + 1)


def test_an_unchanged_image_mosaic_is_not_sent_again():
    grid = ImageGrid("digits")
    events = recorded(grid.figure)
    mosaic = np.random.default_rng(0).random((17, 17)).astype(np.float32)
    mosaic[8, :] = np.nan                 # the gaps between tiles
    for _ in range(3):
        grid.show(mosaic.copy())
    assert len(data_events(events, grid.source)) == 1
    grid.show(mosaic * 0.5)
    assert len(data_events(events, grid.source)) == 2


def test_trails_move_without_resending_their_colours():
    plot = ChainPlot()
    events = recorded(plot.figure)
    trails = {"xs": [np.zeros(3), np.ones(3)], "ys": [np.zeros(3), np.ones(3)]}
    positions, accepted = np.zeros((2, 2)), np.array([True, False])
    plot.show_trails(trails, positions, accepted)
    moved = {"xs": [np.zeros(4), np.ones(4)], "ys": [np.zeros(4), np.ones(4)]}
    plot.show_trails(moved, positions + 1, accepted)
    first, second = data_events(events, plot.trails)
    assert set(first.cols or plot.trails.data) >= {"color"} and set(second.cols) == {"xs", "ys"}
    assert len(plot.trails.data["xs"][0]) == 4 and list(plot.heads.data["x"]) == [1.0, 1.0]
    plot.show_trails({"xs": [np.zeros(2)] * 3, "ys": [np.zeros(2)] * 3}, np.zeros((3, 2)), np.ones(3, bool))
    assert len(plot.trails.data["color"]) == 3 and len(plot.heads.data["color"]) == 3


def test_trails_travel_inline_not_as_one_binary_buffer_per_chain():
    from bokeh.core.serialization import Serializer
    plot = ChainPlot()
    recorded(plot.figure)
    rng = np.random.default_rng(0)
    trails = {"xs": list(rng.normal(size=(16, 40)).astype(np.float32)), "ys": list(rng.normal(size=(16, 40)))}
    plot.show_trails(trails, rng.normal(size=(16, 2)), np.ones(16, bool))
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


@pytest.mark.parametrize("name", [entry.name for entry in PAGES])
def test_a_repeated_snapshot_sends_no_data_on_any_page(session, name):
    """A knob answer while paused repeats the chains, samples and surfaces: none of it goes out again."""
    page = next(entry for entry in PAGES if entry.name == name).factory(session)
    session.drain()
    page.step_button.clicks += 1
    pump(page, 3)
    doc = Document()
    doc.add_root(page.view.get_root(doc))
    snapshot = dict(page.last_snapshot)
    page.apply_snapshot(snapshot)
    events = recorded_in(doc)
    page.apply_snapshot(snapshot)
    assert [e for e in events if isinstance(e, (ColumnDataChangedEvent, ColumnsStreamedEvent))] == []
    session.command(page.job_id, "close")
    session.sinks.pop(page.job_id, None)
