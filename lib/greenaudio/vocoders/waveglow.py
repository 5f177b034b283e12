"""WaveGlow (Prenger, Valle and Catanzaro 2019), a Glow-style flow vocoder (thesis §5.1.1, Table 8).

Used by: greenaudio.vocoders registry (``load("waveglow", "small")``), notebooks of Chapter 5.

Architecture (reference: NVIDIA/waveglow, read to learn, written anew here). The waveform ``x`` of ``T`` samples is
*squeezed* into ``n_group`` = 8 channels of ``T / 8`` steps. Each of the 12 flows applies

1. an invertible 1x1 convolution ``W`` (channel mixing, ``log|det| = (T/8) log|det W|``), then
2. an affine coupling: ``x_a, x_b = split(x)``; ``(log s, t) = WN(x_a, c)``; ``x_b' = s * x_b + t``
   (``log|det| = sum log s``), where ``WN`` is a non-causal WaveNet (8 layers, kernel 3, dilation ``2^i``, gated tanh,
   a single 1x1 conditioning conv for all layers, zero-initialised output conv).

Every 4 flows, 2 channels leave the flow early (multi-scale output) and are concatenated to the latent. The mel
spectrogram is upsampled by ``ConvTranspose1d(80, 80, 1024, stride 256)``, trimmed to ``T`` samples and squeezed like
the audio (``80 * 8 = 640`` conditioning channels). Sizes (thesis Table 8) differ only by the WaveNet width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from .base import (OptimizerConfig, Vocoder, VocoderConfig, check_config_int, check_config_number,
                   check_non_negative_float, positive_int_or_none)
from ._fast import fast_gate, pointwise, scale_rows, transposed_conv_overlap_add
from .flow_common import InferenceCacheMixin, draw_latent, gated_tanh, weight_norm
from .gan_common import conv_2d

__all__ = ["WaveGlowConfig", "WaveGlow", "PRESETS"]


@dataclass(frozen=True)
class WaveGlowConfig(VocoderConfig):
    """WaveGlow hyper-parameters (defaults: the paper's model with the thesis's 16 kHz / hop 256 front end).

    Args:
        n_flows: number of flow steps (1x1 conv + affine coupling).
        n_group: audio samples squeezed into channels.
        n_early_every: a few channels leave the flow before every ``n_early_every``-th flow.
        n_early_size: channels that leave each time.
        wn_layers: layers of each coupling WaveNet.
        wn_channels: residual/skip width of the coupling WaveNets (the only size knob of thesis Table 8).
        wn_kernel_size: kernel of the dilated convolutions (dilation ``2^i``).
        upsample_kernel: kernel of the mel ``ConvTranspose1d`` (its stride is ``hop_length``).
        train_sigma: standard deviation of the Gaussian prior in the training NLL.
        inference_sigma: default sampling temperature. 0.6 is the reference README's value; the reference code's
            ``infer()`` defaults to 1.0.
    """

    model: str = "waveglow"
    n_flows: int = 12
    n_group: int = 8
    n_early_every: int = 4
    n_early_size: int = 2
    wn_layers: int = 8
    wn_channels: int = 256
    wn_kernel_size: int = 3
    upsample_kernel: int = 1024
    train_sigma: float = 1.0
    inference_sigma: float = 0.6
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(name="adam", lr=1e-4))

    def __post_init__(self) -> None:
        """Validate the fields (``ValueError`` naming ``WaveGlowConfig.<field>`` and the value) before any layer is
        built: counts and widths are integers >= 1 (``n_group`` and ``n_early_size`` >= 2 and even: every coupling
        splits its channels in two halves); ``n_group`` divides ``hop_length`` and keeps at least two channels after
        the early outputs; ``wn_kernel_size`` is odd; ``upsample_kernel`` >= ``hop_length``; ``train_sigma`` > 0
        and ``inference_sigma`` >= 0."""
        for name in ("n_flows", "n_early_every", "wn_layers", "wn_channels", "wn_kernel_size", "upsample_kernel"):
            check_config_int(self, name)
        for name in ("n_group", "n_early_size"):
            check_config_int(self, name, min_value=2)
        check_config_number(self, "train_sigma", min_value=0.0, min_inclusive=False)
        check_config_number(self, "inference_sigma", min_value=0.0)
        hop = positive_int_or_none(self.hop_length)
        if self.n_group % 2 or self.n_early_size % 2 or (hop is not None and hop % self.n_group):
            raise ValueError(
                f"need even n_group ({self.n_group}) and n_early_size ({self.n_early_size}), and hop_length "
                f"({self.hop_length}) divisible by n_group")
        n_early = len(_early_flows(self))
        if self.n_group - n_early * self.n_early_size < 2:
            raise ValueError(f"n_group={self.n_group} leaves no channels after {n_early} early outputs")
        if hop is not None and self.upsample_kernel < hop:
            raise ValueError(f"upsample_kernel ({self.upsample_kernel}) must be >= hop_length ({self.hop_length})")
        if self.wn_kernel_size % 2 == 0:
            raise ValueError(f"wn_kernel_size must be odd, got {self.wn_kernel_size}")


def _early_flows(cfg: WaveGlowConfig) -> list[int]:
    """Indices ``k`` of the flows before which ``n_early_size`` channels are output early (4 and 8 by default)."""
    return [k for k in range(1, cfg.n_flows) if k % cfg.n_early_every == 0]


class _InvertibleConv1x1(nn.Module):
    """Invertible channel mixing ``z = W x`` with ``W`` initialised as a random rotation (orthogonal, det +1)."""

    def __init__(self, channels: int):
        super().__init__()
        w, _ = torch.linalg.qr(torch.randn(channels, channels))
        if torch.linalg.det(w) < 0:
            w[:, 0] = -w[:, 0]  # det +1: a rotation, perfectly conditioned, log|det| = 0 at init
        self.weight = nn.Parameter(w)
        self.register_buffer("weight_inverse", None, persistent=False)  # filled by prepare_for_inference

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, c, L)`` -> ``(W x, log|det| per batch item (B,) = L log|det W|)``."""
        log_det = x.shape[-1] * torch.linalg.slogdet(self.weight.float())[1]
        return F.conv1d(x, self.weight.unsqueeze(-1)), log_det.expand(x.shape[0])

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        w_inv = self.weight_inverse
        if w_inv is None:
            w_inv = torch.linalg.inv(self.weight.double()).to(self.weight.dtype)  # float64 for exact invertibility
        return F.conv1d(z, w_inv.to(z.dtype).unsqueeze(-1))

    def cache_inverse(self) -> None:
        self.weight_inverse = torch.linalg.inv(self.weight.detach().double()).to(self.weight.dtype)

    def clear_cache(self) -> None:
        self.weight_inverse = None


