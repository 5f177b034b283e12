"""Tables describing the zoo: parameter counts under both conventions and the blocks of each architecture.

Used by: notebooks/05_0_models.ipynb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn

from .base import count_parameters
from .registry import entry, iter_presets, load

__all__ = ["compute_parameter_table", "describe_blocks", "compute_convention_match", "compute_paper_variants",
           "compute_section_5_1_1_claims", "compute_parameter_facts", "PAPER_VARIANTS"]

#: The papers' own configurations the models page counts (registry presets).
PAPER_VARIANTS: list[tuple[str, str]] = ([("hifigan", s) for s in ("v1", "v2", "v3")]
                                         + [("waveflow", f"wf{i}") for i in range(1, 6)]
                                         + [("wavegrad", "base"), ("diffwave", "base"), ("diffwave", "paper_large")])


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
                "params_without_gains": count_parameters(model, weight_norm_gains=False)})
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


def _printed_decimals(values) -> np.ndarray:
    """Decimals of printed numbers (``"13.92"`` -> 2, ``"15"`` -> 0), from their text as printed."""
    return np.array([len(str(v).split(".")[1]) if "." in str(v) else 0 for v in values])


def _matches(count: int, printed: float, decimals: int) -> bool:
    """A count reproduces a printed value in millions: rounded or truncated to its printed decimals."""
    scale = 10.0 ** decimals
    return bool(np.round(count / 1e6 * scale) / scale == printed or np.floor(count / 1e6 * scale) / scale == printed)


def _section_5_1_1_values() -> pd.DataFrame:
    """§5.1.1's parameter counts (``resources/errata_text_values.csv``), every cell as printed (``"15"`` stays
    without decimals)."""
    from .._resources import resource_path

    with resource_path("errata_text_values.csv").open("r", encoding="utf-8") as fh:
        text = pd.read_csv(fh, dtype=str, keep_default_na=False)
    text = text[text["check"] == "section5.1.1-params"].copy()
    text[["model", "size"]] = text["item"].str.split(" ", n=1, expand=True)
    text["paper_name"] = text["quantity"].str.extract(r"paper's (\w+)", expand=False)
    return text.reset_index(drop=True)


def compute_paper_variants() -> pd.DataFrame:
    """The papers' own configurations (:data:`PAPER_VARIANTS`) counted, beside the counts the thesis quotes for
    them: §5.1.1's sentences (HiFi-GAN V1-V3, WaveGrad base, DiffWave Base and Large;
    ``resources/errata_text_values.csv``) and Table 6 (WaveFlow WF1-WF5).

    Returns:
        :func:`compute_parameter_table`'s columns with ``printed_millions`` and ``source_of_printed`` (the data's
        source: section or table and page).
    """
    from .. import published

    table = compute_parameter_table(PAPER_VARIANTS)
    text = _section_5_1_1_values()
    text = text[text["paper_name"].fillna("") != ""]
    preset = {"large": "paper_large"}
    by_preset = {(m, preset.get(n.lower(), n.lower()) if m == "diffwave" else n.lower()): (float(v), src)
                 for m, n, v, src in zip(text.model, text.paper_name, text.value, text.source)}
    table6 = published.load_waveflow_configs().set_index("label")
    for label, row in table6.iterrows():
        by_preset[("waveflow", str(label).lower())] = (float(row["params_millions"]), row.get("source", "Table 6"))
    printed = [by_preset.get((m, z), (float("nan"), "")) for m, z in zip(table.model, table["size"])]
    table["printed_millions"] = [v for v, _ in printed]
    table["source_of_printed"] = [src for _, src in printed]
    return table


def compute_section_5_1_1_claims(counts: pd.DataFrame) -> pd.DataFrame:
    """§5.1.1's parameter counts of the thesis's configurations against the counts of the instantiated models.

    Args:
        counts: :func:`compute_parameter_table` of the 18 configurations.

    Returns:
        one row per sentence value: ``model``, ``size``, ``claim`` (the configuration and what the sentence calls
        it), ``section``, ``thesis`` (the printed count, in millions), ``this_build`` (the count, in millions, with the
        weight-norm gains, or without them when only that convention reproduces the printed value) and ``holds``
        (either convention reproduces it at its printed precision, rounded or truncated).
    """
    from .registry import entry

    text = _section_5_1_1_values()
    decimals = _printed_decimals(text["value"])
    indexed = counts.set_index(["model", "size"])
    rows = []
    for row, places in zip(text.itertuples(index=False), decimals):
        count = indexed.loc[(row.model, row.size)]
        printed = float(row.value)
        with_g = _matches(int(count.params_with_gains), printed, places)
        without_g = _matches(int(count.params_without_gains), printed, places)
        shown = count.params_without_gains if without_g and not with_g else count.params_with_gains
        name = f"{entry(row.model).display_name} {row.size}"
        what = f" (the paper's {row.paper_name})" if isinstance(row.paper_name, str) and row.paper_name else ""
        rows.append({"model": row.model, "size": row.size, "claim": f"{name}{what}: {row.value}M parameters",
                     "section": str(row.section).lstrip("§"), "thesis": printed, "this_build": shown / 1e6,
                     "holds": with_g or without_g})
    return pd.DataFrame(rows)


def compute_parameter_facts(params: pd.DataFrame) -> dict[str, object]:
    """Numbers the models page quotes from :func:`compute_convention_match`'s table: ``configurations``,
    ``reproduced`` (printed counts a convention reproduces), ``not_reproduced_names`` (display names, "none" if
    none), the smallest and largest configuration (``smallest_name``, ``smallest_m``, ``largest_name``,
    ``largest_m``: counts with gains, in millions) and ``largest_gain_share`` (the largest relative difference the
    gains make, a fraction)."""
    names = params["display_name"] + " " + params["size"]
    missed = names[params["convention"] == "neither"]
    lo, hi = params["params_with_gains"].idxmin(), params["params_with_gains"].idxmax()
    gain = (params["params_with_gains"] - params["params_without_gains"]) / params["params_with_gains"]
    return {"configurations": len(params), "reproduced": int((params["convention"] != "neither").sum()),
            "not_reproduced_names": ", ".join(missed) or "none",
            "smallest_name": names[lo], "smallest_m": params["params_with_gains"][lo] / 1e6,
            "largest_name": names[hi], "largest_m": params["params_with_gains"][hi] / 1e6,
            "largest_gain_share": float(gain.max())}


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
    "waveglow": [{"sigma": 0.6}, {"sigma": 1.0}]}


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
