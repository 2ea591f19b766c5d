"""Hyper-parameters declared once with param: ``Config``, the base of the trainers' and kernels' settings.

A subclass declares each field as a param parameter: its type, default, bounds (``inclusive_bounds``
for open ends), ``allow_None``, choices (``param.Selector``) and pairs (``param.Range`` for two
numbers each within bounds, ``Interval`` for a ``(low, high)`` with ``low < high``). Param checks a
value against its declaration on construction, on ``replace`` and on every assignment, so a config is
never invalid and no config writes its own checks. ``Config`` adds the rule param leaves out, shared
with the runtime's controls: a number is an int or a float, never a boolean, and finite (also each
number of a pair).

A config behaves like a dataclass: keyword construction (an unknown keyword is a ``TypeError``),
``replace(**changes)`` for a validated copy, ``as_dict()``, ``names()``, equality by value, a repr of
its values, and copying and pickling. Error messages name the field: ``CDConfig.lr must be ...``.
"""
from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

import param

__all__ = ["POSITIVE", "Config", "Interval", "check_number"]

#: the bounds of a number that must be greater than 0: ``param.Number(1.0, **POSITIVE)``
POSITIVE = {"bounds": (0, None), "inclusive_bounds": (False, True)}

#: how param starts a message ("Number parameter 'CDConfig.lr' ..."), replaced by the field's name
_PARAM_PREFIX = r"^(Attribute '\w+' of )?\w+ parameter '[^']*' "


def check_number(name: str, value: Any) -> None:
    """Refuse ``value`` as a number unless it is an int or a float (not a bool) and finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


class Interval(param.Range):
    """A ``(low, high)`` pair with ``low < high``: param's ``Range`` bounds each end but does not order them."""

    def _validate(self, val):
        super()._validate(val)
        if val is not None and not val[0] < val[1]:
            owner = getattr(self.owner, "__name__", type(self.owner).__name__)
            raise ValueError(f"{owner}.{self.name} must be (low, high) with low < high, got {val!r}")


class Config(param.Parameterized):
    """Base of a set of hyper-parameters declared as param parameters (subclasses add parameters only)."""

    __hash__ = None   # equal by value and mutable, like a dataclass

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The declared fields, in declaration order."""
        return tuple(_fields(cls))

    def as_dict(self) -> dict[str, Any]:
        """The values by field name (as ``dataclasses.asdict``)."""
        return {name: getattr(self, name) for name in _fields(type(self))}

    def replace(self, **changes) -> Config:
        """A validated copy with ``changes`` applied; this config is left as it was."""
        known = _fields(type(self))
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown {type(self).__name__} setting(s) {unknown}; known: {sorted(known)}")
        return type(self)(**{**self.as_dict(), **changes})

    def __setattr__(self, name: str, value: Any) -> None:
        parameter = _fields(type(self)).get(name)
        if parameter is None:
            super().__setattr__(name, value)
            return
        label = f"{type(self).__name__}.{name}"
        if value is not None:
            if isinstance(parameter, param.Number):
                check_number(label, value)
            elif isinstance(parameter, param.NumericTuple) and isinstance(value, tuple):
                try:
                    for item in value:
                        check_number(label, item)
                except ValueError:
                    raise ValueError(f"{label} must hold finite numbers, got {value!r}") from None
        try:
            super().__setattr__(name, value)
        except ValueError as error:   # param's "Number parameter 'CDConfig.lr' must ..." as "CDConfig.lr must ..."
            raise ValueError(re.sub(_PARAM_PREFIX, f"{label} ", str(error))) from None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"

    __str__ = __repr__


@cache
def _fields(cls: type[Config]) -> dict[str, param.Parameter]:
    """The declared parameters of ``cls`` (param's own ``name`` is not a field)."""
    return {name: p for name, p in cls.param.objects("existing").items() if name != "name"}
