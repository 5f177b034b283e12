"""The errata (greenaudio.errata, resources/errata.csv): each verdict against values computed by hand from the thesis.

Every expected number below is worked out from the printed values (table or page named beside it), not with the code
under test.
"""

import pandas as pd
import pytest

from greenaudio import errata, published


# --- printed precision ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("printed, half", [
    ("11.3", 0.05),      # §4.2.1, p. 53: "11.3 days"
    ("272", 0.5),        # Table 3, p. 54: 272 h
    ("2416.44", 0.005),  # Table 3
    ("0.928M", 0.0005),  # Table 8, p. 69
    ("5MB", 0.5),        # Table 9, p. 76: "5MB."
    ("3.90", 0.005),     # Table 7, p. 67: the zero is printed
    ("0,437", 0.0005),   # Eq. 48, p. 53: decimal comma
    ("186 M", 0.5),      # Table 5, p. 56
])
def test_half_unit_of_the_last_printed_digit(printed, half):
    assert errata.compute_half_unit(printed) == pytest.approx(half)


@pytest.mark.parametrize("bad", [11.3, "", "about a week", None])
def test_half_unit_needs_a_printed_number(bad):
    with pytest.raises(ValueError, match="printed"):
        errata.compute_half_unit(bad)


def test_printed_value_reads_a_decimal_comma():
    assert errata.compute_printed_value("0,437") == 0.437
    assert errata.compute_printed_value("13.94M") == 13.94


@pytest.mark.parametrize("printed, other, other_range, within", [
    ("11.3", 272 / 24, None, True),   # 11.333 days: |11.333 - 11.3| = 0.033 <= 0.05
    ("6", 168 / 24, None, False),     # 7.0 days: |7 - 6| = 1 > 0.5
    ("4.5", 108 / 24, None, True),    # GANSynth: 4.5 days exactly
    ("35.66", 35.6592, None, True),   # Table 3: 0.437 x 81.6 = 35.6592
    ("0.59", 3.9 / 2.3, None, False),  # Table 5, WaveGAN: 1.696
    ("2416.5", "2416.44", None, False),  # |0.06| is not < 0.05 + 0.005
    ("4", "3", None, False),          # [3.5, 4.5) and [2.5, 3.5) do not meet: nothing rounds to both
    ("1.46", "1.46", None, True),
    ("16.8", 16.72, (16.70, 16.74 * 1.02), True),  # Table 9 WaveGrad SMALL: 4 x [4.175, 4.185] M + 2 %
    ("3.8", 5.84, (5.82, 5.86 * 1.02), False),     # Table 9 HiFi-GAN "MEDIUM": 4 x [1.455, 1.465] M
])
def test_agreement_at_the_printed_precision(printed, other, other_range, within):
    assert errata.compute_within_printed_precision(printed, other, other_range) is within


def test_verdicts():
    assert errata.compute_verdict(True, "same quantity") == "consistent"
    assert errata.compute_verdict(True, "plausibility") == "consistent"
    assert errata.compute_verdict(False, "same quantity") == "inconsistent"
    assert errata.compute_verdict(False, "plausibility") == "suspect"
    with pytest.raises(ValueError, match="kind"):
        errata.compute_verdict(False, "typo")


# --- the errata table -----------------------------------------------------------------------------------------------

