"""Train ConvEBM or JEM on several GPUs or nodes with DistributedDataParallel, one call per torchrun rank.

Each rank trains on its own shard of the data (rows ``rank::world_size``), keeps its own replay
buffer shard (``buffer_size / world_size`` chains) and draws from its own generator stream
(``seed + rank``); DDP averages the weight gradients, so every rank holds the same weights after
every step; when one rank sees a step diverge, all ranks roll back together (``process_group.any_rank_diverged``).
The training logic is the lab's own (``ContrastiveDivergence`` for ConvEBM,
``JEMTrainer`` for JEM). Rank 0 alone writes the checkpoint (``ebm_engine.checkpoints``), with every
rank's training state gathered into it (optimiser moments, replay-buffer shard, generator, epoch
position, under ``train.rank<r>.``). ``resume`` continues from one: exactly, as if never stopped, with
the same number of ranks; with another number, from the weights and step (optimiser moments and
replay buffers start afresh, and the summary says so).

    torchrun --nproc_per_node=4 -m ebm_engine.distributed --model conv_ebm --steps 2000 --out run.pt
"""
from __future__ import annotations

import gc
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ebm_engine.checkpoints import CheckpointError, load_checkpoint, load_weights, make_header, save_checkpoint
from ebm_engine.data.digits import load_digits_grey
from ebm_engine.device import make_generator
from ebm_engine.distributed.process_group import (RankContext, any_rank_diverged, join_process_group,
                                                  leave_process_group)
from ebm_engine.energies.base import Energy
from ebm_engine.models.conv_ebm import ConvEBM
from ebm_engine.models.jem import JEM
from ebm_engine.runtime.job import seeded
from ebm_engine.runtime.training_state import load_trainer_state, trainer_state
from ebm_engine.training.image_recipes import image_cd_trainer, lab_image_config
from ebm_engine.training.jem_trainer import JEMConfig, JEMTrainer

DDP_MODELS = ("conv_ebm", "jem")
DATA_SETS = ("digits",)
DEFAULT_BATCH = {"conv_ebm": 128, "jem": 64}
DEFAULT_BUFFER = {"conv_ebm": 10000, "jem": 5000}


