"""LiveCurves: rows stream in; a dashed tail joins the last row to a provisional point."""
import numpy as np

from app.plots.live_curves import LiveCurves


def history(steps, values):
    return {"step": np.asarray(steps, dtype=float), "acc": np.asarray(values, dtype=float)}


def test_the_tail_joins_the_last_row_to_the_provisional_point():
    curves = LiveCurves({"acc": "accuracy"})
    curves.update(history([0, 10, 20], [0.1, 0.5, 0.6]))
    curves.show_tail({"step": 27.0, "acc": 0.7})
    assert list(curves.tail.data["step"]) == [20.0, 27.0] and list(curves.tail.data["acc"]) == [0.6, 0.7]
    assert curves.figure.x_range.end >= 27.0
    curves.update(history([0, 10, 20, 30], [0.1, 0.5, 0.6, 0.72]))   # the next evaluation: a row, and the tail goes
    curves.show_tail(None)
    assert len(curves.tail.data["step"]) == 0 and len(curves.source.data["step"]) == 4


def test_a_tail_older_than_the_last_row_or_without_rows_is_not_drawn():
    curves = LiveCurves({"acc": "accuracy"})
    curves.show_tail({"step": 3.0, "acc": 0.5})
    assert len(curves.tail.data["step"]) == 0
    curves.update(history([0, 10], [0.1, 0.5]))
    curves.show_tail({"step": 5.0, "acc": 0.4})
    assert len(curves.tail.data["step"]) == 0
    curves.show_tail({"step": 12.0, "acc": 0.4})
    curves.clear()
    assert len(curves.tail.data["step"]) == 0 and len(curves.source.data["step"]) == 0


def test_the_axes_make_room_for_the_tail():
    curves = LiveCurves({"acc": "accuracy"})
    curves.update(history([0, 10, 20], [0.1, 0.5, 0.6]))
    curves.show_tail({"step": 40.0, "acc": 0.95})
    assert curves.figure.x_range.end >= 40.0 and curves.figure.y_range.end >= 0.95
    assert curves.figure.y_range.start <= 0.1


def test_a_series_without_a_provisional_value_gets_no_tail():
    curves = LiveCurves({"e_data": "E(data)", "e_neg": "E(samples)"})
    curves.update({"step": np.array([1.0, 2.0]), "e_data": np.array([0.1, 0.2]), "e_neg": np.array([1.0, 0.8])})
    curves.show_tail({"step": 2.5, "e_neg": 0.5})
    assert list(curves.tail.data["e_neg"]) == [0.8, 0.5]
    assert curves.tail.data["e_data"][0] == 0.2 and np.isnan(curves.tail.data["e_data"][1])


def test_the_same_tail_again_sends_nothing():
    curves = LiveCurves({"acc": "accuracy"})
    curves.update(history([0, 10], [0.1, 0.5]))
    point = {"step": 12.0, "acc": 0.6}
    curves.show_tail(point)
    drawn = curves.tail.data
    curves.show_tail(dict(point))
    assert curves.tail.data is drawn
    curves.show_tail({"step": 13.0, "acc": 0.6})
    assert curves.tail.data is not drawn
