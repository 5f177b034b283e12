"""Small kernels shared by the prepared (inference-only) paths of the zoo.

Used by: greenaudio.vocoders.diffwave, waveflow, waveglow, wavegrad (``prepare_for_inference``).

* :func:`pointwise`: a 1x1 convolution as one GEMM (``addmm``/``matmul``), which on CPU avoids the im2col copy of
  ``conv1d``'s slow path for 1x1 kernels.
* :func:`gate_weights` / :func:`fast_gate`: the WaveNet gate ``tanh(a) * sigmoid(b)`` with
  ``tanh(a) = 2 sigmoid(2a) - 1``: the factor 2 on ``a`` is folded into the weights that produce ``a`` (exact: a
  power of two) and the outer factor 2 into the 1x1 convolution that consumes the gate, so the gate costs two
  sigmoids, one subtraction and one product in place (``tanh`` is about twice as slow as ``sigmoid`` on CPU).
"""

from __future__ import annotations

import torch

__all__ = ["pointwise", "fast_gate", "scale_rows"]


def pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``(B, C_in, T)`` -> ``(B, C_out, T)`` through ``weight`` ``(C_out, C_in)`` and ``bias`` ``(C_out,)``."""
    if x.shape[0] == 1:
        x2 = x[0]
        out = torch.mm(weight, x2) if bias is None else torch.addmm(bias.unsqueeze(-1), weight, x2)
        return out.unsqueeze(0)
    out = torch.matmul(weight, x)
    return out if bias is None else out.add_(bias.unsqueeze(-1))


def scale_rows(t: torch.Tensor, start: int, stop: int, factor: float) -> torch.Tensor:
    """A copy of ``t`` with rows ``start:stop`` of its first dimension multiplied by ``factor``."""
    out = t.detach().clone()
    out[start:stop] *= factor
    return out


def fast_gate(tanh_half: torch.Tensor, sigmoid_half: torch.Tensor) -> torch.Tensor:
    """In place: ``(sigmoid(tanh_half) - 0.5) * sigmoid(sigmoid_half)`` (= ``tanh(a) * sigmoid(b) / 2`` when
    ``tanh_half = 2a``); the caller doubles the consuming weights. Overwrites both inputs; returns a view of the
    first."""
    return torch.sigmoid_(tanh_half).sub_(0.5).mul_(torch.sigmoid_(sigmoid_half))
