"""greenaudio.carbon: catalogues and estimators (thesis Eq. 46 and 48)."""

import math

import pandas as pd
import pytest

from greenaudio import carbon


def test_thesis_hardware_is_catalogued_with_sources():
    expected = {"Tesla V100": 300, "Tesla P100": 250, "TITAN V": 250, "GTX TITAN X": 250, "RTX A5000": 230,
                "TITAN X (Pascal)": 250}
    for name, watts in expected.items():
        spec = carbon.get_hardware(name)
        assert spec.max_power_w == watts and spec.kind == "gpu" and spec.source
    for name in ("A100 SXM4 80GB", "H100 SXM5", "H200 SXM", "RTX 3090", "RTX 4090"):
        assert carbon.get_hardware(name).max_power_w > 0
    assert len(carbon.list_hardware("cpu")) >= 4
    assert carbon.get_hardware("nvidia geforce rtx 4090").name == "RTX 4090"  # alias, case-insensitive


def test_grid_and_pue_presets():
    assert carbon.get_grid("thesis-world-2018").kgco2e_per_kwh == 0.437
    assert carbon.get_grid("world-iea-2019").kgco2e_per_kwh == 0.475
    assert carbon.get_grid("world-iea-2024").kgco2e_per_kwh == 0.445
    assert carbon.get_pue("uptime-2018").pue == 1.58
    for name in carbon.list_grids():
        grid = carbon.get_grid(name)
        assert 0 < grid.kgco2e_per_kwh < 1.5 and grid.source
    for name in carbon.list_pues():
        assert carbon.get_pue(name).pue >= 1


def test_worst_case_formula():
    # Eq. 48 without the intensity: g x p_max x t / 1000
    assert carbon.compute_worst_case_energy_kwh("Tesla V100", 256, 72) == pytest.approx(5529.6)
    assert carbon.compute_worst_case_energy_kwh(250.0, 4, 52) == pytest.approx(52.0)
    assert carbon.compute_emissions_kgco2e(81.6) == pytest.approx(35.6592)
    assert carbon.compute_emissions_kgco2e(10, "france") == pytest.approx(0.56039)


def test_strubell_formula():
    # Eq. 46 x t: PUE (p_c + p_r + g p_g) t
    energy = carbon.compute_strubell_energy_kwh(hours=10, gpu_power_w=300, gpu_count=2, cpu_power_w=100,
                                                dram_power_w=20, pue=1.58)
    assert energy == pytest.approx(1.58 * (100 + 20 + 600) * 10 / 1000)
    assert carbon.compute_strubell_energy_kwh(1, "RTX A5000", pue="none") == pytest.approx(0.23)


def test_unit_conversions():
    assert carbon.lbs_to_kg(1) == 0.45359237


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: carbon.get_hardware("GTX 9999"), "unknown hardware 'GTX 9999'; known hardware: .*Tesla V100"),
        (lambda: carbon.get_grid("mars"), "unknown grid 'mars'; known grids: .*france"),
        (lambda: carbon.get_pue("igloo"), "unknown PUE preset 'igloo'"),
        (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", 1, 0), "hours must be a finite number > 0, got 0"),
        (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", 1, -3), "got -3"),
        (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", 0, 3), "device_count must be a positive integer, got 0"),
        (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", 1.5, 3), "got 1.5"),
        (lambda: carbon.compute_worst_case_energy_kwh("Tesla V100", 1, math.nan), "got nan"),
        (lambda: carbon.compute_strubell_energy_kwh(1, 300, pue=0.9), "PUE must be >= 1"),
        (lambda: carbon.compute_emissions_kgco2e(-1), "energy_kwh"),
        (lambda: carbon.list_hardware("tpu"), "'tpu'"),
        (lambda: carbon.compute_training_costs(pd.DataFrame({"model": ["x"]})), "missing column"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
