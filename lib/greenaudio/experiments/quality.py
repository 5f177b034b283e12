"""The quality side of Chapter 5 from the trained zoo: Table 7 analogue, convergence, samples, quality–cost fronts.

Used by: notebooks/05_2_quality.

Every function reads a protocol folder written by :mod:`greenaudio.experiments.artefacts` (``scores.csv``,
``<config>/curves.csv``, ``samples/``) and returns a table or a figure; computed sentences come from
:func:`conclusions`. Nothing here trains or scores a model.
"""

from __future__ import annotations

import base64
import html
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "QUALITY_METRICS",
    "protocol_dir",
    "load_zoo_scores",
    "table7_analogue",
    "held_out_sentence",
    "load_curves",
    "plot_convergence",
    "plot_spectrograms",
    "audio_grid_html",
    "compute_inference_costs",
    "quality_cost_table",
    "cost_axes",
    "add_listening_mos",
    "plot_quality_cost_fronts",
    "conclusions",
    "thesis_front_sentence",
    "distillmos_caveat",
    "compare_sampler_clamps",
    "thesis_metric_correlations",
    "thesis_correlation_sentences",
]

_THESIS_METRICS = {"d_stft": "D_STFT (thesis)", "inception_score": "IS (thesis, VGGish)", "am_score": "AM (thesis, VGGish)",
                   "fid": "FID (thesis, VGGish)"}

#: Quality columns of ``scores.csv``: (label, direction).
QUALITY_METRICS = {
    "listening_mos": ("MOS (the book's listening test, human)", "max"),
    "distillmos": ("DistillMOS (predicted MOS)", "max"),
    "pesq_wb": ("PESQ-WB", "max"),
    "d_stft": ("D_STFT (lower is better)", "min"),
}
_SIZES = ("small", "medium", "large")


def _display_names() -> dict[str, str]:
    """Registry name -> display name (``"hifigan"`` -> ``"HiFi-GAN"``)."""
    from .. import vocoders

    return {n: vocoders.entry(n).display_name for n in vocoders.names()}


def protocol_dir(protocol: str = "mini", root: str | Path | None = None) -> Path:
    """The folder of a shipped protocol (default: the package's ``resources/zoo/<protocol>``)."""
    from .artefacts import default_zoo_dir

    return (Path(root) if root else default_zoo_dir()) / protocol


def load_zoo_scores(protocol: str = "mini", root: str | Path | None = None) -> pd.DataFrame:
    """``scores.csv`` of a protocol folder with a display name per configuration; empty if nothing is shipped."""
    from .artefacts import load_scores

    table = load_scores(protocol_dir(protocol, root))
    if table.empty:
        return table
    names = _display_names()
    table["display"] = [("Ground truth" if m == "ground_truth" else f"{names.get(m, m)} {s}")
                        for m, s in zip(table.model, table["size"].fillna(""))]
    return table


def table7_analogue(scores: pd.DataFrame) -> pd.DataFrame:
    """Mini-trained scores beside the quick (3-step) baseline, the ground truth and the thesis's Table 7."""
    from .. import published

    thesis = published.load_vocoder_quality()[["model", "size", "mos", "d_stft"]].rename(
        columns={"mos": "MOS (thesis, human)", "d_stft": "D_STFT (thesis)"})
    thesis["size"] = thesis["size"].fillna("")
    ours = scores.copy()
    ours["size"] = ours["size"].fillna("")
    cols = {"steps": "steps", "n_clips": "held-out clips", "distillmos": "DistillMOS",
            "baseline_distillmos": "DistillMOS (3 steps)",
            "pesq_wb": "PESQ-WB", "baseline_pesq_wb": "PESQ-WB (3 steps)", "stoi": "STOI", "d_stft": "D_STFT",
            "baseline_d_stft": "D_STFT (3 steps)", "digit_accuracy": "digit accuracy"}
    keep = ["model", "size", "display"] + [c for c in cols if c in ours.columns]
    out = ours[keep].rename(columns=cols).merge(thesis, on=["model", "size"], how="left")
    return out.rename(columns={"display": "configuration"}).drop(columns=["model", "size"])