# erratum: (verdict, the other value as shown), each worked out by hand from the thesis.
EXPECTED = {
    "jukebox-gpus": ("inconsistent", "256"),            # §4.2.1 p. 53: 246; Table 3 p. 54: 256
    "rave-hours": ("inconsistent", "7.00 days"),        # 168 h / 24 = 7.0 days vs "6" (± 0.5)
    "flowavenet-hours": ("consistent", "11.33 days"),   # 272 h / 24 = 11.333 vs "11.3" (± 0.05)
    "eq48-units": ("inconsistent", "2,416,435.2"),      # 0.437 x 256 x 300 W x 72 h = 2,416,435.2 vs 2416.44 kg
    "jukebox-text-kg": ("inconsistent", "2416.44"),     # 2416.5 (p. 54) vs Table 3's 2416.44: 0.06 > 0.055
    "jukebox-human-year": ("inconsistent", "0.48"),     # 2416.44 / 4999.9 = 0.4833; "on par" = 1 ± 0.5
    "table5-wavegan": ("inconsistent", "1.696"),        # 3.9 / 2.3 = 1.6957 vs 0.59
    "figure27-training": ("inconsistent", "SING"),      # RAVE 0.71 < FloWaveNet 0.85: only SING dominates
    "figure27-inference": ("inconsistent", "SING"),
    "waveflow-steps": ("inconsistent", "3M"),           # §4.3.2 p. 57 lists r = 96 under 3M and 2M
    "table8-unit": ("inconsistent", "J"),               # 49.08 mJ / 0.8 s = 61 mW ... 496.72 mJ / 1.9 s = 261 mW
    "table8-waveglow-medium": ("suspect", "261 W"),     # 496.72 J / (0.019 x 100 s) = 261.4 W > 230 W
    "section64-gflops": ("inconsistent", "40.57"),      # §6.4 p. 79: 40.47; Table 8: 40.57
    "table9-hifigan-medium": ("inconsistent", "5.84 MB"),   # 4 x 1.46 M = 5.84 MB vs 3.8 MB
    "table9-hifigan-small": ("inconsistent", "3.71 MB"),    # 4 x 0.928 M = 3.712 MB vs 5.9 MB
    "table9-wavegrad-medium": ("inconsistent", "68.48 MB"),  # 4 x 17.12 M vs 42.5 MB
    "table9-wavegrad-large": ("inconsistent", "135.64 MB"),  # 4 x 33.91 M vs 68.5 MB
    "diffwave-added": ("inconsistent", "small"),        # 1.23 M is within 1 % of neither 2.64 nor 6.91 M
    "quality-size-hifigan": ("inconsistent", "3.90 → 3.59"),   # Table 7, p. 67
    "quality-size-wavegrad": ("inconsistent", "3.66 → 3.59"),
    "int8-factor": ("inconsistent", "1.04"),            # 68.5 / 66.1 = 1.036 vs "approximately 4" (3.5-4.5)
    "speedup-range": ("inconsistent", "2-3"),           # §6.3.1 p. 75: 2-4; §6.4 p. 80: 2-3x
    "params-hifigan-v1": ("inconsistent", "13.94M"),    # §5.1.1 p. 62: 13.92; |0.02| > 0.005 + 0.005
    "params-hifigan-v2": ("inconsistent", "0.928M"),    # 0.92 vs 0.928: |0.008| > 0.005 + 0.0005
    "params-wavegrad-base": ("inconsistent", "17.12M"),  # 15 vs 17.12
    "params-diffwave-base": ("inconsistent", "2.62M"),  # §5.1.1 p. 63: 2.64
    "params-diffwave-large": ("inconsistent", "6.89M"),  # 6.91
    "params-waveflow-small": ("inconsistent", "5.95M"),  # 5.91
    "params-waveflow-medium": ("inconsistent", "12.86M"),  # 12.78
    "params-waveflow-large": ("inconsistent", "22.39M"),  # 22.25
}


def test_every_verdict_against_hand_values():
    table = errata.compute_errata_table().set_index("erratum")
    assert list(table.index) == list(EXPECTED)
    for erratum, (verdict, other) in EXPECTED.items():
        assert table.loc[erratum, "verdict"] == verdict, erratum
        assert table.loc[erratum, "other"] == other, erratum
        assert bool(table.loc[erratum, "within_printed_precision"]) is (verdict == "consistent"), erratum
    assert table.verdict.value_counts().to_dict() == {"inconsistent": 28, "suspect": 1, "consistent": 1}


def test_errata_words_are_data_with_their_source():
    words = errata.load_errata_list()
    assert words["erratum"].is_unique
    assert set(words["kind"]) <= set(errata.KINDS)
    for column in ("where", "printed", "compared_with", "likely_reading", "source"):
        assert words[column].notna().all() and words[column].str.len().gt(1).all(), column
    assert words["where"].str.contains(r"p\. \d+").all()
    assert words["source"].str.contains("Douwes 2023").all() and words["source"].str.contains(r"p\. \d+").all()
    assert words["likely_reading"].str.len().le(70).all()  # fits a table cell; the chapter's prose says the rest
    by = words.set_index("erratum")
    # the printed value as typed, where the thesis prints a number (pages of §4.2.1, §4.2.2.1, Tables 5, 8, 9, §6.4)
    printed = {"jukebox-gpus": "246", "rave-hours": "6", "flowavenet-hours": "11.3", "jukebox-text-kg": "2416.5",
               "table5-wavegan": "0.59", "table8-waveglow-medium": "496.72", "section64-gflops": "40.47",
               "table9-hifigan-medium": "3.8", "table9-hifigan-small": "5.9", "table9-wavegrad-medium": "42.5",
               "table9-wavegrad-large": "68.5", "params-hifigan-v1": "13.92", "params-hifigan-v2": "0.92",
               "params-wavegrad-base": "15", "params-diffwave-base": "2.64", "params-diffwave-large": "6.91",
               "params-waveflow-small": "5.91", "params-waveflow-medium": "12.78", "params-waveflow-large": "22.25"}
    for erratum, number in printed.items():
        assert by.loc[erratum, "printed"].startswith(number), erratum
    assert "0,437" in by.loc["eq48-units", "printed"]  # as printed, with its decimal comma
    assert "§4.2.2.1" in by.loc["jukebox-text-kg", "where"]  # not §4.2.2: the sentence follows Tables 3-4


