"""DiffWave's ONNX Runtime graphs (``graphs.split_diffwave_conditioned``): the mel projections once per clip while
they fit the cache budget, the same audio as the plain torch path (trained weights included, where the step
encoding's precision shows), and the compile backend not slower than the prepared torch path (it runs it)."""

import pytest
import torch

from conftest import perturbed_pair as _pair
from conftest import random_mel as _mel
from greenaudio import shipped
from greenaudio.vocoders import graphs

torch.set_num_threads(1)
TOL = 1e-4  # max |diff| on unit-scale audio, as tests/test_vocoders_prepared.py


def _gen(model, mel):
    return model.generate(mel, generator=torch.Generator().manual_seed(0)).audio


def _counting(backend):
    calls = {name: 0 for name in backend}

    def wrap(name, fn):
        def call(*args):
            calls[name] += 1
            return fn(*args)
        return call

    return {name: wrap(name, fn) for name, fn in backend.items()}, calls


@pytest.mark.parametrize(("budget_groups", "cached"), [(None, 6), (2, 2), (0, 0)])
def test_mel_projections_run_once_per_clip_for_the_groups_that_fit(monkeypatch, budget_groups, cached):
    plain, prepared = _pair("diffwave", "small", seed=7)
    mel = _mel(2)
    want = _gen(plain, mel)
    split = graphs.split_diffwave_conditioned(prepared.prepare_for_inference(), 8)
    # 30 layers in groups of 5: six groups of 5 x 2C = 320 projection channels over T = 2 x 256 samples, float32
    assert [g.name for g in split.graphs] == ["conditioner", "embedding"] + [
        f"{kind}_{g}" for g in range(6) for kind in ("mel_projections", "layers")]
    if budget_groups is not None:
        monkeypatch.setattr(type(prepared), "CONDITIONER_CACHE_BYTES", budget_groups * 320 * 512 * 4)
    backend, calls = _counting(split.torch_backend())
    got = split.run(backend, mel, torch.Generator().manual_seed(0))
    steps = 6  # the default 'fast' schedule
    for g in range(6):
        assert calls[f"layers_{g}"] == steps
        assert calls[f"mel_projections_{g}"] == (1 if g < cached else steps), g
    assert (got - want).abs().max().item() <= TOL


def test_onnxruntime_equals_plain_on_the_trained_weights():
    # the trained network's output depends on the step embedding: a float64 step encoding (as the ONNX procedure
    # used to compute it) moved this model's audio by 2.8e-3 relative L2, 1 s of speech
    pytest.importorskip("onnxruntime")
    plain = shipped.load_shipped_model("diffwave-small")
    prepared = shipped.load_shipped_model("diffwave-small").prepare_for_inference(backend="onnxruntime")
    mel = _mel(4)
    want, got = _gen(plain, mel), _gen(prepared, mel)
    assert want.abs().max() > 0.01
    assert (got - want).abs().max().item() <= TOL
    assert ((got - want).norm() / want.norm()).item() < 1e-5


def test_diffwave_onnx_sessions_keep_the_memory_arena_and_the_portable_split_leaves_it_off():
    # DiffWave's groups are called at every step with the same shapes: the arena reuses their buffers (README: 1.6
    # against 0.95 s per clip for small); the portable split (Chapter 6's int8 measurements) keeps the default, off
    pytest.importorskip("onnxruntime")
    _, prepared = _pair("diffwave", "small", seed=8)
    assert not graphs.split_vocoder(prepared, 8).memory_arena
    prepared.prepare_for_inference(backend="onnxruntime")
    sessions = prepared.__dict__["_inference"]["runner"].backend.values()
    assert all(call.session.get_session_options().enable_cpu_mem_arena for call in sessions)
    # one arena shared by the twelve sessions (one each kept its own peak: 11.5 GB at 10 s for medium, README)
    assert all(call.session.get_session_options().get_session_config_entry("session.use_env_allocators") == "1"
               for call in sessions)
    _, gan = _pair("hifigan", "small", seed=8)
    gan.prepare_for_inference(backend="onnxruntime")
    assert not any(call.session.get_session_options().enable_cpu_mem_arena
                   for call in gan.__dict__["_inference"]["runner"].backend.values())
