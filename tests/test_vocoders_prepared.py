"""``prepare_for_inference(backend=...)`` of the six vocoder families: same audio as the plain path for all 18
configurations, the backends, memory-lean WaveFlow conditioning, and refusal of training use.

Tolerance (stated in ``Vocoder.prepare_for_inference``): ``max |prepared - plain| <= 1e-4 * max(1, max |plain|)`` on
seeded generation. The rewrites change float32 summation order only (stacked GEMMs, polyphase convolution,
``tanh(a) = 2 sigmoid(2a) - 1``), so differences are a few float32 ulps of unit-scale audio.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from conftest import perturbed_pair as _pair
from conftest import random_mel as _mel
import greenaudio.quantization  # noqa: F401  (registers the "int8" backend of prepare_for_inference)
from greenaudio import vocoders
from greenaudio.vocoders import base as vbase
from greenaudio.vocoders.base import PreparedModelError

torch.set_num_threads(1)

CONFIGS = list(vocoders.iter_presets())
SLOW_CONFIGS = {("waveglow", "large"), ("waveglow", "medium"), ("wavegrad", "large"), ("waveflow", "large"),
                ("diffwave", "large")}
TOL = 1e-4


def _gen(model, mel, **procedure):
    return model.generate(mel, generator=torch.Generator().manual_seed(0), **procedure).audio


def _assert_close(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    scale = max(1.0, want.abs().max().item())
    diff = (got - want).abs().max().item()
    assert diff <= TOL * scale, f"max |diff| {diff:.3g} > {TOL * scale:.3g}"


@pytest.mark.parametrize(
    ("name", "size"),
    [pytest.param(n, s, marks=pytest.mark.slow) if (n, s) in SLOW_CONFIGS else (n, s) for n, s in CONFIGS],
)
def test_prepared_torch_equals_plain_for_all_18(name, size):
    plain, prepared = _pair(name, size)
    mel = _mel(2, batch=2)
    want = _gen(plain, mel)
    assert want.abs().max() > 0  # the perturbation makes every family's output depend on its weights
    assert prepared.prepare_for_inference() is prepared
    assert prepared.inference_backend == "torch" and not prepared.training
    _assert_close(_gen(prepared, mel), want)


@pytest.mark.parametrize(("name", "procedure"), [
    ("diffwave", {"schedule": "full"}), ("wavegrad", {"schedule": "full"}), ("wavegrad", {"clamp": "none"}),
    ("waveflow", {"sigma": 0.5}), ("waveglow", {"sigma": 1.0}), ("waveflow", {"reverse": "plain"}),
])
def test_prepared_equals_plain_for_other_procedures(name, procedure):
    plain, prepared = _pair(name, "small", seed=2)
    mel = _mel(1)
    want = _gen(plain, mel, **procedure)
    _assert_close(_gen(prepared.prepare_for_inference(), mel, **procedure), want)


def test_diffwave_partial_conditioner_cache_gives_the_same_audio(monkeypatch):
    plain, prepared = _pair("diffwave", "small", seed=3)
    mel = _mel(2)
    want = _gen(plain, mel)
    prepared.prepare_for_inference()
    per_layer = 2 * 32 * 2 * 256 * 4  # bytes of one layer's mel projection: 2C channels x T samples x float32
    monkeypatch.setattr(type(prepared), "CONDITIONER_CACHE_BYTES", 7 * per_layer + 1)  # 7 of 30 layers cached
    _assert_close(_gen(prepared, mel), want)
    monkeypatch.setattr(type(prepared), "CONDITIONER_CACHE_BYTES", 0)  # none cached
    _assert_close(_gen(prepared, mel), want)


class _LargestOutput(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operator returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_waveflow_prepared_conditioning_is_row_by_row():
    # small: 8 layers x 2r = 1024 conditioning channels, h = 8 rows of T / 8 samples; T = 2 frames x 256 samples
    plain, prepared = _pair("waveflow", "small")
    mel, t = _mel(2), 2 * 256
    prepared.prepare_for_inference()
    sizes = {}
    for key, model in (("plain", plain), ("prepared", prepared)):
        with torch.no_grad(), _LargestOutput() as mode:
            _gen(model, mel)
        sizes[key] = mode.largest
    assert sizes["plain"] >= 1024 * t * 7 // 8  # all layers' conditioning of the 7 transformed rows at once
    # nothing larger than one row's conditioning (1024 channels x T / 8) or the upsampled mel (80 bands x T samples)
    assert sizes["prepared"] <= max(80 * t, 1024 * t // 8)


@pytest.mark.parametrize("name", ["melgan", "hifigan", "diffwave", "wavegrad",
                                  pytest.param("waveglow", marks=pytest.mark.slow),
                                  pytest.param("waveflow", marks=pytest.mark.slow)])
def test_onnxruntime_backend_equals_plain(name):
    pytest.importorskip("onnxruntime")
    plain, prepared = _pair(name, "small", seed=4)
    mel = _mel(4)
    want = _gen(plain, mel)
    prepared.prepare_for_inference(backend="onnxruntime")
    assert prepared.inference_backend == "onnxruntime"
    _assert_close(_gen(prepared, mel), want)
    _assert_close(_gen(prepared, mel[..., :2]), _gen(plain, mel[..., :2]))  # MelGAN: 2 frames run on torch
    if name in ("diffwave", "wavegrad"):  # another procedure re-binds the Python loop to the same sessions
        _assert_close(_gen(prepared, mel, schedule="full"), _gen(plain, mel, schedule="full"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["melgan", "hifigan"])
def test_compile_backend_equals_plain(name):
    if "compile" not in vbase.available_backends():
        pytest.skip("torch.compile unavailable here")
    plain, prepared = _pair(name, "small", seed=5)
    mel = _mel(2)
    prepared.prepare_for_inference(backend="compile")
    _assert_close(_gen(prepared, mel), _gen(plain, mel))


def test_every_family_implements_every_backend_and_a_family_that_does_not_is_refused(monkeypatch):
    # the CPU could run them (flags monkeypatched in): a family's refusal comes before the model is changed
    monkeypatch.setattr(vbase, "cpu_flags", lambda: frozenset({"avx512_bf16", "avx512_vnni"}))
    assert set(vbase.REDUCED_PRECISION_BACKENDS) <= set(vbase.INFERENCE_BACKENDS)
    for name in vocoders.names():
        assert set(vocoders.load(name, "small").supported_backends) == set(vbase.INFERENCE_BACKENDS), name
    model = vocoders.load("wavegrad", "small")
    monkeypatch.setattr(type(model), "supported_backends", ("torch", "compile", "onnxruntime"))
    for backend in vbase.REDUCED_PRECISION_BACKENDS:
        with pytest.raises(ValueError, match=rf"backend='{backend}' is not implemented for WaveGrad; its backends: "
                                             r"\['torch', 'compile', 'onnxruntime'\]"):
            model.prepare_for_inference(backend)
        assert model.inference_backend is None


@pytest.mark.parametrize("backend", ["bf16", pytest.param("int8", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", ["diffwave", "wavegrad", "waveglow", "waveflow"])
def test_iterative_reduced_precision_backends_change_the_output_by_a_bounded_amount(name, backend):
    if backend not in vbase.available_backends():
        pytest.skip(f"{backend} unavailable here")
    import greenaudio.quantization  # noqa: F401  (registers "int8")

    plain, prepared = _pair(name, "small", seed=7)
    mel = _mel(4)
    want = _gen(plain, mel)
    options = {"calibration_mels": [_mel(8, seed=30 + i)[0] for i in range(2)]} if backend == "int8" else {}
    got = _gen(prepared.prepare_for_inference(backend, **options), mel)
    rel = ((got - want).norm() / want.norm()).item()
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert 0 < rel < (0.05 if backend == "bf16" else 0.5), rel  # changed (not silently fp32), not destroyed
    assert all(p.dtype == torch.float32 for p in prepared.parameters())  # the caller's weights stay float32
    if backend == "bf16":
        runner = prepared.__dict__["_inference"]["runner"]
        assert {p.dtype for p in runner.model.parameters()} == {torch.bfloat16}  # the copy computes in bfloat16
    prepared.prepare_for_inference("torch")  # re-preparing gives the float32 path back
    _assert_close(_gen(prepared, mel), want)


@pytest.mark.parametrize("backend", ["bf16", "int8"])
@pytest.mark.parametrize("name", ["hifigan", "melgan"])
def test_gan_reduced_precision_backends_on_every_preset_stay_close(name, backend):
    if backend not in vbase.available_backends():
        pytest.skip(f"{backend} unavailable here")
    for size in ("small", "medium"):
        plain, prepared = _pair(name, size, seed=6)
        mel = _mel(6)
        want = _gen(plain, mel)
        options = {"calibration_mels": [_mel(16, seed=20 + i)[0] for i in range(2)]} if backend == "int8" else {}
        got = _gen(prepared.prepare_for_inference(backend, **options), mel)
        rel = ((got - want).norm() / want.norm()).item()
        assert got.dtype == want.dtype and 0 < rel < 0.2, (size, rel)


def test_unknown_and_unavailable_backends_name_the_available_ones(monkeypatch):
    model = vocoders.load("melgan", "small")
    with pytest.raises(ValueError, match=r"backend='tensorrt'.*'torch'"):
        model.prepare_for_inference(backend="tensorrt")
    monkeypatch.setattr(vbase, "_cxx_compiler", lambda: None)
    with pytest.raises(ValueError, match=r"backend='compile' is not available.*C\+\+ compiler.*available backends: "
                                         r"\['torch'"):
        model.prepare_for_inference(backend="compile")
    assert vbase.available_backends()[0] == "torch" and "compile" not in vbase.available_backends()
    assert model.inference_backend is None  # nothing was changed before the error
    assert vbase.check_backend("TORCH") == "torch"


@pytest.mark.parametrize(("name", "backend"), [(n, "torch") for n in vocoders.names()] + [("hifigan", "bf16"),
                                                                                          ("melgan", "bf16"),
                                                                                          ("wavegrad", "bf16")])
def test_prepared_model_refuses_training(name, backend):
    if backend not in vbase.available_backends():
        pytest.skip(f"{backend} unavailable here")
    model = vocoders.load(name, "small").prepare_for_inference(backend)
    mel, audio = _mel(2), torch.zeros(1, 512)
    with pytest.raises(PreparedModelError, match="prepared for inference.*model.train"):
        model.train()
    assert not model.training and model.is_prepared  # the refusal left the model usable
    if model.family == "gan":
        with pytest.raises(PreparedModelError, match="forward"):
            model(mel)
        with pytest.raises(PreparedModelError, match="generator_loss"):
            model.generator_loss(audio, audio, mel, model.build_discriminator())
        with torch.no_grad():
            assert model(mel).shape == (1, 512)
    else:
        with pytest.raises(PreparedModelError, match="training_loss"):
            model.training_loss(audio, mel)
    assert model.generate(mel).audio.shape == (1, 512)


def test_unprepared_model_still_trains():
    model = vocoders.load("diffwave", "small")
    assert model.train() is model and model.inference_backend is None
    loss = model.training_loss(torch.zeros(1, 512), _mel(2))["loss"]
    loss.backward()


def test_shipped_inference_speed_file_is_complete_and_consistent():
    from greenaudio.chapters import inference_speed

    rows = inference_speed.load_inference_speed()
    timed = rows.dropna(subset=["time_s"])
    small = timed[(timed["size"] == "small") & (timed.duration_s.round(0) == 1.0)]
    assert set(small.model) == set(vocoders.names())  # the six families, small, 1 s
    for _, group in small.groupby("model"):
        assert {"plain", "prepared-torch"} <= set(group.variant)
        plain = group[group.variant == "plain"].time_s.iloc[0]
        for _, r in group.iterrows():  # speed-up is the ratio of the measured times, RTF time per audio second
            assert r.speedup_vs_plain == pytest.approx(plain / r.time_s, rel=1e-9)
            assert r.rtf == pytest.approx(r.time_s / r.duration_s, rel=1e-9)
    for col in ("device", "threads", "torch_version", "date_utc", "command"):
        assert rows[col].astype(str).str.len().min() > 0
    wf = rows[(rows.model == "waveflow") & (rows["size"] == "large") & (rows.duration_s == 10.0)]
    assert set(wf.variant) >= {"plain", "prepared-torch"} and wf.peak_rss_mb.notna().all()
    table = inference_speed.inference_speed_table(rows)
    assert list(table.columns[:4]) == ["model", "size", "audio (s)", "variant"] and len(table) == len(rows)
    provenance = inference_speed.inference_speed_provenance(rows)
    assert rows.device.iloc[0] in provenance["machine"] and "thread" in provenance["machine"]
    assert provenance["method"].startswith("measured:")


def test_inference_speed_rejects_a_foreign_csv(tmp_path):
    from greenaudio.chapters import inference_speed

    path = tmp_path / "other.csv"
    path.write_text("model,size\nmelgan,small\n")
    with pytest.raises(ValueError, match="missing column.*duration_s"):
        inference_speed.load_inference_speed(path)
