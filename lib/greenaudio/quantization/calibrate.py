"""Post-training static int8 quantisation with ONNX Runtime: calibration data and ``quantize_static``; the ``"int8"``
backend of :meth:`greenaudio.vocoders.Vocoder.prepare_for_inference`.

Used by: :mod:`greenaudio.quantization.pipeline`, the QAT of Chapter 6, ``prepare_for_inference(backend="int8")``
(:func:`int8_runner`, registered by ``import greenaudio.quantization``).

Format: QDQ (QuantizeLinear/DequantizeLinear pairs around each quantised operator), weights int8 symmetric **per
output channel**, activations uint8 asymmetric per tensor, ranges from the min/max over the calibration data
(``CalibrationMethod.MinMax``). ONNX Runtime fuses the pairs into integer kernels where it has them.

Calibration data are real mels (e.g. ``greenaudio.data.load_espeak_speech("train")``). They are run through the
torch model's own procedure, and the inputs every graph receives on the way are recorded: the denoiser of a
diffusion model is calibrated on the noisy waveforms of every reverse step, a flow's row network on every row.

The ``"int8"`` backend: the model's ONNX graphs (:meth:`greenaudio.vocoders.onnx.OnnxVocoder.from_model`) are
calibrated on ``calibration_mels`` and each fp32 file is quantised with :func:`quantize_graph` (the chapter's
settings); ONNX Runtime fuses the QDQ pairs into QLinearConv, whose MLAS kernels use VNNI's ``vpdpbusd`` (four int8
products per 32-bit lane).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from greenaudio.vocoders.graphs import VocoderGraphs
from greenaudio.vocoders.onnx import OnnxVocoder

__all__ = ["check_calibration_mels", "record_graph_inputs", "quantize_graph", "QUANTIZATION_SETTINGS",
           "default_calibration_mels"]

#: How many training mels of the offline speech corpus calibrate the ``"int8"`` backend when none are given (the
#: default of ``scripts/bench_quantization.py``).
DEFAULT_CALIBRATION_MELS = 8

#: The settings of :func:`quantize_graph`, shown in the chapter.
QUANTIZATION_SETTINGS = {
    "tool": "onnxruntime.quantization.quantize_static",
    "format": "QDQ",
    "weights": "int8, symmetric, per output channel",
    "activations": "uint8, asymmetric, per tensor",
    "calibration": "MinMax over the recorded inputs",
}


def check_calibration_mels(mels: Any, n_mels: int) -> list[torch.Tensor]:
    """Validate calibration mels and return them as a list of float32 ``(1, n_mels, frames)`` tensors.

    Args:
        mels: a float32 tensor or array ``(N, n_mels, frames)``, or a sequence of ``(n_mels, frames)`` /
            ``(1, n_mels, frames)`` items (torch or numpy).
        n_mels: mel bands the model expects.

    Raises:
        ValueError: empty, wrong type, wrong dtype (float32 required), wrong shape, or non-finite values; the
            message names the offending item and what is valid. Nothing is run before the check passes.
    """
    if isinstance(mels, (torch.Tensor, np.ndarray)):
        if mels.ndim != 3:
            raise ValueError(f"calibration mels must have shape (N, {n_mels}, frames), got {tuple(mels.shape)}")
        items = [mels[i] for i in range(mels.shape[0])]
    elif isinstance(mels, Sequence) and not isinstance(mels, (str, bytes)):
        items = list(mels)
    else:
        raise ValueError("calibration mels must be a tensor, an array or a sequence of them, "
                         f"got {type(mels).__name__}")
    if not items:
        raise ValueError("calibration data are empty: give at least one mel (N >= 1)")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, (torch.Tensor, np.ndarray)):
            raise ValueError(f"calibration item {i} must be a torch tensor or numpy array, got {type(item).__name__}")
        dtype = str(item.dtype).replace("torch.", "")
        if dtype != "float32":
            raise ValueError(f"calibration item {i} has dtype {dtype}; valid dtype: float32 (the exported graphs' "
                             "input type)")
        t = torch.as_tensor(item)
        if t.dim() == 2:
            t = t.unsqueeze(0)
        if t.dim() != 3 or t.shape[0] != 1 or t.shape[1] != n_mels or t.shape[2] < 1:
            raise ValueError(f"calibration item {i} has shape {tuple(item.shape)}; valid shapes: ({n_mels}, frames) "
                             f"or (1, {n_mels}, frames) with frames >= 1")
        if not torch.isfinite(t).all():
            raise ValueError(f"calibration item {i} contains NaN or inf")
        out.append(t.contiguous())
    return out


class _Recorder:
    def __init__(self, fn: Callable[..., Any], store: list, limit: int):
        self.fn, self.store, self.limit, self.calls = fn, store, limit, 0

    def __call__(self, *args: torch.Tensor):
        self.calls += 1
        if len(self.store) < self.limit:
            self.store.append(tuple(a.detach().numpy().astype(np.float32, copy=True) for a in args))
        return self.fn(*args)


def record_graph_inputs(graphs: VocoderGraphs, mels: list[torch.Tensor], *, seed: int = 0,
                        max_per_graph: int = 256) -> dict[str, list[dict[str, np.ndarray]]]:
    """Run the torch procedure on each calibration mel and record the inputs of every graph.

    Args:
        graphs: the split vocoder.
        mels: validated mels (:func:`check_calibration_mels`).
        seed: seed of the noise of flows and diffusion models (one generator per mel: ``seed + index``).
        max_per_graph: keep at most this many input sets per graph (the first ones).

    Returns:
        graph name -> list of ``{input name: float32 array}``.
    """
    stores: dict[str, list] = {g.name: [] for g in graphs.graphs}
    backend = {g.name: _Recorder(g.module, stores[g.name], max_per_graph) for g in graphs.graphs}
    for i, mel in enumerate(mels):
        graphs.run(backend, mel, torch.Generator().manual_seed(seed + i))
    return {g.name: [dict(zip(g.input_names, arrays)) for arrays in stores[g.name]] for g in graphs.graphs}


def quantize_graph(fp32_path: str | Path, int8_path: str | Path, inputs: list[dict[str, np.ndarray]], *,
                   preprocess: bool = True) -> Path:
    """Static int8 quantisation of one ONNX graph (QDQ, per-channel int8 weights, uint8 activations).

    Args:
        fp32_path: the float32 model.
        int8_path: where to write the quantised model (one file).
        inputs: calibration feeds (input name -> float32 array), e.g. from :func:`record_graph_inputs`.
        preprocess: run ``quant_pre_process`` (shape inference and graph optimisation) first, as ONNX Runtime
            recommends; skipped with a fall-back when it fails on a graph.

    Returns:
        ``int8_path``.

    Raises:
        ValueError: no calibration input.
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not inputs:
        raise ValueError(f"no calibration input for {fp32_path}")
    fp32_path, int8_path = Path(fp32_path).resolve(), Path(int8_path).resolve()
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    # the pre-processed model goes to a fresh temporary folder (removed with its content), never to a name beside
    # int8_path that could be a file of the caller's; the pre-processing also runs *in* that folder, because ONNX
    # Runtime's symbolic shape inference, when it cannot finish, saves "sym_shape_infer_temp.onnx" and a
    # "<uuid>.data" file into the current working directory (onnxruntime 1.2x, tools/symbolic_shape_infer.py)
    with tempfile.TemporaryDirectory(prefix=f".{int8_path.stem}-pre-", dir=int8_path.parent) as scratch:
        source = fp32_path
        if preprocess:
            pre = Path(scratch) / "pre.onnx"
            with contextlib.chdir(scratch):
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=False)
                    source = pre
                except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
                    try:
                        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
                        source = pre
                    except Exception:  # noqa: BLE001
                        source = fp32_path

        class _Reader(CalibrationDataReader):
            def __init__(self):
                self._it = iter(inputs)

            def get_next(self):
                return next(self._it, None)

        with contextlib.redirect_stdout(io.StringIO()):  # shape inference prints notes on dynamic axes
            quantize_static(str(source), str(int8_path), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
    return int8_path


# -- the "int8" backend of prepare_for_inference ---------------------------------------------------------------------
def default_calibration_mels(count: int = DEFAULT_CALIBRATION_MELS) -> list[torch.Tensor]:
    """The first ``count`` mels ``(1, 80, 64)`` of the offline speech corpus's training split
    (:func:`greenaudio.data.load_espeak_speech`; built with espeak-ng and cached on first use)."""
    from greenaudio import data

    train = data.load_espeak_speech("train")
    return [torch.as_tensor(train[i][1], dtype=torch.float32)[None] for i in range(min(count, len(train)))]


def check_int8_calibration(mels: Any, n_mels: int) -> list[torch.Tensor]:
    """Validate ``calibration_mels`` for ``backend="int8"`` (``None``: :func:`default_calibration_mels`).

    Raises:
        ValueError: as :func:`check_calibration_mels`, prefixed ``calibration_mels:`` (names the bad item).
    """
    if mels is None:
        mels = default_calibration_mels()
    try:
        return check_calibration_mels(mels, n_mels)
    except ValueError as exc:
        raise ValueError(f"calibration_mels: {exc}") from None


def int8_runner(model, calibration_mels: list[torch.Tensor]) -> OnnxVocoder:
    """The ``"int8"`` backend's runner: the model's ONNX graphs quantised with ranges from the (checked) mels."""

    def quantize(graphs: VocoderGraphs, paths: dict[str, Path], folder: Path) -> dict[str, Path]:
        feeds = record_graph_inputs(graphs, calibration_mels)
        return {name: quantize_graph(path, folder / f"{name}.onnx", feeds[name]) for name, path in paths.items()}

    return OnnxVocoder.from_model(model, "int8", transform=quantize)
