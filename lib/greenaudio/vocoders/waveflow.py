"""WaveFlow (Ping, Peng, Zhao and Song 2020), a compact 2-D autoregressive flow (thesis §4.3.2 Table 6, §5.1.1).

Used by: greenaudio.vocoders registry (``load("waveflow", "small")``, ``load("waveflow", "wf3")``), Chapters 4 and 5.

Architecture (references: L0SG/WaveFlow, the thesis's code, and its port of PaddlePaddle Parakeet; read to learn,
written anew here). The waveform ``x`` of ``T`` samples is squeezed column-major into ``X`` of ``h`` rows and
``w = T / h`` columns (``X[i, j] = x[j h + i]``); the upsampled mel is squeezed the same way into ``C`` ``(80, h, w)``.
Each of the 8 flows is an affine autoregressive transform along the height:

    Z[0] = X[0],    Z[i] = X[i] * exp(log s_i(X[<i], C)) + t_i(X[<i], C)   for i = 1 .. h-1,

where ``(log s, t)`` comes from a 2-D WaveNet (8 layers, 3x3 convolutions, causal on the height with height dilation
1, non-causal on the width with width dilation ``2^i``; per-layer 1x1 mel conditioning; every layer has a 2r-channel
residual/skip 1x1 conv; the output conv is zero-initialised). After each flow the rows are permuted: reversed after
the first 4 flows, reversed within each half ("bipartition", strategy (b) of the paper) after the last 4.

Inference inverts the flows row by row (``h`` sequential steps per flow):

* ``reverse="fast"`` keeps, for every WaveNet layer, a queue of its last ``(kernel - 1) * dilation_h`` input rows and
  precomputes the conditioning of all layers and rows with one fused 1x1 conv, so each row costs one row of a forward
  pass (total ~ one forward pass).
* ``reverse="plain"`` recomputes the network on the whole prefix ``X[<i]`` for every row ``i`` (total ~ h/2 forward
  passes with this first-row-identity convention; ~ (h+1)/2 when the first row is transformed too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from .base import (OptimizerConfig, Vocoder, VocoderConfig, check_choice, check_config_bool, check_config_int,
                   check_config_ints, check_config_number, check_non_negative_float, positive_int_or_none)
from ._fast import fast_gate, pointwise, scale_rows
from .flow_common import InferenceCacheMixin, draw_latent, gated_tanh, weight_norm

__all__ = ["WaveFlowConfig", "WaveFlow", "PRESETS", "REVERSE_MODES"]

REVERSE_MODES = ("fast", "plain")


@dataclass(frozen=True)
class WaveFlowConfig(VocoderConfig):
    """WaveFlow hyper-parameters (defaults: Ping et al.'s 5.91 M model, h 8, r 64, at 16 kHz / hop 256).

    Args:
        n_height: rows ``h`` of the squeezed waveform (sequential steps per flow at inference).
        res_channels: residual width ``r`` of the WaveNets (gate 2r, skip r).
        n_flows: number of flows.
        n_layers: WaveNet layers per flow.
        kernel_size: square kernel of the 2-D dilated convolutions.
        dilation_h_cycle: height dilations are ``2^(i mod dilation_h_cycle)``; 1 gives height dilation 1 in every
            layer, as in the thesis's reference configs (``n_layer_per_cycle`` 1).
        bipartition: use the paper's permutation (b) (reverse rows after the first half of the flows, reverse each
            half of the rows after the rest); ``False`` reverses the rows after every flow.
        upsample_strides: width strides of the two ``ConvTranspose2d`` mel upsamplers (product = ``hop_length``).
        train_sigma: standard deviation of the Gaussian prior in the training NLL.
        inference_sigma: default sampling temperature; 1.0 = the training sigma and the default of the thesis's
            reference synthesis script (``--temp 1.0``).
    """

    model: str = "waveflow"
    n_height: int = 8
    res_channels: int = 64
    n_flows: int = 8
    n_layers: int = 8
    kernel_size: int = 3
    dilation_h_cycle: int = 1
    bipartition: bool = True
    upsample_strides: tuple[int, ...] = (16, 16)
    train_sigma: float = 1.0
    inference_sigma: float = 1.0
    optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(name="adam", lr=2e-4, grad_clip_norm=5.0))

    def __post_init__(self) -> None:
        """Validate the fields (``ValueError`` naming ``WaveFlowConfig.<field>`` and the value) before any layer is
        built: ``n_height`` >= 2 divides ``hop_length`` (even with ``bipartition``); widths and counts are integers
        >= 1; ``kernel_size`` is odd; ``upsample_strides`` are even (padding ``s / 2`` of the transposed
        convolutions gives exactly ``s`` times wider output only for even strides) and multiply to ``hop_length``;
        ``train_sigma`` > 0 and ``inference_sigma`` >= 0."""
        n_height = check_config_int(self, "n_height", min_value=2)
        for name in ("res_channels", "n_flows", "n_layers", "kernel_size", "dilation_h_cycle"):
            check_config_int(self, name)
        bipartition = check_config_bool(self, "bipartition")
        strides = check_config_ints(self, "upsample_strides", min_value=2, even=True)
        check_config_number(self, "train_sigma", min_value=0.0, min_inclusive=False)
        check_config_number(self, "inference_sigma", min_value=0.0)
        hop = positive_int_or_none(self.hop_length)
        if hop is not None and hop % n_height:
            raise ValueError(f"n_height must be >= 2 and divide hop_length ({self.hop_length}), got {self.n_height}")
        if bipartition and n_height % 2:
            raise ValueError(f"bipartition needs an even n_height, got {self.n_height}")
        if hop is not None and math.prod(strides) != hop:
            raise ValueError(f"upsample_strides {self.upsample_strides} must multiply to hop_length {self.hop_length}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"WaveFlowConfig.kernel_size must be odd, got {self.kernel_size}")


class _WaveNet2d(nn.Module):
    """``(log s, t) = WN(X_shifted (B, 1, H, W), C (B, n_cond, H, W))`` -> ``(B, 2, H, W)``, causal along ``H``."""

    def __init__(self, cfg: WaveFlowConfig):
        super().__init__()
        r, k = cfg.res_channels, cfg.kernel_size
        self.channels, self.kernel_size = r, k
        self.dilations = [(2 ** (i % cfg.dilation_h_cycle), 2**i) for i in range(cfg.n_layers)]  # (height, width)
        self.front = weight_norm(nn.Conv2d(1, r, 1))
        self.in_layers = nn.ModuleList(
            weight_norm(nn.Conv2d(r, 2 * r, k, dilation=d, padding=(0, d[1] * (k - 1) // 2))) for d in self.dilations)
        self.cond_layers = nn.ModuleList(weight_norm(nn.Conv2d(cfg.n_mels, 2 * r, 1)) for _ in self.dilations)
        # every layer outputs residual + skip (2r), as in the reference: the last layer's residual half is unused
        self.res_skip_layers = nn.ModuleList(weight_norm(nn.Conv2d(r, 2 * r, 1)) for _ in self.dilations)
        self.proj = nn.Conv2d(r, 2, 1)  # [log s, t], zero-initialised: each flow starts as the identity
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.register_buffer("fused_cond_weight", None, persistent=False)  # (L * 2r, n_cond, 1, 1), see fuse()
        self.register_buffer("fused_cond_bias", None, persistent=False)

    def cond_features(self, c: torch.Tensor) -> torch.Tensor:
        """All layers' conditioning in one 1x1 conv: ``(B, n_cond, H, W)`` -> ``(B, L * 2r, H, W)``."""
        if self.fused_cond_weight is not None:
            return F.conv2d(c, self.fused_cond_weight, self.fused_cond_bias)
        weight = torch.cat([layer.weight for layer in self.cond_layers])
        return F.conv2d(c, weight, torch.cat([layer.bias for layer in self.cond_layers]))

    def fuse(self) -> None:
        with torch.no_grad():
            self.fused_cond_weight = torch.cat([layer.weight for layer in self.cond_layers]).detach().clone()
            self.fused_cond_bias = torch.cat([layer.bias for layer in self.cond_layers]).detach().clone()

    def clear_cache(self) -> None:
        self.fused_cond_weight = self.fused_cond_bias = None
        self.__dict__.pop("fast_rows", None)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Teacher-forced pass over all rows (training, and the prefix recomputation of ``reverse="plain"``)."""
        r, cond = self.channels, self.cond_features(c)
        h, skip = self.front(x), 0
        for i, (conv, res_skip, (dh, _)) in enumerate(zip(self.in_layers, self.res_skip_layers, self.dilations)):
            acts = conv(F.pad(h, (0, 0, (self.kernel_size - 1) * dh, 0)))  # causal: zero rows on top only
            out = res_skip(gated_tanh(acts + cond[:, 2 * r * i : 2 * r * (i + 1)], r))
            h, skip = h + out[:, :r], skip + out[:, r:]
        return self.proj(skip)

    def reverse_fast(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Invert one flow row by row with per-layer queues. ``z``: ``(B, 1, H, W)``; ``c``: ``(B, n_cond, H, W)``."""
        r, (b, _, n_rows, w) = self.channels, z.shape
        cond = self.cond_features(c[:, :, 1:])  # row i's network sees X[<i] and C[i]; precomputed for all rows
        queues = [z.new_zeros(b, r, (self.kernel_size - 1) * dh, w) for dh, _ in self.dilations]  # past input rows
        rows = [z[:, :, :1]]  # Z[0] = X[0]
        for i in range(1, n_rows):
            log_s_t, *queues = self.row_step(rows[-1], cond[:, :, i - 1 : i], *queues)  # the new input row: X[i-1]
            rows.append((z[:, :, i : i + 1] - log_s_t[:, 1:]) * torch.exp(-log_s_t[:, :1]))
        return torch.cat(rows, 2)

    def row_step(self, row: torch.Tensor, cond: torch.Tensor, *queues: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One row of the fast reverse (also the ONNX graph ``row_<k>``): the previous row ``(B, 1, 1, W)``, its
        conditioning ``(B, L * 2r, 1, W)`` and each layer's queue of past input rows ``(B, r, (k - 1) dh, W)`` ->
        ``((log s, t) (B, 2, 1, W), *new queues)``; each dilated convolution gives exactly one output row."""
        r = self.channels
        h = self.front(row)
        skip = None
        new_queues = []
        for l, (conv, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            window = torch.cat([queues[l], h], 2)  # rows i-1-(k-1)dh .. i-1 of this layer's input
            new_queues.append(window[:, :, 1:])
            out = res_skip(gated_tanh(conv(window) + cond[:, 2 * r * l: 2 * r * (l + 1)], r))
            h = h + out[:, :r]
            skip = out[:, r:] if skip is None else skip + out[:, r:]
        return (self.proj(skip),) + tuple(new_queues)

    def prepare_rows(self) -> None:
        """Weights of :meth:`reverse_rows` (after weight-norm removal): each 3x3 layer as a 1-D convolution over the
        ``k`` rows it reads stacked as channels, 1x1 layers as matrices, the gate's ``tanh`` half doubled and the
        residual/skip matrices doubled (:mod:`._fast`); the conditioning convs fused into one matrix."""
        r = self.channels
        self.fast_rows = {
            "front": (self.front.weight[:, :, 0, 0].clone(), self.front.bias.clone()),
            "cond": (torch.cat([scale_rows(l.weight[:, :, 0, 0], 0, r, 2.0) for l in self.cond_layers]),
                     torch.cat([scale_rows(l.bias, 0, r, 2.0) for l in self.cond_layers])),
            "layers": [
                (scale_rows(m.weight, 0, r, 2.0).reshape(2 * r, -1, m.weight.shape[-1]), scale_rows(m.bias, 0, r, 2.0),
                 m.dilation[1], m.padding[1], 2.0 * rs.weight[:, :, 0, 0], rs.bias.clone())
                for m, rs in zip(self.in_layers, self.res_skip_layers)],
            "proj": (self.proj.weight[:, :, 0, 0].clone(), self.proj.bias.clone())}

    def reverse_rows(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """:meth:`reverse_fast` with the conditioning of each row computed when the row is reached (memory: one row
        of ``L * 2r`` channels instead of all rows; same FLOPs) and the row network in 1-D form (:meth:`prepare_rows`).
        ``z``: ``(B, 1, H, W)``; ``c``: ``(B, n_cond, H, W)``."""
        fast = self.fast_rows
        r, k = self.channels, self.kernel_size
        b, _, n_rows, w = z.shape
        w_front, b_front = fast["front"]
        w_cond, b_cond = fast["cond"]
        w_proj, b_proj = fast["proj"]
        heights = [dh for dh, _ in self.dilations]
        history = [[z.new_zeros(b, r, w)] * ((k - 1) * dh) for dh in heights]  # past input rows of every layer
        out_rows = [z[:, 0, 0]]  # (B, W) each
        for i in range(1, n_rows):
            h = pointwise(out_rows[-1].unsqueeze(1), w_front, b_front)  # the new input row is X[i-1]
            cond = pointwise(c[:, :, i], w_cond, b_cond)  # (B, L * 2r, W): row i's conditioning, all layers
            skip = None
            for l, (wt, bias, dil, pad, w_rs, b_rs) in enumerate(fast["layers"]):
                past, dh = history[l], heights[l]
                window = torch.stack(past[::dh][: k - 1] + [h], 2) if k > 1 else h.unsqueeze(2)
                history[l] = past[1:] + [h]
                acts = F.conv1d(window.view(b, -1, w), wt, bias, padding=pad, dilation=dil)
                acts += cond[:, 2 * r * l : 2 * r * (l + 1)]
                out = pointwise(fast_gate(acts[:, :r], acts[:, r:]), w_rs, b_rs)
                h = h + out[:, :r]
                skip = out[:, r:] if skip is None else skip.add_(out[:, r:])
            log_s_t = pointwise(skip, w_proj, b_proj)
            out_rows.append((z[:, 0, i] - log_s_t[:, 1]) * torch.exp(-log_s_t[:, 0]))
        return torch.stack(out_rows, 1).unsqueeze(1)

    def reverse_plain(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Same result as :meth:`reverse_fast`, recomputing the network on the whole prefix for every row."""
        x = z[:, :, :1]
        for i in range(1, z.shape[2]):
            log_s_t = self(x, c[:, :, 1 : i + 1])[:, :, -1:]
            x = torch.cat([x, (z[:, :, i : i + 1] - log_s_t[:, 1:]) * torch.exp(-log_s_t[:, :1])], 2)
        return x


class WaveFlow(InferenceCacheMixin, Vocoder):
    """WaveFlow vocoder: ``generate(mel, sigma=1.0, reverse="fast")`` -> ``(B, frames * hop_length)`` audio.

    Latent layout: ``z`` has shape ``(B, 1, h, T / h)`` in the row order reached after the last flow.
    """

    family = "flow"

    def __init__(self, config: WaveFlowConfig):
        super().__init__(config)
        cfg = config
        self.upsample = nn.ModuleList()
        for s in cfg.upsample_strides:  # kernel (3, 2s), padding (1, s/2): output width exactly s * input width
            conv = nn.ConvTranspose2d(1, 1, (3, 2 * s), stride=(1, s), padding=(1, s // 2))
            nn.init.kaiming_normal_(conv.weight)
            self.upsample.append(weight_norm(conv))
        self.flows = nn.ModuleList(_WaveNet2d(cfg) for _ in range(cfg.n_flows))
        h = cfg.n_height
        perms, orders = [], [list(range(h))]
        for k in range(cfg.n_flows):
            if cfg.bipartition and k >= cfg.n_flows // 2:  # permutation (b): reverse each half of the rows
                perm = list(range(h // 2 - 1, -1, -1)) + list(range(h - 1, h // 2 - 1, -1))
            else:
                perm = list(range(h - 1, -1, -1))
            perms.append(perm)  # every permutation is its own inverse
            orders.append([orders[-1][p] for p in perm])
        self._perms = perms  # X after flow k = X[:, :, perms[k]]
        self._orders = orders[:-1]  # rows of the original C seen by flow k: C[:, :, orders[k]]

    # -- shared pieces --------------------------------------------------------------------------------------------
    def _squeeze(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D, T)`` -> ``(B, D, h, T / h)`` column-major: ``X[..., i, j] = x[..., j h + i]``."""
        b, d, t = x.shape
        return x.view(b, d, t // self.config.n_height, self.config.n_height).transpose(2, 3)

    def _conditioning(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, F)`` -> squeezed upsampled mel ``(B, n_mels, h, F * hop / h)``."""
        c = mel.unsqueeze(1)
        for conv in self.upsample:
            c = F.leaky_relu(conv(c), 0.4)
        return self._squeeze(c.squeeze(1))  # width exactly F * hop: no trimming, no dropped samples

    def _rows(self, x: torch.Tensor, index: list[int]) -> torch.Tensor:
        return x.index_select(2, torch.as_tensor(index, device=x.device))

    # -- flow in both directions ----------------------------------------------------------------------------------
    def flow_forward(self, audio: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio ``(B, T)`` -> latent ``z`` ``(B, 1, h, T / h)`` and ``log|det dz/dx|`` ``(B,)`` (nats)."""
        c = self._conditioning(mel)
        x = self._squeeze(audio.unsqueeze(1))
        log_det = audio.new_zeros(audio.shape[0])
        for k, net in enumerate(self.flows):
            ck = self._rows(c, self._orders[k])
            log_s_t = net(x[:, :, :-1], ck[:, :, 1:])  # row i conditioned on X[<i] (shifted input) and C[i]
            log_s, t = log_s_t[:, :1], log_s_t[:, 1:]
            x = torch.cat([x[:, :, :1], x[:, :, 1:] * torch.exp(log_s) + t], 2)
            log_det = log_det + log_s.sum(dim=(1, 2, 3))
            x = self._rows(x, self._perms[k])
        return x, log_det

    def flow_inverse(self, z: torch.Tensor, mel: torch.Tensor, reverse: str = "fast") -> torch.Tensor:
        """Latent ``(B, 1, h, T / h)`` -> audio ``(B, T)``; ``reverse`` is ``"fast"`` or ``"plain"``."""
        reverse = check_choice("reverse", reverse, REVERSE_MODES)
        c = self._conditioning(mel)
        x = z
        for k in reversed(range(len(self.flows))):
            x = self._rows(x, self._perms[k])  # undo the permutation (an involution)
            ck = self._rows(c, self._orders[k])
            net = self.flows[k]
            if reverse == "plain":
                x = net.reverse_plain(x, ck)
            elif self.is_prepared:
                x = self._compiled(f"rows_{k}", net.reverse_rows)(x, ck)
            else:
                x = net.reverse_fast(x, ck)
        return x.transpose(2, 3).reshape(z.shape[0], -1)

    # -- Vocoder interface ----------------------------------------------------------------------------------------
    def default_procedure(self) -> dict[str, Any]:
        return {"sigma": self.config.inference_sigma, "reverse": "fast"}

    def _validate_procedure(self, procedure: dict[str, Any]) -> dict[str, Any]:
        return {
            "sigma": check_non_negative_float("sigma", procedure["sigma"]),
            "reverse": check_choice("reverse", procedure["reverse"], REVERSE_MODES)}

    def _generate(
        self, mel: torch.Tensor, *, generator: torch.Generator | None, sigma: float, reverse: str) -> torch.Tensor:
        h = self.config.n_height
        z = draw_latent((mel.shape[0], 1, h, mel.shape[-1] * self.hop_length // h), mel, sigma, generator)
        with torch.no_grad():
            return self.flow_inverse(z, mel, reverse)

    def _prepare_family(self) -> None:
        """Inference-only WaveFlow (see :meth:`Vocoder.prepare_for_inference`): weight norm removed, each flow's 8
        conditioning convs fused into one, and ``reverse="fast"`` computes each row's conditioning when it reaches
        the row instead of all rows up front (peak memory of the large model at 10 s of audio: the up-front
        ``(B, 2048, T)`` float32 block is ~1.3 GB; same FLOPs), with the row network in 1-D form
        (:meth:`_WaveNet2d.reverse_rows`)."""
        for net in self.flows:
            net.fuse()
            net.prepare_rows()

    def _cache_clearers(self):
        return [net.clear_cache for net in self.flows]


def _preset(size: str, n_height: int, res_channels: int) -> WaveFlowConfig:
    return WaveFlowConfig(size=size, n_height=n_height, res_channels=res_channels)


PRESETS = {
    # thesis Table 8 (counts with weight-norm gains, +g)
    "small": _preset("small", 8, 64),  # 5,950,164
    "medium": _preset("medium", 16, 96),  # 12,857,300
    "large": _preset("large", 16, 128),  # 22,385,876
    # thesis Table 6 = Ping et al. 2020 Table 4 (the paper prints 5.91/5.91/12.78/22.25/86.18 M)
    "wf1": _preset("wf1", 8, 64),
    "wf2": _preset("wf2", 16, 64),
    "wf3": _preset("wf3", 16, 96),
    "wf4": _preset("wf4", 16, 128),
    "wf5": _preset("wf5", 16, 256)}

registry.register(
    registry.ModelEntry(
        name="waveflow",
        display_name="WaveFlow",
        family="flow",
        model_class=WaveFlow,
        config_class=WaveFlowConfig,
        presets=PRESETS,
        notes=(
            "Ping et al. 2020; 8 flows x 8 layers of 3x3 2-D convs causal on the height (dilation 1) and dilated "
            "2^i on the width; small/medium/large = (h 8, r 64), (h 16, r 96), (h 16, r 128); wf1..wf5 = thesis "
            "Table 6. Counts quoted with weight-norm gains. Sigma 1.0; reverse 'fast' (cached queues) or 'plain'; "
            "Adam 2e-4, grad clip 5.")))
