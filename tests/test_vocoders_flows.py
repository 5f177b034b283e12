"""Flow vocoders (WaveGlow, WaveFlow): exact parameter counts of every preset, shapes, seeding, invertibility,
fast == plain WaveFlow reverse, inference preparation, one training step, procedure validation."""

import copy
import math

import pytest
import torch

from greenaudio import vocoders
from greenaudio.vocoders import count_parameters, registry

torch.set_num_threads(1)

# (+g, -g): with and without the weight-norm gains. The thesis quotes WaveGlow -g and WaveFlow +g.
COUNTS = {
    ("waveglow", "small"): (17_595_752, 17_558_888),
    ("waveglow", "medium"): (34_830_440, 34_756_712),
    ("waveglow", "large"): (87_879_272, 87_731_816),
    ("waveflow", "small"): (5_950_164, 5_925_074),
    ("waveflow", "medium"): (12_857_300, 12_819_666),
    ("waveflow", "large"): (22_385_876, 22_335_698),
    ("waveflow", "wf1"): (5_950_164, 5_925_074),
    ("waveflow", "wf2"): (5_950_164, 5_925_074),
    ("waveflow", "wf3"): (12_857_300, 12_819_666),
    ("waveflow", "wf4"): (22_385_876, 22_335_698),
    ("waveflow", "wf5"): (86_714_580, 86_614_226),
}
FLOWS = ("waveglow", "waveflow")


def perturbed(name, seed=0, scale=0.02, **overrides):
    """A small model whose zero-initialised output convs are perturbed, so that every flow is non-trivial."""
    torch.manual_seed(seed)
    model = vocoders.load(name, "small", **overrides)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def models():
    return {name: perturbed(name) for name in FLOWS}


def mel_batch(frames, batch=2, seed=0):
    return torch.rand(batch, 80, frames, generator=torch.Generator().manual_seed(seed))


def rel(a, b):
    return float((a - b).detach().norm() / b.detach().norm())


@pytest.mark.parametrize("name,size", sorted(COUNTS))
def test_parameter_counts_exact(name, size):
    model = vocoders.load(name, size)
    assert (count_parameters(model), count_parameters(model, weight_norm_gains=False)) == COUNTS[(name, size)]
    assert model.family == "flow" and model.config.size == size


def test_registry_and_config_roundtrip():
    assert vocoders.sizes("waveflow") == ["small", "medium", "large", "wf1", "wf2", "wf3", "wf4", "wf5"]
    assert vocoders.sizes("waveglow") == ["small", "medium", "large"]
    for name in FLOWS:
        cfg = vocoders.config_for(name, "medium")
        assert type(cfg).from_dict(cfg.to_dict()) == cfg
    assert vocoders.config_for("waveglow", "small").optimizer.lr == 1e-4
    opt = vocoders.config_for("waveflow", "small").optimizer
    assert (opt.name, opt.lr, opt.grad_clip_norm) == ("adam", 2e-4, 5.0)
    with pytest.raises(ValueError):
        vocoders.config_for("waveflow", "small", n_height=7)  # must divide the hop


@pytest.mark.parametrize("name", FLOWS)
@pytest.mark.parametrize("frames", [1, 3, 64])
def test_output_length(models, name, frames):
    gen = models[name].generate(mel_batch(frames, batch=1))
    assert gen.audio.shape == (1, frames * 256) and torch.isfinite(gen.audio).all()


