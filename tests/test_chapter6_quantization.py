"""Chapter 6 (notebooks/06_quantization.ipynb): Table 9 measured, QAT figures, Table 10 / §6.4; and the chapter's
library calls (greenaudio.chapters.quantization) on fakes.

Expected values are independent of the code: Table 10 / Table 8 numbers printed in the thesis, byte counts of int8
against float32 weights, an output compared with itself.
"""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from greenaudio.chapters import quantization as chapter

CHAPTER = "06-quantization"
SOURCE = ROOT / "notebooks" / "src" / "06_quantization.py"


@pytest.fixture(scope="module")
def folder(request):
    return request.getfixturevalue("executed_notebooks") / CHAPTER


def test_notebook_is_narrative_and_calls():
    cells = [c for c in re.split(r"^# %%", SOURCE.read_text(), flags=re.M) if not c.startswith(" [markdown]")]
    code = [line for c in cells for line in c.splitlines()[1:] if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 170  # calls with their captions and alt texts, and the claims' words (literals)
    assert not any(line.lstrip().startswith(("def ", "class ", "for ")) for line in code)


@pytest.mark.notebooks
def test_table_10_and_section_6_4_on_the_thesis_numbers(folder):
    boards = pd.read_csv(folder / "table-10.csv")
    assert boards.board.tolist() == ["ATMega1280", "ATMega2560", "RPi 1B", "RPi 2B", "RPi 3B", "RPi 4B"]
    thesis = pd.read_csv(folder / "embedded-seconds-thesis.csv").set_index(["model", "size"])
    assert len(thesis) == 18
    assert round(thesis.loc[("melgan", "medium"), "RPi 4B"], 3) == 0.708  # 7.02 GFLOPs (Table 8) / 9.92 (Table 10)
    assert round(thesis.loc[("hifigan", "large"), "RPi 4B"], 2) == 4.09  # 40.57 / 9.92
    assert len(pd.read_csv(folder / "embedded-summary-thesis.csv")) == 6


@pytest.mark.notebooks
def test_claims_table_has_the_printed_section_6_4_values(folder):
    claims = pd.read_csv(folder / "claims-6.csv")
    assert list(claims.columns) == ["claim", "section", "thesis", "this_build", "holds"]
    assert len(claims) == 9
    rpi = claims[claims.claim.str.startswith(("MelGAN medium", "HiFi-GAN large"))]
    assert rpi.this_build.round(2).tolist() == [0.71, 4.09]  # 7.02 / 9.92 and 40.57 / 9.92 (Tables 8 and 10)
    assert rpi.holds.tolist() == [True, True]
    provenance = pd.read_csv(folder / "provenance.csv")
    assert list(provenance.columns) == ["quantity", "method", "tool", "machine", "when"] and len(provenance) >= 5


@pytest.mark.notebooks
def test_table_9_measured_sizes_are_about_a_quarter_in_int8(folder):
    results = pd.read_csv(folder / "quantization-results.csv")
    ok = results[results.status == "ok"]
    assert {"melgan", "hifigan"} <= set(ok.model)
    table9 = pd.read_csv(folder / "table-9.csv")
    for row in table9[table9.model.isin(["melgan", "hifigan"])].itertuples():
        # 1 byte per int8 weight against 4 per float32 one, plus per-channel scales and the graph: a bit above 1/4
        assert 0.25 <= row.int8_mb / row.fp32_mb < 0.35
    fit = pd.read_csv(folder / "table-10-fit.csv")
    assert set(fit.bytes_method) == {"measured: serialised files"}


def test_shipped_int8_rows_weigh_four_bytes_per_parameter_in_fp32_and_about_one_in_int8():
    from greenaudio import quantization, vocoders

    shipped = quantization.load_shipped_ptq()  # sha256-verified
    assert {"melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"} <= set(shipped.model)
    for row in shipped[shipped.status == "ok"].itertuples():
        params = vocoders.count_parameters(vocoders.load(row.model, row.size))
        # the fp32 graph: 4 bytes per parameter (weight norm folded: slightly fewer parameters) plus graph overhead
        assert 0.97 <= row.fp32_bytes / (4 * params) < 1.1, (row.model, row.size)
        assert 0.25 <= row.int8_bytes / row.fp32_bytes < 0.4, (row.model, row.size)


@pytest.mark.notebooks
def test_table_9_shipped_shows_every_shipped_configuration(folder):
    from greenaudio import quantization

    shown = pd.read_csv(folder / "table-9-shipped.csv")
    shipped = quantization.load_shipped_ptq()
    assert sorted(zip(shown.model, shown["size"])) == sorted(zip(shipped.model, shipped["size"]))


@pytest.mark.notebooks
def test_qat_history_has_both_variants_from_one_start(folder):
    history = pd.read_csv(folder / "qat-history.csv")
    assert set(history.variant) == {"fp32", "fake-quant"}
    first = history[history.step == 0].set_index("variant")
    # same initialisation, same validation batches and noise: the step-0 losses differ only by the fake quantisers
    assert first.loc["fp32", "val_loss"] == pytest.approx(first.loc["fake-quant", "val_loss"], rel=0.2)
    scores = pd.read_csv(folder / "qat-int8-scores.csv").set_index("output")
    assert scores.loc["fake-quant", "vs_fake_quant_rel_l2"] == 0.0


def _row(**kw):
    base = dict(model="melgan", size="small", status="ok", cpu="Fake CPU", versions="torch x", threads=1,
                exporter="torchscript", timing="median of 2", size_method="files", energy_method="estimated: fake",
                energy_constants="{}", energy_notes="", export_rel_l2=1e-6, procedure="one graph",
                speedup_vs_torch_fp32=2.5, speedup_vs_ort_fp32=1.5, int8_snr_db=20.0, weights="fresh initialisation",
                audio_s=1.0)
    base.update(kw)
    return base


def test_provenance_rows_are_read_off_the_rows_own_columns():
    results = pd.DataFrame([_row(), _row(model="hifigan"), _row(model="diffwave", status="failed: x", cpu="Other")])
    rows = chapter.provenance_rows(results, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert [set(r) for r in rows] == [{"quantity", "method", "tool", "machine", "when"}] * len(rows)
    live = {r["quantity"]: r for r in rows}["int8 sizes, speed and output change (this build)"]
    assert live["method"] == "measured: median of 2; files" and live["tool"] == "torch x"
    assert live["machine"] == "Fake CPU, 1 thread(s)"  # the failed row's CPU is not the measurement's
    assert {r["quantity"]: r for r in rows}["Energy per 100 s of audio (this build)"]["method"] == "estimated: fake"
    # without a configuration that ran: only the shipped files (empty here) and the boards' estimate
    rows = chapter.provenance_rows(results.assign(status="failed: y"), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert [r["quantity"] for r in rows] == ["int8 rows of every configuration (shipped)",
                                             "QAT of every family (shipped)", "Seconds per second of audio on the boards"]


def test_ground_truth_scores_skip_freshly_initialised_models():
    results = pd.DataFrame([_row()])
    audio = np.zeros(16000, dtype=np.float32)
    kept = {("melgan", "small"): {"outputs": {"torch_fp32": audio, "ort_int8": audio}}}
    assert chapter.score_trained_against_ground_truth(results, kept, audio).empty


def test_reconstruction_scores_against_the_fake_quant_output():
    t = torch.linspace(0, 1, 4096)
    clean = torch.sin(2 * np.pi * 440 * t).reshape(1, -1)
    outputs = {"original": clean, "fp32": clean, "fake-quant": clean, "int8 (converted)": 0.5 * clean}
    scores = chapter.score_reconstructions(outputs).set_index("output")
    assert list(scores.index) == ["fp32", "fake-quant", "int8 (converted)"]
    assert scores.loc["fp32", "d_stft_vs_original"] == pytest.approx(0.0, abs=1e-6)
    assert scores.loc["int8 (converted)", "vs_fake_quant_rel_l2"] == pytest.approx(0.5, rel=1e-5)  # |0.5x - x| / |x|
    assert scores.loc["int8 (converted)", "vs_fake_quant_snr_db"] == pytest.approx(20 * np.log10(2), rel=1e-4)


def test_stability_keeps_a_family_that_fails_as_a_row():
    def broken(name):
        raise RuntimeError(f"cannot build {name}")

    table, history = chapter.qat_stability(["melgan"], [(np.zeros(4096), np.zeros((80, 16)))], [(np.zeros(4096),
                                           np.zeros((80, 16)))], steps=1, batch_size=1, eval_every=1, clip_frames=8,
                                           seed=0, threads=1, load=broken)
    assert history.empty and len(table) == 1
    row = table.iloc[0]
    assert (row["model"], row["size"], row["status"]) == ("melgan", "small", "failed: RuntimeError: cannot build melgan")
    assert pd.isna(row["fake_quant_stable"]) and pd.isna(row["steps"])
    shown = chapter.stability_with_shipped(table, shipped_history=pd.DataFrame())
    assert shown["source"].tolist() == ["this run"] and shown.columns[0] == "source"
    assert chapter.stability_facts(shown) == {"families": 0, "stable_families": [], "n_stable": 0,
                                              "diffwave_gap_min": pytest.approx(float("nan"), nan_ok=True)}


def test_stability_facts_count_families_whose_every_fake_quant_row_is_stable():
    table = pd.DataFrame({"source": ["shipped", "shipped", "shipped", "this run", "this run"],
                          "model": ["melgan", "diffwave", "waveflow", "melgan", "waveglow"], "size": "small",
                          "status": ["ok", "ok", "ok", "ok", "failed: x"],
                          "fake_quant_stable": [True, True, True, False, None],
                          "val_loss_gap": [0.4, 0.002, 0.7, 0.1, None]})
    facts = chapter.stability_facts(table)
    # melgan is unstable in this run's row; the failed waveglow row is not a trained family
    assert facts == {"families": 3, "stable_families": ["diffwave", "waveflow"], "n_stable": 2,
                     "diffwave_gap_min": 0.002}


def test_claims_hold_or_not_by_their_rules():
    ptq = {"size_ratio_median": 3.7, "speedup_torch_median": 1.3}
    stability = {"n_stable": 1, "stable_families": ["diffwave"], "diffwave_gap_min": 0.002}
    boards = {"melgan_medium_rpi4_s": 7.02 / 9.92, "hifigan_large_rpi4_s": 40.57 / 9.92, "arduino_int8_fit_ram": 0,
              "arduino_real_time": 0, "fit_every_rpi_fp32": 17, "configurations": 18}
    claims = chapter.check_claims(ptq, stability, boards).set_index("key")
    assert list(claims.index) == list(chapter.CLAIM_RULES)
    assert claims["holds"].to_dict() == {"size_4x": True, "speed_2_4x": False, "speed_2_3x": False,
                                         "qat_only_diffwave": True, "qat_loss_higher": True, "melgan_rpi4": True,
                                         "hifigan_rpi4": True, "arduino": True, "rpi_fit": False}
    assert claims.loc["rpi_fit", "this_build"] == 17 and claims.loc["speed_2_4x", "this_build"] == 1.3
    flipped = chapter.check_claims({"size_ratio_median": 2.6, "speedup_torch_median": 2.0},
                                   {"n_stable": 2, "stable_families": ["melgan", "diffwave"],
                                    "diffwave_gap_min": float("nan")}, boards).set_index("key")["holds"]
    assert not flipped["size_4x"] and flipped["speed_2_4x"] and not flipped["qat_only_diffwave"]
    assert not flipped["qat_loss_higher"]  # no DiffWave row: no value, no verdict in its favour


def test_ptq_facts_by_hand():
    rows = pd.DataFrame([_row(size_ratio=3.6, speedup_vs_torch_fp32=2.5, speedup_vs_ort_fp32=1.1),
                         _row(size_ratio=3.6, speedup_vs_torch_fp32=1.5, speedup_vs_ort_fp32=1.3, audio_s=10.0),
                         _row(model="hifigan", size_ratio=3.0, speedup_vs_torch_fp32=1.2, speedup_vs_ort_fp32=0.9),
                         _row(model="waveglow", size_ratio=3.9, speedup_vs_torch_fp32=1.0, speedup_vs_ort_fp32=1.0),
                         _row(model="hifigan", size="large", status="failed: x", size_ratio=9.0)])
    facts = chapter.ptq_facts(rows)
    assert (facts["rows"], facts["configurations"]) == (4, 3)  # the failed row left out
    # one size ratio per configuration: 3.6, 3.0, 3.9
    assert (facts["size_ratio_min"], facts["size_ratio_median"], facts["size_ratio_max"]) == (3.0, 3.6, 3.9)
    # every row's speed-up: 2.5, 1.5, 1.2, 1.0 -> median (1.2 + 1.5) / 2
    assert facts["speedup_torch_median"] == pytest.approx(1.35) and facts["speedup_ort_max"] == 1.3
    assert (facts["target_rows"], facts["target_met"], facts["target"]) == (3, 1, 2.0)  # MelGAN 2.5 meets 2x
    empty = chapter.ptq_facts(rows.iloc[:0])
    assert empty["rows"] == 0 and np.isnan(empty["size_ratio_median"])


def test_chapter_inputs_reject_more_calibration_clips_than_the_split_has():
    with pytest.raises(ValueError, match="n_calibration"):
        chapter.load_chapter_inputs(0, 1.0)
    with pytest.raises(ValueError, match="n_calibration must be at most"):
        chapter.load_chapter_inputs(10**6, 1.0)


def test_seconds_by_board_is_one_row_per_configuration_in_board_order():
    from greenaudio import embedded

    fit = pd.DataFrame({"model": ["melgan"] * 2 + ["hifigan"] * 2, "size": ["small"] * 4,
                        "board": ["RPi 4B", "Arduino", "RPi 4B", "Arduino"],
                        "seconds_per_audio_s": [0.5, 90.0, 2.0, 400.0]})
    table = embedded.compute_seconds_by_board(fit)
    assert list(table.columns) == ["model", "size", "RPi 4B", "Arduino"]
    assert table.values.tolist() == [["melgan", "small", 0.5, 90.0], ["hifigan", "small", 2.0, 400.0]]


def test_speed_target_table_holds_the_gan_rows_with_their_verdicts():
    rows = pd.DataFrame([_row(speedup_vs_torch_fp32=2.5, speedup_vs_ort_fp32=1.1),
                         _row(model="hifigan", size="large", speedup_vs_torch_fp32=1.2, speedup_vs_ort_fp32=0.9),
                         _row(model="waveglow", speedup_vs_torch_fp32=9.0, speedup_vs_ort_fp32=9.0),
                         _row(model="melgan", size="large", status="failed: x")])
    table = chapter.speed_target_table(rows)
    assert list(table.columns) == list(chapter.SPEED_TARGET_COLUMNS)
    # WaveGlow is not held to the target and the failed row did not run
    assert table[["model", "size", "meets_target"]].values.tolist() == [["melgan", "small", True],
                                                                        ["hifigan", "large", False]]
    assert chapter.speed_target_table(rows[rows.model == "waveglow"]).empty


@pytest.mark.notebooks
def test_operator_time_table_puts_quantize_operators_only_in_the_int8_graphs(folder):
    table = pd.read_csv(folder / "int8-operator-time.csv")
    assert set(table.model) == {"melgan", "hifigan"}  # the 2x target's families, the quick mode's configurations
    conversion = table[table.group == "(de)quantization"]
    assert len(conversion) == 2
    assert (conversion["fp32 ms per run"] == 0).all() and (conversion["int8 ms per run"] > 0).all()
    convolution = table[table.group == "convolution"]
    assert (convolution[["fp32 ms per run", "int8 ms per run"]] > 0).all().all()


def test_trained_snr_table_orders_trained_configurations_by_snr_once_each():
    rows = pd.DataFrame([_row(model="waveflow", int8_snr_db=-1.27, weights="trained: weights.pt", int8_d_stft=1.0),
                         _row(model="hifigan", int8_snr_db=20.54, weights="trained: weights.pt", int8_d_stft=0.03),
                         _row(model="hifigan", int8_snr_db=19.0, weights="trained: weights.pt", audio_s=10.0,
                              int8_d_stft=0.04),
                         _row(model="melgan", int8_snr_db=99.0, int8_d_stft=0.0)])  # fresh: says little, left out
    table = chapter.trained_snr_table(rows)
    assert table[["model", "audio_s", "int8_snr_db"]].values.tolist() == [["waveflow", 1.0, -1.27],
                                                                          ["hifigan", 1.0, 20.54]]
    assert chapter.trained_snr_table(rows.iloc[3:]).empty


def test_qat_family_figure_has_one_panel_per_family_and_source():
    import matplotlib

    matplotlib.use("Agg")

    def history(model):
        return pd.DataFrame({"model": model, "size": "small", "step": [0, 2, 0, 2],
                             "variant": ["fp32", "fp32", "fake-quant", "fake-quant"], "val_loss": [2.0, 1.0, 2.5, 1.5]})

    fig = chapter.plot_qat_families(history("melgan"), shipped_history=pd.concat([history("melgan"),
                                                                                   history("waveflow")]))
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["melgan (shipped)", "waveflow (shipped)", "melgan (this run)"]
    assert [list(line.get_ydata()) for line in shown[0].lines] == [[2.0, 1.0], [2.5, 1.5]]  # fp32, then fake-quant
    empty = chapter.plot_qat_families(pd.DataFrame(), shipped_history=pd.DataFrame())
    assert [t.get_text() for ax in empty.axes for t in ax.texts] == ["no QAT history shipped or trained in this run"]


def test_seconds_show_as_whole_seconds_from_100_up():
    assert [chapter.format_seconds(v) for v in (1.39e9 / 256e3, 7.02 / 9.92, 99.7)] == ["5,430", "0.708", "99.7"]
