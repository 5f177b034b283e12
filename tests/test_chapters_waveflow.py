"""The WaveFlow intra-model study (thesis §4.3.2): counts, FLOPs, the training-energy extrapolation, the step-count
erratum, Figure 28's statements, the mini-study machinery and bad input."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from greenaudio.chapters import waveflow as ws
from greenaudio.orchestration import waveflow_study as runner


# -- configurations and bad input -----------------------------------------------------------------------------------
def test_configuration_names_are_case_insensitive_and_bad_ones_list_the_valid_ones():
    assert ws.check_configuration("WF3") == "wf3" and ws.check_configuration(" wf3 ") == "wf3"
    with pytest.raises(ValueError, match=r"'wf6'.*WF1 \(h=8, r=64\).*WF5 \(h=16, r=256\)"):
        ws.check_configuration("wf6")
    with pytest.raises(ValueError, match="wf9"):
        ws.check_configurations(["wf1", "wf9"])


def test_bad_input_is_rejected_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="WF1 \\(h=8, r=64\\)"):  # before any corpus is loaded or model trained
        runner.run_study("quick", ["wf0"], out_root=tmp_path, runs_root=tmp_path, cache_dir=tmp_path / "nothing")
    with pytest.raises(ValueError, match="protocol"):
        ws.get_study_protocol("huge")
    with pytest.raises(ValueError, match="efficiency"):
        ws.TrainingSetting(efficiency=0.0)
    with pytest.raises(ValueError, match="reading"):
        ws.predict_training_energy([_fake_timing("wf1", 1.0)], reading="reading C")
    with pytest.raises(ValueError, match="empty"):
        ws.predict_training_energy([])
    with pytest.raises(ValueError, match="wf7"):
        ws.measure_generation_energy(["wf7"])
    from greenaudio.cli import main

    assert main(["waveflow-study", "--configs", "wf9"]) == 2
    assert main(["waveflow-study", "--protocol", "tiny"]) == 2


# -- parameters and FLOPs -------------------------------------------------------------------------------------------
def _hand_params(r: int) -> int:
    """+g count by hand: per flow a 1->r front conv, 8 x (3x3 r->2r, 80->2r cond, 1x1 r->2r res/skip), each with bias
    and one weight-norm gain per output channel, and a 1x1 r->2 projection; two (3 x 32) transposed convs (98 each)."""
    front = r + r + r
    layer = (2 * r * r * 9 + 2 * r + 2 * r) + (2 * r * 80 + 2 * r + 2 * r) + (2 * r * r + 2 * r + 2 * r)
    return 8 * (front + 8 * layer + 2 * r + 2) + 2 * 98


def test_parameter_counts_by_hand_and_beside_the_printed_ones():
    table = ws.compute_parameter_table(["wf1", "wf2", "wf3", "wf4"]).set_index("configuration")
    assert table.params.to_dict() == {"WF1": _hand_params(64), "WF2": _hand_params(64), "WF3": _hand_params(96),
                                      "WF4": _hand_params(128)}
    # the facts file's counts of the reference implementations (+g): WaveFlow small / medium / large
    assert table.params[["WF1", "WF3", "WF4"]].tolist() == [5_950_164, 12_857_300, 22_385_876]
    assert _hand_params(256) == 86_714_580
    # the paper's printed counts (Table 6) and the thesis's Table 8 (WF1, WF3, WF4 = small, medium, large)
    assert table.paper_millions.tolist() == [5.91, 5.91, 12.78, 22.25]
    assert table.thesis_table8_millions[["WF1", "WF3", "WF4"]].tolist() == [5.95, 12.86, 22.39]
    assert (table.params - table.params_without_wn_gains > 0).all()


def _hand_gflops_per_audio_s(h: int, r: int, reverse: str, sample_rate: int = 22_050) -> float:
    """Per output sample, per flow: each row computed costs, per column, a 1->r front conv (2r), 8 layers of a 3x3
    r->2r conv (36 r^2) and a 1x1 r->2r conv (4 r^2), 8 fused 80->2r conditioning convs (2560 r) and the r->2
    projection (4r). Fast: h-1 rows once; plain: row i recomputes i rows (h(h-1)/2 in all). Upsampler: two
    (3 x 32) transposed convs on 80 x F and 80 x 16F inputs = 2 x 80 x 96 x 17 FLOPs per frame of 256 samples."""
    per_position = 2 * r + 8 * (36 * r * r + 4 * r * r) + 2560 * r + 4 * r
    rows = (h - 1) if reverse == "fast" else h * (h - 1) / 2
    per_sample = 8 * rows / h * per_position + 2 * 80 * 96 * 17 / 256
    return per_sample * sample_rate / 1e9


@pytest.mark.slow
def test_flops_of_both_reverses_match_a_hand_count_and_the_direct_count():
    table = ws.compute_flops_table(["wf1", "wf2"]).set_index("configuration")
    for config, h in (("WF1", 8), ("WF2", 16)):
        for reverse in ("fast", "plain"):
            assert table.loc[config, f"gflops_per_audio_s_{reverse}"] == pytest.approx(
                _hand_gflops_per_audio_s(h, 64, reverse), rel=1e-9)
    direct = ws.compute_flops_table(["wf1"], direct=True, frames=2).set_index("configuration")
    assert direct.loc["WF1", "gflops_per_audio_s_plain"] == pytest.approx(table.loc["WF1", "gflops_per_audio_s_plain"])
    assert direct.loc["WF1", "gflops_per_audio_s_fast"] == pytest.approx(227.6800974, rel=1e-9)


def test_training_flops_extrapolated_from_one_and_two_flows_equal_the_direct_count():
    model = ws.load_configuration("wf1", 16_000)
    audio, mel = 0.1 * torch.randn(1, 256), torch.rand(1, 80, 1)
    f1, f2 = ws._flow_flops(model, audio, mel)
    assert f1 + (model.config.n_flows - 1) * (f2 - f1) == ws._count_step_flops(model, audio, mel)


# -- training energy by the thesis's method -------------------------------------------------------------------------
def _fake_timing(config: str, cpu_s: float, flops: float = 1e10, batch: int = 1, crop: int = 1):
    return ws.TrainingStepTiming(config, batch, crop, 256, 2, cpu_s, cpu_s, flops, 1)


class _FakeCpuPower:
    """A 10 W CPU with 2 logical CPUs: 5 J per CPU-second."""

    def energy_j(self, cpu_time_s):
        return 10.0 * cpu_time_s / 2

    def to_dict(self):
        return {"power_model": "fake", "tdp_w": 10.0, "logical_cpus": 2}


def test_training_energy_extrapolation_by_hand():
    timings = [_fake_timing("wf1", 0.5, 1e10), _fake_timing("wf5", 2.0, 6e10)]
    table = ws.predict_training_energy(timings, "reading A (r=96 -> 3M)", cpu_power_model=_FakeCpuPower())
    wf1, wf5 = table.iloc[0], table.iloc[1]
    # thesis step: batch 8 x 16,000 samples = 500 x the timed 256 samples
    assert wf1.cpu_s_per_thesis_step == pytest.approx(250.0) and wf5.cpu_s_per_thesis_step == pytest.approx(1000.0)
    assert wf1.steps == 3e6 and wf5.steps == 1e6  # r = 64: 3M, r = 256: 1M
    assert wf1.e_train_here_kwh == pytest.approx(3e6 * 250.0 * 5.0 / 3.6e6)
    rate = (1e10 + 6e10) / (0.5 + 2.0)  # FLOP per CPU-second over both configurations
    gpu_s = 250.0 * rate / 14.9e12  # TITAN V FP32 peak
    assert wf1.e_train_thesis_kwh == pytest.approx(3e6 * gpu_s * 250.0 * 1.58 / 3.6e6)
    assert wf1.ratio_to_table6 == pytest.approx(wf1.e_train_thesis_kwh / 407.7)
    assert wf1.energy_method.startswith("predicted:")
    constants = json.loads(wf1.constants)
    assert constants["gpu_board_power_w"] == 250 and constants["pue"] == 1.58
    half = ws.predict_training_energy(timings, setting=ws.TrainingSetting(efficiency=0.5),
                                      cpu_power_model=_FakeCpuPower())
    assert half.e_train_thesis_kwh.iloc[0] == pytest.approx(2 * wf1.e_train_thesis_kwh)
    assert half.e_train_here_kwh.iloc[0] == pytest.approx(wf1.e_train_here_kwh)


def test_step_reading_is_decided_by_the_measured_order():
    increasing = [_fake_timing(c, t) for c, t in zip(ws.CONFIGURATIONS, (1.0, 1.1, 2.0, 3.0, 10.0))]
    result = ws.resolve_step_reading(increasing)
    assert result["supported"] == ["reading A (r=96 -> 3M)"]
    table = result["table"].set_index("reading")
    assert table.loc["reading B (r=96 -> 2M)", "pairs_ordered_as_measured"] == "9 of 10"
    assert table.loc["reading A (r=96 -> 3M)", "printed_wf3_over_wf4_per_step"] == pytest.approx((725.4 / 3) / (644.8 / 2))
    # a measurement in which WF3 costs more per step than WF4 would support reading B instead
    wf3_heavier = [_fake_timing(c, t) for c, t in zip(ws.CONFIGURATIONS, (1.0, 1.1, 3.0, 2.5, 10.0))]
    assert ws.resolve_step_reading(wf3_heavier)["supported"] == ["reading B (r=96 -> 2M)"]
    assert set(result["errata"]["consistent"]) == {True, False}  # the errata chapter's check, reused


def test_real_training_steps_are_timed():
    t = ws.time_training_steps("WF1", batch_size=1, crop_frames=1, steps=1, warmup=0)
    assert t.config == "wf1" and t.samples_per_step == 256 and t.cpu_s_per_step > 0 and t.flops_per_step > 1e9


# -- generation energy ----------------------------------------------------------------------------------------------
def test_generation_table_converts_units_and_keeps_the_method():
    record = SimpleNamespace(size="wf1", device="cuda:0", audio_s_per_run=100.0, rtf_median=0.01,
                             e_gen_j_per_100_audio_s=3600.0, energy_method="measured:nvml-energy-counter",
                             energy_constants={})
    row = ws.compute_generation_table([record]).iloc[0]
    assert row.e_gen_wh_per_100_audio_s == pytest.approx(1.0)  # 3600 J = 1 Wh
    assert row.table6_titan_v_wh == 1.349 and row.ratio_to_table6 == pytest.approx(1 / 1.349)
    assert row.how == "measured (NVML energy counter)"


def test_cpu_generation_energy_is_labelled_estimated():
    record = ws.measure_generation_energy(["wf1"], "quick")[0]
    assert record.sample_rate == 22_050 and record.size == "wf1"
    # on a machine without readable counters (this one: no RAPL, no GPU) the energy is an estimate; a measurement
    # must name the counters it read
    assert record.energy_method.startswith("estimated:") or (record.energy_method.startswith("measured:")
                                                             and record.energy_domains)
    assert record.audio_s_per_run == pytest.approx(256 / 22_050)


# -- Figure 28 ------------------------------------------------------------------------------------------------------
def test_thesis_statements_on_table6():
    s = ws.compute_statements(ws.thesis_table())
    assert s["wf3_dominated_in_training"] and s["wf3_dominated_by"] == "WF4"  # 644.8 kWh < 725.4, MOS 4.38 > 4.34
    assert s["wf3_optimal_in_inference"]
    assert s["all_optimal_in_energy_front"]
    # ln(x_next / x), params: 0, .771, .554, 1.354; E_gen: .024, .544, .053, .432 -> wider for WF1-WF2 only
    assert s["gap_widens_log"] == 1 and s["pairs"] == 4
    # share of the axis's range, params: 0, .086, .118, .796; E_gen: .013, .397, .052, .539 -> 2 of 4
    assert s["gap_widens_range"] == 2
    gaps = s["gaps"].set_index("pair")
    assert gaps.loc["WF4–WF5", "log_gap_params"] == pytest.approx(math.log(86.18 / 22.25))
    # WF1 and WF2 share 5.91 M: 10 - 1 = 9 pairs differ in size; E_gen 1.349 < 1.382 < 2.382 < 2.512 < 3.871 follows
    # the parameters 5.91 <= 5.91 < 12.78 < 22.25 < 86.18 in all 9
    assert s["size_pairs"] == 9 and s["e_gen_rises_with_size"] == 9
    flipped = ws.thesis_table().assign(e_gen=[1.349, 1.382, 2.6, 2.512, 3.871])  # WF3 above WF4: 1 pair of 9 breaks
    assert ws.compute_statements(flipped)["e_gen_rises_with_size"] == 8


def test_fronts_overview_says_who_dominates_whom_in_table6():
    statements = {"Table 6": ws.compute_statements(ws.thesis_table())}
    overview = ws.compute_fronts_overview(statements).set_index("configuration")
    assert list(overview.columns) == ["panel", "training", "parameters", "generation"]
    # Table 6: WF4 (644.8 kWh, MOS 4.38) beats WF3 (725.4 kWh, 4.34) in training; WF2 (5.91 M, 4.32) beats WF1
    # (5.91 M, 4.26) on parameters; on E_gen every configuration costs more and scores more than the previous one
    assert overview.training.to_dict() == {"WF1": "optimal", "WF2": "optimal", "WF3": "dominated by WF4",
                                           "WF4": "optimal", "WF5": "optimal"}
    assert overview.parameters["WF1"] == "dominated by WF2" and (overview.parameters.drop("WF1") == "optimal").all()
    assert (overview.generation == "optimal").all() and set(overview.panel) == {"Table 6"}


def test_fronts_follow_dominance():
    table = pd.DataFrame({"configuration": ["A", "B", "C"], "e_train": [1.0, 2.0, 3.0], "params": [1.0, 1.0, 2.0],
                          "e_gen": [1.0, 2.0, 3.0], "mos": [4.0, 4.5, 4.2]})
    fronts = ws.compute_fronts(table).set_index("configuration")
    assert fronts.optimal_training.to_dict() == {"A": True, "B": True, "C": False}
    assert fronts.optimal_parameters.to_dict() == {"A": False, "B": True, "C": False}
    assert fronts.dominated_by_training["C"] == "B"


# -- the mini study's machinery (tiny budget, temporary folders) -----------------------------------------------------
def _speech(n=4, frames=32, seed=0):
    from greenaudio.data.base import SkipReport, SpeechDataset
    from greenaudio.vocoders.mel import MelNormalizer

    g = np.random.default_rng(seed)
    audio = (0.1 * g.standard_normal((n, frames * 256))).astype(np.float32)
    mel = g.random((n, 80, frames)).astype(np.float32)
    report = SkipReport("fake", n, n, n, n)
    return SpeechDataset(audio, mel, np.arange(n), [f"u{i}" for i in range(n)], MelNormalizer(0.0, 1.0), report,
                         "train")


@pytest.mark.slow
def test_study_trains_scores_ships_with_a_manifest_and_resumes(tmp_path, capsys):
    from greenaudio.files import ArtefactError

    train_set, test_set = _speech(), _speech(2, seed=1)
    table = runner.run_study("quick", ["wf1"], out_root=tmp_path / "out", runs_root=tmp_path / "runs",
                         train_set=train_set, test_set=test_set, progress=False, commit="abc")
    row = table.iloc[0]
    assert row.config == "wf1" and row.steps == 2 and row.n_clips == 1 and math.isfinite(row.d_stft)
    assert row.reproduce == "greenaudio waveflow-study --protocol quick --configs wf1 --budget-s 60"
    record = json.loads((tmp_path / "out" / "quick" / "wf1" / "training.json").read_text())
    assert record["commit"] == "abc" and record["threads"] == 1 and record["device"] == "cpu"
    manifest = ws.verify_study_manifest("quick", tmp_path / "out")
    assert set(manifest.kind) == {"training-record", "curves", "scores"}
    capsys.readouterr()
    again = runner.run_study("quick", ["WF1"], out_root=tmp_path / "out", runs_root=tmp_path / "runs",
                         train_set=train_set, test_set=test_set, progress=False)
    assert "skipped" in capsys.readouterr().out and again.iloc[0].d_stft == row.d_stft
    (tmp_path / "out" / "quick" / "wf1" / "curves.csv").write_text("altered\n")
    with pytest.raises(ArtefactError, match="sha256 mismatch"):
        ws.verify_study_manifest("quick", tmp_path / "out")
    assert ws.load_study_results("quick", tmp_path / "elsewhere").empty


# -- a minimised quality (D_STFT) on Figure 28's planes ---------------------------------------------------------------
def test_a_distance_is_minimised_on_the_planes():
    # A is the cheapest, B the closest to the reference (lowest D_STFT), C costs more than B and is farther: dominated
    table = pd.DataFrame({"configuration": ["A", "B", "C"], "e_train": [1.0, 2.0, 3.0], "params": [1.0, 2.0, 3.0],
                          "e_gen": [1.0, 2.0, 3.0], "d_stft": [0.5, 0.4, 0.45]})
    fronts = ws.compute_fronts(table, "d_stft").set_index("configuration")
    assert fronts.optimal_training.to_dict() == {"A": True, "B": True, "C": False}
    assert fronts.dominated_by_training["C"] == "B"
    # read the wrong way (as a score), the cheapest would dominate everything
    assert ws.compute_fronts(table, "d_stft", sense="max").optimal_training.tolist() == [True, False, False]
    with pytest.raises(ValueError, match="sense"):
        ws.compute_fronts(table, "d_stft", sense="lower")
    # gaps run from the worst quality to the best: C (0.45) is between A (0.5) and B (0.4)
    assert ws.compute_statements(table, "d_stft")["gaps"]["pair"].tolist() == ["A–C", "C–B"]


# -- the equal-budget study as the chapter shows it (a fake shipped folder; nothing written under resources/) -------
_STEPS = {"wf1": 1200, "wf2": 1000, "wf3": 700, "wf4": 500, "wf5": 200}
_D_STFT = {"wf1": 0.50, "wf2": 0.55, "wf3": 0.60, "wf4": 0.70, "wf5": 0.90}  # worse with size, better with steps
_PESQ = {"wf1": 1.10, "wf2": 1.05, "wf3": 1.20, "wf4": 1.02, "wf5": 1.01}


def _ship_fake_study(root, configs=ws.CONFIGURATIONS):
    """A ``scores.csv`` with the columns run_study writes (and a manifest with real sha256s) under root/mini."""
    import hashlib

    folder = root / "mini"
    folder.mkdir(parents=True)
    rows = [{"config": c, "study_key": "fake-key", "steps": _STEPS[c], "budget_s": 300.0, "clock": "process",
             "cpu_time_s": 300.2, "wall_s": 310.0, "threads": 1, "device": "cpu", "commit": "abc", "sample_seed": 1234,
             "train_energy_j": 1200.0, "train_energy_method": "estimated:codecarbon-cpu-process-rule",
             "train_energy_constants": "{}", "d_stft": _D_STFT[c], "pesq_wb": _PESQ[c], "distillmos": 2.3,
             "n_clips": 8, "n_clipped": 0, "reproduce": f"greenaudio waveflow-study --protocol mini --configs {c}"}
            for c in configs]
    pd.DataFrame(rows).to_csv(folder / "scores.csv", index=False)
    data = (folder / "scores.csv").read_bytes()
    pd.DataFrame([{"config": "all", "kind": "scores", "path": "scores.csv", "bytes": len(data),
                   "sha256": hashlib.sha256(data).hexdigest(), "provenance": "fake", "reproduce": "none"}]).to_csv(
        folder / "manifest.csv", index=False)
    return folder


def test_mini_study_ranking_is_counted_from_the_shipped_table(tmp_path):
    from greenaudio.files import ArtefactError

    folder = _ship_fake_study(tmp_path)
    mini = ws.load_mini_study("mini", tmp_path)
    assert mini["shipped"] and len(mini["scores"]) == 5
    assert "study_key" not in mini["table"] and "train_energy_constants" not in mini["table"]
    ranking = mini["ranking"].set_index("quality")
    assert list(ranking.index) == ["d_stft", "pesq_wb"]
    # D_STFT: WF1 < WF2 < ... < WF5, i.e. the more steps the better; 9 pairs separated by size (WF1 and WF2 have the
    # same 5.91 M in Table 6), none of them in favour of the larger model; all 10 pairs in favour of more steps
    assert ranking.loc["d_stft"].to_dict() == {"sense": "min", "order": "WF1, WF2, WF3, WF4, WF5", "larger_better": 0,
                                               "size_pairs": 9, "more_steps_better": 10, "steps_pairs": 10,
                                               "ranks_by": "steps"}
    # PESQ-WB 1.10, 1.05, 1.20, 1.02, 1.01: larger better in WF1-WF3, WF2-WF3 (2 of 9); more steps better in 8 of 10
    # (all but WF1-WF3 and WF2-WF3)
    assert ranking.loc["pesq_wb", "order"] == "WF3, WF1, WF2, WF4, WF5"
    assert ranking.loc["pesq_wb", ["larger_better", "size_pairs", "more_steps_better", "steps_pairs"]].tolist() == [
        2, 9, 8, 10]
    # a quality that improves with size ranks by size
    by_size = mini["scores"].assign(d_stft=[0.9, 0.8, 0.7, 0.6, 0.5])
    assert ws.compute_mini_study_ranking(by_size, ["d_stft"]).ranks_by.item() == "size"
    (folder / "scores.csv").write_text((folder / "scores.csv").read_text().replace("0.9,", "0.1,"))
    with pytest.raises(ArtefactError, match="sha256 mismatch"):
        ws.load_mini_study("mini", tmp_path)
    nothing = ws.load_mini_study("mini", tmp_path / "elsewhere")
    assert not nothing["shipped"] and nothing["table"] is None and nothing["scores"].empty
    assert nothing["ranking"].empty


def _live_table(with_study: bool) -> pd.DataFrame:
    # costs rising with size as in Table 6 (WF3 trains longer than WF4, as printed)
    table = pd.DataFrame({"configuration": ["WF1", "WF2", "WF3", "WF4", "WF5"],
                          "e_train": [400.0, 430.0, 720.0, 640.0, 1000.0], "params": [5.95, 5.95, 12.86, 22.39, 86.71],
                          "e_gen": [1.3, 1.4, 2.4, 2.5, 3.9], "mos": [4.26, 4.32, 4.34, 4.38, 4.43]})
    if with_study:
        table = table.assign(d_stft=[_D_STFT[c.lower()] for c in table.configuration],
                             pesq_wb=[_PESQ[c.lower()] for c in table.configuration])
    return table


def test_figure28_gets_a_minimised_mini_trained_column_once_three_configurations_are_shipped():
    generation = pd.DataFrame({"energy_method": ["estimated:codecarbon-cpu-process-rule"] * 5})
    plain = ws.figure28_panels(ws.thesis_table(), _live_table(False), generation)
    assert list(plain["panels"]) == [ws.PANEL_THESIS, ws.PANEL_LIVE]
    assert "once the equal-budget study" in plain["caption"]
    assert plain["labels"][ws.PANEL_LIVE]["e_gen"] == "E_gen, estimated here (Wh / 100 s)"
    partial = _live_table(True)
    partial.loc[[2, 3, 4], "d_stft"] = np.nan  # only WF1 and WF2 shipped: no front to draw
    assert ws.PANEL_TRAINED not in ws.figure28_panels(ws.thesis_table(), partial, generation)["panels"]
    partial.loc[[2, 3], "d_stft"] = [0.9, 1.0]  # WF5 missing (e.g. its training did not fit in memory)
    four = ws.figure28_panels(ws.thesis_table(), partial, generation)
    assert four["panels"][ws.PANEL_TRAINED]["configuration"].tolist() == ["WF1", "WF2", "WF3", "WF4"]
    assert "WF5 not in the shipped study" in four["caption"] and four["missing"] == ["WF5"]
    assert len(ws.compute_statement_tables(four)["statements"][ws.PANEL_TRAINED]["fronts"]) == 4
    figure = ws.figure28_panels(ws.thesis_table(), _live_table(True), generation)
    assert figure["quality"][ws.PANEL_TRAINED] == "d_stft"
    assert "lower is better" in figure["labels"][ws.PANEL_TRAINED]["quality"]
    fig = ws.plot_figure28(figure["panels"], quality=figure["quality"], labels=figure["labels"])
    axes = np.array(fig.axes).reshape(3, 3)
    assert [ax.yaxis_inverted() for ax in axes[0]] == [False, False, True]  # better is up in every column
    import matplotlib.pyplot as plt

    plt.close(fig)
    summary = ws.compute_statement_tables(figure)
    assert list(summary["tables"]) == ["waveflow-fronts-thesis", "waveflow-fronts-live", "waveflow-fronts-trained",
                                       "waveflow-fronts-trained-pesq"]
    trained = summary["statements"][ws.PANEL_TRAINED]
    # WF1 is the cheapest on every axis and the closest to the reference: it alone is optimal
    assert trained["dominated_in_energy_front"] == ["WF2", "WF3", "WF4", "WF5"]
    thesis = summary["statements"][ws.PANEL_THESIS]
    assert thesis["wf3_dominated_in_training"] and thesis["wf3_dominated_by"] == "WF4"
    assert summary["qualities"] == {ws.PANEL_THESIS: "mos", ws.PANEL_LIVE: "mos", ws.PANEL_TRAINED: "d_stft",
                                    ws.PANEL_TRAINED + ", PESQ-WB": "pesq_wb"}
    overview = ws.compute_fronts_overview(summary["statements"])
    # costs and D_STFT both rise from WF1 to WF5: each configuration is dominated by every cheaper one
    assert len(overview) == 4 * 5 and overview.generation[overview.panel == ws.PANEL_TRAINED].tolist() == [
        "optimal", "dominated by WF1", "dominated by WF1, WF2", "dominated by WF1, WF2, WF3",
        "dominated by WF1, WF2, WF3, WF4"]
    assert summary["gaps"]["pair"].tolist() == ["WF1–WF2", "WF2–WF3", "WF3–WF4", "WF4–WF5"]


def test_the_step_reading_used_is_the_only_supported_one_else_reading_a():
    assert ws.choose_step_reading({"supported": []}) == "reading A (r=96 -> 3M)"
    assert ws.choose_step_reading({"supported": ["reading B (r=96 -> 2M)"]}) == "reading B (r=96 -> 2M)"
    both = {"supported": ["reading A (r=96 -> 3M)", "reading B (r=96 -> 2M)"]}
    assert ws.choose_step_reading(both, default="reading B (r=96 -> 2M)") == "reading B (r=96 -> 2M)"
    with pytest.raises(ValueError, match="reading"):
        ws.choose_step_reading({"supported": []}, default="reading C")


# -- quick mode: one-flow copies ------------------------------------------------------------------------------------
def test_quick_mode_times_a_one_flow_copy_and_says_so():
    copy = ws.time_training_steps("wf1", flows=1, warmup=0)
    model = ws.load_configuration("wf1", 16_000)
    audio, mel = 0.1 * torch.randn(1, 256), torch.rand(1, 80, 1)
    # the configuration's FLOPs (1- and 2-flow counts extrapolated, checked against the direct count above)
    f1, f2 = ws._flow_flops(model, audio, mel)
    assert copy.flows_timed == 1 and copy.flops_per_step == f1 + (model.config.n_flows - 1) * (f2 - f1)
    assert copy.cpu_s_per_step > 0 and copy.to_dict()["flows_timed"] == 1
    table = ws.predict_training_energy([copy, _fake_timing("wf5", 2.0)], cpu_power_model=_FakeCpuPower())
    assert "of a 1-flow copy scaled by counted FLOPs" in table.energy_method.iloc[0]
    assert "copy" not in table.energy_method.iloc[1]
    with pytest.raises(ValueError, match="flows"):
        ws.time_training_steps("wf1", flows=0)
    assert ws.configuration_config("wf3", 16_000, n_flows=1).n_flows == 1
    assert ws.configuration_config("wf3").sample_rate == 22_050 and ws.configuration_config("wf3").n_flows == 8


# -- exercises -----------------------------------------------------------------------------------------------------
def test_chapter_ends_with_three_exercises_numbered_after_its_section():
    import re

    from conftest import ROOT

    cells = json.loads((ROOT / "notebooks" / "04_3_waveflow_study.ipynb").read_text())["cells"]
    tagged = [i for i, c in enumerate(cells) if "exercise" in c["metadata"].get("tags", [])]
    assert tagged == list(range(len(cells) - len(tagged), len(cells)))
    text = "".join("".join(cells[i]["source"]) for i in tagged)
    assert text.startswith("## Exercises")
    # 4.3.2.n: the section's number (4.3.2) and the exercise's; 04_3_pareto's are 4.3.n
    assert re.findall(r"### Exercise (\d+(?:\.\d+)*): ", text) == ["4.3.2.1", "4.3.2.2", "4.3.2.3"]
    solutions = [cells[i] for i in tagged if cells[i]["cell_type"] == "code"]
    assert len(solutions) == 3 and all("hide-cell" in c["metadata"]["tags"] for c in solutions)
