"""Pieces shared by the GAN vocoders (MelGAN, HiFi-GAN).

Used by: greenaudio.vocoders.melgan, greenaudio.vocoders.hifigan.

Discriminator convention (see :meth:`greenaudio.vocoders.base.Vocoder.build_discriminator`): ``forward(audio)`` takes
``(B, T)`` audio and returns ``(logits, features)``; ``logits[k]`` is the score map of sub-discriminator ``k`` and
``features[k]`` the list of its feature maps used by feature matching (each model's docstring says which layers).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from .base import Vocoder, validate_mel
from .graphs import split_gan

__all__ = ["GanVocoder", "wn", "sn", "feature_matching_loss", "hinge_discriminator_loss", "hinge_generator_loss",
           "lsgan_discriminator_loss", "lsgan_generator_loss", "check_audio_pair", "ReflectionPad1d",
           "multi_resolution_stft_loss", "STFT_LOSS_RESOLUTIONS", "conv_2d", "conv_prepared", "cache_convolutions",
           "to_prepared_layout"]

#: (n_fft, hop, window) of the multi-resolution STFT loss (ParallelWaveGAN, Yamamoto et al. 2020, §2.3).
STFT_LOSS_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


def multi_resolution_stft_loss(
    real_audio: torch.Tensor, fake_audio: torch.Tensor, resolutions=STFT_LOSS_RESOLUTIONS) -> dict[str, torch.Tensor]:
    """Multi-resolution STFT loss (ParallelWaveGAN Eq. 4-6): mean over resolutions of spectral convergence
    ``||S - S^||_F / ||S||_F`` plus log-magnitude L1 ``mean|log S - log S^|``. Resolutions whose FFT is longer than
    twice the audio are skipped (clips of a few frames).

    Args:
        real_audio, fake_audio: ``(B, T)`` waveforms.

    Returns:
        ``{"loss", "spectral_convergence", "log_magnitude"}`` scalar tensors.
    """
    check_audio_pair(real_audio, fake_audio)
    usable = [r for r in resolutions if r[0] // 2 < real_audio.shape[-1]]  # centred STFT pads n_fft / 2 each side
    if not usable:
        raise ValueError(f"audio of {real_audio.shape[-1]} samples is too short for the STFT loss; need more than "
                         f"{min(r[0] for r in resolutions) // 2} samples")
    resolutions = usable
    sc = real_audio.new_zeros(())
    mag = real_audio.new_zeros(())
    for n_fft, hop, win in resolutions:
        window = torch.hann_window(win, device=real_audio.device, dtype=real_audio.dtype)
        spec = [torch.stft(x, n_fft, hop, win, window, return_complex=True).abs().clamp_min(1e-7)
                for x in (real_audio, fake_audio)]
        sc = sc + torch.linalg.norm(spec[0] - spec[1]) / torch.linalg.norm(spec[0]).clamp_min(1e-7)
        mag = mag + torch.mean(torch.abs(torch.log(spec[0]) - torch.log(spec[1])))
    sc, mag = sc / len(resolutions), mag / len(resolutions)
    return {"loss": sc + mag, "spectral_convergence": sc, "log_magnitude": mag}

DiscriminatorOutput = tuple[list[torch.Tensor], list[list[torch.Tensor]]]


def wn(module: nn.Module) -> nn.Module:
    """Weight normalisation ``w = g * v / ||v||`` (new-style parametrization, ``dim=0`` as in both references).

    ``g`` is ``parametrizations.weight.original0``: one value per *output* channel for ``Conv1d``/``Conv2d``, per
    *input* channel for ``ConvTranspose1d`` (whose weight is ``(C_in, C_out, K)``); the references count it that way.
    """
    return weight_norm(module, name="weight", dim=0)


def sn(module: nn.Module) -> nn.Module:
    """Spectral normalisation (new-style parametrization; power-iteration vectors are buffers, not parameters)."""
    return spectral_norm(module, name="weight")


class ReflectionPad1d(nn.Module):
    """Reflection padding of ``(B, C, T)`` by ``pad`` samples each side, replicate padding where ``T <= pad``.

    Departs from the references (``nn.ReflectionPad1d``, which fails on inputs shorter than the padding) only for
    inputs of a few samples, e.g. MelGAN on 1 to 3 mel frames, so that any frame count >= 1 can be synthesised.
    """

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = "reflect" if x.shape[-1] > self.pad else "replicate"
        return nn.functional.pad(x, (self.pad, self.pad), mode=mode)

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


def conv_2d(conv: nn.Module, x: torch.Tensor, weight: torch.Tensor | None = None, bias: Any = "conv") -> torch.Tensor:
    """A ``Conv1d`` / ``ConvTranspose1d`` (stride, padding and dilation along time; one group) applied as the
    equivalent 2-D convolution to ``x`` ``(B, C_in, 1, T)``: its weight viewed as a ``(1, K)`` kernel (or
    ``weight``, ``bias`` when given: the cached ones of :func:`conv_prepared`)."""
    weight = conv.weight.unsqueeze(2) if weight is None else weight
    bias = conv.bias if isinstance(bias, str) else bias
    kw = dict(stride=(1, conv.stride[0]), padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]))
    if isinstance(conv, nn.ConvTranspose1d):
        return F.conv_transpose2d(x, weight, bias, output_padding=(0, conv.output_padding[0]), **kw)
    return F.conv2d(x, weight, bias, **kw)


def conv_prepared(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:func:`conv_2d` with the weight and bias cached by :func:`cache_convolutions` (channels-last, in the prepared
    path's compute dtype)."""
    return conv_2d(conv, x, conv.prepared_weight, conv.prepared_bias)


