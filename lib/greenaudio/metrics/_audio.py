"""Waveform input checks shared by the metrics (D_STFT, PESQ, STOI, DNSMOS, DistillMOS).

Used by: :mod:`greenaudio.metrics.spectral`, :mod:`greenaudio.metrics.intrusive`, :mod:`greenaudio.metrics.mos`.

Every metric works on float waveforms at full scale 1.0. 16-bit PCM (``int16``, what ``scipy.io.wavfile.read``
returns for most WAV files) is converted by dividing by 32,768, so a PCM clip and the same clip as float give the same
score; any other integer, boolean or complex dtype is rejected, because its full scale is ambiguous.
"""

from __future__ import annotations

import sys

import numpy as np

PCM16_FULL_SCALE = 32_768.0
"""Divisor that maps int16 PCM samples to float full scale 1.0."""


def as_float_waveform(audio, name: str) -> np.ndarray:
    """``audio`` (numpy, torch or a list) as a float64 numpy array at full scale 1.0 (int16 PCM divided by 32,768).

    Raises:
        ValueError: naming ``name``: an integer dtype other than int16, a boolean or complex dtype, or a
            non-numeric object.
    """
    torch = sys.modules.get("torch")  # not imported: the input cannot be a tensor (keeps PESQ/STOI torch-free)
    if torch is not None and isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu()
        if audio.dtype == torch.bfloat16:
            audio = audio.float()
        audio = audio.numpy()
    x = np.asarray(audio)
    if x.dtype == np.int16:
        return x.astype(np.float64) / PCM16_FULL_SCALE
    if x.dtype.kind in "iu":
        raise ValueError(
            f"{name} has integer dtype {x.dtype}; only int16 PCM (divided by 32768) is converted: "
            "pass float samples at full scale 1.0"
        )
    if x.dtype.kind not in "f":
        raise ValueError(f"{name} must hold real float samples (full scale 1.0) or int16 PCM, got dtype {x.dtype}")
    return x.astype(np.float64)
