"""Learnable energies, and the generator of EBM + generator training."""
from ebm_engine.models.conv_ebm import ConvEBM
from ebm_engine.models.image_generator import ImageGenerator
from ebm_engine.models.rbm import RBM
from ebm_engine.models.simple_ebm import SimpleEBM

__all__ = ["ConvEBM", "ImageGenerator", "RBM", "SimpleEBM"]
