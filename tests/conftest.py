"""Test-wide settings: one intra-op thread, so small tensor ops do not fight the other processes
(the served app and its engine in the browser tests) for this machine's few cores; and a cache folder
of the run's own (inherited by the served app), so tests never read or write the user's cache."""
import os
import tempfile

import torch

torch.set_num_threads(1)
os.environ["EBM_LAB_CACHE"] = tempfile.mkdtemp(prefix="ebm-lab-test-cache-")
