"""Shareable links: parsing and validating query values, and every page's round trip through the shell."""
import math

import param
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.pages  # noqa: F401  (registers the pages)
from app import url_state
from app.registry import PAGES
from app.shell import LabShell
from ebm_engine.runtime.controls import KNOB, Controls
from tests.app.stub_session import StubSession

PAGE_NAMES = [p.name for p in PAGES]


class Knobs(Controls):
    choice = param.Selector(default=3e-3, objects=[1e-3, 3e-3, 1e-2])
    count = param.Integer(default=2, bounds=(1, 10))
    rate = param.Number(default=0.5, bounds=(0.0, 1.0), metadata=KNOB)
    flag = param.Boolean(default=False, metadata=KNOB)
    folder = param.String(default="")
    hidden = param.Integer(default=3, bounds=(1, 10), precedence=-1)


def test_shareable_names_skip_free_text_and_hidden_settings():
    assert url_state.shareable_names(Knobs) == ("choice", "count", "rate", "flag")


@pytest.mark.parametrize("name, text, value", [
    ("choice", "0.01", 1e-2), ("choice", "1e-3", 1e-3), ("count", " 7 ", 7), ("rate", "0.25", 0.25),
    ("flag", "true", True), ("flag", "0", False)])
def test_valid_values_parse(name, text, value):
    assert url_state.parse_value(Knobs.param[name], text) == value


@pytest.mark.parametrize("name, text, reason", [
    ("rate", "nan", "finite"), ("rate", "inf", "finite"), ("rate", "-0.5", "out of range"),
    ("rate", "1e308", "out of range"), ("rate", "abc", "not a number"), ("count", "2.5", "whole"),
    ("count", "11", "out of range"), ("count", "", "empty"), ("choice", "0.5", "options"),
    ("flag", "maybe", "yes/no"), ("rate", "1" * 100, "too long"), ("choice", "日本", "options")])
def test_invalid_values_raise_with_a_reason(name, text, reason):
    with pytest.raises(ValueError, match=reason):
        url_state.parse_value(Knobs.param[name], text)


def test_encode_writes_only_changed_values_and_decode_reads_them_back():
    knobs = Knobs(choice=1e-2, flag=True)
    query = url_state.encode(knobs, "k.")
    assert query == {"k.choice": "0.01", "k.flag": "1"}
    values, problems = url_state.decode(Knobs, {**query, "k.rate": "nan", "other": "1"}, "k.")
    assert values == {"choice": 1e-2, "flag": True}
    assert problems == ["k.rate = 'nan' (not a finite number)"]
    assert url_state.parse_query(url_state.query_string({"a b": "ü&"})) == {"a b": "ü&"}


def other_value(parameter: param.Parameter, current):
    """A valid value different from ``current`` (for the round trip)."""
    if isinstance(parameter, param.Boolean):
        return not current
    if isinstance(parameter, param.Selector):
        objects = list(parameter.objects.values() if isinstance(parameter.objects, dict) else parameter.objects)
        return next(o for o in reversed(objects) if o != current)
    low, high = parameter.bounds or (None, None)
    if isinstance(parameter, param.Integer):
        return current + 1 if high is None or current + 1 <= high else current - 1
    candidate = current * 0.5 + (low if low is not None else 0.0) * 0.5
    return candidate if candidate != current else (current + high) / 2


