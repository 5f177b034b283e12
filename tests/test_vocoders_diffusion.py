"""DiffWave and WaveGrad (thesis Table 8 rows, §5.1.1): parameter counts, samplers, training step, procedures."""

from __future__ import annotations

import pytest
import torch

from greenaudio import vocoders
from greenaudio.vocoders.base import count_parameters
from greenaudio.vocoders.diffusion_common import (
    NoiseSchedule,
    RowNoise,
    align_steps,
    ancestral_sample,
    linear_schedule,
)
from greenaudio.vocoders.diffwave import FAST_BETAS
from greenaudio.vocoders.wavegrad import INFERENCE_SCHEDULES

torch.set_num_threads(1)

EXPECTED_PARAMS = {
    ("diffwave", "small"): 1_227_651,
    ("diffwave", "medium"): 2_619_971,
    ("diffwave", "large"): 6_885_315,
    ("diffwave", "base"): 2_619_971,
    ("diffwave", "paper_large"): 6_885_315,
    ("wavegrad", "small"): 4_176_513,  # the thesis's code (film_layout "thesis_code"): 4.18M
    ("wavegrad", "medium"): 10_616_449,  # 10.62M
    ("wavegrad", "large"): 17_122_625,  # 17.12M
    ("wavegrad", "base"): 15_810_401,  # the paper's WaveGrad Base with 80 mels (film_layout "paper")
}
MODELS = ("diffwave", "wavegrad")


@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    return {name: vocoders.load(name, "small") for name in MODELS}


def _mel(frames: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 80, frames, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("name", "size"), sorted(EXPECTED_PARAMS))
def test_parameter_counts(name, size):
    model = vocoders.load(name, size)
    assert model.family == "diffusion"
    assert count_parameters(model) == EXPECTED_PARAMS[(name, size)]
    assert count_parameters(model, weight_norm_gains=False) == EXPECTED_PARAMS[(name, size)]  # no weight norm


def test_registry_and_configs():
    assert vocoders.sizes("diffwave") == ["small", "medium", "large", "base", "paper_large"]
    assert vocoders.sizes("wavegrad") == ["small", "medium", "large", "base"]
    dw, wg = vocoders.config_for("diffwave", "medium"), vocoders.config_for("wavegrad", "medium")
    assert (dw.optimizer.name, dw.optimizer.lr) == ("adam", 2e-4)
    assert (wg.optimizer.name, wg.optimizer.lr, wg.optimizer.lr_decay_per_epoch) == ("adam", 1e-3, 0.9)
    assert (dw.sample_rate, dw.n_mels, dw.hop_length) == (16_000, 80, 256)
    assert wg.upsample_factors == (4, 4, 4, 2, 2)
    for cfg in (dw, wg):
        assert type(cfg).from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="hop_length"):
        vocoders.config_for("wavegrad", "small", upsample_factors=(4, 4, 4, 4, 2))
    # The thesis's code: ratios (4, 4, 4, 4, 2) for hop 512; resampling has no parameters, so the count is the same.
    thesis_code = vocoders.config_for("wavegrad", "small", hop_length=512, upsample_factors=(4, 4, 4, 4, 2))
    assert count_parameters(vocoders.build(thesis_code)) == EXPECTED_PARAMS[("wavegrad", "small")]


def test_wavegrad_film_layouts():
    # The thesis's code widens each FiLM to the UBlock's width in its input conv; the paper keeps the down-path width.
    large, base = vocoders.config_for("wavegrad", "large"), vocoders.config_for("wavegrad", "base")
    assert (large.film_layout, base.film_layout) == ("thesis_code", "paper")
    assert large.replace(size="custom", film_layout="paper") == base.replace(size="custom")
    gaps = {"small": 322_784, "medium": 716_128, "large": 1_312_224}  # sum of 6o^2 - 3io - 3i^2 + o - i over FiLMs
    for size, gap in gaps.items():
        paper = vocoders.build(vocoders.config_for("wavegrad", size, film_layout="paper"))
        assert count_parameters(paper) == EXPECTED_PARAMS[("wavegrad", size)] - gap
    model = vocoders.build(large)
    film = model.films[0]  # 32 down-path channels -> 128 UBlock channels
    assert (film.input_conv.in_channels, film.input_conv.out_channels, film.scale_conv.in_channels) == (32, 128, 128)
    assert [e.shape[1] for e in model.encodings(torch.tensor([0.5]))] == [128, 128, 256, 512, 512]
    thesis_hop = vocoders.config_for("wavegrad", "large", hop_length=512, upsample_factors=(4, 4, 4, 4, 2))
    assert count_parameters(vocoders.build(thesis_hop)) == EXPECTED_PARAMS[("wavegrad", "large")]
    with pytest.raises(ValueError, match="film_layout"):
        vocoders.config_for("wavegrad", "small", film_layout="lmnt")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("frames", [1, 3, 64])
