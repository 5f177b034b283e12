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

from .base import OptimizerConfig, VocoderConfig
from .gan_common import (
    DiscriminatorOutput,
    GanVocoder,
    check_audio_pair,
    feature_matching_loss,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    sn,
    wn,
)
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
            name="adamw", lr=2e-4, betas=(0.8, 0.99), weight_decay=0.01, lr_decay_per_epoch=0.999
        )
    )


class ResBlock1(nn.Module):
    """``(B, C, T) -> (B, C, T)``: for each dilation ``d``, ``x <- x + conv_k,1(lrelu(conv_k,d(lrelu(x))))``."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            wn(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d)))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            wn(nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size))) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x

    def forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with in-place sums (``x`` itself is left untouched: the other MRF blocks read it)."""
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            y = c2(F.leaky_relu_(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = y.add_(x) if i == 0 else x.add_(y)
        return x


class ResBlock2(nn.Module):
    """``(B, C, T) -> (B, C, T)``: for each dilation ``d``, ``x <- x + conv_k,d(lrelu(x))``."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(
            wn(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d)))
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x

    def forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with in-place sums (``x`` itself is left untouched: the other MRF blocks read it)."""
        for i, c in enumerate(self.convs):
            y = c(F.leaky_relu(x, LRELU_SLOPE))
            x = y.add_(x) if i == 0 else x.add_(y)
        return x


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
                block(ch, kr, dr) for kr, dr in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes, strict=True)
            ))
        self.conv_post = wn(nn.Conv1d(ch, 1, 7, padding=3))

    def forward_inference(self, mel: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without gradients and with in-place arithmetic: the MRF sum accumulates into the first
        block's output, residual additions and activations overwrite tensors nothing else reads."""
        x = self.conv_pre(mel)
        for up, mrf in zip(self.ups, self.mrfs):
            x = up(F.leaky_relu_(x, LRELU_SLOPE))
            acc = None
            for block in mrf:
                y = block.forward_inference(x)
                acc = y if acc is None else acc.add_(y)
            x = acc.div_(len(mrf))
        return torch.tanh_(self.conv_post(F.leaky_relu_(x)))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for up, mrf in zip(self.ups, self.mrfs):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(block(x) for block in mrf) / len(mrf)  # MRF: mean of the |k_r| residual blocks
        x = F.leaky_relu(x)  # slope 0.01 (torch default) here, as in the reference, not 0.1
        return torch.tanh(self.conv_post(x))


class PeriodDiscriminator(nn.Module):
    """MPD sub-discriminator of period ``p``: ``(B, 1, T)`` -> (score ``(B, T')``, 6 maps ``(B, C, T_i, p)``)."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        pad = (_same_padding(kernel_size), 0)
        chans = [1, 32, 128, 512, 1024]
        self.convs = nn.ModuleList(
            wn(nn.Conv2d(i, o, (kernel_size, 1), (stride, 1), padding=pad)) for i, o in zip(chans[:-1], chans[1:])
        )
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
            norm(nn.Conv1d(i, o, k, s, groups=g, padding=_same_padding(k))) for i, o, k, s, g in spec
        )
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
    """HiFi-GAN vocoder: ``generate(mel)`` is one forward pass, no procedure arguments."""

    def __init__(self, config: HiFiGANConfig):
        super().__init__(config)
        if math.prod(config.upsample_rates) != config.hop_length:
            raise ValueError(
                f"prod(upsample_rates)={math.prod(config.upsample_rates)} must equal hop_length={config.hop_length}"
            )
        if config.resblock not in ("1", "2"):
            raise ValueError(f"resblock={config.resblock!r} is not valid; choose one of ['1', '2']")
        self.net = HiFiGANGenerator(config)
        self._mel: MelFrontEnd | None = None  # loss front-end, built on first use; buffers only, no parameters

    def _mel_frontend(self, device: torch.device) -> MelFrontEnd:
        if self._mel is None:
            c = self.config
            # the thesis's front-end (n_fft 2048, 0-8 kHz, log(1+S)), not the reference's 22.05 kHz full-band log-mel
            self._mel = MelFrontEnd(MelConfig(sample_rate=c.sample_rate, hop_length=c.hop_length, n_mels=c.n_mels))
        return self._mel.to(device)

    def _forward_prepared(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net.forward_inference(mel)

    def prepare_for_inference(self, backend: str = "torch") -> "HiFiGAN":
        """Inference-only HiFi-GAN (see :meth:`Vocoder.prepare_for_inference`): weight norm folded, and the
        generator runs :meth:`HiFiGANGenerator.forward_inference` (the multi-receptive-field sum and the residual
        additions accumulate in place instead of allocating on every add; activations in place)."""
        return super().prepare_for_inference(backend)

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
        self._reject_training("generator_loss()")
        check_audio_pair(real_audio, fake_audio)
        fake_logits, fake_features = discriminator(fake_audio)
        with torch.no_grad():
            _, real_features = discriminator(real_audio)
        frontend = self._mel_frontend(fake_audio.device)
        mel_l1 = F.l1_loss(frontend(fake_audio), frontend(real_audio).detach())
        adversarial = lsgan_generator_loss(fake_logits)
        fm = feature_matching_loss(real_features, fake_features)
        loss = adversarial + self.config.lambda_fm * fm + self.config.lambda_mel * mel_l1
        return {"loss": loss, "adversarial": adversarial, "feature_matching": fm, "mel": mel_l1}

    def reconstruction_loss(self, real_audio, fake_audio) -> dict[str, torch.Tensor]:
        """The paper's own reconstruction term alone: ``lambda_mel`` x mel L1 (``{"loss", "mel"}``, mel unweighted)."""
        self._reject_training("reconstruction_loss()")
        check_audio_pair(real_audio, fake_audio)
        frontend = self._mel_frontend(fake_audio.device)
        mel_l1 = F.l1_loss(frontend(fake_audio), frontend(real_audio).detach())
        return {"loss": self.config.lambda_mel * mel_l1, "mel": mel_l1}

    def discriminator_loss(self, real_audio, fake_audio, discriminator) -> dict[str, torch.Tensor]:
        """LSGAN ``sum_k E[(D_k(x) - 1)^2] + E[D_k(G(s))^2]`` over MPD and MSD; ``{"loss", "mpd", "msd"}``."""
        self._reject_training("discriminator_loss()")
        check_audio_pair(real_audio, fake_audio)
        real_logits, _ = discriminator(real_audio)
        fake_logits, _ = discriminator(fake_audio)
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
        "v3": HiFiGANConfig(size="v3", **V3),
    },
    notes="Kong et al. 2020; thesis sizes small = V2, medium = V3, large = V1. The paper's counts exclude "
    "weight-norm gains (count_parameters(model, weight_norm_gains=False)).",
))
