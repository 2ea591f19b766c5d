"""GPU figures of the lab, with the same numbers on the CPU for comparison (``bench/gpu.sh`` runs it).

Measures, on one device (``--device``, default: the best available):

samplers  chain-steps/s of Langevin and HMC (10 leapfrog steps, no jitter) on a random
          ``SimpleEBM(2, 256, 2, "silu")`` energy at 64 and 4096 chains: the eager kernels
          (``Langevin``, ``HMC``) against their one-step programs (``CompiledKernel``; ``--captured``
          backend: by default one CUDA graph on a GPU and inductor's code elsewhere; ``inductor`` on a
          GPU = torch.compile's reduce-overhead mode; ``eager`` = the sync-free transition uncompiled).
training  seconds per training iteration of ConvEBM (the Images page recipe: batch 128, 20 SGLD
          steps, width 32) and JEM (batch 64, 20 SGLD steps, width 32, generative term on from the
          start) on 8x8 digits: fp32, bf16 autocast, and fp32 with the captured SGLD step
          (``sampler="captured"``).
snapshot  seconds to build one snapshot of the Images job (ConvEBM) and of the JEM & OOD job (what
          the app draws each frame), after a few training steps.

Each figure is the median of ``--repeats`` timings after a warm-up, with ``torch.cuda.synchronize``
around every timed region on a GPU. Ratios (captured/eager, bf16/fp32) are measured in the same run.
Results go to ``bench/results/gpu-<device>-<time>.json`` and ``.md``. ``--quick`` (fewer steps and
repeats) is for the CPU; a full run on a GPU takes a few minutes.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

from machine import cpu_model, load_average  # noqa: E402
from ebm_engine.data.digits import load_digits_grey  # noqa: E402
from ebm_engine.device import describe_device, make_generator, select_device  # noqa: E402
from ebm_engine.models import SimpleEBM  # noqa: E402
from ebm_engine.models.conv_ebm import ConvEBM  # noqa: E402
from ebm_engine.models.jem import JEM  # noqa: E402
from ebm_engine.samplers import HMC, Langevin  # noqa: E402
from ebm_engine.samplers.compiled import CompiledKernel, default_backend  # noqa: E402
from ebm_engine.training import JEMConfig, JEMTrainer  # noqa: E402
from ebm_engine.training.image_recipes import image_cd_trainer, lab_image_config  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs (after one untimed warm-up run)."""
    fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sampler_figures(device: torch.device, chains: list[int], steps: int, repeats: int,
                    captured_backend: str) -> list[dict]:
    torch.manual_seed(0)
    energy = SimpleEBM(2, 256, 2, "silu").to(device)
    for p in energy.parameters():
        p.requires_grad_(False)
    rows = []
    backend = None if captured_backend == "default" else captured_backend
    kernels = [("langevin", "eager", Langevin(), 0.01, steps),
               ("langevin", "captured", CompiledKernel(Langevin(), False, backend), 0.01, steps),
               ("hmc", "eager", HMC(n_leapfrog=10, jitter=0.0), 0.05, max(1, steps // 10)),
               ("hmc", "captured", CompiledKernel(HMC(n_leapfrog=10, jitter=0.0), False, backend),
                0.05, max(1, steps // 10))]
    for n in chains:
        for name, mode, kernel, step_size, n_steps in kernels:
            g = make_generator(0, device)
            state = kernel.init(energy, torch.randn(n, 2, generator=g, device=device))
            holder = {"state": state}

            def run(kernel=kernel, step_size=step_size, n_steps=n_steps, g=g, holder=holder):
                s = holder["state"]
                for _ in range(n_steps):
                    s, _ = kernel.step(energy, s, step_size, 1.0, g)
                holder["state"] = s

            seconds = timed(run, device, repeats)
            used = getattr(kernel, "backend", None) or default_backend(device)
            used = used if getattr(kernel, "status", "") == "compiled" else "eager"
            rows.append({"sampler": name, "mode": mode, "backend": used, "chains": n,
                         "chain_steps_per_s": n * n_steps / seconds})
            print(f"  {name:8s} {mode:8s} ({used:10s}) {n:5d} chains: {n * n_steps / seconds:14,.0f} chain-steps/s",
                  flush=True)
    return rows


def training_figures(device: torch.device, iterations: int, repeats: int) -> list[dict]:
    split = load_digits_grey()
    rows = []
    for model in ("conv_ebm", "jem"):
        for precision, sampler in (("fp32", "eager"), ("bf16", "eager"), ("fp32", "captured")):
            g = make_generator(0, device)
            torch.manual_seed(0)
            if model == "conv_ebm":
                net = ConvEBM((8, 8), width=32).to(device)
                images = split.train.reshape(-1, 1, 8, 8).to(device)
                trainer = image_cd_trainer(net, images, lab_image_config(precision=precision, sampler=sampler), g)
            else:
                net = JEM((8, 8), width=32).to(device)
                trainer = JEMTrainer(net, split.train.to(device), split.train_labels.to(device),
                                     JEMConfig(warmup_steps=0, precision=precision, sampler=sampler),
                                     generator=g)

            def run(trainer=trainer):
                for _ in range(iterations):
                    trainer.step()

            seconds = timed(run, device, repeats) / iterations
            rows.append({"model": model, "precision": precision, "sampler": sampler, "seconds_per_iteration": seconds})
            print(f"  {model:8s} {precision} {sampler:8s}: {seconds * 1e3:9.2f} ms/iteration", flush=True)
    return rows


def snapshot_figures(device: torch.device, repeats: int) -> list[dict]:
    from ebm_engine.runtime.jobs.images_convebm import ConvEBMJob
    from ebm_engine.runtime.jobs.jem import JEMJob

    rows = []
    jobs = {"images": lambda: ConvEBMJob({"quality_every_s": 1e9}, device=str(device)),
            "jem": lambda: JEMJob({"eval_every_s": 0.0}, device=str(device))}
    for name, make in jobs.items():
        job = make()
        try:
            for _ in range(3):
                job.step()
            seconds = timed(job.snapshot, device, repeats)
        finally:
            job.close()
        rows.append({"job": name, "seconds_per_snapshot": seconds})
        print(f"  {name:8s} snapshot: {seconds * 1e3:9.2f} ms", flush=True)
    return rows


def markdown(result: dict) -> str:
    lines = [f"GPU benchmark on {result['device']} ({result['machine']}), torch {result['torch']}, "
             f"{result['when']}, load {result['load']}{', --quick' if result['quick'] else ''}", "",
             "| sampler | chains | eager chain-steps/s | captured chain-steps/s | captured/eager |",
             "|---|---|---|---|---|"]
    rows = result["samplers"]
    for name in ("langevin", "hmc"):
        for n in sorted({r["chains"] for r in rows}):
            eager = next(r for r in rows if r["sampler"] == name and r["chains"] == n and r["mode"] == "eager")
            captured = [r for r in rows if r["sampler"] == name and r["chains"] == n and r["mode"] == "captured"]
            cap = f"{captured[0]['chain_steps_per_s']:,.0f} ({captured[0]['backend']})" if captured else "–"
            rat = f"{captured[0]['chain_steps_per_s'] / eager['chain_steps_per_s']:.2f}" if captured else "–"
            lines.append(f"| {name} | {n} | {eager['chain_steps_per_s']:,.0f} | {cap} | {rat} |")
    lines += ["", "| model | fp32 s/iteration | bf16 s/iteration | bf16/fp32 | fp32, captured SGLD | captured/eager |",
              "|---|---|---|---|---|---|"]
    for model in ("conv_ebm", "jem"):
        t = {(r["precision"], r["sampler"]): r["seconds_per_iteration"] for r in result["training"]
             if r["model"] == model}
        fp32, bf16, cap = t[("fp32", "eager")], t[("bf16", "eager")], t[("fp32", "captured")]
        lines.append(f"| {model} | {fp32:.4f} | {bf16:.4f} | {bf16 / fp32:.2f} | {cap:.4f} | {cap / fp32:.2f} |")
    lines += ["", "| job | seconds per snapshot |", "|---|---|"]
    lines += [f"| {r['job']} | {r['seconds_per_snapshot']:.4f} |" for r in result["snapshots"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: the best available)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (for the CPU)")
    parser.add_argument("--captured", default="default", choices=("default", "cuda_graph", "inductor", "eager"),
                        help="backend of the one-step programs (default: cuda_graph on a GPU, inductor elsewhere)")
    parser.add_argument("--only", default="samplers,training,snapshot", help="comma-separated parts to run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    device = select_device(args.device)
    steps, repeats, iterations = (20, 2, 1) if args.quick else (200, 5, 10)
    parts = set(args.only.split(","))
    print(f"device {describe_device(device)}; cpu {cpu_model()}; torch {torch.__version__}; "
          f"load {load_average()}", flush=True)
    result = {"device": describe_device(device), "machine": cpu_model(), "torch": torch.__version__,
              "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "load": load_average(),
              "quick": args.quick, "samplers": [], "training": [], "snapshots": []}
    started = time.perf_counter()
    if "samplers" in parts:
        print("samplers (chain-steps/s)", flush=True)
        result["samplers"] = sampler_figures(device, [64, 4096], steps, repeats, args.captured)
    if "training" in parts:
        print("training (seconds per iteration)", flush=True)
        result["training"] = training_figures(device, iterations, repeats)
    if "snapshot" in parts:
        print("app snapshots (seconds per snapshot)", flush=True)
        result["snapshots"] = snapshot_figures(device, repeats)
    result["wall_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"gpu-{device.type}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    if result["samplers"] and result["training"] and result["snapshots"]:
        table = markdown(result)
        (args.out / f"{stem}.md").write_text(table)
        print("\n" + table)
    print(f"wrote {args.out / stem}.json ({result['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
