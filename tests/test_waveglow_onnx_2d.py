"""WaveGlow's ONNX graphs (:func:`greenaudio.vocoders.graphs.split_vocoder`) compute with 2-D ``(1, K)`` convolutions
on ``(B, C, 1, T)`` activations (ONNX Runtime's NCHWc kernels), keep the graph names and 1-D shapes of their inputs
and outputs, and give the plain model's audio (tiny configurations; the ``small`` preset: test_vocoders_prepared.py).
"""

import math

import pytest
import torch

from conftest import TINY_CONFIGS
from conftest import perturbed_pair as _pair
from conftest import random_mel as _mel
from greenaudio.vocoders.graphs import split_vocoder
from greenaudio.vocoders.onnx import export_graph

torch.set_num_threads(1)

TOL = 1e-4


def _exported(tmp_path, **fields):
    """The tiny WaveGlow (its parameter count) and its graphs exported to ``tmp_path`` (``{name: onnx.ModelProto}``)."""
    onnx = pytest.importorskip("onnx")
    plain, _ = _pair("waveglow", "small", **{**TINY_CONFIGS["waveglow"], **fields})
    graphs = split_vocoder(plain)
    n_parameters = sum(p.numel() for p in plain.parameters())
    return n_parameters, {g.name: onnx.load(str(export_graph(g, tmp_path / f"{g.name}.onnx").path))
                          for g in graphs.graphs}


def _shape(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("upsample_kernel", [512, 600])  # 600: not a multiple of hop 256, zero-padded kernel
def test_exported_graphs_have_only_2d_convolutions_and_keep_their_inputs_and_outputs(tmp_path, upsample_kernel):
    n_parameters, models = _exported(tmp_path, upsample_kernel=upsample_kernel)
    assert list(models) == ["conditioner"] + [f"flow_{k}" for k in range(12)]
    if upsample_kernel == 512:  # a multiple of the hop: the graphs hold the model's parameters, no more
        assert sum(math.prod(t.dims) for m in models.values() for t in m.graph.initializer) == n_parameters
    for name, model in models.items():
        weights = {t.name: list(t.dims) for t in model.graph.initializer}
        convs = [n for n in model.graph.node if n.op_type.startswith("Conv")]
        assert convs and all(n.op_type == "Conv" for n in convs), name  # no ConvTranspose left
        for node in convs:  # every weight an initializer (C_out, C_in, 1, K)
            assert len(weights.get(node.input[1], [])) == 4, (name, node.name, weights.get(node.input[1]))
        assert not any(n.op_type == "Squeeze" for n in model.graph.node), name  # flatten at the end instead
    cond = models["conditioner"]
    assert [(i.name, _shape(i)) for i in cond.graph.input] == [("mel", ["batch", 80, "frames"])]
    assert [(o.name, _shape(o)) for o in cond.graph.output] == [("cond", ["batch", 640, "length"])]
    flow = models["flow_11"]
    assert [(i.name, _shape(i)) for i in flow.graph.input] == [("x", ["batch", 4, "length"]),
                                                               ("cond", ["batch", 640, "length"])]
    assert [o.name for o in flow.graph.output] == ["x_prev"] and len(_shape(flow.graph.output[0])) == 3


@pytest.mark.parametrize("upsample_kernel", [512, 600])
def test_onnxruntime_backend_equals_plain_on_tiny_waveglow(upsample_kernel):
    pytest.importorskip("onnxruntime")
    plain, prepared = _pair("waveglow", "small", seed=4, **{**TINY_CONFIGS["waveglow"],
                                                             "upsample_kernel": upsample_kernel})
    mel = _mel(5, batch=2)
    want = plain.generate(mel, generator=torch.Generator().manual_seed(0)).audio
    prepared.prepare_for_inference(backend="onnxruntime")
    got = prepared.generate(mel, generator=torch.Generator().manual_seed(0)).audio
    assert got.shape == want.shape
    assert ((got - want).norm() / want.norm()).item() <= TOL
    assert (got - want).abs().max().item() <= TOL * max(1.0, want.abs().max().item())
