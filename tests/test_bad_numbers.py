"""Counts and numbers are neither silently truncated nor wrongly refused: a non-integer count (8.7 GPUs, "8", True,
NaN) is a ValueError naming the parameter and the value, raised before any work; numpy scalars and other spellings
of a registry or catalogue name give exactly the result of the plain-Python, lower-case input (plain values stored).
Expected values are hand computations from the catalogue's powers (Tesla V100: 300 W)."""

from __future__ import annotations

import math
import types

import numpy as np
import pandas as pd
import pytest
import torch

from greenaudio import carbon


def _runs(gpu_count, hours=10.0) -> pd.DataFrame:
    return pd.DataFrame({"model": ["ok", "bad"], "hardware": ["Tesla V100", "Tesla V100"],
                         "gpu_count": pd.Series([8, gpu_count], dtype=object), "hours": [10.0, hours]})


# -- 6. wrong numbers, silently ---------------------------------------------------------------------------------------
def test_a_fractional_gpu_count_is_refused_not_truncated():
    runs = pd.DataFrame({"model": ["m"], "hardware": ["Tesla V100"], "gpu_count": [8.7], "hours": [10.0]})
    # 8.7 GPUs x 300 W x 10 h would be 26.1 kWh; truncated to 8 it was 24.0: neither, the count is refused
    with pytest.raises(ValueError, match=r"gpu_count must be a positive integer, got 8\.7 \(runs row 0, model 'm'\)"):
        carbon.compute_training_costs(runs)


@pytest.mark.parametrize("bad, shown", [("8", r"'8' of type str"), (True, "True"), (math.nan, "nan"), (0, "0"),
                                        (np.float64(8.0), r"8\.0"), (None, "None")])
def test_bad_gpu_counts_are_named_before_any_row_is_computed(monkeypatch, bad, shown):
    def no_work(*args, **kwargs):
        raise AssertionError("a row was computed before every row was checked")

    monkeypatch.setattr(carbon, "compute_worst_case_energy_kwh", no_work)
    with pytest.raises(ValueError, match=rf"gpu_count must be a positive integer, got {shown}.*row 1, model 'bad'"):
        carbon.compute_training_costs(_runs(bad))


@pytest.mark.parametrize("bad", [math.nan, -1.0, "10", True])
def test_bad_hours_in_a_table_are_named(bad):
    with pytest.raises(ValueError, match=r"hours must be a finite number > 0, got .*row 1, model 'bad'"):
        carbon.compute_training_costs(_runs(8, hours=bad))


