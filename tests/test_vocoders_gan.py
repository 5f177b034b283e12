"""GAN vocoders (MelGAN, HiFi-GAN) of thesis §5.1.1: exact parameter counts (thesis Table 8, vocoders.md), interface,
inference preparation and one trainable step of generator and discriminator."""

import pytest
import torch

from greenaudio import vocoders
from greenaudio.vocoders import count_parameters
from greenaudio.vocoders.hifigan import HiFiGAN, HiFiGANConfig
from greenaudio.vocoders.melgan import MelGAN, MelGANConfig

torch.set_num_threads(1)

# (model, size): (+g, -g); -g None where the literature gives no figure
PARAMS = {
    ("melgan", "small"): (1_030_786, None),
    ("melgan", "medium"): (4_266_050, None),
    ("melgan", "large"): (18_214_658, None),
    ("hifigan", "small"): (928_514, 925_985),
    ("hifigan", "medium"): (1_464_322, 1_462_273),
    ("hifigan", "large"): (13_936_130, 13_926_017),
}
GANS = ["melgan", "hifigan"]


def _mel(frames: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 80, frames, generator=torch.Generator().manual_seed(seed))


def _optimizer(params, cfg: vocoders.OptimizerConfig) -> torch.optim.Optimizer:
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.name]
    return cls(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


@pytest.mark.parametrize(("name", "size"), list(PARAMS))
def test_parameter_counts_match_table_8(name, size):
    plus_g, minus_g = PARAMS[name, size]
    model = vocoders.load(name, size)
    assert model.family == "gan"
    assert count_parameters(model, weight_norm_gains=True) == plus_g
    if minus_g is not None:
        assert count_parameters(model, weight_norm_gains=False) == minus_g


def test_hifigan_paper_variants_equal_thesis_sizes():
    for variant, size in (("v1", "large"), ("v2", "small"), ("v3", "medium")):
        a, b = vocoders.config_for("hifigan", variant), vocoders.config_for("hifigan", size)
        assert a.replace(size=size) == b
    assert vocoders.sizes("hifigan") == ["small", "medium", "large", "v1", "v2", "v3"]


def test_recipes():
    m, h = vocoders.config_for("melgan", "medium"), vocoders.config_for("hifigan", "medium")
    assert (m.optimizer.name, m.optimizer.lr, m.optimizer.betas) == ("adam", 1e-4, (0.5, 0.9))
    assert (h.optimizer.name, h.optimizer.lr, h.optimizer.betas, h.optimizer.lr_decay_per_epoch) == (
        "adamw", 2e-4, (0.8, 0.99), 0.999)
    assert (m.sample_rate, m.n_mels, m.hop_length) == (h.sample_rate, h.n_mels, h.hop_length) == (16_000, 80, 256)
    assert (m.lambda_feat, h.lambda_fm, h.lambda_mel) == (10.0, 2.0, 45.0)


@pytest.mark.parametrize("name", GANS)
def test_output_length_and_determinism(name):
    model = vocoders.load(name, "small").eval()
    with torch.inference_mode():
        for frames in (1, 7, 64):
            gen = model.generate(_mel(frames))
            assert gen.audio.shape == (2, frames * 256) and gen.procedure == {}
            assert gen.audio.abs().max() <= 1.0
        single = model.generate(_mel(7)[0]).audio  # (n_mels, frames) accepted
        assert single.shape == (1, 7 * 256)
        assert torch.equal(model.generate(_mel(7)).audio, model.generate(_mel(7)).audio)
    assert model(_mel(3)).shape == (2, 3 * 256)


@pytest.mark.parametrize("name", GANS)
def test_prepare_for_inference_keeps_output(name):
    model = vocoders.load(name, "small").eval()
    mel = _mel(8)
    with torch.inference_mode():
        before = model.generate(mel).audio
    n_gains = count_parameters(model) - count_parameters(model, weight_norm_gains=False)
    model.prepare_for_inference()
    assert not model.training
    assert not any("parametrizations" in n for n, _ in model.named_parameters())
    assert count_parameters(model) == count_parameters(model, weight_norm_gains=False)
    assert n_gains > 0
    with torch.inference_mode():
        after = model.generate(mel).audio
    assert (before - after).abs().max() < 1e-5


@pytest.mark.parametrize("name", GANS)
def test_bad_input_and_procedure(name):
    model = vocoders.load(name, "small")
    with pytest.raises(ValueError, match="unknown procedure"):
        model.generate(_mel(4), steps=6)
    with pytest.raises(ValueError, match="bands"):
        model.generate(torch.rand(1, 64, 4))
    with pytest.raises(ValueError, match="shape"):
        model(torch.rand(80))
    nan = _mel(4)
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(nan)
    with pytest.raises(ValueError, match="valid sizes"):
        vocoders.load(name, "huge")


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="hop_length"):
        MelGAN(MelGANConfig(upsample_ratios=(8, 8, 2)))
    with pytest.raises(ValueError, match="hop_length"):
        HiFiGAN(HiFiGANConfig(upsample_rates=(8, 8, 2), upsample_kernel_sizes=(16, 16, 4)))


def test_discriminator_parameter_counts():
    melgan_d = vocoders.load("melgan", "small").build_discriminator()
    assert count_parameters(melgan_d) == 16_924_086
    hifigan_d = vocoders.load("hifigan", "small").build_discriminator()
    assert round(count_parameters(hifigan_d.mpd) / 1e6, 1) == 41.1  # HiFi-GAN paper / reference
    assert round(count_parameters(hifigan_d.msd) / 1e6, 1) == 29.6


@pytest.mark.parametrize(("name", "frames", "terms"), [
    ("melgan", 32, {"adversarial", "feature_matching"}),
    ("hifigan", 8, {"adversarial", "feature_matching", "mel"}),
])
def test_one_training_step(name, frames, terms):
    torch.manual_seed(0)
    model = vocoders.load(name, "small").train()
    disc = model.build_discriminator()
    n_g = count_parameters(model)
    opt_g, opt_d = _optimizer(model.parameters(), model.config.optimizer), _optimizer(
        disc.parameters(), model.config.optimizer)
    mel, real = _mel(frames), 0.5 * torch.sin(torch.linspace(0, 800, frames * 256)).repeat(2, 1)

    fake = model(mel)
    logits, features = disc(real)
    assert len(logits) == len(features) == (3 if name == "melgan" else 8)

    d_losses = model.discriminator_loss(real, fake.detach(), disc)
    assert set(d_losses) >= {"loss"} and torch.isfinite(d_losses["loss"])
    opt_d.zero_grad()
    d_losses["loss"].backward()
    opt_d.step()

    g_losses = model.generator_loss(real, fake, mel, disc)
    assert set(g_losses) == {"loss"} | terms
    assert all(torch.isfinite(v) for v in g_losses.values())
    opt_g.zero_grad()
    g_losses["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    before = next(model.parameters()).detach().clone()
    opt_g.step()
    assert not torch.equal(before, next(model.parameters()))
    assert count_parameters(model) == n_g  # the loss's mel front-end adds no parameters
    with pytest.raises(ValueError, match="differ"):
        model.discriminator_loss(real, fake.detach()[:, :-256], disc)
