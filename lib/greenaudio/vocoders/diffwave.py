"""DiffWave (Kong et al. 2020, "DiffWave: A Versatile Diffusion Model for Audio Synthesis"), thesis §5.1.1 and Table 8.

Used by: greenaudio.vocoders (registry), notebooks of Chapter 5, greenaudio.measure, greenaudio.training.

Architecture (paper §3 and Fig. 2): the mel spectrogram is upsampled to the audio rate by two ConvTranspose2d layers of
stride 16 (hop 256); a WaveNet-like stack of residual layers with bidirectional dilated convolutions (dilation
``2^(i mod cycle)``), gated tanh/sigmoid units, per-layer mel conditioning (1x1 conv) and a diffusion-step embedding
(sinusoidal, 128 -> 512 -> 512 with SiLU) added before each dilated convolution; skip connections are summed, scaled by
``1/sqrt(layers)``, and projected to the predicted noise ``eps_theta(x_t, mel, t)``.

Sizes (thesis Table 8; the counts below are exact, with 80 mels):

=============  =================  ============  ==========================================================
preset         residual channels  parameters    origin
=============  =================  ============  ==========================================================
small          32                 1,227,651     thesis's own (Table 8: 1.23M)
medium / base  64                 2,619,971     paper's DiffWave BASE (paper: 2.64M; Table 8: 2.62M)
large          128                6,885,315     paper's DiffWave LARGE channels (paper: 6.91M; Table 8: 6.89M)
paper_large    128                6,885,315     paper's LARGE with its T = 200 training chain (betas 1e-4..0.02)
=============  =================  ============  ==========================================================

The thesis's text says it added its own *medium*; its Table 8 numbers show that the added size is the small one
(C = 32): medium and large are the paper's Base and Large. The papers' counts exceed ours by ~0.02M in both cases; the
number of diffusion steps does not change the count (the step table is computed, not learned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from ..validation import check_finite_number
from ._fast import fast_gate, pointwise, scale_rows
from .base import (OptimizerConfig, VocoderConfig, check_config_int, check_config_ints, check_config_number,
                   positive_int_or_none)
from .diffusion_common import DiffusionVocoder, NoiseSchedule, align_steps, ancestral_sample, linear_schedule
from .graphs import VocoderGraphs, split_diffwave_conditioned

__all__ = ["DiffWaveConfig", "DiffWave", "FAST_BETAS"]

FAST_BETAS = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)
"""The paper's 6-step fast-sampling schedule ``eta_1..eta_6`` (DiffWave Appendix B, for the T = 50 base model)."""


