"""A vocoder's graphs exported to ONNX (float32) and run by ONNX Runtime, fp32 or int8, its loop in Python.

Used by: :meth:`greenaudio.vocoders.Vocoder.prepare_for_inference` (``backend="onnxruntime"``, registered here;
``"int8"``, registered by :mod:`greenaudio.quantization`), :mod:`greenaudio.quantization` (int8 files, profiles),
:mod:`greenaudio.measure.roof`, notebooks/06_quantization.ipynb, scripts/bench_quantization.py.

* Export: :func:`export_graph` writes one :class:`~greenaudio.vocoders.graphs.GraphSpec` to ONNX. Two exporters of
  ``torch.onnx`` are offered: ``"torchscript"`` (the tracing exporter, ~1 s per graph, one file with the weights
  inside) and ``"dynamo"`` (``torch.export``-based, ~10-25 s per graph on a 2-core CPU, weights in a side file
  ``<name>.onnx.data``). Both keep the batch and time axes dynamic; :class:`ExportedGraph` lists every file of a
  graph so that sizes always count all of them.
* Run: :class:`OnnxVocoder` holds one ONNX Runtime session per graph (:func:`make_session`) and the vocoder's Python
  procedure (:mod:`~greenaudio.vocoders.graphs`). ``OnnxVocoder(graphs, paths, precision)`` runs files written
  earlier (fp32 or int8) through ``generate(mel)``, which returns the same :class:`~greenaudio.vocoders.Generation`
  as the torch model's; :meth:`OnnxVocoder.from_model` is the prepared backend: each graph (the family's own export
  hook, :meth:`~greenaudio.vocoders.base.Vocoder._export_graphs`, else :func:`~greenaudio.vocoders.graphs.
  split_vocoder`) is exported once to a temporary folder (optionally transformed, e.g. quantised to int8 by
  :mod:`greenaudio.quantization`), loaded with every graph optimisation on (ORT fuses convolution + bias +
  activation where it can), and the files are deleted. Graph structure does not depend on the procedure arguments
  (schedule, sigma), so a new procedure only re-binds the Python loop around the same sessions.

One exception: MelGAN's reflection padding falls back to replicate padding on inputs shorter than the pad (1 to 3
mel frames for the presets, :func:`greenaudio.vocoders.melgan.min_reflection_frames` in general); a traced graph
cannot switch mode, so such inputs run on the torch model instead (same result as the torch backend; an int8 runner
of files refuses them), and the graph must be traced on at least that many frames so that it reflects wherever the
torch model does.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .base import Generation, register_backend, validate_mel
from .graphs import SUPPORTED_MODELS, GraphSpec, VocoderGraphs, split_vocoder
from .melgan import min_reflection_frames

__all__ = ["EXPORTERS", "export_graph", "graph_files", "make_session", "SessionCall", "OnnxVocoder"]

EXPORTERS = ("torchscript", "dynamo")
OPSET = 17
PRECISIONS = ("fp32", "int8")


# -- export -----------------------------------------------------------------------------------------------------------
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
    model = onnx.load(str(path), load_external_data=False)
    locations = {entry.value for tensor in model.graph.initializer for entry in tensor.external_data
                 if entry.key == "location"}
    return (path,) + tuple(path.parent / loc for loc in sorted(locations))


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
    names = {"input_names": list(spec.input_names), "output_names": list(spec.output_names)}
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if exporter == "torchscript":
                torch.onnx.export(module, spec.example_inputs, str(path), dynamo=False, opset_version=OPSET,
                                  dynamic_axes=spec.dynamic_axes, **names)
            else:
                dims: dict[str, torch.export.Dim] = {}
                shapes = tuple({a: dims.setdefault(d, torch.export.Dim.DYNAMIC)
                                for a, d in spec.dynamic_axes.get(name, {}).items()} or None
                               for name in spec.input_names)
                torch.onnx.export(module, spec.example_inputs, str(path), dynamo=True, dynamic_shapes=shapes,
                                  verbose=False, **names)
    except Exception as exc:  # noqa: BLE001 - reported as a failed row by the quantisation pipeline
        raise RuntimeError(f"export of graph {spec.name!r} ({exporter}) failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    return ExportedGraph(spec.name, path, graph_files(path), exporter)


# -- sessions ---------------------------------------------------------------------------------------------------------
def make_session(path: str | Path, threads: int = 1, profile_prefix: str | Path | None = None, *,
                 memory_arena: bool = False):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads and every graph optimisation on; with
    ``profile_prefix``, ONNX Runtime's profiler writes its JSON trace there (``session.end_profiling()`` names it).

    ``memory_arena``: ONNX Runtime's CPU memory arena (on in ONNX Runtime by default) keeps every block it ever
    allocated and grows by powers of two; with the many differently shaped calls of the flows it held most of the
    peak memory (WaveFlow small, 1 s: peak RSS 1978 MB with it, 713 MB without; WaveGlow medium at 10 s: 5.6 GB
    with it). Off by default here: interleaved timings with and without it differed by 1-3 % (MelGAN small and large,
    HiFi-GAN small), within the noise. On for DiffWave's graphs (``VocoderGraphs.memory_arena``), called at every
    step with the same shapes: without it their buffers are fresh pages at every call, and the path took 1.6 against
    0.95 s for small at 1 s of audio. Sessions made with it share one arena (:func:`_register_shared_arena`)."""
    import onnxruntime as ort

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = bool(memory_arena)
    if memory_arena:  # one arena shared by every such session of the process, not one per session
        _register_shared_arena(ort)
        options.add_session_config_entry("session.use_env_allocators", "1")
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_SHARED_ARENA: list[bool] = []


