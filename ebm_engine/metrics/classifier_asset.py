"""Write the shipped digit classifier: ``python -m ebm_engine.metrics.classifier_asset``.

Fits the sample-quality classifier of ``sample_quality`` on the default digits split (seed 0) and
writes it where ``digit_classifier`` looks first (``assets/classifiers/``), with the key of the rows
and seed it was fitted from, so that a file made from other data is never used. The file's bytes
depend only on the weights (fixed zip timestamps), so rerunning the command on the same machine
rewrites the same file.
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

from ebm_engine.data.digits import load_digits_grey
from ebm_engine.metrics import sample_quality

FIXED_TIME = (1980, 1, 1, 0, 0, 0)   # zip entries carry no write time, so equal weights give equal bytes


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed ``.npz`` (readable by ``np.load``) whose bytes depend only on ``arrays``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.asarray(arrays[name]), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME), entry.getvalue())
    return out.getvalue()


def write_classifier(out: Path, split_seed: int = 0, seed: int = 0) -> sample_quality.DigitClassifier:
    """Fit the classifier of the grey digits split ``split_seed`` with ``random_state=seed``; write it to ``out``."""
    split = load_digits_grey(seed=split_seed)
    classifier = sample_quality._fit(split, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(npz_bytes(sample_quality.classifier_arrays(classifier, sample_quality.classifier_key(split, seed))))
    return classifier


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = sample_quality.shipped_file(load_digits_grey(seed=0))
    parser.add_argument("--out", type=Path, default=default, help=f"file to write (default {default})")
    args = parser.parse_args(argv)
    classifier = write_classifier(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB), test accuracy {classifier.test_accuracy:.4f}")


if __name__ == "__main__":
    main()
