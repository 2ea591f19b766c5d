"""Test-wide settings: one intra-op thread, so small tensor ops do not fight the other processes
(the served app and its engine in the browser tests) for this machine's few cores."""
import torch

torch.set_num_threads(1)
