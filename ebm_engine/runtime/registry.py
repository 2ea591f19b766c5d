"""Job kinds by name, so the engine process can build a job from a picklable string."""
from __future__ import annotations

import importlib

JOB_KINDS: dict[str, str] = {
    "landscape": "ebm_engine.runtime.jobs.energy_landscape:LandscapeJob",
    "sampler": "ebm_engine.runtime.jobs.samplers:SamplerJob",
    "race": "ebm_engine.runtime.jobs.samplers_race:RaceJob",
    "constraints": "ebm_engine.runtime.jobs.constraints:ConstraintsJob",
    "rbm": "ebm_engine.runtime.jobs.rbm:RBMJob",
    "images": "ebm_engine.runtime.jobs.images_convebm:ConvEBMJob",
    "images_generator": "ebm_engine.runtime.jobs.images_generator:EBMGeneratorJob",
    "score_matching": "ebm_engine.runtime.jobs.score_matching:ScoreMatchingJob",
    "symmetry_latents": "ebm_engine.runtime.jobs.symmetry_latents:SymmetryLatentsJob",
    "jem": "ebm_engine.runtime.jobs.jem:JEMJob",
    "jem_classifier": "ebm_engine.runtime.jobs.jem:ClassifierJob",
    "jem_borrowed": "ebm_engine.runtime.jobs.jem_borrowed:BorrowedEnergyJob",
}


def job_class(kind: str):
    """The ``Job`` subclass registered under ``kind``, or named directly as ``"package.module:Class"``."""
    if kind not in JOB_KINDS and ":" not in kind:
        raise ValueError(f"unknown job kind {kind!r}; known: {sorted(JOB_KINDS)}")
    module, name = JOB_KINDS.get(kind, kind).split(":")
    return getattr(importlib.import_module(module), name)
