"""The shipped int8 table: merged by greenaudio.orchestration.shipping, read back sha256-verified by
greenaudio.quantization.shipped."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from greenaudio.files import upsert_rows
from greenaudio.orchestration import shipping
from greenaudio.quantization import shipped


def _rows(model, size, rtf, audio_s=1.0):
    return pd.DataFrame({"model": [model], "size": [size], "audio_s": [audio_s], "status": ["ok"], "rtf_int8": [rtf],
                         "cpu": ["AMD EPYC"], "versions": ["torch 2.13.0"], "timing": ["median of 1 run(s)"],
                         "threads": [1], "energy_method": ["estimated: test"], "weights": ["fresh initialisation"]})


def test_rows_are_merged_by_configuration_and_clip_and_the_manifest_follows(tmp_path):
    shipping.ship_ptq_results(pd.concat([_rows("hifigan", "small", 0.5), _rows("melgan", "large", 0.9)]), tmp_path,
                             load="load average 1.0 1.0 1.0")
    path = shipping.ship_ptq_results(_rows("hifigan", "small", 0.4), tmp_path)  # re-measured: replaces its row
    table = shipped.load_shipped_ptq(tmp_path)
    # family order of the thesis (MelGAN before HiFi-GAN), one row per (model, size, clip), the newer value kept
    assert table[["model", "size", "rtf_int8"]].values.tolist() == [["melgan", "large", 0.9], ["hifigan", "small", 0.4]]
    manifest = pd.read_csv(tmp_path / "manifest.csv", dtype=str)
    assert manifest["sha256"].tolist() == [hashlib.sha256(path.read_bytes()).hexdigest()]
    assert "2 rows of 2 configurations (melgan large, hifigan small)" in manifest["provenance"][0]
    row = shipped.ptq_provenance(table)
    assert row["method"].startswith("measured: 2 rows of 2 configurations") and "energy estimated: test" in row["method"]
    assert (row["tool"], row["machine"]) == ("torch 2.13.0", "AMD EPYC, 1 thread(s)")


def test_an_altered_shipped_file_is_refused_and_nothing_shipped_reads_empty(tmp_path):
    assert shipped.load_shipped_ptq(tmp_path).empty
    assert shipped.ptq_provenance(shipped.load_shipped_ptq(tmp_path))["method"] == ""
    path = shipping.ship_ptq_results(_rows("melgan", "small", 0.3), tmp_path)
    path.write_text(path.read_text().replace("0.3", "0.1"))
    with pytest.raises(shipped.ShippedPTQError, match="sha256 mismatch"):
        shipped.load_shipped_ptq(tmp_path)


def test_rows_without_the_pipeline_columns_are_rejected_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"lack column\(s\) \['audio_s'"):
        shipping.ship_ptq_results(pd.DataFrame({"model": ["melgan"], "size": ["small"]}), tmp_path)
    assert not (tmp_path / shipped.SHIPPED_PTQ_FILE).exists()


def test_a_configuration_given_twice_keeps_its_later_row_and_the_load_range_is_stated(tmp_path):
    first = _rows("melgan", "small", 0.5).assign(load_1min_start=2.5, load_1min_end=3.0)
    again = _rows("melgan", "small", 0.3).assign(load_1min_start=1.1, load_1min_end=1.25)
    other = _rows("hifigan", "small", 0.7).assign(load_1min_start=None, load_1min_end=None)
    shipping.ship_ptq_results(pd.concat([first, other, again]), tmp_path)
    table = shipped.load_shipped_ptq(tmp_path)
    assert table[["model", "rtf_int8"]].values.tolist() == [["melgan", 0.3], ["hifigan", 0.7]]
    text = pd.read_csv(tmp_path / "manifest.csv")["provenance"][0]  # the manifest row records the machine's load
    assert "1-minute load average 1.10-1.25 during the timings (1 row(s) measured before the load was recorded)" in text


def _bench_script():
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("bench_quantization", ROOT / "scripts" / "bench_quantization.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_resumes_only_configurations_held_under_the_same_settings(tmp_path):
    from greenaudio.quantization.pipeline import _cpu_model, _versions, timing_label

    bench = _bench_script()
    settings = {"threads": 1, "exporter": "torchscript", "calibration_mels": 8, "seed": 0,
                "timing": timing_label(3, 1)}
    row = dict(model="melgan", size="small", status="ok", cpu=_cpu_model(), versions=_versions(), **settings)
    done = pd.DataFrame([{**row, "audio_s": 0.992}, {**row, "audio_s": 10.0},
                         {**row, "size": "large", "audio_s": 0.992, "calibration_mels": 2},
                         {**row, "size": "medium", "audio_s": 0.992, "status": "failed: x"}])
    held = bench._held_rows(done, "melgan", "small", [0.992, 10.0], settings)
    assert held is not None and held.audio_s.tolist() == [0.992, 10.0]
    assert bench._held_rows(done, "melgan", "small", [0.992, 5.0], settings) is None  # a clip not measured yet
    assert bench._held_rows(done, "melgan", "large", [0.992], settings) is None  # other calibration
    assert bench._held_rows(done, "melgan", "medium", [0.992], settings) is None  # failed rows are measured again
    assert bench._held_rows(done, "melgan", "small", [0.992], {**settings, "timing": timing_label(5, 1)}) is None
    done.to_csv(tmp_path / "done.csv", index=False)  # the script's --csv: merged by model, size and clip length
    upsert_rows(tmp_path / "done.csv", list(shipped.PTQ_KEY), [{**row, "audio_s": 10.0, "threads": 2}])
    merged = pd.read_csv(tmp_path / "done.csv")
    assert len(merged) == 4 and merged[merged.audio_s == 10.0].threads.tolist() == [2]  # the 10 s row replaced
