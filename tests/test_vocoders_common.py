"""The zoo's uniform interface, checked on all 18 thesis configurations at once (family tests go deeper)."""

import math

import pytest
import torch

from greenaudio import vocoders

torch.set_num_threads(1)

# Exact counts obtained by instantiating the public reference generators on CPU (+g: weight-norm gains counted; -g: not counted).
FACT_COUNTS = {
    ("melgan", "small"): ("+g", 1_030_786), ("melgan", "medium"): ("+g", 4_266_050),
    ("melgan", "large"): ("+g", 18_214_658),
    ("hifigan", "small"): ("-g", 925_985), ("hifigan", "medium"): ("-g", 1_462_273),
    ("hifigan", "large"): ("-g", 13_926_017),
    ("waveglow", "small"): ("-g", 17_558_888), ("waveglow", "medium"): ("-g", 34_756_712),
    ("waveglow", "large"): ("-g", 87_731_816),
    ("waveflow", "small"): ("+g", 5_950_164), ("waveflow", "medium"): ("+g", 12_857_300),
    ("waveflow", "large"): ("+g", 22_385_876),
    ("diffwave", "small"): ("+g", 1_227_651), ("diffwave", "medium"): ("+g", 2_619_971),
    ("diffwave", "large"): ("+g", 6_885_315),
    # WaveGrad: the thesis code's three sizes (4.18M / 10.62M / 17.12M), exact integers of its FiLM layout.
    ("wavegrad", "small"): ("+g", 4_176_513), ("wavegrad", "medium"): ("+g", 10_616_449),
    ("wavegrad", "large"): ("+g", 17_122_625),
}


def test_registry_lists_six_models_in_three_sizes():
    assert vocoders.names() == ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"]
    assert len(list(vocoders.iter_presets())) == 18
    for name in vocoders.names():
        assert vocoders.sizes(name)[:3] == ["small", "medium", "large"]


def test_parameter_counts_match_the_facts_for_all_18():
    table = vocoders.compute_parameter_table().set_index(["model", "size"])
    for key, (convention, expected) in FACT_COUNTS.items():
        column = "params_with_gains" if convention == "+g" else "params_without_gains"
        assert table.loc[key, column] == expected, key


