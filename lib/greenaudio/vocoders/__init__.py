"""The vocoder zoo of thesis Chapter 5: six neural vocoders in three sizes each, behind one registry.

Used by: notebooks/05_0_models.ipynb and every later chapter.

>>> from greenaudio import vocoders
>>> vocoders.names()
['melgan', 'hifigan', 'wavegrad', 'diffwave', 'waveflow', 'waveglow']
>>> model = vocoders.load("hifigan", "small")
>>> audio = model.prepare_for_inference().generate(mel).audio  # mel: (B, 80, frames) -> (B, frames * 256)
"""

from . import diffwave, hifigan, melgan, waveflow, waveglow, wavegrad  # noqa: F401  (explicit registration)
from .base import (
    Generation,
    OptimizerConfig,
    Vocoder,
    VocoderConfig,
    count_parameters,
    remove_all_weight_norms,
    validate_mel,
)
from .mel import THESIS_MEL, MelConfig, MelFrontEnd, MelNormalizer
from .registry import THESIS_SIZES, build, config_for, entry, iter_presets, load, names, sizes
from .summary import (DEMO_PROCEDURES, compute_convention_match, compute_parameter_table, demonstrate_procedures,
                      describe_blocks)

__all__ = [
    "DEMO_PROCEDURES",
    "demonstrate_procedures",
    "Generation",
    "OptimizerConfig",
    "Vocoder",
    "VocoderConfig",
    "count_parameters",
    "remove_all_weight_norms",
    "validate_mel",
    "THESIS_MEL",
    "MelConfig",
    "MelFrontEnd",
    "MelNormalizer",
    "THESIS_SIZES",
    "build",
    "config_for",
    "entry",
    "iter_presets",
    "load",
    "names",
    "sizes",
    "compute_convention_match",
    "compute_parameter_table",
    "describe_blocks",
]