def test_running_text_values_with_section_and_page():
    text = published.load_errata_text_values()
    page = {(c, i): (s, p) for c, i, s, p in zip(text.check, text["item"], text.section, text.page)}
    assert page[("jukebox-gpus", "Jukebox")] == ("§4.2.1", 53)
    assert page[("table3-hours", "FloWaveNet")] == ("§4.2.1", 53)
    assert page[("jukebox-text-kg", "Jukebox")] == ("§4.2.2.1", 54)
    assert page[("section5.1.1-params", "hifigan large")] == ("§5.1.1", 62)
    assert page[("section5.1.1-params", "diffwave medium")] == ("§5.1.1", 63)
    assert page[("section6.3.1-int8", "all models")] == ("§6.3.1", 75)
    assert page[("section6.4-speedup", "speed-up high")] == ("§6.4", 80)
    assert page[("section6.4-gflops", "hifigan large")] == ("§6.4", 79)
    values = {(c, i): v for c, i, v in zip(text.check, text["item"], text.value)}
    assert values[("jukebox-gpus", "Jukebox")] == 246 and values[("section5.1.1-params", "hifigan large")] == 13.92


# --- the numbers behind the rows -------------------------------------------------------------------------------------

def _by_item(check):
    table = errata.compute_errata()
    return table[table.check == check].set_index("item")


def test_training_days_and_jukebox_numbers():
    days = _by_item("table3-hours")
    assert days.loc["FloWaveNet training days", "computed"] == pytest.approx(11.3333, abs=1e-4)  # 272 / 24
    assert days.loc["RAVE training days", "computed"] == pytest.approx(7.0)  # 168 / 24
    assert days.consistent.to_dict() == {"RAVE training days": False, "FloWaveNet training days": True,
                                         "GANSynth training days": True, "WaveGAN training days": True}
    eq48 = _by_item("eq48-units")
    assert eq48.loc["Jukebox kgCO2e", "computed"] == pytest.approx(2_416_435.2)  # 0.437 x 256 x 300 x 72
    assert eq48.loc["SING kgCO2e", "computed"] == pytest.approx(22_724.0)  # 0.437 x 4 x 250 x 52
    assert not eq48.consistent.any()
    human = _by_item("jukebox-human-year").iloc[0]
    assert human.computed == pytest.approx(2416.44 / 4999.9) == pytest.approx(0.48330, abs=1e-5)


def test_wavegan_with_its_recomputed_pct_mos():
    # Tables 3 and 5: with %MOS 1.70, WaveGAN (10.49 kg, 89 M) beats all three on the training front, but RAVE
    # (17.8 M) and SING (64 M) have fewer parameters: only FloWaveNet (186 M, 0.85) is dominated on inference.
    table = errata.compute_figure27_dominance({"WaveGAN": 3.9 / 2.3}).set_index(["front", "model"])
    assert table.loc[("training", "WaveGAN"), "dominates"] == "FloWaveNet, RAVE, SING"
    assert table.loc[("inference", "WaveGAN"), "dominates"] == "FloWaveNet"
    printed = errata.compute_figure27_dominance().set_index(["front", "model"])
    assert printed.loc[("training", "FloWaveNet"), "dominated_by"] == "SING"
    assert printed.loc[("inference", "FloWaveNet"), "dominated_by"] == "SING"
    assert printed.loc[("inference", "WaveGAN"), "dominated_by"] == "RAVE, SING"  # this statement of §4.3.1 holds


def test_table8_implied_power():
    power = errata.compute_table8_implied_power().set_index(["model", "size"])
    # Table 8, p. 69: E_gen / (RTF x 100 s), E_gen read as joules
    assert power.loc[("waveglow", "small"), "power_w"] == pytest.approx(181.98 / 1.5)  # 121.32 W
    assert power.loc[("waveglow", "medium"), "power_w"] == pytest.approx(496.72 / 1.9)  # 261.43 W
    assert power.loc[("waveglow", "large"), "power_w"] == pytest.approx(283.07 / 2.8)  # 101.10 W
    assert power.loc[("waveglow", "medium"), "power_w_low"] == pytest.approx(496.715 / 1.95)  # 254.7 W > 230 W
    fit = errata.compute_energy_unit_fit().set_index("unit")
    assert fit.loc["mJ", "power_w_min"] == pytest.approx(49.08e-3 / 0.8)  # MelGAN small: 61 mW
    assert fit.loc["mJ", "power_w_max"] == pytest.approx(496.72e-3 / 1.9)  # WaveGlow medium: 261 mW
    assert fit.rows_in_band.to_dict() == {"mJ": 0, "J": 17, "kJ": 0}  # band 23-230 W (RTX A5000, 230 W)
    plausible = _by_item("table8-power").consistent
    assert plausible[~plausible].index.tolist() == ["waveglow medium: implied GPU power (W), E_gen in J"]


