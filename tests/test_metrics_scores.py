"""IS / AM / Fréchet distance (thesis Eq. 31, 34, 35) on hand-made arrays with known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from greenaudio.metrics.scores import (compute_am_score, compute_frechet_distance, compute_frechet_distance_from_stats,
                                       compute_inception_score)


def test_inception_score_known_values():
    assert compute_inception_score(np.eye(10)) == pytest.approx(10.0)
    assert compute_inception_score(np.tile(np.eye(4), (5, 1))) == pytest.approx(4.0)
    assert compute_inception_score(np.full((7, 5), 0.2)) == pytest.approx(1.0)
    same = np.tile([[0.7, 0.2, 0.1]], (6, 1))
    assert compute_inception_score(same) == pytest.approx(1.0)
    # two one-hot classes with frequencies 3/4, 1/4: IS = exp(H(marginal))
    p = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    assert compute_inception_score(p) == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))))
    assert compute_inception_score(np.tile(np.eye(3), (4, 1)), n_splits=4) == pytest.approx(3.0)


def test_am_score_known_values():
    uniform = np.full(10, 0.1)
    assert compute_am_score(np.eye(10), uniform) == pytest.approx(0.0, abs=1e-12)
    assert compute_am_score(np.full((3, 10), 0.1), uniform) == pytest.approx(math.log(10))
    # all clips confidently class 0 under a uniform prior: KL = ln 10, entropy 0
    one = np.zeros((4, 10))
    one[:, 0] = 1
    assert compute_am_score(one, uniform) == pytest.approx(math.log(10))
    with pytest.raises(ValueError, match="infinite"):
        compute_am_score(one, np.r_[0.0, np.full(9, 1 / 9)])
    with pytest.raises(ValueError, match="classes"):
        compute_am_score(np.eye(3), uniform)


def test_probability_validation():
    with pytest.raises(ValueError, match="softmax"):
        compute_inception_score(np.array([[2.0, -1.0]]))
    with pytest.raises(ValueError, match="sum to 1"):
        compute_inception_score(np.array([[0.5, 0.4]]))
    with pytest.raises(ValueError, match="shape"):
        compute_inception_score(np.ones(3) / 3)


def test_frechet_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((500, 8))
    assert compute_frechet_distance(e, e) == pytest.approx(0.0, abs=1e-9)
    mu, sigma = rng.standard_normal(8), np.cov(e, rowvar=False)
    assert compute_frechet_distance_from_stats(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_frechet_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert compute_frechet_distance_from_stats([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    # diagonal: sum over dimensions
    d = compute_frechet_distance_from_stats(np.zeros(3), np.diag([1.0, 4.0, 9.0]), np.ones(3), np.diag([4.0, 4.0, 1.0]))
    assert d == pytest.approx(3 + (1 + 0 + 4))
    # mean shift only
    assert compute_frechet_distance_from_stats(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), np.eye(2)) == pytest.approx(25)
    # singular covariances (fewer samples than dimensions) stay finite and non-negative
    rng = np.random.default_rng(1)
    assert compute_frechet_distance(rng.standard_normal((5, 20)), rng.standard_normal((6, 20))) >= 0


def test_frechet_errors():
    with pytest.raises(ValueError, match="n_samples >= 2"):
        compute_frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="dimensions differ"):
        compute_frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
