"""FLOP counting equals the analytic 2 x MACs on single layers (thesis §3.2.1, Eq. 42) and covers whole procedures."""

import pytest
import torch
from torch import nn

torch.set_num_threads(1)

from greenaudio.measure import (  # noqa: E402
    FLOPS_NOTE,
    compute_conv1d_flops,
    compute_conv_transpose1d_flops,
    count_flops,
)


@pytest.mark.parametrize("c_in,c_out,k,stride,groups,length", [(4, 6, 5, 1, 1, 50), (8, 4, 3, 2, 2, 33), (1, 16, 7, 1, 1, 9)])
def test_conv1d_matches_analytic(c_in, c_out, k, stride, groups, length):
    layer = nn.Conv1d(c_in, c_out, k, stride=stride, groups=groups, padding=k // 2)
    x = torch.randn(2, c_in, length)
    out_len = layer(x).shape[-1]
    assert count_flops(layer, x).flops == compute_conv1d_flops(c_in, c_out, k, out_len, groups=groups, batch=2)


@pytest.mark.parametrize("c_in,c_out,k,stride,length", [(4, 6, 8, 4, 50), (16, 1, 16, 8, 10), (3, 3, 3, 1, 7)])
def test_conv_transpose1d_matches_analytic(c_in, c_out, k, stride, length):
    layer = nn.ConvTranspose1d(c_in, c_out, k, stride=stride, padding=(k - stride) // 2)
    x = torch.randn(2, c_in, length)
    assert count_flops(layer, x).flops == compute_conv_transpose1d_flops(c_in, c_out, k, length, batch=2)


def test_linear_matches_analytic():
    layer = nn.Linear(7, 3)
    assert count_flops(layer, torch.randn(2, 5, 7)).flops == 2 * 10 * 7 * 3 == 420  # 2 x rows x in x out


def test_weight_normed_conv_counted_like_plain():
    plain = nn.Conv1d(4, 6, 5)
    normed = nn.utils.parametrizations.weight_norm(nn.Conv1d(4, 6, 5))
    x = torch.randn(1, 4, 40)
    assert count_flops(normed, x).flops == count_flops(plain, x).flops == compute_conv1d_flops(4, 6, 5, 36)


def test_whole_procedure_and_per_audio_second():
    layer = nn.Conv1d(2, 2, 3, padding=1)
    x = torch.randn(1, 2, 100)

    def steps(n):
        y = x
        for _ in range(n):
            y = torch.relu(layer(y))  # relu: element-wise, not counted
        return y

    one = count_flops(steps, 1, audio_s=0.5)
    ten = count_flops(steps, 10, audio_s=0.5)
    assert ten.flops == 10 * one.flops == 10 * compute_conv1d_flops(2, 2, 3, 100)
    assert ten.gflops_per_audio_s == ten.flops / 1e9 / 0.5
    assert set(ten.by_operator) == {"convolution"}
    assert "element-wise" in FLOPS_NOTE and ten.method == FLOPS_NOTE
    with pytest.raises(ValueError):
        count_flops(steps, 1).gflops_per_audio_s  # no audio duration given
