"""Every page's title looks the same, whether its page was built at the first render or opened later."""
import pytest

from app.registry import PAGES
from tests.ui.helpers import go_to, open_lab

pytestmark = pytest.mark.ui

# The computed font size of the h3 whose text is the page's title, looked for inside shadow roots.
TITLE_SIZE_JS = """(title) => { let size = null;
  const walk = (root) => { for (const el of root.querySelectorAll('h3')) {
      if (el.textContent.trim() === title && el.getBoundingClientRect().width > 0) size = getComputedStyle(el).fontSize; }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot); };
  walk(document); return size; }"""


def test_every_page_title_has_the_first_pages_size(watched_page, lab_url):
    import app.pages  # noqa: F401  (registers the pages)

    page = watched_page
    open_lab(page, lab_url)
    sizes = {}
    for entry in PAGES:
        go_to(page, entry.name)
        page.wait_for_function(f"() => ({TITLE_SIZE_JS})({entry.name!r}) !== null", timeout=20000)
        sizes[entry.name] = page.evaluate(TITLE_SIZE_JS, entry.name)
    assert len(sizes) == 8 and len(set(sizes.values())) == 1, sizes
