"""The quality side of Chapter 5 from the trained zoo: Table 7 analogue, convergence, samples, quality–cost fronts.

Used by: notebooks/05_2_quality, notebooks/04_3_waveflow_study.

Every function reads a protocol folder written by :mod:`greenaudio.orchestration.export` (``scores.csv``,
``<config>/curves.csv``, ``samples/``; through :mod:`greenaudio.shipped`) or the thesis's published tables and
returns numbers, a table or a figure; the chapter writes the sentences around them. Nothing here trains a model; only
:func:`compare_sampler_clamps` generates audio (with :func:`greenaudio.evaluation.generate_and_score`).
"""

from __future__ import annotations

import base64
import html
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..shipped import load_dnsmos, load_scores, protocol_folder
from ..validation import check_choice, check_finite_number, check_positive_int

__all__ = ["QUALITY_METRICS", "protocol_dir", "load_zoo_scores", "configurations_without", "mark_untrained",
           "family_levels", "energy_to_quality", "table7_analogue", "training_runs", "verification_table",
           "zoo_provenance", "load_curves", "plot_convergence", "plot_spectrograms", "audio_grid_html",
           "compute_inference_costs", "quality_cost_table", "cost_axes", "add_listening_mos",
           "plot_quality_cost_fronts", "pareto_front", "zoo_fronts", "size_trend", "compare_with_baseline",
           "best_per_family", "step_spread", "distillmos_against_ground_truth", "thesis_quality_cost",
           "compare_sampler_clamps", "thesis_metric_correlations"]

_THESIS_METRICS = {"d_stft": "D_STFT (thesis)", "inception_score": "IS (thesis, VGGish)", "am_score": "AM (thesis, VGGish)",
                   "fid": "FID (thesis, VGGish)"}

#: Quality axes of the quality–cost fronts: (label, direction). The listening test's MOS where readers have rated;
#: DNSMOS OVRL as the predicted MOS (DistillMOS rates most trained models above the recordings of this corpus, so it
#: stays in the quality table, off the fronts).
QUALITY_METRICS = {"listening_mos": ("MOS (listening test)", "max"),
                   "dnsmos_ovrl": ("DNSMOS OVRL (predicted MOS)", "max"), "pesq_wb": ("PESQ-WB", "max"),
                   "d_stft": ("D-STFT (lower is better)", "min")}
#: The DNSMOS columns :func:`add_dnsmos` adds, from the shipped file's ``ovrl_mos`` ... ``p808_mos``.
DNSMOS_SCORES = {"dnsmos_ovrl": "ovrl_mos", "dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_p808": "p808_mos"}
_CLIP_WORDS = {"held-out": "held-out clips", "samples": "shipped samples"}
_SIZES = ("small", "medium", "large")


def _display_names() -> dict[str, str]:
    """Registry name -> display name (``"hifigan"`` -> ``"HiFi-GAN"``)."""
    from .. import vocoders

    return {n: vocoders.entry(n).display_name for n in vocoders.names()}


def protocol_dir(protocol: str = "mini", root: str | Path | None = None) -> Path:
    """The folder of a shipped protocol (default: the package's ``resources/zoo/<protocol>``)."""
    return protocol_folder(protocol, root)


def load_zoo_scores(protocol: str = "mini", root: str | Path | None = None) -> pd.DataFrame:
    """``scores.csv`` of a protocol folder with a display name per configuration and the shipped DNSMOS
    (:func:`add_dnsmos`; empty values where a configuration has none); empty if nothing is shipped."""
    folder = protocol_dir(protocol, root)
    table = load_scores(folder)
    if table.empty:
        return table
    names = _display_names()
    table["display"] = [("Ground truth" if m == "ground_truth" else f"{names.get(m, m)} {s}")
                        for m, s in zip(table.model, table["size"].fillna(""))]
    return add_dnsmos(table, load_dnsmos(folder))


def add_dnsmos(scores: pd.DataFrame, dnsmos: pd.DataFrame | None) -> pd.DataFrame:
    """``scores`` with the DNSMOS columns of :data:`DNSMOS_SCORES` and ``dnsmos_on`` (``"held-out clips (64)"`` or
    ``"shipped samples (4)"``): each configuration's held-out score where one is shipped, else its samples' score.

    ``dnsmos`` is the shipped table (:func:`greenaudio.shipped.load_dnsmos`; columns ``config``,
    ``clips``, ``n_clips`` and ``ovrl_mos`` ... ``p808_mos``). A configuration it does not score, or an empty or None
    table, leaves the values empty (NaN, never 0): :func:`configurations_without` names them.
    """
    out = scores.drop(columns=[c for c in [*DNSMOS_SCORES, "dnsmos_on"] if c in scores.columns])
    need = ["config", "clips", "n_clips", *DNSMOS_SCORES.values()]
    if dnsmos is None or dnsmos.empty or any(c not in dnsmos.columns for c in need):
        for column in DNSMOS_SCORES:
            out[column] = np.nan
        out["dnsmos_on"] = None
        return out
    rank = {"held-out": 0, "samples": 1}
    chosen = (dnsmos[dnsmos.clips.isin(list(rank))].assign(_rank=lambda t: t.clips.map(rank))
              .sort_values(["config", "_rank"], kind="stable").drop_duplicates("config"))
    chosen = chosen.assign(dnsmos_on=[f"{_CLIP_WORDS[c]} ({int(n)})" for c, n in zip(chosen.clips, chosen.n_clips)])
    chosen = chosen.rename(columns={v: k for k, v in DNSMOS_SCORES.items()})[["config", *DNSMOS_SCORES, "dnsmos_on"]]
    return out.merge(chosen, on="config", how="left")


def configurations_without(scores: pd.DataFrame, column: str) -> list[str]:
    """Display names (registry order, ground truth first) of the rows of ``scores`` without a value in ``column``
    (every row when the column is absent)."""
    from ..report import configuration_name

    lacking = _ordered(scores if column not in scores.columns else scores[scores[column].isna()])
    return [configuration_name(m, s or None) for m, s in zip(lacking.model, lacking["size"].fillna(""))]


