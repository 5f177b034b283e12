"""Tiny vocoders and data for the trainer's tests (one GAN-like, one flow-like), plus their own sanity tests.

The toys are registered in ``greenaudio.vocoders.registry`` only inside :func:`toy_registry` (and removed again), so
the zoo's list of names seen by other tests never changes.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from greenaudio.vocoders import registry
from greenaudio.vocoders.base import OptimizerConfig, Vocoder, VocoderConfig

torch.set_num_threads(1)

N_MELS, HOP, FRAMES = 8, 16, 8


@dataclass(frozen=True)
class ToyConfig(VocoderConfig):
    """Toy architecture: a 1x1 conv from mels to ``hop`` samples per frame (plus a hidden width)."""

    hidden: int = 16
    sleep_s: float = 0.0  # per training call, to make subprocess runs slow enough to kill
    nan_at_call: int = 0  # 0: never; k: the k-th training-mode loss call returns NaN


def _toy_defaults(model: str, lr: float, name: str = "adam", **opt) -> ToyConfig:
    return ToyConfig(model=model, size="small", sample_rate=1000, n_mels=N_MELS, hop_length=HOP,
                     optimizer=OptimizerConfig(name=name, lr=lr, **opt))


class _Net(nn.Module):
    def __init__(self, cfg: ToyConfig, out: int):
        super().__init__()
        self.a = nn.Conv1d(cfg.n_mels, cfg.hidden, 1)
        self.b = nn.Conv1d(cfg.hidden, out, 1)
        self.skip = nn.Conv1d(cfg.n_mels, out, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.skip(mel) + self.b(torch.tanh(self.a(mel)))


def _frames_to_audio(x: torch.Tensor) -> torch.Tensor:  # (B, hop, F) -> (B, F * hop)
    return x.transpose(1, 2).reshape(x.shape[0], -1)


class _Calls:
    def _tick(self) -> None:
        if self.training:
            self.calls += 1
            if self.config.sleep_s:
                time.sleep(self.config.sleep_s)

    def _poison(self, loss: torch.Tensor) -> torch.Tensor:
        if self.training and self.config.nan_at_call and self.calls >= self.config.nan_at_call:
            return loss * float("nan")
        return loss


class ToyDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 4, 5, stride=2, padding=2)
        self.c2 = nn.Conv1d(4, 1, 3, padding=1)

    def forward(self, audio: torch.Tensor):
        h = torch.nn.functional.leaky_relu(self.c1(audio.unsqueeze(1)), 0.2)
        return [self.c2(h)], [[h]]


class ToyGAN(_Calls, Vocoder):
    """GAN-like toy: LSGAN + feature matching + L1 on audio (so the generator loss clearly decreases)."""

    family = "gan"

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        self.net = _Net(config, config.hop_length)
        self.calls = 0

    def forward(self, mel):
        return torch.tanh(_frames_to_audio(self.net(mel)))

    def _generate(self, mel, *, generator=None, **procedure):
        return self.forward(mel)

    def build_discriminator(self):
        return ToyDiscriminator()

    def discriminator_loss(self, real, fake, discriminator):
        (r,), _ = discriminator(real)
        (f,), _ = discriminator(fake)
        loss = ((r - 1) ** 2).mean() + (f ** 2).mean()
        return {"loss": loss}

    def generator_loss(self, real, fake, mel, discriminator):
        self._tick()
        (f,), (ff,) = discriminator(fake)
        _, (fr,) = discriminator(real)
        adv = ((f - 1) ** 2).mean()
        fm = sum((a - b.detach()).abs().mean() for a, b in zip(ff, fr))
        l1 = (fake - real).abs().mean()
        loss = self._poison(adv + 2 * fm + 10 * l1)
        return {"loss": loss, "loss_adv": adv, "loss_fm": fm, "loss_l1": l1}


class ToyFlow(_Calls, Vocoder):
    """Flow-like toy: a conditional Gaussian (one affine flow); training_loss = NLL per sample, with dequantisation noise."""

    family = "flow"

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        self.net = _Net(config, 2 * config.hop_length)
        self.calls = 0

    def _params(self, mel):
        h = self.net(mel)
        hop = self.config.hop_length
        return _frames_to_audio(h[:, :hop]), _frames_to_audio(h[:, hop:]).clamp(-6, 3)

    def training_loss(self, audio, mel):
        self._tick()
        mu, log_s = self._params(mel)
        x = audio + 1e-3 * torch.randn_like(audio)  # uses the global RNG: exercises resume-exact RNG restore
        z = (x - mu) * torch.exp(-log_s)
        nll = (0.5 * z ** 2 + log_s).mean() + 0.5 * math.log(2 * math.pi)
        return {"loss": self._poison(nll), "log_s": log_s.mean()}

    def default_procedure(self):
        return {"sigma": 1.0}

    def _generate(self, mel, *, generator=None, sigma=1.0):
        mu, log_s = self._params(mel)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device)
        return mu + sigma * torch.exp(log_s) * noise


TOYS = {
    "toygan": (ToyGAN, _toy_defaults("toygan", 2e-3, betas=(0.5, 0.9))),
    "toyflow": (ToyFlow, _toy_defaults("toyflow", 3e-3, name="adamw", lr_decay_per_epoch=0.99, grad_clip_norm=5.0)),
}


@contextlib.contextmanager
def toy_registry():
    """Register the toys for the duration of a test (idempotent, removed afterwards)."""
    added = []
    for name, (cls, cfg) in TOYS.items():
        if name not in registry._REGISTRY:
            registry.register(registry.ModelEntry(name=name, display_name=name, family=cls.family,
                                                  model_class=cls, config_class=ToyConfig, presets={"small": cfg}))
            added.append(name)
    try:
        yield
    finally:
        for name in added:
            registry._REGISTRY.pop(name, None)


def toy_config(name: str, **overrides) -> ToyConfig:
    cfg = TOYS[name][1]
    return cfg.replace(**overrides) if overrides else cfg


def build_toy(name: str, seed: int = 0, **overrides) -> Vocoder:
    from greenaudio.training import seed_everything

    seed_everything(seed)
    return TOYS[name][0](toy_config(name, **overrides))


class ToyData(torch.utils.data.Dataset):
    """``n`` items ``(audio (FRAMES*HOP,), mel (N_MELS, FRAMES))``; audio is a fixed linear map of the mel."""

    def __init__(self, n: int, seed: int = 0):
        g = torch.Generator().manual_seed(1234 + seed)
        w = torch.randn(HOP, N_MELS, generator=torch.Generator().manual_seed(99)) * 0.3
        self.mels = torch.randn(n, N_MELS, FRAMES, generator=g)
        self.audio = torch.tanh(torch.einsum("hm,nmf->nfh", w, self.mels)).reshape(n, FRAMES * HOP)

    def __len__(self):
        return len(self.mels)

    def __getitem__(self, i):
        return self.audio[i], self.mels[i]


# -- the toys' own sanity checks -------------------------------------------------------------------------------------
def test_toys_follow_the_vocoder_interface():
    with toy_registry():
        for name in TOYS:
            model = registry.build(toy_config(name).to_dict())
            out = model.generate(ToyData(2)[0][1]).audio
            assert out.shape == (1, FRAMES * HOP)
    assert "toygan" not in registry._REGISTRY and "toyflow" not in registry._REGISTRY
