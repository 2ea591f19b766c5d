"""Learnable energies, and the generator of EBM + generator training."""
from ebm_engine.models.conv_ebm import ConvEBM
from ebm_engine.models.equivariant_ebm import EquivariantEBM
from ebm_engine.models.image_generator import ImageGenerator
from ebm_engine.models.jem import JEM, ClassConditionalEnergy
from ebm_engine.models.latent_ebm import LatentEBM
from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM, geometric_ladder
from ebm_engine.models.point_groups import PointGroup, cyclic, dihedral
from ebm_engine.models.rbm import RBM
from ebm_engine.models.simple_ebm import SimpleEBM

__all__ = ["ClassConditionalEnergy", "ConvEBM", "EquivariantEBM", "ImageGenerator", "JEM", "LatentEBM",
           "NoiseConditionalEBM", "PointGroup", "RBM", "SimpleEBM", "cyclic", "dihedral", "geometric_ladder"]