def held_out_sentence(scores: pd.DataFrame) -> str:
    """Which held-out clips the rows were scored on (all of the test split, or a prefix for the slowest models)."""
    models = scores[scores.model != "ground_truth"]
    if "n_clips" not in models or models.empty:
        return "No trained configuration is shipped yet."
    counts = models.groupby("n_clips").config.apply(sorted)
    if len(counts) == 1:
        return f"Every configuration is scored on the same {int(counts.index[0])} held-out clips."
    most = int(counts.index.max())
    parts = [f"{', '.join(configs)} on the first {int(n)}" for n, configs in counts.items() if n != most]
    return (f"Configurations are scored on the {most} held-out clips of the test split, except "
            + "; ".join(parts) + " (the same clips for each, a prefix of the split, because these models are the "
            "slowest to generate here; compare their scores with the others' within the sampling error of a "
            "smaller set). Their 3-step models are scored on the same prefix.")


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
    axes.flat[0].set_ylabel(metric)
    axes.flat[3].set_ylabel(metric)
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
    benchmark's RTF and E_gen per 100 s of audio with its energy method where this machine's records exist."""
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
                            "energy_constants") if c in table.columns]
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
    from ..manifests import distinct_values

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


def plot_quality_cost_fronts(table: pd.DataFrame, costs: Mapping[str, str], quality: Sequence[str] | None = None):
    """A grid of Pareto planes: rows = quality metrics, columns = cost columns (``{column: axis label}``).

    Returns:
        ``(figure, optimal)`` where ``optimal`` is a long table: cost, quality, configuration, pareto_optimal.
    """
    import matplotlib.pyplot as plt

    from ..plotting import plot_pareto

    cost_cols = [c for c in costs if c in table.columns and table[c].notna().any()]
    quality = [q for q in (quality or QUALITY_METRICS) if q in table.columns and table[q].notna().any()]
    fig, axes = plt.subplots(len(quality), len(cost_cols), figsize=(3.6 * len(cost_cols), 3.3 * len(quality)),
                             squeeze=False)
    names = _display_names()
    records = []
    for i, q in enumerate(quality):
        label, direction = QUALITY_METRICS[q]
        for j, c in enumerate(cost_cols):
            part = table[table[c].notna() & table[q].notna()]
            optimal = plot_pareto(axes[i, j], part[c], part[q], directions=("min", direction),
                                  labels=[s[0].upper() for s in part["size"]],
                                  groups=[names.get(m, m) for m in part.model],
                                  xlabel=textwrap.fill(costs[c], 36), ylabel=label, logx=True)
            for (_, row), opt in zip(part.iterrows(), optimal):
                records.append({"cost": c, "quality": q, "config": row.config, "pareto_optimal": bool(opt)})
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(7, len(labels)), fontsize=7)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig, pd.DataFrame(records)


def conclusions(scores: pd.DataFrame, optimal: pd.DataFrame, *, chance: float = 0.1) -> list[str]:
    """Sentences computed from the tables: convergence per family, digit intelligibility, Pareto-optimal families."""
    names = _display_names()
    models = scores[scores.model != "ground_truth"]
    gt = scores[scores.model == "ground_truth"]
    out = []
    if "baseline_d_stft" in models:
        change = models.d_stft / models.baseline_d_stft - 1.0
        groups = {"fell by more than 1 % below": models[change < -0.01], "stayed within 1 % of": models[
            change.abs() <= 0.01], "rose by more than 1 % above": models[change > 0.01]}
        parts = [f"{words} it for {len(g)} ({', '.join(sorted(g.config))})" for words, g in groups.items() if len(g)]
        out.append("D_STFT on the held-out clips, against the same configuration after 3 steps, "
                   + "; ".join(parts) + f" (of {len(models)} configurations).")
    if "digit_accuracy" in models:
        best = models.sort_values("digit_accuracy", ascending=False).groupby("model").head(1)
        above = best[best.digit_accuracy > 0.5]
        gt_acc = float(gt.digit_accuracy.iloc[0]) if len(gt) else float("nan")
        out.append(f"Resynthesised digits recognised by the digit classifier (chance {chance:.0%}, ground truth "
                   f"{gt_acc:.0%}): best of each family " + ", ".join(
                       f"{names.get(r.model, r.model)} {r['size']} {r.digit_accuracy:.0%}" for _, r in best.iterrows())
                   + f"; {len(above)} famil{'y' if len(above) == 1 else 'ies'} above 50 %.")
    if "steps" in models:
        groups = models.groupby("budget_s", sort=True) if "budget_s" in models else [(None, models)]
        for budget, group in groups:
            if len(group) < 2:
                continue
            fastest = group.sort_values("steps", ascending=False).iloc[0]
            slowest = group.sort_values("steps").iloc[0]
            within = "the same CPU-time budget" if budget is None else f"the same budget of {budget:g} CPU-seconds"
            ratio = fastest.steps / max(slowest.steps, 1)
            out.append(f"Within {within} the step counts differ {ratio:.{1 if ratio < 10 else 0}f}-fold: "
                       f"{fastest.config} made {int(fastest.steps)} steps, {slowest.config} {int(slowest.steps)}.")
    if len(optimal):
        opt = optimal[optimal.pareto_optimal]
        fams = sorted({c.rsplit('-', 1)[0] for c in opt.config})
        never = sorted(set(models.model) - set(fams))
        out.append("Pareto-optimal on at least one quality-cost plane: " + ", ".join(names.get(f, f) for f in fams)
                   + "; never optimal: " + (", ".join(names.get(f, f) for f in never) or "none") + ".")
        versus = thesis_front_sentence(optimal)
        if versus:
            out.append(versus)
    caveat = distillmos_caveat(scores)
    if caveat:
        out.append(caveat + " Read the DistillMOS planes with that in mind: it predicts MOS without a reference, "
                   "while D_STFT and PESQ-WB compare each output with its ground truth.")
    return out


def thesis_front_sentence(optimal: pd.DataFrame, quality: str = "distillmos") -> str | None:
    """Which configurations are Pareto-optimal on quality against GFLOPs per second of audio in the thesis (its human
    MOS, Table 7, against its Table 8 GFLOPs: data) and here (``quality`` of the mini zoo against the counted
    GFLOPs, from ``optimal`` of :func:`plot_quality_cost_fronts`); None when ``optimal`` has no such plane."""
    from .. import published
    from ..pareto import compute_pareto_mask

    ours = optimal[(optimal.cost == "gflops_per_audio_s") & (optimal.quality == quality)] if len(optimal) else optimal
    if not len(ours):
        return None
    thesis = published.load_vocoder_quality().merge(published.load_vocoder_costs(), on=["model", "size"])
    mask = compute_pareto_mask(thesis[["gflops_per_audio_s", "mos"]].to_numpy(float), ("min", "max"))
    names = _display_names()

    def label(config: str) -> str:
        model, size = config.rsplit("-", 1)
        return f"{names.get(model, model)} {size}"

    theirs = {f"{m}-{s}" for m, s in zip(thesis.model[mask], thesis["size"][mask])}
    mine = set(ours.config[ours.pareto_optimal])
    both = sorted(theirs & mine)
    return (f"On quality against GFLOPs per second of audio the thesis's front (human MOS, Tables 7 and 8) holds "
            f"{', '.join(label(c) for c in sorted(theirs))}; the mini zoo's ({QUALITY_METRICS[quality][0]}) holds "
            f"{', '.join(label(c) for c in sorted(mine)) or 'none'}; on both: "
            f"{', '.join(label(c) for c in both) or 'none'}.")


def distillmos_caveat(scores: pd.DataFrame) -> str:
    """Whether DistillMOS ranks this corpus: the ground truth's predicted MOS against the trained models rated above
    it, the two farthest from the reference by D_STFT named. Empty without a ground-truth row or DistillMOS column."""
    if scores.empty or "ground_truth" not in set(scores["config"]) or "distillmos" not in scores:
        return ""
    truth = scores[scores["config"] == "ground_truth"].iloc[0]
    models = scores[(scores["config"] != "ground_truth") & scores["distillmos"].notna()]
    above = models[models["distillmos"] > float(truth.distillmos)].sort_values("d_stft", ascending=False)
    if above.empty:
        return (f"On this corpus DistillMOS rates the espeak ground truth {truth.distillmos:.2f}, above all "
                f"{len(models)} of the zoo's mini-trained models.")
    return (f"On this corpus DistillMOS rates the espeak ground truth {truth.distillmos:.2f} and {len(above)} of the "
            f"zoo's {len(models)} mini-trained models higher, among them "
            + " and ".join(f"{getattr(r, 'display', r.config)} ({r.distillmos:.2f}, D_STFT {r.d_stft:.2f})"
                           for r in above.head(2).itertuples())
            + f", the farthest from the reference by D_STFT (the ground truth's is {float(truth.d_stft):g}).")


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


def thesis_correlation_sentences(correlations: pd.DataFrame) -> list[str]:
    """Which of the thesis's VGGish metrics correlates most with its MOS, and whether 'AM' is that one."""
    c = correlations.set_index("metric")
    vgg = c.loc[[m for m in c.index if "VGGish" in m]]
    top = vgg.pearson_r.abs().idxmax()
    am = "AM (thesis, VGGish)"
    return [f"Among the thesis's VGGish metrics the largest |Pearson r| with its MOS is {top} "
            f"(r = {vgg.loc[top, 'pearson_r']:.2f}); the thesis's claim that AM and MOS are 'notably highly "
            f"correlated' {'holds' if top == am else 'does not hold'} in the computation (|r| = "
            f"{abs(c.loc[am, 'pearson_r']):.2f})."]


