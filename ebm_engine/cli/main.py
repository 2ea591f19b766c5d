"""``ebm-lab`` sub-commands. Exit codes: 0 done, 1 the work failed (e.g. disk full), 2 bad input.

Bad input (arguments, an unknown model or data set, a missing folder, a checkpoint that is missing,
damaged or of another model) gives one line on stderr and no traceback.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ebm_engine import catalog, checkpoints
from ebm_engine.catalog import CatalogError
from ebm_engine.checkpoints import CheckpointError
from ebm_engine.cli.parser import UsageError, build_parser
from ebm_engine.cli.serve import command_serve
from ebm_engine.runtime import controls
from ebm_engine.runtime.mosaic import tile
from ebm_engine.runtime.exports import mosaic_png
from ebm_engine.runtime.registry import job_class

EXIT_FAILED, EXIT_USAGE = 1, 2


def format_metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def output_path(text: str, suffix: str) -> Path:
    path = Path(text)
    if path.suffix != suffix:
        path = path.with_name(path.name + suffix)
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist")
    return path


# --- train -------------------------------------------------------------------------------------
def command_train(args) -> int:
    catalog.entry(args.model)
    out = output_path(args.out, ".pt")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:   # launched by torchrun: data-parallel training
        from ebm_engine.distributed.ddp_train import train_ddp

        done = checkpoints.read_header(args.resume)["step"] if args.resume else 0   # --steps counts from zero
        try:
            summary = train_ddp(model=args.model, data=args.data or "digits", steps=max(0, args.steps - done),
                                seed=args.seed, out=str(out), device=args.device, batch_size=args.batch_size,
                                resume=args.resume)
        except CheckpointError:
            raise
        except ValueError as exc:   # unknown model or data for distributed training
            raise UsageError(str(exc)) from None
        if summary["rank"] == 0:
            sync = "in sync" if summary["ranks_in_sync"] else "OUT OF SYNC"
            if args.resume:
                sync += (f"; resumed {', '.join(summary['restored'])} as saved" if summary["restored"] else
                         "; resumed weights and step only: the checkpoint was written by another number of "
                         "processes, so optimiser moments and replay buffers start afresh")
            print(f"trained {args.model} with {summary['world_size']} processes ({sync}, weight checksum "
                  f"{summary['checksum']:.12g}): step {summary['step']}, {summary['seconds_per_step']:.3g} "
                  f"s/iteration, {format_metrics(summary['metrics'])} -> {out}")
        return 0 if summary["ranks_in_sync"] else 1
    declaration = job_class(catalog.entry(args.model).job_kind).CONTROLS
    try:   # parsed and checked by the job's own declarations, as the page's widgets and links are
        settings = controls.parse_assignments(declaration, args.set, controls.setting_names(declaration))
        knobs = controls.parse_assignments(declaration, args.knob, controls.knob_names(declaration), "knob")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.batch_size:
        settings["batch_size"] = args.batch_size
    if args.resume:
        job = catalog.job_from_checkpoint(args.resume, expected_model=args.model, device=args.device)
        recorded = job.checkpoint_header()["data"]
        if args.data and args.data != recorded:
            raise UsageError(f"{args.resume} was trained on {recorded!r}, not {args.data!r}")
        if settings:
            raise UsageError("--set cannot change a resumed model; its settings come from the checkpoint")
    else:
        job = catalog.build_job(args.model, args.data, args.seed, args.device, settings, args.data_folder)
    try:
        job.set_knobs(**knobs)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    start, started = job.step_count, time.perf_counter()

    def save(metrics: dict[str, float] | None) -> None:
        header = job.checkpoint_header(metrics=metrics or {}, saved_from="cli")
        checkpoints.save_checkpoint(out, job.model_state(training=not args.weights_only), header)

    with tqdm(total=args.steps, initial=start, desc=f"train {args.model}", unit="it", disable=args.quiet,
              file=sys.stderr, dynamic_ncols=True, leave=False) as bar:
        def on_step(j) -> None:
            bar.update(1)
            if args.save_every and j.step_count % args.save_every == 0:
                save(None)

        catalog.train(job, max(0, args.steps - start), on_step)
    elapsed = time.perf_counter() - started
    if not args.quiet:
        print(f"evaluating {args.model} …", file=sys.stderr)
    metrics = catalog.evaluate(job, args.seed)
    save(metrics)
    data = job.checkpoint_header()["data"]
    print(f"trained {args.model} on {data}: steps {start}→{job.step_count} in {elapsed:.1f} s "
          f"on {job.device}, {format_metrics(metrics)} -> {out}")
    return 0


# --- sample and evaluate -------------------------------------------------------------------------
def command_sample(args) -> int:
    out = output_path(args.out, ".npz")
    job = catalog.job_from_checkpoint(args.checkpoint, expected_model=args.model, device=args.device)
    started = time.perf_counter()
    samples = catalog.sample(job, args.n, args.seed, args.steps)
    header = job.checkpoint_header()
    np.savez(out, samples=samples, model=header["model"], data=str(header["data"]), step=header["step"],
             seed=args.seed)
    written = [str(out)]
    if samples.ndim == 3:
        png = out.with_suffix(".png")
        png.write_bytes(mosaic_png(tile(samples, cols=int(np.ceil(np.sqrt(len(samples)))))))
        written.append(str(png))
    print(f"sampled {args.n} from {header['model']} (step {header['step']}) in {time.perf_counter() - started:.1f} s "
          f"-> {', '.join(written)}")
    return 0


def command_evaluate(args) -> int:
    job = catalog.job_from_checkpoint(args.checkpoint, expected_model=args.model, device=args.device)
    started = time.perf_counter()
    metrics = catalog.evaluate(job, args.seed)
    header = job.checkpoint_header()
    for key, value in metrics.items():
        print(f"{key:>20} {value:.6g}")
    print(f"evaluated {header['model']} on {header['data']} (step {header['step']}, seed {args.seed}) in "
          f"{time.perf_counter() - started:.1f} s: {format_metrics(metrics)}")
    return 0


def command_list(args) -> int:
    width = max(len(name) for name in catalog.MODELS) + 1
    for entry in catalog.MODELS.values():
        print(f"{entry.name:<{width}} {entry.summary}\n{'':<{width}} data: {', '.join(entry.datasets)}; "
              f"evaluate: {entry.figure}")
    return 0


COMMANDS = {"train": command_train, "sample": command_sample, "evaluate": command_evaluate, "list": command_list,
            "serve": command_serve}


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; returns the exit code (the console script exits with it)."""
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        return COMMANDS[args.command](args)
    except (UsageError, CatalogError, CheckpointError) as exc:   # a failed save is failed work; the rest, bad input
        print(f"ebm-lab: error: {exc}", file=sys.stderr)
        return EXIT_FAILED if isinstance(exc, CheckpointError) and str(exc).startswith("could not save") else EXIT_USAGE
    except KeyboardInterrupt:
        print("ebm-lab: interrupted", file=sys.stderr)
        return 130
