"""D_STFT (thesis Eq. 29–30) against closed forms, a numpy brute force and properties (never its own helper)."""

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


def _numpy_d_stft(x, y, n_fft, hop, eps):
    """Brute force with numpy only: reflect-pad n_fft // 2, periodic Hann, one rfft per frame, log(eps + |X|^2)."""

    def spectrum(a):
        padded = np.pad(a, n_fft // 2, mode="reflect")
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
        frames = [padded[i : i + n_fft] * window for i in range(0, padded.size - n_fft + 1, hop)]
        return np.log(eps + np.abs(np.fft.rfft(np.array(frames), axis=-1)) ** 2)

    return float(np.mean(np.abs(spectrum(x) - spectrum(y))))


def test_constant_signal_has_a_closed_form():
    """A constant c through a periodic Hann window of n samples: |X_0| = c n / 2, |X_1| = c n / 4, other bins 0
    (the window is 1/2 - cos / 2), and reflect padding keeps every frame constant. Against silence, with eps = 1:
    D = (ln(1 + (c n / 2)^2) + ln(1 + (c n / 4)^2)) / (n / 2 + 1)."""
    c = 0.5
    tiny = compute_d_stft(np.full(32, c), np.zeros(32), n_fft=8, hop_length=4)
    assert tiny == pytest.approx((math.log(1 + 4.0) + math.log(1 + 1.0)) / 5, rel=1e-12)  # ln(10) / 5
    # the thesis's settings (n_fft 1024, hop 256, eps 1) on 16,384 samples
    full = compute_d_stft(np.full(16384, c), np.zeros(16384))
    assert full == pytest.approx((math.log(1 + 256.0**2) + math.log(1 + 128.0**2)) / 513, rel=1e-12)


def test_matches_a_numpy_brute_force_on_a_tiny_signal():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(40), rng.standard_normal(40)
    for eps in (1.0, 1e-3):
        expected = _numpy_d_stft(x, y, n_fft=8, hop=4, eps=eps)
        assert compute_d_stft(x, y, n_fft=8, hop_length=4, eps=eps) == pytest.approx(expected, rel=1e-12)
    assert compute_log_power_stft(x, n_fft=8, hop_length=4).shape == (1, 5, 11)


def test_int16_pcm_is_divided_by_32768(noise):
    pcm = np.round(np.clip(noise[0], -1, 1) * 32767).astype(np.int16)
    as_float = pcm / 32768.0
    assert compute_d_stft(pcm, as_float) == 0.0
    assert compute_d_stft(pcm, np.zeros(pcm.size)) == pytest.approx(compute_d_stft(as_float, np.zeros(pcm.size)))
    with pytest.raises(ValueError, match="int32"):
        compute_d_stft(pcm.astype(np.int32), as_float)
    with pytest.raises(ValueError, match="dtype bool"):
        compute_d_stft(pcm > 0, as_float)


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