def cache_convolutions(module: nn.Module, dtype: torch.dtype = torch.float32) -> None:
    """Cache every convolution of ``module`` for :func:`conv_prepared`: its weight as a 2-D kernel ``(C_out, C_in, 1,
    K)`` (transposed: ``(C_in, C_out, 1, K)``) in channels-last memory format, and its bias, in ``dtype`` (float32, or
    bfloat16 for the ``"bf16"`` backend). Weight norm must already be folded; the parameters stay as they are.

    Why 2-D: oneDNN's channels-last direct convolution runs the narrow layers of the GAN generators (8-64 channels
    over thousands of samples) faster than its 1-D path, and its AVX512_BF16 kernels only through this form."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            m.prepared_weight = m.weight.detach().unsqueeze(2).to(dtype).contiguous(memory_format=torch.channels_last)
            m.prepared_bias = None if m.bias is None else m.bias.detach().to(dtype).clone()


def to_prepared_layout(mel: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(B, C, T)`` -> ``(B, C, 1, T)`` in ``dtype``, channels-last: the activations of the prepared GAN paths."""
    return mel.to(dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)


def check_audio_pair(real_audio: torch.Tensor, fake_audio: torch.Tensor) -> None:
    """Raise ``ValueError`` unless real and fake audio are ``(B, T)`` tensors of the same shape."""
    for name, audio in (("real_audio", real_audio), ("fake_audio", fake_audio)):
        if not isinstance(audio, torch.Tensor) or audio.dim() != 2:
            shape = tuple(audio.shape) if isinstance(audio, torch.Tensor) else type(audio).__name__
            raise ValueError(f"{name} must be a (B, T) tensor, got {shape}")
    if real_audio.shape != fake_audio.shape:
        raise ValueError(f"real_audio {tuple(real_audio.shape)} and fake_audio {tuple(fake_audio.shape)} differ")


def feature_matching_loss(
    real_features: list[list[torch.Tensor]], fake_features: list[list[torch.Tensor]], layer_weight: float = 1.0
) -> torch.Tensor:
    """Feature-matching loss: ``layer_weight * sum_k sum_i mean|D_k^i(x) - D_k^i(G(s))|`` (real features detached).

    Args:
        real_features: per sub-discriminator, the feature maps of real audio.
        fake_features: same structure for generated audio.
        layer_weight: factor applied to every L1 term (MelGAN: ``4 / (n_layers + 1) / n_scales``; HiFi-GAN: 1).

    Returns:
        scalar tensor.
    """
    loss = fake_features[0][0].new_zeros(())
    for real_maps, fake_maps in zip(real_features, fake_features, strict=True):
        for real, fake in zip(real_maps, fake_maps, strict=True):
            loss = loss + torch.mean(torch.abs(real.detach() - fake))
    return layer_weight * loss


def hinge_discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """``sum_k E[relu(1 - D_k(x))] + E[relu(1 + D_k(G(s)))]`` (MelGAN, Kumar et al. 2019, Eq. 1)."""
    return sum(
        torch.relu(1 - r).mean() + torch.relu(1 + f).mean() for r, f in zip(real_logits, fake_logits, strict=True))


def hinge_generator_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """``-sum_k E[D_k(G(s))]`` (MelGAN, Eq. 2)."""
    return sum(-f.mean() for f in fake_logits)


def lsgan_discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """``sum_k E[(D_k(x) - 1)^2] + E[D_k(G(s))^2]`` (HiFi-GAN, Kong et al. 2020, Eq. 1)."""
    return sum(((1 - r) ** 2).mean() + (f**2).mean() for r, f in zip(real_logits, fake_logits, strict=True))


def lsgan_generator_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """``sum_k E[(D_k(G(s)) - 1)^2]`` (HiFi-GAN, Eq. 2)."""
    return sum(((1 - f) ** 2).mean() for f in fake_logits)


