"""Settle a replay buffer under a loaded model: a few hundred chains from noise, then copies of them.

A weights-only checkpoint brings no replay buffer, and a buffer of noise is drawn 128 slots an
iteration: with 10,000 slots the chains a trained model continues would stay noise for a minute.
Settling every slot takes as long (10,000 chains × 60 steps, ~50 s on one core); settling a few
hundred chains and filling the buffer with copies of them takes a second or two and gives digits in
every slot at once. The shipped ConvEBM, 256 chains: after 30 steps FID 17 against the test digits
but grey noise around the strokes; after 60 steps (1.2 s on one quiet core) FID 18 and clean enough
to read, like a run from scratch after ~100 iterations; longer chains look cleaner still but lose
the digits' grey levels (FID 23 at 100 steps). The copies drift apart as training moves them
(Langevin noise, and the 5% of chains restarted from noise at every draw).
"""
from __future__ import annotations

import torch

from ebm_engine.runtime.live import run_for
from ebm_engine.samplers.short_run import ShortRunChain, noise_images
from ebm_engine.training.replay_buffer import ReplayBuffer


class BufferSettling:
    """``chains`` noise images moved ``steps`` Langevin steps under ``energy``, a slice at a time, then
    written round-robin over every slot of ``buffer``."""

    def __init__(self, energy, buffer: ReplayBuffer, chains: int, steps: int, step_size: float, noise_scale: float,
                 temperature: float, generator: torch.Generator | None):
        store = buffer.store
        start = noise_images(min(chains, buffer.capacity), tuple(store.shape[1:]), generator, store.device)
        self.buffer, self.steps = buffer, steps
        self.chain = ShortRunChain(energy, start, step_size, noise_scale, temperature, (0.0, 1.0), generator)

    def run(self, seconds: float | None = None) -> bool:
        """Move the chains for about ``seconds`` (None: to the end); True (and the buffer filled) when done."""
        chain = self.chain
        if not run_for(chain.advance(self.steps, chain.step_size, chain.temperature, chain.generator), seconds, None):
            return False
        settled = self.chain.x.detach()
        copies = -(-self.buffer.capacity // len(settled))
        self.buffer.store.copy_(settled.repeat(copies, *([1] * (settled.dim() - 1)))[: self.buffer.capacity])
        return True
