"""Chapter 5.2 notebook (quick mode): reads the shipped mini zoo, re-verifies it, Table 7 analogue, fronts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, toc_notebooks
from greenaudio import published
from greenaudio.experiments import artefacts, quality

pytestmark = pytest.mark.notebooks

CHAPTER = "05-2-quality"
SHIPPED = artefacts.default_zoo_dir() / "mini"


@pytest.fixture(scope="module")
def results(request):
    if ROOT / "notebooks" / "05_2_quality.ipynb" not in toc_notebooks():
        pytest.skip("notebooks/05_2_quality is not in _toc.yml")
    if not (SHIPPED / "scores.csv").is_file():
        pytest.skip("no mini zoo shipped yet")
    return request.getfixturevalue("executed_notebooks") / CHAPTER


def test_shipped_checkpoints_were_regenerated_within_tolerance(results):
    verified = pd.read_csv(results / "verification.csv")
    assert len(verified) == 2
    assert (verified["d_stft |diff|"] <= artefacts.VERIFY_TOLERANCE["d_stft"]).all()
    assert (verified["pesq_wb |diff|"] <= artefacts.VERIFY_TOLERANCE["pesq_wb"]).all()


def test_table_7_shows_the_shipped_scores_and_the_thesis_data_unchanged(results):
    table = pd.read_csv(results / "table-7.csv")
    shipped = pd.read_csv(SHIPPED / "scores.csv")
    assert len(table) == len(shipped)  # one row per shipped configuration plus the ground truth
    gt = table[table.configuration == "Ground truth"].iloc[0]
    assert gt["D_STFT"] == 0 and gt["PESQ-WB"] == pytest.approx(4.64, abs=0.01)  # PESQ-WB's ceiling is 4.644
    thesis = published.load_vocoder_quality()
    gt_mos = float(thesis[thesis.model == "ground_truth"].mos.iloc[0])
    assert gt["MOS (thesis, human)"] == gt_mos
    assert sorted(table.DistillMOS) == pytest.approx(sorted(shipped.distillmos))  # the shipped data, shown as is
    # digits are left out (empty) only where the export said why
    assert sorted(table["digit accuracy"].dropna()) == pytest.approx(sorted(shipped.digit_accuracy.dropna()))
    skipped = shipped[shipped.digit_accuracy.isna()]
    assert table["digit accuracy"].isna().sum() == len(skipped)
    assert all(str(note).startswith("not scored") for note in skipped.get("digit_note", pd.Series(dtype=str)))
    assert list(table["held-out clips"]) == list(shipped.n_clips)


def test_thesis_correlations_match_a_brute_force_pearson(results):
    corr = pd.read_csv(results / "correlations-mos.csv").set_index("metric")
    t7 = published.load_vocoder_quality()
    t7 = t7[t7.model != "ground_truth"]
    for column, metric in (("am_score", "AM (thesis, VGGish)"), ("d_stft", "D_STFT (thesis)")):
        x, y = t7[column].to_numpy(float), t7.mos.to_numpy(float)
        r = ((x - x.mean()) * (y - y.mean())).sum() / np.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
        assert corr.loc[metric, "pearson_r"] == pytest.approx(r, abs=1e-9)


def test_figures_were_written(results):
    for name in ("figure-30", "spectrograms", "figure-34-live", "figure-32"):
        assert (results / f"{name}.png").stat().st_size > 10_000, name


def test_figure_32_from_data_titles_carry_a_brute_force_pearson():
    fig, found = quality.plot_thesis_figure32()
    t7 = published.load_vocoder_quality()
    t7 = t7[t7.model != "ground_truth"]
    y = t7.mos.to_numpy(float)
    x = t7.am_score.to_numpy(float)
    r = ((x - x.mean()) * (y - y.mean())).sum() / np.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
    assert found["AM (thesis, VGGish)"]["pearson_r"] == pytest.approx(r, abs=1e-9)
    assert found["AM (thesis, VGGish)"]["n"] == 18 and len(fig.axes) == 3
    assert f"Pearson r = {r:.2f}" in fig.axes[1].get_title()


def test_audio_grid_embeds_every_shipped_sample():
    html = quality.audio_grid_html("mini")
    flacs = sorted(SHIPPED.glob("samples/*/*.flac"))
    assert html.count("<audio") == len(flacs) and len(flacs) >= 8


def test_step_count_sentences_compare_only_configurations_of_one_budget():
    scores = pd.DataFrame({
        "config": ["melgan-small", "waveflow-small", "hifigan-large", "melgan-large", "ground_truth"],
        "model": ["melgan", "waveflow", "hifigan", "melgan", "ground_truth"],
        "size": ["small", "small", "large", "large", ""],
        "budget_s": [900.0, 900.0, 300.0, 300.0, np.nan],
        "steps": [2078, 15, 27, 34, np.nan],
    })
    sentences = [s for s in quality.conclusions(scores, pd.DataFrame()) if "step counts" in s]
    # 900 CPU-s: 2078 / 15 = 138.5 -> 139-fold; 300 CPU-s: 34 / 27 = 1.26 -> 1.3-fold; never 2078 / 27 across budgets
    assert sentences == [
        "Within the same budget of 300 CPU-seconds the step counts differ 1.3-fold: melgan-large made 34 steps, "
        "hifigan-large 27.",
        "Within the same budget of 900 CPU-seconds the step counts differ 139-fold: melgan-small made 2078 steps, "
        "waveflow-small 15.",
    ]


def test_held_out_sentence_names_the_configurations_scored_on_a_prefix():
    scores = pd.DataFrame({"config": ["ground_truth", "melgan-small", "diffwave-large", "waveflow-large"],
                           "model": ["ground_truth", "melgan", "diffwave", "waveflow"],
                           "n_clips": [64, 64, 16, 16]})
    sentence = quality.held_out_sentence(scores)
    assert sentence.startswith("Configurations are scored on the 64 held-out clips of the test split, except "
                               "diffwave-large, waveflow-large on the first 16 ")
    assert quality.held_out_sentence(scores.iloc[:2]) == "Every configuration is scored on the same 64 held-out clips."


def test_digit_sentence_takes_each_familys_best_scored_model_and_ignores_unscored_ones():
    scores = pd.DataFrame({
        "config": ["hifigan-small", "hifigan-medium", "melgan-small", "melgan-large", "ground_truth"],
        "model": ["hifigan", "hifigan", "melgan", "melgan", "ground_truth"],
        "size": ["small", "medium", "small", "large", ""],
        "digit_accuracy": [0.65, np.nan, 0.22, np.nan, 0.72],
    })
    [sentence] = [s for s in quality.conclusions(scores, pd.DataFrame()) if "digit classifier" in s]
    assert "best of each family HiFi-GAN small 65%, MelGAN small 22%; 1 family above 50 %" in sentence


def test_spectrogram_grid_has_a_row_per_family_and_names_missing_samples(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import soundfile as sf

    folder = tmp_path / "mini" / "samples" / "utt00"
    folder.mkdir(parents=True)
    tone = (0.1 * np.sin(np.arange(4096) * 0.3)).astype("float32")
    for name in ("ground_truth", "melgan-small", "melgan-large", "waveflow-medium"):
        sf.write(folder / f"{name}.flac", tone, 16000)
    fig = quality.plot_spectrograms("mini", "utt00", root=tmp_path)
    titles = [[ax.get_title() for ax in row] for row in np.reshape(fig.axes, (-1, 4))]
    assert titles == [["ground truth", "MelGAN small", "MelGAN medium", "MelGAN large"],
                      ["ground truth", "WaveFlow small", "WaveFlow medium", "WaveFlow large"]]
    blank = [ax.get_title() for ax in fig.axes if ax.texts and ax.texts[0].get_text() == "not shipped"]
    assert blank == ["MelGAN medium", "WaveFlow small", "WaveFlow large"]
    with pytest.raises(ValueError, match=r"no sample for \['hifigan-small'\] of utt00; available: \['melgan-large'"):
        quality.plot_spectrograms("mini", "utt00", configs=["hifigan-small"], root=tmp_path)


def test_cost_axes_carry_the_method_of_the_rows_they_draw():
    table = pd.DataFrame({
        "gflops_per_audio_s": [1.0, 2.0, 3.0], "rtf_median": [0.1, np.nan, 2.0],
        "e_gen_j_per_100_audio_s": [40.0, np.nan, 900.0],
        "energy_method": ["estimated:codecarbon-cpu-process", "measured:rapl", "estimated:codecarbon-cpu-process"],
        "train_energy_j": [np.nan, np.nan, np.nan], "train_energy_method": [None, None, None]})
    axes = quality.cost_axes(table)
    # the one measured row has no energy value, so the axis is labelled with the estimate only
    assert axes == {"gflops_per_audio_s": "GFLOPs per s of audio (counted)",
                    "rtf_median": "RTF, one CPU core (measured: wall clock, shipped records)",
                    "e_gen_j_per_100_audio_s": "E_gen per 100 s of audio (J, estimated:codecarbon-cpu-process)"}
    table.loc[1, "e_gen_j_per_100_audio_s"] = 50.0
    assert quality.cost_axes(table)["e_gen_j_per_100_audio_s"] == (
        "E_gen per 100 s of audio (J, estimated:codecarbon-cpu-process; measured:rapl)")
    assert quality.cost_axes(table.drop(columns="energy_method"))["e_gen_j_per_100_audio_s"].endswith(
        "(J, method not recorded)")


def test_thesis_front_sentence_uses_the_printed_front_and_ours():
    # by hand from Tables 7 and 8, sorted by GFLOPs: MelGAN small (MOS 1.37, 1.39 GFLOPs), HiFi-GAN small (3.90,
    # 2.56) and HiFi-GAN large (4.12, 40.57) are undominated; every other configuration costs more for less MOS
    optimal = pd.DataFrame({"cost": ["gflops_per_audio_s"] * 3 + ["train_energy_j"],
                            "quality": ["distillmos"] * 4,
                            "config": ["hifigan-small", "waveflow-small", "melgan-large", "diffwave-small"],
                            "pareto_optimal": [True, True, False, True]})
    assert quality.thesis_front_sentence(optimal) == (
        "On quality against GFLOPs per second of audio the thesis's front (human MOS, Tables 7 and 8) holds "
        "HiFi-GAN large, HiFi-GAN small, MelGAN small; the mini zoo's (DistillMOS (predicted MOS)) holds HiFi-GAN "
        "small, WaveFlow small; on both: HiFi-GAN small.")
    assert quality.thesis_front_sentence(optimal[optimal.cost == "train_energy_j"]) is None


def test_d_stft_sentence_separates_real_gains_from_changes_within_one_percent():
    scores = pd.DataFrame({"config": ["a-small", "b-small", "c-small", "ground_truth"],
                           "model": ["a", "b", "c", "ground_truth"],
                           "d_stft": [1.0, 4.69166, 0.300, 0.0], "baseline_d_stft": [4.0, 4.69199, 0.293, np.nan]})
    [sentence] = [s for s in quality.conclusions(scores, pd.DataFrame()) if s.startswith("D_STFT")]
    # 1.0 / 4.0 - 1 = -75 %; 4.69166 / 4.69199 - 1 = -0.007 %; 0.300 / 0.293 - 1 = +2.4 %
    assert sentence == ("D_STFT on the held-out clips, against the same configuration after 3 steps, fell by more than "
                        "1 % below it for 1 (a-small); stayed within 1 % of it for 1 (b-small); rose by more than 1 % "
                        "above it for 1 (c-small) (of 3 configurations).")
