"""The computations of the cost chapter (Table 8, Figures 33–34, Table 10, the three-tool table), as functions.

Used by: notebooks/05_1_cost_benchmark.ipynb, which holds only narrative, parameters and calls to these, and passes
the grid runner of the orchestration floor (:func:`run_grid_twice`).

Every energy label here is read from the records' provenance (:mod:`greenaudio.provenance`): where all the
energies are estimates proportional to a time, the figures, their titles and the correlation table say so.
"""

from __future__ import annotations

import json
import math
import resource
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..measure.flops import count_flops
from ..measure.power_models import compare_energy_tools
from ..measure.protocol import Protocol
from ..measure.records import BenchmarkRecord
from ..measure.speed import protocol_text
from ..measure.store import load_records
from ..provenance import energy_axis_label, energy_is_time_proxy, energy_kind, energy_method_facts, energy_method_label

__all__ = ["run_grid_twice", "provenance_rows", "build_table8", "table8_facts", "figure33", "procedure_flops",
           "figure34", "energy_tools_table", "TinyVocoder", "byo_table", "figure_byo", "gpu_records_table",
           "table_layout", "cost_facts", "check_claims"]

#: The families of §5.2.3's statements ("GANs tend to be highly efficient, while diffusion models ...").
FAMILIES = {"GAN": ("melgan", "hifigan"), "diffusion": ("wavegrad", "diffwave"), "flow": ("waveflow", "waveglow")}
#: How the claims' words are read as numbers (shown beside the claims table): "around 100 times" is a ratio whose
#: nearest power of ten is 100; "positively correlated" a Spearman rho of at least 0.5; "absence of correlation" a
#: |Pearson r| below 0.5; "few models" on the front at most a quarter of the 18; the two fronts "consistent" when at
#: least half of the configurations optimal on either are optimal on both.
CLAIM_READINGS = {"around_100_low": 10 ** 1.5, "around_100_high": 10 ** 2.5, "positive_rho": 0.5,
                  "no_correlation_r": 0.5, "few_share": 0.25, "consistent_share": 0.5}

#: Procedures whose FLOPs are compared with Table 8 (diffusion schedules, WaveFlow's reverse).
PROCEDURE_VARIANTS = {"wavegrad": [{"schedule": "fast"}, {"schedule": "full"}],
                      "diffwave": [{"schedule": "fast"}, {"schedule": "full"}],
                      "waveflow": [{"reverse": "fast"}, {"reverse": "plain"}]}


def _unique(values) -> list:
    return list(dict.fromkeys(v for v in values if v not in (None, "")))


def run_grid_twice(models: Sequence[str], sizes: Sequence[str], *, grid_runner: Callable[..., Any], store: Any,
                   device: str, protocol: Protocol, **settings: Any) -> tuple[Any, pd.DataFrame]:
    """Run the grid twice on one store (the second call must compute nothing); returns the first call's grid result
    (``records``, ``computed``, ``skipped``, ``failed``) and a table of both calls (cells, computed, skipped, failed,
    wall_s).

    ``grid_runner`` measures the grid, called as ``grid_runner(models, sizes, store=store, devices=[device],
    protocol=protocol, progress=False, **settings)``: the notebook passes the orchestration floor's
    :func:`greenaudio.orchestration.bench.run_bench_grid`, whose ``ray_address`` setting chooses where the cells are
    measured (here, or as Ray tasks on a cluster, this process alone writing the store). This function opens
    nothing itself, so a bad setting stops the runner before the store exists.
    """
    rows, first = [], None
    for call in ("first call", "second call (same store)"):
        started = time.perf_counter()
        grid = grid_runner(models, sizes, store=store, devices=[device], protocol=protocol, progress=False,
                           **settings)
        rows.append({"call": call, "cells": len(grid.records), "computed": len(grid.computed),
                     "skipped": len(grid.skipped), "failed": len(grid.failed),
                     "wall_s": time.perf_counter() - started})
        first = first or grid
    return first, pd.DataFrame(rows)


def _dates(records: Sequence[BenchmarkRecord]) -> str:
    dates = sorted(str(r.created_utc) for r in records if r.created_utc)
    if not dates:
        return "unknown"
    first, last = dates[0][:16].replace("T", " "), dates[-1][:16].replace("T", " ")
    return f"{first} (UTC)" if first == last else f"{first} to {last} (UTC)"