class _MethodRouter(nn.Module):
    """DDP calls ``forward``; this forwards to the model's ``energy`` (via ``__call__``) or ``logits``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, method: str = "energy") -> torch.Tensor:
        return self.model(x) if method == "energy" else getattr(self.model, method)(x)


class ReplicatedModel(Energy):
    """``model`` with DDP gradient averaging; parameters and state dict are the model's own (``model.``).

    The trainers call ``energy(x)`` (and JEM's trainer ``logits(x)``) both to compute the loss and,
    with the weights frozen, inside Langevin sampling. A call goes through the DDP wrapper only when
    it builds a graph for the weights (so their gradients are averaged across ranks in ``backward``);
    sampling calls go to the plain module, so the chains of each rank run without any communication.
    """

    def __init__(self, model: Energy, device: torch.device):
        super().__init__()
        self.model = model
        self.shape = getattr(model, "shape", None)   # JEM's trainer reads the image shape
        ids = [device.index] if device.type == "cuda" else None
        # not registered as a submodule: the parameters would be listed twice in the state dict
        object.__setattr__(self, "ddp", DistributedDataParallel(_MethodRouter(model), device_ids=ids))

    def _builds_weight_graph(self) -> bool:
        return torch.is_grad_enabled() and any(p.requires_grad for p in self.model.parameters())

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.ddp(x, "energy") if self._builds_weight_graph() else self.model(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.ddp(x, "logits") if self._builds_weight_graph() else self.model.logits(x)


def default_model_args(model: str, shape: tuple[int, int], width: int = 32) -> dict[str, Any]:
    """Constructor arguments (JSON-able) of the model, as recorded in the checkpoint header."""
    if model == "conv_ebm":
        return {"image_shape": list(shape), "channels": 1, "width": width, "depth": 1, "activation": "swish",
                "spectral_norm": False, "checkpointing": False}
    return {"shape": list(shape), "n_classes": 10, "width": width}


# the key prefix of the weights in the lab's checkpoints (as the Images and JEM pages save them)
STATE_PREFIX = {"conv_ebm": "energy", "jem": "model"}


def build_model(model: str, model_args: dict[str, Any]) -> torch.nn.Module:
    """The model class of ``model`` built from header-style arguments."""
    if model == "conv_ebm":
        return ConvEBM(**{**model_args, "image_shape": tuple(model_args["image_shape"])})
    return JEM(**{**model_args, "shape": tuple(model_args["shape"])})


def parameter_checksum(module: torch.nn.Module) -> float:
    """A float64 digest of the weights: identical on ranks that hold identical weights."""
    with torch.no_grad():
        return float(sum((p.double() * (1.0 + 1e-3 * k)).sum() for k, p in enumerate(module.parameters())))


def _check_arguments(model: str, data: str, steps: int, seed: int) -> None:
    if model not in DDP_MODELS:
        raise ValueError(f"distributed training covers {DDP_MODELS}, not {model!r}")
    if data not in DATA_SETS:
        raise ValueError(f"distributed training uses the data sets {DATA_SETS}, not {data!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def _make_trainer(model: str, replicated: ReplicatedModel, split, ctx: RankContext, batch: int,
                  generator: torch.Generator, precision: str, sampler: str):
    """The lab's trainer for ``model`` on this rank's data shard, with its replay-buffer shard."""
    rows = slice(ctx.rank, None, ctx.world_size)
    buffer_size = max(batch, DEFAULT_BUFFER[model] // ctx.world_size)
    if model == "conv_ebm":
        images = split.train[rows].reshape(-1, 1, *split.shape).to(ctx.device)
        config = lab_image_config(batch_size=batch, buffer_size=buffer_size, precision=precision, sampler=sampler)
        return image_cd_trainer(replicated, images, config, generator)
    config = JEMConfig(batch_size=batch, buffer_size=buffer_size, precision=precision, sampler=sampler)
    return JEMTrainer(replicated, split.train[rows].to(ctx.device), split.train_labels[rows].to(ctx.device),
                      config, generator=generator)


def _metrics(model: str, stats, net: torch.nn.Module, split, device: torch.device) -> dict[str, float]:
    out = {"loss": stats.loss, "e_data": stats.e_data, "e_neg": stats.e_neg}
    if model == "jem":
        net.eval()
        with torch.no_grad():
            predicted = net.classify(split.test.to(device))
        out["test_accuracy"] = float((predicted.cpu() == split.test_labels).float().mean())
        net.train()
    return out


def gathered_training_state(trainer, generator: torch.Generator, ctx: RankContext) -> dict[str, torch.Tensor]:
    """Every rank's resumable training state, gathered on rank 0 (a collective call; other ranks get
    an empty dict)."""
    mine = {k: v.detach().cpu() for k, v in trainer_state(trainer, generator, f"rank{ctx.rank}").items()}
    everyone: list[dict[str, torch.Tensor] | None] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(mine, everyone, dst=0)
    return {k: v for part in everyone for k, v in part.items()} if ctx.is_main else {}


def train_ddp(model: str, data: str, steps: int, seed: int, out: str | Path | None, device: str | None = None,
              batch_size: int | None = None, resume: str | Path | None = None, *, width: int = 32,
              precision: str = "fp32", sampler: str = "eager", save_every: int = 0) -> dict[str, Any]:
    """Train ``model`` for ``steps`` more iterations on this rank; rank 0 writes ``out``.

    Call it in every process torchrun starts (or alone: a group of one). ``batch_size`` is per rank
    (the global batch is ``world_size`` times larger). Returns this rank's summary: rank, world size,
    device, step, metrics, seconds per iteration and a checksum of the weights (equal on all ranks).
    """
    _check_arguments(model, data, steps, seed)
    ctx = join_process_group(device)
    try:
        summary = _train_in_group(ctx, model, data, steps, seed, out, batch_size, resume, width, precision,
                                  sampler, save_every)
        gc.collect()   # DDP's reducer and pending Gloo work go before their process group does
        return summary
    finally:
        leave_process_group(ctx)


def _train_in_group(ctx: RankContext, model: str, data: str, steps: int, seed: int, out, batch_size, resume,
                    width: int, precision: str, sampler: str, save_every: int) -> dict[str, Any]:
    """The body of ``train_ddp`` inside the process group (its objects are freed on return)."""
    split = load_digits_grey(seed=0)
    shape = tuple(split.shape)
    model_args = default_model_args(model, shape, width)
    start_step = 0
    state = None
    if resume is not None:
        state, header = load_checkpoint(resume, expected_model=model)
        if header.get("data") != data:
            raise CheckpointError(f"{Path(resume).name} was trained on {header.get('data')!r}, not {data!r}")
        model_args, start_step = dict(header["model_args"]), int(header["step"])
    net = seeded(seed, lambda: build_model(model, model_args))   # same initial weights on every rank (as DDP's)
    if state is not None:
        load_weights(net, state, STATE_PREFIX[model], model)
    net = net.to(ctx.device)
    replicated = ReplicatedModel(net, ctx.device)
    generator = make_generator(seed + ctx.rank, ctx.device)   # one stream per rank
    batch = batch_size or DEFAULT_BATCH[model]
    trainer = _make_trainer(model, replicated, split, ctx, batch, generator, precision, sampler)
    trainer.step_count = start_step
    restored: list[str] = []
    if state is not None and header.get("world_size") == ctx.world_size:
        restored = load_trainer_state(trainer, generator, state, f"rank{ctx.rank}")
    if ctx.world_size > 1:   # a step one rank sees diverge is rolled back on every rank
        trainer.last_good.agree = any_rank_diverged(ctx.device)

    def save(stats) -> Path | None:
        """Rank 0 writes the checkpoint (every rank takes part in gathering the training state)."""
        if out is None or stats is None:
            return None
        training = gathered_training_state(trainer, generator, ctx)
        if not ctx.is_main:
            return None
        header = make_header(model, model_args, data, trainer.step_count,
                             _metrics(model, stats, net, split, ctx.device), seed=seed,
                             world_size=ctx.world_size, batch_per_rank=batch, precision=precision,
                             sampler=sampler, config={"model": model, "width": model_args["width"]})
        weights = {f"{STATE_PREFIX[model]}.{k}": v for k, v in net.state_dict().items()}   # as the pages save them
        return save_checkpoint(out, {**weights, **training}, header)

    stats = None
    began = time.perf_counter()
    for i in range(steps):
        stats = trainer.step()
        if save_every and (i + 1) % save_every == 0 and i + 1 < steps:
            save(stats)
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)
    elapsed = time.perf_counter() - began
    saved = save(stats)
    dist.barrier()   # the checkpoint exists before any rank returns
    checksum = parameter_checksum(net)
    checksums = [None] * ctx.world_size
    dist.all_gather_object(checksums, checksum)
    return {"rank": ctx.rank, "world_size": ctx.world_size, "device": str(ctx.device),
            "step": trainer.step_count, "checksum": checksum, "ranks_in_sync": len(set(checksums)) == 1,
            "metrics": {} if stats is None else _metrics(model, stats, net, split, ctx.device),
            "seconds_per_step": elapsed / steps if steps else math.nan,
            "divergences": trainer.divergences, "checkpoint": str(saved) if saved else None,
            "restored": restored}