class GanVocoder(Vocoder):
    """A GAN vocoder: one feed-forward pass of ``self.net`` (``(B, n_mels, F)`` -> ``(B, 1, F * hop)``).

    Subclasses build ``self.net`` and the discriminator, and name :attr:`generator_2d`; the inference procedure is
    empty (``generate(mel)`` takes no keyword arguments) and ``generator`` is ignored (no noise is sampled).

    Inference (:meth:`Vocoder.prepare_for_inference`), every backend:

    * ``"torch"`` / ``"compile"``: weight norm folded; every convolution runs as a 2-D ``(1, K)`` one on channels-last
      ``(B, C, 1, T)`` activations with cached weights (:func:`cache_convolutions`; oneDNN's channels-last kernels),
      sums and activations in place (each family's :meth:`_forward_prepared`).
    * ``"onnxruntime"``: :attr:`generator_2d` exported to ONNX; ONNX Runtime runs its convolutions in the blocked
      NCHWc layout with the activation fused (a 1-D ``Conv`` never gets that layout).
    * ``"bf16"``: the ``"torch"`` path with bfloat16 weights and activations (oneDNN's AVX512_BF16 kernels: two
      products per instruction lane), output cast back to float32; the parameters stay float32.
    * ``"int8"``: the ``"onnxruntime"`` graph quantised statically to int8 (QDQ; per-channel int8 weights, uint8
      activations, MinMax ranges over ``calibration_mels``).

    The float32 backends equal the plain path within 1e-4 x max(1, peak); the reduced-precision ones change the output
    by the SNR and D_STFT stated in the README (measured on the trained zoo's weights).
    """

    family = "gan"
    net: nn.Module
    #: The generator as 2-D convolutions over ``(B, C, 1, T)``, built as ``generator_2d(self.net)``: the ONNX export.
    generator_2d: ClassVar[type[nn.Module]]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Differentiable synthesis.

        Args:
            mel: ``(B, n_mels, frames)`` or ``(n_mels, frames)`` normalised log-mel spectrogram.

        Returns:
            audio ``(B, frames * hop_length)`` in [-1, 1].

        Raises:
            PreparedModelError: the model was prepared for inference and gradients are enabled (use ``generate`` or
                ``torch.no_grad()``).
        """
        if torch.is_grad_enabled():
            self._reject_training("forward() with gradients enabled")
        return self.net(validate_mel(mel, self.n_mels)).squeeze(1)

    def reconstruction_loss(self, real_audio: torch.Tensor, fake_audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator's loss before the discriminator joins (``TrainConfig.discriminator_start_step``).

        Default: the multi-resolution STFT loss of ParallelWaveGAN (whose generator is warmed up on it alone);
        models whose paper has a reconstruction term of its own override this with it. ``{"loss", ...}``.
        """
        self._reject_training("reconstruction_loss()")
        return multi_resolution_stft_loss(real_audio, fake_audio)

    def _check_losses(self, what: str, real_audio: torch.Tensor, fake_audio: torch.Tensor) -> None:
        """The checks every loss starts with: a prepared model refuses (:class:`PreparedModelError`), the audio pair
        must be ``(B, T)`` tensors of one shape (``ValueError``)."""
        self._reject_training(what)
        check_audio_pair(real_audio, fake_audio)

    def _generator_features(self, real_audio, fake_audio, discriminator) -> tuple[list, list, list]:
        """``(fake_logits, fake_features, real_features)`` for a generator loss (real features without gradient)."""
        self._check_losses("generator_loss()", real_audio, fake_audio)
        fake_logits, fake_features = discriminator(fake_audio)
        with torch.no_grad():
            _, real_features = discriminator(real_audio)
        return fake_logits, fake_features, real_features

    def _discriminator_logits(self, real_audio, fake_audio, discriminator) -> tuple[list, list]:
        """``(real_logits, fake_logits)`` for a discriminator loss."""
        self._check_losses("discriminator_loss()", real_audio, fake_audio)
        return discriminator(real_audio)[0], discriminator(fake_audio)[0]

    def _generate(
        self, mel: torch.Tensor, *, generator: torch.Generator | None = None, **procedure: Any) -> torch.Tensor:
        if self.is_prepared:
            return self._compiled("net", self._forward_prepared)(mel).squeeze(1)
        return self.net(mel).squeeze(1)  # mel already validated by generate(); runs under the caller's grad mode

    def _forward_prepared(self, mel: torch.Tensor) -> torch.Tensor:
        """The generator network on the prepared (inference-only) path; subclasses may rewrite it in place."""
        return self.net(mel)

    def _prepare_family(self) -> None:
        cache_convolutions(self.net, torch.float32)

    def _prepare_precision(self, backend: str) -> None:
        if backend == "bf16":
            cache_convolutions(self.net, torch.bfloat16)

    def _export_graphs(self, example_frames: int, **procedure: Any):
        """One graph, ``generator``: :attr:`generator_2d` (2-D convolutions: ONNX Runtime's NCHWc kernels)."""
        return split_gan(self, example_frames, self.generator_2d(self.net).eval(), "one forward pass of the "
                         "generator (2-D convolutions), as generate(mel)", **procedure)

    def _bfloat16_runner(self) -> None:
        """None: the GANs' ``"bf16"`` backend is their torch path with bfloat16 convolution caches
        (:func:`cache_convolutions` from :meth:`_prepare_precision`), no copy of the model."""
        return None
