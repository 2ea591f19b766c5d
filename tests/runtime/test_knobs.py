import math

import pytest

from ebm_engine.runtime.knobs import KnobSpec, Knobs

SPECS = [KnobSpec("lr", 1e-3, low=1e-5, high=0.1), KnobSpec("steps", 10, kind="int", low=1, high=100),
         KnobSpec("mode", "cd", kind="choice", choices=("cd", "hinge")), KnobSpec("on", True, kind="bool")]


def test_defaults_and_overrides():
    knobs = Knobs.from_specs(SPECS, lr=0.01)
    assert knobs.as_dict() == {"lr": 0.01, "steps": 10, "mode": "cd", "on": True}


@pytest.mark.parametrize("changes, fragment", [
    ({"lr": 1.0}, "must lie in"), ({"lr": -1}, "must lie in"), ({"lr": math.nan}, "finite"),
    ({"lr": "fast"}, "number"), ({"steps": 2.5}, "integer"), ({"steps": 0}, "must lie in"),
    ({"mode": "other"}, "one of"), ({"on": "yes"}, "true or false"), ({"nope": 1}, "unknown knob"),
    ({"lr": True}, "number"),
])
def test_bad_values_raise_clear_errors(changes, fragment):
    knobs = Knobs.from_specs(SPECS)
    with pytest.raises(ValueError, match=fragment):
        knobs.update(**changes)


def test_update_is_all_or_nothing():
    knobs = Knobs.from_specs(SPECS)
    with pytest.raises(ValueError):
        knobs.update(lr=0.05, steps=1000)
    assert knobs["lr"] == 1e-3 and knobs["steps"] == 10


def test_int_knob_coerces_integral_floats():
    knobs = Knobs.from_specs(SPECS)
    assert knobs.update(steps=20.0) == {"steps": 20}
    assert isinstance(knobs["steps"], int)
