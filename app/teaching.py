"""The "How it works" cards: each page's objective or update rule, knobs and papers, typeset offline.

Texts live in ``assets/teaching/<page>.md`` (Markdown with ``$…$`` and ``$$…$$`` math). Math is
rendered in the browser by the MathJax that Bokeh ships (SVG output, no web fonts, no CDN).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import markdown
import panel as pn

from app.widgets.export_panel import slug
from ebm_engine.assets import assets_folder

TEACHING = assets_folder() / "teaching"
MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.DOTALL)


def teaching_file(page_name: str) -> Path:
    return TEACHING / f"{slug(page_name)}.md"


@lru_cache(maxsize=None)
def teaching_html(page_name: str) -> str:
    """The page's text as HTML, with math kept as ``$$…$$`` (display) and ``\\(…\\)`` (inline) for MathJax."""
    text = teaching_file(page_name).read_text(encoding="utf-8")
    formulas: list[str] = []

    def hold(match: re.Match) -> str:
        display, inline = match.group(1), match.group(2)
        formulas.append(f"$${display}$$" if display is not None else f"\\({inline}\\)")
        return f"@@MATH{len(formulas) - 1}@@"

    body = markdown.markdown(MATH.sub(hold, text))
    return re.sub(r"@@MATH(\d+)@@", lambda m: formulas[int(m.group(1))], body)


def teaching_card(page_name: str) -> pn.Card:
    """A collapsed card titled "How it works" holding the page's text and typeset math."""
    text = pn.pane.LaTeX(teaching_html(page_name), renderer="mathjax", sizing_mode="stretch_width",
                         name="teaching-text", styles={"font-size": "1em", "line-height": "1.5"})
    return pn.Card(text, title="How it works", collapsed=True, sizing_mode="stretch_width",
                   css_classes=["ebm-teaching"])