def test_output_length(small_models, name, frames):
    model = small_models[name]
    out = model.generate(_mel(frames), generator=torch.Generator().manual_seed(0))
    assert out.audio.shape == (1, frames * 256)
    assert torch.isfinite(out.audio).all()
    expected_clamp = {"diffwave": "waveform", "wavegrad": "predicted_clean"}[name]
    assert out.procedure == {"steps": 6, "schedule": "fast", "clamp": expected_clamp}
    assert out.sample_rate == 16_000


@pytest.mark.parametrize("name", MODELS)
def test_seeded_generation_is_deterministic_and_noisy(small_models, name):
    model = small_models[name]
    mel = _mel(2, batch=2)
    a = model.generate(mel, generator=torch.Generator().manual_seed(1)).audio
    b = model.generate(mel, generator=torch.Generator().manual_seed(1)).audio
    c = model.generate(mel, generator=torch.Generator().manual_seed(2)).audio
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a[0], a[1])  # every batch item gets its own noise


def test_sampler_injects_noise_at_every_step_but_the_last():
    schedule = NoiseSchedule.from_betas([0.1, 0.2, 0.3])
    calls = []

    def zero_noise(x, n):
        calls.append((n, x.clone()))
        return torch.zeros_like(x)

    like = torch.zeros(1)
    out = ancestral_sample(zero_noise, schedule, (1, 4096), like, torch.Generator().manual_seed(0))
    assert [n for n, _ in calls] == [2, 1, 0]
    # With eps_theta = 0 the mean update is a pure scaling: between calls, anything else is injected noise.
    alphas = schedule.alphas.tolist()
    for (n, x), (_, x_next) in zip(calls, calls[1:]):
        residual = x_next - x / alphas[n] ** 0.5
        assert residual.std().item() == pytest.approx(float(schedule.sigmas[n]), rel=0.1)
    last = out - calls[-1][1] / alphas[0] ** 0.5
    assert torch.allclose(last, torch.zeros_like(last), atol=1e-6)  # no noise after the last step
    assert float(schedule.sigmas[0]) == 0.0


def test_waveform_clamp_bounds_every_step_and_none_does_not():
    schedule = NoiseSchedule.from_betas([0.1, 0.2, 0.3])
    big = lambda x, n: -10.0 * torch.ones_like(x)  # noqa: E731  pushes x far above 1 at every step
    seen = []

    def spy(x, n):
        seen.append(float(x.abs().max()))
        return big(x, n)

    like = torch.zeros(1)
    out = ancestral_sample(spy, schedule, (2, 512), like, torch.Generator().manual_seed(0), clamp="waveform")
    assert float(out.abs().max()) <= 1.0
    assert all(v <= 1.0 for v in seen[1:])  # every input after the first step was clamped
    free = ancestral_sample(big, schedule, (2, 512), like, torch.Generator().manual_seed(0), clamp="none")
    assert float(free.abs().max()) > 5.0


def test_predicted_clean_clamp_is_the_plain_update_when_nothing_is_clipped():
    # Ho et al. Eq. 7: the posterior mean from x0 = (x - sqrt(1-ab) eps)/sqrt(ab) equals (x - beta/sqrt(1-ab) eps)
    # / sqrt(alpha): with a predictor that keeps x0 inside [-1, 1] both samplers agree to rounding.
    like = torch.zeros(1, dtype=torch.float64)
    small = lambda x, n: 0.0 * x  # noqa: E731
    x = ancestral_sample(small, NoiseSchedule.from_betas([0.5]), (1, 8), like, torch.Generator().manual_seed(0),
                         clamp="predicted_clean")
    x_plain = ancestral_sample(small, NoiseSchedule.from_betas([0.5]), (1, 8), like,
                               torch.Generator().manual_seed(0), clamp="none")
    # one step, eps = 0: x0 = x_N / sqrt(0.5); clipped where |x_N| > sqrt(0.5), else identical to the plain update
    start = RowNoise(like, torch.Generator().manual_seed(0), 1).draw((1, 8))
    inside = start.abs() <= 0.5**0.5
    assert torch.allclose(x[inside], x_plain[inside])
    assert torch.allclose(x[~inside], start[~inside].sign())  # clipped x0 = sign, posterior mean = x0 at n = 1
    assert bool(inside.any()) and bool((~inside).any())