@pytest.mark.parametrize("call, match", [
    (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", 2.0, 1), r"device_count must be a positive integer, "
                                                                         r"got 2\.0"),
    (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", "2", 1), r"device_count .* got '2' of type str"),
    (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", True, 1), r"device_count .* got True"),
    (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", np.bool_(True), 1), r"device_count .* got True"),
    (lambda: carbon.compute_strubell_energy_kwh(1, 300, gpu_count=np.float64(1.5)), r"gpu_count .* got 1\.5"),
    (lambda: carbon.compute_strubell_energy_kwh(1, 300, gpu_count="4"), r"gpu_count .* got '4' of type str"),
    (lambda: carbon.compute_strubell_energy_kwh(np.float32("nan"), 300), r"hours must be a finite number > 0, got nan"),
])
def test_every_count_of_the_carbon_estimators_is_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- 7. rejected good input -------------------------------------------------------------------------------------------
def test_numpy_scalars_give_exactly_the_plain_python_result():
    # hand values: 2 x 300 W x 1.5 h = 0.9 kWh; 1.5 x (50 + 4 x 250) W x 2 h = 3.15 kWh; 2 kWh x 0.5 = 1 kgCO2e
    plain = carbon.compute_worst_case_energy_kwh("Tesla V100", 2, 1.5)
    assert plain == pytest.approx(0.9, rel=1e-12)
    assert carbon.compute_worst_case_energy_kwh("Tesla V100", np.int64(2), np.float32(1.5)) == plain
    assert carbon.compute_worst_case_energy_kwh(np.float32(300.0), np.int32(2), 1.5) == plain
    strubell = carbon.compute_strubell_energy_kwh(2.0, 250.0, 4, 50.0, pue=1.5)
    assert strubell == pytest.approx(3.15, rel=1e-12)
    assert carbon.compute_strubell_energy_kwh(np.float32(2.0), np.float32(250.0), np.int64(4), np.float32(50.0),
                                              pue=np.float32(1.5)) == strubell
    assert carbon.compute_emissions_kgco2e(np.float32(2.0), np.float32(0.5)) == 1.0


def test_a_table_with_numpy_counts_gives_the_hand_computed_energy():
    runs = pd.DataFrame({"model": ["m"], "hardware": ["Tesla V100"], "gpu_count": np.array([8], dtype=np.int32),
                         "hours": np.array([10.0], dtype=np.float32)})
    row = carbon.compute_training_costs(runs, grid=0.5).iloc[0]
    assert row["energy_kwh"] == pytest.approx(24.0, rel=1e-12)  # 8 x 300 W x 10 h
    assert row["emissions_kgco2e"] == pytest.approx(12.0, rel=1e-12)
    assert type(carbon.compute_training_costs(runs)["gpu_count"].tolist()[0]) is int


def test_grid_and_pue_names_are_case_insensitive_and_give_the_lower_case_result():
    assert carbon.get_grid("France") == carbon.get_grid("france")
    assert carbon.get_grid(" FRANCE ").name == "france"
    assert carbon.get_pue("NONE") == carbon.get_pue("none") and carbon.get_pue("NONE").pue == 1.0
    runs = pd.DataFrame({"model": ["m"], "hardware": ["Tesla V100"], "gpu_count": [8], "hours": [10.0]})
    pd.testing.assert_frame_equal(carbon.compute_training_costs(runs, grid="France", pue="NONE"),
                                  carbon.compute_training_costs(runs, grid="france", pue="none"))
    assert list(carbon.iter_grid_scenarios(["France"], ["NONE"])) == [("france", "none")]
    assert carbon.list_hardware("GPU") == carbon.list_hardware("gpu")
    with pytest.raises(ValueError, match="unknown grid 'Mars'; known grids: .*france"):
        carbon.get_grid("Mars")


def test_train_config_accepts_numpy_scalars_and_stores_plain_values():
    from greenaudio.training import TrainConfig

    config = TrainConfig("run", max_steps=np.int64(5), seed=np.int64(3), batch_size=np.int32(2),
                         max_time_s=np.float32(2.5), num_workers=np.int64(0), discriminator_start_step=np.int64(1))
    assert config.to_dict() == TrainConfig("run", max_steps=5, seed=3, batch_size=2, max_time_s=2.5, num_workers=0,
                                           discriminator_start_step=1).to_dict()
    assert all(type(getattr(config, f)) is int for f in ("max_steps", "seed", "batch_size", "num_workers",
                                                          "discriminator_start_step"))
    assert type(config.max_time_s) is float
    for bad in ({"max_steps": 5.0}, {"max_steps": True}, {"max_steps": "5"}, {"max_steps": 1, "num_workers": True},
                {"max_time_s": math.nan}):
        name = next(iter(bad)) if len(bad) == 1 else "num_workers"
        with pytest.raises(ValueError, match=rf"{name} must be"):
            TrainConfig("run", **bad)


def test_benchmark_repetition_accepts_a_numpy_integer_and_records_a_plain_int():
    from greenaudio.measure import Protocol, benchmark_model

    tiny = Protocol(n_clips=1, clip_duration_s=0.05, repeats=1, warmup=0, flop_clip_s=0.05, idle_window_s=0)

    def vocoder(mel):
        return torch.zeros(mel.shape[0], mel.shape[-1] * 16)

    kwargs = dict(name="zeros", hop_length=np.int64(16), sample_rate=np.int64(16000), protocol=tiny,
                  energy_mode="estimated", hardware="Xeon Gold 5220R", with_flops=False)
    rec = benchmark_model(vocoder, repetition=np.int64(3), **kwargs)
    assert rec.repetition == 3 and type(rec.repetition) is int and rec.status == "ok"
    assert rec.audio_s_per_run == benchmark_model(vocoder, repetition=3, **{**kwargs, "hop_length": 16,
                                                                            "sample_rate": 16000}).audio_s_per_run
    with pytest.raises(ValueError, match="repetition must be an integer >= 0, got True"):
        benchmark_model(vocoder, repetition=True, **kwargs)


def test_wavegrad_steps_accept_a_numpy_integer_as_the_same_procedure(monkeypatch):
    from greenaudio import vocoders

    model = vocoders.load("wavegrad", "small").eval()
    assert model.resolve_procedure(steps=np.int64(6)) == model.resolve_procedure(steps=6) == {
        "steps": 6, "schedule": "fast", "clamp": "predicted_clean"}
    assert type(model.resolve_procedure(steps=np.int32(50))["steps"]) is int
    seen = []  # what the sampler receives (running it takes seconds; the procedure is all that differs)
    monkeypatch.setattr(model, "_generate", lambda mel, **kw: seen.append(kw) or torch.zeros(1, 2 * model.hop_length))
    for steps in (np.int64(6), 6):
        assert model.generate(torch.zeros(1, 80, 2), steps=steps).procedure == {
            "steps": 6, "schedule": "fast", "clamp": "predicted_clean"}
    assert seen[0] == seen[1] and type(seen[0]["steps"]) is int
    for bad in (True, 6.0, "6", 7):
        with pytest.raises(ValueError, match=r"steps=.* is not valid; choose one of \[6, 50\]"):
            model.resolve_procedure(steps=bad)


def test_bench_and_train_accept_model_names_in_any_case(tmp_path, monkeypatch):
    from greenaudio.cli import main
    from greenaudio.orchestration import bench, zoo

    assert bench.plan_grid(["HiFiGAN"], ["small"]) == bench.plan_grid(["hifigan"], ["small"]) == [
        ("hifigan", "small", "cpu", "float32", 0)]
    seen = {}

    def fake_run_grid(models, sizes, **kwargs):
        seen["cells"] = bench.plan_grid(models, sizes, devices=kwargs["devices"], precisions=kwargs["precisions"],
                                        protocol=kwargs["protocol"], repetitions=kwargs["repetitions"])
        return types.SimpleNamespace(records=[], computed=[], failed=[], skipped=[])

    monkeypatch.setattr(bench, "run_bench_grid", fake_run_grid)
    assert main(["bench", "--models", "HiFiGAN", "MELGAN", "--sizes", "small", "--quick", "--no-flops",
                 "--store", str(tmp_path / "s.sqlite"), "--no-progress"]) == 0
    assert [c[:2] for c in seen["cells"]] == [("hifigan", "small"), ("melgan", "small")]

    monkeypatch.setattr(zoo, "train_zoo", lambda protocol, **kw: seen.update(train=kw["models"]))
    assert main(["train", "--protocol", "quick", "--models", "HiFiGAN", "WaveGlow", "--sizes", "small",
                 "--runs", str(tmp_path / "runs")]) == 0
    assert seen["train"] == ["hifigan", "waveglow"]
    assert main(["train", "--protocol", "quick", "--models", "nope", "--runs", str(tmp_path / "runs")]) == 2


def test_energy_config_takes_numpy_scalars_as_plain_numbers():
    from greenaudio.training.config import EnergyConfig

    cfg = EnergyConfig(epochs_before_pred=np.int64(2), total_epochs=np.int32(10), pue=np.float32(1.5))
    assert (cfg.epochs_before_pred, cfg.total_epochs, cfg.pue) == (2, 10, 1.5)
    assert type(cfg.epochs_before_pred) is int and type(cfg.pue) is float
    for bad in ({"epochs_before_pred": 1.5}, {"total_epochs": True}, {"pue": float("nan")}, {"pue": "1.2"}):
        with pytest.raises(ValueError, match=list(bad)[0]):
            EnergyConfig(**bad)


def test_diffusion_steps_accept_numpy_integers_and_schedule_names_any_case():
    from greenaudio.vocoders.diffusion_common import resolve_schedule_choice

    available = {"fast": 6, "base": 50}
    assert resolve_schedule_choice(np.int64(6), None, available) == (6, "fast")
    assert type(resolve_schedule_choice(np.int64(50), None, available)[0]) is int
    assert resolve_schedule_choice(None, "BASE", available) == (50, "base")
    with pytest.raises(ValueError, match="steps=7"):
        resolve_schedule_choice(7, None, available)
    with pytest.raises(ValueError, match="steps=6.0"):
        resolve_schedule_choice(6.0, None, available)
