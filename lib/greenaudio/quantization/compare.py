"""How much quantisation changes a vocoder's output: relative L2 error, SNR and D_STFT against the fp32 output.

Used by: :mod:`greenaudio.quantization.pipeline`, the QAT of Chapter 6.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["compute_output_change"]


def compute_output_change(reference, estimate) -> dict[str, float]:
    """Difference between a reference waveform (fp32 output) and another (int8 output), same shape.

    Args:
        reference: ``(N,)`` or ``(B, N)`` waveform (torch or numpy).
        estimate: same shape.

    Returns:
        ``rel_l2`` (``||est - ref|| / ||ref||``, dimensionless), ``snr_db`` (``10 log10(sum ref^2 / sum (ref -
        est)^2)``, in dB; ``inf`` when identical) and ``d_stft`` (thesis Eq. 29, :func:`greenaudio.metrics.
        compute_d_stft`; ``nan`` for clips too short for its FFT).

    Raises:
        ValueError: shapes differ or values are not finite.
    """
    ref = np.asarray(reference.detach().cpu() if isinstance(reference, torch.Tensor) else reference, np.float64)
    est = np.asarray(estimate.detach().cpu() if isinstance(estimate, torch.Tensor) else estimate, np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"reference and estimate shapes differ: {ref.shape} vs {est.shape}")
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise ValueError("reference or estimate contains NaN or inf")
    err = float(np.sum((est - ref) ** 2))
    power = float(np.sum(ref**2))
    rel = math.sqrt(err / power) if power > 0 else float("inf")
    snr = float("inf") if err == 0 else (10 * math.log10(power / err) if power > 0 else float("-inf"))
    from greenaudio.metrics import compute_d_stft

    try:
        d = compute_d_stft(ref, est)
    except ValueError:
        d = float("nan")
    return {"rel_l2": rel, "snr_db": snr, "d_stft": float(d)}
