"""MCMC kernels in the init/step shape: chains are the batch dimension, tunables are step arguments.

Every kernel derives from ``Kernel`` (the shared ``init``); the Metropolis-adjusted ones decide with
``metropolis_select``. ``sample`` drives any kernel (by instance or by name in ``KERNELS``) on any
energy ``as_energy`` takes, with optional dual-averaging warm-up, and returns a ``SampleRun``.
``ShortRunChain`` / ``short_run_samples`` are the noise-initialised short-run generation mode of image EBMs.
"""
from ebm_engine.samplers.adaptation import DEFAULT_TARGET_ACCEPT, DualAveraging
from ebm_engine.samplers.annealed_langevin import annealed_langevin
from ebm_engine.samplers.driver import KERNELS, SampleRun, sample
from ebm_engine.samplers.hmc import HMC
from ebm_engine.samplers.kernel import Kernel
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.mala import MALA
from ebm_engine.samplers.metropolis import metropolis_select
from ebm_engine.samplers.short_run import ShortRunChain, noise_images, short_run_samples
from ebm_engine.samplers.state import SamplerState, StepInfo

__all__ = ["DEFAULT_TARGET_ACCEPT", "DualAveraging", "HMC", "KERNELS", "Kernel", "Langevin", "MALA", "SampleRun",
           "SamplerState", "ShortRunChain", "StepInfo", "annealed_langevin", "metropolis_select", "noise_images",
           "sample", "short_run_samples"]