@pytest.mark.parametrize("name", ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"])
def test_uniform_interface(name, size="small"):
    model = vocoders.load(name, size).prepare_for_inference()
    mel = torch.rand(2, 80, 3)
    with torch.inference_mode():
        a = model.generate(mel, generator=torch.Generator().manual_seed(1))
        b = model.generate(mel, generator=torch.Generator().manual_seed(1))
    assert a.audio.shape == (2, 3 * model.hop_length) and a.sample_rate == 16000
    assert torch.equal(a.audio, b.audio), "seeded generation must be deterministic"
    assert torch.isfinite(a.audio).all()
    assert a.procedure == model.resolve_procedure()  # defaults resolved and echoed
    assert math.isclose(a.duration_s, 3 * model.hop_length / 16000)
    assert all(p.device.type == "cpu" for p in model.parameters())
    # Config round trip rebuilds the same architecture.
    rebuilt = vocoders.build(model.config.to_dict())
    assert vocoders.count_parameters(rebuilt) == vocoders.count_parameters(vocoders.load(name, size))


@pytest.mark.parametrize("name", ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"])
def test_bad_mels_give_clear_errors(name):
    model = vocoders.load(name, "small")
    bad = {
        "has 81 bands": torch.rand(1, 81, 4),
        "shape": torch.rand(1, 1, 80, 4),
        "NaN": torch.full((1, 80, 4), float("nan")),
        "no frames": torch.rand(1, 80, 0),
        "floating-point": torch.ones(1, 80, 4, dtype=torch.long),
    }
    for message, mel in bad.items():
        with pytest.raises(ValueError, match=message):
            model.generate(mel)
    with pytest.raises(ValueError, match="must be a torch.Tensor"):
        model.generate([[0.0]])
    with pytest.raises(ValueError, match="unknown procedure argument"):
        model.generate(torch.rand(1, 80, 2), temperature=3)


def test_impossible_procedures():
    mel = torch.rand(1, 80, 2)
    with pytest.raises(ValueError, match="steps"):
        vocoders.load("diffwave", "small").generate(mel, steps=0)
    with pytest.raises(ValueError, match="sigma"):
        vocoders.load("waveglow", "small").generate(mel, sigma=-0.1)
    with pytest.raises(ValueError, match="reverse"):
        vocoders.load("waveflow", "small").generate(mel, reverse="sideways")


def test_unknown_model_and_size():
    with pytest.raises(ValueError, match=r"unknown model 'parallelwavegan'; valid models: \['melgan'"):
        vocoders.load("parallelwavegan", "small")
    with pytest.raises(ValueError, match=r"unknown size 'huge' for model 'hifigan'; valid sizes: \['small'"):
        vocoders.load("hifigan", "huge")
    with pytest.raises(ValueError, match="unknown config field"):
        vocoders.config_for("melgan", "small", channels=3)


def test_convention_match_reports_the_thesis_conventions():
    from greenaudio import published

    table8 = published.load_vocoder_costs()
    decimals = table8["printed_params"].str.rstrip("M").str.split(".").str[1].str.len()
    match = vocoders.compute_convention_match(vocoders.compute_parameter_table(), table8["params_millions"], decimals)
    conv = match.set_index(["model", "size"])["convention"]
    assert conv[("waveglow", "large")] == "-g" and conv[("waveflow", "large")] == "+g"
    assert conv[("hifigan", "small")] == "+g truncated"
    assert conv[("wavegrad", "medium")] == "neither" and conv[("wavegrad", "large")] == "neither"


# --- robustness probes (issue 8) -------------------------------------------------------------------------------
ALL = ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"]


@pytest.mark.parametrize("name", ALL)
def test_mel_dtypes_and_numpy_are_cast_to_the_model_dtype(name):
    """float64 (numpy's and librosa's default), float16 and bfloat16 mels, torch or numpy, all reach the model as
    float32; a float64 mel gives the float32 mel's output (rounding below 6e-8 relative)."""
    import numpy as np

    model = vocoders.load(name, "small").prepare_for_inference()
    ref = torch.rand(1, 80, 2)
    seed = 3

    def run(mel):
        return model.generate(mel, generator=torch.Generator().manual_seed(seed)).audio

    expected = run(ref)
    assert expected.dtype == torch.float32
    as_float64 = ref.double()
    for mel in (as_float64, as_float64.numpy()[0]):
        out = run(mel)
        assert out.dtype == torch.float32 and out.shape == expected.shape
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    for low in (torch.float16, torch.bfloat16):
        out = run(ref.to(low))
        assert out.dtype == torch.float32 and out.shape == expected.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="floating-point array"):
        model.generate(np.ones((1, 80, 2), dtype=np.int16))
    with pytest.raises(ValueError, match="floating-point tensor"):
        model.generate(torch.ones(1, 80, 3, dtype=torch.bool))


@pytest.mark.parametrize("name", ALL)
def test_empty_batch_gives_empty_output(name):
    model = vocoders.load(name, "small").prepare_for_inference()
    out = model.generate(torch.rand(0, 80, 5))
    assert out.audio.shape == (0, 5 * model.hop_length)
    assert out.procedure == model.resolve_procedure()
    with pytest.raises(ValueError, match="unknown procedure argument"):
        model.generate(torch.rand(0, 80, 5), temperature=1)


@pytest.mark.parametrize("name", ALL)
def test_generate_never_builds_a_graph(name):
    """Even in training mode with grad enabled (GANs' weights require grad), generate() is inference."""
    model = vocoders.load(name, "small")
    assert torch.is_grad_enabled()
    audio = model.generate(torch.rand(1, 80, 2)).audio
    assert audio.requires_grad is False and audio.grad_fn is None


def test_gan_forward_still_differentiable():
    model = vocoders.load("melgan", "small")
    audio = model(torch.rand(1, 80, 2))
    assert audio.requires_grad


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"n_mels": 0}, r"n_mels must be an integer >= 1, got 0"),
        ({"n_mels": "80"}, r"n_mels must be an integer >= 1, got '80'"),
        ({"n_mels": 80.0}, r"n_mels must be an integer >= 1"),
        ({"hop_length": True}, r"hop_length must be an integer >= 1"),
        ({"sample_rate": -16000}, r"sample_rate must be an integer >= 1"),
    ],
)
def test_config_for_rejects_bad_common_fields(overrides, message):
    with pytest.raises(ValueError, match=message):
        vocoders.config_for("hifigan", "small", **overrides)


