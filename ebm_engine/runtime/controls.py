"""A job's controls, declared once with param: settings (a change rebuilds the job) and knobs (read live).

Each job declares a ``Controls`` subclass; every parameter's type, default, bounds or choices, label
and doc are written there and nowhere else. From that one declaration come the engine's validation
(``checked``), the page's parameters and widgets (a page class inherits the declaration), shareable
links and the command line's ``--set`` / ``--knob`` (``parse_text``).

- A knob carries ``metadata=KNOB``, or ``LOG_KNOB`` when it is best moved on a log scale (a step
  size spanning decades); every other parameter is a setting (``LOG`` for a setting on a log scale).
- A setting no user needs to see (buffer sizes, refresh periods) has ``precedence=-1``, param's own
  convention for parameters kept out of user interfaces: pages do not show it, links never carry it.
- A link carries the numbers, booleans and choices a user sees, never free text.
"""
from __future__ import annotations

import math
import re
from contextlib import suppress
from typing import Any, Iterable, Mapping

import param

from ebm_engine.config import check_number

KNOB = {"live": True}
LOG_KNOB = {"live": True, "scale": "log"}
LOG = {"scale": "log"}
#: the parameter types a link or a command line can carry as text
TEXT_TYPES = (param.Boolean, param.Number, param.Selector)
MAX_TEXT = 64
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class Controls(param.Parameterized):
    """Base of a job's declared settings and knobs (subclasses add parameters only)."""


def declared(owner: type[param.Parameterized] | param.Parameterized) -> dict[str, param.Parameter]:
    """The parameters of ``owner`` that ``Controls`` classes declare. A class that mixes a declaration
    into something else (a page: ``class Page(LabPage, JobControls)``) adds parameters of its own
    (what the page shows) that are not the job's."""
    cls = owner if isinstance(owner, type) else type(owner)   # an instance's own parameters name it as owner
    return {name: p for name, p in cls.param.objects("existing").items() if name != "name" and _declares(p.owner)}


def _declares(cls: Any) -> bool:
    return (isinstance(cls, type) and issubclass(cls, Controls) and cls is not Controls
            and all(issubclass(base, Controls) for base in cls.__bases__))


def is_knob(parameter: param.Parameter) -> bool:
    return bool((parameter.metadata or {}).get("live"))


def is_log(parameter: param.Parameter) -> bool:
    return (parameter.metadata or {}).get("scale") == "log"


def is_shown(parameter: param.Parameter) -> bool:
    return parameter.precedence is None or parameter.precedence >= 0


def knob_names(owner) -> tuple[str, ...]:
    return tuple(name for name, p in declared(owner).items() if is_knob(p))


def setting_names(owner, shown_only: bool = False) -> tuple[str, ...]:
    return tuple(name for name, p in declared(owner).items()
                 if not is_knob(p) and (is_shown(p) or not shown_only))


def shareable_names(owner) -> tuple[str, ...]:
    """The controls a link carries: shown numbers, booleans and choices."""
    return tuple(name for name, p in declared(owner).items() if is_shown(p) and isinstance(p, TEXT_TYPES))


def defaults(owner, names: Iterable[str]) -> dict[str, Any]:
    parameters = declared(owner)
    return {name: parameters[name].default for name in names}


def choices(parameter: param.Selector) -> list:
    """A selector's values (its objects may be a ``{label: value}`` dict)."""
    objects = parameter.objects
    return list(objects.values() if isinstance(objects, dict) else objects)


def checked(owner, values: Mapping[str, Any], names: Iterable[str], what: str = "setting") -> dict[str, Any]:
    """``values`` validated by their declarations, all or nothing; a clear ``ValueError`` otherwise.

    Integral floats become ints for whole-number controls, booleans are refused as numbers, and numbers
    must be finite; bounds, choices and types are param's own checks.
    """
    allowed = set(names)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; known: {sorted(allowed)}")
    parameters = declared(owner)
    clean = {name: _coerced(name, parameters[name], value) for name, value in values.items()}
    scratch = (owner if isinstance(owner, type) else type(owner))()
    for name, value in clean.items():
        try:
            scratch.param.update({name: value})
        except ValueError as error:
            reason = re.sub(r"^\w+ parameter '[^']*' ", "", str(error))
            raise ValueError(f"{what} {name}: {reason}") from None
    return clean


