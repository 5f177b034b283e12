"""The fast prepared paths of HiFi-GAN (issue #27) and the reduced-precision backends, against independent references.

* the 2-D ``(1, K)`` convolutions of the prepared path and of the ONNX export (``conv_2d``, ``conv_prepared``) against
  a brute-force sum written from the definition of a (transposed, dilated, strided, padded) 1-D convolution, and
  against the plain torch layer, on random weights;
* every float32 backend of HiFi-GAN against the plain path (tolerance of ``tests/test_vocoders_prepared.py``:
  ``max |prepared - plain| <= 1e-4 * max(1, max |plain|)``), tiny configurations and the presets;
* ``"bf16"`` and ``"int8"``: the output changes by a bounded amount, the model's parameters are left in float32, and
  a CPU without the instruction set (monkeypatched flags) is refused before any work with a message naming it;
* the compute roof of :mod:`greenaudio.measure.roof`: rates from exact FLOP counts, bad arguments refused.
"""

import numpy as np
import pytest
import torch
from torch import nn

from conftest import perturbed_pair
from conftest import random_mel as _mel
import greenaudio.quantization  # noqa: F401  (registers the "int8" backend of prepare_for_inference)
from greenaudio import vocoders
from greenaudio.vocoders import base as vbase
from greenaudio.vocoders.hifigan import Generator2d, conv_2d, conv_prepared

torch.set_num_threads(1)
TOL = 1e-4
TINY = dict(upsample_initial_channel=32, upsample_rates=(8, 4, 2, 4), upsample_kernel_sizes=(16, 8, 4, 8))


