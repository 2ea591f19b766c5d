#!/usr/bin/env bash
# The lab's GPU benchmarks in one short run (a few minutes, under 8): samplers (eager vs captured
# Langevin, HMC; 64 and 4096 chains), ConvEBM and JEM training (fp32 vs bf16), app snapshots.
# Results: bench/results/gpu-<device>-<time>.json and .md. Extra arguments go to bench/gpu.py
# (e.g. --device cpu --quick for the CPU figures to compare with).
#
# Python: $PYTHON if set; else the project's .venv; else a python3 that already has torch; else a new
# .venv made with `make .venv/.installed`, or from the wheels in $WHEELS (pip --no-index) when set.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${PYTHON:-}" ]]; then
  py="$PYTHON"
elif [[ -x .venv/bin/python ]] && .venv/bin/python -c "import torch" 2>/dev/null; then
  py=.venv/bin/python
elif python3 -c "import torch, sklearn, numpy" 2>/dev/null; then
  py=python3
elif [[ -n "${WHEELS:-}" ]]; then
  python3 -m venv --system-site-packages .venv
  .venv/bin/pip install --no-index --find-links "$WHEELS" torch numpy scikit-learn pillow psutil tqdm
  .venv/bin/pip install --no-index --find-links "$WHEELS" --no-deps -e .
  py=.venv/bin/python
else
  make .venv/.installed
  py=.venv/bin/python
fi

"$py" -c "import torch; print('torch', torch.__version__, '| CUDA:', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 470 "$py" bench/gpu.py "$@"
