import numpy as np
import pytest

from selfdistill_sklearn.datasets import make_noisy_sinusoid, sinusoid


def test_paper_design():
    X, y = make_noisy_sinusoid(random_state=0)
    np.testing.assert_allclose(X[:, 0], np.arange(11) / 10)
    residual = y - np.sin(2 * np.pi * X[:, 0])
    assert 0.1 < residual.std() < 1.5
    X2, y2 = make_noisy_sinusoid(random_state=0)
    np.testing.assert_array_equal(y, y2)


def test_noiseless_and_random_inputs():
    X, y = make_noisy_sinusoid(50, noise=0.0, equally_spaced=False, random_state=1)
    assert X.shape == (50, 1) and np.all(np.diff(X[:, 0]) >= 0)
    assert X.min() >= 0 and X.max() <= 1
    np.testing.assert_allclose(y, sinusoid(X))


@pytest.mark.parametrize("kwargs", [{"n_samples": 0}, {"noise": -1.0}])
def test_invalid(kwargs):
    with pytest.raises(ValueError):
        make_noisy_sinusoid(**kwargs)


def test_sinusoid_needs_one_feature():
    with pytest.raises(ValueError, match="single feature"):
        sinusoid(np.zeros((3, 2)))
