"""Small kernels shared by the prepared (inference-only) paths of the zoo.

Used by: greenaudio.vocoders.diffwave, waveflow, waveglow, wavegrad (``prepare_for_inference``).

* :func:`pointwise`: a 1x1 convolution as one GEMM (``addmm``/``matmul``), which on CPU avoids the im2col copy of
  ``conv1d``'s slow path for 1x1 kernels.
* :func:`gate_weights` / :func:`fast_gate`: the WaveNet gate ``tanh(a) * sigmoid(b)`` with
  ``tanh(a) = 2 sigmoid(2a) - 1``: the factor 2 on ``a`` is folded into the weights that produce ``a`` (exact: a
  power of two) and the outer factor 2 into the 1x1 convolution that consumes the gate, so the gate costs two
  sigmoids, one subtraction and one product in place (``tanh`` is about twice as slow as ``sigmoid`` on CPU).
* :func:`transposed_conv_overlap_add`: a ``ConvTranspose1d`` (WaveGlow's mel upsampler, kernel 1024, stride 256)
  as one GEMM per stride-long slice of the kernel plus shifted additions. Same FLOPs (fewer: the trimmed tail is never
  computed), but no oneDNN primitive to create: on this project's CPU the first call of ``conv_transpose1d`` for
  each new input shape took 3–8 s (batch > 1, or 10 s of audio), every later call 0.3 s.
"""

from __future__ import annotations

import torch

__all__ = ["pointwise", "fast_gate", "scale_rows", "transposed_conv_overlap_add"]


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


def transposed_conv_overlap_add(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                                length: int) -> torch.Tensor:
    """``conv_transpose1d(x, weight, bias, stride)[..., :length]`` (no padding, no dilation, one group).

    ``x`` ``(B, C_in, F)``, ``weight`` ``(C_in, C_out, K)``; output ``(B, C_out, length)`` with
    ``length <= (F - 1) * stride + K``. Frame ``f`` adds ``x[:, :, f] @ weight`` at samples ``f * stride ...``:
    computed as ``ceil(K / stride)`` GEMMs, slice ``j`` of the kernel landing ``j`` frames later.
    """
    b, c_in, frames = x.shape
    c_out, k = weight.shape[1], weight.shape[2]
    slices = -(-k // stride)
    if slices * stride != k:
        weight = torch.nn.functional.pad(weight, (0, slices * stride - k))
    out_frames = -(-length // stride)
    out = x.new_zeros(b, c_out, out_frames * stride)
    rows = x.transpose(1, 2)  # (B, F, C_in)
    for j in range(slices):
        n = min(frames, out_frames - j)
        if n <= 0:
            break
        w_j = weight[:, :, j * stride : (j + 1) * stride].reshape(c_in, c_out * stride)
        part = torch.matmul(rows[:, :n], w_j).view(b, n, c_out, stride).permute(0, 2, 1, 3)
        out[:, :, j * stride : (j + n) * stride] += part.reshape(b, c_out, n * stride)
    out = out[..., :length]
    return out if bias is None else out.add_(bias.unsqueeze(-1))
