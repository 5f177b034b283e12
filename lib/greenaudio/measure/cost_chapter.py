"""The computations of the cost chapter (Table 8, Figures 33–34, Table 10, the three-tool table), as functions.

Used by: notebooks/05_1_cost_benchmark.ipynb, which holds only narrative, parameters and calls to these.

Every energy label here is read from the records' provenance (:mod:`greenaudio.measure.provenance`): where all the
energies are estimates proportional to a time, the figures, their titles and the correlation table say so.
"""

from __future__ import annotations

import json
import resource
import textwrap
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .bench import run_grid
from .flops import count_flops
from .power_models import compare_energy_tools
from .protocol import Protocol
from .provenance import describe_energy, energy_axis_label, energy_is_time_proxy
from .records import BenchmarkRecord
from .speed import machine_slug, speed_table
from .store import ResultStore, load_records

__all__ = ["run_grid_twice", "provenance_lines", "build_table8", "table8_notes", "figure33", "procedure_flops",
           "figure34", "energy_tools_table", "TinyVocoder",
           "byo_table", "figure_byo",
           "gpu_records_table", "speed_summary"]

#: Procedures whose FLOPs are compared with Table 8 (diffusion schedules, WaveFlow's reverse).
PROCEDURE_VARIANTS = {
    "wavegrad": [{"schedule": "fast"}, {"schedule": "full"}],
    "diffwave": [{"schedule": "fast"}, {"schedule": "full"}],
    "waveflow": [{"reverse": "fast"}, {"reverse": "plain"}],
}


def _unique(values) -> list:
    return list(dict.fromkeys(v for v in values if v not in (None, "")))


def run_grid_twice(models: Sequence[str], sizes: Sequence[str], *, store: str | Path, device: str,
                   protocol: Protocol, ray_address: str | None = None, **settings: Any) -> tuple[Any, pd.DataFrame]:
    """Run the grid twice on one store (the second call must compute nothing); returns the first call's
    :class:`~greenaudio.measure.GridResult` and a table of both calls (cells, computed, skipped, failed, wall_s).

    ``ray_address`` (``"auto"``, ``"ray://host:port"`` or ``"host:port"``) measures the cells as Ray tasks on that
    cluster (:func:`greenaudio.experiments.cluster.run_bench_grid`; this process alone writes the store); ``None``
    measures them here with :func:`~greenaudio.measure.run_grid`, and never imports Ray.
    """
    grid_fn = run_grid
    if ray_address is not None:
        import functools

        from greenaudio.experiments import cluster

        ray_address = cluster.check_ray_address_form(ray_address)  # before any store or cell
        grid_fn = functools.partial(cluster.run_bench_grid, ray_address=ray_address)

    rows, first = [], None
    with ResultStore(store) as st:
        for call in ("first call", "second call (same store)"):
            started = time.perf_counter()
            grid = grid_fn(models, sizes, store=st, devices=[device], protocol=protocol, progress=False, **settings)
            rows.append({"call": call, "cells": len(grid.records), "computed": len(grid.computed),
                         "skipped": len(grid.skipped), "failed": len(grid.failed),
                         "wall_s": time.perf_counter() - started})
            first = first or grid
    return first, pd.DataFrame(rows)


def provenance_lines(records: Sequence[BenchmarkRecord]) -> list[str]:
    """How the records were obtained, printed from their own fields (device, software, dates, energy method)."""
    env = records[0].environment
    dates = sorted(r.created_utc for r in records)
    lines = [
        f"Machine: {_unique(machine_slug(r) for r in records)}; CPU model: {env.get('cpu_model')}; GPU: "
        f"{env.get('gpu_model')}; host type: {_unique(r.host_type for r in records)} "
        f"(evidence: {'; '.join(env.get('host_evidence', []))}).",
        f"Software: torch {env['packages'].get('torch')}, Python {env.get('python')}, {env.get('platform')}; "
        f"{_unique(r.code_version for r in records)}.",
        f"Measured between {dates[0]} and {dates[-1]} (UTC); protocol(s) "
        f"{_unique(json.dumps(r.protocol, sort_keys=True) for r in records)}.",
        "Energy: " + "; ".join(_unique(describe_energy(r) for r in records)) + ".",
    ]
    lines += [f"Energy note: {n}" for n in _unique(n for r in records for n in r.energy_notes)]
    lines.append(f"FLOPs: {_unique(r.flops_method for r in records)}")
    return lines


