"""Test-wide settings: one intra-op thread, so small tensor ops do not fight the other processes
(the served app and its engine in the browser tests) for this machine's few cores; a cache folder
of the run's own (inherited by the served app), so tests never read or write the user's cache; pages
that sample without compiling in the background unless a test asks; and
pytest's temporary folder counted as a data folder, where tests write their data sets."""
import os
import tempfile

import pytest
import torch

torch.set_num_threads(1)
# bit-for-bit tests on a GPU (``tests/devices.py``): cuBLAS reads this when CUDA starts
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ["EBM_LAB_CACHE"] = tempfile.mkdtemp(prefix="ebm-lab-test-cache-")
# pages step their chains eagerly unless a test turns compiling on (``samplers.compiled.for_pages``):
# a compile in the background of every sampling job would fight the tests for the cores
os.environ["EBM_LAB_COMPILE"] = "off"


@pytest.fixture(scope="session", autouse=True)
def temporary_files_are_lab_data(tmp_path_factory):
    """Tests write their data sets under pytest's temporary folder: let the lab read from there."""
    extra = str(tmp_path_factory.getbasetemp())
    before = os.environ.get("EBM_LAB_DATA_DIRS")
    os.environ["EBM_LAB_DATA_DIRS"] = os.pathsep.join(p for p in (before, extra) if p)
    yield
    if before is None:
        os.environ.pop("EBM_LAB_DATA_DIRS", None)
    else:
        os.environ["EBM_LAB_DATA_DIRS"] = before
