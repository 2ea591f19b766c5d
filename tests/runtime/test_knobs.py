"""Knobs and settings validated by their one declaration (``runtime.controls``), and parsed from text."""
import math

import param
import pytest

from ebm_engine.runtime import controls
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.controls import Knobs


class Declared(Controls):
    lr = param.Number(1e-3, bounds=(1e-5, 0.1), label="Learning rate", metadata=LOG_KNOB)
    steps = param.Integer(10, bounds=(1, 100), label="Steps", metadata=KNOB)
    mode = param.Selector(default="cd", objects={"CD": "cd", "Hinge": "hinge"}, label="Loss", metadata=KNOB)
    on = param.Boolean(True, label="On", metadata=KNOB)
    hidden = param.Integer(128, bounds=(8, 512), label="Hidden units")
    folder = param.String("", label="Folder")
    resolution = param.Integer(128, bounds=(16, 1024), precedence=-1)


def test_knobs_and_settings_come_from_the_declaration():
    assert controls.knob_names(Declared) == ("lr", "steps", "mode", "on")
    assert controls.setting_names(Declared) == ("hidden", "folder", "resolution")
    assert controls.setting_names(Declared, shown_only=True) == ("hidden", "folder")
    assert controls.shareable_names(Declared) == ("lr", "steps", "mode", "on", "hidden")
    assert controls.is_log(Declared.param.lr) and not controls.is_log(Declared.param.steps)


def test_defaults_and_overrides():
    knobs = Knobs(Declared, lr=0.01)
    assert knobs.as_dict() == {"lr": 0.01, "steps": 10, "mode": "cd", "on": True}


@pytest.mark.parametrize("changes, fragment", [
    ({"lr": 1.0}, "at most"), ({"lr": -1}, "at least"), ({"lr": math.nan}, "finite"), ({"lr": math.inf}, "finite"),
    ({"lr": "fast"}, "number"), ({"steps": 2.5}, "whole number"), ({"steps": 0}, "at least"),
    ({"mode": "other"}, "does not accept"), ({"on": "yes"}, "True or False"), ({"nope": 1}, "unknown knob"),
    ({"lr": True}, "number"), ({"steps": True}, "number"), ({"hidden": 64}, "unknown knob"),
])
def test_bad_values_raise_clear_errors(changes, fragment):
    knobs = Knobs(Declared)
    with pytest.raises(ValueError, match=fragment):
        knobs.update(**changes)


def test_update_is_all_or_nothing():
    knobs = Knobs(Declared)
    with pytest.raises(ValueError):
        knobs.update(lr=0.05, steps=1000)
    assert knobs["lr"] == 1e-3 and knobs["steps"] == 10


def test_whole_number_controls_take_integral_floats_and_booleans_take_0_and_1():
    knobs = Knobs(Declared)
    assert knobs.update(steps=20.0, on=0) == {"steps": 20, "on": False}
    assert isinstance(knobs["steps"], int)


def test_settings_are_checked_by_the_same_declaration():
    names = controls.setting_names(Declared)
    assert controls.checked(Declared, {"hidden": 64.0, "folder": "x"}, names) == {"hidden": 64, "folder": "x"}
    with pytest.raises(ValueError, match="hidden: must be at most 512"):
        controls.checked(Declared, {"hidden": 4096}, names)
    with pytest.raises(ValueError, match="unknown setting"):
        controls.checked(Declared, {"lr": 0.01}, names)


@pytest.mark.parametrize("name, text, value", [
    ("lr", "0.01", 0.01), ("steps", "7", 7), ("mode", "hinge", "hinge"), ("on", "no", False), ("hidden", "64", 64),
    ("folder", "data/mnist", "data/mnist"),
])
def test_text_is_parsed_by_the_declaration(name, text, value):
    assert controls.parse_text(Declared.param[name], text) == value


@pytest.mark.parametrize("name, text, reason", [
    ("lr", "nan", "finite"), ("lr", "1", "out of range"), ("steps", "2.5", "whole number"),
    ("mode", "sgd", "options"), ("on", "maybe", "yes/no"), ("lr", "", "empty"), ("lr", "1" * 100, "too long"),
])
def test_bad_text_names_its_reason(name, text, reason):
    with pytest.raises(ValueError, match=reason):
        controls.parse_text(Declared.param[name], text)


def test_command_line_assignments_are_parsed_and_unknown_keys_refused():
    knobs = controls.knob_names(Declared)
    assert controls.parse_assignments(Declared, [("lr", "0.002"), ("on", "1")], knobs, "knob") == {"lr": 0.002,
                                                                                                   "on": True}
    with pytest.raises(ValueError, match="unknown knob 'hidden'"):
        controls.parse_assignments(Declared, [("hidden", "64")], knobs, "knob")
    with pytest.raises(ValueError, match="knob steps = '0': out of range"):
        controls.parse_assignments(Declared, [("steps", "0")], knobs, "knob")
