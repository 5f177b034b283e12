"""The zoo's uniform interface, checked on all 18 thesis configurations at once (family tests go deeper)."""

import math

import pytest
import torch

from greenaudio import vocoders

torch.set_num_threads(1)

# Exact counts from ../shared/facts/vocoders.md (+g: weight-norm gains counted; -g: not counted).
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
