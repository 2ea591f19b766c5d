"""The JEM & OOD page without a browser: in-process runner, real job, real Bokeh sources and tables."""
import io

import numpy as np
import pytest
from PIL import Image

from app.pages.jem import JEMPage
from app.session import LabSession
from ebm_engine.runtime.jobs.jem import JEMJob
from tests.app.page_helpers import pump, assert_page_bounds_match_knobs


@pytest.fixture(scope="module")
def jem_page():
    session = LabSession(inline=True)
    view = JEMPage(session)
    session.runner.command(view.job_id, "reset", {"eval_every_s": 0.0, "buffer_size": 300})
    session.runner.host.settle_s = 0.0           # knobs rest at once: these tests do not move sliders
    session.set_knobs(view.job_id, sgld_steps=3)
    session.drain()
    yield view
    session.stop()


def test_histograms_table_and_curves_fill_in(jem_page):
    jem_page.step_button.clicks += 1
    pump(jem_page)
    jem_page.step_button.clicks += 1
    pump(jem_page)
    hist = jem_page.histogram
    assert len(hist.sources["id"].data["top"]) == 40
    shown = {n for n, r in hist.renderers.items() if r.visible and n != "id"}
    assert shown == set(jem_page.ood_sets) - {"user"}
    values = jem_page.metrics_table.values
    assert values["ood-gaussian-energy-auroc"] != "–" and values["ood-natural-softmax-fpr95"] != "–"
    assert len(jem_page.accuracy.source.data["step"]) >= 2
    assert jem_page.samples.source.data["image"][0].shape == (89, 53)


def test_threshold_follows_95_percent_then_moves_by_hand(jem_page):
    snap = jem_page.last_snapshot
    assert jem_page.follow_95 and jem_page.threshold == pytest.approx(snap["threshold95"])
    assert float(jem_page.rates_table.values["rate-id"].rstrip("%")) >= 95.0
    assert jem_page.histogram.threshold.location == pytest.approx(jem_page.threshold)
    assert jem_page.threshold_slider.value == pytest.approx(jem_page.threshold)
    assert jem_page.threshold_slider.start == snap["edges"][0] and jem_page.threshold_slider.end == snap["edges"][-1]
    jem_page.threshold = float(snap["edges"][0])          # everything above: every image is called OOD
    assert not jem_page.follow_95
    assert jem_page.rates_table.values["rate-id"] == "0.0%"
    assert jem_page.rates_table.values["rate-gaussian"] == "100.0%"
    jem_page.threshold_slider.value = float(snap["edges"][-1])      # the slider moves it too
    assert jem_page.rates_table.values["rate-id"] == "100.0%" and jem_page.threshold == snap["edges"][-1]
    jem_page._threshold_from_plot(1e9)                      # a click beyond the plot clamps to its end
    assert jem_page.threshold == jem_page.threshold_slider.end
    assert jem_page.rates_table.values["rate-id"] == "100.0%"
    jem_page.follow_button.clicks += 1
    assert jem_page.follow_95 and jem_page.threshold == pytest.approx(snap["threshold95"])


def test_ood_set_picker_hides_sets(jem_page):
    jem_page.ood_sets = ["uniform"]
    assert {n for n, r in jem_page.histogram.renderers.items() if r.visible} == {"id", "uniform"}
    assert "ood-gaussian-energy-auroc" not in jem_page.metrics_table.values
    assert "rate-uniform" in jem_page.rates_table.values and "rate-gaussian" not in jem_page.rates_table.values
    jem_page.ood_sets = ["gaussian", "uniform", "inverted", "rotated", "natural"]


def test_score_knob_and_probe_image(jem_page):
    jem_page.score = "softmax"
    pump(jem_page)
    assert jem_page.last_snapshot["score"] == "softmax"
    img = np.zeros((24, 24), np.uint8)
    img[4:20, 11:13] = 255
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    jem_page.upload.value = buf.getvalue()
    pump(jem_page)
    assert "probe-score" in jem_page.probe_text.object and jem_page.histogram.probe.visible
    assert jem_page.histogram.probe.location == pytest.approx(jem_page.last_snapshot["probe"]["score"])
    jem_page.upload.value = b"\xff\xd8\xff\xe0 not a png"
    pump(jem_page)
    assert "not a PNG" in jem_page.probe_text.object and not jem_page.histogram.probe.visible
    jem_page.strokes.data = {"xs": [[0.5, 0.5]], "ys": [[0.2, 0.8]]}
    pump(jem_page)
    assert jem_page.last_snapshot["probe"]["source"] == "drawing"
    jem_page.clear_button.clicks += 1
    pump(jem_page)
    assert jem_page.probe_text.object == "" and jem_page.strokes.data["xs"] == []
    jem_page.score = "energy"
    pump(jem_page)


