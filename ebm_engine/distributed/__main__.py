"""``python -m ebm_engine.distributed``: one rank of distributed training (start it with torchrun)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ebm_engine.checkpoints import CheckpointError
from ebm_engine.distributed.ddp_train import DATA_SETS, DDP_MODELS, train_ddp
from ebm_engine.samplers.mixed_precision import PRECISIONS
from ebm_engine.training.negative_sampler import SAMPLERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ebm_engine.distributed",
                                     description="Train ConvEBM or JEM with DistributedDataParallel "
                                                 "(run it under torchrun; one process per GPU).")
    parser.add_argument("--model", choices=DDP_MODELS, required=True)
    parser.add_argument("--data", choices=DATA_SETS, default="digits")
    parser.add_argument("--steps", type=int, default=500, help="training iterations to run")
    parser.add_argument("--seed", type=int, default=0, help="rank r draws from seed + r")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint written by rank 0")
    parser.add_argument("--device", default=None, help="cpu, cuda (cuda:LOCAL_RANK per rank); default: best")
    parser.add_argument("--batch-size", type=int, default=None, help="per rank")
    parser.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    parser.add_argument("--width", type=int, default=32, help="channels of the first layer")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--sampler", choices=SAMPLERS, default="eager",
                        help="captured: the SGLD step replayed as one CUDA graph on a GPU")
    parser.add_argument("--save-every", type=int, default=0, help="also save every N steps (0: at the end)")
    parser.add_argument("--report-dir", type=Path, default=None, help="write each rank's summary as rank<R>.json")
    args = parser.parse_args(argv)
    try:
        summary = train_ddp(args.model, args.data, args.steps, args.seed, args.out, device=args.device,
                            batch_size=args.batch_size, resume=args.resume, width=args.width,
                            precision=args.precision, sampler=args.sampler, save_every=args.save_every)
    except (ValueError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    line = json.dumps(summary)
    if args.report_dir is not None:
        args.report_dir.mkdir(parents=True, exist_ok=True)
        (args.report_dir / f"rank{summary['rank']}.json").write_text(line)
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
