"""The checkpoint panel of the pages, with an in-process runner: start from pretrained, save, reload."""
import pytest

from app.pages.energy_landscape import EnergyLandscapePage
from app.pages.score_matching import ScoreMatchingPage
from app.session import LabSession
from ebm_engine.checkpoints import load_checkpoint
from ebm_engine.checkpoint_store import ASSETS_FOLDER
from tests.app.page_helpers import pump

SMALL = {"n_train": 2000, "n_test": 500, "resolution": 48}


@pytest.fixture(autouse=True)
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path))
    return tmp_path


@pytest.fixture
def landscape():
    session = LabSession(inline=True)
    page = EnergyLandscapePage(session)
    session.runner.command(page.job_id, "reset", SMALL)
    session.drain()
    return page


def test_the_panel_appears_with_the_first_snapshot_and_lists_the_pretrained_models(landscape):
    panel = landscape.checkpoints
    assert panel.view.visible and not panel.pretrained_button.disabled
    assert "pretrained:mlp_ebm-8gaussians" in panel.select.options.values()
    assert all(ref.startswith("pretrained:mlp_ebm") for ref in panel.select.options.values())


def test_start_from_pretrained_shows_the_trained_model(landscape):
    page = landscape
    _, header = load_checkpoint(ASSETS_FOLDER / "mlp_ebm-8gaussians.pt")
    untrained_nll = float(page.readouts.values["nll_heldout"])
    page.checkpoints.pretrained_button.clicks += 1
    pump(page)
    assert page.step_count == header["step"] and page.last_snapshot["config"]["dataset"] == "8gaussians"
    assert "Loaded pretrained:mlp_ebm-8gaussians" in page.checkpoints.message.object
    trained_nll = float(page.readouts.values["nll_heldout"])
    assert trained_nll < untrained_nll - 0.5   # the surface now fits the data


def test_score_matching_starts_from_its_shipped_pair_of_energies():
    session = LabSession(inline=True)
    page = ScoreMatchingPage(session)
    session.runner.command(page.job_id, "reset", {"n_train": 500, "n_test": 200})
    pump(page)
    _, header = load_checkpoint(ASSETS_FOLDER / "score_ebm-8gaussians.pt")
    page.checkpoints.pretrained_button.clicks += 1
    pump(page)
    assert page.step_count == header["step"]
    assert "Loaded pretrained:score_ebm-8gaussians" in page.checkpoints.message.object


def test_pretrained_on_another_data_set_switches_the_page_setting_without_a_reset(landscape):
    page = landscape
    page.dataset = "2spirals"
    pump(page)
    assert page.step_count == 0
    page.checkpoints.pretrained_button.clicks += 1
    pump(page, 2)
    assert "mlp_ebm-2spirals" in page.checkpoints.message.object and page.step_count > 0
    page.checkpoints.select.value = "pretrained:mlp_ebm-8gaussians"
    page.checkpoints.load_button.clicks += 1
    pump(page, 2)
    assert page.dataset == "8gaussians"                       # the widget follows the loaded model ...
    assert page.step_count > 0 and page.last_snapshot["config"]["dataset"] == "8gaussians"  # ... not reset


def test_save_from_the_page_then_reload(landscape, folder):
    page = landscape
    page.step_button.clicks += 1
    pump(page)
    page.checkpoints.name_input.value = "my-first"
    page.checkpoints.save_button.clicks += 1
    pump(page)
    assert "Saved my-first (step 1)" in page.checkpoints.message.object
    assert (folder / "my-first.pt").is_file() and page.checkpoints.select.options["my-first (8gaussians, step 1)"]
    page.reset_button.clicks += 1
    pump(page)
    assert page.step_count == 0
    page.checkpoints.select.value = "my-first"
    page.checkpoints.load_button.clicks += 1
    pump(page)
    assert page.step_count == 1 and "Loaded my-first" in page.checkpoints.message.object


