"""Training energy: per-epoch records, a measurement-harness hook, and carbontracker's offline prediction."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import pytest
import torch

from greenaudio.training import EnergyConfig, TrainConfig, train
from greenaudio.training.energy import compute_linear_prediction_kwh
from test_training_toys import ToyData, build_toy

torch.set_num_threads(1)


def _cfg(tmp_path, **kw):
    base = dict(run_dir=str(tmp_path / "run"), seed=0, batch_size=4, checkpoint_every_steps=None,
                checkpoint_every_s=None, progress=False)
    base.update(kw)
    return TrainConfig(**base)


class FakeTracker:
    """Constant 50 W 'tracker' following the EpochEnergyTracker protocol."""

    def __init__(self):
        self.calls, self.closed = [], False

    def epoch_start(self):
        self.calls.append("start")

    def epoch_end(self, *, complete, total_epochs, total_epochs_source=""):
        self.calls.append((complete, total_epochs, total_epochs_source))
        return {"energy_kwh": 50 * 1.0 / 3.6e6, "duration_s": 1.0, "prediction": None, "method": "synthetic"}

    def close(self):
        self.closed = True


@dataclass
class Reading:
    energy_j: float = 0.0
    method: str = "synthetic"


def test_fake_tracker_and_energy_window_hook(tmp_path):
    windows = []

    @contextlib.contextmanager
    def window():
        reading = Reading()
        windows.append(reading)
        yield reading
        reading.energy_j = 12.5  # filled on exit, like a real harness

    tracker = FakeTracker()
    r = train(build_toy("toyflow"), ToyData(16), ToyData(4), _cfg(tmp_path, max_steps=10),
              energy=tracker, energy_window=window)
    # 4 steps per epoch: two complete epochs and a partial third (budget hit at step 10); N = ceil(10 / 4) = 3
    assert tracker.calls == ["start", (True, 3, "max_steps"), "start", (True, 3, "max_steps"),
                             "start", (False, 3, "max_steps")]
    assert [e["complete"] for e in r.epoch_energy] == [True, True, False]
    assert all(e["window"] == {"energy_j": 12.5, "method": "synthetic"} for e in r.epoch_energy)
    assert len(windows) == 3
    saved = json.loads((tmp_path / "run" / "energy.json").read_text())
    assert saved["epochs"][0]["method"] == "synthetic" and saved["prediction"] is None


def test_carbontracker_offline_prediction_is_the_formula_value(tmp_path):
    pytest.importorskip("carbontracker")
    from carbontracker import constants

    pue_before, ci_before = constants.PUE_2023, constants.WORLD_AVG_CARBON_INTENSITY
    watts, pue, ci = 230.0, 1.0, 437.0  # thesis Eq. 48 setting: A5000 TDP-like constant power, 0.437 kg/kWh
    energy = EnergyConfig(components="gpu", sim_gpu_name="Simulated RTX A5000", sim_gpu_watts=watts,
                          sim_gpu_util=1.0, update_interval_s=0.05, epochs_before_pred=2, pue=pue,
                          intensity_g_per_kwh=ci, intensity_source="thesis Eq. 48")
    model = build_toy("toyflow", sleep_s=0.05)
    r = train(model, ToyData(16), ToyData(4), _cfg(tmp_path, max_epochs=3), energy=energy)
    assert len(r.epoch_energy) == 3 and all(e["complete"] for e in r.epoch_energy)
    for e in r.epoch_energy:  # E_epoch = P x t x PUE
        assert e["energy_j"] == pytest.approx(watts * e["duration_s"] * pue, rel=1e-9)
        assert e["components"][0]["handler"] == "SimulatedGPUHandler" and not e["generic_cpu_fallback"]
    p = r.energy_prediction
    assert p["method"] == "predicted:linear-from-k-of-N-epochs"
    assert p["method_detail"] == "predicted:linear-from-2-of-3-epochs"
    assert (p["epochs_measured"], p["epochs_total"], p["epochs_total_source"]) == (2, 3, "max_epochs")
    expected_kwh = 3 * watts * pue * sum(p["epoch_durations_s"]) / 2 / 3.6e6
    assert p["energy_kwh"] == pytest.approx(expected_kwh, rel=1e-9)  # carbontracker's printed value (15 decimals)
    assert p["crosscheck_kwh"] == pytest.approx(compute_linear_prediction_kwh(p["epoch_energies_kwh"], 3), rel=1e-12)
    assert p["emissions_gco2e"] == pytest.approx(expected_kwh * ci, rel=1e-9)
    assert p["tool"] == "carbontracker" and p["tool_version"].startswith("2.")
    assert p["pue"] == pue and p["intensity_g_per_kwh"] == ci and p["intensity_source"] == "thesis Eq. 48"
    assert p["host_type"] in ("bare metal", "virtual machine", "container", "container in virtual machine", "unknown")
    assert "simulated" in p["notes"]
    assert json.loads((tmp_path / "run" / "energy.json").read_text())["prediction"]["energy_kwh"] == p["energy_kwh"]
    # offline patches undone
    assert (constants.PUE_2023, constants.WORLD_AVG_CARBON_INTENSITY) == (pue_before, ci_before)
