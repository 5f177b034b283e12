"""The mel front-end shared by every vocoder (thesis §5.1.2).

Used by: greenaudio.data, greenaudio.training, greenaudio.measure, notebooks of Chapter 5.

Settings (thesis §5.1.2 and its code): 16 kHz audio, ``n_fft`` 2048, Hann window, hop 256, centred frames,
power spectrogram (|STFT|^2), 80 Slaney-normalised mel bands from 0 to 8 kHz (librosa's filters), ``log(1 + S)``, then
dataset min–max normalisation (thesis Eq. 49) with statistics computed on the training set and stored.

Frame convention: a clip of ``N`` samples gives ``N // hop`` frames (the centred STFT's last frame, which only covers
the right padding, is dropped), so that every vocoder maps ``frames`` mel frames to exactly ``frames * hop`` samples.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["MelConfig", "MelFrontEnd", "MelNormalizer", "THESIS_MEL"]


@dataclass(frozen=True)
class MelConfig:
    """Mel analysis settings.

    Args:
        sample_rate: in Hz.
        n_fft: FFT size (in samples).
        hop_length: hop between frames (in samples).
        win_length: window length (in samples); ``None`` means ``n_fft``.
        n_mels: number of mel bands.
        f_min: lowest band edge (in Hz).
        f_max: highest band edge (in Hz); ``None`` means ``sample_rate / 2``.
        power: exponent of the magnitude (2 = power spectrogram).
    """

    sample_rate: int = 16_000
    n_fft: int = 2048
    hop_length: int = 256
    win_length: int | None = None
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = 8_000.0
    power: float = 2.0

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MelConfig.{name} must be a positive integer, got {value!r}")
        f_max = self.f_max if self.f_max is not None else self.sample_rate / 2
        if not 0 <= self.f_min < f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={self.f_min}, f_max={self.f_max}, "
                f"sample_rate={self.sample_rate}")


THESIS_MEL = MelConfig()


class MelFrontEnd(nn.Module):
    """Waveform ``(B, N)`` or ``(N,)`` -> log(1 + mel power) ``(B, n_mels, N // hop)``; batched, device-agnostic."""

    def __init__(self, config: MelConfig = THESIS_MEL):
        super().__init__()
        import librosa

        self.config = config
        fb = librosa.filters.mel(
            sr=config.sample_rate,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.f_min,
            fmax=config.f_max,
            htk=False,
            norm="slaney")
        self.register_buffer("mel_basis", torch.from_numpy(fb).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length or config.n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        if audio.dim() != 2:
            raise ValueError(f"audio must have shape (B, N) or (N,), got {tuple(audio.shape)}")
        if audio.shape[-1] < self.config.hop_length:
            raise ValueError(f"audio has {audio.shape[-1]} samples, fewer than one hop ({self.config.hop_length})")
        if not torch.isfinite(audio).all():
            raise ValueError("audio contains NaN or inf")
        frames = audio.shape[-1] // self.config.hop_length
        spec = torch.stft(
            audio.float(),
            n_fft=self.config.n_fft,
            hop_length=self.config.hop_length,
            win_length=self.config.win_length or self.config.n_fft,
            window=self.window,
            center=True,
            pad_mode="reflect" if audio.shape[-1] > self.config.n_fft // 2 else "constant",
            return_complex=True)
        power = spec.abs().pow(self.config.power)[..., :frames]
        mel = torch.matmul(self.mel_basis, power)
        return torch.log1p(mel)


@dataclass(frozen=True)
class MelNormalizer:
    """Dataset min–max normalisation of log-mel spectrograms (thesis Eq. 49): ``s' = (s - m_D) / (M_D - m_D)``.

    The thesis's Eq. 49 uses one global minimum and maximum over the whole dataset; they are stored so that
    inference on new audio uses the training set's statistics.
    """

    minimum: float
    maximum: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.minimum) and np.isfinite(self.maximum)) or self.maximum <= self.minimum:
            raise ValueError(f"need finite minimum < maximum, got {self.minimum}, {self.maximum}")

    @classmethod
    def fit(cls, mels) -> "MelNormalizer":
        """Statistics over an iterable of log-mel tensors/arrays (the training set)."""
        lo, hi = np.inf, -np.inf
        count = 0
        for m in mels:
            m = torch.as_tensor(m)
            lo = min(lo, float(m.min()))
            hi = max(hi, float(m.max()))
            count += 1
        if count == 0:
            raise ValueError("cannot fit a MelNormalizer on an empty dataset")
        return cls(minimum=lo, maximum=hi)

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.minimum) / (self.maximum - self.minimum)

    def denormalize(self, mel: torch.Tensor) -> torch.Tensor:
        return mel * (self.maximum - self.minimum) + self.minimum

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "MelNormalizer":
        return cls(**json.loads(Path(path).read_text()))