def test_a_bad_name_is_refused_on_the_page(landscape, folder):
    page = landscape
    page.checkpoints.name_input.value = "../outside"
    page.checkpoints.save_button.clicks += 1
    pump(page)
    assert page.checkpoints.message.object.startswith("**Not saved:") and not list(folder.iterdir())


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped", "none shipped"])
def test_the_pretrained_button_is_enabled_only_where_a_model_ships(shipped, tmp_path, monkeypatch):
    from ebm_engine import checkpoint_store

    if not shipped:
        monkeypatch.setattr(checkpoint_store, "ASSETS_FOLDER", tmp_path / "no-assets")
    session = LabSession(inline=True)
    page = ScoreMatchingPage(session)
    session.runner.command(page.job_id, "reset", {"n_train": 500, "n_test": 200})
    pump(page)
    assert page.checkpoints.view.visible and page.checkpoints.pretrained_button.disabled is not shipped


def test_pages_without_a_model_show_no_checkpoint_panel():
    from app.pages.samplers import SamplersPage

    session = LabSession(inline=True)
    try:
        assert not SamplersPage(session).checkpoints.view.visible
    finally:
        session.stop()


@pytest.mark.parametrize("page_class, reset, asset", [
    ("RBMPage", {"ais_betas": 200, "ais_chains": 30}, "rbm-digits"),
    ("JEMPage", {"buffer_size": 300}, "jem-digits"),
])
def test_start_from_pretrained_on_the_digit_pages(page_class, reset, asset):
    import app.pages.jem
    import app.pages.rbm

    cls = getattr(app.pages.rbm, page_class, None) or getattr(app.pages.jem, page_class)
    session = LabSession(inline=True)
    page = cls(session)
    session.runner.command(page.job_id, "reset", reset)
    pump(page)
    page.checkpoints.pretrained_button.clicks += 1
    pump(page)
    _, header = load_checkpoint(ASSETS_FOLDER / f"{asset}.pt")
    assert f"Loaded pretrained:{asset}" in page.checkpoints.message.object
    assert page.step_count == header["step"]
    if page_class == "JEMPage":   # the trained classifier at once: its accuracy is the recorded one
        assert page.last_snapshot["accuracy"] == pytest.approx(header["metrics"]["test_accuracy"])


def test_images_first_play_continues_the_pretrained_model_and_start_from_scratch_undoes_it():
    from app.pages.images import ImagesPage
    from tests.app.page_helpers import wait_until

    session = LabSession(inline=True)
    page = ImagesPage(session)
    page.view
    session.runner.command(page.job_id, "reset", {"buffer_size": 300, "batch_size": 16, "quality_every_s": 1e9,
                                                  "settle_chains": 16, "settle_steps": 3})
    pump(page)
    panel = page.checkpoints
    try:
        assert not panel.scratch_button.visible and page.step_count == 0
        page.play_button.clicks += 1
        wait_until(page, lambda: panel.scratch_button.visible)
        _, header = load_checkpoint(ASSETS_FOLDER / "conv_ebm-digits.pt")
        assert page.step_count >= header["step"]
        assert panel.message.object.startswith(f"Continuing from pretrained conv_ebm-digits (iteration {header['step']})")
        assert page.last_snapshot["started_from"] == f"pretrained conv_ebm-digits (iteration {header['step']})"
        panel.scratch_button.clicks += 1
        wait_until(page, lambda: page.step_count == 0 and page.state == "paused")
        assert not panel.scratch_button.visible and panel.message.object.startswith("Started from scratch")
        page.play_button.clicks += 1
        wait_until(page, lambda: page.step_count >= 2)
        assert page.step_count < header["step"] and not panel.scratch_button.visible
    finally:
        session.stop()


def test_the_scratch_button_sends_the_engine_action_where_the_page_gives_no_restart():
    from app.widgets.checkpoint_panel import CheckpointPanel

    sent = []
    panel = CheckpointPanel(lambda action, **arguments: sent.append(action))
    panel.update({"options": [], "message": "Continuing from pretrained x (iteration 5) — …", "started_from": "x"})
    assert panel.scratch_button.visible
    panel.scratch_button.clicks += 1
    assert sent == ["start_from_scratch"]
    panel.update({"options": [], "message": "", "started_from": None})
    assert not panel.scratch_button.visible
