"""The shipped plain-vs-prepared speed file (``greenaudio.chapters.inference_speed``): its sha256 manifest, the models
page's tables and roofline facts, and ``scripts/bench_inference.py``'s resumable merge and never-silent rows.

Expected values are independent of the code under test: sha256 and sizes from ``hashlib`` on the files' bytes,
hand-made rows whose order and roofline membership are read off by eye.
"""

import hashlib
import importlib.util
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from greenaudio.chapters import inference_speed
from greenaudio.orchestration import shipping

SPEED_DIR = Path(inference_speed.__file__).resolve().parents[1] / "resources" / "speed"
SHIPPED = SPEED_DIR / "inference_prepared_cpu.csv"
ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_inference", ROOT / "scripts" / "bench_inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest() -> pd.DataFrame:
    return pd.read_csv(SPEED_DIR / "manifest.csv", keep_default_na=False)


# -- manifest ----------------------------------------------------------------------------------------------------------
def test_shipped_manifest_matches_the_shipped_files():
    manifest = _manifest()
    assert list(manifest.columns) == ["path", "bytes", "sha256", "provenance", "reproduce"]
    assert sorted(manifest.path) == sorted(p.name for p in SPEED_DIR.glob("*.csv") if p.name != "manifest.csv")
    row = manifest.set_index("path").loc[SHIPPED.name]
    data = SHIPPED.read_bytes()
    assert row["sha256"] == hashlib.sha256(data).hexdigest() and int(row["bytes"]) == len(data)
    rows = pd.read_csv(SHIPPED)
    for value in (rows.device.iloc[0], rows.torch_version.iloc[0], f"{len(rows)} rows"):
        assert str(value) in row["provenance"]
    assert row["reproduce"].startswith("python scripts/bench_inference.py")
    assert len(inference_speed.load_inference_speed()) == len(rows)  # the verified load reads the shipped file


def test_tampered_copy_fails_with_both_hashes(tmp_path):
    shutil.copy(SPEED_DIR / "manifest.csv", tmp_path / "manifest.csv")
    copy = tmp_path / SHIPPED.name
    shutil.copy(SHIPPED, copy)
    assert len(inference_speed.load_inference_speed(copy)) == len(pd.read_csv(SHIPPED))  # untouched: accepted
    frame = pd.read_csv(SHIPPED)
    first = frame.time_s.first_valid_index()
    frame.loc[first, "time_s"] = frame.loc[first, "time_s"] / 2  # one number halved
    frame.to_csv(copy, index=False)
    shipped_hash = hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    tampered_hash = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert shipped_hash != tampered_hash
    with pytest.raises(inference_speed.SpeedManifestError) as info:
        inference_speed.load_inference_speed(copy)
    message = str(info.value)
    assert str(copy) in message and shipped_hash in message and tampered_hash in message
    assert isinstance(info.value, ValueError)


def test_manifest_must_list_the_shipped_file_but_not_a_users_own(tmp_path):
    csv = tmp_path / "mine.csv"
    shutil.copy(SHIPPED, csv)
    assert len(inference_speed.load_inference_speed(csv)) > 0  # no manifest beside it: a CSV of your own
    (tmp_path / "manifest.csv").write_text("path,bytes,sha256,provenance,reproduce\nother.csv,1,00,x,y\n")
    assert inference_speed.verify_speed_file(csv, required=False) == hashlib.sha256(csv.read_bytes()).hexdigest()
    with pytest.raises(inference_speed.SpeedManifestError, match="does not list mine.csv"):
        inference_speed.verify_speed_file(csv)