def _machine(records: Sequence[BenchmarkRecord]) -> str:
    envs = [r.environment or {} for r in records]
    parts = _unique(f"{e.get('cpu_model')} ({e.get('cpu_count')} logical CPUs, {r.host_type or e.get('host_type')})"
                    + (f", GPU {e.get('gpu_model')}" if e.get("gpu_model") else "")
                    + f", {(r.protocol or {}).get('threads', e.get('torch_threads'))} thread(s)"
                    for e, r in zip(envs, records))
    return "; ".join(parts) or "unknown"


def provenance_rows(records: Sequence[BenchmarkRecord], *, procedure_clip_s: float | None = None,
                    byo: BenchmarkRecord | None = None) -> list[dict[str, str]]:
    """How the chapter's numbers were obtained, as rows of :func:`greenaudio.report.show_provenance` (quantity,
    method, tool, machine, when), read from the records' own fields: the grid's time and GFLOPs, its energy (the
    power model or sensor, never dropped), the procedures' FLOPs, the three tools' rules, the example vocoder, and the
    thesis's printed values (data)."""
    from greenaudio import published

    env = records[0].environment or {}
    machine, when = _machine(records), _dates(records)
    software = (f"torch {(env.get('packages') or {}).get('torch')}, Python {env.get('python')}; "
                + "; ".join(_unique(r.code_version for r in records if r.code_version)))
    protocols = "; ".join(_unique(protocol_text(r.protocol or {}) for r in records))
    energy_notes = _unique(n for r in records for n in r.energy_notes if not n.startswith("power model:"))
    facts = [energy_method_facts(r) for r in records]
    tools = _unique(f.get("power_model") or f.get("hardware") or " + ".join(f.get("sensors", [])) or f["detail"]
                    for f in facts)
    rows = [
        {"quantity": "Time and real-time factor (Table 8, this build)",
         "method": ("measured: greenaudio.measure.benchmark_model per grid cell, perf_counter of generate(), "
                    f"median run; {protocols}"),
         "tool": software, "machine": machine, "when": when},
        {"quantity": "Energy E_gen (Table 8, this build)",
         "method": "; ".join(_unique(energy_method_label(r) for r in records) + energy_notes),
         "tool": "; ".join(tools), "machine": machine, "when": when},
        {"quantity": "GFLOPs per second of audio (Table 8, this build)",
         "method": "; ".join(_unique(r.flops_method for r in records if r.flops_method)),
         "tool": f"torch {(env.get('packages') or {}).get('torch')}", "machine": "none (counted, not timed)",
         "when": when},
    ]
    if procedure_clip_s is not None:
        rows.append({"quantity": "GFLOPs of each inference procedure",
                     "method": f"counted on the plain models (no inference-only rewrites) on a {procedure_clip_s:g} s "
                               "clip, scaled per second of audio; element-wise operations not counted",
                     "tool": f"torch {torch.__version__} FlopCounterMode", "machine": "none (counted, not timed)",
                     "when": when})
    rows.append({"quantity": "Three tools' energies",
                 "method": "estimated: each tool's published rule and constants applied offline to the measured "
                           "wall and CPU time and peak memory (no sensor)",
                 "tool": "carbontracker 2.4.7, CodeCarbon 3.3.2, Green Algorithms (resources/energy_models.csv)",
                 "machine": machine, "when": when})
    if byo is not None:
        rows.append({"quantity": "Example vocoder (bring your own)",
                     "method": f"measured as the grid, same protocol; energy {energy_method_label(byo)}; MOS "
                               "hypothetical", "tool": software, "machine": _machine([byo]), "when": _dates([byo])})
    thesis = published.load_vocoder_costs()
    rows.append({"quantity": "Thesis values (Table 8; MOS of Table 7)",
                 "method": "data: the printed values; E_gen measured by the thesis for 10 clips x 10 s at 16 kHz "
                           "(CPU, RAM and GPU)",
                 "tool": "pyJoules (thesis, §5.2.3)",
                 "machine": "; ".join(_unique(f"GPU {g}, CPU {c}" for g, c in zip(thesis.gpu, thesis.cpu))),
                 "when": "2023 (thesis)"})
    return rows


