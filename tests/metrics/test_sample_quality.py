"""Sample quality: the digit classifier, the Fréchet distance and the inception score."""
import numpy as np
import pytest

from ebm_engine.data import load_digits_grey
from ebm_engine.metrics import sample_quality
from ebm_engine.metrics.sample_quality import SampleQuality, frechet_distance, gaussian_fit, inception_score


@pytest.fixture(scope="module")
def split():
    return load_digits_grey()


@pytest.fixture(scope="module")
def quality(split):
    return SampleQuality(split)


def test_classifier_recognises_test_digits(quality):
    assert quality.classifier.test_accuracy > 0.93


def test_test_digits_against_themselves_is_near_zero_and_noise_is_far(quality, split):
    rng = np.random.default_rng(0)
    assert quality.fid(split.test.numpy()) < 1e-6
    train = quality.fid(split.train.numpy()[rng.choice(len(split.train), 360, replace=False)])
    noise = quality.fid(rng.random((360, 64)))
    assert train < 5.0 and noise > 10 * train and noise > 30


def test_inception_score_of_digits_beats_noise(quality, split):
    rng = np.random.default_rng(0)
    assert quality.inception_score(split.test.numpy()) > 8.0
    assert quality.inception_score(rng.random((360, 64))) < 4.0


def test_classifier_is_deterministic_and_cached(split, monkeypatch, tmp_path):
    monkeypatch.setenv("EBM_LAB_CACHE", str(tmp_path))
    monkeypatch.setattr(sample_quality, "CLASSIFIERS_FOLDER", tmp_path / "none shipped")
    monkeypatch.setattr(sample_quality, "_CLASSIFIERS", {})
    first = sample_quality.digit_classifier(split)
    assert sample_quality.digit_classifier(split) is first
    files = list(tmp_path.glob("digit-classifier-*.npz"))
    assert len(files) == 1
    refit = sample_quality._fit(split, 0)                 # the fit itself is deterministic
    np.testing.assert_array_equal(refit.features(split.test.numpy()), first.features(split.test.numpy()))

    def no_fit(*_args):
        raise AssertionError("fitted again although the classifier is cached on disk")

    monkeypatch.setattr(sample_quality, "_CLASSIFIERS", {})
    monkeypatch.setattr(sample_quality, "_fit", no_fit)
    again = sample_quality.digit_classifier(split)          # a new process: read from the cache file
    assert again is not first and again.test_accuracy == first.test_accuracy
    np.testing.assert_array_equal(again.probabilities(split.test.numpy()), first.probabilities(split.test.numpy()))

    files[0].write_bytes(b"damaged")                        # a damaged cache only means fitting again
    monkeypatch.setattr(sample_quality, "_CLASSIFIERS", {})
    monkeypatch.setattr(sample_quality, "_fit", lambda *_args: refit)
    assert sample_quality.digit_classifier(split) is refit


def test_probabilities_are_those_of_scikit_learn(split):
    import warnings

    from sklearn.neural_network import MLPClassifier

    x, y = split.train.numpy().astype(np.float64), split.train_labels.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=20, random_state=0).fit(x, y)
    ours = sample_quality.DigitClassifier(model.coefs_, model.intercepts_, 0.0)
    np.testing.assert_allclose(ours.probabilities(split.test.numpy()),
                               model.predict_proba(split.test.numpy().astype(np.float64)), rtol=1e-10, atol=1e-12)


def test_frechet_distance_of_known_gaussians():
    # 1-D: (0 - 1)² + 1 + 4 - 2·√(1·4) = 2
    assert frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1)) == pytest.approx(2.0)
    cov_a, cov_b = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    expected = 1 + 9 + 4 + 1 - 2 * (2 + 3)
    assert frechet_distance(np.zeros(2), cov_a, np.zeros(2), cov_b) == pytest.approx(expected)
    mu, cov = gaussian_fit(np.random.default_rng(0).normal(size=(5000, 3)))
    assert np.allclose(mu, 0, atol=0.05) and np.allclose(cov, np.eye(3), atol=0.06)


def test_inception_score_bounds():
    assert inception_score(np.eye(10)) == pytest.approx(10.0)
    assert inception_score(np.tile(np.eye(10)[3], (10, 1))) == pytest.approx(1.0)
    assert inception_score(np.full((10, 10), 0.1)) == pytest.approx(1.0)


def test_the_shipped_classifier_loads_without_fitting_and_equals_a_fresh_fit(split, monkeypatch, tmp_path):
    monkeypatch.setenv("EBM_LAB_CACHE", str(tmp_path))
    monkeypatch.setattr(sample_quality, "_CLASSIFIERS", {})
    assert sample_quality.shipped_file(split).is_file()

    def no_fit(*_args):
        raise AssertionError("fitted although a classifier is shipped for this split")

    fresh = sample_quality._fit(split, 0)
    monkeypatch.setattr(sample_quality, "_fit", no_fit)
    shipped = sample_quality.digit_classifier(split)
    assert not list(tmp_path.iterdir())                   # nothing fitted, nothing cached
    assert shipped.test_accuracy == fresh.test_accuracy
    # the fit is deterministic for its seed; another BLAS may round its sums differently
    np.testing.assert_allclose(shipped.probabilities(split.test.numpy()), fresh.probabilities(split.test.numpy()),
                               rtol=1e-6, atol=1e-9)


def test_a_shipped_file_fitted_from_other_rows_is_not_used(split, monkeypatch, tmp_path):
    from ebm_engine.data import load_digits_grey
    from ebm_engine.metrics.classifier_asset import npz_bytes

    other = load_digits_grey(seed=1)                       # another split of the same images
    wrong = sample_quality.DigitClassifier([np.zeros((64, 10))], [np.zeros(10)], 0.1)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(sample_quality, "CLASSIFIERS_FOLDER", shipped)
    sample_quality.shipped_file(split).write_bytes(
        npz_bytes(sample_quality.classifier_arrays(wrong, sample_quality.classifier_key(other, 0))))
    monkeypatch.setenv("EBM_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sample_quality, "_CLASSIFIERS", {})
    refit = sample_quality.DigitClassifier([np.ones((64, 10))], [np.zeros(10)], 0.9)
    monkeypatch.setattr(sample_quality, "_fit", lambda *_args: refit)
    assert sample_quality.digit_classifier(split) is refit


def test_asset_files_depend_only_on_the_weights_and_carry_their_key(tmp_path):
    from ebm_engine.metrics.classifier_asset import npz_bytes

    classifier = sample_quality.DigitClassifier([np.arange(6.0).reshape(2, 3)], [np.ones(3)], 0.5)
    arrays = sample_quality.classifier_arrays(classifier, "key")
    first = npz_bytes(arrays)
    assert npz_bytes(arrays) == first
    path = tmp_path / "c.npz"
    path.write_bytes(first)
    again = sample_quality._read_cached(path, "key")
    assert again.test_accuracy == 0.5 and np.array_equal(again.coefs[0], classifier.coefs[0])
    assert sample_quality._read_cached(path, "another key") is None