def test_write_speed_manifest_hashes_each_file_atomically(tmp_path):
    text = ("model,size,duration_s,variant,time_s,device,threads,cpu_affinity,torch_version,onnxruntime_version,"
            "date_utc,command\nmelgan,small,1.0,plain,0.5,Test CPU (2 logical CPUs),1,0,9.9,1.0,2026-01-01T00:00:00Z,"
            "x\n")
    (tmp_path / "a.csv").write_text(text)
    path = shipping.write_speed_manifest(tmp_path, {"a.csv": "python scripts/bench_inference.py --replay"})
    row = pd.read_csv(path, keep_default_na=False).iloc[0]
    assert row["path"] == "a.csv" and int(row["bytes"]) == len(text.encode())
    assert row["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert "Test CPU (2 logical CPUs)" in row["provenance"] and "torch 9.9" in row["provenance"]
    assert "1 rows (1 timed)" in row["provenance"] and "melgan small 1.00 s" in row["provenance"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "manifest.csv"]  # no temporary left behind


# -- tables and facts -----------------------------------------------------------------------------------------------
def _frame(rows):
    base = {"time_s": 1.0, "rtf": 1.0, "speedup_vs_plain": 1.0, "peak_rss_mb": 100.0, "device": "cpu",
            "threads": 1, "cpu_affinity": "0", "torch_version": "x", "date_utc": "d", "command": "c",
            "achieved_gflops_per_s": 1.0, "peak_gflops_per_s": 10.0}
    return inference_speed.with_status(pd.DataFrame([{**base, **r} for r in rows]))


def test_table_groups_by_duration_then_zoo_order_with_sizes_and_reasons():
    frame = _frame([
        {"model": "waveglow", "size": "large", "duration_s": 1.0, "variant": "plain", "roofline_fraction": 0.3},
        {"model": "melgan", "size": "large", "duration_s": 10.0, "variant": "plain", "roofline_fraction": 0.3},
        {"model": "melgan", "size": "medium", "duration_s": 1.0, "variant": "prepared-torch",
         "roofline_fraction": 0.3},
        {"model": "melgan", "size": "medium", "duration_s": 1.0, "variant": "plain", "roofline_fraction": 0.3},
        {"model": "melgan", "size": "small", "duration_s": 10.0, "variant": "prepared-compile", "time_s": None,
         "status": "unavailable", "reason": "no C++ compiler found"},
    ])
    table = inference_speed.inference_speed_table(frame)
    got = list(zip(table["audio (s)"], table["model"], table["size"], table["variant"]))
    assert got == [(1.0, "melgan", "medium", "plain"), (1.0, "melgan", "medium", "prepared-torch"),
                   (1.0, "waveglow", "large", "plain"), (10.0, "melgan", "small", "prepared-compile"),
                   (10.0, "melgan", "large", "plain")]
    assert "fraction of peak" in table.columns
    assert table["status"].tolist() == ["", "", "", "unavailable: no C++ compiler found", ""]
    assert set(inference_speed.inference_speed_formats(table)) <= set(table.columns)


def test_roofline_facts_count_configurations_within_2x():
    frame = _frame([
        {"model": "melgan", "size": "small", "duration_s": 1.0, "variant": "plain", "roofline_fraction": 0.2},
        {"model": "melgan", "size": "small", "duration_s": 1.0, "variant": "prepared-onnxruntime",
         "roofline_fraction": 0.62},
        {"model": "diffwave", "size": "large", "duration_s": 10.0, "variant": "plain", "roofline_fraction": 0.49},
        {"model": "waveflow", "size": "medium", "duration_s": 1.0, "variant": "prepared-torch",
         "roofline_fraction": 0.5},
        {"model": "waveflow", "size": "medium", "duration_s": 1.0, "variant": "prepared-compile", "time_s": None,
         "roofline_fraction": None, "status": "compile-timeout"},
    ])
    # best variant per configuration: melgan small 0.62, waveflow medium 0.5 (at the bound: within), diffwave 0.49
    facts = inference_speed.roofline_facts(frame)
    assert facts == {"configurations": 3, "near": 0.5, "within": 2, "best_fraction": 0.62, "worst_fraction": 0.49}
    assert inference_speed.roofline_facts(frame, near=0.7)["within"] == 0
    with pytest.raises(ValueError, match="near"):
        inference_speed.roofline_facts(frame, near=0.0)


def test_speedup_table_one_row_per_configuration_with_each_variant_against_plain():
    frame = _frame([
        {"model": "waveglow", "size": "small", "duration_s": 1.0, "variant": "plain", "time_s": 2.0, "rtf": 2.0,
         "gflops": 40.0, "roofline_fraction": 0.4, "peak_rss_mb": 300.0},
        {"model": "waveglow", "size": "small", "duration_s": 1.0, "variant": "prepared-torch", "time_s": 1.0,
         "rtf": 1.0, "gflops": 30.0, "roofline_fraction": 0.6, "peak_rss_mb": 350.0},
        {"model": "waveglow", "size": "small", "duration_s": 1.0, "variant": "prepared-onnxruntime", "time_s": 4.0,
         "rtf": 4.0, "gflops": 40.0, "roofline_fraction": 0.2, "peak_rss_mb": 500.0},
        {"model": "waveglow", "size": "small", "duration_s": 1.0, "variant": "prepared-compile", "time_s": None,
         "status": "unavailable", "reason": "no compiler"},
        {"model": "melgan", "size": "large", "duration_s": 1.0, "variant": "plain", "time_s": 0.5, "rtf": 0.5,
         "gflops": 5.0, "roofline_fraction": 0.3},
    ])
    table = inference_speed.speedup_table(frame)
    assert list(table.configuration) == ["MelGAN large", "WaveGlow small"]  # the zoo's order
    row = table.set_index("model").loc["waveglow"]
    assert (row.rtf_plain, row.speedup_torch, row.speedup_onnxruntime) == (2.0, 2.0, 0.5)  # 2 / 1 and 2 / 4
    assert math.isnan(row.speedup_compile) and row.untimed == "prepared-compile (unavailable)"
    assert row.best_variant == "prepared-torch" and row.best_fraction_of_peak == 0.6
    assert (row.gflops_plain, row.gflops_prepared) == (40.0, 30.0)
    assert (row.peak_rss_plain_mb, row.peak_rss_torch_mb, row.peak_rss_onnxruntime_mb) == (300.0, 350.0, 500.0)
    melgan = table.set_index("model").loc["melgan"]
    assert math.isnan(melgan.speedup_torch) and melgan.best_variant == "plain"
    assert set(inference_speed.SPEEDUP_MAIN) <= set(table.columns) and len(inference_speed.SPEEDUP_MAIN) <= 7
    assert all("_" not in inference_speed.SPEEDUP_LABELS[c] for c in table.columns if c not in ("model", "size"))


def test_provenance_row_is_read_from_the_rows_columns():
    frame = _frame([{"model": "melgan", "size": "small", "duration_s": 1.0, "variant": "plain",
                     "date_utc": "2026-11-26T19:32:20Z", "timing_method": "min of 2", "onnxruntime_version": "1.3"},
                    {"model": "melgan", "size": "small", "duration_s": 1.0, "variant": "prepared-torch",
                     "date_utc": "2026-11-27T01:00:00Z", "timing_method": "min of 2", "onnxruntime_version": "1.3"}])
    row = inference_speed.inference_speed_provenance(frame)
    assert set(row) == {"quantity", "method", "tool", "machine", "when"}
    assert row["machine"] == "cpu, core(s) 0, 1 thread(s)" and row["tool"] == "torch x, ONNX Runtime 1.3"
    assert row["when"] == "2026-11-26 to 2026-11-27 (UTC)"
    assert row["method"].startswith("measured: min of 2;") and "compute roof" in row["method"]


# -- bench script: resume, merge, never-silent rows --------------------------------------------------------------------
SETTINGS = {"device": "CPU (2 logical CPUs)", "threads": 1, "repeats": 2, "torch_version": "2",
            "onnxruntime_version": "1"}


def _row(**kw):
    row = {"model": "melgan", "size": "small", "duration_s": "0.992", "variant": "plain", "time_s": "0.5",
           "peak_rss_mb": "", "status": "measured", **{k: str(v) for k, v in SETTINGS.items()}}
    return {**row, **kw}


def _timed(model, variant, time_s, gflops, peak=40.0, size="small", seconds=1.0):
    return {"model": model, "size": size, "duration_s": seconds, "variant": variant, "time_s": time_s,
            "gflops": gflops, "peak_gflops_per_s": peak, "peak_rss_mb": 300.0, "status": "measured", "reason": ""}


def test_speed_targets_are_judged_against_the_ceiling_at_the_compute_roof():
    rows = pd.DataFrame([
        # DiffWave: plain 10 s for 200 GFLOP at a 40 GFLOP/s roof (0.5 of it); prepared 8 s for 100 GFLOP:
        # 1.25x, missed (target 1.5); at the roof 100 GFLOP take 2.5 s, so the ceiling is 10 / 2.5 = 4x
        _timed("diffwave", "plain", 10.0, 200.0), _timed("diffwave", "prepared-torch", 8.0, 100.0),
        _timed("diffwave", "prepared-onnxruntime", 9.0, 100.0),
        # WaveFlow: plain 10 s for 360 GFLOP (0.9 of the roof), same FLOPs prepared in 9 s: 1.11x; the ceiling is
        # 10 / (360 / 40) = 1.11x < 1.5: out of reach
        _timed("waveflow", "plain", 10.0, 360.0), _timed("waveflow", "prepared-torch", 9.0, 360.0),
        # MelGAN: 1.25x >= 1.2: met
        _timed("melgan", "plain", 1.0, 10.0), _timed("melgan", "prepared-onnxruntime", 0.8, 10.0),
        # a variant that was not timed plays no part; a configuration without a prepared timing has no row
        {**_timed("melgan", "prepared-compile", float("nan"), float("nan")), "status": "failed", "reason": "x"},
        _timed("hifigan", "plain", 1.0, 10.0),
    ])
    table = inference_speed.speed_target_table(rows).set_index("model")
    assert list(table.index) == ["melgan", "diffwave", "waveflow"]  # the zoo's order
    assert table.loc["diffwave", "best variant"] == "prepared-torch"
    assert table.loc["diffwave", "speed-up"] == pytest.approx(1.25)
    assert table.loc["diffwave", "ceiling"] == pytest.approx(4.0)
    assert table.loc["diffwave", "plain fraction of peak"] == pytest.approx(0.5)
    assert table.loc["diffwave", "FLOPs removed"] == pytest.approx(0.5)
    assert not table.loc["diffwave", "met"] and table.loc["diffwave", "verdict"] == "missed, within reach"
    assert table.loc["waveflow", "ceiling"] == pytest.approx(10 / 9)
    assert table.loc["waveflow", "verdict"] == "missed, out of reach"
    assert table.loc["melgan", "met"] and table.loc["melgan", "verdict"] == "met"
    assert table.loc["melgan", "configuration"] == "MelGAN small"
    counts = inference_speed.speed_target_counts(table.reset_index())
    assert counts == {"configurations": 3, "met": 1, "missed": 2, "out_of_reach": 1, "within_reach": 1}
    assert inference_speed.speed_target_counts(table.iloc[:0])["configurations"] == 0
    assert inference_speed.speed_target_table(rows.iloc[-1:]).empty


def test_resume_reuses_only_rows_measured_under_the_same_settings_on_this_machine():
    bench = _bench()

    def done(row, **kw):
        options = {"rss": False, "rss_only": False, "rss_method": "m", "compile_timeout_s": 100.0, **kw}
        return bench._is_done(row, SETTINGS, **options)

    assert done(_row())
    assert done(_row(status=""))  # a file from before the status column: timed means measured
    assert not done(None)
    assert not done(_row(device="Other CPU (64 logical CPUs)"))
    assert not done(_row(repeats="3")) and not done(_row(threads="2")) and not done(_row(torch_version="3"))
    assert not done(_row(), rss=True) and done(_row(peak_rss_mb="300"), rss=True)
    assert not done(_row(status="failed")) and not done(_row(status="unavailable", time_s=""))
    assert done(_row(status="compile-timeout", compile_s="100", time_s=""))
    assert not done(_row(status="compile-timeout", compile_s="100", time_s=""), compile_timeout_s=600.0)
    rss = _row(time_s="", status="", repeats="", peak_rss_mb="300", rss_method="m")
    assert done(rss, rss_only=True) and not done(rss, rss_only=True, rss_method="other")


def test_merge_replaces_timing_keeps_rss_and_commands(tmp_path):
    bench = _bench()
    path = tmp_path / "s.csv"
    bench._write_csv([_row(variant="prepared-compile", peak_rss_mb="300", command="A", compile_s="50")], path)
    failed = {c: None for c in bench._TIMED_COLUMNS}
    failed.update(_row(variant="prepared-compile", command="B"), time_s=None, status="failed", reason="boom",
                  peak_rss_mb=None)
    bench._write_csv([failed], path)
    row = pd.read_csv(path, keep_default_na=False).iloc[0]
    assert row["status"] == "failed" and row["reason"] == "boom"
    assert row["time_s"] == "" and row["compile_s"] == ""  # the old timing does not survive a failed re-run
    assert str(row["peak_rss_mb"]) == "300" and row["command"] == "A ; B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


def test_bench_run_writes_unavailable_rows_resumes_and_prints_the_table(tmp_path, monkeypatch, capsys):
    bench = _bench()
    from greenaudio.vocoders import base

    monkeypatch.setattr(base, "_backend_problems", lambda: {"compile": "no C++ compiler found (test)"})
    monkeypatch.setattr(bench, "measure_peak_gflops", lambda repeats=5: 10.0)  # a fixed roof: no 2048^2 matmuls
    monkeypatch.setattr(bench, "_count_gflops", lambda model, variant, frames: 0.5)  # FlopCounterMode imports dynamo
    path = tmp_path / "run.csv"
    argv = ["--models", "melgan", "--sizes", "small", "--durations", "0.05", "--repeats", "1", "--backends", "torch",
            "compile", "--csv", str(path)]
    assert bench.main(argv) == 0
    rows = pd.read_csv(path, keep_default_na=False).set_index("variant")
    assert sorted(rows.index) == ["plain", "prepared-compile", "prepared-torch"]
    assert rows.loc["prepared-compile", "status"] == "unavailable"
    assert rows.loc["prepared-compile", "reason"] == "no C++ compiler found (test)"
    assert rows.loc["prepared-compile", "time_s"] == "" and float(rows.loc["plain", "speedup_vs_plain"]) == 1.0
    for variant in ("plain", "prepared-torch"):  # GFLOP/s and roof fraction from the (fixed) FLOPs and roof
        r = rows.loc[variant]
        assert float(r["achieved_gflops_per_s"]) == pytest.approx(0.5 / float(r["time_s"]))
        assert float(r["roofline_fraction"]) == pytest.approx(0.5 / float(r["time_s"]) / 10.0)
    assert "--backends torch compile" in rows.loc["plain", "command"]
    out = capsys.readouterr().out
    assert "fraction of peak" in out and "unavailable: no C++ compiler found (test)" in out

    def no_run(*args, **kwargs):
        raise AssertionError("re-measured a configuration the CSV already holds")

    monkeypatch.setattr(bench, "_run", no_run)
    before = pd.read_csv(path, keep_default_na=False)
    assert bench.main(argv) == 0
    assert "already measured" in capsys.readouterr().out
    after = pd.read_csv(path, keep_default_na=False)
    pd.testing.assert_frame_equal(before.drop(columns="date_utc"), after.drop(columns="date_utc"))


def test_replay_reruns_each_recorded_command_once_then_writes_the_manifest(tmp_path, monkeypatch):
    bench = _bench()
    one = "taskset -c 0 python scripts/bench_inference.py --sizes small --durations 1 --csv x.csv"
    two = "taskset -c 0 python scripts/bench_inference.py --models waveflow --rss-only --csv x.csv"
    header = ("model,size,duration_s,variant,time_s,device,threads,cpu_affinity,torch_version,onnxruntime_version,"
              "date_utc,command\n")
    body = "".join(f'{m},small,1.0,plain,0.5,CPU,1,0,2,1,d,"{c}"\n'
                   for m, c in [("melgan", one), ("waveflow", f"{one} ; {two}"), ("hifigan", one)])
    (tmp_path / "inference_prepared_cpu.csv").write_text(header + body)
    ran = []
    monkeypatch.setattr(bench, "_ship_dir", lambda: tmp_path)
    monkeypatch.setattr(bench.subprocess, "run", lambda argv, **kw: ran.append(argv))
    assert bench._replay() == 0
    script = str(ROOT / "scripts" / "bench_inference.py")
    assert [a[:4] for a in ran] == [["taskset", "-c", "0", bench.sys.executable]] * 2
    assert [a[4:] for a in ran] == [[script, "--sizes", "small", "--durations", "1", "--csv", "x.csv", "--force"],
                                    [script, "--models", "waveflow", "--rss-only", "--csv", "x.csv", "--force"]]
    row = pd.read_csv(tmp_path / "manifest.csv", keep_default_na=False).iloc[0]
    assert row["path"] == "inference_prepared_cpu.csv" and row["reproduce"] == bench.SHIP_REPRODUCE
    assert row["sha256"] == hashlib.sha256((tmp_path / "inference_prepared_cpu.csv").read_bytes()).hexdigest()


def test_speedup_table_names_the_roof_of_each_configurations_run():
    frame = _frame([
        {"model": "melgan", "size": "small", "duration_s": 1.0, "variant": "plain", "time_s": 0.2, "rtf": 0.2,
         "peak_gflops_per_s": 90.4, "roof_kernel": "conv1d-256ch-k3-fp32"},
        {"model": "melgan", "size": "small", "duration_s": 1.0, "variant": "prepared-torch", "time_s": 0.1,
         "rtf": 0.1, "peak_gflops_per_s": 90.4, "roof_kernel": "conv1d-256ch-k3-fp32"},
        {"model": "hifigan", "size": "small", "duration_s": 10.0, "variant": "plain", "time_s": 2.0, "rtf": 0.2,
         "peak_gflops_per_s": 34.7, "roof_kernel": None},  # a row written before the column existed
    ])
    table = inference_speed.speedup_table(frame).set_index("model")
    assert (table.roof_gflops_per_s["melgan"], table.roof_kernel["melgan"]) == (90.4, "conv1d-256ch-k3-fp32")
    assert (table.roof_gflops_per_s["hifigan"], table.roof_kernel["hifigan"]) == (34.7, "not recorded")


def _against(model, size, reference, plain, torch_, ort, l2=(0.0, 0.0, 3e-7, 4e-7), gflops=None, roof=None):
    paths = ("reference", "plain", "prepared-torch", "prepared-onnxruntime")
    work = {} if gflops is None else {"gflops": gflops, "peak_gflops_per_s": roof}
    return [{"model": model, "size": size, "duration_s": 0.992, "path": p, "time_median_s": t,
             "output_rel_l2_vs_reference": e, "reference": f"https://github.com/x/{model}",
             "reference_commit": "abc1234ff",
             "device": "CPU", "threads": 1, "repeats": 7, "date_utc": "2026-12-06T13:00:00Z", **work}
            for p, t, e in zip(paths, (reference, plain, torch_, ort), l2)]


def test_reference_table_gives_each_path_against_the_reference_and_the_target():
    frame = pd.DataFrame(_against("hifigan", "small", 0.050, 0.060, 0.040, 0.025)
                         + _against("melgan", "small", 0.020, 0.022, 0.020, 0.016, l2=(0.0, 0.0, 0.0, 2e-3)))
    table = inference_speed.reference_speed_table(frame)
    assert list(table.configuration) == ["MelGAN small", "HiFi-GAN small"]  # the zoo's order
    hifigan = table.set_index("model").loc["hifigan"]
    assert hifigan.reference_ms == pytest.approx(50.0)
    assert (hifigan.speedup_plain, hifigan.speedup_torch, hifigan.speedup_onnxruntime) == pytest.approx(
        (50 / 60, 1.25, 2.0))  # 0.050 / 0.060, 0.050 / 0.040, 0.050 / 0.025
    assert hifigan.best_path == "prepared-onnxruntime" and bool(hifigan.target_met)
    assert hifigan.max_rel_l2 == pytest.approx(4e-7)
    melgan = table.set_index("model").loc["melgan"]
    assert melgan.speedup_onnxruntime == pytest.approx(1.25) and not bool(melgan.target_met)  # 0.020 / 0.016
    assert melgan.max_rel_l2 == pytest.approx(2e-3)
    # its ONNX Runtime output is 2e-3 from the reference's: not the same output, so not the fastest; torch is (1.0)
    assert melgan.best_path == "prepared-torch" and melgan.best_speedup == pytest.approx(1.0)
    facts = inference_speed.reference_speed_facts(frame)
    assert (facts["configurations"], facts["met"]) == (2, 1)
    assert (facts["worst"], facts["best"]) == pytest.approx((1.0, 2.0))
    assert facts["references"] == "https://github.com/x/hifigan @ abc1234, https://github.com/x/melgan @ abc1234"
    assert (facts["audio_s"], facts["repeats"]) == (0.992, "7")
    frame.loc[frame.model == "melgan", "repeats"] = 15
    assert inference_speed.reference_speed_facts(frame)["repeats"] == "7 to 15"
    assert all("_" not in label for label in inference_speed.REFERENCE_LABELS.values())
    assert set(inference_speed.REFERENCE_MAIN) <= set(table.columns) and len(inference_speed.REFERENCE_MAIN) <= 7
    assert table.ceiling.isna().all() and math.isnan(facts["ceiling_min"])  # a file without the roof: no ceiling


def test_reference_table_gives_the_ceiling_at_the_roof_measured_in_the_run():
    # HiFi-GAN: 2 GFLOP in 50 ms = 40 GFLOP/s on a 100 GFLOP/s roof; MelGAN: 1.8 GFLOP in 20 ms = 90 GFLOP/s
    frame = pd.DataFrame(_against("hifigan", "small", 0.050, 0.060, 0.040, 0.025, gflops=2.0, roof=100.0)
                         + _against("melgan", "small", 0.020, 0.022, 0.020, 0.016, gflops=1.8, roof=100.0))
    table = inference_speed.reference_speed_table(frame).set_index("model")
    assert (table.reference_roof_fraction["hifigan"], table.ceiling["hifigan"]) == pytest.approx((0.4, 2.5))
    assert (table.reference_roof_fraction["melgan"], table.ceiling["melgan"]) == pytest.approx((0.9, 1 / 0.9))
    facts = inference_speed.reference_speed_facts(frame)
    assert (facts["ceiling_min"], facts["ceiling_max"]) == pytest.approx((1 / 0.9, 2.5))
    assert facts["out_of_reach"] == 1  # MelGAN's reference already runs at 0.9 of the roof: 1.5x needs fewer FLOPs
    assert facts["trained"] == 0  # a file without the weights column: none known to be trained
    frame["weights"] = ["trained"] * 4 + ["fresh"] * 4  # HiFi-GAN's four rows trained, MelGAN's fresh
    assert inference_speed.reference_speed_facts(frame)["trained"] == 1


def test_reduced_precision_paths_are_a_table_of_their_own_with_their_output_change():
    # HiFi-GAN: reference 50 ms, bf16 25 ms at relative L2 1e-2 (40 dB), int8 20 ms at 0.1 (20 dB);
    # MelGAN: reference 20 ms, only int8, 16 ms at 1e-3 (60 dB)
    frame = pd.DataFrame(_against("hifigan", "small", 0.050, 0.060, 0.040, 0.025) + [
        {**_against("hifigan", "small", 0.050, 0, 0, 0)[0], "path": p, "time_median_s": t,
         "output_rel_l2_vs_reference": e}
        for p, t, e in (("prepared-bf16", 0.025, 1e-2), ("prepared-int8", 0.020, 0.1))]
        + _against("melgan", "small", 0.020, 0.022, 0.020, 0.016) + [
        {**_against("melgan", "small", 0.020, 0, 0, 0)[0], "path": "prepared-int8", "time_median_s": 0.016,
         "output_rel_l2_vs_reference": 1e-3}])
    table = inference_speed.reduced_precision_reference_table(frame).set_index("model")
    assert list(table.index) == ["melgan", "hifigan"]
    assert (table.speedup_bf16["hifigan"], table.snr_bf16_db["hifigan"]) == pytest.approx((2.0, 40.0))
    assert (table.speedup_int8["hifigan"], table.snr_int8_db["hifigan"]) == pytest.approx((2.5, 20.0))
    assert math.isnan(table.speedup_bf16["melgan"]) and math.isnan(table.snr_bf16_db["melgan"])
    assert (table.speedup_int8["melgan"], table.snr_int8_db["melgan"]) == pytest.approx((1.25, 60.0))
    assert table.target_met.tolist() == [False, True]
    facts = inference_speed.reduced_precision_reference_facts(frame)
    assert (facts["configurations"], facts["met"]) == (2, 1)
    assert (facts["int8_speedup_min"], facts["int8_speedup_max"]) == pytest.approx((1.25, 2.5))
    assert (facts["int8_snr_min"], facts["int8_snr_max"]) == pytest.approx((20.0, 60.0))
    assert (facts["bf16_speedup_min"], facts["bf16_snr_max"]) == pytest.approx((2.0, 40.0))
    # the float32 table is unchanged by them: HiFi-GAN's fastest same-output path stays ONNX Runtime (2.0x)
    float32 = inference_speed.reference_speed_table(frame).set_index("model")
    assert float32.best_path["hifigan"] == "prepared-onnxruntime"
    assert float32.max_rel_l2["hifigan"] == pytest.approx(4e-7)
    assert all("_" not in label for label in inference_speed.REDUCED_LABELS.values())
    assert inference_speed.reduced_precision_reference_table(frame[~frame.path.str.contains("bf16|int8")]).empty
    none = inference_speed.reduced_precision_reference_facts(None)  # no shipped file: zero and NaN, same keys
    assert set(none) == set(facts) and (none["configurations"], none["met"]) == (0, 0)
    assert math.isnan(none["int8_snr_max"])


def test_reference_comparison_file_is_verified_and_its_manifest_row_names_the_references(tmp_path):
    rows = pd.DataFrame(_against("hifigan", "small", 0.050, 0.060, 0.040, 0.025))
    rows.to_csv(tmp_path / "against_reference_cpu.csv", index=False)
    manifest = shipping.write_speed_manifest(tmp_path, {"against_reference_cpu.csv": "git clone ..."})
    row = pd.read_csv(manifest, keep_default_na=False).iloc[0]
    assert "https://github.com/x/hifigan at commit abc1234ff" in row["provenance"]
    assert "output relative L2 to the reference at most 4e-07 for the float32 paths;" in row["provenance"]
    int8 = {**rows.iloc[0].to_dict(), "path": "prepared-int8", "output_rel_l2_vs_reference": 0.1}
    pd.DataFrame([*rows.to_dict("records"), int8]).to_csv(tmp_path / "against_reference_cpu.csv", index=False)
    manifest = shipping.write_speed_manifest(tmp_path, {"against_reference_cpu.csv": "git clone ..."})
    row = pd.read_csv(manifest, keep_default_na=False).iloc[0]  # an int8 output does not raise the float32 bound
    assert "at most 4e-07 for the float32 paths, 0.1 to 0.1 for bf16 and int8;" in row["provenance"]
    rows.to_csv(tmp_path / "against_reference_cpu.csv", index=False)
    shipping.write_speed_manifest(tmp_path, {"against_reference_cpu.csv": "git clone ..."})
    assert len(inference_speed.load_reference_speed(tmp_path / "against_reference_cpu.csv")) == 4
    (tmp_path / "against_reference_cpu.csv").write_text(rows.assign(time_median_s=1.0).to_csv(index=False))
    with pytest.raises(inference_speed.SpeedManifestError):
        inference_speed.load_reference_speed(tmp_path / "against_reference_cpu.csv")
    rows.drop(columns="reference").to_csv(tmp_path / "mine.csv", index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['reference'\]"):
        inference_speed.load_reference_speed(tmp_path / "mine.csv")


def test_shipped_reference_comparison_holds_our_outputs_to_the_reference():
    frame = inference_speed.load_reference_speed()
    if frame is None:
        pytest.skip("this package ships no reference comparison")
    paths = frame.set_index("path").output_rel_l2_vs_reference
    assert (paths[["plain", "prepared-torch"]] <= 1e-3).all()  # the same network's output
    table = inference_speed.reference_speed_table(frame)
    chosen = frame.merge(table[["model", "size", "best_path"]], left_on=["model", "size", "path"],
                         right_on=["model", "size", "best_path"])
    assert len(chosen) == len(table) and (chosen.output_rel_l2_vs_reference <= 1e-3).all()  # counted speed-ups
    assert {"reference", "plain", "prepared-torch", "prepared-onnxruntime"} <= set(frame.path)
    assert set(frame.path) <= {"reference", "plain", "prepared-torch", "prepared-compile", "prepared-onnxruntime",
                               "prepared-bf16", "prepared-int8"}
    reduced = frame[frame.path.isin(["prepared-bf16", "prepared-int8"])].output_rel_l2_vs_reference
    assert ((reduced > 1e-4) & (reduced < 0.2)).all()  # changed by the fewer bits (not silently float32), not destroyed
    assert (frame.gflops > 0).all() and (frame.peak_gflops_per_s > 0).all()  # the ceiling can be computed
    assert (frame.repeats >= 5).all() and (frame.threads == 1).all()


def test_measurement_runs_say_when_and_at_which_roof_each_clip_length_was_timed():
    frame = _frame([
        {"model": "melgan", "size": "small", "duration_s": 0.992, "variant": "plain", "time_s": 0.02, "rtf": 0.02,
         "peak_gflops_per_s": 105.5, "date_utc": "2026-12-06T12:44:55Z"},
        {"model": "hifigan", "size": "small", "duration_s": 0.992, "variant": "plain", "time_s": 0.04, "rtf": 0.04,
         "peak_gflops_per_s": 99.9, "date_utc": "2026-12-06T13:02:00Z"},
        {"model": "melgan", "size": "small", "duration_s": 10.0, "variant": "plain", "time_s": 0.6, "rtf": 0.06,
         "peak_gflops_per_s": 34.7, "date_utc": "2026-11-26T17:16:05Z"},
        {"model": "hifigan", "size": "small", "duration_s": 10.0, "variant": "plain", "time_s": 1.5, "rtf": 0.15,
         "peak_gflops_per_s": 33.9, "date_utc": "2026-11-27T01:00:00Z"},
        {"model": "hifigan", "size": "small", "duration_s": 10.0, "variant": "prepared-compile", "time_s": None,
         "status": "unavailable", "reason": "no compiler", "date_utc": "2026-12-01T00:00:00Z"},  # not timed
    ])
    runs = inference_speed.measurement_runs(frame).set_index("duration_s")
    assert list(runs.index) == [0.99, 10.0]
    assert (runs.dates[0.99], runs.roof_min[0.99], runs.roof_max[0.99]) == ("2026-12-06", 99.9, 105.5)
    assert (runs.dates[10.0], runs.roof_min[10.0], runs.roof_max[10.0]) == ("2026-11-26 to 2026-11-27", 33.9, 34.7)