def _names(models, sizes) -> list[str]:
    """Display names of (model, size) pairs (``"HiFi-GAN small"``)."""
    from greenaudio.report import configuration_name

    return [configuration_name(m, z) for m, z in zip(models, sizes)]


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
        "model": m.model, "size": m["size"], "configuration": _names(m.model, m["size"]), "params": m.params,
        "thesis_params": (m.params_millions * 1e6).round().astype("Int64"),
        "params_ratio": m.params / (m.params_millions * 1e6),
        "gflops_per_audio_s": m.gflops_per_audio_s, "thesis_gflops_per_audio_s": m.gflops_per_audio_s_thesis,
        "gflops_ratio": m.gflops_per_audio_s / m.gflops_per_audio_s_thesis,
        "e_gen_j": m.e_gen_j, "thesis_e_gen_printed_mj": m.e_gen_printed,
        "e_gen_ratio_printed_as_j": m.e_gen_j / m.e_gen_printed,
        rtf: m.rtf, f"thesis_{rtf}": m[rtf], f"{rtf}_ratio": m.rtf / m[rtf], "energy_method": m.energy_method,
    })


def table8_facts(table8: pd.DataFrame) -> dict[str, float | int | str]:
    """Numbers behind the reading of Table 8: the mean power each printed E_gen implies over its GPU time when read
    as mJ (``implied_mj_w_min``/``_max``, in W: :func:`greenaudio.errata.check_table8_energy_unit`) and as J
    (``implied_w_min``/``_max``, in W), our own mean power over our time (``ours_w_min``/``_max``, in W), and the
    parameter counts that differ from the thesis's by more than 1 % (``params_off``: how many, ``params_off_names``:
    their display names, "none" if none)."""
    from greenaudio import errata, published
    from greenaudio.report import configuration_name

    thesis = published.load_vocoder_costs()
    unit = pd.DataFrame([vars(e) for e in errata.check_table8_energy_unit()])
    rtf = next(c for c in table8.columns if c in ("rtf_gpu", "rtf_cpu"))
    ours_w = table8.e_gen_j / (table8[rtf] * 100)
    read_j = thesis.e_gen_printed / (thesis.rtf_gpu * 100)
    off = table8[(table8.params_ratio - 1).abs() > 0.01]
    return {"implied_mj_w_min": float(unit.computed.min()), "implied_mj_w_max": float(unit.computed.max()),
            "implied_w_min": float(read_j.min()), "implied_w_max": float(read_j.max()),
            "ours_w_min": float(ours_w.min()), "ours_w_max": float(ours_w.max()), "params_off": len(off),
            "params_off_names": ", ".join(configuration_name(m, z) for m, z in zip(off.model, off["size"])) or "none"}


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
                rows.append({"model": name, "size": size, "configuration": _names([name], [size])[0],
                             "procedure": json.dumps(procedure), "mel_frames": frames,
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
    front.insert(2, "configuration", _names(front.model, front["size"]))
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
    training record ``"mini/<configuration>"`` (:func:`greenaudio.shipped.shipped_training_workload`).

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
        from greenaudio.shipped import shipped_training_workload

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
    extra = pd.DataFrame([{"model": mine.model, "size": mine.size, "configuration": f"{mine.model} (example)",
                           "params": mine.params,
                           "gflops_per_audio_s": mine.gflops_per_audio_s, "e_gen_j": mine.e_gen_j_per_100_audio_s,
                           rtf: mine.rtf_median, "energy_method": mine.energy_method}])
    cols = ["model", "size", "configuration", "params", "gflops_per_audio_s", "e_gen_j", rtf, "energy_method"]
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
                          r.e_gen_j_per_100_audio_s, "rtf_gpu": r.rtf_median, "energy_method": r.energy_method}
                         for r in recs])
    ours.insert(2, "configuration", _names(ours.model, ours["size"]))
    return ours.merge(thesis, on=["model", "size"], how="left", suffixes=("", "_thesis_rtx_a5000"))


