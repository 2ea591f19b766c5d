"""The jobs, one module per page and named after it (``energy_landscape``, ``samplers`` and its Race, ``images``
and its two models, ``jem`` ...); the helpers they build snapshots with are in ``ebm_engine.runtime.views``."""