@dataclass(frozen=True)
class DiffWaveConfig(VocoderConfig):
    """DiffWave architecture and training recipe.

    Args:
        residual_channels: ``C``, channels of every residual layer (32 / 64 / 128).
        residual_layers: number of residual layers (30 in every size).
        dilation_cycle: dilations are ``2^(i mod dilation_cycle)`` (1, 2, ..., 512, then again).
        step_embedding_dim: dimension of the sinusoidal step encoding (128).
        step_hidden_dim: width of the step-embedding MLP (512).
        upsample_strides: time strides of the ConvTranspose2d mel upsamplers; their product must equal ``hop_length``.
        train_steps: ``T``, length of the training chain (50; the paper's Large uses 200).
        beta_start: ``beta_1`` of the linear training schedule.
        beta_end: ``beta_T`` of the linear training schedule (0.05 for T = 50, 0.02 for T = 200).
        fast_betas: the inference schedule of the ``"fast"`` procedure.

    Training recipe: Adam, lr 2e-4 (paper and reference code), L1 noise-prediction loss (the paper writes an L2
    objective; the reference code and the thesis's code use L1).
    """

    model: str = "diffwave"
    residual_channels: int = 64
    residual_layers: int = 30
    dilation_cycle: int = 10
    step_embedding_dim: int = 128
    step_hidden_dim: int = 512
    upsample_strides: tuple[int, ...] = (16, 16)
    train_steps: int = 50
    beta_start: float = 1e-4
    beta_end: float = 0.05
    fast_betas: tuple[float, ...] = FAST_BETAS
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(name="adam", lr=2e-4))

    def __post_init__(self) -> None:
        """Validate the fields (``ValueError`` naming ``DiffWaveConfig.<field>`` and the value) before any layer is
        built: widths and counts are integers >= 1; ``step_embedding_dim`` is even and >= 4 (sine and cosine halves,
        frequencies ``10^(4 i / (d/2 - 1))``); ``upsample_strides`` are even (the transposed convolutions' padding
        ``s / 2`` gives exactly ``s`` times more samples only for even strides) and multiply to ``hop_length``;
        ``train_steps`` >= 1; the training betas and ``fast_betas`` in (0, 1)."""
        for name in ("residual_channels", "residual_layers", "dilation_cycle", "step_hidden_dim", "train_steps"):
            check_config_int(self, name)
        dim = check_config_int(self, "step_embedding_dim", min_value=4)
        if dim % 2:
            raise ValueError(f"DiffWaveConfig.step_embedding_dim must be even, got {dim}")
        strides = check_config_ints(self, "upsample_strides", min_value=2, even=True)
        for name in ("beta_start", "beta_end"):
            check_config_number(self, name, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
        betas = self.fast_betas
        if isinstance(betas, (str, bytes)) or not isinstance(betas, (tuple, list)) or not betas:
            raise ValueError(f"DiffWaveConfig.fast_betas must be a non-empty tuple of numbers in (0, 1), got {betas!r}")
        object.__setattr__(self, "fast_betas", tuple(
            check_finite_number(f"DiffWaveConfig.fast_betas[{i}]", b, min_value=0.0, max_value=1.0,
                                min_inclusive=False, max_inclusive=False)
            for i, b in enumerate(betas)))
        hop = positive_int_or_none(self.hop_length)
        if hop is not None and math.prod(strides) != hop:
            raise ValueError(
                f"product of upsample_strides {self.upsample_strides} must equal hop_length {self.hop_length}")


def step_encoding(steps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encoding of (possibly fractional) diffusion steps (DiffWave eq. in §3.1).

    ``[sin(10^(0*4/(d/2-1)) t), ..., sin(10^(4) t), cos(...), ...]``, evaluated directly at fractional ``t`` (the
    reference code interpolates between integer rows instead; both agree at integer steps).

    Args:
        steps: ``(S,)`` 0-based step indices (float).
        dim: encoding dimension ``d``.

    Returns:
        ``(S, d)``.
    """
    half = dim // 2
    freqs = 10.0 ** (torch.arange(half, dtype=steps.dtype, device=steps.device) * 4.0 / (half - 1))
    angles = steps[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class _ResidualLayer(nn.Module):
    """One bidirectional dilated residual layer; returns ``(residual_out (B, C, T), skip (B, C, T))``."""

    def __init__(self, channels: int, n_mels: int, hidden: int, dilation: int):
        super().__init__()
        self.dilated_conv = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.step_projection = nn.Linear(hidden, channels)
        self.mel_projection = nn.Conv1d(n_mels, 2 * channels, 1)
        self.output_projection = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, x: torch.Tensor, mel: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = x + self.step_projection(step).unsqueeze(-1)
        y = self.dilated_conv(y) + self.mel_projection(mel)
        gate, filt = y.chunk(2, dim=1)
        y = self.output_projection(torch.sigmoid(gate) * torch.tanh(filt))
        residual, skip = y.chunk(2, dim=1)
        return (x + residual) / math.sqrt(2.0), skip


class DiffWave(DiffusionVocoder):
    """DiffWave vocoder: ``eps_theta(x_t, mel, t)`` and its ancestral sampler.

    Procedures (``generate(mel, schedule=..., steps=...)``; either key alone is enough):

    * ``"fast"`` (6 steps, default): the paper's betas :data:`FAST_BETAS`; the network sees, at each step, the
      fractional training step whose ``sqrt(alpha-bar)`` matches (:func:`align_steps`).
    * ``"full"`` (``train_steps`` steps): the training chain itself.

    Sampling starts from ``x_N ~ N(0, I)`` (paper Algorithm 2).
    """

    _cache_attribute = "_step_cache"

    def __init__(self, config: DiffWaveConfig):
        super().__init__(config)
        c = config
        self.upsampler = nn.ModuleList(
            nn.ConvTranspose2d(1, 1, (3, 2 * s), stride=(1, s), padding=(1, s // 2)) for s in c.upsample_strides)
        self.input_projection = nn.Conv1d(1, c.residual_channels, 1)
        self.step_mlp = nn.Sequential(
            nn.Linear(c.step_embedding_dim, c.step_hidden_dim),
            nn.SiLU(),
            nn.Linear(c.step_hidden_dim, c.step_hidden_dim),
            nn.SiLU())
        self.layers = nn.ModuleList(
            _ResidualLayer(c.residual_channels, c.n_mels, c.step_hidden_dim, 2 ** (i % c.dilation_cycle))
            for i in range(c.residual_layers))
        self.skip_projection = nn.Conv1d(c.residual_channels, c.residual_channels, 1)
        self.output_projection = nn.Conv1d(c.residual_channels, 1, 1)
        nn.init.zeros_(self.output_projection.weight)  # as the paper: the untrained model predicts zero noise
        self.train_schedule = linear_schedule(c.beta_start, c.beta_end, c.train_steps)
        self._step_cache: dict[str, torch.Tensor] = {}

    # -- schedules --------------------------------------------------------------------------------------------
    def schedules(self) -> dict[str, tuple[NoiseSchedule, torch.Tensor]]:
        """Inference schedules: name -> (betas, 0-based fractional training step fed to the network at each)."""
        fast = NoiseSchedule.from_betas(self.config.fast_betas)
        full = self.train_schedule
        return {
            "fast": (fast, align_steps(self.train_schedule, fast)),
            "full": (full, torch.arange(full.steps, dtype=torch.float64))}

    def default_procedure(self) -> dict[str, Any]:
        """``schedule``/``steps`` (default: the 6-step fast schedule); ``clamp`` (default ``"waveform"``: the
        reference sampler clamps the waveform to [-1, 1] after every step; see ``CLAMP_CHOICES``)."""
        return {"schedule": None, "steps": None, "clamp": "waveform"}

    def _schedule_steps(self) -> dict[str, int]:
        return {"fast": len(self.config.fast_betas), "full": self.config.train_steps}

    # -- network ----------------------------------------------------------------------------------------------
    def upsample_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, frames)`` -> ``(B, n_mels, frames * hop_length)``."""
        x = mel.unsqueeze(1)
        for conv in self.upsampler:
            x = F.leaky_relu(conv(x), 0.4)
        return x.squeeze(1)

    def encode_steps(self, steps: torch.Tensor) -> torch.Tensor:
        """0-based (fractional) steps ``(S,)`` -> the step MLP's input ``(S, step_embedding_dim)``, computed in the
        MLP's dtype (float32: the encodings the network was trained on; at frequencies up to 1e4 a float64 encoding
        differs by up to 0.03 and moves trained DiffWave small's audio by 2.8e-3 relative L2)."""
        w = self.step_mlp[0].weight
        return step_encoding(steps.to(device=w.device, dtype=w.dtype), self.config.step_embedding_dim)

    def embed_steps(self, steps: torch.Tensor) -> torch.Tensor:
        """0-based (fractional) steps ``(S,)`` -> step embeddings ``(S, step_hidden_dim)``."""
        return self.step_mlp(self.encode_steps(steps))

    def predict_noise(
        self, x_t: torch.Tensor, upsampled_mel: torch.Tensor, step_embedding: torch.Tensor) -> torch.Tensor:
        """``eps_theta``.

        Args:
            x_t: noisy waveform ``(B, T)``.
            upsampled_mel: ``(B, n_mels, T)`` from :meth:`upsample_mel`.
            step_embedding: ``(B, step_hidden_dim)`` or ``(1, step_hidden_dim)`` from :meth:`embed_steps`.

        Returns:
            predicted noise ``(B, T)``.
        """
        x = F.relu(self.input_projection(x_t.unsqueeze(1)))
        skip = None
        for layer in self.layers:
            x, s = layer(x, upsampled_mel, step_embedding)
            skip = s if skip is None else skip + s
        x = F.relu(self.skip_projection(skip / math.sqrt(len(self.layers))))
        return self.output_projection(x).squeeze(1)

    # -- inference --------------------------------------------------------------------------------------------
    def _generate(
        self, mel: torch.Tensor, *, generator: torch.Generator | None, schedule: str, steps: int, clamp: str
    ) -> torch.Tensor:
        with torch.no_grad():
            betas, train_steps = self.schedules()[schedule]
            if self.is_prepared:
                return self._generate_prepared(mel, generator, betas, schedule, clamp)
            embeddings = self._step_cache.get(schedule)
            if embeddings is None:
                embeddings = self.embed_steps(train_steps)
            embeddings = embeddings.to(device=mel.device, dtype=mel.dtype)
            cond = self.upsample_mel(mel)
            shape = (mel.shape[0], mel.shape[-1] * self.hop_length)
            return ancestral_sample(
                lambda x, n: self.predict_noise(x, cond, embeddings[n : n + 1]), betas, shape, mel, generator,
                clamp=clamp)

    #: Most bytes the prepared path spends on the precomputed mel projections of one ``generate`` call; layers
    #: beyond it recompute theirs at every step (1 GiB: all 30 layers of every size at 1 s of audio, and of the
    #: small model up to ~8 s).
    CONDITIONER_CACHE_BYTES = 1 << 30

    def _prepare_family(self) -> None:
        """Inference-only DiffWave (see :meth:`Vocoder.prepare_for_inference`; no weight norm to remove).

        Precomputes, once: the step embeddings and every layer's step projection of both schedules, and the 30 mel
        projections stacked into one 1x1 convolution; once per ``generate`` call: the mel projections themselves
        (they do not depend on the diffusion step; the plain path recomputes them at every step, ~38 % of a layer's
        FLOPs at 32 channels). Gating, residual and skip sums run in place.

        Step embeddings and every layer's step projection of both schedules; the 30 mel projections stacked into
        one weight; gate-friendly weight copies (:mod:`._fast`: the ``tanh`` half doubled, the output projection
        doubled); 1x1 convolutions as matrices."""
        c = self.config.residual_channels
        self._step_cache = {name: self.embed_steps(t) for name, (_, t) in self.schedules().items()}
        self._step_projection_cache = {  # schedule -> (layers, steps, C)
            name: torch.stack([layer.step_projection(emb) for layer in self.layers])
            for name, emb in self._step_cache.items()}
        # DiffWave gates sigmoid(first half) * tanh(second half): double the second half of what produces it
        self._mel_weight = torch.cat([scale_rows(l.mel_projection.weight[:, :, 0], c, 2 * c, 2.0) for l in self.layers])
        self._mel_bias = torch.cat([scale_rows(l.mel_projection.bias, c, 2 * c, 2.0) for l in self.layers])
        # dilated conv as one GEMM over its 3 taps stacked as rows (im2col), its bias folded into the mel bias
        self._fast_layers = [
            (torch.cat([w[:, :, j] for j in range(3)], dim=1).contiguous(), l.dilated_conv.dilation[0],
             2.0 * l.output_projection.weight[:, :, 0], l.output_projection.bias.clone())
            for l in self.layers
            for w in (scale_rows(l.dilated_conv.weight, c, 2 * c, 2.0),)]
        self._mel_bias = self._mel_bias + torch.cat([scale_rows(l.dilated_conv.bias, c, 2 * c, 2.0)
                                                     for l in self.layers])
        self._fast_io = tuple(
            t.detach().clone() for t in (
                self.input_projection.weight[:, :, 0], self.input_projection.bias,
                self.skip_projection.weight[:, :, 0], self.skip_projection.bias,
                self.output_projection.weight[:, :, 0], self.output_projection.bias))

    def _export_graphs(self, example_frames: int, **procedure: Any) -> VocoderGraphs:
        """The ONNX Runtime backends' graphs: the mel projections computed once per clip, as the prepared torch path
        (:func:`greenaudio.vocoders.graphs.split_diffwave_conditioned`)."""
        return split_diffwave_conditioned(self, example_frames, **procedure)

    def _generate_prepared(self, mel, generator, betas, schedule: str, clamp: str) -> torch.Tensor:
        """The prepared sampler: the mel projections of every layer (step-independent) computed once per call with
        one stacked 1x1 convolution (as many layers as :attr:`CONDITIONER_CACHE_BYTES` allows), the step projections
        taken from the cache, the gate through two sigmoids (:func:`._fast.fast_gate`), sums in place.

        The ``"compile"`` backend runs this path as it is: Inductor's code for the denoiser was slower than it
        (1 s of audio, one thread, 2026-12-06: 0.30 against 0.25 s per step for small, 4.4 against 3.9 s per clip
        for medium), so nothing is compiled."""
        cond = self.upsample_mel(mel)
        b, t = mel.shape[0], mel.shape[-1] * self.hop_length
        c2 = 2 * self.config.residual_channels
        per_layer = b * c2 * t * cond.element_size()
        n_cached = min(len(self.layers), self.CONDITIONER_CACHE_BYTES // max(per_layer, 1))
        mel_proj = pointwise(cond, self._mel_weight[: n_cached * c2], self._mel_bias[: n_cached * c2]) if n_cached \
            else None
        step_proj = self._step_projection_cache[schedule].to(device=mel.device, dtype=mel.dtype)
        return ancestral_sample(lambda x, n: self._predict_noise_prepared(x, cond, mel_proj, step_proj[:, n]),
                                betas, (b, t), mel, generator, clamp=clamp)

    def _predict_noise_prepared(
        self, x_t: torch.Tensor, cond: torch.Tensor, mel_proj: torch.Tensor | None, step_proj: torch.Tensor
    ) -> torch.Tensor:
        """``eps_theta`` with precomputed conditioning: ``mel_proj`` ``(B, n * 2C, T)`` holds the mel projections
        (plus the dilated convolutions' biases) of the first ``n`` layers, ``step_proj`` ``(layers, C)`` every
        layer's step projection at this step.

        Each layer's dilated convolution is one GEMM ``[W_0 W_1 W_2] @ [y(t-d); y(t); y(t+d)]`` whose accumulator
        starts from the layer's mel projection (``addmm``), with ``y = x + step projection`` written straight into
        the stacked taps (zeros where the plain convolution zero-pads)."""
        c = self.config.residual_channels
        b, t = x_t.shape
        n_cached = 0 if mel_proj is None else mel_proj.shape[1] // (2 * c)
        root2 = math.sqrt(2.0)
        w_in, b_in, w_skip, b_skip, w_out, b_out = self._fast_io
        x = F.relu_(pointwise(x_t.unsqueeze(1), w_in, b_in))
        cols = x.new_empty(b, 3 * c, t)
        acts = x.new_empty(b, 2 * c, t)  # each layer's pre-gate activations, written in place: no stacking copy
        skip = None
        for l, (w_taps, d, wo, bo) in enumerate(self._fast_layers):
            mid = torch.add(x, step_proj[l].unsqueeze(-1), out=cols[:, c : 2 * c])
            if d < t:
                cols[:, :c, d:] = mid[:, :, : t - d]
                cols[:, 2 * c :, : t - d] = mid[:, :, d:]
            cols[:, :c, : min(d, t)] = 0.0
            cols[:, 2 * c :, max(t - d, 0) :] = 0.0
            if l < n_cached:
                base = mel_proj[:, 2 * c * l : 2 * c * (l + 1)]
                for i in range(b):
                    torch.addmm(base[i], w_taps, cols[i], out=acts[i])
                y = acts
            else:
                y = pointwise(cond, self._mel_weight[2 * c * l : 2 * c * (l + 1)],
                              self._mel_bias[2 * c * l : 2 * c * (l + 1)])
                for i in range(b):
                    y[i].addmm_(w_taps, cols[i])
            gate, filt = y.chunk(2, dim=1)
            y = pointwise(fast_gate(filt, gate), wo, bo)
            residual, s = y.chunk(2, dim=1)
            x = x.add_(residual).div_(root2)
            skip = s if skip is None else skip.add_(s)
        x = F.relu_(pointwise(skip.div_(math.sqrt(len(self.layers))), w_skip, b_skip))
        return pointwise(x, w_out, b_out).squeeze(1)

    # -- training ---------------------------------------------------------------------------------------------
    def training_loss(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """L1 noise-prediction loss at a uniformly drawn training step (paper Algorithm 1).

        Args:
            audio: ``(B, frames * hop_length)`` clean waveform ``x_0``.
            mel: ``(B, n_mels, frames)``.

        Returns:
            ``{"loss": L1(eps, eps_theta), "mean_step": mean 0-based step drawn, "mean_noise_level":
            mean sqrt(alpha-bar_t)}``.
        """
        self._reject_training("training_loss()")
        audio = self._check_pair(audio, mel)
        b = audio.shape[0]
        t = torch.randint(0, self.config.train_steps, (b,), device=audio.device)
        alpha_bar = self.train_schedule.alpha_bars.to(device=audio.device, dtype=audio.dtype)[t][:, None]
        eps = torch.randn_like(audio)
        x_t = alpha_bar.sqrt() * audio + (1.0 - alpha_bar).sqrt() * eps  # q(x_t | x_0)
        pred = self.predict_noise(x_t, self.upsample_mel(mel), self.embed_steps(t.to(audio.dtype)))
        loss = F.l1_loss(pred, eps)
        return {"loss": loss, "mean_step": t.to(audio.dtype).mean(), "mean_noise_level": alpha_bar.sqrt().mean()}


def _preset(size: str, **fields: Any) -> DiffWaveConfig:
    return DiffWaveConfig(size=size, **fields)


PRESETS = {
    "small": _preset("small", residual_channels=32),  # thesis's own size
    "medium": _preset("medium", residual_channels=64),  # = paper's BASE
    "large": _preset("large", residual_channels=128),  # paper's LARGE channels, T = 50 as the thesis's code
    "base": _preset("base", residual_channels=64),
    "paper_large": _preset("paper_large", residual_channels=128, train_steps=200, beta_end=0.02)}

registry.register(
    registry.ModelEntry(
        name="diffwave",
        display_name="DiffWave",
        family="diffusion",
        model_class=DiffWave,
        config_class=DiffWaveConfig,
        presets=PRESETS,
        notes=(
            "Kong et al. 2020. 30 residual layers, C = 32/64/128 (1,227,651 / 2,619,971 / 6,885,315 params). "
            "Training: T = 50, betas linspace(1e-4, 0.05), L1, Adam 2e-4. Inference: 'fast' 6 steps (default) "
            "or 'full' T steps, starting from N(0, I).")))
