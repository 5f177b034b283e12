"""Where the time of an ONNX Runtime vocoder goes: kernel time per operator, fp32 against int8.

Used by: notebooks/06_quantization.ipynb (why int8 is, or is not, faster on a given CPU).

:func:`profile_operators` runs a quantised vocoder's procedure with ONNX Runtime's own profiler on, once per
precision, and sums the kernel time of every node by operator type and by :data:`OPERATOR_GROUPS` (convolutions,
transposed convolutions, (de)quantisation, ...). The first procedure run is a warm-up and left out (allocations
and first touches of the weights). :func:`operator_facts` reads the chapter's explanation off the table: the
convolutions' time in int8 against fp32, the (de)quantization operators' time and the convolutions left in float.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from greenaudio.vocoders.onnx import SessionCall, make_session

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import QuantizedVocoder

__all__ = ["profile_operators", "summarise_by_group", "operator_facts"]

#: Operator type -> the group the chapter reports (ONNX Runtime's names after graph optimisation).
OPERATOR_GROUPS = {
    "Conv": "convolution", "FusedConv": "convolution", "QLinearConv": "convolution", "ConvInteger": "convolution",
    "ConvTranspose": "transposed convolution", "QLinearConvTranspose": "transposed convolution",
    "QuantizeLinear": "(de)quantization", "DequantizeLinear": "(de)quantization",
    "DynamicQuantizeLinear": "(de)quantization",
    "LeakyRelu": "activation", "QLinearLeakyRelu": "activation", "Tanh": "activation", "Sigmoid": "activation",
    "QLinearSigmoid": "activation", "Relu": "activation", "Softplus": "activation",
    "Add": "element-wise", "Mul": "element-wise", "Sub": "element-wise", "Div": "element-wise", "Exp": "element-wise",
    "QLinearAdd": "element-wise", "QLinearMul": "element-wise", "Sqrt": "element-wise",
    "Transpose": "layout", "Reshape": "layout", "Pad": "layout", "Concat": "layout", "Slice": "layout",
    "Split": "layout", "Unsqueeze": "layout", "Squeeze": "layout", "Expand": "layout", "Gather": "layout",
    "QLinearConcat": "layout",
}


#: Float convolution kernels: in an int8 model, time spent in them is time int8 did not reach.
FLOAT_CONVOLUTIONS = ("Conv", "FusedConv", "ConvTranspose")


def operator_group(op_type: str) -> str:
    """The group of an ONNX Runtime operator type (``"other"`` for types not in :data:`OPERATOR_GROUPS`)."""
    return OPERATOR_GROUPS.get(op_type, "other")


def _kernel_ms(profile_file: str | Path, procedure_runs: int | None = None) -> tuple[dict[str, float], int]:
    """Kernel time (ms) per operator type in one session's profile after its warm-up, and the calls counted.

    ``procedure_runs``: how many procedure runs the session served, the first being the warm-up; its calls divide
    evenly among them (a diffusion denoiser is called once per step), so the first ``calls / procedure_runs`` are
    left out. ``None``: the first call only."""
    events = json.loads(Path(profile_file).read_text())
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")
    if not runs:
        return {}, 0
    skip = max(1, len(runs) // procedure_runs) if procedure_runs else 1
    after_warmup = runs[skip - 1][1]
    totals: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= after_warmup:
            op = e.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + e["dur"] / 1000.0
    return totals, len(runs) - skip


def profile_operators(quantized: "QuantizedVocoder", mel: torch.Tensor, *, runs: int = 3, threads: int = 1,
                      seed: int = 0) -> pd.DataFrame:
    """Kernel time per operator type of the fp32 and int8 ONNX Runtime models on one mel.

    Args:
        quantized: from :func:`~greenaudio.quantization.quantize_vocoder`.
        mel: ``(1, n_mels, frames)`` mel.
        runs: procedure runs profiled after one warm-up run (not counted: every session's calls of that run).
        threads: ONNX Runtime intra-op threads.
        seed: noise seed of flows and diffusion models.

    Returns:
        one row per (precision, operator type): ``precision``, ``op_type``, ``group``, ``ms_per_run`` (kernel time
        per procedure run, in ms, summed over the model's graphs), ``share`` (of that precision's kernel time).

    Raises:
        ValueError: ``runs`` or ``threads`` not a positive integer.
    """
    for label, value in (("runs", runs), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ort-profile-") as folder:
        for precision, paths in (("fp32", quantized.fp32_paths), ("int8", quantized.int8_paths)):
            sessions = {name: make_session(path, threads, profile_prefix=Path(folder) / f"{precision}-{name}")
                        for name, path in paths.items()}
            backend = {name: SessionCall(s) for name, s in sessions.items()}
            for _ in range(runs + 1):
                quantized.graphs.run(backend, mel, torch.Generator().manual_seed(seed))
            totals: dict[str, float] = {}
            for session in sessions.values():
                for op, ms in _kernel_ms(session.end_profiling(), runs + 1)[0].items():
                    totals[op] = totals.get(op, 0.0) + ms
            whole = sum(totals.values()) or 1.0
            rows += [{"precision": precision, "op_type": op, "group": operator_group(op), "ms_per_run": ms / runs,
                      "share": ms / whole} for op, ms in sorted(totals.items(), key=lambda kv: -kv[1])]
    return pd.DataFrame(rows, columns=["precision", "op_type", "group", "ms_per_run", "share"])


def summarise_by_group(profile: pd.DataFrame) -> pd.DataFrame:
    """Kernel ms per run by operator group (rows) and precision (columns), with the int8/fp32 ratio."""
    table = profile.pivot_table(index="group", columns="precision", values="ms_per_run", aggfunc="sum",
                                fill_value=0.0)
    for precision in ("fp32", "int8"):
        if precision not in table:
            table[precision] = 0.0
    table = table[["fp32", "int8"]]
    table["int8 / fp32"] = table["int8"] / table["fp32"].where(table["fp32"] > 0)
    table.loc["total"] = [table["fp32"].sum(), table["int8"].sum(), table["int8"].sum() / table["fp32"].sum()]
    return table.rename(columns={"fp32": "fp32 ms per run", "int8": "int8 ms per run"})


def operator_facts(profile: pd.DataFrame) -> dict[str, float]:
    """Where the int8 time goes, from :func:`profile_operators` rows (kernel ms per procedure run).

    Returns:
        ``conv_fp32_ms`` and ``conv_int8_ms`` (the "convolution" group), ``conv_ratio`` (int8 / fp32; NaN without
        fp32 convolutions), ``conversion_ms`` (QuantizeLinear/DequantizeLinear in the int8 model),
        ``float_conv_int8_ms`` (convolutions of the int8 model that run as float kernels, :data:`FLOAT_CONVOLUTIONS`:
        their weights are int8, but ONNX Runtime's CPU provider runs them between DequantizeLinear and QuantizeLinear,
        e.g. every ConvTranspose), ``total_fp32_ms``, ``total_int8_ms`` and ``total_ratio`` (int8 / fp32).
    """
    table = summarise_by_group(profile)
    ms = lambda group, col: float(table[col].get(group, 0.0))  # noqa: E731
    conv_fp32, conv_int8 = ms("convolution", "fp32 ms per run"), ms("convolution", "int8 ms per run")
    int8_rows = profile[profile["precision"] == "int8"]
    total_fp32, total_int8 = ms("total", "fp32 ms per run"), ms("total", "int8 ms per run")
    return {"conv_fp32_ms": conv_fp32, "conv_int8_ms": conv_int8,
            "conv_ratio": conv_int8 / conv_fp32 if conv_fp32 > 0 else float("nan"),
            "conversion_ms": ms("(de)quantization", "int8 ms per run"),
            "float_conv_int8_ms": float(int8_rows[int8_rows["op_type"].isin(FLOAT_CONVOLUTIONS)]["ms_per_run"].sum()),
            "total_fp32_ms": total_fp32, "total_int8_ms": total_int8,
            "total_ratio": total_int8 / total_fp32 if total_fp32 > 0 else float("nan")}