@pytest.mark.parametrize("name", FLOWS)
def test_seeded_generation_is_deterministic(models, name):
    mel = mel_batch(3)
    a, b, c = (models[name].generate(mel, generator=torch.Generator().manual_seed(s)).audio for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # sigma 0 gives the deterministic "mean" waveform
    assert torch.equal(models[name].generate(mel, sigma=0.0).audio, models[name].generate(mel, sigma=0.0).audio)


def test_default_procedures(models):
    mel = mel_batch(1, batch=1)
    assert models["waveglow"].generate(mel).procedure == {"sigma": 0.6}
    assert models["waveflow"].generate(mel).procedure == {"sigma": 1.0, "reverse": "fast"}


@pytest.mark.parametrize("name", FLOWS)
def test_invertibility(models, name):
    model, mel = models[name], mel_batch(3)
    audio = 0.3 * torch.randn(2, 3 * 256, generator=torch.Generator().manual_seed(1))
    z, log_det = model.flow_forward(audio, mel)
    assert log_det.abs().min() > 1e-3  # the perturbed flow is not the identity
    assert rel(model.flow_inverse(z, mel), audio) < 1e-4


@pytest.mark.parametrize("overrides", [{}, {"n_height": 16, "res_channels": 16, "dilation_h_cycle": 3}])
def test_waveflow_fast_equals_plain(overrides):
    model = perturbed("waveflow", **overrides)
    mel = mel_batch(2)
    audio = 0.3 * torch.randn(2, 2 * 256, generator=torch.Generator().manual_seed(2))
    z, _ = model.flow_forward(audio, mel)
    fast, plain = model.flow_inverse(z, mel, "fast"), model.flow_inverse(z, mel, "plain")
    assert rel(fast, plain) < 1e-4 and rel(fast, audio) < 1e-4
    seeded = [
        model.generate(mel, generator=torch.Generator().manual_seed(3), reverse=r).audio for r in ("fast", "plain")
    ]
    assert rel(*seeded) < 1e-4


@pytest.mark.parametrize("name", FLOWS)
def test_prepare_for_inference_keeps_output(models, name):
    model = copy.deepcopy(models[name])
    mel = mel_batch(3)
    before = model.generate(mel, generator=torch.Generator().manual_seed(5)).audio
    minus_g = count_parameters(model, weight_norm_gains=False)
    assert model.prepare_for_inference() is model and not model.training
    after = model.generate(mel, generator=torch.Generator().manual_seed(5)).audio
    assert (after - before).abs().max() < 1e-5
    assert count_parameters(model) == count_parameters(model, weight_norm_gains=False) == minus_g
    with pytest.raises(vocoders.base.PreparedModelError):  # a prepared model is inference-only (issue #10)
        model.train()
    assert not model.training


@pytest.mark.parametrize("name", FLOWS)
def test_one_adam_step(name):
    model = perturbed(name, seed=3)
    cfg = model.config.optimizer
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    mel, audio = mel_batch(2), 0.1 * torch.randn(2, 512, generator=torch.Generator().manual_seed(4))
    terms = model.training_loss(audio, mel)
    assert set(terms) == {"loss", "log_p", "log_det"}
    assert torch.allclose(terms["loss"], -(terms["log_p"] + terms["log_det"]))
    opt.zero_grad()
    terms["loss"].backward()
    if cfg.grad_clip_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
    opt.step()
    after = model.training_loss(audio, mel)["loss"]
    assert math.isfinite(terms["loss"].item()) and math.isfinite(after.item())
    with pytest.raises(ValueError):
        model.training_loss(audio[:, :-1], mel)


@pytest.mark.parametrize(
    "name,procedure",
    [
        ("waveglow", {"sigma": -0.1}),
        ("waveglow", {"sigma": float("nan")}),
        ("waveglow", {"reverse": "fast"}),
        ("waveflow", {"sigma": -1.0}),
        ("waveflow", {"sigma": float("nan")}),
        ("waveflow", {"sigma": "0.6"}),
        ("waveflow", {"reverse": "slow"}),
        ("waveflow", {"steps": 6}),
    ],
)
def test_bad_procedure_raises(models, name, procedure):
    with pytest.raises(ValueError):
        models[name].generate(mel_batch(1, batch=1), **procedure)


def test_registered_entries():
    for name in FLOWS:
        e = registry.entry(name)
        assert e.family == "flow" and e.model_class.family == "flow" and e.display_name


def test_procedure_choices_are_case_insensitive_and_canonical(models):
    mel = mel_batch(2, batch=1)
    model = models["waveflow"]
    upper = model.generate(mel, generator=torch.Generator().manual_seed(5), reverse="PLAIN")
    lower = model.generate(mel, generator=torch.Generator().manual_seed(5), reverse="plain")
    assert upper.procedure["reverse"] == "plain"  # the canonical spelling is recorded
    assert torch.equal(upper.audio, lower.audio)
    with pytest.raises(ValueError, match=r"reverse must be one of 'fast', 'plain'"):
        model.generate(mel, reverse="sideways")


@pytest.mark.parametrize("name", FLOWS)
def test_numpy_scalar_sigma_is_accepted(models, name):
    import numpy as np

    out = models[name].generate(mel_batch(1, batch=1), generator=torch.Generator().manual_seed(1), sigma=np.float32(0.5))
    assert out.procedure["sigma"] == 0.5 and type(out.procedure["sigma"]) is float
    with pytest.raises(ValueError, match=r"sigma must be a finite number >= 0, got True"):
        models[name].generate(mel_batch(1, batch=1), sigma=True)


@pytest.mark.parametrize("c_in,c_out,kernel,stride,frames,length", [
    (3, 2, 8, 4, 5, 20),  # kernel a multiple of the stride, trimmed to frames * stride (WaveGlow's use)
    (2, 3, 7, 3, 4, 15),  # kernel not a multiple of the stride: the untrimmed length (F - 1) * s + K
    (1, 1, 4, 4, 1, 3),   # one frame, trimmed inside the first stride
])
def test_transposed_conv_overlap_add_equals_a_brute_force_scatter(c_in, c_out, kernel, stride, frames, length):
    from greenaudio.vocoders._fast import transposed_conv_overlap_add

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, c_in, frames, generator=g, dtype=torch.float64)
    w = torch.randn(c_in, c_out, kernel, generator=g, dtype=torch.float64)
    bias = torch.randn(c_out, generator=g, dtype=torch.float64)
    expected = torch.zeros(2, c_out, (frames - 1) * stride + kernel, dtype=torch.float64)
    for b in range(2):  # the definition: frame f adds x[b, :, f] @ w at samples f * stride ...
        for f in range(frames):
            for i in range(c_in):
                expected[b, :, f * stride : f * stride + kernel] += x[b, i, f] * w[i]
    expected = expected[..., :length] + bias[:, None]
    torch.testing.assert_close(transposed_conv_overlap_add(x, w, bias, stride, length), expected)


def test_prepared_waveglow_upsampler_matches_the_conv_transpose():
    model = vocoders.load("waveglow", "small")
    mel = torch.rand(1, 80, 5)  # a shape whose first conv_transpose1d call is fast here (batch 2 costs seconds)
    with torch.no_grad():
        plain = model._conditioning(mel)
        prepared = model.prepare_for_inference()._conditioning(mel)
    torch.testing.assert_close(prepared, plain, rtol=1e-5, atol=1e-5)