def test_table9_sizes_and_what_they_match():
    sizes = _by_item("table9-fp32-size")
    bad = sizes[~sizes.consistent]
    assert bad.index.tolist() == ["HiFi-GAN MEDIUM fp32 size (MB)", "HiFi-GAN SMALL fp32 size (MB)",
                                  "WaveGrad MEDIUM fp32 size (MB)", "WaveGrad* LARGE fp32 size (MB)"]
    assert bad.computed.tolist() == pytest.approx([4 * 1.46, 4 * 0.928, 4 * 17.12, 4 * 33.91])
    assert bad.note.str.endswith("matches: small").iloc[0] and bad.note.str.endswith("matches: medium").iloc[1]
    assert bad.note.iloc[2].endswith("matches: none")  # 42.5 MB = 4 x 10.6 M: no Table 8 WaveGrad count
    assert bad.note.iloc[3].endswith("matches: medium")  # 68.5 MB = 4 x 17.12 M
    assert sizes.loc["HiFi-GAN LARGE fp32 size (MB)", "consistent"]
    # at exactly 4 bytes per parameter, 55.8 MB is Table 8's 13.94 M (55.76), not §5.1.1's 13.92 M (55.68 -> 55.7)
    assert errata.compute_within_printed_precision("55.8", 4 * 13.94)
    assert not errata.compute_within_printed_precision("55.8", 4 * 13.92)
    with pytest.raises(ValueError, match="file_overhead"):
        errata.check_table9_sizes(file_overhead=-0.1)


def test_int8_factor_and_speedups():
    ratios = errata.compute_table9_int8_ratios()
    wavegrad = ratios[ratios.model == "wavegrad"].ratio.tolist()
    assert wavegrad == pytest.approx([16.8 / 16.3, 42.5 / 41.1, 68.5 / 66.1])  # 1.031, 1.034, 1.036
    others = ratios[ratios.model != "wavegrad"].ratio
    assert others.min() == pytest.approx(5 / 1.4) and others.max() == pytest.approx(72.9 / 18.3)  # 3.57 and 3.98
    factor = _by_item("section6.3.1-int8")
    assert sorted(factor[~factor.consistent].index) == ["WaveGrad MEDIUM: fp32 / int8 size",
                                                        "WaveGrad* LARGE: fp32 / int8 size",
                                                        "WaveGrad* SMALL: fp32 / int8 size"]
    speed = _by_item("speedup-range").consistent.to_dict()
    assert speed == {"int8 speed-up, low bound": True, "int8 speed-up, high bound": False}  # 2 = 2; 4 vs 3


def test_quality_with_size_and_diffwave_configuration():
    quality = errata.compute_quality_with_size()
    falls = quality[quality.decreases]
    assert list(zip(falls.model, falls.from_size, falls.to_size)) == [("hifigan", "small", "medium"),
                                                                     ("wavegrad", "medium", "large")]
    assert falls.change.tolist() == pytest.approx([3.59 - 3.90, 3.59 - 3.66])  # Table 7: -0.31, -0.07
    matches = errata.compute_diffwave_matches().set_index("size")
    assert matches.paper_configuration.to_dict() == {"small": "", "medium": "Base", "large": "Large"}
    assert matches.relative_difference.tolist() == pytest.approx([1.23 / 2.64 - 1, 2.62 / 2.64 - 1, 6.89 / 6.91 - 1])


def test_parameter_counts_of_section_5_1_1():
    params = _by_item("section5.1.1-params")
    agree = sorted(i.split(" parameters")[0] for i in params[params.consistent].index)
    assert agree == ["hifigan medium", "melgan large", "melgan medium", "melgan small"]  # 1.46; 1.03, 4.27, 18.21


def test_check_arguments_are_validated():
    with pytest.raises(ValueError, match="reference_seconds_of_audio"):
        errata.compute_table8_implied_power(0)
    with pytest.raises(ValueError, match="count_allowance"):
        errata.compute_diffwave_matches(2.0)
    with pytest.raises(ValueError, match="pct_mos"):
        errata.compute_figure27_dominance({"Jukebox": 0.5})
    assert isinstance(errata.compute_errata(only_inconsistent=True), pd.DataFrame)
