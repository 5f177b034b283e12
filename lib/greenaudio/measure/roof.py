"""The machine's compute roof, measured in the run that uses it: GFLOP/s of a few named kernels.

Used by: scripts/bench_inference.py (each row's fraction of the roof: achieved GFLOP/s / roof).

A roofline plot needs the highest rate the machine reaches on the kind of work being measured, at the thread count of
the measurement and under the load the measurement saw; a datasheet peak is neither (turbo, AVX-512 down-clocking,
a shared core). :func:`measure_compute_roof` times each kernel of :data:`ROOF_KERNELS` (``repeats`` calls after a
warm-up, the **fastest** call: the roof is what the machine can do, a slow spell is not), computes its rate from the
kernel's exact FLOP count (2 x multiply-accumulates, the convention of :mod:`greenaudio.measure.flops`), and reports
each kernel's rate and which is best. Kernels:

* ``matmul-2048-fp32`` (torch): a 2048 x 2048 by 2048 x 2048 float32 matrix product (MKL SGEMM): the fp32 roof on
  most CPUs; 17.2 GFLOP per call.
* ``conv1d-256ch-k3-fp32`` (torch): a 256 -> 256 channel, kernel-3 1-D convolution over 16384 samples (oneDNN), the
  vocoders' own kind of layer; 6.4 GFLOP per call.
* ``matmul-2048-fp32-onnxruntime``: the same product in ONNX Runtime (MLAS SGEMM), where ONNX Runtime is installed.
* ``matmul-2048-bf16`` (torch, bfloat16 in and out, float32 accumulation): the bf16 roof; measured only where the CPU
  has AVX512_BF16 (else it is emulated and says nothing about a roof).
* ``matmul-2048-int8-onnxruntime``: a uint8 x int8 ``MatMulInteger`` (int32 out) in ONNX Runtime: the int8 roof (MLAS
  QGEMM, VNNI where the CPU has it); counted as 2 x multiply-accumulates too ("GOP/s").

:attr:`ComputeRoof.roof_gflops_per_s` is the best **float32** kernel (the roof of the float32 paths);
:meth:`ComputeRoof.roof` gives it per precision (``"fp32"``, ``"bf16"``, ``"int8"``).

Measured on this project's CPU (one core of a 2-core AMD EPYC VM with AVX-512, AVX512_BF16 and AVX512_VNNI, one
thread, 1-minute load 1.8-2.2, 2026-12-06): fp32 matmul 90-93 GFLOP/s in torch and 84-90 in ONNX Runtime, the conv1d
75, bf16 matmul 205-207, int8 MatMulInteger 302-314 GOP/s. A well-shaped HiFi-GAN layer can exceed the matmul's
rate (HiFi-GAN large's plain path averaged 98 GFLOP/s in the same run): the roof is a measured reference, not a bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..validation import check_positive_int

__all__ = ["KernelRate", "ComputeRoof", "measure_compute_roof", "ROOF_METHOD"]

#: The kernels :func:`measure_compute_roof` times: name -> (precision, runtime, what it computes).
ROOF_KERNELS = {
    "matmul-2048-fp32": ("fp32", "torch", "2048x2048 @ 2048x2048 float32 matrix product"),
    "conv1d-256ch-k3-fp32": ("fp32", "torch", "256 -> 256 channel kernel-3 conv1d over 16384 samples, float32"),
    "matmul-2048-fp32-onnxruntime": ("fp32", "onnxruntime", "2048x2048 @ 2048x2048 float32 MatMul"),
    "matmul-2048-bf16": ("bf16", "torch", "2048x2048 @ 2048x2048 bfloat16 matrix product (float32 accumulation)"),
    "matmul-2048-int8-onnxruntime": ("int8", "onnxruntime", "2048x2048 @ 2048x2048 uint8 x int8 MatMulInteger, "
                                                           "int32 out"),
}

#: How the roof is measured (a row's provenance).
ROOF_METHOD = ("greenaudio.measure.roof.measure_compute_roof: fastest of {repeats} calls after a warm-up of each named "
               "kernel (2 x multiply-accumulates / wall time), at {threads} thread(s), in the same run; the roof is "
               "the best float32 kernel")

_N = 2048
_CONV = (256, 3, 16384)


@dataclass(frozen=True)
class KernelRate:
    """One kernel's measured rate.

    Attributes:
        name: key of :data:`ROOF_KERNELS`.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"``.
        runtime: ``"torch"`` or ``"onnxruntime"``.
        gflop: work of one call (2 x multiply-accumulates, in GFLOP).
        best_s: the fastest call (in s).
        gflops_per_s: ``gflop / best_s``.
    """

    name: str
    precision: str
    runtime: str
    gflop: float
    best_s: float
    gflops_per_s: float


@dataclass(frozen=True)
class ComputeRoof:
    """The kernels' rates and the roof they give.

    Attributes:
        kernels: every kernel measured (those whose runtime or instruction set is missing are absent; see
            ``skipped``).
        skipped: kernel name -> why it was not measured.
        threads: torch / ONNX Runtime threads during the measurement.
        repeats: timed calls per kernel.
        method: :data:`ROOF_METHOD` filled in.
    """

    kernels: tuple[KernelRate, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    repeats: int = 5
    method: str = ""

    def best(self, precision: str = "fp32") -> KernelRate:
        """The fastest kernel of ``precision``.

        Raises:
            ValueError: no kernel of that precision was measured.
        """
        rates = [k for k in self.kernels if k.precision == precision]
        if not rates:
            raise ValueError(f"no {precision} kernel was measured (skipped: {self.skipped}); measured precisions: "
                             f"{sorted({k.precision for k in self.kernels})}")
        return max(rates, key=lambda k: k.gflops_per_s)

    def roof(self, precision: str = "fp32") -> float:
        """The roof of ``precision`` in GFLOP/s (GOP/s for int8): its fastest kernel's rate."""
        return self.best(precision).gflops_per_s

    @property
    def roof_gflops_per_s(self) -> float:
        """The float32 roof (GFLOP/s)."""
        return self.roof("fp32")