# -- the page's tables: headers in words, formats, main columns ------------------------------------------------------
#: Display headers (words and units) of the chapter's columns (the others are in greenaudio.report.COLUMN_LABELS).
LABELS = {"configuration": "Configuration", "call": "Call", "cells": "Cells", "computed": "Computed",
          "skipped": "Found in the store", "failed": "Failed", "params": "Parameters",
          "thesis_params": "Parameters, thesis", "params_ratio": "Parameters, ratio",
          "gflops_per_audio_s": "GFLOPs per s of audio", "thesis_gflops_per_audio_s": "GFLOPs, thesis",
          "gflops_ratio": "GFLOPs, ratio", "e_gen_j": "Energy (J / 100 s)",
          "thesis_e_gen_printed_mj": "Energy, thesis ('mJ')",
          "e_gen_ratio_printed_as_j": "Energy ratio (printed value read as J)", "rtf_cpu": "RTF (CPU)",
          "thesis_rtf_cpu": "RTF, thesis (CPU)", "rtf_cpu_ratio": "RTF, ratio (CPU)", "rtf_gpu": "RTF (GPU)",
          "thesis_rtf_gpu": "RTF, thesis (GPU)", "rtf_gpu_ratio": "RTF, ratio (GPU)", "data": "Data", "pair": "Pair",
          "n": "Points", "pearson_r": "Pearson r", "pearson_r_log10": "Pearson r (log10)", "spearman_rho": "Spearman ρ",
          "procedure": "Procedure", "mel_frames": "Mel frames", "ratio": "Ratio",
          "closest_to_thesis": "Closest to thesis", "mos": "MOS (thesis)", "optimal_energy_ours": "Energy front, ours",
          "optimal_energy_thesis": "Energy front, thesis", "optimal_gflops_ours": "GFLOPs front, ours",
          "optimal_gflops_thesis": "GFLOPs front, thesis", "workload": "Workload", "cores": "Cores",
          "memory_gb": "Memory (GB)", "rule": "Rule", "tdp_w": "TDP (W)", "tdp_source": "TDP from", "gpu": "GPU",
          "e_gen_printed": "Energy, thesis ('mJ')", "rtf_gpu_thesis_rtx_a5000": "RTF, thesis (GPU)",
          "share": "Share of the TDP", "share_rule": "Share rule", "cpu_power_w": "CPU power (W)",
          "memory_power_w": "Memory power (W)", "memory_rule": "Memory rule", "pue_source": "PUE from",
          "cpu_energy_kwh": "CPU energy (kWh)", "memory_energy_kwh": "Memory energy (kWh)", "tdp_factor": "TDP factor",
          "share_factor": "Share factor", "pue_factor": "PUE factor", "cpu_energy_factor": "CPU energy factor",
          "energy_factor": "Energy factor", "error": "Error"}
