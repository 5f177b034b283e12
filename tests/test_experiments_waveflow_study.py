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

from greenaudio.experiments import waveflow_study as ws


# -- configurations and bad input -----------------------------------------------------------------------------------
def test_configuration_names_are_case_insensitive_and_bad_ones_list_the_valid_ones():
    assert ws.check_configuration("WF3") == "wf3" and ws.check_configuration(" wf3 ") == "wf3"
    assert ws.configuration_for(16, 96) == "wf3" and ws.configuration_for(np.int64(8), 64) == "wf1"
    with pytest.raises(ValueError, match=r"'wf6'.*WF1 \(h=8, r=64\).*WF5 \(h=16, r=256\)"):
        ws.check_configuration("wf6")
    with pytest.raises(ValueError, match=r"\(h, r\) = \(8, 96\).*WF3 \(h=16, r=96\)"):
        ws.configuration_for(8, 96)
    with pytest.raises(ValueError, match="h must be"):
        ws.configuration_for(True, 64)
    with pytest.raises(ValueError, match="wf9"):
        ws.check_configurations(["wf1", "wf9"])


def test_bad_input_is_rejected_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="WF1 \\(h=8, r=64\\)"):  # before any corpus is loaded or model trained
        ws.run_study("quick", ["wf0"], out_root=tmp_path, runs_root=tmp_path, cache_dir=tmp_path / "nothing")
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
    assert ws._training_step_flops(model, audio, mel) == ws._training_step_flops(model, audio, mel, direct=True)


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
    from greenaudio.experiments.artefacts import ArtefactError

    train_set, test_set = _speech(), _speech(2, seed=1)
    table = ws.run_study("quick", ["wf1"], out_root=tmp_path / "out", runs_root=tmp_path / "runs",
                         train_set=train_set, test_set=test_set, progress=False, commit="abc")
    row = table.iloc[0]
    assert row.config == "wf1" and row.steps == 2 and row.n_clips == 1 and math.isfinite(row.d_stft)
    assert row.reproduce == "greenaudio waveflow-study --protocol quick --configs wf1 --budget-s 60"
    record = json.loads((tmp_path / "out" / "quick" / "wf1" / "training.json").read_text())
    assert record["commit"] == "abc" and record["threads"] == 1 and record["device"] == "cpu"
    manifest = ws.verify_study_manifest("quick", tmp_path / "out")
    assert set(manifest.kind) == {"training-record", "curves", "scores"}
    capsys.readouterr()
    again = ws.run_study("quick", ["WF1"], out_root=tmp_path / "out", runs_root=tmp_path / "runs",
                         train_set=train_set, test_set=test_set, progress=False)
    assert "skipped" in capsys.readouterr().out and again.iloc[0].d_stft == row.d_stft
    (tmp_path / "out" / "quick" / "wf1" / "curves.csv").write_text("altered\n")
    with pytest.raises(ArtefactError, match="sha256 mismatch"):
        ws.verify_study_manifest("quick", tmp_path / "out")
    assert ws.load_study_results("quick", tmp_path / "elsewhere").empty
