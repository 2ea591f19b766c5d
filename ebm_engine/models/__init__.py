"""Learnable energies."""
from ebm_engine.models.jem import JEM, ClassConditionalEnergy
from ebm_engine.models.rbm import RBM
from ebm_engine.models.simple_ebm import SimpleEBM

__all__ = ["JEM", "ClassConditionalEnergy", "RBM", "SimpleEBM"]
