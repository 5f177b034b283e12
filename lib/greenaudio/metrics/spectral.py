"""Spectral reconstruction distance D_STFT (thesis §3.1.1, Eq. 29–30; Table 7's D_STFT column).

Used by: evaluation notebooks of Chapter 5 (Table 7), tests.

``D_STFT(x, x~) = || l(x) - l(x~) ||_1`` with ``l(x) = log(eps + |STFT[x]|^2)`` (natural log). Settings follow the
thesis's code: ``n_fft`` 1024, hop 256, Hann window of 1024 samples, centred frames (reflect padding), power
spectrogram, ``eps = 1`` (i.e. ``log(1 + |STFT|^2)``). The value returned is the **mean** absolute difference per
time–frequency bin (the L1 norm divided by the number of bins, 513 x frames), averaged over the batch: this is the
scale of Table 7 (0.07–0.15); the raw L1 sum depends on the clip length.
"""

from __future__ import annotations

from ..validation import check_choice, check_positive_int, check_positive_number
from ._audio import as_float_waveform

__all__ = ["compute_d_stft", "compute_log_power_stft"]

D_STFT_N_FFT = 1024
"""FFT size of D_STFT (in samples), as in the thesis's code."""
D_STFT_HOP = 256
"""Hop of D_STFT (in samples), as in the thesis's code."""
D_STFT_EPS = 1.0
"""epsilon of Eq. 30 in the thesis's code (``log(1 + power)``)."""


def _as_batch(x, name: str):
    import torch

    t = torch.from_numpy(as_float_waveform(x, name))
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2:
        raise ValueError(f"{name} must have shape (N,) or (B, N), got {tuple(t.shape)}")
    if t.shape[0] == 0:  # no clip to score: D_STFT is a mean over clips, undefined for none
        raise ValueError(f"{name} has an empty batch: shape {tuple(t.shape)}; give at least one clip, (N,) or (B, N) "
                         "with B >= 1")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


def compute_log_power_stft(
    audio, *, n_fft: int = D_STFT_N_FFT, hop_length: int = D_STFT_HOP, eps: float = D_STFT_EPS
):
    """``l(x) = log(eps + |STFT[x]|^2)`` of thesis Eq. 30.

    Args:
        audio: waveform ``(N,)`` or ``(B, N)`` (numpy or torch; float at full scale 1.0, or int16 PCM, which is
            divided by 32,768), ``N >= n_fft // 2 + 1``.
        n_fft: FFT and Hann window size (in samples).
        hop_length: hop (in samples).
        eps: the epsilon of Eq. 30 (> 0).

    Returns:
        float64 torch tensor ``(B, n_fft // 2 + 1, 1 + N // hop_length)``.
    """
    import torch

    eps = check_positive_number("eps", eps)
    n_fft = check_positive_int("n_fft", n_fft)
    if n_fft < 2:
        raise ValueError(f"n_fft must be an integer >= 2, got {n_fft}")
    hop_length = check_positive_int("hop_length", hop_length)
    x = _as_batch(audio, "audio")
    if x.shape[-1] <= n_fft // 2:
        raise ValueError(f"audio has {x.shape[-1]} samples; need more than n_fft // 2 = {n_fft // 2}")
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop_length,
        window=torch.hann_window(n_fft, dtype=torch.float64),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return torch.log(eps + spec.abs().pow(2))


def compute_d_stft(
    reference,
    estimate,
    *,
    n_fft: int = D_STFT_N_FFT,
    hop_length: int = D_STFT_HOP,
    eps: float = D_STFT_EPS,
    reduction: str = "mean",
):
    """D_STFT of thesis Eq. 29: mean absolute difference of log-power STFTs per time–frequency bin.

    Args:
        reference: original waveform ``(N,)`` or ``(B, N)`` (float at full scale 1.0, or int16 PCM: divided by
            32,768 first, so a WAV file read as int16 gives the same distance as its float version).
        estimate: reconstruction, same shape (a vocoder's output cropped to the reference's length).
        n_fft: FFT size (in samples; 1024 in the thesis's code).
        hop_length: hop (in samples; 256).
        eps: epsilon of Eq. 30 (1.0 in the thesis's code).
        reduction: ``"mean"`` (one float: mean over bins and batch) or ``"none"`` (numpy ``(B,)``, one per clip).

    Returns:
        Dimensionless (natural-log units; 0 for identical inputs, symmetric in its arguments). With a tiny ``eps``,
        scaling a signal by ``a`` gives exactly ``2 |ln a|``.

    Raises:
        ValueError: shapes differ, an empty batch (``B == 0``), non-finite samples, too few samples, bad
            ``reduction``, an integer dtype other than int16.
    """
    reduction = check_choice("reduction", reduction, ("mean", "none"))
    ref = _as_batch(reference, "reference")
    est = _as_batch(estimate, "estimate")
    if ref.shape != est.shape:
        raise ValueError(
            f"reference and estimate must have the same shape, got {tuple(ref.shape)} and {tuple(est.shape)}; "
            "crop the longer one first"
        )
    diff = (compute_log_power_stft(ref, n_fft=n_fft, hop_length=hop_length, eps=eps)
            - compute_log_power_stft(est, n_fft=n_fft, hop_length=hop_length, eps=eps)).abs()
    per_item = diff.mean(dim=(-2, -1)).numpy()
    return float(per_item.mean()) if reduction == "mean" else per_item
