"""Export of a vocoder's graphs to ONNX (float32), weight norm removed first.

Used by: :mod:`greenaudio.quantization.pipeline`.

Two exporters of ``torch.onnx`` are offered: ``"torchscript"`` (the tracing exporter, ~1 s per graph, one file with
the weights inside) and ``"dynamo"`` (``torch.export``-based, ~10-25 s per graph on a 2-core CPU, weights in a
side file ``<name>.onnx.data``). Both keep the batch and time axes dynamic. The files of a graph are listed in
:class:`ExportedGraph` so that sizes always count all of them.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .graphs import GraphSpec

__all__ = ["EXPORTERS", "ExportedGraph", "export_graph", "graph_files"]

EXPORTERS = ("torchscript", "dynamo")
OPSET = 17


@dataclass(frozen=True)
class ExportedGraph:
    """An exported graph: its name, main ``.onnx`` file, every file it consists of, and the exporter used."""

    name: str
    path: Path
    files: tuple[Path, ...]
    exporter: str


def graph_files(path: str | Path) -> tuple[Path, ...]:
    """The files an ONNX model consists of: ``path`` itself and its external-data side file(s), if any."""
    import onnx

    path = Path(path)
    files = [path]
    model = onnx.load(str(path), load_external_data=False)
    locations = set()
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                locations.add(entry.value)
    files += [path.parent / loc for loc in sorted(locations)]
    return tuple(files)


def export_graph(spec: GraphSpec, path: str | Path, exporter: str = "torchscript") -> ExportedGraph:
    """Export one graph to ONNX (float32).

    Args:
        spec: the graph (module, names, dynamic axes, example inputs).
        path: the ``.onnx`` file to write (its folder is created).
        exporter: one of :data:`EXPORTERS`.

    Returns:
        :class:`ExportedGraph`.

    Raises:
        ValueError: unknown exporter.
        RuntimeError: the export failed (the message names the graph and the exporter's error).
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter={exporter!r} is not valid; choose one of {list(EXPORTERS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = spec.module.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if exporter == "torchscript":
                torch.onnx.export(module, spec.example_inputs, str(path), dynamo=False, opset_version=OPSET,
                                  input_names=list(spec.input_names), output_names=list(spec.output_names),
                                  dynamic_axes=spec.dynamic_axes)
            else:
                dims: dict[str, torch.export.Dim] = {}
                shapes = []
                for name in spec.input_names:
                    axes = spec.dynamic_axes.get(name, {})
                    shapes.append({a: dims.setdefault(d, torch.export.Dim.DYNAMIC) for a, d in axes.items()} or None)
                torch.onnx.export(module, spec.example_inputs, str(path), dynamo=True,
                                  input_names=list(spec.input_names), output_names=list(spec.output_names),
                                  dynamic_shapes=tuple(shapes), verbose=False)
    except Exception as exc:  # noqa: BLE001 - reported as a failed row by the pipeline
        raise RuntimeError(f"export of graph {spec.name!r} ({exporter}) failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    return ExportedGraph(spec.name, path, graph_files(path), exporter)
