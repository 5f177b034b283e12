"""Non-intrusive MOS predictors (no reference needed): DNSMOS and DistillMOS.

Used by: evaluation notebooks of Chapter 5, as stand-ins for MOSNet (thesis §5.2.1, Fig. 30) and for the listening test
of Table 7 — predictions, not human ratings: label them as such.

- DNSMOS P.835 (SIG / BAK / OVRL) and P.808 (Reddy et al. 2021/2022), ONNX models shipped inside ``speechmos``
  (MIT). Input: 16 kHz, values in [-1, 1]. Clips shorter than 9.01 s are looped by the package up to that length.
  The first call loads the models (tens of seconds on a shared CPU), later calls ~1 s per clip.
- DistillMOS (Stahl & Gamper 2025), a distilled XLS-R SQA model, weights inside the ``distillmos`` wheel (MIT).
  Input: 16 kHz. ~0.3 s per clip on CPU. Its package imports ``torchaudio`` only for its command-line tool; when
  torchaudio is absent or broken (a build for another torch) a stub module is put in ``sys.modules`` for the duration
  of the import only.

No weights are downloaded: both packages carry their models.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from functools import lru_cache

import numpy as np

from ..validation import check_bool, check_int
from ._audio import as_float_waveform

__all__ = ["compute_dnsmos", "compute_distillmos"]

MOS_SAMPLE_RATE = 16_000
"""The only sample rate (in Hz) DNSMOS and DistillMOS accept."""


def _check(audio, sample_rate: int, *, min_samples: int, batch: bool) -> np.ndarray:
    if check_int("sample_rate", sample_rate, min_value=1) != MOS_SAMPLE_RATE:
        raise ValueError(
            f"sample_rate must be {MOS_SAMPLE_RATE} Hz, got {sample_rate}; resample first (librosa.resample)"
        )
    x = as_float_waveform(audio, "audio").astype(np.float32)
    if x.ndim not in ((1, 2) if batch else (1,)):
        raise ValueError(f"audio must have shape (N,){' or (B, N)' if batch else ''}, got {x.shape}")
    if x.shape[-1] < min_samples:
        raise ValueError(f"audio needs at least {min_samples} samples ({min_samples / MOS_SAMPLE_RATE:.2f} s), got {x.shape[-1]}")
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or inf")
    peak = float(np.abs(x).max())
    if peak > 1.0:
        raise ValueError(f"audio must lie in [-1, 1] (float full scale), peak is {peak:.3f}")
    if peak == 0.0:
        raise ValueError("audio is all zeros")
    return x


def compute_dnsmos(audio, sample_rate: int = MOS_SAMPLE_RATE, personalized: bool = False) -> dict[str, float]:
    """DNSMOS scores of one clip.

    Args:
        audio: waveform ``(N,)`` at 16 kHz in [-1, 1] (or int16 PCM, divided by 32,768), at least 0.5 s.
        sample_rate: in Hz (must be 16,000).
        personalized: use the personalised P.835 model (penalises interfering talkers).

    Returns:
        ``{"ovrl_mos", "sig_mos", "bak_mos", "p808_mos"}`` on the 1–5 MOS scale.

    Raises:
        ValueError: wrong rate, shape, length or range.
    """
    x = _check(audio, sample_rate, min_samples=MOS_SAMPLE_RATE // 2, batch=False)
    personalized = check_bool("personalized", personalized)
    from speechmos import dnsmos

    out = dnsmos.run(x, MOS_SAMPLE_RATE, model_type="dnsmos_personalized" if personalized else "dnsmos")
    return {k: float(out[k]) for k in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")}


@lru_cache(maxsize=1)
def _distillmos_model():
    import torch  # noqa: F401

    stub = None
    if "torchaudio" not in sys.modules and not _torchaudio_imports():
        stub = types.ModuleType("torchaudio")
        stub.__doc__ = "greenaudio stub: torchaudio is only needed by distillmos's command-line tool"
        sys.modules["torchaudio"] = stub
    try:
        import contextlib
        import io

        import distillmos

        with contextlib.redirect_stdout(io.StringIO()):  # it prints the weights' path
            model = distillmos.ConvTransformerSQAModel()
    finally:
        if stub is not None and sys.modules.get("torchaudio") is stub:
            del sys.modules["torchaudio"]
    return model.eval()


def _torchaudio_imports() -> bool:
    """Whether a working torchaudio is installed (absent, or built for another torch, counts as not working)."""
    if importlib.util.find_spec("torchaudio") is None:
        return False
    try:
        import torchaudio  # noqa: F401
    except Exception:  # e.g. OSError from its C++ extension when it does not match the installed torch
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        return False
    return True


def compute_distillmos(audio, sample_rate: int = MOS_SAMPLE_RATE):
    """DistillMOS predicted MOS.

    Args:
        audio: waveform ``(N,)`` or batch ``(B, N)`` at 16 kHz in [-1, 1] (or int16 PCM, divided by 32,768), at
            least 0.5 s (shorter than 7.68 s is
            zero-padded by the model; longer is scored on overlapping 7.68 s windows and averaged).
        sample_rate: in Hz (must be 16,000).

    Returns:
        A float for ``(N,)`` input, a numpy ``(B,)`` array for a batch; 1–5 MOS scale.

    Raises:
        ValueError: wrong rate, shape, length or range.
    """
    import torch

    x = _check(audio, sample_rate, min_samples=MOS_SAMPLE_RATE // 2, batch=True)
    model = _distillmos_model()
    with torch.inference_mode():
        out = model(torch.from_numpy(np.atleast_2d(x))).reshape(-1).numpy().astype(np.float64)
    return float(out[0]) if x.ndim == 1 else out
