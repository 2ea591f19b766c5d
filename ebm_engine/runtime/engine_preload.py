"""Modules an engine process needs, imported once by the fork server so each engine starts at once.

Importing torch, its optimisers (which pull in ``torch._dynamo``) and the job modules costs several
seconds of CPU. The fork server imports them once; every engine process forked from it inherits
them. Nothing here computes with tensors, so no thread pool or GPU context exists before the fork.
"""
import importlib

import torch  # noqa: F401
import torch._dynamo  # noqa: F401  (imported lazily by every optimiser's constructor)
import torch._inductor.compile_fx  # noqa: F401  (the compiled samplers' first compile: 1 s less; no thread)

from ebm_engine.runtime.registry import JOB_KINDS

for _target in JOB_KINDS.values():
    importlib.import_module(_target.split(":")[0])