def scene_owners(page):
    return {"": page, **page.url_sections()}


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_round_trips_through_the_url(name):
    shell = LabShell(StubSession(), query={"page": name})
    page = shell.current
    expected = {}
    for prefix, owner in scene_owners(page).items():
        changes = {n: other_value(owner.param[n], getattr(owner, n)) for n in url_state.shareable_names(owner)}
        owner.param.update(**changes)
        expected.update({prefix + n: v for n, v in changes.items()})
    assert expected, f"{name} shares nothing"
    query = shell.url_query()
    assert query["page"] == name
    restored = LabShell(StubSession(), query=url_state.parse_query(url_state.query_string(query)))
    assert restored.nav.value == name and not restored.link_problems
    for prefix, owner in scene_owners(restored.current).items():
        for n in url_state.shareable_names(owner):
            value, want = getattr(owner, n), expected[prefix + n]
            if isinstance(want, float):
                assert value == pytest.approx(want, rel=1e-9), (name, prefix + n)
            else:
                assert value == want, (name, prefix + n)


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_number_rejects_nan_inf_and_huge_values_with_a_notice(name):
    owner_cls = next(p.factory for p in PAGES if p.name == name)
    numbers = [n for n in url_state.shareable_names(owner_cls)
               if isinstance(owner_cls.param[n], param.Number) and not isinstance(owner_cls.param[n], param.Selector)]
    texts = ("nan", "inf", "-inf", "1e400", "-1e308")
    query = {"page": name, **{n: texts[i % len(texts)] for i, n in enumerate(numbers)}}
    shell = LabShell(StubSession(), query=query)
    page = shell.current
    for n in numbers:
        assert getattr(page, n) == owner_cls.param[n].default
        assert f"{n} = " in shell.link_problems_text()
    assert shell.link_notice.visible or not numbers


HOSTILE = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "-1", "1e308", "-1e308", "", " ", "0", "1", "true", "0x10",
                     "[1, 2]", "None", "<script>alert(1)</script>", "１２", "1_000", "٣", "∞", "\x00", "%00"]),
    st.text(max_size=80),
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr))


@st.composite
def hostile_links(draw):
    name = draw(st.sampled_from(PAGE_NAMES))
    entry = next(p for p in PAGES if p.name == name)
    keys = list(url_state.shareable_names(entry.factory))
    if name == "Samplers":
        from app.pages.samplers_race import RaceSection
        keys += ["race." + n for n in url_state.shareable_names(RaceSection)]
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=len(keys), unique=True))
    query = {k: draw(HOSTILE) for k in chosen}
    if draw(st.booleans()):
        query[draw(st.text(min_size=1, max_size=12))] = draw(HOSTILE)
    query["page"] = draw(st.sampled_from([name, name, "", "Nope", "\u202e"]))
    return query


def section_classes(name):
    owner = next(p.factory for p in PAGES if p.name == name)
    sections = {"": owner}
    if name == "Samplers":
        from app.pages.samplers_race import RaceSection
        sections["race."] = RaceSection
    return sections


@settings(max_examples=300, deadline=None)
@given(hostile_links())
def test_hostile_values_decode_to_valid_values_or_named_problems(query):
    for prefix, owner in section_classes(query.get("page", "")).items() if query["page"] in PAGE_NAMES else ():
        values, problems = url_state.decode(owner, query, prefix)
        for key, text in query.items():
            name = key[len(prefix):]
            if not key.startswith(prefix) or name not in url_state.shareable_names(owner):
                continue
            if name in values:
                owner.param[name]._validate(values[name])
                assert not (isinstance(values[name], float) and not math.isfinite(values[name]))
            else:
                assert any(p.startswith(f"{key} = ") for p in problems), (key, text, problems)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_links())
def test_hostile_links_never_raise_and_every_rejected_value_is_named(query):
    shell = LabShell(StubSession(), query=query)
    page = shell.current
    assert page.TITLE == (query["page"] if query["page"] in PAGE_NAMES else PAGE_NAMES[0])
    if query["page"] not in PAGE_NAMES and query["page"]:
        assert "page = " in shell.link_problems_text()
    if page.TITLE != query["page"]:
        return
    for prefix, owner in scene_owners(page).items():
        for n in url_state.shareable_names(owner):
            key = prefix + n
            if key not in query:
                continue
            try:
                value = url_state.parse_value(owner.param[n], query[key])
            except ValueError:
                assert shell.link_notice.visible and f"{key} = " in shell.link_problems_text()
                assert getattr(owner, n) == owner.param[n].default
            else:
                assert getattr(owner, n) == value
                assert not (isinstance(value, float) and not math.isfinite(value))


def test_link_notice_shows_hostile_text_inert():
    text = url_state.inert_markdown("x = '[a](javascript:alert(1))' <b>*bold*</b> `code`")
    assert not any(c in text for c in "[]()<>*`'")
    assert "&#91;a&#93;" in text and "&#60;b&#62;" in text