def sig3(value: float) -> str:
    """Three significant digits without an exponent, thousands separated (``20432.1`` -> ``"20,432"``,
    ``52.17`` -> ``"52.2"``, ``0.008261`` -> ``"0.00826"``)."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:,.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"


#: Number formats of the chapter's columns (the CSV files keep full precision).
FORMATS = {"wall_s": "{:.2f}", "share": "{:.3g}", "cpu_power_w": "{:.3g}", "memory_power_w": "{:.3g}",
           "cpu_energy_kwh": "{:.3g}", "memory_energy_kwh": "{:.3g}", "hours": "{:.3g}", "tdp_factor": "{:.3g}",
           "share_factor": "{:.3g}", "pue_factor": "{:.3g}", "cpu_energy_factor": "{:.3g}", "energy_factor": "{:.3g}",
           "params": "{:,}", "thesis_params": "{:,}", "workload": lambda w: str(w).split(" (")[0],
           "tool": lambda t: str(t).split(" (")[0], "params_ratio": "{:.3f}", "gflops_per_audio_s": sig3,
           "thesis_gflops_per_audio_s": "{:.6g}", "gflops_ratio": "{:.3g}", "e_gen_j": sig3,
           "thesis_e_gen_printed_mj": "{:.6g}", "e_gen_ratio_printed_as_j": "{:.3g}", "rtf_cpu": "{:.3g}",
           "thesis_rtf_cpu": "{:.3g}", "rtf_cpu_ratio": "{:.3g}", "rtf_gpu": "{:.3g}", "thesis_rtf_gpu": "{:.3g}",
           "rtf_gpu_ratio": "{:.3g}", "pearson_r": "{:.2f}", "pearson_r_log10": "{:.2f}", "spearman_rho": "{:.2f}",
           "ratio": "{:.2f}", "mos": "{:.2f}", "power_w": "{:.3g}", "pue": "{:.3g}", "energy_kwh": "{:.3g}",
           "energy_j": sig3, "cpu_time_s": "{:.3g}", "memory_gb": "{:.2f}", "tdp_w": "{:.3g}",
           "procedure": lambda p: ", ".join(f"{k}={v}" for k, v in json.loads(p).items()) or "default"}
#: The columns of each table shown in the main flow (the whole table is folded below it).
MAIN = {
    "table-8": ("configuration", "gflops_per_audio_s", "thesis_gflops_per_audio_s", "e_gen_j",
                "thesis_e_gen_printed_mj", "{rtf}", "thesis_{rtf}"),
    "procedure-flops": ("configuration", "procedure", "gflops_per_audio_s", "thesis_gflops_per_audio_s", "ratio",
                        "closest_to_thesis"),
    "figure-34-pareto": ("configuration", "mos", "optimal_energy_ours", "optimal_energy_thesis",
                         "optimal_gflops_ours", "optimal_gflops_thesis"),
    "energy-tools": ("workload", "tool", "power_w", "pue", "energy_j"),
    "byo-vocoder": ("configuration", "params", "gflops_per_audio_s", "e_gen_j", "{rtf}"),
    "table-8-gpu": ("configuration", "gpu", "e_gen_j", "e_gen_printed", "rtf_gpu", "rtf_gpu_thesis_rtx_a5000"),
}


#: The text columns of a table shown as numbered notes under it (the three tools' formulas; the constants they use
#: are in the folded full table).
NOTES = {"energy-tools": ("rule",)}


def table_layout(table: pd.DataFrame, label: str) -> dict[str, Any]:
    """The keyword arguments of :func:`greenaudio.report.show_table` for one of the chapter's tables: ``columns``
    (headers in words), ``formats``, and ``main`` and ``notes`` (when the table has them), restricted to the table's
    columns."""
    rtf = next((c for c in table.columns if c in ("rtf_gpu", "rtf_cpu")), "rtf_cpu")
    layout: dict[str, Any] = {"columns": {c: v for c, v in LABELS.items() if c in table.columns},
                              "formats": {c: f for c, f in FORMATS.items() if c in table.columns}}
    if label in MAIN:
        layout["main"] = [c.format(rtf=rtf) for c in MAIN[label] if c.format(rtf=rtf) in table.columns]
    if label in NOTES:
        layout["notes"] = [c for c in NOTES[label] if c in table.columns]
    return layout


# -- facts and claims ------------------------------------------------------------------------------------------------
def _family_ratio(models: pd.Series, energy: pd.Series) -> float:
    """Median energy of the diffusion models over the median energy of the GANs."""
    median = {f: float(energy[models.isin(names)].median()) for f, names in FAMILIES.items()}
    return median["diffusion"] / median["GAN"]


def _optimal_names(front: pd.DataFrame, column: str) -> set[str]:
    return set(front.loc[front[column].astype(bool), "configuration"])


def _claim_numbers(table8: pd.DataFrame, corr: pd.DataFrame, front: pd.DataFrame) -> dict[str, Any]:
    """The numbers behind §5.2.3–5.2.4's claims, ours and the thesis's (keys of :func:`cost_facts`)."""
    from greenaudio import published

    thesis = published.load_vocoder_costs()
    rtf = next(c for c in table8.columns if c in ("rtf_gpu", "rtf_cpu"))
    c = corr.set_index(["data", "pair"])
    energy_pair = next(p for d, p in c.index if d == "ours" and p.startswith("GFLOPs vs E_gen"))
    return {
        "ratio_diffusion_gan": _family_ratio(table8.model, table8.e_gen_j),
        "ratio_diffusion_gan_thesis": _family_ratio(thesis.model, thesis.e_gen_printed),
        "gan_rtf_max": float(table8.loc[table8.model.isin(FAMILIES["GAN"]), rtf].max()),
        "diffusion_rtf_min": float(table8.loc[table8.model.isin(FAMILIES["diffusion"]), rtf].min()),
        "n_real_time": int((table8[rtf] < 1).sum()),
        "rho_energy": float(c.loc[("ours", energy_pair), "spearman_rho"]),
        "rho_energy_thesis": float(c.loc[("thesis", "GFLOPs vs E_gen"), "spearman_rho"]),
        "r_params": float(c.loc[("ours", "GFLOPs vs parameters"), "pearson_r"]),
        "r_params_thesis": float(c.loc[("thesis", "GFLOPs vs parameters"), "pearson_r"]),
        "rho_rtf": float(c.loc[("ours", "GFLOPs vs RTF"), "spearman_rho"]),
        "optimal_energy": int(front.optimal_energy_ours.sum()),
        "optimal_energy_thesis": int(front.optimal_energy_thesis.sum()),
        "optimal_gflops": int(front.optimal_gflops_ours.sum()),
        "optimal_gflops_thesis": int(front.optimal_gflops_thesis.sum()),
    }


def cost_facts(table8: pd.DataFrame, corr: pd.DataFrame, front: pd.DataFrame, tools: pd.DataFrame,
               records: Sequence[BenchmarkRecord]) -> dict[str, Any]:
    """The numbers the chapter's prose quotes: ranges of GFLOPs, energy and RTF with the configurations at their
    ends, the energy kind (``energy_kind``: "estimated", "measured" or "mixed"), the family ratio of §5.2.3 (ours
    and the thesis's), correlations, the Pareto fronts' sizes, and the spread of the three tools' energies."""
    kinds = _unique(energy_kind(r.energy_method) for r in records)
    cell = tools[tools.workload.str.startswith("benchmark cell")]
    lo, hi = table8.gflops_per_audio_s.idxmin(), table8.gflops_per_audio_s.idxmax()
    elo, ehi = table8.e_gen_j.idxmin(), table8.e_gen_j.idxmax()
    return {
        "configurations": len(table8), "energy_kind": kinds[0] if len(kinds) == 1 else "mixed",
        "gflops_min": float(table8.gflops_per_audio_s[lo]), "gflops_min_name": table8.configuration[lo],
        "gflops_max": float(table8.gflops_per_audio_s[hi]), "gflops_max_name": table8.configuration[hi],
        "e_gen_min": float(table8.e_gen_j[elo]), "e_gen_min_name": table8.configuration[elo],
        "e_gen_max": float(table8.e_gen_j[ehi]), "e_gen_max_name": table8.configuration[ehi],
        **_claim_numbers(table8, corr, front),
        "optimal_energy_names": ", ".join(front.configuration[front.optimal_energy_ours.astype(bool)]),
        "tools_spread": float(cell.energy_j.max() / cell.energy_j.min()) if len(cell) else float("nan"),
    }


def check_claims(table8: pd.DataFrame, corr: pd.DataFrame, front: pd.DataFrame) -> pd.DataFrame:
    """This build's value and verdict for each claim of §5.2.3–5.2.4 the chapter checks, by key (``key``,
    ``this_build``, ``holds``), the words read as numbers by :data:`CLAIM_READINGS`. Keys ending in ``_thesis`` apply
    the same test to Table 8's own numbers. The claims' wording is the notebook's."""
    r, n = CLAIM_READINGS, _claim_numbers(table8, corr, front)
    few = r["few_share"] * len(front)

    def overlap(a: str, b: str) -> float:
        one, two = _optimal_names(front, a), _optimal_names(front, b)
        return len(one & two) / len(one | two) if one | two else float("nan")

    rows = [(k + t, n[f"ratio_diffusion_gan{t}"], r["around_100_low"] <= n[f"ratio_diffusion_gan{t}"]
             <= r["around_100_high"]) for k, t in (("diffusion_100x", ""), ("diffusion_100x", "_thesis"))]
    rows += [("gan_real_time", n["gan_rtf_max"], n["gan_rtf_max"] < 1),
             ("diffusion_not_real_time", n["diffusion_rtf_min"], n["diffusion_rtf_min"] > 1)]
    for t in ("", "_thesis"):
        rows.append(("gflops_energy" + t, n["rho_energy" + t], n["rho_energy" + t] >= r["positive_rho"]))
    for t in ("", "_thesis"):
        rows.append(("params_no_correlation" + t, n["r_params" + t], abs(n["r_params" + t]) < r["no_correlation_r"]))
    for t in ("", "_thesis"):
        rows.append(("few_optimal" + t, n["optimal_energy" + t], n["optimal_energy" + t] <= few))
    for t in ("ours", "thesis"):
        share = overlap(f"optimal_energy_{t}", f"optimal_gflops_{t}")
        rows.append(("fronts_consistent" + ("" if t == "ours" else "_thesis"), share, share >= r["consistent_share"]))
    return pd.DataFrame([{"key": k, "this_build": v, "holds": bool(h)} for k, v, h in rows])