def build_table8(records: Sequence[BenchmarkRecord], on_gpu: bool) -> pd.DataFrame:
    """Our value of each Table 8 column beside the thesis's printed one and the ratio ours / thesis.

    The thesis's E_gen is printed in 'mJ'; the ratio reads it as joules (see the errata chapter).
    """
    from greenaudio import published

    rtf = "rtf_gpu" if on_gpu else "rtf_cpu"
    ours = pd.DataFrame([{"model": r.model, "size": r.size, "params": r.params,
                          "gflops_per_audio_s": r.gflops_per_audio_s, "e_gen_j": r.e_gen_j_per_100_audio_s,
                          "rtf": r.rtf_median, "energy_method": r.energy_method} for r in records])
    m = ours.merge(published.load_vocoder_costs(), on=["model", "size"], how="left", suffixes=("", "_thesis"),
                   validate="one_to_one")
    return pd.DataFrame({
        "model": m.model, "size": m["size"], "params": m.params,
        "thesis_params": (m.params_millions * 1e6).round().astype("Int64"),
        "params_ratio": m.params / (m.params_millions * 1e6),
        "gflops_per_audio_s": m.gflops_per_audio_s, "thesis_gflops_per_audio_s": m.gflops_per_audio_s_thesis,
        "gflops_ratio": m.gflops_per_audio_s / m.gflops_per_audio_s_thesis,
        "e_gen_j": m.e_gen_j, "thesis_e_gen_printed_mj": m.e_gen_printed,
        "e_gen_ratio_printed_as_j": m.e_gen_j / m.e_gen_printed,
        rtf: m.rtf, f"thesis_{rtf}": m[rtf], f"{rtf}_ratio": m.rtf / m[rtf], "energy_method": m.energy_method,
    })


def table8_notes(table8: pd.DataFrame) -> list[str]:
    """The unit erratum's implied powers and the parameter counts that differ from the thesis by more than 1 %."""
    from greenaudio import errata, published

    thesis = published.load_vocoder_costs()
    unit = pd.DataFrame([vars(e) for e in errata.check_table8_energy_unit()])
    rtf = next(c for c in table8.columns if c in ("rtf_gpu", "rtf_cpu"))
    ours_w = table8.e_gen_j / (table8[rtf] * 100)
    read_j = thesis.e_gen_printed / (thesis.rtf_gpu * 100)
    return [
        f"Errata (Table 8 unit): implied GPU power if E_gen were mJ: {unit.computed.min():.4f}–"
        f"{unit.computed.max():.4f} W; read as J: {read_j.min():.0f}–{read_j.max():.0f} W. Our mean power: "
        f"{ours_w.min():.2f}–{ours_w.max():.2f} W.",
        "Parameter counts that differ from the thesis by more than 1 %: " + (", ".join(
            f"{m} {s} ({r:.2f}x)" for m, s, r in table8[["model", "size", "params_ratio"]].itertuples(index=False)
            if abs(r - 1) > 0.01) or "none"),
    ]


def _correlation_rows(source: str, pairs: dict[str, Any], gflops) -> list[dict]:
    from scipy import stats

    rows = []
    y = np.asarray(gflops, dtype=float)
    for pair, x in pairs.items():
        x = np.asarray(x, dtype=float)
        rows.append({"data": source, "pair": pair, "n": len(x), "pearson_r": stats.pearsonr(x, y)[0],
                     "pearson_r_log10": stats.pearsonr(np.log10(x), np.log10(y))[0],
                     "spearman_rho": stats.spearmanr(x, y)[0]})
    return rows


