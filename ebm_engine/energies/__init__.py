"""Energies: the ``Energy`` base, composition, and analytic 2D targets with exact log-densities."""
from ebm_engine.energies.base import Energy, FunctionEnergy, ScaledEnergy, SumEnergy, TemperedEnergy

__all__ = ["Energy", "FunctionEnergy", "ScaledEnergy", "SumEnergy", "TemperedEnergy"]
