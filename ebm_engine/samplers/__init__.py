"""MCMC kernels in the init/step shape (``state``), the driver that runs any of them (``sample``) and the
short-run generation mode of image EBMs (``ShortRunChain`` / ``short_run_samples``)."""
from ebm_engine.samplers.adaptation import DEFAULT_TARGET_ACCEPT, DualAveraging
from ebm_engine.samplers.annealed_langevin import annealed_langevin
from ebm_engine.samplers.driver import KERNELS, SampleRun, sample
from ebm_engine.samplers.hmc import HMC
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.mala import MALA
from ebm_engine.samplers.short_run import ShortRunChain, noise_images, short_run_samples
from ebm_engine.samplers.state import Kernel, SamplerState, StepInfo, metropolis_select

__all__ = ["DEFAULT_TARGET_ACCEPT", "DualAveraging", "HMC", "KERNELS", "Kernel", "Langevin", "MALA", "SampleRun",
           "SamplerState", "ShortRunChain", "StepInfo", "annealed_langevin", "metropolis_select", "noise_images",
           "sample", "short_run_samples"]