def _output_rows_2d(conv: nn.Conv1d, x: torch.Tensor, start: int, count: int) -> torch.Tensor:
    """Output channels ``start : start + count`` of ``conv`` on ``x`` ``(B, C_in, 1, L)``, as the 2-D ``(1, K)``
    convolution of :func:`.gan_common.conv_2d` with those rows of the weight and bias: ``(B, count, 1, L)``."""
    return conv_2d(conv, x, conv.weight[start : start + count].unsqueeze(2), conv.bias[start : start + count])


class _CouplingWaveNet(nn.Module):
    """WaveGlow's ``WN``: ``(x_a (B, n_in, L), cond (B, n_cond, L))`` -> ``(B, 2 n_in, L)`` = ``[t, log s]``.

    Non-causal gated WaveNet; residual/skip 1x1 convs (the last layer has skip only); output conv zero-initialised so
    that every coupling starts as the identity.
    """

    def __init__(self, n_in: int, n_cond: int, channels: int, n_layers: int, kernel_size: int):
        super().__init__()
        self.channels, self.n_layers = channels, n_layers
        self.start = weight_norm(nn.Conv1d(n_in, channels, 1))
        self.cond = weight_norm(nn.Conv1d(n_cond, 2 * channels * n_layers, 1))  # all layers' conditioning at once
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            d = 2**i
            self.in_layers.append(
                weight_norm(
                    nn.Conv1d(channels, 2 * channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2)))
            out = 2 * channels if i < n_layers - 1 else channels
            self.res_skip_layers.append(weight_norm(nn.Conv1d(channels, out, 1)))
        self.end = nn.Conv1d(channels, 2 * n_in, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c, h = self.channels, self.start(x)
        cond = self.cond(cond)
        skip = 0
        for i, (conv, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            acts = res_skip(gated_tanh(conv(h) + cond[:, 2 * c * i : 2 * c * (i + 1)], c))
            if i < self.n_layers - 1:
                h = h + acts[:, :c]
                skip = skip + acts[:, c:]
            else:
                skip = skip + acts
        return self.end(skip)

    def forward_2d(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on ``(B, C, 1, L)`` activations (``x_a`` ``(B, n_in, 1, L)``, ``cond`` ``(B, n_cond, 1,
        L)`` -> ``(B, 2 n_in, 1, L)``) with 2-D ``(1, K)`` convolutions, for the ONNX export of
        :mod:`greenaudio.vocoders.graphs`. Every convolution whose output the gate or the residual/skip sums would
        slice by channel runs as one convolution per slice (same weights, same FLOPs), so that no activation is sliced:
        ONNX Runtime keeps the convolutions, sums and activations in its blocked NCHWc layout, leaving it only for the
        gate's product (a Mul of tensors whose equal shapes it cannot prove after a dilated convolution).

        The operations are traced layer by layer, each layer's conditioning first and its skip sum before its residual
        sum: in that order ONNX Runtime runs every convolution when its layer is reached instead of computing half of
        the conditioning first and the skips last, which holds fewer activations at once (WaveGlow small, 10 s of audio,
        timed interleaved with other models: about 40 % fewer page faults, 8 % less CPU time). Sums are written in the
        order of :meth:`forward` or commuted (exact)."""
        c = self.channels
        h, skip = conv_2d(self.start, x), None
        for i, (conv, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            cond_tanh = _output_rows_2d(self.cond, cond, 2 * c * i, c)
            cond_sigmoid = _output_rows_2d(self.cond, cond, 2 * c * i + c, c)
            gate = (torch.tanh(cond_tanh + _output_rows_2d(conv, h, 0, c))
                    * torch.sigmoid(cond_sigmoid + _output_rows_2d(conv, h, c, c)))
            last = i == self.n_layers - 1
            out = conv_2d(res_skip, gate) if last else _output_rows_2d(res_skip, gate, c, c)
            skip = out if skip is None else out + skip
            if not last:
                h = h + _output_rows_2d(res_skip, gate, 0, c)
        return conv_2d(self.end, skip)

    def prepare_fast(self) -> None:
        """Weights of :meth:`forward_fast` (after weight-norm removal): 1x1 convs as matrices, the gate's ``tanh``
        half doubled in the dilated and conditioning convs, the residual/skip matrices doubled (:mod:`._fast`)."""
        c = self.channels
        self.fast = {
            "start": (self.start.weight[:, :, 0].clone(), self.start.bias.clone()),
            "cond": (torch.cat([scale_rows(w, 0, c, 2.0) for w in self.cond.weight[:, :, 0].split(2 * c)]),
                     torch.cat([scale_rows(b, 0, c, 2.0) for b in self.cond.bias.split(2 * c)])),
            "layers": [(scale_rows(m.weight, 0, c, 2.0), scale_rows(m.bias, 0, c, 2.0), m.dilation[0], m.padding[0],
                        2.0 * rs.weight[:, :, 0], rs.bias.clone())
                       for m, rs in zip(self.in_layers, self.res_skip_layers)],
            "end": (self.end.weight[:, :, 0].clone(), self.end.bias.clone())}

    def forward_fast(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with the prepared weights: two-sigmoid gate, in-place sums, 1x1 convs as GEMMs."""
        c, fast = self.channels, self.fast
        h = pointwise(x, *fast["start"])
        cond = pointwise(cond, *fast["cond"])
        skip = None
        for i, (wt, bias, dil, pad, w_rs, b_rs) in enumerate(fast["layers"]):
            acts = F.conv1d(h, wt, bias, padding=pad, dilation=dil)
            acts += cond[:, 2 * c * i : 2 * c * (i + 1)]
            out = pointwise(fast_gate(acts[:, :c], acts[:, c:]), w_rs, b_rs)
            if i < self.n_layers - 1:
                h = h.add_(out[:, :c])
                skip = out[:, c:] if skip is None else skip.add_(out[:, c:])
            else:
                skip = out if skip is None else skip.add_(out)
        return pointwise(skip, *fast["end"])


class WaveGlow(InferenceCacheMixin, Vocoder):
    """WaveGlow vocoder: ``generate(mel, sigma=0.6)`` -> ``(B, frames * hop_length)`` audio.

    Latent layout: ``z`` has shape ``(B, n_group, T / n_group)``; its first channels are the early outputs in the order
    they leave the flow, the last ``n_group - 4`` channels are the output of the final flow.
    """

    family = "flow"

    def __init__(self, config: WaveGlowConfig):
        super().__init__(config)
        cfg = config
        self.upsample = nn.ConvTranspose1d(cfg.n_mels, cfg.n_mels, cfg.upsample_kernel, stride=cfg.hop_length)
        self.early = _early_flows(cfg)
        self.inv_convs, self.couplings = nn.ModuleList(), nn.ModuleList()
        remaining = cfg.n_group
        for k in range(cfg.n_flows):
            if k in self.early:
                remaining -= cfg.n_early_size
            self.inv_convs.append(_InvertibleConv1x1(remaining))
            self.couplings.append(
                _CouplingWaveNet(
                    remaining // 2, cfg.n_mels * cfg.n_group, cfg.wn_channels, cfg.wn_layers, cfg.wn_kernel_size))

    # -- shared pieces --------------------------------------------------------------------------------------------
    def _conditioning(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, F)`` -> squeezed upsampled mel ``(B, n_mels * n_group, F * hop / n_group)``."""
        g, t = self.config.n_group, mel.shape[-1] * self.hop_length
        # ConvTranspose output has (F - 1) * hop + kernel samples; keep the first F * hop (reference: same trim)
        if self.is_prepared and self.inference_backend != "compile":
            up = self.upsample
            c = transposed_conv_overlap_add(mel, up.weight, up.bias, up.stride[0], t)
        else:
            c = self.upsample(mel)[..., :t]
        b, m, _ = c.shape
        return c.view(b, m, t // g, g).transpose(2, 3).reshape(b, m * g, t // g)  # channel = mel * n_group + j

    def _coupling(self, k: int, x: torch.Tensor, cond: torch.Tensor, inverse: bool):
        half = x.shape[1] // 2
        x_a, x_b = x[:, :half], x[:, half:]
        coupling = self.couplings[k]
        if inverse and self.is_prepared:
            out = self._compiled(f"coupling_{k}", coupling.forward_fast)(x_a, cond)
        else:
            out = coupling(x_a, cond)
        t, log_s = out[:, :half], out[:, half:]
        if inverse:
            return torch.cat([x_a, (x_b - t) * torch.exp(-log_s)], 1), None
        return torch.cat([x_a, torch.exp(log_s) * x_b + t], 1), log_s.sum(dim=(1, 2))

    # -- flow in both directions ----------------------------------------------------------------------------------
    def flow_forward(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio ``(B, T)`` -> latent ``z`` ``(B, n_group, T / n_group)`` and ``log|det dz/dx|`` ``(B,)`` (nats)."""
        g = self.config.n_group
        b, t = audio.shape
        cond = self._conditioning(mel)
        x = audio.view(b, t // g, g).transpose(1, 2)  # squeeze: x[:, j, i] = audio[:, i * n_group + j]
        early, log_det = [], audio.new_zeros(b)
        for k in range(self.config.n_flows):
            if k in self.early:
                early.append(x[:, : self.config.n_early_size])
                x = x[:, self.config.n_early_size :]
            x, ld_w = self.inv_convs[k](x)
            x, ld_s = self._coupling(k, x, cond, inverse=False)
            log_det = log_det + ld_w + ld_s
        return torch.cat(early + [x], 1), log_det

    def flow_inverse(self, z: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Latent ``(B, n_group, T / n_group)`` -> audio ``(B, T)``: exact inverse of :meth:`flow_forward`."""
        cond = self._conditioning(mel)
        n = self.config.n_early_size
        early = list(z[:, : n * len(self.early)].split(n, dim=1))
        x = z[:, n * len(self.early) :]
        for k in reversed(range(self.config.n_flows)):
            x, _ = self._coupling(k, x, cond, inverse=True)
            x = self.inv_convs[k].inverse(x)
            if k in self.early:
                x = torch.cat([early.pop(), x], 1)
        return x.transpose(1, 2).reshape(z.shape[0], -1)

    # -- Vocoder interface ----------------------------------------------------------------------------------------
    def default_procedure(self) -> dict[str, Any]:
        return {"sigma": self.config.inference_sigma}

    def _validate_procedure(self, procedure: dict[str, Any]) -> dict[str, Any]:
        return {"sigma": check_non_negative_float("sigma", procedure["sigma"])}

    def _generate(self, mel: torch.Tensor, *, generator: torch.Generator | None, sigma: float) -> torch.Tensor:
        g = self.config.n_group
        shape = (mel.shape[0], g, mel.shape[-1] * self.hop_length // g)
        z = draw_latent(shape, mel, sigma, generator)  # z ~ N(0, sigma^2 I), allocated on mel's device
        with torch.no_grad():
            return self.flow_inverse(z, mel)

    def _prepare_family(self) -> None:
        """Inference-only WaveGlow (see :meth:`Vocoder.prepare_for_inference`): weight norm removed, every ``W^{-1}``
        cached (computed once in float64), and the coupling WaveNets run with a two-sigmoid gate, in-place sums and
        1x1 convolutions as GEMMs (:meth:`_CouplingWaveNet.forward_fast`)."""
        for conv in self.inv_convs:
            conv.cache_inverse()
        for coupling in self.couplings:
            coupling.prepare_fast()

    def _cache_clearers(self):
        return [conv.clear_cache for conv in self.inv_convs] + [
            (lambda cp=cp: cp.__dict__.pop("fast", None)) for cp in self.couplings]


PRESETS = {
    # thesis Table 8: sizes differ only by the coupling WaveNet width; counts are without weight-norm gains (-g)
    "small": WaveGlowConfig(size="small", wn_channels=64),  # 17,558,888 (-g)
    "medium": WaveGlowConfig(size="medium", wn_channels=128),  # 34,756,712 (-g)
    "large": WaveGlowConfig(size="large", wn_channels=256),  # 87,731,816 (-g), the paper's model
}

registry.register(
    registry.ModelEntry(
        name="waveglow",
        display_name="WaveGlow",
        family="flow",
        model_class=WaveGlow,
        config_class=WaveGlowConfig,
        presets=PRESETS,
        notes=(
            "Prenger et al. 2019; 12 flows, n_group 8, early outputs of 2 channels every 4 flows, 8-layer WaveNet "
            "couplings (64/128/256 channels). Counts quoted without weight-norm gains. Inference sigma 0.6 "
            "(reference README; reference code default 1.0); training sigma 1.0; Adam 1e-4.")))
