"""Chapter 6 (notebooks/06_quantization.ipynb): Table 9 measured, QAT figures, Table 10 / §6.4; and the chapter's
library calls (greenaudio.quantization.chapter) on fakes.

Expected values are independent of the code: Table 10 / Table 8 numbers printed in the thesis, byte counts of int8
against float32 weights, an output compared with itself.
"""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from greenaudio.quantization import chapter

CHAPTER = "06-quantization"
SOURCE = ROOT / "notebooks" / "src" / "06_quantization.py"


@pytest.fixture(scope="module")
def folder(request):
    return request.getfixturevalue("executed_notebooks") / CHAPTER


def test_notebook_is_narrative_and_calls():
    cells = [c for c in re.split(r"^# %%", SOURCE.read_text(), flags=re.M) if not c.startswith(" [markdown]")]
    code = [line for c in cells for line in c.splitlines()[1:] if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 120
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


def test_provenance_lines_say_which_target_each_family_meets():
    results = pd.DataFrame([_row(), _row(model="hifigan", speedup_vs_torch_fp32=1.2),
                            _row(model="waveglow", speedup_vs_torch_fp32=0.5), _row(model="diffwave", status="failed: x")])
    lines = chapter.provenance_lines(results)
    assert lines[0].startswith("CPU: Fake CPU")
    verdicts = [line for line in lines if "target" in line]
    assert len(verdicts) == 2  # only the GAN families are held to the 2x target
    assert "2.50x torch fp32 (meets" in verdicts[0] and "1.20x torch fp32 (misses" in verdicts[1]
    assert chapter.provenance_lines(results.assign(status="failed: y")) == []


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
    assert (row["model"], row["size"], row["fake-quant"]) == ("melgan", "small",
                                                               "failed: RuntimeError: cannot build melgan")
    assert pd.isna(row["fp32"]) and pd.isna(row["steps"])
    shown = chapter.stability_with_shipped(table, shipped_history=pd.DataFrame())
    assert shown["source"].tolist() == ["this run"] and shown.columns[0] == "source"


def test_failure_lines_name_each_failed_configuration_and_count_the_rest():
    results = pd.DataFrame({"model": ["melgan", "hifigan", "waveglow"], "size": ["small", "large", "small"],
                            "status": ["ok", "failed: export: unsupported op", "ok"]})
    assert chapter.failure_lines(results) == ["hifigan large: failed: export: unsupported op",
                                              "2 of 3 configurations quantized and run."]


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


def test_speed_target_lines_count_the_gan_rows_that_meet_2x_and_give_the_ranges():
    rows = pd.DataFrame([_row(speedup_vs_torch_fp32=2.5, speedup_vs_ort_fp32=1.1, cpu_isa="avx2 fma; no avx512_vnni"),
                         _row(model="hifigan", size="large", speedup_vs_torch_fp32=1.2, speedup_vs_ort_fp32=0.9,
                              cpu_isa="avx2 fma; no avx512_vnni"),
                         _row(model="waveglow", speedup_vs_torch_fp32=9.0, speedup_vs_ort_fp32=9.0),
                         _row(model="melgan", size="large", status="failed: x")])
    lines = chapter.speed_target_lines(rows)
    assert len(lines) == 4  # two target rows, the count, the ISA (WaveGlow and the failed row are not target rows)
    assert "hifigan large (1 s of audio): int8 is 1.20x torch fp32 (misses" in lines[1]
    assert lines[2].startswith("1 of 2 MelGAN/HiFi-GAN rows meet the 2x target")
    assert "1.20-2.50x torch fp32 and 0.90-1.10x ONNX Runtime fp32" in lines[2]
    assert lines[3] == "CPU instruction sets recorded with the rows: avx2 fma; no avx512_vnni."
    assert chapter.speed_target_lines(rows[rows.model == "waveglow"]) == []


@pytest.mark.notebooks
def test_operator_time_table_puts_quantize_operators_only_in_the_int8_graphs(folder):
    table = pd.read_csv(folder / "int8-operator-time.csv")
    assert set(table.model) == {"melgan", "hifigan"}  # the 2x target's families, the quick mode's configurations
    conversion = table[table.group == "(de)quantization"]
    assert len(conversion) == 2
    assert (conversion["fp32 ms per run"] == 0).all() and (conversion["int8 ms per run"] > 0).all()
    convolution = table[table.group == "convolution"]
    assert (convolution[["fp32 ms per run", "int8 ms per run"]] > 0).all().all()


def test_trained_snr_line_orders_trained_configurations_by_snr_once_each():
    rows = pd.DataFrame([_row(model="waveflow", int8_snr_db=-1.27, weights="trained: weights.pt"),
                         _row(model="hifigan", int8_snr_db=20.54, weights="trained: weights.pt"),
                         _row(model="hifigan", int8_snr_db=19.0, weights="trained: weights.pt", audio_s=10.0),
                         _row(model="melgan", int8_snr_db=99.0)])  # fresh: says little, left out
    assert chapter.trained_snr_line(rows) == ("SNR of int8 against fp32, trained models: waveflow small -1.3 dB; "
                                              "hifigan small 20.5 dB.")
    assert chapter.trained_snr_line(rows.iloc[3:]) == "No shipped row has trained weights."


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
