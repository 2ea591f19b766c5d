"""The shipped pretrained checkpoints: each loads, and ``evaluate`` reproduces the metrics recorded in it."""
import re

import pytest

from ebm_engine import catalog
from ebm_engine.checkpoint_store import ASSETS_FOLDER
from ebm_engine.checkpoints import load_checkpoint

EXPECTED = {"mlp_ebm-8gaussians", "mlp_ebm-2spirals", "rbm-digits", "conv_ebm-digits", "jem-digits",
            "symmetry_latent_ebms-8gaussians", "score_ebm-8gaussians"}
ASSETS = sorted(ASSETS_FOLDER.glob("*.pt"))
README = (ASSETS_FOLDER / "README.md").read_text()
MONTE_CARLO_ERROR = {"test_ll": "log_z_std", "log_z": "log_z_std"}   # AIS: log Z carries a Monte-Carlo error


def test_the_assets_are_all_there_small_and_documented():
    assert {p.stem for p in ASSETS} == EXPECTED
    assert sum(p.stat().st_size for p in ASSETS) < 5_000_000
    for path in ASSETS:
        header = load_checkpoint(path)[1]
        command = re.search(rf"^(?:nice -n \d+ )?(?:\S*python -m ebm_engine|ebm-lab) train {header['model']} .*"
                            rf"--out assets/checkpoints/{path.name}$", README, re.M)
        assert command, f"no command for {path.name} in assets/checkpoints/README.md"
        assert f"--steps {header['step']}" in command.group(0) and f"--data {header['data']}" in command.group(0)


@pytest.mark.parametrize("path", ASSETS, ids=[p.stem for p in ASSETS])
def test_evaluate_reproduces_the_recorded_metrics(path):
    _, header = load_checkpoint(path)
    recorded = header["metrics"]
    assert recorded, f"{path.name} records no metrics"
    # the figures were measured on the CPU: a GPU draws other random numbers for the same seed
    job = catalog.job_from_checkpoint(path, expected_model=header["model"], device="cpu")
    assert job.step_count == header["step"]
    measured = catalog.evaluate(job, seed=header["seed"])
    assert measured.keys() == recorded.keys()
    for key, value in recorded.items():
        error = recorded.get(MONTE_CARLO_ERROR.get(key, ""), 0.0)
        assert measured[key] == pytest.approx(value, rel=1e-6, abs=error), key