def test_bad_user_set_path_shows_a_message(jem_page):
    jem_page.user_path = "no/such/set.npy"   # inside the data folders, but missing
    jem_page.load_button.clicks += 1
    pump(jem_page)
    assert jem_page.alert.visible and "no such file" in jem_page.alert.object


def test_model_picker_switches_to_the_plain_classifier(jem_page):
    jem_page.model = "classifier"
    pump(jem_page)
    jem_page.step_button.clicks += 1
    pump(jem_page)
    snap = jem_page.last_snapshot
    assert snap["model"] == "classifier" and snap["step"] == 1
    assert np.isnan(snap["history"]["e_neg"]).all()


def test_page_bounds_match_the_engine_knobs():
    assert_page_bounds_match_knobs(JEMPage, JEMJob)


def test_rates_lookup_is_exact_between_scores():
    from app.plots.score_histogram import rates_at
    from ebm_engine.metrics.ood import acceptance_rates, rate_curves

    rng = np.random.default_rng(0)
    ids, ood = rng.normal(0, 1, 200), np.round(rng.normal(1, 1, 100), 1)
    thresholds = np.concatenate([[-10.0], np.unique(np.r_[ids, ood])])
    rates = rate_curves(ids, {"x": ood}, thresholds)
    for x in [-9.0, *rng.normal(0.5, 1.5, 50), *ood[:10], 9.0]:
        exact = acceptance_rates(ids, ood, x)
        got = rates_at(thresholds, rates, x)
        assert got["id"] == pytest.approx(exact["id_accepted"]) and got["x"] == pytest.approx(exact["ood_detected"])


def test_metrics_table_shades_the_better_score():
    from app.widgets.ood_table import OODMetricsTable

    table = OODMetricsTable()
    metrics = {"uniform": {"energy": {"auroc": 0.9, "aupr": 0.7, "fpr95": 0.2},
                           "softmax": {"auroc": 0.8, "aupr": 0.8, "fpr95": 0.1}}}
    table.update(metrics, ["uniform"], {"uniform": "uniform noise"})
    html = table.pane.object
    assert '<td id="ood-uniform-energy-auroc" class="ebm-better"' in html        # higher AUROC is better
    assert '<td id="ood-uniform-softmax-aupr" class="ebm-better"' in html
    assert '<td id="ood-uniform-softmax-fpr95" class="ebm-better"' in html       # lower FPR95 is better
    assert '<td id="ood-uniform-softmax-auroc">' in html and table.values["ood-uniform-energy-fpr95"] == "0.200"


def test_model_picker_scores_with_the_images_pages_conv_ebm():
    from app.pages.images import ImagesPage

    session = LabSession(inline=True)
    try:
        images, jem = ImagesPage(session), JEMPage(session)
        session.runner.command(images.job_id, "reset", {"buffer_size": 300, "batch_size": 32,
                                                         "quality_every_s": 1e9})
        session.runner.command(jem.job_id, "reset", {"eval_every_s": 0.0, "buffer_size": 300})
        pump(jem)
        jem.model = "images_conv_ebm"          # before the Images page has trained: refused, said why
        pump(jem)
        assert jem.alert.visible and "train a model there first" in jem.alert.object
        images.step_button.clicks += 1
        pump(images)
        jem.param.trigger("model")
        pump(jem)
        jem.step_button.clicks += 1
        pump(jem, 2)
        snap = jem.last_snapshot
        assert snap["model"] == "images_conv_ebm" and snap["borrowed_step"] == 1
        assert "ConvEBM" in jem.histogram.figure.xaxis.axis_label
        jem.session.act(jem.job_id, "probe_strokes", xs=[[0.5, 0.5]], ys=[[0.2, 0.8]])
        pump(jem)
        assert "an energy without classes" in jem.probe_text.object
    finally:
        session.stop()
