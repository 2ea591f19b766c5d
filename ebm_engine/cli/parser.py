"""Arguments of ``ebm-lab``: one sub-command per task; a bad argument is one line and exit code 2."""
from __future__ import annotations

import argparse
from functools import partial


class UsageError(Exception):
    """Bad arguments, an unknown model or data set, a missing folder or an unusable checkpoint."""


class LabArgumentParser(argparse.ArgumentParser):
    """Raises ``UsageError`` instead of printing the usage block and exiting."""

    def error(self, message: str):
        raise UsageError(message)


def whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text} must be at least {minimum}")
    return value


positive_int = partial(whole_number, minimum=1)
non_negative_int = partial(whole_number, minimum=0)


def port_number(text: str) -> int:
    value = whole_number(text, 1)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (1-65535)")
    return value


def setting(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def build_parser() -> LabArgumentParser:
    parser = LabArgumentParser(prog="ebm-lab", description="Train, sample and evaluate the lab's models headless, "
                                                               "or serve the web lab.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=LabArgumentParser)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
        sub.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        sub.add_argument("--threads", type=positive_int, default=None,
                         help="CPU threads for torch (1 is fastest on a busy machine; default: torch's choice)")

    train = commands.add_parser("train", help="train a model and write a checkpoint")
    train.add_argument("model", help="model name (see `ebm-lab list`)")
    train.add_argument("--data", default=None, help="data set (default: the model's first)")
    train.add_argument("--data-folder", default=None, help="folder with MNIST-format IDX files (--data mnist)")
    train.add_argument("--steps", type=positive_int, required=True,
                       help="total training iterations (with --resume: the run continues up to this many)")
    train.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    train.add_argument("--resume", default=None, help="checkpoint to continue from")
    train.add_argument("--batch-size", type=positive_int, default=None, help="mini-batch size")
    train.add_argument("--save-every", type=positive_int, default=None,
                       help="also write the checkpoint every N iterations (safe to interrupt)")
    train.add_argument("--set", type=setting, action="append", default=[], metavar="KEY=VALUE",
                       help="a model or training setting, e.g. --set hidden=64 (repeatable)")
    train.add_argument("--knob", type=setting, action="append", default=[], metavar="KEY=VALUE",
                       help="a live training knob, e.g. --knob lr=0.001 (repeatable)")
    train.add_argument("--weights-only", action="store_true",
                       help="leave optimiser state and replay buffer out of the file (smaller; no exact resume)")
    common(train)

    sample = commands.add_parser("sample", help="draw samples from a checkpoint into .npz (and a PNG grid)")
    sample.add_argument("checkpoint")
    sample.add_argument("--out", required=True, help="samples file to write (.npz); images also get a .png")
    sample.add_argument("-n", "--n", type=positive_int, default=64, help="number of samples (default 64)")
    sample.add_argument("--steps", type=positive_int, default=None, help="sampler steps (default: the model's)")
    sample.add_argument("--model", default=None, help="refuse a checkpoint of any other model")
    common(sample)

    evaluate = commands.add_parser("evaluate", help="print the metrics of a checkpoint")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--model", default=None, help="refuse a checkpoint of any other model")
    common(evaluate)

    commands.add_parser("list", help="list the models and their data sets")

    serve = commands.add_parser("serve", help="serve the web lab (the app installed with this package)")
    serve.add_argument("--port", type=port_number, default=5006, help="port to listen on (default 5006)")
    serve.add_argument("--address", default="localhost",
                       help="address to listen on (default localhost: this machine only)")
    serve.add_argument("--origin", action="append", default=[], metavar="HOST:PORT",
                       help="host name (with port) browsers use to reach the lab, its allowed WebSocket origin "
                            "(repeatable; default ADDRESS:PORT)")
    serve.add_argument("--basic-auth", default=None, metavar="PASSWORD_OR_FILE",
                       help="ask every visitor for this password (or a JSON file of users and passwords)")
    serve.add_argument("--show", action="store_true", help="open the lab in a browser")
    return parser
