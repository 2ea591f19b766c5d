"""MCMC kernels in the init/step shape: chains are the batch dimension, tunables are step arguments."""
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.state import SamplerState, StepInfo

__all__ = ["Langevin", "SamplerState", "StepInfo"]
