"""The vocoder zoo of thesis Chapter 5: six neural vocoders in three sizes each, behind one registry.

Used by: notebooks/05_0_models.ipynb and every later chapter.

>>> from greenaudio import vocoders
>>> vocoders.names()
['melgan', 'hifigan', 'wavegrad', 'diffwave', 'waveflow', 'waveglow']
>>> model = vocoders.load("hifigan", "small")
>>> audio = model.prepare_for_inference().generate(mel).audio  # mel: (B, 80, frames) -> (B, frames * 256)

Each model owns its graphs: :func:`split_vocoder` cuts it into loop-free networks and a Python procedure
(:mod:`~greenaudio.vocoders.graphs`), :func:`export_graph` writes them to ONNX and :class:`OnnxVocoder` runs them in
ONNX Runtime, fp32 or int8 (:mod:`~greenaudio.vocoders.onnx`). The package imports nothing of the rest of
greenaudio but its ground floor (validation, host, _resources) and the printed numbers of :mod:`greenaudio.published`
(read by :mod:`~greenaudio.vocoders.summary`); int8 files come from :mod:`greenaudio.quantization`.
"""

from . import diffwave, hifigan, melgan, waveflow, waveglow, wavegrad  # noqa: F401  (explicit registration)
from .base import Generation, OptimizerConfig, Vocoder, VocoderConfig, count_parameters
from .graphs import describe_splits, split_vocoder
from .mel import THESIS_MEL, MelConfig, MelFrontEnd, MelNormalizer
from .onnx import OnnxVocoder, export_graph  # registers the "onnxruntime" backend
from .registry import THESIS_SIZES, build, config_for, entry, iter_presets, load, names, sizes
from .summary import compute_convention_match, compute_parameter_table, demonstrate_procedures, describe_blocks

__all__ = ["Generation", "OptimizerConfig", "Vocoder", "VocoderConfig", "count_parameters", "THESIS_MEL", "MelConfig",
           "MelFrontEnd", "MelNormalizer", "THESIS_SIZES", "build", "config_for", "entry", "iter_presets", "load",
           "names", "sizes", "compute_convention_match", "compute_parameter_table", "demonstrate_procedures",
           "describe_blocks", "split_vocoder", "describe_splits", "export_graph", "OnnxVocoder"]
