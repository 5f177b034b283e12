"""MelGAN (Kumar et al., NeurIPS 2019), thesis §5.1.1: generator, multi-scale discriminator, hinge + feature matching.

Used by: greenaudio.vocoders registry (``load("melgan", size)``), notebooks of Chapter 5, greenaudio.training.

Architecture as in the reference implementation (descriptinc/melgan-neurips, MIT; read to learn, written anew here):

* Generator: reflection-pad + conv k7 (``n_mels -> 16 ngf``); for each upsampling ratio ``r`` in ``(8, 8, 2, 2)``:
  LeakyReLU(0.2) -> ConvTranspose1d(kernel 2r, stride r) halving the channels -> ``n_residual_layers`` residual stacks
  (LReLU -> reflection-pad + dilated conv k3, dilation 3^j -> LReLU -> conv 1x1, plus a 1x1 shortcut);
  then LReLU -> reflection-pad + conv k7 (``ngf -> 1``) -> tanh. Every convolution is weight-normed.
* Discriminator: ``n_scales`` identical blocks on raw audio, then audio average-pooled by 2 (kernel 4) per scale;
  each block: conv k15 (``1 -> ndf``), ``n_layers`` grouped strided convs (kernel 10s+1, stride s = downsampling
  factor, channels x s capped at 1024), conv k5, conv k3 -> one score per position.

Departure: reflection padding falls back to replicate padding on inputs shorter than the pad (1-3 frames for the
presets), where the reference fails; longer inputs are unaffected.

Sizes (thesis Table 8; counts include weight-norm gains): small ngf 16 / 2 residual layers (1,030,786 params),
medium = paper default ngf 32 / 3 (4,266,050), large ngf 64 / 4 (18,214,658).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .base import (OptimizerConfig, VocoderConfig, check_config_int, check_config_ints, check_config_number,
                   positive_int_or_none)
from .gan_common import (DiscriminatorOutput, GanVocoder, ReflectionPad1d, conv_2d,
                         conv_prepared, feature_matching_loss, hinge_discriminator_loss, hinge_generator_loss,
                         to_prepared_layout, wn)
from .registry import ModelEntry, register

__all__ = ["MelGANConfig", "MelGAN", "MelGANGenerator", "MelGANDiscriminator", "min_reflection_frames"]

LRELU_SLOPE = 0.2


@dataclass(frozen=True)
class MelGANConfig(VocoderConfig):
    """MelGAN configuration.

    Args:
        ngf: generator base width; the first conv has ``2**len(upsample_ratios) * ngf`` channels, the last ``ngf``.
        n_residual_layers: residual stacks after each upsampling layer (dilations ``3**j``).
        upsample_ratios: stride of each transposed conv; their product must equal ``hop_length``.
        disc_scales: number of sub-discriminators (audio scales), ``D_k`` in the paper.
        disc_ndf: width of the first discriminator conv.
        disc_layers: number of grouped strided convs per sub-discriminator.
        disc_downsampling_factor: stride of those convs (the channel count grows by the same factor).
        lambda_feat: weight of the feature-matching loss (paper: lambda = 10).
    """

    model: str = "melgan"
    ngf: int = 32
    n_residual_layers: int = 3
    upsample_ratios: tuple[int, ...] = (8, 8, 2, 2)
    disc_scales: int = 3
    disc_ndf: int = 16
    disc_layers: int = 4
    disc_downsampling_factor: int = 4
    lambda_feat: float = 10.0
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(name="adam", lr=1e-4, betas=(0.5, 0.9)))

    def __post_init__(self) -> None:
        """Validate the fields (``ValueError`` naming ``MelGANConfig.<field>`` and the value) before any layer is
        built: widths and counts are integers (``ngf``, ``disc_scales``, ``disc_ndf`` >= 1; ``n_residual_layers``,
        ``disc_layers`` >= 0), ``upsample_ratios`` multiply to ``hop_length``, the discriminator's grouped
        convolutions divide their channels, and ``lambda_feat`` >= 0."""
        check_config_int(self, "ngf")
        check_config_int(self, "n_residual_layers", min_value=0)
        ratios = check_config_ints(self, "upsample_ratios")
        check_config_int(self, "disc_scales")
        ndf = check_config_int(self, "disc_ndf")
        layers = check_config_int(self, "disc_layers", min_value=0)
        factor = check_config_int(self, "disc_downsampling_factor")
        check_config_number(self, "lambda_feat", min_value=0.0)
        hop = positive_int_or_none(self.hop_length)
        if hop is not None and math.prod(ratios) != hop:
            raise ValueError(f"prod(upsample_ratios)={math.prod(ratios)} must equal hop_length={hop} "
                             f"(MelGANConfig.upsample_ratios={ratios})")
        channels = ndf  # the grouped strided convolutions of each sub-discriminator (groups = in_channels // 4)
        for i in range(layers):
            out, groups = min(channels * factor, 1024), channels // 4
            if groups < 1 or channels % groups or out % groups:
                raise ValueError(
                    f"MelGANConfig.disc_ndf={ndf} with disc_downsampling_factor={factor} gives discriminator layer "
                    f"{i + 1} of {channels} -> {out} channels in {groups} groups (channels // 4); both channel counts "
                    f"must be multiples of a group count >= 1 (e.g. disc_ndf=16, the paper's)")
            channels = out


def min_reflection_frames(config: MelGANConfig) -> int:
    """The fewest mel frames for which every reflection padding of the generator reflects.

    :class:`~greenaudio.vocoders.gan_common.ReflectionPad1d` reflects an input longer than its pad and replicates a
    shorter one. The generator pads the mel by 3, the output of upsampling stage ``i`` (``frames * prod(ratios[:i+1])``
    samples) by the residual stacks' dilations ``3^j``, and the audio by 3; below the returned frame count at least one
    of them replicates. A graph traced for ONNX (with longer inputs) keeps reflection everywhere, which ONNX Runtime
    refuses for such short inputs (4 frames for the presets).
    """
    pads = [(3, 1)]  # (pad, samples per mel frame where it applies)
    length = 1
    for r in config.upsample_ratios:
        length *= r
        pads += [(3**j, length) for j in range(config.n_residual_layers)]
    pads.append((3, length))
    return max(pad // per_frame + 1 for pad, per_frame in pads)


class ResidualStack(nn.Module):
    """``x + f(x)`` block of the generator: ``(B, C, T) -> (B, C, T)`` with a dilated k3 conv and a 1x1 shortcut."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(LRELU_SLOPE),
            ReflectionPad1d(dilation),
            wn(nn.Conv1d(channels, channels, kernel_size=3, dilation=dilation)),
            nn.LeakyReLU(LRELU_SLOPE),
            wn(nn.Conv1d(channels, channels, kernel_size=1)))
        self.shortcut = wn(nn.Conv1d(channels, channels, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)

    def forward_2d(self, x: torch.Tensor, conv: Callable, in_place: bool) -> torch.Tensor:
        """:meth:`forward` on ``(B, C, 1, T)`` with 2-D convolutions (``conv``: :func:`.gan_common.conv_2d` for the
        ONNX export, :func:`.gan_common.conv_prepared` on the prepared path, where ``in_place`` runs the inner
        activation and the sum in place; ``x`` itself is never modified)."""
        _, pad, dilated, _, pointwise = self.block
        y = conv(dilated, _pad_time(nn.functional.leaky_relu(x, LRELU_SLOPE), pad.pad))
        y = conv(pointwise, (nn.functional.leaky_relu_ if in_place else nn.functional.leaky_relu)(y, LRELU_SLOPE))
        shortcut = conv(self.shortcut, x)
        return shortcut.add_(y) if in_place else shortcut + y


def _pad_time(x: torch.Tensor, pad: int) -> torch.Tensor:
    """:class:`.gan_common.ReflectionPad1d` on ``(B, C, 1, T)``: reflection along time, replication if ``T <= pad``."""
    return nn.functional.pad(x, (pad, pad, 0, 0), mode="reflect" if x.shape[-1] > pad else "replicate")


def _generator_2d(generator: nn.Sequential, x: torch.Tensor, conv: Callable, in_place: bool) -> torch.Tensor:
    """The MelGAN generator's layers on ``(B, C, 1, T)`` with 2-D convolutions (see :meth:`ResidualStack.forward_2d`);
    ``in_place``: activations overwrite their input, which is then never the caller's (a padded copy or a
    convolution's output)."""
    for layer in generator:
        if isinstance(layer, ResidualStack):
            x = layer.forward_2d(x, conv, in_place)
        elif isinstance(layer, nn.LeakyReLU):
            x = (nn.functional.leaky_relu_ if in_place else nn.functional.leaky_relu)(x, LRELU_SLOPE)
        elif isinstance(layer, nn.Tanh):
            x = torch.tanh_(x) if in_place else torch.tanh(x)
        elif isinstance(layer, ReflectionPad1d):
            x = _pad_time(x, layer.pad)
        else:
            x = conv(layer, x)
    return x


class MelGANGenerator(nn.Sequential):
    """``(B, n_mels, F)`` -> ``(B, 1, F * prod(ratios))`` audio in [-1, 1]."""

    def __init__(self, n_mels: int, ngf: int, n_residual_layers: int, ratios: tuple[int, ...]):
        channels = ngf * 2 ** len(ratios)
        layers: list[nn.Module] = [ReflectionPad1d(3), wn(nn.Conv1d(n_mels, channels, kernel_size=7))]
        for r in ratios:
            # kernel 2r, stride r, padding r//2 + r%2, output_padding r%2: output length exactly r * input length
            layers += [
                nn.LeakyReLU(LRELU_SLOPE),
                wn(nn.ConvTranspose1d(channels, channels // 2, 2 * r, stride=r, padding=r // 2 + r % 2,
                                      output_padding=r % 2))]
            channels //= 2
            layers += [ResidualStack(channels, dilation=3**j) for j in range(n_residual_layers)]
        layers += [nn.LeakyReLU(LRELU_SLOPE), ReflectionPad1d(3), wn(nn.Conv1d(channels, 1, kernel_size=7)), nn.Tanh()]
        super().__init__(*layers)


class Generator2d(nn.Module):
    """The generator as 2-D ``(1, K)`` convolutions over ``(B, C, 1, T)`` (``mel (B, n_mels, F)`` -> ``audio (B, 1,
    F * hop)``), for ONNX export: ONNX Runtime runs 2-D convolutions in its blocked NCHWc layout with the activation
    fused, 1-D ones through im2col + SGEMM (see :class:`greenaudio.vocoders.hifigan.Generator2d`). Holds the
    generator itself (same parameters)."""

    def __init__(self, generator: MelGANGenerator):
        super().__init__()
        self.generator = generator

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # (B, 1, 1, T) -> (B, 1, T) by flatten: a Squeeze at the end is dropped by ONNX Runtime's quant_pre_process
        return _generator_2d(self.generator, mel.unsqueeze(2), conv_2d, in_place=False).flatten(2)


class ScaleDiscriminator(nn.Module):
    """One MelGAN sub-discriminator ``D_k``: ``(B, 1, T)`` -> list of ``n_layers + 3`` maps, the last is the score."""

    def __init__(self, ndf: int, n_layers: int, factor: int):
        super().__init__()
        layers = [nn.Sequential(ReflectionPad1d(7), wn(nn.Conv1d(1, ndf, kernel_size=15)), nn.LeakyReLU(LRELU_SLOPE))]
        channels = ndf
        for _ in range(n_layers):
            out = min(channels * factor, 1024)
            layers.append(nn.Sequential(
                wn(nn.Conv1d(channels, out, kernel_size=10 * factor + 1, stride=factor, padding=5 * factor,
                             groups=channels // 4)),
                nn.LeakyReLU(LRELU_SLOPE)))
            channels = out
        out = min(channels * 2, 1024)
        layers.append(nn.Sequential(wn(nn.Conv1d(channels, out, kernel_size=5, padding=2)), nn.LeakyReLU(LRELU_SLOPE)))
        layers.append(wn(nn.Conv1d(out, 1, kernel_size=3, padding=1)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for layer in self.layers:
            x = layer(x)
            maps.append(x)
        return maps


class MelGANDiscriminator(nn.Module):
    """Multi-scale discriminator: ``(B, T)`` audio -> (scores ``[(B, 1, T_k)]``, features ``[[(B, C, T_k,i)]]``).

    Scale ``k`` sees the audio average-pooled ``k`` times (kernel 4, stride 2: raw, 2x, 4x downsampled).
    Features are every layer's output except the score (the reference's feature-matching layers).
    """

    def __init__(self, n_scales: int = 3, ndf: int = 16, n_layers: int = 4, factor: int = 4):
        super().__init__()
        self.discriminators = nn.ModuleList(ScaleDiscriminator(ndf, n_layers, factor) for _ in range(n_scales))
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        x = audio.unsqueeze(1)
        logits, features = [], []
        for k, disc in enumerate(self.discriminators):
            if k > 0:
                x = self.pool(x)
            maps = disc(x)
            logits.append(maps[-1])
            features.append(maps[:-1])
        return logits, features


class MelGAN(GanVocoder):
    """MelGAN vocoder: ``generate(mel)`` is one forward pass, no procedure arguments.

    Prepared for inference: every backend (see :class:`.gan_common.GanVocoder`); the ONNX export is
    :class:`Generator2d`.
    """

    generator_2d = Generator2d

    def __init__(self, config: MelGANConfig):
        super().__init__(config)
        if math.prod(config.upsample_ratios) != config.hop_length:
            raise ValueError(
                f"prod(upsample_ratios)={math.prod(config.upsample_ratios)} must equal hop_length={config.hop_length}")
        self.net = MelGANGenerator(config.n_mels, config.ngf, config.n_residual_layers, config.upsample_ratios)

    def _forward_prepared(self, mel: torch.Tensor) -> torch.Tensor:
        """The generator on the prepared path (2-D convolutions, channels-last, in the cached weights' dtype),
        in-place activations wherever their input is read by nothing else; ``(B, 1, T)`` in ``mel``'s dtype."""
        x = to_prepared_layout(mel, self.net[1].prepared_weight.dtype)
        return _generator_2d(self.net, x, conv_prepared, in_place=True).squeeze(2).to(mel.dtype)

    def build_discriminator(self) -> MelGANDiscriminator:
        c = self.config
        return MelGANDiscriminator(c.disc_scales, c.disc_ndf, c.disc_layers, c.disc_downsampling_factor)

    def _feature_weight(self) -> float:
        # reference: each L1 term weighted 4 / (n_layers + 1) per layer and 1 / n_scales per scale
        return 4.0 / (self.config.disc_layers + 1) / self.config.disc_scales

    def generator_loss(self, real_audio, fake_audio, mel, discriminator) -> dict[str, torch.Tensor]:
        """Hinge adversarial loss + ``lambda_feat`` x feature matching (paper Eq. 2-3).

        Args:
            real_audio: ``(B, T)`` target waveform.
            fake_audio: ``(B, T)`` generator output (with gradient).
            mel: ``(B, n_mels, T / hop)`` conditioning (unused by MelGAN's objective).
            discriminator: from :meth:`build_discriminator`.

        Returns:
            ``{"loss", "adversarial", "feature_matching"}`` scalar tensors.
        """
        fake_logits, fake_features, real_features = self._generator_features(real_audio, fake_audio, discriminator)
        adversarial = hinge_generator_loss(fake_logits)
        fm = feature_matching_loss(real_features, fake_features, self._feature_weight())
        return {"loss": adversarial + self.config.lambda_feat * fm, "adversarial": adversarial, "feature_matching": fm}

    def discriminator_loss(self, real_audio, fake_audio, discriminator) -> dict[str, torch.Tensor]:
        """Hinge loss ``sum_k E[relu(1 - D_k(x))] + E[relu(1 + D_k(G(s)))]`` (paper Eq. 1); ``{"loss"}``."""
        return {"loss": hinge_discriminator_loss(*self._discriminator_logits(real_audio, fake_audio, discriminator))}


def _preset(size: str, ngf: int, n_residual_layers: int) -> MelGANConfig:
    return MelGANConfig(size=size, ngf=ngf, n_residual_layers=n_residual_layers)


register(ModelEntry(
    name="melgan",
    display_name="MelGAN",
    family="gan",
    model_class=MelGAN,
    config_class=MelGANConfig,
    presets={
        "small": _preset("small", 16, 2),  # thesis's proposal, 1.03M
        "medium": _preset("medium", 32, 3),  # paper default, 4.27M
        "large": _preset("large", 64, 4),  # thesis's proposal, 18.21M
    },
    notes="Kumar et al. 2019; parameter counts include weight-norm gains (thesis convention for MelGAN)."))
