"""Background runtime: jobs, live knobs, latest-wins snapshots, and the runners that host them."""
from ebm_engine.runtime.host import EngineHost
from ebm_engine.runtime.job import Job
from ebm_engine.runtime.controls import KNOB, LOG, LOG_KNOB, Controls, Knobs
from ebm_engine.runtime.registry import JOB_KINDS, job_class
from ebm_engine.runtime.runner import InlineRunner, ProcessRunner

__all__ = ["KNOB", "LOG", "LOG_KNOB", "Controls", "EngineHost", "InlineRunner", "JOB_KINDS", "Job", "Knobs", "ProcessRunner",
           "job_class"]
