"""Every page, the Race included, asks nothing of any host but the lab's own server."""
import pytest
from playwright.sync_api import expect

from app.registry import PAGES
from tests.ui.helpers import go_to, open_lab

pytestmark = pytest.mark.ui


def test_every_page_requests_only_the_server(watched_page, lab_url):
    import app.pages  # noqa: F401  (registers the pages)

    page = watched_page
    seen = []
    page.on("request", lambda r: seen.append(r.url))
    open_lab(page, lab_url)
    for entry in PAGES:
        go_to(page, entry.name)
        if entry.name == "Samplers":
            page.get_by_text("Race", exact=True).click()
            expect(page.get_by_role("button", name="Play").nth(1)).to_be_visible()
            page.get_by_text("Explore", exact=True).click()
        page.wait_for_timeout(300)
    assert len(PAGES) == 8 and seen, "no page was visited"
    assert all(url.startswith((lab_url, lab_url.replace("http", "ws"), "data:", "blob:")) for url in seen), \
        [u for u in seen if not u.startswith(lab_url)][:5]
