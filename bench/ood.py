"""Test accuracy and OOD detection of JEM against the plain classifier on 8×8 digits, CPU, fixed seeds.

Data
  ``load_digits_grey()``: sklearn's 8×8 digits scaled to [0, 1], the fixed stratified split (1437
  train / 360 test rows). OOD sets from ``ebm_engine.data.ood`` with seed 0: Gaussian noise, uniform
  noise, inverted, rotated and flipped test digits, natural-image patches (360 images each).

Models, like for like
  Both are ``JEM((8, 8), width=32)`` (three 3×3 convs, SiLU, a linear head; weights from
  ``torch.manual_seed(seed)``) trained by ``JEMTrainer`` for the same number of iterations with the
  same ``JEMConfig`` (Adam lr 1e-3, batch 64, one-pixel shift augmentation):
  plain classifier  ``generative_weight=0``: cross-entropy only;
  JEM               ``generative_weight=1``: cross-entropy + the generative term with 20 SGLD steps
                    (step 1, noise 0.01) from a 5000-chain replay buffer, energy L2 weight 0.1,
                    the generative weight ramped up over the first 200 iterations.

Scores (higher = more out-of-distribution), on the test digits and each OOD set
  energy   ``-logsumexp f(x)`` (T = 1), the JEM energy;
  softmax  ``-max softmax f(x)``, the usual baseline.
  Metrics: ``ood_metrics`` (AUROC, AUPR with OOD positive, FPR95), i.e. scikit-learn's functions.

Goals: test accuracy ≥ 97% for both models; for JEM's energy score, AUROC ≥ the softmax score's (of
the same JEM) on every OOD set, and ≥ 0.99 on both noise sets. The exit status is 0 only if all hold.

    .venv/bin/python bench/ood.py            # full run: 1000 iterations per model (12 min on 2 busy cores;
                                             #   JEM's 20 SGLD steps per iteration are most of it)
    .venv/bin/python bench/ood.py --quick    # 150 iterations: the plumbing, not the goals
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ebm_engine.data import load_digits_grey  # noqa: E402
from ebm_engine.data.ood import OOD_SET_LABELS, OOD_SET_NAMES, make_ood_set  # noqa: E402
from ebm_engine.metrics.ood import ood_metrics, score_batches  # noqa: E402
from ebm_engine.models import JEM  # noqa: E402
from ebm_engine.training import JEMConfig, JEMTrainer  # noqa: E402
from machine import cpu_model, load_average as load  # noqa: E402

ACCURACY_GOAL = 0.97
NOISE_AUROC_GOAL = 0.99
NOISE_SETS = ("gaussian", "uniform")


def train(generative_weight: float, iterations: int, seed: int) -> tuple[JEM, float, int]:
    """A trained model, the seconds its training took and its number of rolled-back divergences."""
    split = load_digits_grey()
    torch.manual_seed(seed)
    model = JEM(split.shape, width=32)
    trainer = JEMTrainer(model, split.train, split.train_labels, JEMConfig(generative_weight=generative_weight),
                         generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    for i in range(iterations):
        trainer.step()
        if (i + 1) % 250 == 0:
            print(f"  iteration {i + 1}/{iterations}: {time.perf_counter() - start:.0f} s", flush=True)
    return model, time.perf_counter() - start, trainer.divergences


def evaluate(model: JEM, seed: int) -> tuple[float, dict[str, dict[str, dict[str, float]]]]:
    split = load_digits_grey()
    ids = score_batches(model, split.test, with_gradnorm=False)
    accuracy = float((ids["prediction"] == split.test_labels.numpy()).mean())
    table = {}
    for name in OOD_SET_NAMES:
        ood = score_batches(model, make_ood_set(name, split.test, split.shape, seed=seed), with_gradnorm=False)
        table[name] = {kind: ood_metrics(ids[kind], ood[kind]) for kind in ("energy", "softmax")}
    return accuracy, table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=1000, help="training iterations per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--quick", action="store_true", help="150 iterations: checks the plumbing, not the goals")
    args = p.parse_args(argv)
    if args.quick:
        args.iterations = 150
    torch.set_num_threads(args.threads)
    print(f"# {cpu_model()}, {platform.python_version()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"load average {load()}")
    print(f"# {args.iterations} iterations per model, seed {args.seed}")
    results = {}
    for name, weight in (("classifier", 0.0), ("JEM", 1.0)):
        print(f"training {name} ...", flush=True)
        model, seconds, divergences = train(weight, args.iterations, args.seed)
        accuracy, table = evaluate(model, args.seed)
        results[name] = (accuracy, table, seconds, divergences)
    print(f"# load average after the run {load()}")
    print()
    print("| model | test accuracy | training time | divergences rolled back |")
    print("|---|---:|---:|---:|")
    for name, (accuracy, _, seconds, divergences) in results.items():
        print(f"| {name} | {100 * accuracy:.2f}% | {seconds:.0f} s | {divergences} |")
    print()
    print("| OOD set | model | AUROC energy | AUROC softmax | AUPR energy | AUPR softmax | FPR95 energy "
          "| FPR95 softmax |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for ood in OOD_SET_NAMES:
        for name, (_, table, _, _) in results.items():
            e, s = table[ood]["energy"], table[ood]["softmax"]
            print(f"| {OOD_SET_LABELS[ood]} | {name} | {e['auroc']:.3f} | {s['auroc']:.3f} | {e['aupr']:.3f} | "
                  f"{s['aupr']:.3f} | {e['fpr95']:.3f} | {s['fpr95']:.3f} |")
    print()
    ok = True
    for name, (accuracy, _, _, _) in results.items():
        met = accuracy >= ACCURACY_GOAL
        ok &= met
        print(f"goal: {name} test accuracy {100 * accuracy:.2f}% ≥ {100 * ACCURACY_GOAL:.0f}%: "
              f"{'met' if met else 'MISSED'}")
    table = results["JEM"][1]
    for ood in OOD_SET_NAMES:
        e, s = table[ood]["energy"]["auroc"], table[ood]["softmax"]["auroc"]
        met = e >= s
        ok &= met
        print(f"goal: JEM energy AUROC {e:.3f} ≥ softmax AUROC {s:.3f} on {OOD_SET_LABELS[ood]}: "
              f"{'met' if met else 'MISSED'}")
    for ood in NOISE_SETS:
        e = table[ood]["energy"]["auroc"]
        met = e >= NOISE_AUROC_GOAL
        ok &= met
        print(f"goal: JEM energy AUROC {e:.3f} ≥ {NOISE_AUROC_GOAL} on {OOD_SET_LABELS[ood]}: "
              f"{'met' if met else 'MISSED'}")
    print("all goals met" if ok else "some goals MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
