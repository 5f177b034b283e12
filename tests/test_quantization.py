"""greenaudio.quantization: int8 through ONNX Runtime checked against hand-quantised numpy, sizes against the files,
failed rows, calibration input checks, QAT."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from conftest import TINY_CONFIGS as TINY
from greenaudio import quantization as Q
from greenaudio.chapters import quantization as chapter6
from greenaudio import vocoders
from greenaudio.quantization import qat
from greenaudio.vocoders.graphs import GraphSpec
from greenaudio.vocoders.onnx import make_session


def _tiny(name: str) -> vocoders.Vocoder:
    torch.manual_seed(0)
    model = vocoders.load(name, "small", **TINY[name])
    with torch.no_grad():  # zero-initialised output layers would make flows the identity: give them values
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0.0, 0.05)
    return model


# -- int8 arithmetic against an independent computation ---------------------------------------------------------------
def _affine_u8(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0
    return scale, int(round(-lo / scale))


def _fake_u8(x: np.ndarray, scale: float, zero: int) -> np.ndarray:
    return (np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    k = w.shape[-1]
    t = x.shape[-1] - k + 1
    out = np.zeros((x.shape[0], w.shape[0], t))
    for j in range(k):
        out += np.einsum("oc,bct->bot", w[:, :, j], x[:, :, j:j + t])
    return out + b[None, :, None]


def test_int8_conv1d_matches_hand_quantized_numpy(tmp_path):
    torch.manual_seed(1)
    conv = nn.Conv1d(3, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(torch.tensor([1.0, 0.1, 3.0, 0.5])[:, None, None])  # per-channel scales must differ
    spec = GraphSpec("conv", conv, ("x",), ("y",), {"x": {0: "b", 2: "t"}, "y": {0: "b", 2: "t"}},
                     (torch.randn(1, 3, 16),))
    fp32 = vocoders.export_graph(spec, tmp_path / "conv.onnx").path
    rng = np.random.default_rng(0)
    calib = [rng.normal(size=(1, 3, 32)).astype(np.float32) * s for s in (0.5, 1.0, 2.0)]
    int8 = Q.quantize_graph(fp32, tmp_path / "conv-int8.onnx", [{"x": c} for c in calib], preprocess=False)
    got = make_session(int8).run(None, {"x": calib[1]})[0]

    w = conv.weight.detach().double().numpy()
    b = conv.bias.detach().double().numpy()
    sx, zx = _affine_u8(min(float(c.min()) for c in calib), max(float(c.max()) for c in calib))
    sw = np.abs(w).max(axis=(1, 2)) / 127.0  # int8 symmetric, one scale per output channel
    w_dq = np.clip(np.round(w / sw[:, None, None]), -127, 127) * sw[:, None, None]
    b_dq = np.round(b / (sx * sw)) * (sx * sw)  # int32 bias at scale x_scale * w_scale
    ys = [_conv1d(c.astype(np.float64), w, b, 1) for c in calib]  # output range from the fp32 model
    sy, zy = _affine_u8(min(float(y.min()) for y in ys), max(float(y.max()) for y in ys))
    expected = _fake_u8(_conv1d(_fake_u8(calib[1].astype(np.float64), sx, zx), w_dq, b_dq, 1), sy, zy)

    assert got.shape == expected.shape
    steps = np.abs(got - expected) / sy  # difference in output quantisation steps
    assert np.mean(steps < 1e-3) > 0.9  # nearly all values identical to the hand computation
    # the rest: ONNX Runtime's u8s8 x86 kernel (VPMADDUBSW) saturates int16 pair sums when both the activation
    # and the weight use their full range (documented by ONNX Runtime); a few steps at most here
    assert steps.max() <= 8
    assert np.abs(got - ys[1]).max() > 1e-4  # it really is quantised


def test_output_change_of_a_scaled_signal():
    ref = np.sin(np.linspace(0, 200, 4000))
    change = Q.compute_output_change(ref, 0.9 * ref)
    assert change["rel_l2"] == pytest.approx(0.1)
    assert change["snr_db"] == pytest.approx(20.0)
    assert Q.compute_output_change(ref, ref)["snr_db"] == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        Q.compute_output_change(ref, ref[:-1])


# -- every family: exported graphs reproduce the torch model ----------------------------------------------------------
@pytest.mark.parametrize("name", [n if n in ("melgan", "hifigan") else pytest.param(n, marks=pytest.mark.slow)
                                  for n in TINY])
def test_onnx_fp32_reproduces_torch_generate(name, tmp_path):
    model = _tiny(name)
    graphs = vocoders.split_vocoder(model)
    paths = {g.name: vocoders.export_graph(g, tmp_path / f"{g.name}.onnx").path for g in graphs.graphs}
    runner = vocoders.OnnxVocoder(graphs, paths, "fp32")
    mel = torch.rand(1, 80, 6)  # another length than the 8 frames the graphs were traced with
    ref = model.generate(mel, generator=torch.Generator().manual_seed(3)).audio
    out = runner.generate(mel, generator=torch.Generator().manual_seed(3))
    assert out.audio.shape == (1, 6 * 256)
    assert Q.compute_output_change(ref, out.audio)["rel_l2"] < 1e-4
    n_params = sum(p.numel() for p in model.parameters())
    graph_params = sum(p.numel() for g in graphs.graphs for p in g.module.parameters())
    assert graph_params >= n_params - model.config.n_mels  # every parameter lives in some graph (shared ones once)


def test_waveflow_procedure_computes_each_rows_conditioning_when_it_reaches_the_row():
    # tiny WaveFlow: h = 8 rows, 2 flows, 2 layers x 2r = 16 conditioning channels; 4 frames x 256 samples / 8 rows
    model = _tiny("waveflow")
    graphs = vocoders.split_vocoder(model)
    seen: dict[str, list[tuple[int, ...]]] = {}

    def recording(name, fn):
        def call(*tensors):
            seen.setdefault(name, []).append(tuple(tensors[0].shape))
            return fn(*tensors)
        return call

    backend = {name: recording(name, fn) for name, fn in graphs.torch_backend().items()}
    mel = torch.rand(1, 80, 4)
    out = graphs.run(backend, mel, torch.Generator().manual_seed(5))
    for f in range(2):  # rows 1..7 of every flow, one row of the 80-band conditioning at a time
        assert seen[f"cond_{f}"] == [(1, 80, 1, 4 * 256 // 8)] * 7
        assert len(seen[f"row_{f}"]) == 7
    ref = model.generate(mel, generator=torch.Generator().manual_seed(5)).audio
    assert Q.compute_output_change(ref, out)["rel_l2"] < 1e-5


# -- sizes, rows, failures ---------------------------------------------------------------------------------------------
def test_sizes_are_the_files_on_disk(tmp_path):
    model = _tiny("melgan")
    q = Q.quantize_vocoder(model, tmp_path / "q", torch.rand(1, 80, 4))
    on_disk = {p: os.path.getsize(p) for p in (tmp_path / "q").rglob("*.onnx*")}
    fp32 = sum(s for p, s in on_disk.items() if p.parent.name == "fp32")
    int8 = sum(s for p, s in on_disk.items() if p.parent.name == "int8")
    assert q.fp32_bytes == fp32 and q.int8_bytes == int8
    params = vocoders.count_parameters(model)
    assert 4 * params <= q.fp32_bytes <= 4 * params + 60_000  # float32 weights plus graph overhead
    assert q.int8_bytes < q.fp32_bytes / 2
    with pytest.raises(ValueError, match="missing"):
        Q.measure_files_bytes([tmp_path / "nope.onnx"])


class _NotExportable(nn.Module):
    def forward(self, mel):
        eig = torch.linalg.eigvalsh(mel @ mel.transpose(1, 2)).sum()  # no ONNX operator for eigh
        return (mel.mean(1, keepdim=True) + 0 * eig).repeat_interleave(256, -1)


def test_failed_export_is_a_row_not_dropped(tmp_path):
    broken = _tiny("melgan")
    broken.net = _NotExportable()
    table = Q.run_quantization_table(
        [("melgan", "small"), ("melgan", "medium")], workdir=tmp_path, calibration_mels=torch.rand(1, 80, 4),
        eval_mel=torch.rand(1, 80, 4), models={("melgan", "small"): broken, ("melgan", "medium"): _tiny("melgan")},
        repeats=1, warmup=0, energy_mode="estimated", use_trained=False)
    assert list(zip(table["model"], table["size"])) == [("melgan", "small"), ("melgan", "medium")]
    assert table.loc[0, "status"].startswith("failed:") and "export" in table.loc[0, "status"]
    assert table.loc[1, "status"] == "ok"
    assert table.loc[1, "energy_method"].startswith("estimated")
    assert list(table.columns) == list(Q.TABLE_COLUMNS)


@pytest.mark.parametrize("bad, match", [
    (torch.rand(2, 80, 8, dtype=torch.float64), "dtype float64"),
    (torch.rand(2, 40, 8), "shape"),
    (torch.rand(80, 8), r"\(N, 80, frames\)"),
    ([], "empty"),
    ([np.full((80, 4), np.nan, dtype=np.float32)], "NaN"),
    ("mels.npy", "tensor"),
])
def test_bad_calibration_data_raise_before_any_work(bad, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        Q.quantize_vocoder(_tiny("melgan"), tmp_path / "q", bad)
    assert not (tmp_path / "q").exists()


def test_split_rejects_unknown_family_and_procedure():
    with pytest.raises(ValueError, match="supported models"):
        vocoders.split_vocoder(nn.Conv1d(1, 1, 1))
    with pytest.raises(ValueError, match="unknown procedure"):
        vocoders.split_vocoder(_tiny("melgan"), steps=6)


# -- QAT ----------------------------------------------------------------------------------------------------------
def _fake_quantised_layers(model: nn.Module) -> int:
    return sum(1 for m in model.modules() if hasattr(m, "input_fake_quant"))


def test_fake_quant_weights_lie_on_the_int8_grid():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.ConvTranspose1d(3, 2, 4, stride=2))
    raw = [net[0].weight.detach().clone(), net[2].weight.detach().clone()]
    qat.prepare_fake_quant(net)
    assert _fake_quantised_layers(net) == 2
    for w0, w, axis in ((raw[0], net[0].weight, 0), (raw[1], net[2].weight, 1)):
        dims = tuple(d for d in range(3) if d != axis)
        scale = w0.abs().amax(dim=dims, keepdim=True) / 127  # by hand: max|w| / 127 per output channel
        steps = w.detach() / scale
        assert torch.allclose(steps, steps.round(), atol=1e-3)
        assert steps.abs().max() <= 127 + 1e-3


@pytest.mark.slow
def test_qat_same_start_then_converted_int8_model_runs(tmp_path):
    items = [(torch.randn(8 * 256) * 0.1, torch.rand(80, 8)) for _ in range(4)]
    result = qat.run_qat_experiment(lambda: _tiny("diffwave"), items, items, steps=2, batch_size=2, eval_every=1,
                                    clip_frames=4)
    h = result.history
    assert sorted(h.variant.unique()) == ["fake-quant", "fp32"]
    start = h[h.step == 0].set_index("variant").val_loss
    assert start["fp32"] == pytest.approx(start["fake-quant"], rel=0.05)  # same initialisation
    assert set(h.step) == {0, 1, 2}
    rising = qat.compute_qat_stability(h.assign(val_loss=[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]))
    assert rising == {"finite": True, "val_loss_first": 1.0, "val_loss_last": 3.0, "rose": True, "stable": False}
    q = qat.convert_qat_model(result.fake_quant, tmp_path / "qat", torch.rand(2, 80, 4))
    audio = q.runner("int8").generate(torch.rand(1, 80, 4), generator=torch.Generator().manual_seed(0)).audio
    assert audio.shape == (1, 4 * 256) and torch.isfinite(audio).all()
    assert _fake_quantised_layers(result.fake_quant) > 0  # the trained model itself is left untouched and runs
    fq_audio = result.fake_quant.generate(torch.rand(1, 80, 4), generator=torch.Generator().manual_seed(0)).audio
    assert fq_audio.shape == (1, 4 * 256) and torch.isfinite(fq_audio).all()
    plain = qat.materialize_fake_quant(result.fake_quant)
    assert _fake_quantised_layers(plain) == 0
    for name, module in result.fake_quant.named_modules():
        if hasattr(module, "input_fake_quant"):
            assert torch.equal(plain.get_submodule(name).weight, module.weight.detach())
    with pytest.raises(ValueError, match="steps"):
        qat.run_qat_experiment(lambda: _tiny("diffwave"), items, items, steps=0)


def test_fake_quant_ranges_are_set_before_the_step_0_evaluation():
    # an activation quantiser that has seen no data has the empty range [0, 0]: every activation would round to 0
    items = [(torch.randn(8 * 256) * 0.1, torch.rand(80, 8)) for _ in range(4)]
    seen = []

    def ranges(model):
        quantisers = [m.input_fake_quant for m in model.modules() if hasattr(m, "input_fake_quant")]
        if quantisers:
            seen.append([float(q.max_val) - float(q.min_val) for q in quantisers])
        return {}

    qat.run_qat_experiment(lambda: _tiny("melgan"), items, items, steps=1, batch_size=2, eval_every=1, clip_frames=4,
                           eval_metrics=ranges)
    assert len(seen) == 2  # the fake-quant model at step 0 (before any optimiser step) and at step 1
    assert all(width > 0 for width in seen[0])


def test_table9_places_printed_thesis_values_beside_measured_rows():
    rows = pd.DataFrame([{"model": "melgan", "size": "small", "status": "ok", "params": 1_030_786,
                          "gflops_per_audio_s": 1.0, "fp32_bytes": 4_146_183, "int8_bytes": 1_144_596,
                          "fp32_mb": 4.146183, "int8_mb": 1.144596},
                         {"model": "waveglow", "size": "large", "status": "failed: RuntimeError: boom"}])
    table = chapter6.compute_table9(rows.reindex(columns=list(Q.TABLE_COLUMNS))).set_index(["model", "size"])
    assert table.loc[("melgan", "small"), "thesis_fp32_mb"] == 4.2  # printed in Table 9
    assert table.loc[("melgan", "small"), "thesis_int8_mb"] == 1.1
    assert table.loc[("waveglow", "large"), "thesis_fp32_mb"] == 351.7
    assert table.loc[("waveglow", "large"), "status"] == "failed: RuntimeError: boom"  # kept, not dropped
    fit = chapter6.compute_table10(rows.reindex(columns=list(Q.TABLE_COLUMNS)))
    assert set(fit.model) == {"melgan"} and (fit.bytes_method == "measured: serialised files").all()
    assert fit.rtf_method.str.startswith("estimated").all()


def test_fresh_models_are_seeded_so_rows_repeat_and_the_callers_random_state_is_untouched():
    from greenaudio.quantization.pipeline import _load_model

    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = _load_model("melgan", "small", None, seed=0)
    after = torch.rand(3)
    b = _load_model("melgan", "small", None, seed=0)
    c = _load_model("melgan", "small", None, seed=1)
    pa, pb, pc = (torch.cat([p.detach().flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb)
    assert not torch.equal(pa, pc)
    assert torch.equal(before, after)  # the global generator went on as if no model had been built


def test_interleaved_timing_rotates_the_order_and_keeps_each_runtimes_last_output():
    from greenaudio.quantization.pipeline import _timed_interleaved

    calls = []

    def runtime(name):
        def run():
            calls.append(name)
            return f"{name}-{sum(c == name for c in calls)}"
        return run

    timed = _timed_interleaved({n: runtime(n) for n in ("a", "b", "c")}, repeats=3, warmup=1, monitors={})
    # one warm-up each, then three rounds, each starting one runtime later
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {n: (len(t[0]), t[1], t[2]) for n, t in timed.items()} == {
        "a": (3, None, "a-4"), "b": (3, None, "b-4"), "c": (3, None, "c-4")}


def test_sessions_run_without_the_memory_arena_unless_asked(tmp_path):
    torch.manual_seed(0)
    q = Q.quantize_vocoder(vocoders.load("melgan", "small"), tmp_path, torch.rand(1, 80, 4))
    path = q.fp32_paths["generator"]
    assert make_session(path).get_session_options().enable_cpu_mem_arena is False
    assert make_session(path, memory_arena=True).get_session_options().enable_cpu_mem_arena is True
