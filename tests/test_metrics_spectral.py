"""D_STFT (thesis Eq. 29–30): golden values on simple signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from greenaudio.metrics import compute_d_stft, compute_log_power_stft


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(0).standard_normal((2, 16384)) * 0.1


def test_identical_is_zero(noise):
    assert compute_d_stft(noise, noise) == 0.0
    assert compute_d_stft(torch.as_tensor(noise[0]), noise[0]) == 0.0


def test_symmetric(noise):
    other = noise[::-1].copy()
    assert compute_d_stft(noise, other) == pytest.approx(compute_d_stft(other, noise), rel=1e-12)


@pytest.mark.parametrize("scale", [2.0, 0.5, 10.0])
def test_scaled_signal_gives_two_log_scale(noise, scale):
    # with a negligible eps, log|aX|^2 - log|X|^2 = 2 ln a in every bin
    assert compute_d_stft(noise, scale * noise, eps=1e-20) == pytest.approx(2 * abs(math.log(scale)), rel=1e-9)


def test_thesis_eps_value_for_a_sine():
    # one full-scale sine at a bin centre: known closed form is awkward, so pin the current value
    t = np.arange(16384) / 16000
    x = np.sin(2 * np.pi * 1000 * t)
    ref = compute_log_power_stft(x)
    assert ref.shape == (1, 513, 65)
    # silence vs x: mean over bins of log(1 + |X|^2), eps = 1 (thesis code)
    assert compute_d_stft(x, np.zeros_like(x)) == pytest.approx(float(ref.mean()), rel=1e-12)


def test_per_item_and_errors(noise):
    per = compute_d_stft(noise, 2 * noise, eps=1e-20, reduction="none")
    assert per.shape == (2,) and np.allclose(per, 2 * math.log(2))
    with pytest.raises(ValueError, match="same shape"):
        compute_d_stft(noise[0], noise[0, :-1])
    with pytest.raises(ValueError, match="NaN"):
        compute_d_stft(np.full(2048, np.nan), np.zeros(2048))
    with pytest.raises(ValueError, match="reduction"):
        compute_d_stft(noise, noise, reduction="sum")
    with pytest.raises(ValueError, match="eps"):
        compute_d_stft(noise, noise, eps=0)
    with pytest.raises(ValueError, match="samples"):
        compute_d_stft(np.zeros(100), np.zeros(100))
