"""Metrics: partition functions (grid quadrature, importance sampling), grid NLL; OOD scores and metrics (``ood``)."""
from ebm_engine.metrics.partition import (
    energy_on_grid,
    grid_nll,
    log_density_grid,
    log_partition_grid,
    log_partition_importance,
    log_partition_mc,
)

__all__ = ["energy_on_grid", "grid_nll", "log_density_grid", "log_partition_grid",
           "log_partition_importance", "log_partition_mc"]
