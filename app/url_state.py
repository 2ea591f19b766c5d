"""Shareable links: a page's settings and knobs as URL query values, and back, validated one by one.

Only what a link can safely carry is shared: numbers, booleans and choices among a parameter's
options (never free text such as folder paths). Each incoming value is parsed by the parameter's
type, then checked by param's own validation; a value that fails is left out and named in a
problem list, so a hand-edited or hostile link never raises.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

import param

from ebm_engine.runtime import controls

#: query keys the shell itself uses
PAGE_KEY, THEME_KEY, PRESENT_KEY, FOCUS_KEY = "page", "theme", "present", "focus"
RESERVED = (PAGE_KEY, THEME_KEY, PRESENT_KEY, FOCUS_KEY)
TRUE_WORDS = controls.TRUE_WORDS
format_value, parse_value = controls.format_value, controls.parse_text


def shareable_names(owner: type[param.Parameterized] | param.Parameterized) -> tuple[str, ...]:
    """The settings and knobs of a page that a link carries (numbers, booleans, choices)."""
    kind = getattr(owner, "KIND_SETTING", "")   # a page's choice of job kind (its model) travels too
    return ((kind,) if kind else ()) + controls.shareable_names(owner)


def encode(owner: param.Parameterized, prefix: str = "") -> dict[str, str]:
    """The shareable values of ``owner`` that differ from their defaults, as query items."""
    return {prefix + name: format_value(getattr(owner, name)) for name in shareable_names(owner)
            if getattr(owner, name) != owner.param[name].default}


def decode(owner: type[param.Parameterized] | param.Parameterized, query: Mapping[str, str],
           prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """Valid values for ``owner`` from the query items under ``prefix``, and one problem line per invalid one."""
    names = shareable_names(owner)
    values, problems = {}, []
    for key, text in query.items():
        name = key[len(prefix):]
        if not key.startswith(prefix) or name not in names:
            continue
        try:
            values[name] = parse_value(owner.param[name], text)
        except ValueError as reason:
            problems.append(f"{key} = {shorten(text)} ({reason})")
    return values, problems


def unknown_keys(query: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """Query keys that neither the shell nor the page understands."""
    known = set(known) | set(RESERVED)
    return [f"{shorten(k)} (unknown setting)" for k in query if k not in known]


def query_string(query: Mapping[str, str]) -> str:
    """``?a=1&b=2`` from query items (empty when there are none)."""
    return "?" + urlencode(dict(query)) if query else ""


def parse_query(search: str) -> dict[str, str]:
    """Query items from a ``?a=1&b=2`` string; the last value of a repeated key wins."""
    return dict(parse_qsl(search.lstrip("?"), keep_blank_values=True))


def shorten(text: Any) -> str:
    """A quoted, truncated form of a link value for messages."""
    text = str(text)
    return repr(text if len(text) <= 24 else text[:24] + "…")


MARKDOWN_SPECIALS = "\\`*_{}[]()#+-.!|~"


def inert_markdown(text: str) -> str:
    """``text`` safe to show in a Markdown pane: HTML escaped and no character that Markdown would act on."""
    return "".join(f"&#{ord(c)};" if c in MARKDOWN_SPECIALS or c in "&<>\"'" else c for c in text)