def test_config_for_accepts_numpy_ints_and_any_case():
    import numpy as np

    cfg = vocoders.config_for("HiFiGAN", "Small", n_mels=np.int64(64))
    assert cfg.model == "hifigan" and cfg.n_mels == 64 and type(cfg.n_mels) is int
    assert vocoders.build(cfg).n_mels == 64


@pytest.mark.parametrize("config", [None, 3, "hifigan"])
def test_build_rejects_non_configs(config):
    with pytest.raises(ValueError, match=r"config must be a VocoderConfig .*valid models: \['melgan'"):
        vocoders.build(config)


def test_build_rejects_a_config_edited_to_zero_bands():
    cfg = vocoders.config_for("melgan", "small").replace(n_mels=0)
    with pytest.raises(ValueError, match="n_mels must be an integer >= 1, got 0"):
        vocoders.build(cfg)


def test_preparing_a_deep_copy_leaves_the_original_usable():
    # torch's parametrize keeps the weight property on a class shared by deep copies: removing weight norm on the
    # copy must not strip the original's weight (it did: "'ParametrizedConv1d' object has no attribute 'weight'")
    import copy

    import torch

    from greenaudio import vocoders

    torch.manual_seed(0)
    original = vocoders.load("melgan", "small")
    mel = torch.rand(1, 80, 3)
    before = original.generate(mel).audio
    prepared = copy.deepcopy(original).prepare_for_inference()
    assert torch.allclose(prepared.generate(mel).audio, before, atol=1e-5)
    assert torch.equal(original.generate(mel).audio, before)
    assert vocoders.base.count_parameters(original) > vocoders.base.count_parameters(prepared)  # gains still there


def test_procedure_demonstration_output_lengths_and_bad_frames():
    demo = vocoders.demonstrate_procedures(4, procedures={"melgan": [{}], "waveglow": [{"sigma": 0.6}]})
    assert demo.model.tolist() == ["melgan", "waveglow"]
    assert demo.audio_samples.tolist() == [4 * 256, 4 * 256]  # hop 256 (thesis §5.1.2)
    assert '"sigma": 0.6' in demo.procedure.iloc[1]
    with pytest.raises(ValueError, match="frames"):
        vocoders.demonstrate_procedures(0)


def test_the_vocoders_import_only_the_ground_floor():
    # every import of every module of the package, inside functions too: the models own their graphs and ONNX runner,
    # and int8 (calibration, QDQ) is registered from greenaudio.quantization above them, never imported from here
    import ast
    from pathlib import Path

    allowed = {"greenaudio.validation", "greenaudio.host", "greenaudio._resources", "greenaudio.published"}
    package = Path(vocoders.__file__).parent
    seen = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = "greenaudio.vocoders" if node.level == 1 else "greenaudio"
                targets = [f"{base}.{node.module}" if node.module else f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            seen.update((t, path.name) for t in targets if t.startswith("greenaudio")
                        and not t.startswith("greenaudio.vocoders"))
    assert {t for t, _ in seen} <= allowed, sorted(seen)


def test_describe_splits_lists_every_family_with_its_graphs():
    """The Chapter 6 table of exported graphs: one row per family, in the registry's order; GANs are one graph."""
    rows = vocoders.describe_splits()
    assert [r["model"] for r in rows] == list(vocoders.names())
    by_model = {r["model"]: r for r in rows}
    assert by_model["melgan"]["graphs"] == by_model["hifigan"]["graphs"] == "generator"
    assert all(r["graphs"] and r["procedure"] for r in rows)
