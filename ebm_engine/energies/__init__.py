"""Energies: the ``Energy`` base, composition, and analytic 2D targets with exact log-densities."""
from ebm_engine.energies.base import Energy, FunctionEnergy, ScaledEnergy, SumEnergy, TemperedEnergy, as_energy
from ebm_engine.energies.frozen import frozen, frozen_copy

__all__ = ["Energy", "FunctionEnergy", "ScaledEnergy", "SumEnergy", "TemperedEnergy", "as_energy", "frozen",
           "frozen_copy"]
