"""Arrow layout of the score-field plot: tail at the point, tip along the angle, length saturating."""
import numpy as np
import pytest

from app.plots.vector_field_plot import ARROW_FILL, VectorFieldPlot, arrow_segments


def test_arrows_start_at_the_point_and_point_along_the_angle():
    field = {"x": np.array([0.0, 1.0]), "y": np.array([0.0, 1.0]), "angle": np.array([0.0, np.pi / 2]),
             "magnitude": np.array([1.0, 3.0])}
    seg = arrow_segments(field, cell=1.0, reference=1.0)
    # shafts: from the tip back to the point
    assert seg["x1"][:2] == pytest.approx([0.0, 1.0]) and seg["y1"][:2] == pytest.approx([0.0, 1.0])
    assert seg["x0"][0] == pytest.approx(ARROW_FILL * 0.5) and seg["y0"][0] == pytest.approx(0.0)
    assert seg["x0"][1] == pytest.approx(1.0) and seg["y0"][1] == pytest.approx(1.0 + ARROW_FILL * 0.75)
    assert len(seg["x0"]) == 6   # shaft and two head strokes per arrow


def test_plot_patches_its_sources():
    plot = VectorFieldPlot(title="t")
    plot.show_grid(np.ones((4, 4), np.float32), ((-2, 2), (-1, 1)), 0.0, 1.0, "label", 1)
    assert plot.figure.title.text == "label" and plot.figure.x_range.start == -2
    assert len(plot.image.data["image"]) == 1
    plot.show_arrows(None, ((-2, 2), (-1, 1)), 1.0, 1)
    assert len(plot.arrows.data["x0"]) == 0
    plot.show_samples(np.zeros((5, 2)), 1)
    assert len(plot.samples.data["x"]) == 5