def _brute_conv1d(x, w, b, stride, padding, dilation):
    """``y[o, t] = b[o] + sum_{i,k} w[o, i, k] x[i, t * stride + k * dilation - padding]`` (zero outside)."""
    c_in, length = x.shape
    c_out, _, k = w.shape
    out_len = (length + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    y = np.tile(b[:, None], (1, out_len)).astype(np.float64)
    for t in range(out_len):
        for j in range(k):
            s = t * stride + j * dilation - padding
            if 0 <= s < length:
                y[:, t] += w[:, :, j] @ x[:, s]
    return y


def _brute_conv_transpose1d(x, w, b, stride, padding):
    """``y[o, t * stride + k - padding] += w[i, o, k] x[i, t]`` (the definition), cropped to the valid range."""
    c_in, length = x.shape
    _, c_out, k = w.shape
    full = np.zeros((c_out, (length - 1) * stride + k))
    for t in range(length):
        for j in range(k):
            full[:, t * stride + j] += w[:, :, j].T @ x[:, t]
    out_len = (length - 1) * stride - 2 * padding + k
    return full[:, padding:padding + out_len] + b[:, None]


@pytest.mark.parametrize(("k", "stride", "dilation"), [(3, 1, 1), (7, 1, 3), (11, 1, 5), (5, 2, 1), (1, 1, 1)])
def test_conv_2d_equals_brute_force_and_the_plain_layer(k, stride, dilation):
    torch.manual_seed(k + dilation)
    conv = nn.Conv1d(5, 6, k, stride=stride, dilation=dilation, padding=dilation * (k - 1) // 2).double()
    x = torch.randn(2, 5, 23, dtype=torch.float64)
    want = np.stack([_brute_conv1d(x[i].numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy(), stride,
                                   conv.padding[0], dilation) for i in range(2)])
    with torch.no_grad():
        got = conv_2d(conv, x.unsqueeze(2)).squeeze(2)
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(conv(x).numpy(), want, rtol=0, atol=1e-12)  # the brute force is the layer's


@pytest.mark.parametrize(("k", "stride"), [(16, 8), (4, 2), (8, 4), (3, 1)])
def test_transposed_conv_2d_equals_brute_force_and_the_plain_layer(k, stride):
    torch.manual_seed(k)
    conv = nn.ConvTranspose1d(6, 3, k, stride=stride, padding=(k - stride) // 2).double()
    x = torch.randn(1, 6, 9, dtype=torch.float64)
    want = _brute_conv_transpose1d(x[0].numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy(), stride,
                                   conv.padding[0])
    with torch.no_grad():
        got = conv_2d(conv, x.unsqueeze(2))[0, :, 0]
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(conv(x)[0].numpy(), want, rtol=0, atol=1e-12)


def test_conv_prepared_uses_the_cached_channels_last_weights():
    model = vocoders.load("hifigan", "small", **TINY)
    model.prepare_for_inference()
    conv = model.net.mrfs[1][2].convs1[1]  # kernel 11, dilation 3
    assert conv.prepared_weight.shape == (conv.out_channels, conv.in_channels, 1, 11)
    assert conv.prepared_weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(1, conv.in_channels, 1, 50).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(conv_prepared(conv, x).squeeze(2), conv(x.squeeze(2)), rtol=1e-5, atol=1e-6)


def _pair(size: str, seed: int = 0, **fields):
    return perturbed_pair("hifigan", size, seed, **fields)


def _close(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    diff = (got - want).abs().max().item()
    assert diff <= TOL * max(1.0, want.abs().max().item()), f"max |diff| {diff:.3g}"


def _calibration(n: int = 2) -> list[torch.Tensor]:
    return [_mel(12, seed=10 + i)[0] for i in range(n)]


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_generator_2d_and_prepared_path_equal_the_plain_generator(resblock):
    fields = dict(TINY, resblock=resblock)
    if resblock == "2":
        fields.update(resblock_kernel_sizes=(3, 5, 7), resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)))
    plain, prepared = _pair("small", **fields)
    mel = _mel(5, batch=2)
    want = plain.generate(mel).audio
    prepared.prepare_for_inference()
    with torch.no_grad():
        _close(Generator2d(prepared.net)(mel).squeeze(1), want)
    _close(prepared.generate(mel).audio, want)


@pytest.mark.parametrize("size", ["small", "medium", "large"])
@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_hifigan_float32_backends_equal_the_plain_path_on_the_presets(size, backend):
    if backend not in vbase.available_backends():
        pytest.skip(f"{backend} unavailable here")
    plain, prepared = _pair(size, seed=3)
    mel = _mel(6, batch=2)
    want = plain.generate(mel).audio
    prepared.prepare_for_inference(backend)
    _close(prepared.generate(mel).audio, want)
    _close(prepared.generate(mel[..., :1]).audio, plain.generate(mel[..., :1]).audio)  # one frame


def _require(backend):
    if backend not in vbase.available_backends():
        pytest.skip(f"backend {backend!r} unavailable here: {vbase._backend_problems().get(backend)}")


@pytest.mark.parametrize("backend", ["bf16", "int8"])
def test_reduced_precision_backends_change_the_output_by_a_bounded_amount(backend):
    _require(backend)
    plain, prepared = _pair("small", seed=4, **TINY)
    mel = _mel(8)
    want = plain.generate(mel).audio
    options = {"calibration_mels": _calibration()} if backend == "int8" else {}
    prepared.prepare_for_inference(backend, **options)
    assert prepared.inference_backend == backend
    got = prepared.generate(mel).audio
    assert got.dtype == torch.float32 and got.shape == want.shape
    rel = ((got - want).norm() / want.norm()).item()
    assert 0 < rel < (0.05 if backend == "bf16" else 0.3), rel  # changed (not silently fp32), but not destroyed
    assert all(p.dtype == torch.float32 for p in prepared.parameters())  # the weights themselves are left fp32
    prepared.prepare_for_inference()  # re-preparing with torch gives the float32 path back, exactly
    _close(prepared.generate(mel).audio, want)


def test_bf16_path_computes_in_bfloat16():
    _require("bf16")
    model = vocoders.load("hifigan", "small", **TINY).prepare_for_inference("bf16")
    assert {m.prepared_weight.dtype for m in model.net.modules() if hasattr(m, "prepared_weight")} == {torch.bfloat16}


@pytest.mark.parametrize(("backend", "isa", "flag"), [("bf16", "AVX512_BF16", "avx512_bf16"),
                                                      ("int8", "VNNI", "avx512_vnni")])
def test_a_cpu_without_the_instruction_set_is_refused_before_any_work(monkeypatch, backend, isa, flag):
    model = vocoders.load("hifigan", "small", **TINY)
    monkeypatch.setattr(vbase, "cpu_flags", lambda: frozenset({"fpu", "sse2", "avx2", "fma", "avx512f"}))
    with pytest.raises(ValueError, match=rf"backend='{backend}' is not available here: this CPU lacks the {isa}"):
        model.prepare_for_inference(backend)
    assert model.inference_backend is None and model.training  # nothing was changed
    assert any("parametrizations" in n for n, _ in model.named_parameters())  # weight norm still there
    assert backend not in vbase.available_backends()
    monkeypatch.setattr(vbase, "cpu_flags", lambda: frozenset())  # unreadable /proc/cpuinfo: refused too
    with pytest.raises(ValueError, match="no CPU flags could be read"):
        model.prepare_for_inference(backend)
    monkeypatch.setattr(vbase, "cpu_flags", lambda: frozenset({flag}))
    if backend == "bf16" or "onnxruntime" not in vbase._backend_problems():
        assert backend in vbase.available_backends()


def test_cpu_flags_are_read_from_proc_cpuinfo_once():
    flags = vbase.cpu_flags()
    assert vbase.cpu_flags() is flags  # cached for the process
    try:
        with open("/proc/cpuinfo") as fh:
            line = next((ln for ln in fh if ln.startswith("flags")), None)
    except OSError:
        line = None
    if line is None:
        assert flags == frozenset()
    else:
        assert flags == frozenset(line.split(":", 1)[1].split())


def test_misplaced_calibration_is_refused():
    model = vocoders.load("hifigan", "small", **TINY)
    with pytest.raises(ValueError, match="calibration_mels is only used by backend='int8'"):
        model.prepare_for_inference("torch", calibration_mels=_calibration())
    if "int8" in vbase.available_backends():
        with pytest.raises(ValueError, match=r"calibration_mels: calibration item 0 has shape \(40, 12\)"):
            model.prepare_for_inference("int8", calibration_mels=[torch.rand(40, 12)])
    assert model.inference_backend is None


def test_int8_without_greenaudio_quantization_names_the_import_after_the_instruction_set(monkeypatch):
    if "onnxruntime" in vbase._backend_problems():
        pytest.skip("onnx / onnxruntime not installed")
    model = vocoders.load("hifigan", "small", **TINY)
    monkeypatch.delitem(vbase._RUNNERS, "int8")  # as if greenaudio.quantization had not been imported
    monkeypatch.setattr(vbase, "cpu_flags", lambda: frozenset({"avx2"}))  # no VNNI: that is said first
    with pytest.raises(ValueError, match="this CPU lacks the VNNI"):
        model.prepare_for_inference("int8")
    monkeypatch.setattr(vbase, "cpu_flags", lambda: frozenset({"avx512_vnni"}))
    with pytest.raises(ValueError, match=r"backend='int8' needs greenaudio.quantization \(calibration on real mels "
                                         r"and int8 QDQ quantisation\).*`import greenaudio.quantization` first"):
        model.prepare_for_inference("int8", calibration_mels=_calibration())
    assert model.inference_backend is None and model.training  # nothing was changed
    assert "int8" in vbase.available_backends()  # the machine can: only the import is missing


def test_reduced_precision_backends_refuse_training():
    _require("bf16")
    model = vocoders.load("hifigan", "small", **TINY).prepare_for_inference("bf16")
    with pytest.raises(vbase.PreparedModelError):
        model.train()


def test_compute_roof_rates_come_from_exact_flop_counts(monkeypatch):
    from greenaudio.measure import roof

    result = roof.measure_compute_roof(threads=1, repeats=1, kernels=("conv1d-256ch-k3-fp32",))
    (k,) = result.kernels
    assert k.name == "conv1d-256ch-k3-fp32" and k.precision == "fp32" and k.runtime == "torch"
    assert k.gflop == pytest.approx(2 * 256 * 256 * 3 * 16384 / 1e9)  # 2 x MACs of the layer, by hand
    assert k.gflops_per_s == pytest.approx(k.gflop / k.best_s)
    assert result.roof_gflops_per_s == k.gflops_per_s and result.best().name == k.name
    assert "1 thread(s)" in result.method
    with pytest.raises(ValueError, match="no bf16 kernel was measured"):
        result.roof("bf16")
    with pytest.raises(ValueError, match="unknown or empty"):
        roof.measure_compute_roof(kernels=("fft",))
    with pytest.raises(ValueError, match="repeats"):
        roof.measure_compute_roof(repeats=0)
    with pytest.raises(ValueError, match="threads"):
        roof.measure_compute_roof(threads=True)


def test_roof_skips_kernels_the_cpu_cannot_run(monkeypatch):
    from greenaudio.measure import roof

    monkeypatch.setattr(vbase, "cpu_flags", lambda: frozenset({"avx2"}))
    result = roof.measure_compute_roof(repeats=1, kernels=("matmul-2048-bf16",))
    assert result.kernels == () and "AVX512_BF16" in result.skipped["matmul-2048-bf16"]
