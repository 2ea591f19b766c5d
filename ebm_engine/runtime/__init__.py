"""Background runtime: jobs, live knobs, latest-wins snapshots, and the runners that host them."""
from ebm_engine.runtime.host import EngineHost
from ebm_engine.runtime.job import Job
from ebm_engine.runtime.knobs import KnobSpec, Knobs
from ebm_engine.runtime.registry import JOB_KINDS, job_class
from ebm_engine.runtime.runner import InlineRunner, ProcessRunner

__all__ = ["EngineHost", "InlineRunner", "JOB_KINDS", "Job", "KnobSpec", "Knobs", "ProcessRunner", "job_class"]
