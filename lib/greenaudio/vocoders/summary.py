"""Tables describing the zoo: parameter counts under both conventions and the blocks of each architecture.

Used by: notebooks/05_0_models.ipynb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn

from .base import count_parameters
from .registry import entry, iter_presets, load

__all__ = ["compute_parameter_table", "describe_blocks", "compute_convention_match"]


def compute_parameter_table(presets: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Parameter counts of presets (default: the thesis's 18 configurations).

    Returns:
        ``model, size, display_name, family, params_with_gains, params_without_gains`` (integers): with and without
        the weight-norm gain tensors (one value per output channel); the two are equal for models without weight norm.
    """
    rows = []
    for name, size in presets or list(iter_presets()):
        model = load(name, size)
        rows.append(
            {
                "model": name,
                "size": size,
                "display_name": entry(name).display_name,
                "family": entry(name).family,
                "params_with_gains": count_parameters(model, weight_norm_gains=True),
                "params_without_gains": count_parameters(model, weight_norm_gains=False),
            }
        )
        del model
    return pd.DataFrame(rows)


def compute_convention_match(counts: pd.DataFrame, printed_millions: pd.Series, decimals: pd.Series) -> pd.DataFrame:
    """Which counting convention reproduces a printed parameter count (in millions) at its printed precision.

    Args:
        counts: output of :func:`compute_parameter_table` (same row order as ``printed_millions``).
        printed_millions: the printed counts, in millions.
        decimals: number of decimals printed for each count.

    Returns:
        ``counts`` with ``printed_millions``, ``matches_with_gains``, ``matches_without_gains`` and ``convention``
        (e.g. ``"+g"``, ``"-g"``, ``"+g or -g"``, ``"+g truncated"`` when only truncation reproduces the printed
        digits, or ``"neither"``).
    """
    out = counts.reset_index(drop=True).copy()
    out["printed_millions"] = printed_millions.to_numpy()
    scale = 10.0 ** decimals.to_numpy()

    printed = out["printed_millions"].to_numpy()

    def matches(column: str, how) -> np.ndarray:
        return how(out[column].to_numpy() / 1e6 * scale) / scale == printed

    # (label, rounded match, truncated match) per convention, each computed once for all rows.
    checks = [(label, matches(column, np.round), matches(column, np.floor))
              for label, column in (("+g", "params_with_gains"), ("-g", "params_without_gains"))]
    conventions = []
    for i in range(len(out)):
        found = [label if rounded[i] else f"{label} truncated" for label, rounded, truncated in checks
                 if rounded[i] or truncated[i]]
        conventions.append(" or ".join(found) if found else "neither")
    out["matches_with_gains"] = checks[0][1] | checks[0][2]
    out["matches_without_gains"] = checks[1][1] | checks[1][2]
    out["convention"] = conventions
    return out


def describe_blocks(model: nn.Module, depth: int = 2) -> pd.DataFrame:
    """The model's blocks down to ``depth`` levels of submodules, with their parameter counts (gains included).

    Stacks of identical blocks (``ModuleList`` / ``Sequential``) are summarised on one row (``count x type``);
    heterogeneous containers are expanded. Parameter-free layers (activations, padding) are omitted.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    rows = []

    def visit(module: nn.Module, prefix: str, level: int) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            params = sum(p.numel() for p in child.parameters())
            if isinstance(child, (nn.ModuleList, nn.Sequential)) and len(child) > 0:
                kinds = sorted({type(c).__name__ for c in child})
                if len(kinds) == 1:  # a stack of identical blocks: one row
                    rows.append({"block": path, "type": f"{len(child)} x {kinds[0]}", "parameters": params,
                                 "depth": level})
                else:  # a heterogeneous container (e.g. a generator built as nn.Sequential): list its parts
                    visit(child, path, level)
            else:
                rows.append({"block": path, "type": type(child).__name__, "parameters": params, "depth": level})
                if level < depth:
                    visit(child, path, level + 1)

    visit(model, "", 1)
    table = pd.DataFrame(rows)
    return table[table.parameters > 0].reset_index(drop=True)


#: Procedures shown on the models page: each family's default, and the alternatives its ``generate`` accepts.
DEMO_PROCEDURES: dict[str, list[dict]] = {
    "melgan": [{}], "hifigan": [{}],
    "wavegrad": [{"schedule": "fast"}, {"schedule": "full"}],
    "diffwave": [{"schedule": "fast"}, {"schedule": "full"}],
    "waveflow": [{"reverse": "fast"}, {"reverse": "plain"}],
    "waveglow": [{"sigma": 0.6}, {"sigma": 1.0}],
}


def demonstrate_procedures(frames: int, seed: int = 0, procedures: dict[str, list[dict]] | None = None,
                           size: str = "small") -> pd.DataFrame:
    """Run each procedure once on random mels of ``frames`` frames (untrained, prepared models).

    Returns:
        one row per procedure: the resolved procedure (JSON), mel frames, output and expected samples
        (``frames x hop_length``), and the wall time of the call (s, one run: an illustration, not a benchmark).
    """
    import json
    import time

    import torch

    from ..validation import check_positive_int

    frames = check_positive_int("frames", frames)
    rows = []
    mel = torch.rand(1, 80, frames, generator=torch.Generator().manual_seed(seed))
    for name, variants in (procedures or DEMO_PROCEDURES).items():
        model = load(name, size).prepare_for_inference()
        for procedure in variants:
            start = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(mel, generator=torch.Generator().manual_seed(seed), **procedure)
            rows.append({"model": name, "procedure": json.dumps(out.procedure, sort_keys=True), "mel_frames": frames,
                         "audio_samples": out.audio.shape[-1], "expected_samples": frames * model.hop_length,
                         "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows)
