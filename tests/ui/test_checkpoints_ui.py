"""Checkpoints in headless Chromium: "Start from pretrained" shows a trained landscape; save and reload one."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from ebm_engine.checkpoint_store import checkpoints_folder
from tests.ui.helpers import go_to, number, open_lab

pytestmark = pytest.mark.ui


def test_start_from_pretrained_then_save_and_reload(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    expect(page.locator("#readout-nll_heldout")).not_to_have_text("–", timeout=60000)
    untrained = number(page, "#readout-nll_heldout")
    surface = page.locator("canvas:visible").first.screenshot()
    page.get_by_role("button", name="Start from pretrained").click()
    expect(page.get_by_text(re.compile(r"Loaded pretrained:mlp_ebm-8gaussians"))).to_be_visible(timeout=20000)
    expect(page.locator("#ebm-step")).not_to_have_text("0", timeout=10000)
    expect(page.locator("#readout-nll_heldout")).not_to_have_text(f"{untrained:.3f}", timeout=20000)
    assert number(page, "#readout-nll_heldout") < untrained - 0.5, "the pretrained model does not fit better"
    assert page.locator("canvas:visible").first.screenshot() != surface, "the surface did not change"
    trained_step = page.locator("#ebm-step").inner_text()

    name = f"ui-{uuid.uuid4().hex[:8]}"
    try:
        page.get_by_placeholder("my-model").fill(name)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text(f"Saved {name} (step {trained_step})")).to_be_visible(timeout=20000)
        page.get_by_role("button", name="Reset").click()
        expect(page.locator("#ebm-step")).to_have_text("0", timeout=10000)
        page.get_by_role("combobox").filter(has_text=re.compile("pretrained|step")).first.select_option(
            label=f"{name} (8gaussians, step {trained_step})")
        page.get_by_role("button", name="Load", exact=True).click()
        expect(page.get_by_text(f"Loaded {name} (mlp_ebm on 8gaussians, step {trained_step})")).to_be_visible(
            timeout=20000)
        expect(page.locator("#ebm-step")).to_have_text(trained_step, timeout=10000)
    finally:
        (checkpoints_folder() / f"{name}.pt").unlink(missing_ok=True)


def test_start_from_pretrained_on_the_symmetry_page(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Symmetry & Latents")
    expect(page.locator("#readout-nll_equivariant")).not_to_have_text("–", timeout=30000)
    untrained = page.locator("#readout-nll_equivariant").inner_text()
    page.get_by_role("button", name="Start from pretrained").click()
    expect(page.get_by_text(re.compile(r"Loaded pretrained:symmetry_latent_ebms-8gaussians"))).to_be_visible(
        timeout=20000)
    expect(page.locator("#ebm-step")).to_have_text("800", timeout=10000)
    expect(page.locator("#readout-nll_equivariant")).not_to_have_text(untrained, timeout=20000)
    # trained on one eighth of the set, the invariant energy fits all of it; the plain one does not
    assert number(page, "#readout-nll_equivariant") < 3.2 < number(page, "#readout-nll_plain")