def _time_best(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _ort_session(node: str, a_type: int, b_type: int, out_type: int, threads: int):
    """A one-node ONNX Runtime session ``c = node(a, b)`` over ``(2048, 2048)`` inputs."""
    import tempfile

    import onnx
    from onnx import helper

    from greenaudio.vocoders.onnx import make_session

    graph = helper.make_graph([helper.make_node(node, ["a", "b"], ["c"])], "roof",
                              [helper.make_tensor_value_info("a", a_type, [_N, _N]),
                               helper.make_tensor_value_info("b", b_type, [_N, _N])],
                              [helper.make_tensor_value_info("c", out_type, [_N, _N])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(model, f"{tmp}/roof.onnx")
        return make_session(f"{tmp}/roof.onnx", threads)


def _kernels(threads: int) -> tuple[dict[str, tuple[Callable[[], Any], float]], dict[str, str]]:
    import numpy as np

    from greenaudio.vocoders.base import _backend_problems

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(_N, _N, generator=gen), torch.randn(_N, _N, generator=gen)
    c, k, t = _CONV
    x, w = torch.randn(1, c, t, generator=gen), torch.randn(c, c, k, generator=gen)
    mm = 2.0 * _N**3 / 1e9
    kernels = {
        "matmul-2048-fp32": (lambda: a @ b, mm),
        "conv1d-256ch-k3-fp32": (lambda: torch.nn.functional.conv1d(x, w, padding=k // 2), 2.0 * c * c * k * t / 1e9),
    }
    skipped: dict[str, str] = {}
    problems = _backend_problems()
    if "bf16" in problems:
        skipped["matmul-2048-bf16"] = problems["bf16"]
    else:
        a16, b16 = a.bfloat16(), b.bfloat16()
        kernels["matmul-2048-bf16"] = (lambda: a16 @ b16, mm)
    try:
        from onnx import TensorProto

        fp32 = _ort_session("MatMul", TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT, threads)
        feeds = {"a": a.numpy(), "b": b.numpy()}
        kernels["matmul-2048-fp32-onnxruntime"] = (lambda: fp32.run(None, feeds), mm)
        if "int8" in problems:
            skipped["matmul-2048-int8-onnxruntime"] = problems["int8"]
        else:
            rng = np.random.default_rng(0)
            int8 = _ort_session("MatMulInteger", TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32, threads)
            feeds8 = {"a": rng.integers(0, 255, (_N, _N), dtype=np.uint8),
                      "b": rng.integers(-127, 127, (_N, _N), dtype=np.int8)}
            kernels["matmul-2048-int8-onnxruntime"] = (lambda: int8.run(None, feeds8), mm)
    except ImportError as exc:
        for name in ("matmul-2048-fp32-onnxruntime", "matmul-2048-int8-onnxruntime"):
            skipped[name] = f"onnx / onnxruntime not installed ({exc})"
    return kernels, skipped


def measure_compute_roof(threads: int | None = None, repeats: int = 5,
                         kernels: tuple[str, ...] | None = None) -> ComputeRoof:
    """Measure the compute roof now: each kernel of :data:`ROOF_KERNELS`' fastest of ``repeats`` calls.

    Args:
        threads: torch intra-op threads (and ONNX Runtime's) during the measurement; ``None``: the current
            ``torch.get_num_threads()``. Restored afterwards.
        repeats: timed calls per kernel (after one untimed call).
        kernels: names to measure (default: all that can run here; at least one float32 kernel is needed for
            :attr:`ComputeRoof.roof_gflops_per_s`).

    Returns:
        :class:`ComputeRoof`.

    Raises:
        ValueError: a bad ``threads``/``repeats``, or an unknown kernel name (the valid ones are named); before any
            timing.
    """
    previous = torch.get_num_threads()
    threads = previous if threads is None else check_positive_int("threads", threads)
    repeats = check_positive_int("repeats", repeats)
    if kernels is not None:
        unknown = [k for k in kernels if k not in ROOF_KERNELS]
        if unknown or not kernels:
            raise ValueError(f"kernels={kernels!r}: unknown or empty; choose from {list(ROOF_KERNELS)}")
    torch.set_num_threads(threads)
    try:
        available, skipped = _kernels(threads)
        names = [k for k in (kernels or ROOF_KERNELS) if k in available]
        skipped = {k: v for k, v in skipped.items() if kernels is None or k in kernels}
        rates = []
        with torch.no_grad():
            for name in names:
                fn, gflop = available[name]
                best = _time_best(fn, repeats)
                precision, runtime, _ = ROOF_KERNELS[name]
                rates.append(KernelRate(name, precision, runtime, gflop, best, gflop / best))
    finally:
        torch.set_num_threads(previous)
    return ComputeRoof(tuple(rates), skipped, threads, repeats, ROOF_METHOD.format(repeats=repeats, threads=threads))
