"""Labels come from the records' provenance: an estimate is never labelled as a measurement, and a figure whose
energies are all estimates says its correlation is one with time."""

import pytest

from greenaudio import measure, plotting
from greenaudio.measure import BenchmarkRecord

CODECARBON = {"power_model": "CodeCarbon 3.3.2 CPU process rule", "tdp_w": 8.0, "logical_cpus": 2,
              "cpu_model": "AMD EPYC", "matched_cpu": None}


def record(method, constants=None, **kw):
    return BenchmarkRecord(model="m", size="small", device="cpu", precision="float32", protocol_key="p",
                           repetition=0, energy_method=method, energy_constants=constants or {}, **kw)


def test_estimated_axis_label_names_the_power_model():
    label = plotting.energy_axis_label([record("estimated:codecarbon-cpu-process", CODECARBON)] * 3)
    assert label == ("E_gen, estimated (CodeCarbon 3.3.2 CPU process rule: TDP 8 W x process CPU time / 2 CPUs; "
                     "CPU 'AMD EPYC' not matched in its table) (J per 100 s of audio)")


def test_measured_axis_label_names_the_sensor():
    assert plotting.energy_axis_label([record("measured:rapl[package,dram]")]) == \
        "E_gen, measured (RAPL package, dram) (J per 100 s of audio)"
    both = record("measured:rapl[package,dram]+measured:nvml-energy-counter")
    assert measure.energy_method_label(both) == "measured (RAPL package, dram + NVML energy counter)"
    assert measure.energy_method_facts(both) == {
        "kind": "measured", "detail": "rapl[package,dram]+measured:nvml-energy-counter",
        "sensors": ["RAPL package, dram", "NVML energy counter"]}


def test_catalogue_estimate_and_prediction_are_labelled():
    c = {"hardware": "EPYC 7763", "max_power_w": 280.0, "utilisation": 0.5, "core_share": 0.25}
    assert measure.energy_method_label(record("estimated:power x time", c)) == \
        "estimated (EPYC 7763 280 W x utilisation 0.5 x core share 0.25 x wall time)"
    facts = measure.energy_method_facts(record("estimated:power x time", c))
    assert (facts["kind"], facts["hardware"], facts["max_power_w"], facts["core_share"]) == \
        ("estimated", "EPYC 7763", 280.0, 0.25)
    assert measure.energy_method_label({"method": "predicted:linear-from-1-of-100-epochs"}) == \
        "predicted (linear-from-1-of-100-epochs)"


def test_power_model_facts_are_the_records_constants():
    facts = measure.energy_method_facts(record("estimated:codecarbon-cpu-process", CODECARBON))
    assert (facts["kind"], facts["power_model"], facts["tdp_w"], facts["logical_cpus"], facts["matched_cpu"]) == \
        ("estimated", "CodeCarbon 3.3.2 CPU process rule", 8.0, 2, None)


def test_mixed_records_list_every_method_and_time_proxy_only_when_all_estimated():
    est, meas = record("estimated:codecarbon-cpu-process", CODECARBON), record("measured:rapl[package]")
    assert " / " in plotting.energy_axis_label([est, meas])
    assert measure.energy_is_time_proxy([est, est]) is True
    assert measure.energy_is_time_proxy([est, meas]) is False
    assert "ESTIMATE proportional to a measured time" in measure.energy_caption_note([est])
    assert "mixes measured and estimated" in measure.energy_caption_note([meas, est])


@pytest.mark.parametrize("method", [None, "", "J", "rapl"])
def test_energy_without_provenance_is_rejected(method):
    with pytest.raises(ValueError, match="no provenance prefix"):
        plotting.energy_axis_label([record(method)])


def test_empty_records_rejected():
    with pytest.raises(ValueError, match="at least one record"):
        plotting.energy_axis_label([])
