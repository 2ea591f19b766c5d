"""Metrics: partition functions (grid quadrature, importance sampling), grid NLL, sample quality of generated
digits (Fréchet distance, inception score), OOD scores and metrics (``ood``)."""
from ebm_engine.metrics.partition import (
    energy_on_grid,
    grid_nll,
    log_density_grid,
    log_partition_grid,
    log_partition_importance,
    log_partition_mc,
)
from ebm_engine.metrics.sample_quality import (
    SampleQuality,
    digit_classifier,
    frechet_distance,
    inception_score,
)

__all__ = ["SampleQuality", "digit_classifier", "frechet_distance", "inception_score",
           "energy_on_grid", "grid_nll", "log_density_grid", "log_partition_grid",
           "log_partition_importance", "log_partition_mc"]