@pytest.mark.parametrize("name", MODELS)
def test_seeded_item_does_not_depend_on_its_batch(small_models, name):
    model = small_models[name]
    mel = _mel(2, batch=3)
    other = mel.clone()
    other[1:] = torch.randn_like(other[1:])  # change every other item of the batch
    full = model.generate(mel, generator=torch.Generator().manual_seed(5)).audio
    changed = model.generate(other, generator=torch.Generator().manual_seed(5)).audio
    alone = model.generate(mel[:1], generator=torch.Generator().manual_seed(5)).audio
    # same noise: equal up to the rounding of batched vs single convolutions
    assert torch.allclose(full[0], changed[0], atol=1e-5) and torch.allclose(full[0], alone[0], atol=1e-5)
    assert not torch.equal(full[0], full[1])  # rows have their own noise streams


def test_fast_schedule_maps_to_fractional_training_steps():
    train = linear_schedule(1e-4, 0.05, 50)
    steps = align_steps(train, NoiseSchedule.from_betas(FAST_BETAS))
    assert steps.shape == (6,)
    assert steps[0] == pytest.approx(0.0)  # eta_1 = beta_1: the first training step exactly
    assert bool((steps[1:] > steps[:-1]).all()) and 0.0 <= float(steps.min()) and float(steps.max()) <= 49.0
    assert any(abs(s - round(s)) > 1e-3 for s in steps.tolist())
    # Each aligned step reproduces the inference schedule's sqrt(alpha-bar) by linear interpolation.
    root = train.alpha_bars.sqrt()
    fast_root = NoiseSchedule.from_betas(FAST_BETAS).alpha_bars.sqrt()
    for s, target in zip(steps.tolist()[1:], fast_root.tolist()[1:]):
        t = int(s)
        assert float(root[t] + (s - t) * (root[t + 1] - root[t])) == pytest.approx(target, abs=1e-9)


def test_schedules_and_procedures(small_models):
    dw, wg = small_models["diffwave"], small_models["wavegrad"]
    assert dw.resolve_procedure(schedule="full") == {"schedule": "full", "steps": 50, "clamp": "waveform"}
    assert dw.resolve_procedure(steps=6, clamp="none") == {"schedule": "fast", "steps": 6, "clamp": "none"}
    assert wg.resolve_procedure(steps=50) == {"steps": 50, "schedule": "full", "clamp": "predicted_clean"}
    assert INFERENCE_SCHEDULES["fast"] == (1e-6, 1.8929e-5, 1e-4, 1e-3, 1.11e-2, 6e-2)
    assert len(INFERENCE_SCHEDULES["full"]) == 50
    bad = [{"steps": 0}, {"steps": 7}, {"steps": "6"}, {"schedule": "turbo"}, {"steps": 6, "schedule": "full"},
           {"sigma": 1.0}, {"clamp": "soft"}, {"clamp": None}]
    for model in (dw, wg):
        for procedure in bad:
            with pytest.raises(ValueError):
                model.generate(_mel(1), **procedure)
    with pytest.raises(ValueError, match="'fast'"):
        wg.generate(_mel(1), steps=0)


@pytest.mark.parametrize("name", MODELS)
def test_prepare_for_inference_keeps_output(name):
    torch.manual_seed(3)
    model = vocoders.load(name, "small")
    for p in model.parameters():  # break the zero init of the last layer so outputs depend on every weight
        p.data.add_(0.01 * torch.randn_like(p))
    mel = _mel(2)
    schedules = ("fast", "full")
    before = {s: model.generate(mel, generator=torch.Generator().manual_seed(5), schedule=s).audio for s in schedules}
    assert model.prepare_for_inference() is model and not model.training
    for s in schedules:
        after = model.generate(mel, generator=torch.Generator().manual_seed(5), schedule=s).audio
        assert (after - before[s]).abs().max().item() < 1e-5
    with pytest.raises(vocoders.base.PreparedModelError):  # a prepared model is inference-only (issue #10)
        model.train()
    assert not model.training


@pytest.mark.parametrize("name", MODELS)
def test_one_adam_step_on_training_loss(name):
    torch.manual_seed(0)
    model = vocoders.load(name, "small").train()
    opt = torch.optim.Adam(model.parameters(), lr=model.config.optimizer.lr)
    mel, audio = _mel(4, batch=2), 0.1 * torch.randn(2, 4 * 256)
    losses = model.training_loss(audio, mel)
    assert set(losses) >= {"loss", "mean_noise_level"}
    assert losses["loss"].dim() == 0 and torch.isfinite(losses["loss"])
    assert 0.0 < float(losses["mean_noise_level"]) <= 1.0
    opt.zero_grad()
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    opt.step()
    assert torch.isfinite(model.training_loss(audio, mel)["loss"])
    with pytest.raises(ValueError, match="audio must have shape"):
        model.training_loss(audio[:, :-1], mel)