def compare_sampler_clamps(protocol: str = "mini", configs: Sequence[str] = ("diffwave-small", "wavegrad-small"),
                           root: str | Path | None = None, seed: int = 1234,
                           utterances: int | None = None) -> pd.DataFrame:
    """Scores of shipped diffusion models' samples under each ``clamp`` option of their sampler (the reference
    implementations' clamp is the default; ``"none"`` is Algorithm 2 as printed), on the shipped ground truth.

    Configurations without shipped weights are left out. ``utterances`` keeps the first N shipped utterances (None:
    all; quick builds use 1). Returns one row per (configuration, clamp): D_STFT, PESQ-WB, the peak absolute
    amplitude before clipping, and the number of utterances scored.
    """
    from ..vocoders.diffusion_common import CLAMP_CHOICES
    from .artefacts import _score_clips, load_manifest, load_shipped_model, shipped_ground_truth

    folder = protocol_dir(protocol, root)
    manifest = load_manifest(folder)
    gt, mels = shipped_ground_truth(folder)
    if utterances is not None:
        from ..validation import check_positive_int

        n = check_positive_int("utterances", utterances)
        gt, mels = gt[:n], mels[:n]
    rows = []
    for config in configs:
        if manifest[(manifest.config == config) & (manifest.kind == "weights")].empty:
            continue
        model = load_shipped_model(config, protocol, root)
        default = model.resolve_procedure()["clamp"]
        for clamp in CLAMP_CHOICES:
            if clamp not in ("none", default):
                continue
            import torch

            g = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                gen = model.generate(mels, generator=g, clamp=clamp).audio.numpy()[:, : gt.shape[1]]
            s = _score_clips(gt, gen, ("d_stft", "pesq_wb"))
            rows.append({"configuration": config, "clamp": clamp + (" (reference, default)" if clamp == default else ""),
                         "D_STFT": s["d_stft"], "PESQ-WB": s["pesq_wb"], "peak |x|": float(np.abs(gen).max()),
                         "utterances": int(len(gt))})
    return pd.DataFrame(rows)
