"""WaveGrad (Chen et al. 2020, "WaveGrad: Estimating Gradients for Waveform Generation"), thesis §5.1.1 and Table 8.

Used by: greenaudio.vocoders (registry), notebooks of Chapter 5, greenaudio.measure, greenaudio.training.

Architecture (paper §3, Figs. 3-5): an upsampling path from the mel spectrogram (3x1 conv, five UBlocks, 3x1 conv to
one channel) and a downsampling path from the noisy waveform (5x1 conv, four DBlocks). At each of the five resolutions a
FiLM module turns the downsampling path's features and the noise level ``sqrt(alpha-bar)`` (sinusoidal positional
encoding of ``5000 * sqrt(alpha-bar)``) into a scale and a shift that modulate the matching UBlock. Resampling is
parameter-free (nearest-neighbour up, linear down), so the upsampling ratios never change the parameter count.

Sizes (exact counts with 80 mels; the thesis's code uses ratios (4, 4, 4, 4, 2), hop 512; ours (4, 4, 4, 2, 2),
hop 256, same count):

======  ============================  ====================  ===========  ==========  ===========================
preset  up path (mel -> audio)        down path (audio ->)  film_layout  parameters  thesis
======  ============================  ====================  ===========  ==========  ===========================
small   80-256-256-256-128-64-64-1    1-32-64-64-128-256    thesis_code   4,176,513  code 4.18M; Table 8 4.18M
medium  80-512-384-384-256-128-64-1   1-32-64-128-256-384   thesis_code  10,616,449  code 10.62M; Table 8 17.12M
large   80-768-512-512-256-128-128-1  1-32-128-128-256-512  thesis_code  17,122,625  code 17.12M; Table 8 33.91M
base    80-768-512-512-256-128-128-1  1-32-128-128-256-512  paper        15,810,401  paper's WaveGrad Base
======  ============================  ====================  ===========  ==========  ===========================

**Where the thesis's code differs (it explains its counts exactly).** Its UBlocks (1x1 shortcut + four 3x1 convs) and
DBlocks (1x1 shortcut + three 3x1 convs), all with biases, have the paper's structure; its FiLM modules do not. The
paper's FiLM, as both references implement it (lmnt-com/wavegrad, ivanvovk/WaveGrad), keeps the down path's width
``Cin`` through its 3x1 input conv, adds the noise encoding on ``Cin`` channels, and maps ``Cin -> Cout`` (the UBlock
width) in its 3x1 scale and shift convs. The thesis's code (src/models/wavegrad/base_layers.py) maps ``Cin -> Cout``
already in the input conv, adds a ``Cout``-channel encoding, and its scale and shift convs are ``Cout -> Cout``. Per
FiLM that is ``6 Cout^2 - 3 Cin Cout - 3 Cin^2 + Cout - Cin`` more parameters; over the five FiLMs (pairs
32-64/64-64/64-128/128-256/256-256, 32-64/64-128/128-256/256-384/384-384, 32-128/128-128/128-256/256-512/512-512)
322,784 / 716,128 / 1,312,224, i.e. exactly the gaps between the paper layout (3,853,729 / 9,900,321 / 15,810,401)
and the code's 4.18M / 10.62M / 17.12M. ``film_layout`` selects the variant; the three thesis presets use the code's.
The code's "large" channel lists are the paper's Base lists, so ``base`` differs from ``large`` only by the layout.

Other departures of the thesis's code, none of which changes the parameter count, that we do not copy:
dilations (1, 2, 4, 8) in the first three UBlocks and (1, 2, 1, 2) in the last two (the paper: (1, 2, 1, 2) in the
first two, (1, 2, 4, 8) in the last three), (1, 2, 1) in the DBlocks (paper: (1, 2, 4)); leaky ReLU slope 0.01
(paper: 0.2); linear (not nearest) upsampling; encoding frequencies ``1e-4 ** linspace(0, 1, C/2)``; 16 kHz,
2**14-sample training segments; 50 training steps of linspace(1e-6, 1e-2); Adam 1e-3 with StepLR(step_size=10
epochs, gamma=0.9).

**Table 8's "WaveGrad* LARGE 33.91M"** (still unexplained). The code has only three size files (default.yaml is a copy
of large.yaml), and none gives 33.91M. Table 8 prints 4.18M / 17.12M / 33.91M: its MEDIUM row carries the code's large
count, and Table 9's fp32 sizes (16.8 / 42.5 / 68.5 MB, about 4 bytes x 4.18 / 10.62 / 17.12M) say the three trained
models had the code's counts, so 33.91M looks like a transcription or counting error; we could not confirm which.
Candidates tried, with the thesis's FiLM layout and the down path tied to the up path as in the code's files: 2 x
large 34,245,250; large + base 32,933,026; the Base lists with two extra factor-1 same-width UBlocks per level
33,325,377 (one extra: 25,224,001); x1.5 the large widths (down pre-conv 32 kept) 38,352,769; up paths
80-1024-768-768-384-192-192-1 37,928,705 and 80-1024-768-768-512-256-256-1 43,586,497. A search over non-increasing
up paths with widths from {64, 96, 128, 192, 256, 384, 512, 640, 768, 896, 1024, 1280, 1536} found a single one
within 5k of 33.91M, 80-1536-768-512-512-256-96-1, which no one would choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from .base import (OptimizerConfig, VocoderConfig, check_config_int, check_config_ints, check_config_number,
                   check_int_tuple, positive_int_or_none)
from .diffusion_common import DiffusionVocoder, NoiseSchedule, ancestral_sample, linear_schedule
from ._fast import pointwise

__all__ = ["WaveGradConfig", "WaveGrad", "INFERENCE_SCHEDULES", "FILM_LAYOUTS"]

FILM_LAYOUTS = ("paper", "thesis_code")

INFERENCE_SCHEDULES: dict[str, tuple[float, ...]] = {
    # 6 iterations: the grid-searched betas of the ivanvovk/WaveGrad reference (the paper's 6-iteration schedule
    # is also grid-searched but not printed). Its alpha-bar_N is ~0.93: sampling starts from N(0, I) anyway.
    "fast": (1e-6, 1.8929e-5, 1e-4, 1e-3, 1.11e-2, 6e-2),
    # 50 iterations: linspace(1e-4, 0.05, 50) (our choice, departs from the paper, whose 50-step schedule is not
    # printed): the DiffWave training chain, alpha-bar_N ~0.28, inside the noise-level range seen in training.
    "full": tuple(torch.linspace(1e-4, 0.05, 50, dtype=torch.float64).tolist())}


@dataclass(frozen=True)
class WaveGradConfig(VocoderConfig):
    """WaveGrad architecture and training recipe.

    Args:
        upsample_factors: ratio of each UBlock (mel rate -> audio rate); product = ``hop_length``. The thesis's code
            uses (4, 4, 4, 4, 2) for hop 512; the shared mel front-end has hop 256, so we halve the fourth ratio:
            (4, 4, 4, 2, 2). Resampling is parameter-free, so the parameter count is unchanged; the DBlocks use the
            reversed ratios (2, 2, 4, 4) so that every FiLM matches its UBlock's resolution.
        upsample_preconv_channels: output channels of the first 3x1 conv on the mel.
        upsample_channels: output channels of the five UBlocks.
        upsample_dilations: dilations of the four 3x1 convs of each UBlock.
        downsample_preconv_channels: output channels of the 5x1 conv on the noisy waveform.
        downsample_channels: output channels of the four DBlocks.
        downsample_dilations: dilations of the three 3x1 convs of each DBlock.
        noise_level_scale: the positional encoding sees ``noise_level_scale * sqrt(alpha-bar)`` (paper: 5000).
        train_steps: ``S``, steps of the training schedule; the continuous noise level is drawn between consecutive
            ``sqrt(alpha-bar)``. Paper: 1000 (our default). The thesis's code used 50 steps of linspace(1e-6, 1e-2),
            whose alpha-bar ends at 0.778: such a model never sees the near-pure-noise levels its sampler starts from.
        beta_start: first beta of the linear training schedule (1e-6).
        beta_end: last beta of the linear training schedule (1e-2).
        film_layout: where each FiLM module changes width. ``"paper"`` (default; the paper's Fig. 5 as implemented
            by lmnt-com/wavegrad and ivanvovk/WaveGrad): 3x1 input conv ``Cin -> Cin``, noise encoding of ``Cin``
            channels, scale and shift 3x1 convs ``Cin -> Cout``. ``"thesis_code"`` (the thesis's
            neural-audio-energy code): input conv ``Cin -> Cout``, encoding of ``Cout`` channels, scale and shift
            convs ``Cout -> Cout``; ``Cin`` is the DBlock (down-path) width, ``Cout`` the matching UBlock's width.
            Costs ``6 Cout^2 - 3 Cin Cout - 3 Cin^2 + Cout - Cin`` more parameters per FiLM (1,312,224 for the
            Base channel lists). The ``small``/``medium``/``large`` presets use ``"thesis_code"``, ``base`` uses
            ``"paper"``.

    Training recipe: Adam lr 1e-3 (paper; the reference code also decays it with StepLR, gamma 0.9 per epoch,
    recorded in ``optimizer.lr_decay_per_epoch``), L1 loss on the noise.
    """

    model: str = "wavegrad"
    upsample_factors: tuple[int, ...] = (4, 4, 4, 2, 2)  # departs from the thesis's code (4, 4, 4, 4, 2): hop 256
    upsample_preconv_channels: int = 768
    upsample_channels: tuple[int, ...] = (512, 512, 256, 128, 128)
    upsample_dilations: tuple[tuple[int, ...], ...] = (
        (1, 2, 1, 2), (1, 2, 1, 2), (1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8))
    downsample_preconv_channels: int = 32
    downsample_channels: tuple[int, ...] = (128, 128, 256, 512)
    downsample_dilations: tuple[int, ...] = (1, 2, 4)
    noise_level_scale: float = 5000.0
    train_steps: int = 1000
    beta_start: float = 1e-6
    beta_end: float = 1e-2
    film_layout: str = "paper"
    optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(name="adam", lr=1e-3, lr_decay_per_epoch=0.9))

    def __post_init__(self) -> None:
        """Validate the fields (``ValueError`` naming ``WaveGradConfig.<field>`` and the value) before any layer is
        built: channel counts and factors are integers >= 1, one factor, width and 4-dilation tuple per UBlock (their
        factors multiplying to ``hop_length``), one width per DBlock and at least one DBlock dilation; the FiLM
        widths that carry the noise-level encoding (sine and cosine halves) are even; ``noise_level_scale`` > 0,
        ``train_steps`` >= 1 and the training betas in (0, 1)."""
        factors = check_config_ints(self, "upsample_factors")
        check_config_int(self, "upsample_preconv_channels")
        up_channels = check_config_ints(self, "upsample_channels")
        n = len(up_channels)
        if not isinstance(self.upsample_dilations, (tuple, list)):
            raise ValueError(f"WaveGradConfig.upsample_dilations must be a tuple of {n} tuples of 4 dilations, got "
                             f"{self.upsample_dilations!r}")
        if len(factors) != n or len(self.upsample_dilations) != n:
            raise ValueError(
                f"upsample_factors {self.upsample_factors}, upsample_channels {self.upsample_channels} and "
                f"upsample_dilations need the same length")
        object.__setattr__(self, "upsample_dilations", tuple(  # each UBlock has four dilated convolutions
            check_int_tuple(f"WaveGradConfig.upsample_dilations[{i}]", d, length=4)
            for i, d in enumerate(self.upsample_dilations)))
        down_pre = check_config_int(self, "downsample_preconv_channels")
        down_channels = check_config_ints(self, "downsample_channels", min_length=0)
        if len(down_channels) != n - 1:
            raise ValueError(f"need {n - 1} downsample_channels for {n} UBlocks, got {self.downsample_channels}")
        check_config_ints(self, "downsample_dilations")
        if self.film_layout not in FILM_LAYOUTS:
            raise ValueError(f"film_layout must be one of {FILM_LAYOUTS}, got {self.film_layout!r}")
        # the FiLM hidden width carries the noise encoding [sin, cos]: Cin (paper) or Cout (thesis_code) of each FiLM
        field_name, widths = (("downsample_preconv_channels/downsample_channels", (down_pre,) + down_channels)
                              if self.film_layout == "paper" else ("upsample_channels", up_channels))
        odd = [w for w in widths if w % 2]
        if odd:
            raise ValueError(
                f"WaveGradConfig.{field_name} must be even with film_layout={self.film_layout!r} (each FiLM adds a "
                f"sine/cosine noise-level encoding of that width), got {widths}")
        check_config_number(self, "noise_level_scale", min_value=0.0, min_inclusive=False)
        check_config_int(self, "train_steps")
        for name in ("beta_start", "beta_end"):
            check_config_number(self, name, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
        hop = positive_int_or_none(self.hop_length)
        if hop is not None and math.prod(factors) != hop:
            raise ValueError(
                f"product of upsample_factors {self.upsample_factors} must equal hop_length {self.hop_length}")


def noise_level_encoding(noise_level: torch.Tensor, channels: int, scale: float) -> torch.Tensor:
    """Sinusoidal encoding of the continuous noise level ``sqrt(alpha-bar)`` (paper §3, after Vaswani et al.).

    Args:
        noise_level: ``(B,)`` values in ``(0, 1]``.
        channels: encoding size (even).
        scale: linear scale applied first (5000).

    Returns:
        ``(B, channels, 1)``, broadcast over time.
    """
    half = channels // 2
    freqs = torch.exp(-math.log(1e4) * torch.arange(half, device=noise_level.device, dtype=noise_level.dtype) / half)
    angles = scale * noise_level[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).unsqueeze(-1)


def _conv(cin: int, cout: int, kernel: int = 3, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)


class _FiLM(nn.Module):
    """FiLM: features ``(B, Cin, T)`` -> ``scale, shift``, each ``(B, Cout, T)``.

    A 3x1 input conv to ``hidden`` channels, leaky ReLU, plus the noise encoding ``(B, hidden, 1)``, then two 3x1
    convs ``hidden -> Cout`` (scale and shift). ``hidden = Cin`` in the paper's layout (both references),
    ``hidden = Cout`` in the thesis's code (see :class:`WaveGradConfig` ``film_layout``).
    """

    def __init__(self, cin: int, cout: int, hidden: int):
        super().__init__()
        self.input_conv = _conv(cin, hidden)
        self.scale_conv = _conv(hidden, cout)
        self.shift_conv = _conv(hidden, cout)

    def forward(self, x: torch.Tensor, encoding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.input_conv(x), 0.2) + encoding
        return self.scale_conv(h), self.shift_conv(h)


class _UBlock(nn.Module):
    """Upsampling block (paper Fig. 3): ``(B, Cin, L)`` -> ``(B, Cout, L * factor)``, FiLM-modulated (gamma x + xi)."""

    def __init__(self, cin: int, cout: int, factor: int, dilations: tuple[int, ...]):
        super().__init__()
        self.factor = factor
        self.shortcut = _conv(cin, cout, kernel=1)
        self.convs = nn.ModuleList([_conv(cin, cout, dilation=dilations[0])])
        self.convs.extend(_conv(cout, cout, dilation=d) for d in dilations[1:])

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        up = lambda y: F.interpolate(y, scale_factor=self.factor, mode="nearest")  # noqa: E731
        h = self.convs[0](up(F.leaky_relu(x, 0.2)))
        h = self.convs[1](F.leaky_relu(scale * h + shift, 0.2))
        x = self.shortcut(up(x)) + h
        h = self.convs[2](F.leaky_relu(scale * x + shift, 0.2))
        h = self.convs[3](F.leaky_relu(scale * h + shift, 0.2))
        return x + h


class _DBlock(nn.Module):
    """Downsampling block (paper Fig. 4): ``(B, Cin, L)`` -> ``(B, Cout, L // factor)``."""

    def __init__(self, cin: int, cout: int, factor: int, dilations: tuple[int, ...]):
        super().__init__()
        self.factor = factor
        self.shortcut = _conv(cin, cout, kernel=1)
        self.convs = nn.ModuleList(_conv(cin if i == 0 else cout, cout, dilation=d) for i, d in enumerate(dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        down = lambda y: F.interpolate(y, size=y.shape[-1] // self.factor, mode="linear")  # noqa: E731
        h = down(x)
        for conv in self.convs:
            h = conv(F.leaky_relu(h, 0.2))
        return h + down(self.shortcut(x))


class WaveGrad(DiffusionVocoder):
    """WaveGrad vocoder: ``eps_theta(y_noisy, mel, sqrt(alpha-bar))`` and its ancestral sampler.

    Procedures (``generate(mel, steps=...)`` or ``generate(mel, schedule=...)``):

    * ``steps=6`` / ``schedule="fast"`` (default): the grid-searched 6 betas of :data:`INFERENCE_SCHEDULES`;
    * ``steps=50`` / ``schedule="full"``: ``linspace(1e-4, 0.05, 50)``.

    The network is conditioned on the continuous noise level ``sqrt(alpha-bar_n)`` of the inference schedule (paper
    Algorithm 2), so any schedule works without retraining. Sampling starts from ``y_N ~ N(0, I)``.
    """

    _cache_attribute = "_encoding_cache"

    def __init__(self, config: WaveGradConfig):
        super().__init__(config)
        c = config
        self.up_preconv = _conv(c.n_mels, c.upsample_preconv_channels)
        ins = (c.upsample_preconv_channels,) + tuple(c.upsample_channels[:-1])
        self.ublocks = nn.ModuleList(
            _UBlock(i, o, f, d)
            for i, o, f, d in zip(ins, c.upsample_channels, c.upsample_factors, c.upsample_dilations))
        self.up_postconv = _conv(c.upsample_channels[-1], 1)
        self.down_preconv = _conv(1, c.downsample_preconv_channels, kernel=5)
        down_ins = (c.downsample_preconv_channels,) + tuple(c.downsample_channels[:-1])
        down_factors = tuple(reversed(c.upsample_factors[1:]))
        self.dblocks = nn.ModuleList(
            _DBlock(i, o, f, c.downsample_dilations) for i, o, f in zip(down_ins, c.downsample_channels, down_factors))
        film_ins = (c.downsample_preconv_channels,) + tuple(c.downsample_channels)  # audio rate first
        self.films = nn.ModuleList(
            _FiLM(i, o, hidden=i if c.film_layout == "paper" else o)
            for i, o in zip(film_ins, reversed(c.upsample_channels)))
        self.train_schedule = linear_schedule(c.beta_start, c.beta_end, c.train_steps)
        self._encoding_cache: dict[str, list[torch.Tensor]] = {}

    # -- schedules --------------------------------------------------------------------------------------------
    def default_procedure(self) -> dict[str, Any]:
        """``steps``/``schedule`` (default: the 6-iteration grid-searched schedule); ``clamp`` (default
        ``"predicted_clean"``: the reference sampler clamps its predicted clean signal to [-1, 1] at every step; see
        ``CLAMP_CHOICES``)."""
        return {"steps": None, "schedule": None, "clamp": "predicted_clean"}

    def _schedule_steps(self) -> dict[str, int]:
        return {name: len(b) for name, b in INFERENCE_SCHEDULES.items()}

    def encodings(self, noise_level: torch.Tensor) -> list[torch.Tensor]:
        """Per-FiLM positional encodings of noise levels ``(B,)`` -> list of ``(B, C_i, 1)``."""
        return [
            noise_level_encoding(noise_level, f.input_conv.out_channels, self.config.noise_level_scale)
            for f in self.films]

    # -- network ----------------------------------------------------------------------------------------------
    def predict_noise(self, y_noisy: torch.Tensor, mel: torch.Tensor, encodings: list[torch.Tensor]) -> torch.Tensor:
        """``eps_theta``.

        Args:
            y_noisy: ``(B, T)`` with ``T = frames * hop_length``.
            mel: ``(B, n_mels, frames)``.
            encodings: from :meth:`encodings` (batch ``B`` or 1).

        Returns:
            predicted noise ``(B, T)``.
        """
        h = self.down_preconv(y_noisy.unsqueeze(1))
        films = [self.films[0](h, encodings[0])]
        for dblock, film, enc in zip(self.dblocks, self.films[1:], encodings[1:]):
            h = dblock(h)
            films.append(film(h, enc))
        x = self.up_preconv(mel)
        for ublock, (scale, shift) in zip(self.ublocks, reversed(films)):
            x = ublock(x, scale, shift)
        return self.up_postconv(x).squeeze(1)

    # -- inference --------------------------------------------------------------------------------------------
    def _generate(
        self, mel: torch.Tensor, *, generator: torch.Generator | None, steps: int, schedule: str, clamp: str
    ) -> torch.Tensor:
        with torch.no_grad():
            betas = NoiseSchedule.from_betas(INFERENCE_SCHEDULES[schedule])
            per_step = self._encoding_cache.get(schedule)
            if per_step is None:
                per_step = self.encodings(betas.noise_levels)  # sqrt(alpha-bar_n) of the inference schedule
            per_step = [e.to(device=mel.device, dtype=mel.dtype) for e in per_step]
            shape = (mel.shape[0], mel.shape[-1] * self.hop_length)
            if self.is_prepared:
                return self._generate_prepared(mel, generator, betas, per_step, clamp)
            return ancestral_sample(
                lambda y, n: self.predict_noise(y, mel, [e[n : n + 1] for e in per_step]), betas, shape, mel, generator,
                clamp=clamp)

    def _prepare_family(self) -> None:
        """Inference-only WaveGrad (see :meth:`Vocoder.prepare_for_inference`; no weight norm to remove).

        Caches the noise-level encodings of both schedules (computed in float64, as :meth:`_generate` does without a
        cache, then cast: in float32, ``5000 * sqrt(alpha-bar)`` loses ~1e-4 rad of phase). Per ``generate`` call,
        the noise-independent part of the up path is computed once: the mel pre-convolution, and the first UBlock's
        first convolution and shortcut (the plain path recomputes them at every step). Rewrites with identical
        results and fewer FLOPs: every UBlock shortcut runs before the nearest-neighbour upsampling
        (``up(shortcut(x))`` instead of ``shortcut(up(x))``), every DBlock shortcut after the downsampling
        (``shortcut(down(x))``, linear maps commute), the first 3x1 convolution of each UBlock runs polyphase at the
        low rate (a convolution of a nearest-upsampled signal is a sum of shifted low-rate products), each FiLM's
        scale and shift convolutions run as one, and ``scale * h + shift`` is one fused ``addcmul``.
        """
        p = next(self.parameters())
        self._encoding_cache = {
            name: [e.to(device=p.device, dtype=p.dtype) for e in self.encodings(betas.noise_levels)]
            for name, betas in ((n, NoiseSchedule.from_betas(b)) for n, b in INFERENCE_SCHEDULES.items())}
        self._film_weights = [
            (torch.cat([f.scale_conv.weight, f.shift_conv.weight]), torch.cat([f.scale_conv.bias, f.shift_conv.bias]))
            for f in self.films]
        # first conv of each UBlock as 3 stacked 1x1 products (polyphase form), shortcuts as matrices
        self._ublock_weights = []
        for blk in self.ublocks:
            w = blk.convs[0].weight  # (C_out, C_in, k)
            self._ublock_weights.append((
                torch.cat([w[:, :, j] for j in range(w.shape[-1])]).contiguous(), blk.convs[0].bias.clone(),
                blk.convs[0].dilation[0], w.shape[-1], blk.shortcut.weight[:, :, 0].clone(), blk.shortcut.bias.clone()))
        self._dblock_shortcuts = [(d.shortcut.weight[:, :, 0].clone(), d.shortcut.bias.clone()) for d in self.dblocks]

    def _generate_prepared(self, mel, generator, betas, per_step, clamp: str) -> torch.Tensor:
        x0 = self.up_preconv(mel)
        first = self._upsample_conv(0, F.leaky_relu(x0, 0.2))  # step-independent: once per call
        w_sc, b_sc = self._ublock_weights[0][4:]
        shortcut0 = pointwise(x0, w_sc, b_sc)
        shape = (mel.shape[0], mel.shape[-1] * self.hop_length)
        denoise = self._compiled("denoise", self._predict_noise_prepared)
        return ancestral_sample(
            lambda y, n: denoise(y, first, shortcut0, [e[n : n + 1] for e in per_step]), betas, shape, mel,
            generator, clamp=clamp)

    def _upsample_conv(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """``ublocks[i].convs[0](up(x))`` computed at the low rate: ``(B, C_in, L)`` -> ``(B, C_out, L * factor)``.

        With ``u = up(x)`` (``u[m] = x[m // f]``) and tap ``j`` at offset ``o_j = (j - (k-1)/2) d``, output
        ``f i + p`` receives ``W_j x[i + (p + o_j) // f]``: products ``W_j x`` are formed once at the low rate and
        each phase sums its shifted taps (zero outside, as the zero padding of the plain convolution).
        """
        w_stack, bias, d, k, _, _ = self._ublock_weights[i]
        f = self.ublocks[i].factor
        b, _, length = x.shape
        c_out = bias.shape[0]
        prods = pointwise(x, w_stack, None)  # (B, k * C_out, L): W_j x for every tap j
        offsets = [(j - (k - 1) // 2) * d for j in range(k)]
        shifts = [[(p + o) // f for o in offsets] for p in range(f)]
        lo = -min(min(q) for q in shifts)
        hi = max(max(q) for q in shifts)
        padded = F.pad(prods, (max(lo, 0), max(hi, 0)))
        base = max(lo, 0)
        out = x.new_empty(b, c_out, length, f)
        sums: dict[tuple[int, ...], torch.Tensor] = {}
        for p, qs in enumerate(shifts):
            if qs not in [list(k_) for k_ in sums]:
                total = bias.view(1, c_out, 1).expand(b, c_out, length).clone()
                for j, q in enumerate(qs):
                    total += padded[:, j * c_out : (j + 1) * c_out, base + q : base + q + length]
                sums[tuple(qs)] = total
            out[..., p] = sums[tuple(qs)]
        return out.view(b, c_out, length * f)

    def _predict_noise_prepared(
        self, y_noisy: torch.Tensor, first: torch.Tensor, shortcut0: torch.Tensor, encodings: list[torch.Tensor]
    ) -> torch.Tensor:
        """``eps_theta`` given the step-independent ``first = ublocks[0].convs[0](up(lrelu(up_preconv(mel))))`` and
        ``shortcut0 = ublocks[0].shortcut(up_preconv(mel))`` (low rate)."""
        h = self.down_preconv(y_noisy.unsqueeze(1))
        films = [self._film(0, h, encodings[0])]
        for i, dblock in enumerate(self.dblocks):
            x = F.interpolate(h, size=h.shape[-1] // dblock.factor, mode="linear")
            w_sc, b_sc = self._dblock_shortcuts[i]
            shortcut = pointwise(x, w_sc, b_sc)  # shortcut(down(h)) == down(shortcut(h))
            for conv in dblock.convs:
                x = conv(F.leaky_relu_(x, 0.2))
            h = x.add_(shortcut)
            films.append(self._film(i + 1, h, encodings[i + 1]))
        x = None
        for i, (ublock, (scale, shift)) in enumerate(zip(self.ublocks, reversed(films))):
            if i == 0:
                hh, sc = first, shortcut0
            else:
                w_sc, b_sc = self._ublock_weights[i][4:]
                sc = pointwise(x, w_sc, b_sc)
                hh = self._upsample_conv(i, F.leaky_relu_(x, 0.2))
            hh = ublock.convs[1](F.leaky_relu_(torch.addcmul(shift, scale, hh), 0.2))
            b, c, n = hh.shape
            hh.view(b, c, n // ublock.factor, ublock.factor).add_(sc.unsqueeze(-1))  # x = up(shortcut(x)) + h
            x = hh
            t = ublock.convs[2](F.leaky_relu_(torch.addcmul(shift, scale, x), 0.2))
            t = ublock.convs[3](F.leaky_relu_(torch.addcmul(shift, scale, t), 0.2))
            x = x.add_(t)
        return self.up_postconv(x).squeeze(1)

    def _film(self, i: int, h: torch.Tensor, encoding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        film = self.films[i]
        w, b = self._film_weights[i]
        hidden = F.leaky_relu_(film.input_conv(h), 0.2).add_(encoding)
        return F.conv1d(hidden, w, b, padding=1).chunk(2, dim=1)

    # -- training ---------------------------------------------------------------------------------------------
    def training_loss(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """L1 noise-prediction loss at a continuous noise level (paper Algorithm 1).

        Draws ``s ~ U{1..S}`` and ``sqrt(alpha-bar) ~ U(sqrt(alpha-bar_s), sqrt(alpha-bar_{s-1}))`` (with
        ``alpha-bar_0 = 1``), forms ``y_noisy = sqrt(alpha-bar) y_0 + sqrt(1 - alpha-bar) eps``, predicts ``eps``.

        Args:
            audio: ``(B, frames * hop_length)``.
            mel: ``(B, n_mels, frames)``.

        Returns:
            ``{"loss": L1(eps, eps_theta), "mean_noise_level": mean sqrt(alpha-bar) drawn}``.
        """
        self._reject_training("training_loss()")
        audio = self._check_pair(audio, mel)
        b = audio.shape[0]
        levels = torch.cat([torch.ones(1, dtype=torch.float64), self.train_schedule.noise_levels])  # index 0: 1
        s = torch.randint(1, self.config.train_steps + 1, (b,))
        lo, hi = levels[s], levels[s - 1]
        level = (lo + (hi - lo) * torch.rand(b, dtype=torch.float64)).to(device=audio.device, dtype=audio.dtype)
        eps = torch.randn_like(audio)
        y_noisy = level[:, None] * audio + (1.0 - level[:, None] ** 2).sqrt() * eps
        pred = self.predict_noise(y_noisy, mel, self.encodings(level))
        return {"loss": F.l1_loss(pred, eps), "mean_noise_level": level.mean()}


def _preset(size: str, up_pre: int, up: tuple[int, ...], down: tuple[int, ...], film_layout: str) -> WaveGradConfig:
    return WaveGradConfig(
        size=size,
        film_layout=film_layout,
        upsample_preconv_channels=up_pre,
        upsample_channels=up,
        downsample_preconv_channels=32,
        downsample_channels=down)


PRESETS = {
    # The thesis's code (src/models/wavegrad/{small,medium,large}.yaml): its channel lists and its FiLM layout.
    "small": _preset("small", 256, (256, 256, 128, 64, 64), (64, 64, 128, 256), "thesis_code"),
    "medium": _preset("medium", 512, (384, 384, 256, 128, 64), (64, 128, 256, 384), "thesis_code"),
    "large": _preset("large", 768, (512, 512, 256, 128, 128), (128, 128, 256, 512), "thesis_code"),
    # The paper's WaveGrad Base: same channel lists as "large", the paper's FiLM layout.
    "base": _preset("base", 768, (512, 512, 256, 128, 128), (128, 128, 256, 512), "paper")}

registry.register(
    registry.ModelEntry(
        name="wavegrad",
        display_name="WaveGrad",
        family="diffusion",
        model_class=WaveGrad,
        config_class=WaveGradConfig,
        presets=PRESETS,
        notes=(
            "Chen et al. 2020. U-Net-like UBlocks/DBlocks with FiLM on the noise level sqrt(alpha-bar); "
            "small/medium/large use the thesis code's FiLM layout, base the paper's. "
            "Training: 1000 steps linspace(1e-6, 1e-2), continuous noise level, L1, Adam 1e-3. Inference: 6 "
            "grid-searched steps (default) or 50, starting from N(0, I). Hop 256 via ratios (4, 4, 4, 2, 2).")))
