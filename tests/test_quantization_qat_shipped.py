"""Shipped quantization-aware training runs: the stability table read off hand-made histories, the merge into the
shipped file with its sha256 manifest row, and ``scripts/bench_qat.py``'s resume rule."""

from __future__ import annotations

import hashlib
import importlib.util

import pandas as pd
import pytest

from conftest import ROOT
from greenaudio.orchestration import shipping
from greenaudio.quantization import qat, shipped

SETTINGS = {"steps": 4, "batch_size": 2, "clip_frames": 16, "seed": 0, "eval_every": 2, "val_batches": 2,
            "threads": 1}


def _history(model, fp32_val, fq_val, wall=(0.0, 4.0, 8.0), fq_train=(1.0, 1.0), size="small"):
    rows = []
    for variant, values, train in (("fp32", fp32_val, (1.0, 1.0)), ("fake-quant", fq_val, fq_train)):
        for i, (step, val) in enumerate(zip((0, 2, 4), values)):
            rows.append({"step": step, "variant": variant, "train_loss": float("nan") if i == 0 else train[i - 1],
                         "val_loss": val, "wall_s": wall[i] * (1.5 if variant == "fake-quant" else 1.0)})
    return pd.DataFrame(rows).assign(model=model, size=size, **SETTINGS, lr=2e-4, cpu="AMD EPYC",
                                     torch_version="2.13.0+cpu", command="python scripts/bench_qat.py",
                                     date_utc="2026-11-26T19:00:00Z", elapsed_s=20.0)


def test_stability_table_reads_verdicts_losses_and_time_per_step_off_the_history():
    history = pd.concat([
        _history("diffwave", (2.0, 1.5, 1.0), (2.1, 1.8, 1.5)),
        _history("waveflow", (-1.0, -2.0, -3.0), (-1.0, -1.5, -0.5)),  # fake-quant NLL rises: unstable
        _history("waveglow", (1.0, 0.9, 0.8), (1.0, 0.9, 0.8), fq_train=(1.0, float("inf"))),
    ])
    table = qat.qat_stability_table(history).set_index("model")
    assert list(table.columns) == list(qat.STABILITY_COLUMNS)[1:]
    assert table.loc["diffwave", "steps"] == 4
    assert table.loc["diffwave", "fp32_stable"] and table.loc["diffwave", "fake_quant_stable"]
    assert table.loc["diffwave", ["fake_quant_val_loss_first", "fake_quant_val_loss_last"]].tolist() == [2.1, 1.5]
    assert table.loc["diffwave", "val_loss_gap"] == pytest.approx(0.5)  # 1.5 - 1.0
    assert table.loc["diffwave", "fp32_s_per_step"] == pytest.approx(8.0 / 4)
    assert table.loc["diffwave", "fake_quant_s_per_step"] == pytest.approx(12.0 / 4)
    assert table.loc["waveflow", "fp32_stable"] and not table.loc["waveflow", "fake_quant_stable"]  # -1 -> -0.5 rose
    assert table.loc["waveflow", "val_loss_gap"] == pytest.approx(2.5)  # -0.5 - (-3)
    assert not table.loc["waveglow", "fake_quant_stable"]  # an infinite training loss
    assert qat.compute_qat_stability(history[history.model == "waveglow"])["finite"] is False
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['model', 'size'\]"):
        qat.qat_stability_table(_history("melgan", (1, 1, 1), (1, 1, 1)).drop(columns=["model", "size"]))


def test_histories_are_merged_by_configuration_and_verified_by_sha256(tmp_path):
    assert shipped.load_shipped_qat(tmp_path).empty
    shipping.ship_qat_history(pd.concat([_history("waveglow", (1, 1, 1), (1, 1, 1)),
                                        _history("melgan", (3, 2, 1), (3, 2, 2))]), tmp_path)
    path = shipping.ship_qat_history(_history("waveglow", (5, 4, 3), (5, 4, 4)), tmp_path)  # trained again
    table = shipped.load_shipped_qat(tmp_path)
    assert list(dict.fromkeys(table.model)) == ["melgan", "waveglow"]  # the zoo's order
    assert table[table.model == "waveglow"].val_loss.max() == 5 and len(table) == 12
    manifest = pd.read_csv(tmp_path / "manifest.csv", dtype=str).set_index("path")
    assert manifest.loc[shipped.SHIPPED_QAT_FILE, "sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "12 history rows of 2 configurations (melgan small (4 steps), waveglow small (4 steps))" in \
        manifest.loc[shipped.SHIPPED_QAT_FILE, "provenance"]
    row = shipped.qat_provenance(table)
    assert "2 configurations" in row["method"] and "4 steps, batch 2, learning rate 0.0002" in row["method"]
    assert (row["tool"], row["machine"]) == ("torch 2.13.0+cpu", "AMD EPYC, 1 thread(s)")
    assert row["when"].startswith("2026-11-26 (UTC)")
    path.write_text(path.read_text().replace("waveglow", "waveglaw", 1))
    with pytest.raises(shipped.ShippedPTQError, match="sha256 mismatch"):
        shipped.load_shipped_qat(tmp_path)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['command'\]"):
        shipping.ship_qat_history(_history("melgan", (1, 1, 1), (1, 1, 1)).drop(columns=["command"]), tmp_path)


def test_the_qat_benchmark_resumes_only_configurations_trained_under_the_same_settings():
    spec = importlib.util.spec_from_file_location("bench_qat", ROOT / "scripts" / "bench_qat.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    done = pd.concat([_history("melgan", (1, 1, 1), (1, 1, 1)), _history("hifigan", (1, 1, 1), (1, 1, 1))])
    held = bench.held_history(done, "melgan", "small", SETTINGS, "AMD EPYC", "2.13.0+cpu")
    assert held is not None and set(held.model) == {"melgan"} and len(held) == 6
    assert bench.held_history(done, "melgan", "small", {**SETTINGS, "steps": 80}, "AMD EPYC", "2.13.0+cpu") is None
    assert bench.held_history(done, "melgan", "small", SETTINGS, "Intel Xeon", "2.13.0+cpu") is None
    assert bench.held_history(done, "melgan", "medium", SETTINGS, "AMD EPYC", "2.13.0+cpu") is None
    assert bench.held_history(pd.DataFrame(), "melgan", "small", SETTINGS, "AMD EPYC", "2.13.0+cpu") is None