def mark_untrained(scores: pd.DataFrame, *, min_steps: int = 3, tolerance: float = 0.01) -> pd.DataFrame:
    """Which trained configurations the budget did not train: fewer optimisation steps than the quick baseline
    (``min_steps``, its 3 steps) or a held-out D_STFT within ``tolerance`` (relative) of the same configuration's
    3-step model (``baseline_d_stft``).

    Returns:
        one row per configuration other than the ground truth, registry order: ``config``, ``model``, ``size``,
        ``steps``, ``d_stft``, ``baseline_d_stft``, ``change`` (d_stft / baseline - 1), ``few_steps`` (steps <
        min_steps), ``near_baseline`` (|change| <= tolerance) and ``untrained`` (either). A missing step count or
        baseline counts as not shown to be untrained on that ground.
    """
    min_steps = check_positive_int("min_steps", min_steps)
    tolerance = check_finite_number("tolerance", tolerance, min_value=0.0)
    for column in ("steps", "d_stft", "baseline_d_stft"):
        if column not in scores.columns:
            raise ValueError(f"mark_untrained: scores need {column!r}; columns: {list(scores.columns)}")
    models = _ordered(scores[scores.model != "ground_truth"][["config", "model", "size", "steps", "d_stft",
                                                               "baseline_d_stft"]])
    out = models.copy()
    out["change"] = out.d_stft / out.baseline_d_stft - 1.0
    out["few_steps"] = (out.steps < min_steps).fillna(False).astype(bool)
    out["near_baseline"] = (out.change.abs() <= tolerance).fillna(False).astype(bool)
    out["untrained"] = out.few_steps | out.near_baseline
    return out


def family_levels(curves: pd.DataFrame, scores: pd.DataFrame, *, exclude: Sequence[str] = (),
                  metric: str = "d_stft") -> pd.DataFrame:
    """Two quality levels per family on its validation curves' scale, fixed before looking at who reaches them.

    The family's best model is its configuration with the lowest held-out ``metric`` in ``scores`` (those in
    ``exclude``, e.g. the untrained, left out); its validation curve gives ``start`` (its first validation value) and
    ``best`` (its last); ``halfway`` is their midpoint. Families in the registry's order; a family without a curve
    for its best model is left out.

    Returns:
        ``model``, ``best_config``, ``start``, ``halfway``, ``best``.
    """
    part = curves[curves.metric == metric]
    candidates = scores[(scores.model != "ground_truth") & ~scores.config.isin(list(exclude)) & scores[metric].notna()]
    rows = []
    for model, group in candidates.groupby("model", sort=False):
        best = group.sort_values(metric, kind="stable").iloc[0]
        curve = part[part.config == best.config].sort_values(["elapsed_s", "step"], kind="stable")
        if curve.empty:
            continue
        start, end = float(curve.value.iloc[0]), float(curve.value.iloc[-1])
        rows.append({"model": model, "size": "", "best_config": best.config, "start": start,
                     "halfway": (start + end) / 2.0, "best": end})
    table = pd.DataFrame(rows, columns=["model", "size", "best_config", "start", "halfway", "best"])
    return _ordered(table).drop(columns="size")


def first_reaching(curve: pd.DataFrame, level: float, *, direction: str = "min") -> dict[str, float]:
    """The first validation of ``curve`` (columns ``step``, ``elapsed_s``, ``value``; in time order) at or better
    than ``level`` (``<=`` for ``direction="min"``, ``>=`` for ``"max"``): ``{"step", "elapsed_s"}``, both NaN when
    it never does."""
    direction = check_choice("direction", direction, ("max", "min"))
    ordered = curve.sort_values(["elapsed_s", "step"], kind="stable")
    hit = ordered[ordered.value <= level] if direction == "min" else ordered[ordered.value >= level]
    if hit.empty:
        return {"step": float("nan"), "elapsed_s": float("nan")}
    return {"step": float(hit.step.iloc[0]), "elapsed_s": float(hit.elapsed_s.iloc[0])}


def energy_to_quality(curves: pd.DataFrame, scores: pd.DataFrame, levels: pd.DataFrame, *,
                      metric: str = "d_stft") -> pd.DataFrame:
    """When each configuration's validation ``metric`` first reached its family's levels (:func:`family_levels`), in
    CPU time and estimated training energy.

    The energy of a CPU second is the run's own: its training energy record over its CPU time (``train_energy_j /
    cpu_time_s`` in ``scores``), so the energy to a level is that rate times the CPU time at the first validation that
    reached it. Never reached: NaN.

    Returns:
        one row per configuration with a curve and a family level, registry order: ``config``, ``model``, ``size``,
        ``configuration`` (display name), ``level_half``, ``steps_half``, ``cpu_s_half``, ``energy_j_half``,
        ``level_best``, ``steps_best``, ``cpu_s_best``, ``energy_j_best``, ``j_per_cpu_s``, ``budget_energy_j``
        (the whole run's) and ``energy_method``.
    """
    from ..report import configuration_name

    part = curves[curves.metric == metric]
    by_family = levels.set_index("model")
    rows = []
    for row in scores[scores.model != "ground_truth"].itertuples(index=False):
        curve = part[part.config == row.config]
        if curve.empty or row.model not in by_family.index:
            continue
        rate = float(row.train_energy_j) / float(row.cpu_time_s)
        out = {"config": row.config, "model": row.model, "size": row.size,
               "configuration": configuration_name(row.model, row.size)}
        for key, level in (("half", by_family.loc[row.model, "halfway"]), ("best", by_family.loc[row.model, "best"])):
            hit = first_reaching(curve, float(level))
            out.update({f"level_{key}": float(level), f"steps_{key}": hit["step"], f"cpu_s_{key}": hit["elapsed_s"],
                        f"energy_j_{key}": hit["elapsed_s"] * rate})
        out.update({"j_per_cpu_s": rate, "budget_energy_j": float(row.train_energy_j),
                    "energy_method": getattr(row, "train_energy_method", None)})
        rows.append(out)
    columns = ["config", "model", "size", "configuration", "level_half", "steps_half", "cpu_s_half", "energy_j_half",
               "level_best", "steps_best", "cpu_s_best", "energy_j_best", "j_per_cpu_s", "budget_energy_j",
               "energy_method"]
    return _ordered(pd.DataFrame(rows, columns=columns))


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in the registry's order (ground truth first, then MelGAN small ... WaveGlow large)."""
    from ..report import order_configurations

    return order_configurations(table.reset_index(drop=True), model="model", size="size")


