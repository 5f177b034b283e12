"""Intrusive speech-quality metrics (need the reference clip): PESQ and STOI.

Used by: evaluation notebooks of Chapter 5 (the thesis monitored NB-PESQ during training, §5.2.1 / Appendix B).

- PESQ (ITU-T P.862 narrow-band at 8 or 16 kHz, P.862.2 wide-band at 16 kHz) via the ``pesq`` package (MIT);
  MOS-LQO scale, about -0.5 … 4.5 (narrow-band) and 1.0 … 4.64 (wide-band).
- STOI (Taal et al. 2011) and extended STOI (Jensen & Taal 2016) via ``pystoi`` (MIT); 0 … 1 (ESTOI may go below 0).

Imports are lazy (inside the functions), so ``import greenaudio.metrics`` stays light.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..validation import check_bool, check_choice, check_int
from ._audio import as_float_waveform

__all__ = ["compute_pesq", "compute_stoi"]

STOI_MIN_DURATION_S = 0.4
"""Shortest clip STOI can score (in s): 30 frames of 256 samples with hop 128 at 10 kHz = 3,968 samples, 0.397 s."""

PESQ_SAMPLE_RATES = {"nb": (8_000, 16_000), "wb": (16_000,)}
"""Sample rates (in Hz) the PESQ modes accept."""


def _pair(reference, degraded) -> tuple[np.ndarray, np.ndarray]:
    ref = as_float_waveform(reference, "reference")
    deg = as_float_waveform(degraded, "degraded")
    if ref.ndim != 1 or deg.ndim != 1:
        raise ValueError(f"reference and degraded must be 1-D waveforms, got shapes {ref.shape} and {deg.shape}")
    if ref.shape != deg.shape:
        raise ValueError(
            f"reference and degraded must have the same length, got {ref.size} and {deg.size} samples; "
            "crop the longer one first"
        )
    if not (np.isfinite(ref).all() and np.isfinite(deg).all()):
        raise ValueError("reference or degraded contains NaN or inf")
    return ref, deg


def compute_pesq(reference, degraded, sample_rate: int, mode: str = "wb") -> float:
    """PESQ MOS-LQO of ``degraded`` against ``reference``.

    Args:
        reference: clean waveform ``(N,)`` (full scale 1.0).
        degraded: waveform to rate, same length.
        sample_rate: in Hz; 16,000 for ``"wb"``; 8,000 or 16,000 for ``"nb"`` (resample other rates first, e.g.
            ``librosa.resample``).
        mode: ``"wb"`` (wide-band, P.862.2) or ``"nb"`` (narrow-band, P.862).

    Returns:
        PESQ score (MOS-LQO); ``nan`` when ``degraded`` is all zeros (PESQ's level alignment divides by the degraded
        signal's power, so the score is undefined; the ``pesq`` package itself crashes on it).

    Raises:
        ValueError: unknown mode, unsupported sample rate, length mismatch, clip shorter than 0.25 s, an all-zero
            reference, no speech detected by PESQ in the reference, or any other failure inside ``pesq``.
    """
    mode = check_choice("mode", mode, sorted(PESQ_SAMPLE_RATES))
    sample_rate = check_int("sample_rate", sample_rate, min_value=1)
    if sample_rate not in PESQ_SAMPLE_RATES[mode]:
        raise ValueError(
            f"PESQ mode {mode!r} needs a sample rate in {PESQ_SAMPLE_RATES[mode]} Hz, got {sample_rate}; resample first"
        )
    ref, deg = _pair(reference, degraded)
    if ref.size < sample_rate // 4:
        raise ValueError(f"PESQ needs at least 0.25 s ({sample_rate // 4} samples), got {ref.size}")
    if not np.abs(ref).max() > 0:
        raise ValueError("PESQ needs speech in the reference; it is all zeros")
    if not np.abs(deg).max() > 0:
        return float("nan")
    from pesq import PesqError, pesq

    try:
        return float(pesq(sample_rate, ref, deg, mode))
    except (PesqError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"PESQ failed ({type(exc).__name__}): {exc}") from exc


def compute_stoi(reference, degraded, sample_rate: int, extended: bool = False) -> float:
    """STOI (or extended STOI) intelligibility of ``degraded`` against ``reference``.

    Args:
        reference: clean waveform ``(N,)``.
        degraded: waveform to rate, same length.
        sample_rate: in Hz (any rate; pystoi resamples to 10 kHz internally).
        extended: compute ESTOI instead of STOI.

    Returns:
        STOI in [0, 1] (ESTOI may be slightly negative).

    Raises:
        ValueError: length mismatch, bad sample rate, a clip shorter than STOI's 30 analysis frames (0.4 s), or
            too little non-silent signal (fewer than 30 frames of 25.6 ms after pystoi's silence removal).
    """
    sample_rate = check_int("sample_rate", sample_rate, min_value=1000)
    extended = check_bool("extended", extended)
    ref, deg = _pair(reference, degraded)
    min_samples = int(np.ceil(STOI_MIN_DURATION_S * sample_rate))
    if ref.size < min_samples:
        raise ValueError(
            f"STOI needs at least {STOI_MIN_DURATION_S} s ({min_samples} samples at {sample_rate} Hz: 30 frames of "
            f"25.6 ms with 50 % overlap at 10 kHz), got {ref.size} samples"
        )
    if not np.abs(ref).max() > 0:
        raise ValueError("STOI needs about 0.4 s of non-silent speech; the reference is all zeros")
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(ref, deg, int(sample_rate), extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise ValueError("STOI needs about 0.4 s of non-silent speech; the reference is too short or silent")
    return value
