"""OOD scores and metrics: hand-computed cases, scikit-learn itself, the energy/logit identities."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from ebm_engine.metrics.ood import (OODDetector, acceptance_rates, energy_score, gradient_norm_score, ood_metrics,
                                    rate_curves, score_batches, softmax_score)
from ebm_engine.models.jem import JEM

ID = np.arange(20.0)                      # 0, 1, ..., 19
OOD = np.array([5.0, 18.0, 18.5, 30.0])


def test_hand_computed_case():
    m = ood_metrics(ID, OOD)
    # pairs (ood > id) + ties/2: 5 -> 5.5, 18 -> 18.5, 18.5 -> 19, 30 -> 20; 63 of 80 pairs
    assert m["auroc"] == pytest.approx(63 / 80)
    # descending thresholds: 30 (P=1, R=1/4), 18.5 (P=2/3, R=2/4), 18 (P=3/5, R=3/4), 5 (P=4/19, R=1)
    assert m["aupr"] == pytest.approx(0.25 * (1 + 2 / 3 + 3 / 5 + 4 / 19))
    # 19 of 20 digits (95%) score <= 18; OOD scores <= 18: 5 and 18
    assert m["fpr95"] == pytest.approx(0.5)


def test_perfect_and_reversed_separation():
    assert ood_metrics([0.0, 1.0, 2.0], [5.0, 6.0]) == {"auroc": 1.0, "aupr": 1.0, "fpr95": 0.0}
    reversed_ = ood_metrics([5.0, 6.0, 7.0], [0.0, 1.0])
    assert reversed_["auroc"] == 0.0 and reversed_["fpr95"] == 1.0


def brute_force_fpr95(id_scores, ood_scores, keep=0.95):
    for t in np.sort(id_scores):
        if (id_scores <= t).mean() >= keep:
            return (ood_scores <= t).mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scikit_learn_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    id_scores = rng.normal(0.0, 1.0, 300)
    ood_scores = np.round(rng.normal(1.0, 1.5, 200), 1)          # ties on purpose
    m = ood_metrics(id_scores, ood_scores)
    y = np.r_[np.zeros(300), np.ones(200)]
    s = np.r_[id_scores, ood_scores]
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert m["aupr"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert m["fpr95"] == pytest.approx(brute_force_fpr95(id_scores, ood_scores), abs=1e-12)
    assert 0.5 < m["auroc"] < 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        ood_metrics([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        ood_metrics([0.0, np.nan], [1.0])


def test_detector_threshold_and_rates():
    det = OODDetector(95.0).fit(ID)
    assert det.threshold == 18.0                            # 19 of 20 scores (95%) at or below it
    assert det.rates(ID, OOD)["id_accepted"] == pytest.approx(0.95)
    rates = OODDetector(90.0).fit(ID).rates(ID, OOD)
    assert rates["threshold"] == 17.0                       # 18 of 20 (90%) at or below it
    assert rates["id_accepted"] == pytest.approx(18 / 20)
    assert rates["ood_detected"] == pytest.approx(3 / 4)    # 18, 18.5 and 30
    assert list(det.flag([0.0, 100.0])) == [False, True]
    with pytest.raises(RuntimeError):
        OODDetector().flag([1.0])


def test_rate_curves_agree_with_acceptance_rates():
    thresholds = np.array([-1.0, 4.5, 18.0, 18.2, 40.0])
    curves = rate_curves(ID, {"x": OOD}, thresholds)
    for i, t in enumerate(thresholds):
        r = acceptance_rates(ID, OOD, t)
        assert curves["id"][i] == pytest.approx(r["id_accepted"])
        assert curves["x"][i] == pytest.approx(r["ood_detected"])


def test_energy_and_softmax_scores_from_logits():
    logits = torch.tensor([[2.0, 0.0, -1.0], [10.0, 10.0, 10.0]])
    e1 = energy_score(logits)
    assert torch.allclose(e1, -torch.log(torch.exp(logits).sum(dim=1)))
    t = 3.0
    assert torch.allclose(energy_score(logits, t), -t * torch.log(torch.exp(logits / t).sum(dim=1)))
    # low temperature: the free energy tends to minus the largest logit
    assert torch.allclose(energy_score(logits, 1e-3), -logits.max(dim=1).values, atol=0.01)
    s = softmax_score(logits)
    assert torch.allclose(s, -torch.softmax(logits, dim=1).max(dim=1).values)
    assert s[1] == pytest.approx(-1 / 3)
    with pytest.raises(ValueError):
        energy_score(logits, 0.0)


def test_gradient_norm_score_matches_finite_differences():
    torch.manual_seed(0)
    model = JEM((4, 4), n_classes=3, width=4).double()
    x = torch.rand(3, 16, dtype=torch.float64)
    g = gradient_norm_score(model, x)
    eps = 1e-6
    for i in range(3):
        fd = torch.zeros(16, dtype=torch.float64)
        for j in range(16):
            d = torch.zeros(1, 16, dtype=torch.float64)
            d[0, j] = eps
            with torch.no_grad():
                fd[j] = (model.energy(x[i:i + 1] + d) - model.energy(x[i:i + 1] - d)) / (2 * eps)
        assert g[i].item() == pytest.approx(fd.norm().item(), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_score_batches_is_batch_size_independent():
    torch.manual_seed(0)
    model = JEM((8, 8), width=4)
    x = torch.rand(50, 64)
    a = score_batches(model, x, batch_size=7)
    b = score_batches(model, x, batch_size=64)
    for key in ("energy", "softmax", "gradnorm", "prediction"):
        assert a[key].shape == (50,)
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)