def table7_analogue(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores of the trained configurations beside their quick (3-step) baseline and the thesis's Table 7.

    One row per configuration of ``scores`` in the registry's order (ground truth first). Columns: ``configuration``
    (display name), ``steps``, ``n_clips`` (held-out clips scored), ``d_stft``, ``baseline_d_stft``, ``pesq_wb``,
    ``baseline_pesq_wb``, ``stoi``, the DNSMOS columns of :func:`add_dnsmos` (``dnsmos_ovrl`` ... ``dnsmos_on``),
    ``distillmos``, ``baseline_distillmos``, ``digit_accuracy`` (share of 100 held-out
    digits recognised, 0-1; empty where not scored), ``thesis_mos`` and ``thesis_d_stft`` (Table 7, LJSpeech, 120 h):
    those of ``scores`` that exist, in that order.
    """
    from .. import published

    thesis = published.load_vocoder_quality()[["model", "size", "mos", "d_stft"]].rename(
        columns={"mos": "thesis_mos", "d_stft": "thesis_d_stft"})
    thesis["size"] = thesis["size"].fillna("")
    ours = scores.copy()
    ours["size"] = ours["size"].fillna("")
    keep = [c for c in ("steps", "n_clips", "d_stft", "baseline_d_stft", "pesq_wb", "baseline_pesq_wb", "stoi",
                        "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "dnsmos_on", "distillmos",
                        "baseline_distillmos", "digit_accuracy") if c in ours.columns]
    out = ours[["model", "size", "display", *keep]].merge(thesis, on=["model", "size"], how="left")
    out = _ordered(out).rename(columns={"display": "configuration"})
    return out.drop(columns=["model", "size"])


def training_runs(scores: pd.DataFrame) -> pd.DataFrame:
    """The training runs of the trained configurations in the registry's order: ``configuration``, ``budget_s`` (the
    protocol's CPU-time budget), ``steps``, ``cpu_time_s``, ``wall_s``, ``threads``, ``train_energy_j`` and
    ``train_energy_method`` (those present)."""
    models = scores[scores.model != "ground_truth"]
    keep = [c for c in ("budget_s", "steps", "cpu_time_s", "wall_s", "threads", "train_energy_j",
                        "train_energy_method") if c in models.columns]
    out = _ordered(models[["model", "size", "display", *keep]]).rename(columns={"display": "configuration"})
    return out.drop(columns=["model", "size"])


def verification_table(verified: pd.DataFrame) -> pd.DataFrame:
    """:func:`greenaudio.orchestration.export.verify_artefacts`'s wide result as one row per (configuration,
    score): ``configuration`` (display name), ``metric``, ``manifest``, ``recomputed``, ``difference`` (absolute),
    ``tolerance`` and ``within`` (bool)."""
    from ..report import configuration_name

    rows = []
    for row in verified.to_dict("records"):
        model, size = str(row["config"]).rsplit("-", 1)
        for metric in [c[: -len(" (manifest)")] for c in verified.columns if c.endswith(" (manifest)")]:
            diff, tol = float(row[f"{metric} |diff|"]), float(row[f"{metric} tolerance"])
            rows.append({"configuration": configuration_name(model, size), "metric": metric,
                         "manifest": float(row[f"{metric} (manifest)"]),
                         "recomputed": float(row[f"{metric} (recomputed)"]), "difference": diff, "tolerance": tol,
                         "within": bool(diff <= tol)})
    return pd.DataFrame(rows, columns=["configuration", "metric", "manifest", "recomputed", "difference",
                                       "tolerance", "within"])


def zoo_provenance(costs: pd.DataFrame | None = None, protocol: str = "mini",
                   root: str | Path | None = None) -> list[dict]:
    """How the chapter's numbers were obtained, as rows for :func:`greenaudio.report.show_provenance` (quantity,
    method, tool, machine, when): the training runs and their energy (read from the shipped ``training.json``
    files), the shipped held-out scores and DNSMOS, what this build computes (re-verification, GFLOPs) and the shipped
    CPU speed records in ``costs`` (:func:`compute_inference_costs`; left out when None or without records)."""
    import json
    import os
    import platform
    from datetime import date

    import torch

    from .. import __version__
    from ..files import distinct_values

    records = [json.loads(p.read_text()) for p in sorted(protocol_dir(protocol, root).glob("*/training.json"))]
    constants = [r.get("energy_constants") or {} for r in records]
    days = sorted({str(r["finished_at"])[:10] for r in records if r.get("finished_at")})
    when = (days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}") if days else "not recorded"
    machine = (f"{distinct_values(c.get('cpu_model') for c in constants)}, "
               f"{distinct_values(c.get('logical_cpus') for c in constants)} logical CPUs")
    here, today = f"{platform.machine()}, {os.cpu_count()} CPUs", date.today().isoformat()
    clock = distinct_values({"process": "process-CPU", "wall": "wall-clock"}.get(r.get("clock"), r.get("clock"))
                            for r in records)
    rows = [
        {"quantity": "training steps, CPU and wall time",
         "method": f"{protocol} protocol, equal budget of {clock} time, "
                   f"{distinct_values(r.get('threads') for r in records)} thread(s)",
         "tool": f"torch {distinct_values(r.get('torch') for r in records)}", "machine": machine, "when": when},
        {"quantity": "training energy", "method": distinct_values(r.get("energy_method") for r in records),
         "tool": distinct_values(c.get("power_model") for c in constants), "machine": machine, "when": when},
        {"quantity": "held-out scores", "method": "computed when the zoo was exported (shipped)",
         "tool": "greenaudio.evaluation", "machine": machine, "when": when},
        {"quantity": "energy to reach a quality",
         "method": "CPU time of the first validation at the level x the run's training energy / CPU time "
                   f"({distinct_values(r.get('energy_method') for r in records)})",
         "tool": "greenaudio.chapters.quality", "machine": machine, "when": when},
        {"quantity": "re-verification, sampler clamps, GFLOPs", "method": "computed in this build",
         "tool": f"greenaudio {__version__}, torch {torch.__version__}", "machine": here, "when": today},
    ]
    shipped = costs.dropna(subset=["rtf_median"]) if costs is not None and "rtf_median" in costs else None
    if shipped is not None and len(shipped):
        speed = [c for c in shipped.get("energy_constants", pd.Series(dtype=object)) if isinstance(c, dict)]
        rows.append({"quantity": "real-time factor, generation energy",
                     "method": f"shipped CPU speed records, {distinct_values(shipped.energy_method)}",
                     "tool": distinct_values(c.get("power_model") for c in speed),
                     "machine": f"{distinct_values(c.get('cpu_model') for c in speed)}, 1 thread",
                     "when": distinct_values(str(v)[:10] for v in shipped.get("created_utc", pd.Series(dtype=str)))})
    dnsmos = load_dnsmos(protocol_dir(protocol, root))
    if len(dnsmos):
        clips = dnsmos.groupby("clips").config.nunique()
        rows.append({"quantity": "DNSMOS (OVRL, SIG, BAK, P.808)",
                     "method": "predicted MOS, mean over clips (shipped): "
                               + "; ".join(f"{_CLIP_WORDS.get(k, k)} for {n}" for k, n in clips.items()),
                     "tool": distinct_values(dnsmos.tool), "machine": "CPU (ONNX Runtime)",
                     "when": distinct_values(str(v)[:10] for v in dnsmos.created_utc)})
    rows.append({"quantity": "thesis training budget", "method": "worst case: 1 GPU x maximum power x 120 h (§4.2.2)",
                 "tool": "greenaudio.carbon (RTX A5000 datasheet, 230 W)", "machine": "NVIDIA RTX A5000",
                 "when": "2023"})
    rows.append({"quantity": "thesis MOS, D-STFT, GFLOPs, energy", "method": "printed data",
                 "tool": "Douwes 2023, Tables 7 and 8", "machine": "NVIDIA RTX A5000", "when": "2023"})
    return rows


def load_curves(protocol: str = "mini", root: str | Path | None = None) -> pd.DataFrame:
    """All shipped validation logs as one long table: config, model, size, step, elapsed_s, metric, value."""
    rows = []
    for path in sorted(protocol_dir(protocol, root).glob("*/curves.csv")):
        config = path.parent.name
        model, size = config.rsplit("-", 1)
        log = pd.read_csv(path)
        for metric in [c for c in log.columns if c in ("d_stft", "val_loss", "distillmos", "pesq_nb", "stoi")]:
            rows.append(pd.DataFrame({"config": config, "model": model, "size": size, "step": log.step,
                                      "elapsed_s": log.elapsed_s, "metric": metric, "value": log[metric]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["config", "model", "size", "step", "elapsed_s", "metric", "value"])


def plot_convergence(curves: pd.DataFrame, metric: str = "d_stft", *, clock_label: str = "CPU time (min)"):
    """Figure 30 analogue: a validation metric over training time, one panel per family, one line per size."""
    import matplotlib.pyplot as plt

    from .. import vocoders

    families = vocoders.names()
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.4), sharey=True)
    styles = {"small": "-", "medium": "--", "large": ":"}
    for ax, family in zip(axes.flat, families):
        part = curves[(curves.model == family) & (curves.metric == metric)]
        for size, group in part.groupby("size"):
            ax.plot(group.elapsed_s / 60, group.value, styles.get(size, "-"), marker="o", markersize=2, label=size)
        ax.set_title(vocoders.entry(family).display_name, fontsize=9)
        ax.set_xlabel(clock_label)
        ax.grid(alpha=0.3)
        if len(part):
            ax.legend(fontsize=7)
    label = {"d_stft": "D-STFT", "val_loss": "validation loss", "pesq_nb": "PESQ-NB", "stoi": "STOI",
             "distillmos": "DistillMOS"}.get(metric, metric)
    axes.flat[0].set_ylabel(label)
    axes.flat[3].set_ylabel(label)
    fig.tight_layout()
    return fig


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    return sf.read(str(path), dtype="float32")[0]


def _log_spectrogram(audio: np.ndarray) -> np.ndarray:
    """20 log10 |STFT| (512-sample Hann frames, hop 128), frequency on the first axis."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, 512)[::128] * np.hanning(512)
    return 20 * np.log10(np.abs(np.fft.rfft(frames)).T + 1e-5)


