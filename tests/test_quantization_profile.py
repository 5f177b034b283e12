"""greenaudio.quantization.profile: kernel time per ONNX Runtime operator from a profile file, grouped; checked on
hand-written profiles (sums by hand) and on one real MelGAN profile (properties of fp32 and int8 graphs)."""

import json

import pandas as pd
import pytest
import torch

from greenaudio.quantization import profile as P


def _event(name, ts, dur, op=None, cat="Node"):
    event = {"cat": cat, "name": name, "ts": ts, "dur": dur}
    if op is not None:
        event["args"] = {"op_name": op}
    return event


def test_kernel_time_leaves_out_the_first_run_and_sums_by_operator_in_ms(tmp_path):
    events = [
        _event("model_run", 0, 1000, cat="Session"),
        _event("conv_1_kernel_time", 10, 900, "Conv"),  # first run: left out
        _event("model_run", 2000, 1000, cat="Session"),
        _event("conv_1_kernel_time", 2010, 500, "Conv"),
        _event("conv_2_kernel_time", 2600, 250, "Conv"),
        _event("q_kernel_time", 2900, 50, "QuantizeLinear"),
        _event("conv_1_fence_before", 2005, 7, "Conv"),  # not a kernel-time event
        _event("model_run", 4000, 1000, cat="Session"),
        _event("conv_1_kernel_time", 4010, 1500, "Conv"),
    ]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    totals, runs = P._kernel_ms(path)
    assert runs == 2
    assert totals == pytest.approx({"Conv": 2.25, "QuantizeLinear": 0.05})  # (500 + 250 + 1500) us, 50 us


def test_groups_facts_and_ratio_from_a_hand_written_profile():
    prof = pd.DataFrame({
        "precision": ["fp32", "fp32", "int8", "int8", "int8", "int8"],
        "op_type": ["FusedConv", "ConvTranspose", "QLinearConv", "ConvTranspose", "QuantizeLinear", "DequantizeLinear"],
        "ms_per_run": [8.0, 2.0, 6.0, 2.0, 1.0, 0.5]})
    prof["group"] = prof["op_type"].map(P.operator_group)
    table = P.summarise_by_group(prof)
    assert table.loc["convolution", "int8 / fp32"] == pytest.approx(0.75)
    assert table.loc["(de)quantization", "int8 ms per run"] == pytest.approx(1.5)
    assert table.loc["total"].tolist() == pytest.approx([10.0, 9.5, 0.95])
    facts = P.operator_facts(prof)
    # convolution group: FusedConv 8.0 (fp32), QLinearConv 6.0 (int8); the int8 ConvTranspose (2.0) is a float kernel
    assert facts == pytest.approx({"conv_fp32_ms": 8.0, "conv_int8_ms": 6.0, "conv_ratio": 0.75, "conversion_ms": 1.5,
                                   "float_conv_int8_ms": 2.0, "total_fp32_ms": 10.0, "total_int8_ms": 9.5,
                                   "total_ratio": 0.95})
    assert P.operator_group("SomethingNew") == "other"


def test_a_real_profile_has_integer_convolutions_only_in_the_int8_graph(tmp_path):
    from greenaudio import quantization, vocoders

    torch.manual_seed(0)
    q = quantization.quantize_vocoder(vocoders.load("melgan", "small"), tmp_path, torch.rand(2, 80, 8))
    prof = P.profile_operators(q, torch.rand(1, 80, 16), runs=1)
    ops = {p: set(prof[prof.precision == p].op_type) for p in ("fp32", "int8")}
    assert "QLinearConv" in ops["int8"] and "QLinearConv" not in ops["fp32"]
    assert "QuantizeLinear" in ops["int8"] and "QuantizeLinear" not in ops["fp32"]
    for p in ("fp32", "int8"):
        assert prof[prof.precision == p].share.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="runs must be a positive integer, got 0"):
        P.profile_operators(q, torch.rand(1, 80, 16), runs=0)


def test_a_graph_called_twice_per_run_leaves_out_both_warm_up_calls(tmp_path):
    # 2 procedure runs (a warm-up and one profiled) of a graph called twice per run: 4 calls, the first 2 left out
    events = []
    for call, conv_us in enumerate((700, 800, 300, 100)):
        start = call * 1000
        events += [_event("model_run", start, 900, cat="Session"),
                   _event("conv_kernel_time", start + 10, conv_us, "Conv")]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    totals, calls = P._kernel_ms(path, procedure_runs=2)
    assert calls == 2 and totals == pytest.approx({"Conv": 0.4})  # (300 + 100) us
    assert P._kernel_ms(path)[0] == pytest.approx({"Conv": 1.2})  # without the run count: only the first call out
