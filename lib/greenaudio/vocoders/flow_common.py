"""Pieces shared by the two normalising-flow vocoders, WaveGlow and WaveFlow (thesis §5.1.1).

Used by: greenaudio.vocoders.waveglow, greenaudio.vocoders.waveflow.

Both flows map a waveform ``x`` to a latent ``z`` of the same size through invertible layers ``f`` and are trained by
exact maximum likelihood (change of variables):

    log p(x | c) = log N(z; 0, sigma^2 I) + log |det df/dx|,   z = f(x; c).

Inference draws ``z ~ N(0, sigma^2 I)`` and runs ``f^{-1}``; ``sigma`` is the *temperature*.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.nn.utils import parametrizations

__all__ = ["weight_norm", "gated_tanh", "draw_latent", "gaussian_nll", "check_audio_and_mel", "InferenceCacheMixin"]


def weight_norm(module: nn.Module) -> nn.Module:
    """New-style weight normalisation ``w = g * v / ||v||``; gains ``g`` seen by count_parameters."""
    return parametrizations.weight_norm(module)


def gated_tanh(acts: torch.Tensor, n_channels: int) -> torch.Tensor:
    """WaveNet gate ``tanh(a_f) * sigmoid(a_g)``: ``(B, 2C, ...)`` -> ``(B, C, ...)``."""
    return torch.tanh(acts[:, :n_channels]) * torch.sigmoid(acts[:, n_channels:])


def draw_latent(
    shape: tuple[int, ...], like: torch.Tensor, sigma: float, generator: torch.Generator | None) -> torch.Tensor:
    """``sigma * N(0, I)`` of ``shape`` on ``like``'s device and dtype.

    The noise is drawn on the generator's own device (so a CPU generator also seeds CUDA runs) and then moved.
    """
    device = generator.device if generator is not None else like.device
    z = torch.randn(shape, generator=generator, device=device, dtype=torch.float32)
    return (z * sigma).to(device=like.device, dtype=like.dtype)


def gaussian_nll(z: torch.Tensor, log_det: torch.Tensor, sigma: float) -> dict[str, torch.Tensor]:
    """Negative log-likelihood of a flow, averaged per sample dimension.

    Args:
        z: latent, any shape with ``z.numel() = B * T`` audio samples.
        log_det: ``(B,)`` log-determinant of the Jacobian of ``x -> z`` per batch item (in nats).
        sigma: standard deviation of the Gaussian prior (training sigma, 1.0 in both references).

    Returns:
        ``{"loss": -(log_p + log_det), "log_p": ..., "log_det": ...}``, scalar tensors in nats per audio sample.
        Unlike the references' losses, ``log_p`` includes the constant ``-log(2 pi sigma^2) / 2`` so that ``loss``
        is a true NLL (gradients are unchanged).
    """
    n = z.numel()
    log_p = (-0.5 * (z.float() / sigma) ** 2).sum() / n - 0.5 * math.log(2 * math.pi * sigma**2)
    log_det = log_det.float().sum() / n
    return {"loss": -(log_p + log_det), "log_p": log_p, "log_det": log_det}


def check_audio_and_mel(
    audio: torch.Tensor, mel: torch.Tensor, n_mels: int, hop_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a training pair; returns ``(audio (B, T), mel (B, n_mels, frames))`` with ``T = frames * hop_length``.

    Raises:
        ValueError: wrong shapes, or audio length not equal to ``frames * hop_length``.
    """
    from .base import validate_mel

    mel = validate_mel(mel, n_mels)
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"audio must be a torch.Tensor, got {type(audio).__name__}")
    if audio.dim() == 3 and audio.shape[1] == 1:
        audio = audio.squeeze(1)
    elif audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2 or audio.shape[0] != mel.shape[0]:
        raise ValueError(
            f"audio must have shape ({mel.shape[0]}, T) to match mel {tuple(mel.shape)}, got {tuple(audio.shape)}")
    expected = mel.shape[-1] * hop_length
    if audio.shape[-1] != expected:
        raise ValueError(f"audio has {audio.shape[-1]} samples, expected frames * hop_length = {expected}")
    return audio, mel


class InferenceCacheMixin:
    """Caches built by ``prepare_for_inference`` (inverse matrices, fused conditioning weights), and the flows'
    training NLL (:meth:`training_loss`, through the family's ``flow_forward``).

    They are derived from the weights, so they are dropped whenever the model is switched back to training mode.
    Subclasses list the owning submodules' cache-clearing callables in :meth:`_cache_clearers`.
    """

    def _cache_clearers(self) -> list[Callable[[], None]]:  # pragma: no cover - overridden
        return []

    def training_loss(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """NLL (nats per audio sample) of ``audio`` ``(B, frames * hop)`` given ``mel`` ``(B, n_mels, frames)``."""
        self._reject_training("training_loss()")  # type: ignore[attr-defined]
        audio, mel = check_audio_and_mel(audio, mel, self.n_mels, self.hop_length)  # type: ignore[attr-defined]
        z, log_det = self.flow_forward(audio, mel)  # type: ignore[attr-defined]
        return gaussian_nll(z, log_det, self.config.train_sigma)  # type: ignore[attr-defined]

    def train(self, mode: bool = True):  # type: ignore[override]
        if mode:
            self._reject_training("model.train()")  # type: ignore[attr-defined]  (a prepared model stays intact)
            for clear in self._cache_clearers():
                clear()
        return super().train(mode)  # type: ignore[misc]
