"""HiFi-GAN (Kong, Kim and Bae, NeurIPS 2020), thesis §5.1.1: generator V1/V2/V3, MPD + MSD, LSGAN + FM + mel loss.

Used by: greenaudio.vocoders registry (``load("hifigan", size)``), notebooks of Chapter 5, greenaudio.training.

Architecture as in the reference implementation (jik876/hifi-gan, MIT; read to learn, written anew here):

* Generator: conv k7 (``n_mels -> h_u``); for each upsampling stage ``l``: LeakyReLU(0.1) -> ConvTranspose1d
  (kernel ``k_u[l]``, stride ``r[l]``, channels halved) -> multi-receptive-field fusion (MRF): the mean of
  ``|k_r|`` residual blocks with kernels ``k_r[n]`` and dilations ``D_r[n]``; then LeakyReLU(0.01) -> conv k7 -> tanh.
  ResBlock1 (V1, V2): per dilation, ``x + conv_k,1(lrelu(conv_k,d(lrelu(x))))``; ResBlock2 (V3): per dilation,
  ``x + conv_k,d(lrelu(x))``. Every convolution, transposed ones included, is weight-normed (``dim=0``).
* Discriminator: multi-period (MPD, periods 2, 3, 5, 7, 11: audio folded into ``(T/p, p)`` and 2-D convs ``(k, 1)``)
  plus multi-scale (MSD, 3 scales: raw with spectral norm, then x2 and x4 average-pooled, with weight norm).

Sizes (thesis Table 8): small = V2, medium = V3, large = V1 (also available as presets ``"v1"``, ``"v2"``, ``"v3"``).
Parameter counts without weight-norm gains (the HiFi-GAN paper's convention): 925,985 / 1,462,273 / 13,926,017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import (OptimizerConfig, VocoderConfig, check_config_choice, check_config_int, check_config_ints,
                   check_config_number, check_int_tuple, positive_int_or_none)
from .gan_common import (DiscriminatorOutput, GanVocoder, conv_2d, conv_prepared,
                         feature_matching_loss, lsgan_discriminator_loss, lsgan_generator_loss, sn, to_prepared_layout,
                         wn)
from .mel import MelConfig, MelFrontEnd
from .registry import ModelEntry, register

__all__ = ["HiFiGANConfig", "HiFiGAN", "HiFiGANGenerator", "HiFiGANDiscriminator"]

LRELU_SLOPE = 0.1


def _same_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


@dataclass(frozen=True)
class HiFiGANConfig(VocoderConfig):
    """HiFi-GAN configuration (field names follow the paper's notation).

    Args:
        resblock: ``"1"`` (two convs per dilation, V1/V2) or ``"2"`` (one conv per dilation, V3).
        upsample_rates: strides ``r`` of the transposed convs; their product must equal ``hop_length``.
        upsample_kernel_sizes: kernels ``k_u`` of the transposed convs.
        upsample_initial_channel: ``h_u``, channels after the first conv (halved at every upsampling stage).
        resblock_kernel_sizes: kernels ``k_r`` of the MRF residual blocks.
        resblock_dilation_sizes: dilations ``D_r`` of each residual block.
        mpd_periods: periods of the multi-period discriminator.
        msd_scales: number of multi-scale sub-discriminators (the first uses spectral norm).
        lambda_fm: weight of the feature-matching loss (paper: 2).
        lambda_mel: weight of the mel-spectrogram L1 loss (paper: 45).
    """

    model: str = "hifigan"
    resblock: str = "1"
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    mpd_periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    msd_scales: int = 3
    lambda_fm: float = 2.0
    lambda_mel: float = 45.0
    # torch.optim.AdamW's default weight decay 0.01 is what the reference trains with (it passes no weight_decay)
    optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(
            name="adamw", lr=2e-4, betas=(0.8, 0.99), weight_decay=0.01, lr_decay_per_epoch=0.999))

    def __post_init__(self) -> None:
        """Validate the fields (``ValueError`` naming ``HiFiGANConfig.<field>`` and the value) before any layer is
        built: ``resblock`` is ``"1"`` or ``"2"``; ``upsample_rates`` multiply to ``hop_length`` and each kernel
        ``k_u >= r`` with ``k_u - r`` even (output exactly ``r`` times longer); ``upsample_initial_channel`` keeps at
        least one channel after being halved at every stage; the MRF kernels are odd (same-length convolutions), one
        non-empty dilation tuple each; ``mpd_periods`` >= 1 and ``msd_scales`` >= 0 give at least one
        sub-discriminator; the loss weights are >= 0."""
        check_config_choice(self, "resblock", ("1", "2"))
        rates = check_config_ints(self, "upsample_rates")
        kernels = check_config_ints(self, "upsample_kernel_sizes", length=len(rates))
        for i, (r, k) in enumerate(zip(rates, kernels)):
            if k < r or (k - r) % 2:
                raise ValueError(
                    f"HiFiGANConfig.upsample_kernel_sizes[{i}]={k} must be >= upsample_rates[{i}]={r} with an even "
                    f"difference (padding (k - r) / 2 makes each stage exactly r times longer), got {kernels}")
        ch = check_config_int(self, "upsample_initial_channel")
        if ch < 2 ** len(rates):
            raise ValueError(
                f"HiFiGANConfig.upsample_initial_channel must be an integer >= {2 ** len(rates)} (it is halved at each "
                f"of the {len(rates)} upsampling stages), got {ch}")
        mrf = check_config_ints(self, "resblock_kernel_sizes", odd=True)
        dilations = self.resblock_dilation_sizes
        if isinstance(dilations, (str, bytes)) or not isinstance(dilations, (tuple, list)) \
                or len(dilations) != len(mrf):
            raise ValueError(
                f"HiFiGANConfig.resblock_dilation_sizes must be a tuple of {len(mrf)} dilation tuple(s), one per "
                f"resblock_kernel_sizes item {mrf}, got {dilations!r}")
        object.__setattr__(self, "resblock_dilation_sizes", tuple(
            check_int_tuple(f"HiFiGANConfig.resblock_dilation_sizes[{i}]", d) for i, d in enumerate(dilations)))
        periods = check_config_ints(self, "mpd_periods", min_length=0)
        scales = check_config_int(self, "msd_scales", min_value=0)
        if not periods and not scales:
            raise ValueError("HiFiGANConfig needs at least one sub-discriminator: mpd_periods=() and msd_scales=0")
        check_config_number(self, "lambda_fm", min_value=0.0)
        check_config_number(self, "lambda_mel", min_value=0.0)
        hop = positive_int_or_none(self.hop_length)
        if hop is not None and math.prod(rates) != hop:
            raise ValueError(f"prod(upsample_rates)={math.prod(rates)} must equal hop_length={hop} "
                             f"(HiFiGANConfig.upsample_rates={rates})")


def _call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return module(x)


class ResBlock1(nn.Module):
    """``(B, C, T) -> (B, C, T)``: for each dilation ``d``, ``x <- x + conv_k,1(lrelu(conv_k,d(lrelu(x))))``."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            wn(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d)))
            for d in dilations)
        self.convs2 = nn.ModuleList(
            wn(nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size))) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, _call)

    def _forward(self, x: torch.Tensor, conv) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + conv(c2, F.leaky_relu(conv(c1, F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x

    def forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on the prepared path: ``x`` ``(B, C, 1, T)`` channels-last, convolutions through
        :func:`conv_prepared`, sums in place (``x`` itself is left untouched: the other MRF blocks read it)."""
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            y = conv_prepared(c2, F.leaky_relu_(conv_prepared(c1, F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = y.add_(x) if i == 0 else x.add_(y)
        return x

    def forward_2d(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on ``(B, C, 1, T)`` with 2-D convolutions (the ONNX export of :class:`Generator2d`)."""
        return self._forward(x, conv_2d)


class ResBlock2(nn.Module):
    """``(B, C, T) -> (B, C, T)``: for each dilation ``d``, ``x <- x + conv_k,d(lrelu(x))``."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(
            wn(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d)))
            for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, _call)

    def _forward(self, x: torch.Tensor, conv) -> torch.Tensor:
        for c in self.convs:
            x = x + conv(c, F.leaky_relu(x, LRELU_SLOPE))
        return x

    def forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on the prepared path (see :meth:`ResBlock1.forward_inference`)."""
        for i, c in enumerate(self.convs):
            y = conv_prepared(c, F.leaky_relu(x, LRELU_SLOPE))
            x = y.add_(x) if i == 0 else x.add_(y)
        return x

    def forward_2d(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on ``(B, C, 1, T)`` with 2-D convolutions (the ONNX export of :class:`Generator2d`)."""
        return self._forward(x, conv_2d)


class HiFiGANGenerator(nn.Module):
    """``(B, n_mels, F)`` -> ``(B, 1, F * prod(upsample_rates))`` audio in [-1, 1]."""

    def __init__(self, c: HiFiGANConfig):
        super().__init__()
        block = {"1": ResBlock1, "2": ResBlock2}[c.resblock]
        ch = c.upsample_initial_channel
        self.conv_pre = wn(nn.Conv1d(c.n_mels, ch, 7, padding=3))
        self.ups = nn.ModuleList()
        self.mrfs = nn.ModuleList()
        for r, k in zip(c.upsample_rates, c.upsample_kernel_sizes, strict=True):
            # padding (k - r) / 2: output length exactly r * input length (k - r even in V1-V3)
            self.ups.append(wn(nn.ConvTranspose1d(ch, ch // 2, k, stride=r, padding=(k - r) // 2)))
            ch //= 2
            self.mrfs.append(nn.ModuleList(
                block(ch, kr, dr) for kr, dr in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes, strict=True)))
        self.conv_post = wn(nn.Conv1d(ch, 1, 7, padding=3))

    def forward_inference(self, mel: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on the prepared path (after :func:`.gan_common.cache_convolutions`), ``(B, n_mels, F)`` ->
        ``(B, 1, F * hop)`` in ``mel``'s dtype.

        The activations are ``(B, C, 1, T)`` tensors in channels-last memory format and every convolution a 2-D one
        with a ``(1, K)`` kernel (:func:`conv_prepared`): oneDNN's channels-last direct convolution runs the
        narrow layers (8-64 channels over thousands of samples) faster than its 1-D path (measured: 1.1-1.4x on the
        small and medium generators). Arithmetic in place: the MRF sum accumulates into the first block's output,
        residual additions and activations overwrite tensors nothing else reads. Computes in the dtype of the cached
        weights (bfloat16 for the ``"bf16"`` backend), returns ``mel``'s."""
        x = conv_prepared(self.conv_pre, to_prepared_layout(mel, self.conv_pre.prepared_weight.dtype))
        for up, mrf in zip(self.ups, self.mrfs):
            x = conv_prepared(up, F.leaky_relu_(x, LRELU_SLOPE))
            acc = None
            for block in mrf:
                y = block.forward_inference(x)
                acc = y if acc is None else acc.add_(y)
            x = acc.div_(len(mrf))
        return torch.tanh_(conv_prepared(self.conv_post, F.leaky_relu_(x))).squeeze(2).to(mel.dtype)

    def forward_2d(self, mel: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with every convolution a 2-D one over ``(B, C, 1, T)`` (no in-place arithmetic: traced for
        ONNX export by :class:`Generator2d`)."""
        return self._forward(mel.unsqueeze(2), conv_2d, "forward_2d").squeeze(2)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self._forward(mel, _call, "__call__")

    def _forward(self, mel: torch.Tensor, conv, block_method: str) -> torch.Tensor:
        """:meth:`forward` (``conv`` calls each layer) or :meth:`forward_2d` (``conv`` is :func:`conv_2d`)."""
        x = conv(self.conv_pre, mel)
        for up, mrf in zip(self.ups, self.mrfs):
            x = conv(up, F.leaky_relu(x, LRELU_SLOPE))
            acc = None
            for block in mrf:  # MRF: mean of the |k_r| residual blocks
                y = getattr(block, block_method)(x)
                acc = y if acc is None else acc + y
            x = acc / len(mrf)
        # slope 0.01 (torch default) here, as in the reference, not 0.1
        return torch.tanh(conv(self.conv_post, F.leaky_relu(x)))


class Generator2d(nn.Module):
    """The generator as 2-D convolutions over ``(B, C, 1, T)`` (``mel (B, n_mels, F)`` -> ``audio (B, 1, F *
    hop)``), for ONNX export: ONNX Runtime runs 2-D convolutions whose channels are multiples of 16 in its blocked
    NCHWc layout (MLAS's AVX-512 direct-convolution kernels, activation fused), 1-D ones through im2col + SGEMM.
    Measured on one AVX-512 core at 1 s of audio (CPU time, the machine shared): 1.26x (small), 1.35x (medium) and
    1.10x (large) faster than the 1-D graph. Holds the generator itself (same parameters, same file size)."""

    def __init__(self, generator: HiFiGANGenerator):
        super().__init__()
        self.generator = generator

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.generator.forward_2d(mel)


class PeriodDiscriminator(nn.Module):
    """MPD sub-discriminator of period ``p``: ``(B, 1, T)`` -> (score ``(B, T')``, 6 maps ``(B, C, T_i, p)``)."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        pad = (_same_padding(kernel_size), 0)
        chans = [1, 32, 128, 512, 1024]
        self.convs = nn.ModuleList(
            wn(nn.Conv2d(i, o, (kernel_size, 1), (stride, 1), padding=pad)) for i, o in zip(chans[:-1], chans[1:]))
        self.convs.append(wn(nn.Conv2d(1024, 1024, (kernel_size, 1), 1, padding=pad)))
        self.conv_post = wn(nn.Conv2d(1024, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = x.shape
        if t % self.period:  # reflect-pad to a multiple of p, then fold (B, 1, T) -> (B, 1, T/p, p)
            pad = self.period - t % self.period
            x = F.pad(x, (0, pad), "reflect")
            t += pad
        x = x.view(b, c, t // self.period, self.period)
        maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            maps.append(x)
        x = self.conv_post(x)
        maps.append(x)
        return x.flatten(1), maps


class ScaleDiscriminator(nn.Module):
    """MSD sub-discriminator: ``(B, 1, T)`` -> (score ``(B, T')``, 8 feature maps ``(B, C, T_i)``)."""

    def __init__(self, spectral: bool = False):
        super().__init__()
        norm = sn if spectral else wn
        # (in, out, kernel, stride, groups)
        spec = [(1, 128, 15, 1, 1), (128, 128, 41, 2, 4), (128, 256, 41, 2, 16), (256, 512, 41, 4, 16),
                (512, 1024, 41, 4, 16), (1024, 1024, 41, 1, 16), (1024, 1024, 5, 1, 1)]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(i, o, k, s, groups=g, padding=_same_padding(k))) for i, o, k, s, g in spec)
        self.conv_post = norm(nn.Conv1d(1024, 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            maps.append(x)
        x = self.conv_post(x)
        maps.append(x)
        return x.flatten(1), maps


class HiFiGANDiscriminator(nn.Module):
    """MPD + MSD in one module: ``(B, T)`` audio -> (scores ``[(B, T_k)]``, features ``[[maps]]``).

    Sub-discriminators are ordered MPD periods first, then MSD scales. As in the reference, the feature maps include
    each sub-discriminator's final (score) map, so feature matching also compares the scores.
    """

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), n_scales: int = 3):
        super().__init__()
        self.mpd = nn.ModuleList(PeriodDiscriminator(p) for p in periods)
        self.msd = nn.ModuleList(ScaleDiscriminator(spectral=(k == 0)) for k in range(n_scales))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        x = audio.unsqueeze(1)
        outputs = [d(x) for d in self.mpd]
        for k, d in enumerate(self.msd):
            if k > 0:
                x = self.pool(x)
            outputs.append(d(x))
        return [o[0] for o in outputs], [o[1] for o in outputs]


class HiFiGAN(GanVocoder):
    """HiFi-GAN vocoder: ``generate(mel)`` is one forward pass, no procedure arguments. Prepared for inference (see
    :class:`.gan_common.GanVocoder`), the generator runs :meth:`HiFiGANGenerator.forward_inference` (the
    multi-receptive-field sum and the residual additions accumulated in place) and exports :class:`Generator2d`."""

    generator_2d = Generator2d

    def __init__(self, config: HiFiGANConfig):
        super().__init__(config)
        self.net = HiFiGANGenerator(config)
        self._mel: MelFrontEnd | None = None  # loss front-end, built on first use; buffers only, no parameters

    def _mel_l1(self, real_audio: torch.Tensor, fake_audio: torch.Tensor) -> torch.Tensor:
        """L1 distance of the mels of ``fake_audio`` and ``real_audio`` (the latter without gradient)."""
        if self._mel is None:
            c = self.config
            # the thesis's front-end (n_fft 2048, 0-8 kHz, log(1+S)), not the reference's 22.05 kHz full-band log-mel
            self._mel = MelFrontEnd(MelConfig(sample_rate=c.sample_rate, hop_length=c.hop_length, n_mels=c.n_mels))
        frontend = self._mel.to(fake_audio.device)
        return F.l1_loss(frontend(fake_audio), frontend(real_audio).detach())

    def _forward_prepared(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net.forward_inference(mel)

    def build_discriminator(self) -> HiFiGANDiscriminator:
        return HiFiGANDiscriminator(self.config.mpd_periods, self.config.msd_scales)

    def generator_loss(self, real_audio, fake_audio, mel, discriminator) -> dict[str, torch.Tensor]:
        """LSGAN + ``lambda_fm`` x feature matching + ``lambda_mel`` x mel L1 (paper Eq. 6).

        Args:
            real_audio: ``(B, T)`` target waveform.
            fake_audio: ``(B, T)`` generator output (with gradient).
            mel: ``(B, n_mels, T / hop)`` conditioning (unused: the mel loss compares the front-end's mels of the
                real and generated audio, as the reference does).
            discriminator: from :meth:`build_discriminator`.

        Returns:
            ``{"loss", "adversarial", "feature_matching", "mel"}`` scalar tensors (unweighted terms).
        """
        fake_logits, fake_features, real_features = self._generator_features(real_audio, fake_audio, discriminator)
        mel_l1 = self._mel_l1(real_audio, fake_audio)
        adversarial = lsgan_generator_loss(fake_logits)
        fm = feature_matching_loss(real_features, fake_features)
        loss = adversarial + self.config.lambda_fm * fm + self.config.lambda_mel * mel_l1
        return {"loss": loss, "adversarial": adversarial, "feature_matching": fm, "mel": mel_l1}

    def reconstruction_loss(self, real_audio, fake_audio) -> dict[str, torch.Tensor]:
        """The paper's own reconstruction term alone: ``lambda_mel`` x mel L1 (``{"loss", "mel"}``, mel unweighted)."""
        self._check_losses("reconstruction_loss()", real_audio, fake_audio)
        mel_l1 = self._mel_l1(real_audio, fake_audio)
        return {"loss": self.config.lambda_mel * mel_l1, "mel": mel_l1}

    def discriminator_loss(self, real_audio, fake_audio, discriminator) -> dict[str, torch.Tensor]:
        """LSGAN ``sum_k E[(D_k(x) - 1)^2] + E[D_k(G(s))^2]`` over MPD and MSD; ``{"loss", "mpd", "msd"}``."""
        real_logits, fake_logits = self._discriminator_logits(real_audio, fake_audio, discriminator)
        n = len(self.config.mpd_periods)
        mpd = lsgan_discriminator_loss(real_logits[:n], fake_logits[:n])
        msd = lsgan_discriminator_loss(real_logits[n:], fake_logits[n:])
        return {"loss": mpd + msd, "mpd": mpd, "msd": msd}


V1 = dict(resblock="1", upsample_rates=(8, 8, 2, 2), upsample_kernel_sizes=(16, 16, 4, 4),
          upsample_initial_channel=512, resblock_kernel_sizes=(3, 7, 11),
          resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)))
V2 = dict(V1, upsample_initial_channel=128)
V3 = dict(resblock="2", upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8), upsample_initial_channel=256,
          resblock_kernel_sizes=(3, 5, 7), resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)))

register(ModelEntry(
    name="hifigan",
    display_name="HiFi-GAN",
    family="gan",
    model_class=HiFiGAN,
    config_class=HiFiGANConfig,
    presets={
        "small": HiFiGANConfig(size="small", **V2),  # 0.92M
        "medium": HiFiGANConfig(size="medium", **V3),  # 1.46M
        "large": HiFiGANConfig(size="large", **V1),  # 13.92M
        "v1": HiFiGANConfig(size="v1", **V1),
        "v2": HiFiGANConfig(size="v2", **V2),
        "v3": HiFiGANConfig(size="v3", **V3)},
    notes="Kong et al. 2020; thesis sizes small = V2, medium = V3, large = V1. The paper's counts exclude "
    "weight-norm gains (count_parameters(model, weight_norm_gains=False))."))