class Knobs:
    """Current values of the knobs that ``owner`` (a ``Controls`` class) declares, validated by their
    declarations: unknown names, wrong types and out-of-range values are a clear ``ValueError``, so the
    Python API is as safe as the bounded widgets of the app."""

    def __init__(self, owner: type[Controls], **overrides: Any):
        self.owner = owner
        self.names = knob_names(owner)
        self.values = defaults(owner, self.names)
        self.update(**overrides)

    def update(self, **changes: Any) -> dict[str, Any]:
        """Validate all changes first, then apply them together; returns the values that changed."""
        clean = checked(self.owner, changes, self.names, what="knob")
        changed = {name: v for name, v in clean.items() if self.values.get(name) != v}
        self.values.update(clean)
        return changed

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


def _coerced(name: str, parameter: param.Parameter, value: Any) -> Any:
    if isinstance(parameter, param.Boolean):
        return bool(value) if isinstance(value, int) and value in (0, 1) else value
    if isinstance(parameter, param.Number):
        check_number(name, value)   # the configs' rule: an int or a float, not a bool, finite
        if isinstance(parameter, param.Integer):
            if float(value) != int(value):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            return int(value)
        return float(value)
    return value


# --- controls as text: links and the command line ---------------------------------------------------
def format_value(value: Any) -> str:
    """One value as text (the inverse of ``parse_text``)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.12g}"        # 1.5, not 1.5000000000000004 from slider arithmetic
    return str(value)


def parse_text(parameter: param.Parameter, text: str) -> Any:
    """``text`` parsed for ``parameter`` and validated by it; ``ValueError`` with a short reason."""
    if not isinstance(text, str):
        raise ValueError("not text")
    text = text.strip()
    if not text:
        raise ValueError("empty")
    if len(text) > MAX_TEXT:
        raise ValueError("too long")
    if isinstance(parameter, param.Boolean):
        word = text.lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError("not a yes/no value")
        value: Any = word in TRUE_WORDS
    elif isinstance(parameter, param.Selector):
        value = _choice(parameter, text)
    elif isinstance(parameter, param.Integer):
        try:
            value = int(text)
        except ValueError:
            raise ValueError("not a whole number") from None
    elif isinstance(parameter, param.Number):
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(value):
            raise ValueError("not a finite number")
    elif isinstance(parameter, param.String):
        value = text
    else:
        raise ValueError("not shareable")
    try:
        parameter._validate(value)
    except (ValueError, TypeError) as error:
        reason = "out of range" if re.search(r"at (most|least)|bound", str(error)) else "not allowed"
        raise ValueError(reason) from None
    return value


def _choice(parameter: param.Selector, text: str) -> Any:
    """The option of a selector whose text (or numeric value) equals ``text``."""
    options = choices(parameter)
    for option in options:
        if format_value(option) == text:
            return option
    with suppress(ValueError):   # a number written another way: "0.10" for 0.1
        number = float(text)
        for option in options:
            if isinstance(option, (int, float)) and not isinstance(option, bool) and math.isclose(option, number):
                return option
    raise ValueError("not one of the options")


def parse_assignments(owner, pairs: Iterable[tuple[str, str]], names: Iterable[str],
                      what: str = "setting") -> dict[str, Any]:
    """``KEY=VALUE`` texts (the command line's) parsed by their declarations; ``ValueError`` names the key."""
    allowed = set(names)
    parameters = declared(owner)
    values = {}
    for key, text in pairs:
        if key not in allowed:
            raise ValueError(f"unknown {what} {key!r}; known: {sorted(allowed)}")
        try:
            values[key] = parse_text(parameters[key], text)
        except ValueError as reason:
            raise ValueError(f"{what} {key} = {text!r}: {reason}") from None
    return values
