"""Run an exported vocoder with ONNX Runtime through the zoo's ``generate(mel)`` interface.

Used by: :mod:`greenaudio.quantization.pipeline`, notebooks/06_quantization.ipynb, scripts/bench_quantization.py.

:class:`OnnxVocoder` wraps one ONNX Runtime session per graph and the vocoder's Python procedure
(:mod:`~greenaudio.quantization.graphs`), so ``OnnxVocoder.generate(mel, generator=...)`` returns the same
:class:`~greenaudio.vocoders.Generation` as the torch model's ``generate``: the measurement harness and the metrics
use it unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from greenaudio.vocoders.base import Generation, validate_mel

from .graphs import VocoderGraphs

__all__ = ["OnnxVocoder", "make_session", "PRECISIONS"]

PRECISIONS = ("fp32", "int8")


def make_session(path: str | Path, threads: int = 1, profile_prefix: str | Path | None = None, *,
                 memory_arena: bool = False):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads and every graph optimisation on; with
    ``profile_prefix``, ONNX Runtime's profiler writes its JSON trace there (``session.end_profiling()`` names it).

    ``memory_arena``: ONNX Runtime's CPU memory arena (on in ONNX Runtime by default) keeps every block it ever
    allocated and grows by powers of two; with the many differently shaped calls of the flows it held most of the
    peak memory (WaveFlow small, 1 s: peak RSS 1978 MB with it, 713 MB without; WaveGlow medium at 10 s: 5.6 GB
    with it). Off by default here: interleaved timings with and without it differed by 1-3 % (MelGAN small and large,
    HiFi-GAN small), within the noise."""
    import onnxruntime as ort

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = bool(memory_arena)
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class _SessionCall:
    def __init__(self, session):
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]

    def __call__(self, *args: torch.Tensor):
        feeds = {name: np.ascontiguousarray(a.detach().cpu().numpy(), dtype=np.float32)
                 for name, a in zip(self.inputs, args)}
        outs = self.session.run(None, feeds)
        outs = tuple(torch.from_numpy(o) for o in outs)
        return outs[0] if len(outs) == 1 else outs


class OnnxVocoder:
    """A vocoder whose graphs run in ONNX Runtime (float32 or int8), its loop in Python.

    Args:
        graphs: the split torch vocoder (gives the procedure and the metadata).
        paths: graph name -> ``.onnx`` file.
        precision: ``"fp32"`` or ``"int8"`` (a label carried by results).
        threads: ONNX Runtime intra-op threads.
    """

    def __init__(self, graphs: VocoderGraphs, paths: Mapping[str, str | Path], precision: str, threads: int = 1):
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not valid; choose one of {list(PRECISIONS)}")
        missing = [g.name for g in graphs.graphs if g.name not in paths]
        if missing:
            raise ValueError(f"no ONNX file for graph(s) {missing}")
        model = graphs.model
        #: mel frames below which a MelGAN's reflection pads replicate in torch (the graphs cannot): see generate()
        self.min_frames = 1
        if getattr(model.config, "model", None) == "melgan":
            from greenaudio.vocoders.melgan import min_reflection_frames

            self.min_frames = min_reflection_frames(model.config)
            traced = min(int(g.example_inputs[0].shape[-1]) for g in graphs.graphs)
            if traced < self.min_frames:
                raise ValueError(
                    f"the MelGAN graphs were traced on {traced} mel frame(s), fewer than the "
                    f"{self.min_frames} its reflection pads need (shorter inputs replicate instead, and the graph "
                    f"would keep that for every input); split again with split_vocoder(model, "
                    f"example_frames={self.min_frames}) and re-export"
                )
        self.graphs, self.precision, self.threads = graphs, precision, threads
        self.paths = {k: Path(v) for k, v in paths.items()}
        self.backend = {name: _SessionCall(make_session(p, threads)) for name, p in self.paths.items()}
        self.n_mels, self.hop_length, self.sample_rate = model.n_mels, model.hop_length, model.sample_rate
        self.config = model.config

    @property
    def procedure(self) -> dict[str, Any]:
        """The model's inference procedure this runner implements (fixed when the graphs were split)."""
        return dict(self.graphs.procedure_args)

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
        if mel.shape[-1] < self.min_frames:
            if self.precision != "fp32":
                raise ValueError(
                    f"mel has {mel.shape[-1]} frame(s); this {self.precision} MelGAN graph needs at least "
                    f"{self.min_frames} (its reflection pads need inputs longer than the pad; the torch model "
                    f"replicates instead, which the exported graph cannot)"
                )
            model = self.graphs.model
            audio = model.generate(mel.to(next(model.parameters()).dtype), generator=generator, **fixed).audio
            return Generation(audio=audio.float(), procedure={**fixed, "runtime": f"torch fp32 (fewer than "
                              f"{self.min_frames} mel frames: the ONNX graph's reflection pads cannot run)"},
                              sample_rate=self.sample_rate)
        audio = self.graphs.run(self.backend, mel, generator)
        return Generation(audio=audio, procedure={**fixed, "runtime": f"onnxruntime {self.precision}"},
                          sample_rate=self.sample_rate)