def _register_shared_arena(ort) -> None:
    """Register, once per process, the CPU arena allocator that sessions made with ``memory_arena=True`` share: with
    an arena per session, DiffWave's twelve graphs each kept their own peak (medium, 10 s of audio: peak RSS 11.5 GB
    against 2.45 GB without an arena)."""
    if not _SHARED_ARENA:
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))  # ONNX Runtime's defaults
        _SHARED_ARENA.append(True)


class SessionCall:
    """An ONNX Runtime session called like the torch graph: ``(*tensors) -> tensor or tuple of tensors`` (float32)."""

    def __init__(self, session):
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]

    def __call__(self, *args: torch.Tensor):
        feeds = {name: np.ascontiguousarray(a.detach().cpu().numpy(), dtype=np.float32)
                 for name, a in zip(self.inputs, args)}
        outs = tuple(torch.from_numpy(o) for o in self.session.run(None, feeds))
        return outs[0] if len(outs) == 1 else outs


# -- the runner -------------------------------------------------------------------------------------------------------
def _procedure_key(procedure: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in procedure.items()))


def _split(model, example_frames: int, **procedure: Any) -> VocoderGraphs:
    """The family's own ONNX graphs (:meth:`~greenaudio.vocoders.base.Vocoder._export_graphs`), else the portable
    split; the model's inference state is left as it was (the portable split re-prepares the torch model)."""
    state = model.__dict__.get("_inference")
    try:
        graphs = model._export_graphs(example_frames, **procedure)
        return graphs if graphs is not None else split_vocoder(model, example_frames=example_frames, **procedure)
    finally:
        if state is not None:
            model.__dict__["_inference"] = state


#: ``(graphs, fp32 paths, folder) -> paths`` of the graphs to run instead (e.g. quantised to int8 into ``folder``).
Transform = Callable[[VocoderGraphs, dict[str, Path], Path], Mapping[str, Path]]