def plot_spectrograms(protocol: str = "mini", utterance: str = "utt00", configs: Sequence[str] | None = None,
                      root: str | Path | None = None):
    """Log-magnitude spectrograms of one utterance: one row per family, the ground truth in the first column and the
    family's small / medium / large samples beside it (a panel says "not shipped" where a size has no sample).

    Args:
        configs: the configurations to draw (default: every shipped sample of the utterance).

    Raises:
        ValueError: an unknown utterance or a requested configuration without a sample (both name what exists).
    """
    import matplotlib.pyplot as plt

    from .. import vocoders

    folder = protocol_dir(protocol, root) / "samples" / utterance
    if not folder.is_dir():
        raise ValueError(f"no samples for utterance {utterance!r} in {folder.parent}; available: "
                         f"{sorted(p.name for p in folder.parent.glob('*'))}")
    available = sorted(p.stem for p in folder.glob("*.flac") if p.stem != "ground_truth")
    wanted = list(configs) if configs is not None else available
    missing = [c for c in wanted if c not in available]
    if missing:
        raise ValueError(f"no sample for {missing} of {utterance}; available: {available}")
    families = [n for n in vocoders.names() if any(c.rsplit("-", 1)[0] == n for c in wanted)]
    truth_audio = _read(folder / "ground_truth.flac")
    truth, duration = _log_spectrogram(truth_audio), len(truth_audio) / 16000
    fig, axes = plt.subplots(len(families), 1 + len(_SIZES), figsize=(9.0, 1.7 * len(families) + 0.6),
                             sharex=True, sharey=True, squeeze=False)
    for row, family in zip(axes, families):
        for ax, name in zip(row, ["ground_truth"] + [f"{family}-{size}" for size in _SIZES]):
            if name == "ground_truth" or name in wanted:
                spec = truth if name == "ground_truth" else _log_spectrogram(_read(folder / f"{name}.flac"))
                ax.imshow(spec, origin="lower", aspect="auto", vmin=-80, vmax=20, cmap="magma",
                          extent=(0, duration, 0, 8))
            else:
                ax.text(0.5, 0.5, "not shipped", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            ax.set_title("ground truth" if name == "ground_truth" else
                         f"{vocoders.entry(family).display_name} {name.rsplit('-', 1)[1]}", fontsize=8)
        row[0].set_ylabel("kHz")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def audio_grid_html(protocol: str = "mini", configs: Sequence[str] | None = None,
                    utterances: Sequence[str] | None = None, root: str | Path | None = None) -> str:
    """An HTML table of ``<audio>`` players (FLAC embedded as data URIs, so the page works offline and from disk):
    one row per configuration (ground truth first), one column per utterance."""
    base = protocol_dir(protocol, root) / "samples"
    utts = list(utterances or sorted(p.name for p in base.glob("*") if p.is_dir()))
    if not utts:
        return "<p>No samples are shipped for this protocol yet.</p>"
    available = sorted({p.stem for u in utts for p in (base / u).glob("*.flac")} - {"ground_truth"})
    rows = ["ground_truth"] + [c for c in (configs or available) if c in available]
    out = ['<table class="greenaudio-samples"><tr><th>configuration</th>'
           + "".join(f"<th>{html.escape(u)}</th>" for u in utts) + "</tr>"]
    for config in rows:
        cells = []
        for u in utts:
            path = base / u / f"{config}.flac"
            if path.is_file():
                data = base64.b64encode(path.read_bytes()).decode()
                cells.append(f'<td><audio controls preload="none" src="data:audio/flac;base64,{data}"></audio></td>')
            else:
                cells.append("<td>—</td>")
        out.append(f"<tr><td>{html.escape(config.replace('_', ' '))}</td>{''.join(cells)}</tr>")
    return "\n".join(out + ["</table>"])


def compute_inference_costs(configs: Sequence[tuple[str, str]], *, seconds: float = 1.0) -> pd.DataFrame:
    """GFLOPs per second of audio of each configuration (counted live, default procedure), and the shipped CPU
    benchmark's RTF and E_gen per 100 s of audio with its energy method, constants and date (``created_utc``) where
    this machine's records exist."""
    from .. import measure, vocoders

    import torch

    frames = max(1, int(round(seconds * 16000 / 256)))
    rows = []
    for name, size in configs:
        model = vocoders.load(name, size).prepare_for_inference()
        mel = torch.zeros(1, model.n_mels, frames)
        count = measure.count_flops(model.generate, mel, audio_s=frames * model.hop_length / model.sample_rate)
        rows.append({"model": name, "size": size, "gflops_per_audio_s": count.gflops_per_audio_s})
    costs = pd.DataFrame(rows)
    try:
        shipped = measure.load_shipped_records()
    except Exception:  # noqa: BLE001 - no shipped benchmark for this machine: GFLOPs only
        shipped = None
    if shipped is not None and len(shipped):
        table = pd.DataFrame([r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in shipped]) \
            if not isinstance(shipped, pd.DataFrame) else shipped
        keep = [c for c in ("model", "size", "rtf_median", "e_gen_j_per_100_audio_s", "energy_method",
                            "energy_constants", "created_utc") if c in table.columns]
        if {"model", "size"} <= set(keep):
            costs = costs.merge(table[keep].drop_duplicates(["model", "size"]), on=["model", "size"], how="left")
    return costs


def quality_cost_table(scores: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """Scores of the trained configurations joined with their inference costs (ground truth left out)."""
    models = scores[scores.model != "ground_truth"].copy()
    return models.merge(costs, on=["model", "size"], how="left")


def add_listening_mos(table: pd.DataFrame, heard: pd.DataFrame) -> pd.DataFrame:
    """Join the listening test's MOS (``greenaudio.listening.listening_mos_table``) as ``listening_mos``; the column
    is all-NaN when nobody has rated yet, and the fronts then leave that row out."""
    out = table.copy()
    if heard is None or heard.empty:
        out["listening_mos"] = np.nan
        return out
    return out.merge(heard[["model", "size", "mos"]].rename(columns={"mos": "listening_mos"}), on=["model", "size"],
                     how="left")


def cost_axes(table: pd.DataFrame) -> dict[str, str]:
    """The cost columns of ``table`` to draw quality against, each with an axis label that says how its numbers were
    obtained — read from the table's own method columns, so an estimate is never labelled as a measurement.

    Columns (those present with at least one value): ``gflops_per_audio_s`` (counted by this build),
    ``rtf_median`` (the shipped CPU speed records: wall-clock time), ``e_gen_j_per_100_audio_s`` (with
    ``energy_method``), ``train_energy_j`` (with ``train_energy_method``).
    """
    from ..files import distinct_values

    def has(column: str) -> bool:
        return column in table and table[column].notna().any()

    def method(value: str, column: str) -> str:  # the methods of the rows that have a value
        if column not in table:
            return "method not recorded"
        return distinct_values(table.loc[table[value].notna(), column], empty="method not recorded")

    axes = {}
    if has("gflops_per_audio_s"):
        axes["gflops_per_audio_s"] = "GFLOPs per s of audio (counted)"
    if has("rtf_median"):
        axes["rtf_median"] = "RTF, one CPU core (measured: wall clock, shipped records)"
    if has("e_gen_j_per_100_audio_s"):
        axes["e_gen_j_per_100_audio_s"] = ("E_gen per 100 s of audio "
                                           f"(J, {method('e_gen_j_per_100_audio_s', 'energy_method')})")
    if has("train_energy_j"):
        axes["train_energy_j"] = f"mini training energy (J, {method('train_energy_j', 'train_energy_method')})"
    return axes


def plot_quality_cost_fronts(table: pd.DataFrame, costs: Mapping[str, str], quality: Sequence[str] | None = None,
                             *, untrained: Sequence[str] = ()):
    """A grid of Pareto planes: rows = quality metrics, columns = cost columns (``{column: axis label}``).

    Configurations in ``untrained`` (``config`` names, :func:`mark_untrained`) are drawn as hollow grey markers
    labelled "not trained by this budget" and left out of each front's computation. Rows without a value on a plane
    (no DNSMOS, no cost) are not drawn on it.

    Returns:
        ``(figure, optimal)`` where ``optimal`` is a long table: cost, quality, config, pareto_optimal (False for
        the untrained).
    """
    import matplotlib.pyplot as plt

    from ..plotting import plot_pareto

    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]  # plot_pareto's, by first appearance of a family
    table = _ordered(table)  # families in the registry's order, in the legend too
    cost_cols = [c for c in costs if c in table.columns and table[c].notna().any()]
    quality = [q for q in (quality or QUALITY_METRICS) if q in table.columns and table[q].notna().any()]
    fig, axes = plt.subplots(len(quality), len(cost_cols), figsize=(3.6 * len(cost_cols), 3.3 * len(quality)),
                             squeeze=False)
    names = _display_names()
    skipped = table.config.isin(list(untrained))
    records = []
    for i, q in enumerate(quality):
        label, direction = QUALITY_METRICS[q]
        for j, c in enumerate(cost_cols):
            drawn = table[c].notna() & table[q].notna()
            part, grey = table[drawn & ~skipped], table[drawn & skipped]
            families = [names.get(m, m) for m in part.model]
            if len(part):
                optimal = plot_pareto(axes[i, j], part[c], part[q], directions=("min", direction),
                                      labels=[s[0].upper() for s in part["size"]], groups=families,
                                      xlabel=textwrap.fill(costs[c], 36), ylabel=label, logx=True)
            else:  # every configuration with both values is untrained: nothing to put on a front
                optimal = np.zeros(0, dtype=bool)
                axes[i, j].set(xlabel=textwrap.fill(costs[c], 36), ylabel=label, xscale="log")
            order = list(dict.fromkeys(families))
            for k, (_, row) in enumerate(grey.iterrows()):
                family = names.get(row.model, row.model)
                marker = markers[order.index(family) % len(markers)] if family in order else "o"
                axes[i, j].scatter([row[c]], [row[q]], marker=marker, s=40, facecolors="none", edgecolors="0.6",
                                   linewidths=1.0, zorder=3, label="not trained by this budget" if k == 0 else None)
                axes[i, j].annotate(row["size"][0].upper(), (row[c], row[q]), textcoords="offset points",
                                    xytext=(6, 4), fontsize=8, color="0.6")
            for (_, row), opt in zip(part.iterrows(), optimal):
                records.append({"cost": c, "quality": q, "config": row.config, "pareto_optimal": bool(opt)})
            records += [{"cost": c, "quality": q, "config": row.config, "pareto_optimal": False}
                        for _, row in grey.iterrows()]
    handles, labels = [], []
    for ax in axes.flat:  # every family, "Pareto optimal" and "not trained by this budget", once each
        for handle, text in zip(*ax.get_legend_handles_labels()):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    columns = min(8, max(1, len(labels)))
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=7)
    fig.tight_layout(rect=(0, (0.3 + 0.2 * ((len(labels) - 1) // columns + 1)) / fig.get_figheight(), 1, 1))
    return fig, pd.DataFrame(records)


def pareto_front(table: pd.DataFrame, cost: str, quality: str, *, direction: str = "max",
                 within_family: bool = False) -> pd.Series:
    """Which rows of ``table`` are Pareto-optimal on ``quality`` (``direction``: ``"max"`` or ``"min"``) against
    ``cost`` (minimised): a boolean Series on ``table``'s index; rows missing either value are ``False``.

    ``within_family`` computes the front of each family (``model`` column) on its own: the thesis's "sub-Pareto
    front" of one model's configurations (§5.2.4).
    """
    from ..pareto import compute_pareto_mask
    direction = check_choice("direction", direction, ("max", "min"))
    for column in (cost, quality) + (("model",) if within_family else ()):
        if column not in table.columns:
            raise ValueError(f"pareto_front: no column {column!r}; columns: {list(table.columns)}")
    out = pd.Series(False, index=table.index)
    present = table[table[cost].notna() & table[quality].notna()]
    groups = present.groupby("model", sort=False) if within_family else [(None, present)]
    for _, group in groups:
        if len(group):
            mask = compute_pareto_mask(group[[cost, quality]].to_numpy(float), ("min", direction))
            out.loc[group.index] = mask
    return out


def zoo_fronts(plane: pd.DataFrame, planes: Mapping[str, tuple[str, str, str]], *,
               untrained: Sequence[str] = ()) -> pd.DataFrame:
    """Pareto membership of the zoo's configurations on several planes, the configurations in ``untrained``
    (``config`` names) left out of every front.

    Args:
        plane: one row per configuration (``config``, ``model`` and the cost and quality columns).
        planes: ``{name: (cost, quality, direction)}``, ``direction`` of the quality (``"max"``/``"min"``).

    Returns:
        a boolean column per plane on ``plane``'s index (False for the untrained and for rows missing a value).
    """
    kept = plane[~plane.config.isin(list(untrained))]
    out = pd.DataFrame(index=plane.index)
    for name, (cost, q, direction) in planes.items():
        front = pareto_front(kept, cost, q, direction=direction)
        out[name] = front.reindex(plane.index, fill_value=False).astype(bool)
    return out


def size_trend(table: pd.DataFrame, metric: str, *, direction: str = "max") -> pd.DataFrame:
    """For each family of ``table`` (rows with ``model``, ``size`` and ``metric``), its small, medium and large values
    and whether quality strictly improves with size (``improves``: small < medium < large for ``direction="max"``,
    > for ``"min"``; False where a size is missing). Families in the registry's order; the ground truth left out."""
    direction = check_choice("direction", direction, ("max", "min"))
    models = table[(table.model != "ground_truth") & table["size"].isin(_SIZES)]
    wide = models.pivot_table(index="model", columns="size", values=metric, aggfunc="first")
    wide = wide.reindex(columns=list(_SIZES))
    rows = []
    for model in _ordered(pd.DataFrame({"model": wide.index, "size": ""})).model:
        values = [float(wide.loc[model, size]) for size in _SIZES]
        steps = np.diff(values) if direction == "max" else -np.diff(values)
        rows.append({"model": model, **dict(zip(_SIZES, values)),
                     "improves": bool(np.all(np.isfinite(values)) and np.all(steps > 0))})
    return pd.DataFrame(rows, columns=["model", *_SIZES, "improves"])


def compare_with_baseline(scores: pd.DataFrame, metric: str = "d_stft", *, direction: str = "min",
                          tolerance: float = 0.01) -> pd.DataFrame:
    """Each trained configuration's ``metric`` against the same configuration after 3 optimisation steps
    (``baseline_<metric>``): ``change`` (relative: value / baseline - 1) and ``verdict``: ``"better"`` or ``"worse"``
    when the change exceeds ``tolerance`` (relative) in that sense, else ``"within"``. Registry order."""
    direction = check_choice("direction", direction, ("max", "min"))
    tolerance = check_finite_number("tolerance", tolerance, min_value=0.0)
    models = scores[scores.model != "ground_truth"]
    base = f"baseline_{metric}"
    if metric not in models or base not in models:
        raise ValueError(f"compare_with_baseline: scores need {metric!r} and {base!r}; columns: {list(scores.columns)}")
    out = _ordered(models[["config", "model", "size", metric, base]]).rename(
        columns={metric: "value", base: "baseline"})
    out["change"] = out.value / out.baseline - 1.0
    sign = -1.0 if direction == "min" else 1.0
    out["verdict"] = np.where(sign * out.change > tolerance, "better",
                              np.where(sign * out.change < -tolerance, "worse", "within"))
    return out


def best_per_family(scores: pd.DataFrame, metric: str = "digit_accuracy", *, direction: str = "max") -> pd.DataFrame:
    """The best configuration of each family on ``metric`` (rows without a value ignored): ``model``, ``size``,
    ``config`` and the value, families in the registry's order."""
    models = scores[(scores.model != "ground_truth") & scores[metric].notna()]
    best = models.sort_values(metric, ascending=direction == "min", kind="stable").groupby("model").head(1)
    return _ordered(best[["model", "size", "config", metric]])


def step_spread(scores: pd.DataFrame) -> pd.DataFrame:
    """Optimisation steps made within each training budget (``budget_s``): ``budget_s``, ``n`` configurations,
    ``most``/``most_steps`` and ``fewest``/``fewest_steps`` (configurations and their steps) and ``ratio``
    (most / fewest, fewest counted as at least 1). Budgets in increasing order."""
    models = scores[(scores.model != "ground_truth") & scores.steps.notna()]
    rows = []
    for budget, group in models.groupby("budget_s", sort=True):
        ranked = group.sort_values("steps", kind="stable")
        fewest, most = ranked.iloc[0], ranked.iloc[-1]
        rows.append({"budget_s": float(budget), "n": int(len(group)), "most": most.config,
                     "most_steps": int(most.steps), "fewest": fewest.config, "fewest_steps": int(fewest.steps),
                     "ratio": float(most.steps) / max(float(fewest.steps), 1.0)})
    return pd.DataFrame(rows, columns=["budget_s", "n", "most", "most_steps", "fewest", "fewest_steps", "ratio"])


def distillmos_against_ground_truth(scores: pd.DataFrame) -> dict | None:
    """Whether DistillMOS ranks this corpus: ``ground_truth`` (its predicted MOS of the reference recordings),
    ``ground_truth_d_stft``, ``n_models`` (trained configurations with a DistillMOS) and ``above`` (those rated higher
    than the ground truth: config, distillmos, d_stft, the farthest from the reference by D_STFT first), ``n_above``.
    None without a ground-truth row or a DistillMOS column."""
    if scores.empty or "distillmos" not in scores or "ground_truth" not in set(scores["config"]):
        return None
    truth = scores[scores["config"] == "ground_truth"].iloc[0]
    models = scores[(scores["config"] != "ground_truth") & scores["distillmos"].notna()]
    above = models[models["distillmos"] > float(truth.distillmos)].sort_values("d_stft", ascending=False)
    return {"ground_truth": float(truth.distillmos), "ground_truth_d_stft": float(truth.d_stft),
            "n_models": int(len(models)), "n_above": int(len(above)),
            "above": above[["config", "model", "size", "distillmos", "d_stft"]].reset_index(drop=True)}


def thesis_quality_cost() -> pd.DataFrame:
    """The thesis's 18 configurations with their quality (Table 7: ``mos``, ``d_stft``, IS, AM, FID) and cost
    (Table 8: ``gflops_per_audio_s``, ``e_gen_printed`` in mJ per 100 s of audio, RTFs), registry order, as data."""
    from .. import published

    quality = published.load_vocoder_quality()
    quality = quality[quality.model != "ground_truth"].drop(columns=["source", "suggested_by_thesis"])
    costs = published.load_vocoder_costs().drop(columns=["source"])
    table = quality.merge(costs, on=["model", "size"], how="inner")
    table["config"] = table.model + "-" + table["size"]
    return _ordered(table)


def _thesis_table7() -> pd.DataFrame:
    """The thesis's Table 7 (data) without its ground-truth row, metric columns named as in :data:`_THESIS_METRICS`."""
    from .. import published

    t7 = published.load_vocoder_quality()
    return t7[t7.model != "ground_truth"].rename(columns=_THESIS_METRICS)


def thesis_metric_correlations() -> pd.DataFrame:
    """Correlations of the thesis's D_STFT, IS, AM and FID with its human MOS over its 18 configurations (Table 7)."""
    from .. import evaluation

    return evaluation.compute_metric_correlations(_thesis_table7(), "mos", list(_THESIS_METRICS.values()))


def plot_thesis_figure32(seed: int = 0):
    """Figure 32 from data: the thesis's human MOS against each of its VGGish metrics (IS, AM, FID) over its 18
    configurations (Table 7), with a linear fit and its 95 % bootstrap band (:func:`greenaudio.listening.
    plot_metric_vs_mos`, seaborn), points coloured by family.

    Returns:
        (figure, {metric: {"pearson_r", "spearman_rho", "n"}}).
    """
    import matplotlib.pyplot as plt

    from ..listening import plot_metric_vs_mos

    t7 = _thesis_table7().rename(columns={"mos": "MOS (thesis, human)"})
    vggish = [m for m in _THESIS_METRICS.values() if "VGGish" in m]
    fig, axes = plt.subplots(1, len(vggish), figsize=(4.2 * len(vggish), 3.6))
    found = {}
    for ax, metric in zip(axes, vggish):
        _, found[metric] = plot_metric_vs_mos(t7, metric, mos="MOS (thesis, human)", hue="model", ax=ax, seed=seed)
        if ax is not axes[-1] and ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig, found


def _clamp_model(config: str, shipped: set, protocol: str, root, seed: int):
    """The shipped trained model of ``config``, or (weights not shipped) its architecture initialised with ``seed``."""
    import torch

    from .. import vocoders
    from ..shipped import load_shipped_model

    if config in shipped:
        return load_shipped_model(config, protocol, root), "trained (shipped)"
    with torch.random.fork_rng():  # the caller's global generator is left as it was
        torch.manual_seed(seed)
        model = vocoders.load(*config.rsplit("-", 1))
    return model.eval(), f"untrained (seed {seed})"


#: Columns of :func:`compare_sampler_clamps`.
SAMPLER_CLAMP_COLUMNS = ["configuration", "clamp", "reference", "weights", "d_stft", "pesq_wb", "peak", "utterances"]


def compare_sampler_clamps(protocol: str = "mini", configs: Sequence[str] = ("diffwave-small", "wavegrad-small"),
                           root: str | Path | None = None, seed: int = 1234,
                           utterances: int | None = None) -> pd.DataFrame:
    """Scores of diffusion models' samples under each ``clamp`` option of their sampler (the reference
    implementations' clamp is the default; ``"none"`` is Algorithm 2 as printed), on the shipped ground truth.

    A configuration with shipped weights is sampled with them; one without (WaveGrad small: its trained output was
    noise, so its weights are not shipped) with its architecture initialised from ``seed`` (the clamp acts on any
    weights: it bounds what the sampler writes). ``utterances`` keeps the first N shipped utterances (None: all;
    quick builds use 1). Returns one row per (configuration, clamp) (:data:`SAMPLER_CLAMP_COLUMNS`):
    ``configuration`` (display name), ``clamp``, ``reference`` (True for the reference implementation's clamp, the
    default), ``weights`` (``"trained (shipped)"`` or ``"untrained (seed N)"``), ``d_stft``, ``pesq_wb``, ``peak``
    (the largest absolute amplitude before the scores' clipping to [-1, 1]) and ``utterances`` scored. All clips are
    generated in one call with one generator seeded with ``seed`` (:func:`greenaudio.evaluation.generate_and_score`).
    """
    from ..evaluation import generate_and_score
    from ..report import configuration_name
    from ..shipped import load_manifest, shipped_ground_truth
    from ..vocoders.diffusion_common import CLAMP_CHOICES

    folder = protocol_dir(protocol, root)
    manifest = load_manifest(folder)
    gt, mels = shipped_ground_truth(folder)
    if utterances is not None:
        n = check_positive_int("utterances", utterances)
        gt, mels = gt[:n], mels[:n]
    shipped = set(manifest.config[manifest.kind == "weights"])
    rows = []
    for config in configs:
        model, weights = _clamp_model(config, shipped, protocol, root, seed)
        default = model.resolve_procedure()["clamp"]
        for clamp in [c for c in CLAMP_CHOICES if c in ("none", default)]:
            run = generate_and_score(model, mels, gt, metrics=("d_stft", "pesq_wb"), seed=seed, batch_size=None,
                                     procedure={"clamp": clamp})
            rows.append({"configuration": configuration_name(*config.rsplit("-", 1)), "clamp": clamp,
                         "reference": clamp == default, "weights": weights, **run.means,
                         "peak": float(np.max(run.scores["peak"].to_numpy())), "utterances": int(len(gt))})
    return pd.DataFrame(rows, columns=SAMPLER_CLAMP_COLUMNS)
