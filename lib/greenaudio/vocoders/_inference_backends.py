"""The ONNX Runtime backends of :meth:`greenaudio.vocoders.Vocoder.prepare_for_inference`: ``"onnxruntime"`` (fp32)
and ``"int8"`` (static int8, QDQ).

Used by: :mod:`greenaudio.vocoders.base` (``prepare_for_inference(backend="onnxruntime" | "int8")``).

The vocoder is split into loop-free graphs and a Python procedure, by the family's own export hook
(:meth:`~greenaudio.vocoders.base.Vocoder._export_graphs`: HiFi-GAN exports its generator as 2-D convolutions, which
ONNX Runtime runs in its blocked NCHWc layout) or else by :func:`greenaudio.quantization.graphs.split_vocoder` (the
same split the quantization chapter exports for int8); here each graph is exported once to an fp32 ONNX file in a
temporary folder (``torch.onnx`` tracing exporter, weights inside the file), loaded into an ONNX Runtime CPU session
with every graph optimisation on (ORT fuses convolution + bias + activation where its optimiser can), and the file is
deleted. The procedure (diffusion steps, flows, rows) stays in Python and calls the sessions. Graph structure does not
depend on the procedure arguments (schedule, sigma), so a new procedure only re-binds the Python loop.

``"int8"``: the graphs' inputs are recorded while the torch procedure runs on calibration mels
(:func:`greenaudio.quantization.calibrate.record_graph_inputs`), and each fp32 file is quantised with
:func:`greenaudio.quantization.calibrate.quantize_graph` (the chapter's settings: QDQ, int8 symmetric per-channel
weights, uint8 per-tensor activations, MinMax ranges); ONNX Runtime fuses the QDQ pairs into QLinearConv, whose
MLAS kernels use VNNI's ``vpdpbusd`` (four int8 products per 32-bit lane).

One exception: MelGAN's reflection padding falls back to replicate padding on inputs shorter than the pad (1 to 3
mel frames for the presets, :func:`greenaudio.vocoders.melgan.min_reflection_frames` in general); a traced graph
cannot switch mode, so such inputs run on the prepared torch path instead (same result as the torch backend), and the
graph is traced on at least that many frames so that it reflects wherever the torch model does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["OnnxRunner", "check_int8_calibration", "default_calibration_mels", "DEFAULT_CALIBRATION_MELS"]

#: How many training mels of the offline speech corpus calibrate the ``"int8"`` backend when none are given (the
#: default of ``scripts/bench_quantization.py``).
DEFAULT_CALIBRATION_MELS = 8


def _procedure_key(procedure: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in procedure.items()))


def default_calibration_mels(count: int = DEFAULT_CALIBRATION_MELS) -> list[torch.Tensor]:
    """The first ``count`` mels ``(1, 80, 64)`` of the offline speech corpus's training split
    (:func:`greenaudio.data.load_espeak_speech`; built with espeak-ng and cached on first use)."""
    from greenaudio import data

    train = data.load_espeak_speech("train")
    return [torch.as_tensor(train[i][1], dtype=torch.float32)[None] for i in range(min(count, len(train)))]


def check_int8_calibration(mels: Any, n_mels: int) -> list[torch.Tensor]:
    """Validate ``calibration_mels`` for ``backend="int8"`` (``None``: :func:`default_calibration_mels`).

    Raises:
        ValueError: as :func:`greenaudio.quantization.calibrate.check_calibration_mels` (names the bad item).
        ImportError: ``onnxruntime.quantization`` cannot be imported.
    """
    from greenaudio.quantization.calibrate import check_calibration_mels

    if mels is None:
        mels = default_calibration_mels()
    try:
        return check_calibration_mels(mels, n_mels)
    except ValueError as exc:
        raise ValueError(f"calibration_mels: {exc}") from None


def _graphs(model, example_frames: int, **procedure: Any):
    from greenaudio.quantization.graphs import split_vocoder

    graphs = model._export_graphs(example_frames, **procedure)
    return graphs if graphs is not None else split_vocoder(model, example_frames=example_frames, **procedure)


class OnnxRunner:
    """ONNX Runtime sessions (fp32 or int8) for a prepared vocoder's graphs, and the Python procedure that calls them.

    Args:
        model: the vocoder (weight norm already removed; it is re-prepared with the torch backend by the split).
        precision: ``"fp32"`` or ``"int8"``.
        calibration_mels: ``"int8"``: validated mels (:func:`check_int8_calibration`) the ranges are taken from.

    Attributes:
        threads: ONNX Runtime intra-op threads (``torch.get_num_threads()`` when the runner was built).
    """

    def __init__(self, model, precision: str = "fp32", calibration_mels: list[torch.Tensor] | None = None):
        from greenaudio.quantization.export import export_graph
        from greenaudio.quantization.runner import _SessionCall, make_session

        if model.config.model not in ("melgan", "hifigan", "diffwave", "wavegrad", "waveglow", "waveflow"):
            raise ValueError(f"no ONNX split for model {model.config.model!r}")
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision={precision!r} is not valid; choose one of ['fp32', 'int8']")
        if precision == "int8" and not calibration_mels:
            raise ValueError("precision='int8' needs calibration_mels (check_int8_calibration)")
        self.model, self.precision = model, precision
        self.threads = int(torch.get_num_threads())
        #: mel frames below which MelGAN runs on the torch path (its reflection pads would replicate there)
        self.min_frames = 1
        example_frames = 8
        if model.config.model == "melgan":
            from .melgan import min_reflection_frames

            self.min_frames = min_reflection_frames(model.config)
            example_frames = max(example_frames, self.min_frames)
        default = model.resolve_procedure()
        graphs = _graphs(model, example_frames, **default)
        self.splits = {_procedure_key(default): graphs}
        with tempfile.TemporaryDirectory(prefix="greenaudio-onnx-") as tmp:
            paths = {g.name: export_graph(g, Path(tmp) / f"{g.name}.onnx").path for g in graphs.graphs}
            if precision == "int8":
                from greenaudio.quantization.calibrate import quantize_graph, record_graph_inputs

                feeds = record_graph_inputs(graphs, calibration_mels)
                paths = {name: quantize_graph(path, Path(tmp) / "int8" / f"{name}.onnx", feeds[name])
                         for name, path in paths.items()}
            self.sessions = {name: _SessionCall(make_session(path, self.threads)) for name, path in paths.items()}

    def run(self, mel: torch.Tensor, generator: torch.Generator | None, procedure: dict[str, Any]) -> torch.Tensor:
        """Audio ``(B, frames * hop)`` for a validated mel and a resolved procedure."""
        if mel.shape[-1] < self.min_frames:
            return self.model._generate(mel, generator=generator, **procedure)  # see the module docstring
        key = _procedure_key(procedure)
        graphs = self.splits.get(key)
        if graphs is None:
            state = self.model.__dict__["_inference"]
            try:
                # re-binds the loop; the sessions are reused
                graphs = _graphs(self.model, max(8, self.min_frames), **procedure)
            finally:
                self.model.__dict__["_inference"] = state
            self.splits[key] = graphs
        with torch.no_grad():
            return graphs.procedure(self.sessions, mel.float(), generator).to(mel.dtype)