class OnnxVocoder:
    """A vocoder whose graphs run in ONNX Runtime (float32 or int8), its loop in Python.

    Args:
        graphs: the split torch vocoder (gives the procedure and the metadata).
        paths: graph name -> ``.onnx`` file (read when the sessions are made, here).
        precision: ``"fp32"`` or ``"int8"`` (a label carried by results).
        threads: ONNX Runtime intra-op threads.

    Attributes:
        model: the torch vocoder; min_frames: mel frames below which a MelGAN's reflection pads replicate in torch
        (1 for the other families); splits: procedure -> :class:`~greenaudio.vocoders.graphs.VocoderGraphs` bound
        to these sessions (:meth:`run` adds one per new procedure).

    Raises:
        ValueError: bad precision, a graph without a file, or MelGAN graphs traced on fewer frames than its
            reflection pads need (named, with the ``example_frames`` to split with).
    """

    def __init__(self, graphs: VocoderGraphs, paths: Mapping[str, str | Path], precision: str = "fp32",
                 threads: int = 1):
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not valid; choose one of {list(PRECISIONS)}")
        missing = [g.name for g in graphs.graphs if g.name not in paths]
        if missing:
            raise ValueError(f"no ONNX file for graph(s) {missing}")
        model = graphs.model
        self.min_frames = 1
        if getattr(model.config, "model", None) == "melgan":
            self.min_frames = min_reflection_frames(model.config)
            traced = min(int(g.example_inputs[0].shape[-1]) for g in graphs.graphs)
            if traced < self.min_frames:
                raise ValueError(
                    f"the MelGAN graphs were traced on {traced} mel frame(s), fewer than the "
                    f"{self.min_frames} its reflection pads need (shorter inputs replicate instead, and the graph "
                    f"would keep that for every input); split again with split_vocoder(model, "
                    f"example_frames={self.min_frames}) and re-export")
        self.model, self.graphs, self.precision, self.threads = model, graphs, precision, threads
        self.paths = {k: Path(v) for k, v in paths.items()}
        self.backend = {name: SessionCall(make_session(p, threads, memory_arena=graphs.memory_arena))
                        for name, p in self.paths.items()}
        self.splits = {_procedure_key(graphs.procedure_args): graphs}
        self.n_mels, self.hop_length, self.sample_rate = model.n_mels, model.hop_length, model.sample_rate
        self.config = model.config

    @classmethod
    def from_model(cls, model, precision: str = "fp32", transform: Transform | None = None) -> "OnnxVocoder":
        """The ONNX Runtime backend of ``prepare_for_inference``: the model's graphs for its default procedure,
        exported to a temporary folder (``transform``: e.g. quantised to int8), loaded with as many intra-op threads
        as :func:`torch.get_num_threads` gives now; the files are deleted once the sessions hold them.

        Args:
            model: a zoo vocoder (weight norm already removed).
            precision: the label of the graphs ``transform`` gives (``"fp32"`` without one).
            transform: ``(graphs, fp32 paths, folder) -> paths`` to run instead; ``None``: the fp32 files.
        """
        if model.config.model not in SUPPORTED_MODELS:
            raise ValueError(f"no ONNX split for model {model.config.model!r}")
        frames = max(8, min_reflection_frames(model.config)) if model.config.model == "melgan" else 8
        graphs = _split(model, frames, **model.resolve_procedure())
        with tempfile.TemporaryDirectory(prefix="greenaudio-onnx-") as tmp:
            paths = {g.name: export_graph(g, Path(tmp) / f"{g.name}.onnx").path for g in graphs.graphs}
            if transform is not None:
                paths = transform(graphs, paths, Path(tmp) / precision)
            return cls(graphs, paths, precision, int(torch.get_num_threads()))

    @property
    def procedure(self) -> dict[str, Any]:
        """The model's inference procedure :meth:`generate` implements (fixed when the graphs were split)."""
        return dict(self.graphs.procedure_args)

    def run(self, mel: torch.Tensor, generator: torch.Generator | None, procedure: dict[str, Any]) -> torch.Tensor:
        """The prepared backend's audio ``(B, frames * hop)`` for a validated mel and a resolved procedure (another
        procedure than the split's re-binds the loop around the same sessions; MelGAN inputs shorter than
        :attr:`min_frames` run on the prepared torch path)."""
        if mel.shape[-1] < self.min_frames:
            return self.model._generate(mel, generator=generator, **procedure)  # see the module docstring
        key = _procedure_key(procedure)
        if key not in self.splits:
            self.splits[key] = _split(self.model, max(8, self.min_frames), **procedure)
        with torch.no_grad():
            return self.splits[key].procedure(self.backend, mel.float(), generator).to(mel.dtype)

    def generate(self, mel: torch.Tensor, *, generator: torch.Generator | None = None, **procedure: Any) -> Generation:
        """Synthesise audio, as :meth:`greenaudio.vocoders.Vocoder.generate`.

        Args:
            mel: ``(B, n_mels, frames)`` or ``(n_mels, frames)`` float tensor (CPU).
            generator: seeds the noise of flows and diffusion models (same draws as the torch model).
            **procedure: must agree with the procedure the graphs were split for (a different one raises).

        Returns:
            :class:`~greenaudio.vocoders.Generation` with ``audio (B, frames * hop_length)``.

        Raises:
            ValueError: a bad mel or procedure; an int8 MelGAN given fewer mel frames than
                :attr:`min_frames` (below it the torch model's reflection pads replicate, which the exported graph
                cannot; an fp32 runner computes such inputs with the torch model instead, as
                ``prepare_for_inference(backend="onnxruntime")`` does, and says so in ``procedure["runtime"]``).
        """
        mel = validate_mel(mel, self.n_mels).float()
        fixed = self.procedure
        for key, value in procedure.items():
            if key not in fixed:
                raise ValueError(f"unknown procedure argument {key!r}; this runner implements {fixed}")
            if value is not None and fixed[key] != value:
                raise ValueError(f"{key}={value!r} differs from the exported procedure {fixed}; re-split the model")
        if mel.shape[-1] >= self.min_frames:
            audio = self.graphs.run(self.backend, mel, generator)
            return Generation(audio=audio, procedure={**fixed, "runtime": f"onnxruntime {self.precision}"},
                              sample_rate=self.sample_rate)
        if self.precision != "fp32":
            raise ValueError(
                f"mel has {mel.shape[-1]} frame(s); this {self.precision} MelGAN graph needs at least "
                f"{self.min_frames} (its reflection pads need inputs longer than the pad; the torch model "
                f"replicates instead, which the exported graph cannot)")
        audio = self.model.generate(mel.to(next(self.model.parameters()).dtype), generator=generator, **fixed).audio
        return Generation(audio=audio.float(), procedure={**fixed, "runtime": f"torch fp32 (fewer than "
                          f"{self.min_frames} mel frames: the ONNX graph's reflection pads cannot run)"},
                          sample_rate=self.sample_rate)


register_backend("onnxruntime", lambda model, _options: OnnxVocoder.from_model(model))
