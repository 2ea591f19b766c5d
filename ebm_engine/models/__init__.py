"""Learnable energies."""
from ebm_engine.models.simple_ebm import SimpleEBM

__all__ = ["SimpleEBM"]
