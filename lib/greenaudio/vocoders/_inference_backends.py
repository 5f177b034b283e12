"""The ``"onnxruntime"`` backend of :meth:`greenaudio.vocoders.Vocoder.prepare_for_inference`.

Used by: :mod:`greenaudio.vocoders.base` (``prepare_for_inference(backend="onnxruntime")``).

The vocoder is split into loop-free graphs and a Python procedure by
:func:`greenaudio.quantization.graphs.split_vocoder` (the same split the quantization chapter exports for int8); here each graph is exported once to an fp32 ONNX file in a
temporary folder (``torch.onnx`` tracing exporter, weights inside the file), loaded into an ONNX Runtime CPU session
with every graph optimisation on (ORT fuses convolution + bias + activation where its optimiser can), and the file is
deleted. The procedure (diffusion steps, flows, rows) stays in Python and calls the sessions. Graph structure does not
depend on the procedure arguments (schedule, sigma), so a new procedure only re-binds the Python loop.

One exception: MelGAN's reflection padding falls back to replicate padding on inputs shorter than the pad (1 to 3
mel frames); a traced graph cannot switch mode, so such inputs run on the prepared torch path instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["OnnxRunner"]

_MELGAN_MAX_PAD = 3  # the widest reflection pad of MelGAN's generator (its k7 convolutions)


def _procedure_key(procedure: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in procedure.items()))


class OnnxRunner:
    """fp32 ONNX Runtime sessions for a prepared vocoder's graphs, and the Python procedure that calls them.

    Args:
        model: the vocoder (weight norm already removed; it is re-prepared with the torch backend by the split).

    Attributes:
        threads: ONNX Runtime intra-op threads (``torch.get_num_threads()`` when the runner was built).
    """

    def __init__(self, model):
        from greenaudio.quantization.export import export_graph
        from greenaudio.quantization.graphs import split_vocoder
        from greenaudio.quantization.runner import _SessionCall, make_session

        if model.config.model not in ("melgan", "hifigan", "diffwave", "wavegrad", "waveglow", "waveflow"):
            raise ValueError(f"no ONNX split for model {model.config.model!r}")
        self.model = model
        self.threads = int(torch.get_num_threads())
        default = model.resolve_procedure()
        graphs = split_vocoder(model, **default)
        self.splits = {_procedure_key(default): graphs}
        with tempfile.TemporaryDirectory(prefix="greenaudio-onnx-") as tmp:
            self.sessions = {
                g.name: _SessionCall(make_session(export_graph(g, Path(tmp) / f"{g.name}.onnx").path, self.threads))
                for g in graphs.graphs
            }

    def run(self, mel: torch.Tensor, generator: torch.Generator | None, procedure: dict[str, Any]) -> torch.Tensor:
        """Audio ``(B, frames * hop)`` for a validated mel and a resolved procedure."""
        from greenaudio.quantization.graphs import split_vocoder

        if self.model.config.model == "melgan" and mel.shape[-1] <= _MELGAN_MAX_PAD:
            return self.model._generate(mel, generator=generator, **procedure)  # see the module docstring
        key = _procedure_key(procedure)
        graphs = self.splits.get(key)
        if graphs is None:
            state = self.model.__dict__["_inference"]
            try:
                graphs = split_vocoder(self.model, **procedure)  # re-binds the loop; the sessions are reused
            finally:
                self.model.__dict__["_inference"] = state
            self.splits[key] = graphs
        with torch.no_grad():
            return graphs.procedure(self.sessions, mel.float(), generator).to(mel.dtype)
