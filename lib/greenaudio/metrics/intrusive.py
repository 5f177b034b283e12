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

__all__ = ["compute_pesq", "compute_stoi", "PESQ_SAMPLE_RATES"]

PESQ_SAMPLE_RATES = {"nb": (8_000, 16_000), "wb": (16_000,)}
"""Sample rates (in Hz) the PESQ modes accept."""


def _pair(reference, degraded) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64)
    deg = np.asarray(degraded, dtype=np.float64)
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
        PESQ score (MOS-LQO).

    Raises:
        ValueError: unknown mode, unsupported sample rate, length mismatch, clip shorter than 0.25 s, an all-zero
            reference, or no speech detected by PESQ in the reference.
    """
    if mode not in PESQ_SAMPLE_RATES:
        raise ValueError(f"mode must be one of {sorted(PESQ_SAMPLE_RATES)}, got {mode!r}")
    if sample_rate not in PESQ_SAMPLE_RATES[mode]:
        raise ValueError(
            f"PESQ mode {mode!r} needs a sample rate in {PESQ_SAMPLE_RATES[mode]} Hz, got {sample_rate}; resample first"
        )
    ref, deg = _pair(reference, degraded)
    if ref.size < sample_rate // 4:
        raise ValueError(f"PESQ needs at least 0.25 s ({sample_rate // 4} samples), got {ref.size}")
    if not np.abs(ref).max() > 0:
        raise ValueError("PESQ needs speech in the reference; it is all zeros")
    from pesq import PesqError, pesq

    try:
        return float(pesq(sample_rate, ref, deg, mode))
    except PesqError as exc:
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
        ValueError: length mismatch, bad sample rate, or too little non-silent signal (fewer than 30 frames of
            25.6 ms after pystoi's silence removal — about 0.4 s of speech).
    """
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1000:
        raise ValueError(f"sample_rate must be an integer >= 1000 Hz, got {sample_rate!r}")
    ref, deg = _pair(reference, degraded)
    if not np.abs(ref).max() > 0:
        raise ValueError("STOI needs about 0.4 s of non-silent speech; the reference is all zeros")
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(ref, deg, int(sample_rate), extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise ValueError("STOI needs about 0.4 s of non-silent speech; the reference is too short or silent")
    return value