def figure33(table8: pd.DataFrame, records: Sequence[BenchmarkRecord]):
    """Correlations of GFLOPs with parameters, energy and time (ours) and with the thesis's Table 8, and the figure.

    When every energy of ours is an estimate proportional to time, the energy pair is named
    ``"GFLOPs vs E_gen (estimate ∝ time)"`` and the panel's title says it is a correlation with time.

    Returns:
        ``(correlations DataFrame, matplotlib Figure)``.
    """
    import matplotlib.pyplot as plt

    from greenaudio import published

    thesis = published.load_vocoder_costs()
    proxy = energy_is_time_proxy(records)
    energy_pair = "GFLOPs vs E_gen (estimate ∝ time)" if proxy else "GFLOPs vs E_gen"
    rtf = next(c for c in table8.columns if c in ("rtf_gpu", "rtf_cpu"))
    corr = pd.DataFrame(
        _correlation_rows("ours", {"GFLOPs vs parameters": table8.params, energy_pair: table8.e_gen_j,
                                   "GFLOPs vs RTF": table8[rtf]}, table8.gflops_per_audio_s)
        + _correlation_rows("thesis", {"GFLOPs vs parameters": thesis.params_millions * 1e6,
                                       "GFLOPs vs E_gen": thesis.e_gen_printed}, thesis.gflops_per_audio_s))
    fig, axes = plt.subplots(2, 2, figsize=(9, 7.5))
    series = {
        "ours": (table8.model, table8.params, table8.e_gen_j, table8.gflops_per_audio_s,
                 energy_axis_label(records), energy_pair),
        "thesis": (thesis.model, thesis.params_millions * 1e6, thesis.e_gen_printed, thesis.gflops_per_audio_s,
                   "E_gen, measured (thesis: pyJoules, RTX A5000; printed 'mJ' per 100 s)", "GFLOPs vs E_gen"),
    }
    for row, (source, (names, params, energy, gflops, elabel, epair)) in enumerate(series.items()):
        for col, (x, xlabel, pair) in enumerate(((params, "Parameters", "GFLOPs vs parameters"),
                                                 (energy, elabel, epair))):
            ax = axes[row, col]
            for model in dict.fromkeys(names):
                sel = (names == model).to_numpy()
                ax.scatter(np.asarray(x)[sel], np.asarray(gflops)[sel], label=model, s=30)
            c = corr[(corr.data == source) & (corr.pair == pair)]
            what = " — a correlation with TIME" if (source == "ours" and col == 1 and proxy) else ""
            ax.set_title(f"{source}: Pearson r = {c.pearson_r.iat[0]:.2f}, Spearman ρ = {c.spearman_rho.iat[0]:.2f}"
                         f"{what}", fontsize=8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(textwrap.fill(xlabel, 60), fontsize=7 if col == 1 else 9)
            ax.set_ylabel("GFLOPs per second of audio")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return corr, fig


def procedure_flops(sizes: Sequence[str], flop_clip_s: float, seed: int) -> pd.DataFrame:
    """GFLOPs per second of audio of each procedure of :data:`PROCEDURE_VARIANTS` beside Table 8's printed value.

    Counted on the *plain* model (weight norm kept, no inference-only rewrites: the computation of the reference
    implementations the thesis measured), not on ``prepare_for_inference()``'s, which removes step-independent work.
    Convolution FLOPs are proportional to the clip length, so a short clip (``flop_clip_s``) gives the per-second
    count of any length.
    """
    from greenaudio import published, vocoders

    printed = published.load_vocoder_costs().set_index(["model", "size"])["gflops_per_audio_s"]
    frames = max(1, int(round(flop_clip_s * 16000 / 256)))
    rows = []
    for name, variants in PROCEDURE_VARIANTS.items():
        for size in sizes:
            model = vocoders.load(name, size).eval()
            mel = torch.rand(1, 80, frames, generator=torch.Generator().manual_seed(seed))
            for procedure in variants:
                count = count_flops(lambda: model.generate(mel, **procedure), audio_s=frames * 256 / 16000)
                ref = float(printed.loc[(name, size)])
                rows.append({"model": name, "size": size, "procedure": json.dumps(procedure), "mel_frames": frames,
                             "gflops_per_audio_s": count.gflops_per_audio_s, "thesis_gflops_per_audio_s": ref,
                             "ratio": count.gflops_per_audio_s / ref})
    table = pd.DataFrame(rows)
    distance = np.abs(np.log(table.ratio))
    table["closest_to_thesis"] = distance == distance.groupby([table.model, table["size"]]).transform("min")
    return table


def figure34(table8: pd.DataFrame, records: Sequence[BenchmarkRecord]):
    """Pareto fronts of the thesis's MOS against energy and GFLOPs, ours and the thesis's.

    Returns:
        ``(front DataFrame with an optimal_* column per panel, Figure)``.
    """
    import matplotlib.pyplot as plt

    from greenaudio import plotting, published

    quality = published.load_vocoder_quality()
    thesis = published.load_vocoder_costs()
    mos = quality[quality.model != "ground_truth"][["model", "size", "mos"]]
    front = table8[["model", "size", "e_gen_j", "gflops_per_audio_s"]].merge(mos, on=["model", "size"],
                                                                              validate="one_to_one")
    front = front.merge(thesis[["model", "size", "e_gen_printed", "gflops_per_audio_s"]].rename(
        columns={"e_gen_printed": "thesis_e_gen_printed_mj", "gflops_per_audio_s": "thesis_gflops_per_audio_s"}),
        on=["model", "size"], validate="one_to_one")
    panels = {
        "energy_ours": ("e_gen_j", energy_axis_label(records, quantity="E_gen, ours")),
        "energy_thesis": ("thesis_e_gen_printed_mj", "E_gen, thesis, measured (pyJoules; printed 'mJ' per 100 s)"),
        "gflops_ours": ("gflops_per_audio_s", "GFLOPs per second of audio, ours"),
        "gflops_thesis": ("thesis_gflops_per_audio_s", "GFLOPs per second of audio, thesis"),
    }
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    for ax, (name, (column, xlabel)) in zip(axes.ravel(), panels.items()):
        front[f"optimal_{name}"] = plotting.plot_pareto(
            ax, front[column], front.mos, groups=front.model.tolist(), labels=front["size"].str[0].str.upper(),
            xlabel=textwrap.fill(xlabel, 70), ylabel="MOS (thesis, Table 7)", logx=True)
        ax.xaxis.label.set_fontsize(7)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return front, fig


def energy_tools_table(record: BenchmarkRecord, training_run: dict[str, float] | str | None = None) -> pd.DataFrame:
    """One benchmark cell (and optionally a training run) through carbontracker's rule, CodeCarbon's offline rule
    and the Green Algorithms formula (:func:`greenaudio.measure.compare_energy_tools`).

    ``training_run`` is a workload dict ``{"name", "wall_s", "cpu_time_s", "cores", "memory_gb"}`` or a shipped
    training record ``"mini/<configuration>"`` (:func:`greenaudio.experiments.artefacts.shipped_training_workload`).

    The cell's wall time is its energy window; its CPU time is the process CPU time the record measured (or wall
    time x threads); memory is this process's peak resident set (measured, in GB).
    """
    wall = float(record.energy_duration_s)
    cpu = record.energy_constants.get("process_cpu_time_s")
    cores = int((record.protocol or {}).get("threads") or record.environment.get("torch_threads") or 1)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    workloads = {f"benchmark cell {record.model} {record.size} ({wall:.3g} s)":
                 {"wall_s": wall, "cpu_time_s": float(cpu) if cpu is not None else wall * cores, "cores": cores,
                  "memory_gb": rss_gb}}
    if isinstance(training_run, str):
        from greenaudio.experiments.artefacts import shipped_training_workload

        training_run = shipped_training_workload(training_run)
    if training_run:
        workloads[training_run.get("name", "training run")] = {k: float(training_run[k])
                                                               for k in ("wall_s", "cpu_time_s", "cores", "memory_gb")}
    table = compare_energy_tools(workloads, cpu_model=record.environment.get("cpu_model"),
                                 logical_cpus=int(record.environment.get("cpu_count") or 1))
    table["energy_j"] = table.energy_kwh * 3.6e6
    return table


class TinyVocoder(nn.Module):
    """mel (B, 80, T) -> waveform (B, T * 256): a convolution, three transposed convolutions (x8, x8, x4), a
    convolution; untrained, an example of a "bring your own" model."""

    def __init__(self, n_mels: int = 80, channels: int = 32, ratios=(8, 8, 4)):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(n_mels, channels, 7, padding=3)]
        for r in ratios:
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose1d(channels, channels // 2, 2 * r, stride=r, padding=r // 2)]
            channels //= 2
        layers += [nn.LeakyReLU(0.2), nn.Conv1d(channels, 1, 7, padding=3), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net(mel).squeeze(1)


def byo_table(table8: pd.DataFrame, mine: BenchmarkRecord) -> pd.DataFrame:
    """Our configurations and the bring-your-own record, sorted by GFLOPs per second of audio."""
    rtf = next(c for c in table8.columns if c in ("rtf_gpu", "rtf_cpu"))
    extra = pd.DataFrame([{"model": mine.model, "size": mine.size, "params": mine.params,
                           "gflops_per_audio_s": mine.gflops_per_audio_s, "e_gen_j": mine.e_gen_j_per_100_audio_s,
                           rtf: mine.rtf_median, "energy_method": mine.energy_method}])
    cols = ["model", "size", "params", "gflops_per_audio_s", "e_gen_j", rtf, "energy_method"]
    return pd.concat([table8[cols], extra], ignore_index=True).sort_values("gflops_per_audio_s", ignore_index=True)


def figure_byo(front: pd.DataFrame, mine: BenchmarkRecord, assumed_mos: float, records: Sequence[BenchmarkRecord]):
    """Our energy and GFLOPs fronts with the example vocoder added at a HYPOTHETICAL MOS; returns (data, Figure)."""
    import matplotlib.pyplot as plt

    from greenaudio import plotting

    data = pd.concat([front[["model", "size", "e_gen_j", "gflops_per_audio_s", "mos"]],
                      pd.DataFrame([{"model": "my-vocoder (hypothetical MOS)", "size": "custom",
                                     "e_gen_j": mine.e_gen_j_per_100_audio_s,
                                     "gflops_per_audio_s": mine.gflops_per_audio_s, "mos": assumed_mos}])],
                     ignore_index=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (column, xlabel) in zip(axes, (("e_gen_j", energy_axis_label(list(records) + [mine], "E_gen, ours")),
                                           ("gflops_per_audio_s", "GFLOPs per second of audio, ours"))):
        data[f"optimal_{column}"] = plotting.plot_pareto(
            ax, data[column], data.mos, groups=data.model.tolist(), labels=data["size"].str[0].str.upper(),
            xlabel=textwrap.fill(xlabel, 70), ylabel="MOS (thesis, Table 7; my-vocoder: HYPOTHETICAL)", logx=True)
        ax.xaxis.label.set_fontsize(7)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return data, fig


def gpu_records_table(path: str | Path | None) -> pd.DataFrame | None:
    """NVML-measured GPU records (a file written by ``greenaudio bench --csv`` on a GPU machine) beside Table 8's
    GPU columns; ``None`` when no such file is given or it does not exist."""
    from greenaudio import published

    if path is None or not Path(path).exists():
        return None
    recs = [r for r in load_records(path) if r.ok and r.device.startswith("cuda")]
    if not recs:
        return None
    thesis = published.load_vocoder_costs()[["model", "size", "e_gen_printed", "rtf_gpu"]]
    ours = pd.DataFrame([{"model": r.model, "size": r.size, "gpu": r.energy_device_model, "e_gen_j":
                          r.e_gen_j_per_100_audio_s, "rtf_gpu": r.rtf_median, "energy": describe_energy(r)}
                         for r in recs])
    return ours.merge(thesis, on=["model", "size"], how="left", suffixes=("", "_thesis_rtx_a5000"))


def speed_summary(records: Sequence[BenchmarkRecord]) -> pd.DataFrame:
    """The CPU speed table of the models page (:func:`greenaudio.measure.speed_table`) of these records."""
    return speed_table(records)

