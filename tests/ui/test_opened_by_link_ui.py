"""A page opened straight from a link (``?page=…``) shows every plot whole: no data change made while
the browser was still loading is lost (the trails' colours and the surface's placement once were)."""
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import open_lab

pytestmark = pytest.mark.ui

# data sources whose columns disagree in length: Bokeh draws none of their glyphs
INCONSISTENT_SOURCES_JS = """() => {
  const bad = [];
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== 'ColumnDataSource') continue;
    const columns = m.data instanceof Map ? [...m.data.entries()] : Object.entries(m.data);
    const lengths = new Set(columns.map(([, v]) => (v && v.shape) ? v.shape[0] : v.length));
    if (lengths.size > 1) bad.push(m.id + ': ' + columns.map(([k, v]) => k + '=' + ((v && v.shape) ? v.shape[0] : v.length)).join(' '));
  }
  return bad;
}"""


@pytest.mark.parametrize("name", ["Samplers", "Symmetry & Latents"])
def test_a_page_opened_by_link_has_no_half_sent_plot(watched_page, lab_url, name):
    page = watched_page
    open_lab(page, lab_url, f"?page={quote(name)}")
    expect(page.locator("#ebm-status")).to_contain_text(name)
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=20000)
    page.wait_for_timeout(2000)
    assert page.evaluate(INCONSISTENT_SOURCES_JS) == []
