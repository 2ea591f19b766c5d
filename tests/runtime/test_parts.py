"""Versioned snapshot parts: a part is made again only when its key changes, and its version says so."""
import numpy as np
import pytest
import torch

from ebm_engine.runtime.jobs import energy_landscape as landscape
from ebm_engine.runtime.jobs.energy_landscape import LandscapeJob
from ebm_engine.runtime.parts import Parts, same_object
from ebm_engine.runtime.registry import job_class

TOY = {"n_train": 500, "n_test": 200, "resolution": 24, "readout_every_s": 1e9}
IMAGES = {"buffer_size": 200, "batch_size": 16, "width": 8, "quality_every_s": 1e9, "generate_chains": 4,
          "settle_chains": 8, "settle_steps": 2}
JEM = {"buffer_size": 100, "batch_size": 16, "width": 8, "eval_every_s": 1e9}
KINDS = {"landscape": (TOY, {}), "sampler": ({"resolution": 24}, {}), "race": ({"resolution": 24}, {}),
         "constraints": ({"resolution": 24}, {}), "rbm": ({"ais_every_s": 1e9}, {}),
         "images": (IMAGES, {"langevin_steps": 2}), "images_generator": (IMAGES, {"langevin_steps": 2}),
         "jem": (JEM, {"sgld_steps": 2}), "jem_classifier": (JEM, {"sgld_steps": 2}),
         "score_matching": (TOY, {}),
         "symmetry_latents": ({**TOY, "resolution": 16, "nll_resolution": 16, "latent_resolution": 16}, {})}


def test_a_part_is_made_again_only_when_its_key_changes():
    parts, made = Parts(), []

    def make(value):
        made.append(value)
        return value

    assert parts.part("grid", ("w", 1.0), lambda: make("a")) == "a"
    first = parts.version("grid")
    assert parts.part("grid", ("w", 1.0), lambda: make("b")) == "a" and parts.version("grid") == first
    assert parts.part("grid", ("w", 2.0), lambda: make("c")) == "c" and parts.version("grid") > first
    assert made == ["a", "c"]


def test_versions_name_the_parts_asked_for_and_never_repeat():
    parts = Parts()
    parts.part("a", 1, lambda: 1)
    parts.put("b", {"b": 2})
    assert parts.get("b") == {"b": 2} and parts.get("missing", {}) == {}
    assert set(parts.versions()) == {"a", "b"}
    parts.asked.clear()
    parts.part("a", 1, lambda: 1)
    assert set(parts.versions()) == {"a"}
    again = Parts()                 # a rebuilt job's parts: new versions, above every earlier one
    again.part("a", 1, lambda: 1)
    assert again.version("a") > max(parts.version("a"), parts.version("b"))
    assert parts.version("a") != parts.version("b")


def test_same_object_keys_identity_and_writes_in_place_not_content():
    x = torch.zeros(3)
    key = same_object(x)
    assert key == same_object(x) and key != same_object(x.clone())
    x.add_(0.0)                    # written in place, even with the same numbers
    assert key != same_object(x)
    state = object()
    assert same_object(state) == same_object(state) and same_object(state) != same_object(object())


def test_a_paused_landscape_draws_nothing_again_and_a_temperature_redraws_the_density_only(monkeypatch):
    job = LandscapeJob(TOY, device="cpu")
    job.step()
    job.snapshot()
    calls = []
    draw = landscape.energy_on_grid
    monkeypatch.setattr(landscape, "energy_on_grid", lambda *a, **k: calls.append(1) or draw(*a, **k))
    first, second = job.snapshot(), job.snapshot()
    assert calls == [] and first["versions"] == second["versions"]   # nothing made again
    assert set(first["versions"]) == {"energy", "density", "data", "negatives"}
    assert second["energy"] is first["energy"] and second["negatives"] is first["negatives"]
    job.set_knobs(temperature=2.0)
    hot = job.snapshot()
    changed = {k for k in hot["versions"] if hot["versions"][k] != second["versions"][k]}
    assert changed == {"density"} and calls == []
    assert not np.array_equal(hot["density"], second["density"])
    job.step()
    trained = job.snapshot()
    changed = {k for k in trained["versions"] if trained["versions"][k] != hot["versions"][k]}
    assert changed == {"energy", "density", "negatives"} and calls == [1]


def test_a_reset_job_sends_new_versions_of_every_part():
    job = LandscapeJob(TOY, device="cpu")
    before = job.snapshot()["versions"]
    job.reset()
    after = job.snapshot()["versions"]
    assert set(after) == set(before) and min(after.values()) > max(before.values())


def test_a_spawn_moves_the_chains_part_and_a_constraint_the_surface_and_outlines():
    sampler = job_class("sampler")({"resolution": 24}, device="cpu")
    before = sampler.snapshot()["versions"]
    sampler.act("spawn", x=0.5, y=0.5)
    after = sampler.snapshot()["versions"]
    assert {k for k in after if after[k] != before[k]} == {"chains"}
    constraints = job_class("constraints")({"resolution": 24}, device="cpu")
    before = constraints.snapshot()["versions"]
    constraints.act("set_weight", index=1, weight=4.0)
    after = constraints.snapshot()["versions"]
    assert {k for k in after if after[k] != before[k]} == {"energy", "density", "constraints", "chains",
                                                           "violations"}


@pytest.fixture(scope="module")
def jobs():
    built = {}
    for kind, (config, knobs) in KINDS.items():
        built[kind] = job_class(kind)(config, knobs, device="cpu", peers=lambda: built)
    built["images"].step()
    built["jem_borrowed"] = job_class("jem_borrowed")({"eval_every_s": 1e9}, device="cpu", peers=lambda: built)
    yield built
    for job in built.values():
        job.close()


@pytest.mark.parametrize("kind", [*KINDS, "jem_borrowed"])
def test_every_job_repeats_its_parts_while_nothing_moves_and_versions_them_when_it_steps(jobs, kind):
    job = jobs[kind]
    first, second = job.snapshot(), job.snapshot()
    assert first["versions"] and first["versions"] == second["versions"]
    job.step()
    job.snapshot()
    stepped = job.snapshot()   # a second one: surfaces timed by a refresh are redrawn once training rests
    assert any(stepped["versions"].get(k) != v for k, v in first["versions"].items())
