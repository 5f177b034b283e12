# %% [markdown]
# # 5.1 The cost of generating audio: Table 8, Figures 33–34 and embedded boards
#
# *Thesis §5.2.3 (Table 8, Figure 33), §5.2.4 (Figure 34) and §6.4 (Table 10).*
#
# The thesis measured, for six neural vocoders in three sizes each, the number of parameters, the GFLOPs needed per
# second of generated audio, the energy $E_\mathrm{gen}$ of generating 10 clips of 10 s at 16 kHz, and the real-time
# factor (RTF) on a GPU and a CPU. This chapter **re-measures all 18 configurations live** with
# `greenaudio.measure` on the machine that runs it, prints the result beside the thesis's printed values, and redraws
# the correlation and Pareto figures from both. Section 6.4's question — could these models run on an Arduino or a
# Raspberry Pi? — is then computed with `greenaudio.embedded`, and a last section shows how to place *your own*
# vocoder in the same tables.
#
# The models are freshly initialised (the cost of these architectures does not depend on the values of their
# weights); the quality axis of the Pareto fronts is the thesis's MOS of the trained models (Table 7), used as data.

COLAB

# %% tags=["parameters"]
QUICK = True  # quick mode: a short protocol for CI; False runs the thesis protocol (hours on a CPU)
CHAPTER = "05-1-cost-benchmark"
SEED = 0  # seed of the random mel input and of the models' noise
DEVICE = "cpu"  # "cpu" or "cuda" / "cuda:0"
THREADS = 1  # torch threads during the measurement; 1 is robust on a shared 2-core CI machine (raise it on a
# dedicated one: oversubscribed OpenMP threads slowed some models 10x on a busy machine)
MODELS = ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"]
SIZES = ["small", "medium", "large"]
QUICK_SETTINGS = {"n_clips": 1, "clip_duration_s": 0.5, "sample_rate": 16000, "warmup": 0, "repeats": 1,
                  "flop_clip_s": 0.5, "idle_window_s": 0.0}
FULL_SETTINGS = {"n_clips": 10, "clip_duration_s": 10.0, "sample_rate": 16000, "warmup": 1, "repeats": 3,
                 "flop_clip_s": 1.0, "idle_window_s": 30.0}  # the thesis's protocol: 10 clips x 10 s at 16 kHz
ENERGY_MODE = "auto"  # "auto" (measured where RAPL/NVML counters exist), "measured" or "estimated"
HARDWARE = None  # catalogue name for the estimate path (greenaudio.carbon.list_hardware()); None auto-detects
STORE_PATH = None  # the resumable results store; None: results/<chapter>/bench.sqlite
BYO_CHANNELS = 32  # width of the example "bring your own" vocoder
BYO_ASSUMED_MOS = 3.0  # HYPOTHETICAL quality of that vocoder, only to place it on a Pareto plot

# %%
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from greenaudio import embedded, errata, measure, plotting, published, report, vocoders

PROTOCOL = measure.Protocol(**(QUICK_SETTINGS if QUICK else FULL_SETTINGS), threads=THREADS, seed=SEED)
STORE = Path(STORE_PATH) if STORE_PATH else report.results_dir(CHAPTER) / "bench.sqlite"
ON_GPU = measure.check_device(DEVICE).type == "cuda"
RTF = "rtf_gpu" if ON_GPU else "rtf_cpu"  # the thesis's column this run is compared with
torch.manual_seed(SEED)
print(f"Mode: {'quick' if QUICK else 'full (thesis protocol)'}; protocol {PROTOCOL.key()}: {PROTOCOL.n_clips} clip(s) "
      f"x {PROTOCOL.clip_duration_s:g} s at {PROTOCOL.sample_rate} Hz, {PROTOCOL.warmup} warm-up and "
      f"{PROTOCOL.repeats} timed run(s); store {STORE}.")

# %% [markdown]
# ## Running the grid
#
# `measure.run_grid` measures every (model, size) cell that is not yet in the SQLite store and writes each record as
# soon as it is done, so an interrupted run resumes where it stopped. It is called twice below: the second call finds
# every cell in the store and computes nothing.

# %%
store = measure.ResultStore(STORE)
calls = []
for call in ("first call", "second call (same store)"):
    started = time.perf_counter()
    grid = measure.run_grid(MODELS, SIZES, store=store, devices=[DEVICE], protocol=PROTOCOL, energy_mode=ENERGY_MODE,
                            hardware=HARDWARE, progress=False)
    calls.append({"call": call, "cells": len(grid.records), "computed": len(grid.computed),
                  "skipped": len(grid.skipped), "failed": len(grid.failed),
                  "wall_s": time.perf_counter() - started})
    if call == "first call":
        first_grid = grid
report.show_table(pd.DataFrame(calls), label="store-resume", chapter=CHAPTER,
                  caption="The two calls of run_grid on the same store: cells requested, computed in this call, "
                  "found in the store (skipped) and failed, and the call's wall time in seconds.",
                  formats={"wall_s": "{:.1f}"})
records = [r for r in grid.records if r.ok]
for r in grid.records:
    if not r.ok:
        print(f"FAILED: {r.model} {r.size}: {r.error}")
store.export_csv(report.results_dir(CHAPTER) / "bench-records.csv")
print(f"{len(records)} of {len(grid.records)} configurations measured; every record exported to bench-records.csv.")


# %% [markdown]
# ### How these numbers were obtained
#
# Printed from the records' own provenance (nothing below is typed by hand).

# %%
def unique(values):
    return list(dict.fromkeys(v for v in values if v not in (None, "")))


env = records[0].environment
methods = unique(r.energy_method for r in records)
constants = unique(json.dumps(r.energy_constants, sort_keys=True) for r in records)
dates = sorted(r.created_utc for r in records)
protocols = unique(json.dumps(r.protocol, sort_keys=True) for r in records)
print(f"Device: {unique(r.device for r in records)}; CPU model: {env.get('cpu_model')}; GPU: {env.get('gpu_model')}; "
      f"host type: {unique(r.host_type for r in records)} (evidence: {'; '.join(env.get('host_evidence', []))}).")
print(f"Software: torch {env['packages'].get('torch')}, Python {env.get('python')}, {env.get('platform')}; "
      f"greenaudio commit {env.get('git_commit')}.")
print(f"Measured between {dates[0]} and {dates[-1]} (UTC).")
print(f"Protocol(s): {protocols}")
print(f"Energy method(s): {methods}; tool(s): {unique(r.energy_tool for r in records)}; "
      f"device model(s): {unique(r.energy_device_model for r in records)}.")
for c in constants:
    print(f"Energy constants: {c}")
for note in unique(n for r in records for n in r.energy_notes):
    print(f"Energy note: {note}")
print(f"FLOPs: {unique(r.flops_method for r in records)}")
ENERGY_LABEL = " + ".join(methods)

# %% [markdown]
# ## Table 8, regenerated
#
# Our measurement of every configuration beside the thesis's printed value, with the ratio ours / thesis. Three
# things differ by construction and must be kept in mind when reading the ratios:
#
# * **Energy unit.** The thesis prints $E_\mathrm{gen}$ in mJ per 100 s of audio. Divided by the GPU time those
#   100 s took (its own RTF), mJ would mean an average power of a few milliwatts — far below any GPU's idle power —
#   while joules give tens to hundreds of watts; the {doc}`errata chapter <04_4_errata>` computes this for every
#   row. Our $E_\mathrm{gen}$ is in **joules** per 100 s of audio, and the ratio reads the printed number **as
#   joules** (read as mJ, every ratio would be 1000 times larger).
# * **Device and method.** The thesis's $E_\mathrm{gen}$ is pyJoules on an NVIDIA RTX A5000 (CPU package, DRAM and
#   GPU); ours is for the device and method printed above (on a machine without energy counters, an *estimate*,
#   power x time).
# * **Protocol.** In quick mode the clips are much shorter than the thesis's 10 x 10 s; per-second figures are
#   comparable, but fixed costs weigh more.

# %%
ours = pd.DataFrame([{
    "model": r.model, "size": r.size, "params": r.params, "params_without_wn_gains": r.params_without_wn_gains,
    "gflops_per_audio_s": r.gflops_per_audio_s, "e_gen_j": r.e_gen_j_per_100_audio_s, "rtf": r.rtf_median,
    "rtf_iqr": r.rtf_iqr, "energy_method": r.energy_method, "procedure": json.dumps(r.procedure, sort_keys=True),
} for r in records])
thesis = published.load_vocoder_costs()
quality = published.load_vocoder_quality()
merged = ours.merge(thesis, on=["model", "size"], how="left", suffixes=("", "_thesis"), validate="one_to_one")
table8 = pd.DataFrame({
    "model": merged["model"],
    "size": merged["size"],
    "params": merged["params"],
    "thesis_params": (merged["params_millions"] * 1e6).round().astype("Int64"),
    "params_ratio": merged["params"] / (merged["params_millions"] * 1e6),
    "gflops_per_audio_s": merged["gflops_per_audio_s"],
    "thesis_gflops_per_audio_s": merged["gflops_per_audio_s_thesis"],
    "gflops_ratio": merged["gflops_per_audio_s"] / merged["gflops_per_audio_s_thesis"],
    "e_gen_j": merged["e_gen_j"],
    "thesis_e_gen_printed_mj": merged["e_gen_printed"],
    "e_gen_ratio_printed_as_j": merged["e_gen_j"] / merged["e_gen_printed"],
    RTF: merged["rtf"],
    f"thesis_{RTF}": merged[RTF],
    f"{RTF}_ratio": merged["rtf"] / merged[RTF],
})
table8["energy_method"] = merged["energy_method"]
fmt3 = "{:.3g}"
report.show_table(
    table8, label="table-8", chapter=CHAPTER,
    caption=f"Table 8 regenerated on {DEVICE} ({'quick' if QUICK else 'thesis'} protocol): parameters (weight-norm "
    f"gains counted), GFLOPs per second of audio, E_gen in J per 100 s of audio ({ENERGY_LABEL}) and the {RTF.upper()}"
    f" (median), each beside the thesis's printed value (Table 8 of the thesis; its E_gen printed in 'mJ') and the "
    "ratio ours / thesis.",
    formats={c: fmt3 for c in ("params_ratio", "gflops_per_audio_s", "thesis_gflops_per_audio_s", "gflops_ratio",
                               "e_gen_j", "e_gen_ratio_printed_as_j", RTF, f"{RTF}_ratio")},
)
unit = pd.DataFrame([vars(e) for e in errata.check_table8_energy_unit()])
print(f"Errata (Table 8 unit): implied GPU power if E_gen were mJ: {unit.computed.min():.4f}–{unit.computed.max():.4f}"
      f" W; read as J: {(thesis.e_gen_printed / (thesis.rtf_gpu * 100)).min():.0f}–"
      f"{(thesis.e_gen_printed / (thesis.rtf_gpu * 100)).max():.0f} W. Our mean power: "
      f"{(ours.e_gen_j / (ours.rtf * 100)).min():.1f}–{(ours.e_gen_j / (ours.rtf * 100)).max():.1f} W.")
print("Parameter counts that differ from the thesis by more than 1 %:",
      ", ".join(f"{m} {s} ({r:.2f}x)" for m, s, r in table8[["model", "size", "params_ratio"]].itertuples(index=False)
                if abs(r - 1) > 0.01) or "none")
print("Inference procedures that ran:",
      "; ".join(f"{m} {s}: {p}" for m, s, p in ours[["model", "size", "procedure"]].itertuples(index=False)
                if p != "{}"))


# %% [markdown]
# ## Figure 33: what GFLOPs correlate with
#
# The thesis states that GFLOPs are positively correlated with the energy, while the number of parameters is not a
# good indicator of efficiency. Pearson's $r$ (on the values and on their logarithms) and Spearman's $\rho$ (on the
# ranks) are computed for our measurements and for the thesis's Table 8.

# %%
def correlations(source: str, params, gflops, energy) -> list[dict]:
    rows = []
    for pair, x in (("GFLOPs vs parameters", params), ("GFLOPs vs E_gen", energy)):
        x, y = np.asarray(x, dtype=float), np.asarray(gflops, dtype=float)
        rows.append({"data": source, "pair": pair, "n": len(x), "pearson_r": stats.pearsonr(x, y)[0],
                     "pearson_r_log10": stats.pearsonr(np.log10(x), np.log10(y))[0],
                     "spearman_rho": stats.spearmanr(x, y)[0]})
    return rows


corr = pd.DataFrame(
    correlations("ours", table8.params, table8.gflops_per_audio_s, table8.e_gen_j)
    + correlations("thesis", thesis.params_millions * 1e6, thesis.gflops_per_audio_s, thesis.e_gen_printed)
)
report.show_table(corr, label="figure-33-correlations", chapter=CHAPTER,
                  caption="Correlation of GFLOPs per second of audio with the number of parameters and with E_gen, "
                  "for our measurements and the thesis's Table 8 (the data of Figure 33).",
                  formats={c: "{:.2f}" for c in ("pearson_r", "pearson_r_log10", "spearman_rho")})

fig, axes = plt.subplots(2, 2, figsize=(9, 7.5))
series = {
    "ours": (table8.params, table8.e_gen_j, table8.gflops_per_audio_s, f"E_gen (J per 100 s of audio, {DEVICE})"),
    "thesis": (thesis.params_millions * 1e6, thesis.e_gen_printed, thesis.gflops_per_audio_s,
               "E_gen (printed value per 100 s of audio, 'mJ', RTX A5000)"),
}
for row, (source, (params, energy, gflops, elabel)) in enumerate(series.items()):
    names = table8.model if source == "ours" else thesis.model
    for col, (x, xlabel) in enumerate(((params, "Parameters"), (energy, elabel))):
        ax = axes[row, col]
        for model in dict.fromkeys(names):
            sel = (names == model).to_numpy()
            ax.scatter(np.asarray(x)[sel], np.asarray(gflops)[sel], label=model, s=30)
        c = corr[(corr.data == source) & (corr.pair == ("GFLOPs vs parameters" if col == 0 else "GFLOPs vs E_gen"))]
        ax.set_title(f"{source}: Pearson r = {c.pearson_r.iat[0]:.2f}, Spearman ρ = {c.spearman_rho.iat[0]:.2f}",
                     fontsize=9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("GFLOPs per second of audio")
        ax.grid(alpha=0.3)
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
report.show_figure(fig, label="figure-33", chapter=CHAPTER,
                   caption="GFLOPs per second of audio against the number of parameters (left) and the energy to "
                   "generate 100 s of audio (right), for our measurements (top) and the thesis's Table 8 (bottom); "
                   "log axes (after Figure 33 of the thesis).")

# %% [markdown]
# ## Which inference procedure did the thesis count?
#
# Our GFLOPs for WaveGrad and WaveFlow are far below Table 8's. FLOPs do not depend on the weights, only on the
# procedure, so counting every procedure each model offers and comparing with the printed value tells which one the
# thesis's numbers correspond to: the diffusion models' short or full schedules, and WaveFlow's fast reverse (cached
# queues, about one forward pass) or the plain reverse that recomputes every prefix (about $(h+1)/2$ times more).

# %%
procedure_variants = {
    "wavegrad": [{"schedule": "fast"}, {"schedule": "full"}],
    "diffwave": [{"schedule": "fast"}, {"schedule": "full"}],
    "waveflow": [{"reverse": "fast"}, {"reverse": "plain"}],
}
flop_frames = max(1, int(round(PROTOCOL.flop_clip_s * 16000 / 256)))
rows = []
for name, variants_ in procedure_variants.items():
    for size in SIZES:
        model = vocoders.load(name, size).prepare_for_inference()
        mel = torch.rand(1, 80, flop_frames, generator=torch.Generator().manual_seed(SEED))
        for procedure in variants_:
            count = measure.count_flops(lambda: model.generate(mel, **procedure), audio_s=flop_frames * 256 / 16000)
            printed = float(thesis.set_index(["model", "size"]).loc[(name, size), "gflops_per_audio_s"])
            rows.append({"model": name, "size": size, "procedure": json.dumps(procedure),
                         "gflops_per_audio_s": count.gflops_per_audio_s, "thesis_gflops_per_audio_s": printed,
                         "ratio": count.gflops_per_audio_s / printed})
        del model
procedures_vs_thesis = pd.DataFrame(rows)
report.show_table(procedures_vs_thesis, label="procedure-flops", chapter=CHAPTER,
                  caption="GFLOPs per second of audio of each inference procedure (counted with FlopCounterMode on "
                  f"{flop_frames} mel frames, element-wise operations not counted) against Table 8's printed value.",
                  formats={"gflops_per_audio_s": "{:.1f}", "thesis_gflops_per_audio_s": "{:.1f}", "ratio": "{:.2f}"})
closest = procedures_vs_thesis.assign(distance=np.abs(np.log(procedures_vs_thesis.ratio)))
closest = closest.loc[closest.groupby(["model", "size"]).distance.idxmin()]
for r in closest.itertuples():
    print(f"{r.model} {r.size}: closest to Table 8 with {r.procedure} (ratio {r.ratio:.2f})")

# %% [markdown]
# ## Figure 34: Pareto fronts of cost against quality
#
# Quality is the thesis's MOS of each trained configuration (Table 7, data); cost is the energy (top) or the GFLOPs
# (bottom), ours on the left and the thesis's on the right. Optimal configurations (no other configuration has a
# higher MOS at a lower cost) are circled in red.

# %%
mos = quality[quality.model != "ground_truth"][["model", "size", "mos"]]
front = table8[["model", "size", "e_gen_j", "gflops_per_audio_s"]].merge(mos, on=["model", "size"],
                                                                          validate="one_to_one")
front = front.merge(thesis[["model", "size", "e_gen_printed", "gflops_per_audio_s"]]
                    .rename(columns={"e_gen_printed": "thesis_e_gen_printed_mj",
                                     "gflops_per_audio_s": "thesis_gflops_per_audio_s"}),
                    on=["model", "size"], validate="one_to_one")
panels = {
    "energy_ours": ("e_gen_j", f"E_gen, ours (J per 100 s of audio, {DEVICE})"),
    "energy_thesis": ("thesis_e_gen_printed_mj", "E_gen, thesis (printed, 'mJ' per 100 s)"),
    "gflops_ours": ("gflops_per_audio_s", "GFLOPs per second of audio, ours"),
    "gflops_thesis": ("thesis_gflops_per_audio_s", "GFLOPs per second of audio, thesis"),
}
fig, axes = plt.subplots(2, 2, figsize=(11, 9))
for ax, (name, (column, xlabel)) in zip(axes.ravel(), panels.items()):
    front[f"optimal_{name}"] = plotting.plot_pareto(
        ax, front[column], front.mos, groups=front.model.tolist(), labels=front["size"].str[0].str.upper(),
        xlabel=xlabel, ylabel="MOS (thesis, Table 7)", logx=True)
handles, names = axes[0, 0].get_legend_handles_labels()
fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8)
fig.tight_layout(rect=(0, 0.04, 1, 1))
report.show_figure(fig, label="figure-34", chapter=CHAPTER,
                   caption="Pareto fronts of MOS (maximised) against the generation energy (top) and the GFLOPs per "
                   "second of audio (bottom): our measurements (left) and the thesis's Table 8 (right); S/M/L mark "
                   "the sizes, optimal configurations are circled in red (after Figure 34 of the thesis).")
report.show_table(front, label="figure-34-pareto", chapter=CHAPTER,
                  caption="The data of Figure 34: MOS, costs and Pareto optimality in each of the four fronts.",
                  formats={c: fmt3 for c in ("e_gen_j", "gflops_per_audio_s")})
for name in panels:
    sel = front[front[f"optimal_{name}"]]
    print(f"Optimal ({name}): " + ", ".join(f"{m} {s}" for m, s in zip(sel.model, sel["size"])))

# %% [markdown]
# ## Table 10 and §6.4: could these models run on an embedded board?
#
# Table 10 lists two Arduino micro-controllers and four Raspberry Pi boards (data). For every configuration and
# board, `greenaudio.embedded` computes the seconds needed to generate one second of audio (GFLOPs per second of
# audio / the board's GFLOPS; below 1 is real-time, assuming the nominal FLOPS are sustained) and whether the weights
# fit in the board's RAM and storage in float32 (4 bytes per parameter) and int8 (1 byte). The RPi 4B's RAM is the
# smallest variant (1 GB) and its storage, a removable micro-SD card, has no fixed size: its storage fit is
# *unknown*, not guessed.

# %%
boards = published.load_embedded_boards()
report.show_table(boards[["board", "family", "cpu_clock_printed", "flops_printed", "flops", "ram_printed",
                          "ram_bytes", "drive_printed", "drive_bytes"]],
                  label="table-10", chapter=CHAPTER,
                  caption="Arduino and Raspberry Pi boards: CPU clock, FLOPS, RAM and drive as printed, and the "
                  "numbers used (FLOPS, bytes) (Table 10 of the thesis, data).",
                  formats={"flops": "{:.3g}", "ram_bytes": "{:.3g}", "drive_bytes": "{:.3g}"})

fits = {
    "ours": embedded.compute_embedded_fit(table8[["model", "size", "params", "gflops_per_audio_s"]], boards),
    "thesis": embedded.compute_embedded_fit(
        thesis.assign(params=thesis.params_millions * 1e6)[["model", "size", "params", "gflops_per_audio_s"]], boards),
}
pd.concat([f.assign(data=k) for k, f in fits.items()]).to_csv(
    report.results_dir(CHAPTER) / "embedded-fit.csv", index=False)
for source, fit in fits.items():
    seconds = fit.pivot_table(index=["model", "size"], columns="board", values="seconds_per_audio_s", sort=False)
    report.show_table(seconds[boards.board.tolist()].reset_index(), label=f"embedded-seconds-{source}",
                      chapter=CHAPTER,
                      caption=f"Seconds to generate one second of audio on each board of Table 10, from "
                      f"{'our measured' if source == 'ours' else 'the thesis’s Table 8'} GFLOPs (§6.4, computed).",
                      formats={b: "{:.3g}" for b in boards.board})
    report.show_table(embedded.compute_embedded_summary(fit), label=f"embedded-summary-{source}", chapter=CHAPTER,
                      caption=f"Per board, from {'our measurements' if source == 'ours' else 'the thesis’s Table 8'}: "
                      "configurations that are real-time and whose weights fit in RAM / storage in fp32 and int8 "
                      "(<NA>: storage size unknown), and the fastest configuration (§6.4, computed).",
                      formats={"fastest_seconds_per_audio_s": "{:.3g}"})

thesis_fit = fits["thesis"].set_index(["model", "size", "board"])
mg = thesis_fit.loc[("melgan", "medium", "RPi 4B")]
hg = thesis_fit.loc[("hifigan", "large", "RPi 4B")]
print(f"§6.4: MelGAN medium on an RPi 4B: {mg.gflops_per_audio_s:g} / {mg.board_gflops:g} = "
      f"{mg.seconds_per_audio_s:.3f} s per second of audio (text: ~0.7, real-time: {bool(mg.real_time)}); HiFi-GAN "
      f"large: {hg.gflops_per_audio_s:g} / {hg.board_gflops:g} = {hg.seconds_per_audio_s:.2f} s (text: 40.47 / 9.92 "
      "~ 4, with 40.47 where Table 8 prints 40.57: see the errata chapter).")
arduino = fits["thesis"][fits["thesis"].family == "Arduino"]
print(f"Arduino: {int(arduino.fp32_fits_ram.sum())} of {len(arduino)} (configuration, board) pairs fit in RAM in "
      f"fp32, {int(arduino.int8_fits_ram.sum())} in int8; the fastest needs "
      f"{arduino.seconds_per_audio_s.min():.0f} s per second of audio.")
rpi = fits["thesis"][fits["thesis"].family == "Raspberry Pi"]
print(f"Raspberry Pi: fp32 weights fit in RAM for {int(rpi.fp32_fits_ram.sum())} of {len(rpi)} pairs; "
      f"real-time for {int(rpi.real_time.sum())} pairs: "
      + ", ".join(f"{m} {s} on {b}" for m, s, b in rpi[rpi.real_time][["model", "size", "board"]]
                  .itertuples(index=False)) + ".")
rpi1b = rpi[rpi.board == "RPi 1B"]
too_big = rpi1b[~(rpi1b.fp32_fits_ram & rpi1b.fp32_fits_drive).astype(bool)]
print("The thesis says all models could fit on a Raspberry Pi in terms of size. On the smallest one (RPi 1B: 512 MB "
      "RAM, 256 MB drive), fp32 weights that do not fit: "
      + (", ".join(f"{m} {s} ({b / 1e6:.0f} MB)" for m, s, b in too_big[["model", "size", "fp32_bytes"]]
                   .itertuples(index=False)) or "none")
      + f"; in int8 all fit: {bool((rpi1b.int8_fits_ram & rpi1b.int8_fits_drive).all())}.")

# %% [markdown]
# ## Bring your own vocoder
#
# `measure.benchmark_model` accepts any `nn.Module` (or callable) mapping a mel spectrogram `(B, 80, T)` to a waveform
# `(B, T x hop_length)`. Below, a tiny untrained upsampling network of a few thousand parameters is measured under
# the same protocol and device and placed in the same tables. It has **no measured quality**: on the Pareto plot it
# sits at a **hypothetical MOS** (parameter `BYO_ASSUMED_MOS`), only to show where a model of that cost would fall.

# %%
class TinyVocoder(nn.Module):
    """mel (B, 80, T) -> waveform (B, T * 256): a convolution, three transposed convolutions (x8, x8, x4), a convolution."""

    def __init__(self, n_mels: int = 80, channels: int = 32, ratios=(8, 8, 4)):
        super().__init__()
        layers = [nn.Conv1d(n_mels, channels, 7, padding=3)]
        for r in ratios:
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose1d(channels, channels // 2, 2 * r, stride=r, padding=r // 2)]
            channels //= 2
        layers += [nn.LeakyReLU(0.2), nn.Conv1d(channels, 1, 7, padding=3), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net(mel).squeeze(1)


mine = measure.benchmark_model(TinyVocoder(channels=BYO_CHANNELS), name="my-vocoder", size="custom",
                               protocol=PROTOCOL, device=DEVICE, hop_length=256, sample_rate=PROTOCOL.sample_rate,
                               energy_mode=ENERGY_MODE, hardware=HARDWARE)
byo = pd.concat([
    table8[["model", "size", "params", "gflops_per_audio_s", "e_gen_j", RTF, "energy_method"]],
    pd.DataFrame([{"model": mine.model, "size": mine.size, "params": mine.params,
                   "gflops_per_audio_s": mine.gflops_per_audio_s, "e_gen_j": mine.e_gen_j_per_100_audio_s,
                   RTF: mine.rtf_median, "energy_method": mine.energy_method}]),
], ignore_index=True).sort_values("gflops_per_audio_s", ignore_index=True)
report.show_table(byo, label="byo-vocoder", chapter=CHAPTER,
                  caption=f"Our {len(table8)} measured configurations and the example vocoder defined above, same "
                  f"protocol and device, sorted by GFLOPs per second of audio (E_gen in J per 100 s of audio).",
                  formats={c: fmt3 for c in ("gflops_per_audio_s", "e_gen_j", RTF)})

hypothetical = pd.concat([front[["model", "size", "e_gen_j", "gflops_per_audio_s", "mos"]],
                          pd.DataFrame([{"model": "my-vocoder (hypothetical MOS)", "size": "custom",
                                         "e_gen_j": mine.e_gen_j_per_100_audio_s,
                                         "gflops_per_audio_s": mine.gflops_per_audio_s, "mos": BYO_ASSUMED_MOS}])],
                         ignore_index=True)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, (column, xlabel) in zip(axes, (("e_gen_j", f"E_gen, ours (J per 100 s of audio, {DEVICE})"),
                                       ("gflops_per_audio_s", "GFLOPs per second of audio, ours"))):
    hypothetical[f"optimal_{column}"] = plotting.plot_pareto(
        ax, hypothetical[column], hypothetical.mos, groups=hypothetical.model.tolist(),
        labels=hypothetical["size"].str[0].str.upper(), xlabel=xlabel,
        ylabel="MOS (thesis, Table 7; my-vocoder: HYPOTHETICAL)", logx=True)
handles, names = axes[0].get_legend_handles_labels()
fig.legend(handles, names, loc="lower center", ncol=4, fontsize=8)
fig.tight_layout(rect=(0, 0.12, 1, 1))
report.show_figure(fig, label="figure-byo", chapter=CHAPTER,
                   caption=f"Our energy (left) and GFLOPs (right) fronts of Figure 34 with the example vocoder added "
                   f"at a HYPOTHETICAL MOS of {BYO_ASSUMED_MOS:g} (an assumption, not a measurement: the network is "
                   "untrained).")
mine_fit = embedded.compute_embedded_fit(pd.DataFrame([{"model": mine.model, "size": mine.size, "params": mine.params,
                                                        "gflops_per_audio_s": mine.gflops_per_audio_s}]), boards)
print(f"my-vocoder: {mine.params} parameters, {mine.gflops_per_audio_s:.3g} GFLOPs per second of audio, "
      f"{mine.e_gen_j_per_100_audio_s:.3g} J per 100 s ({mine.energy_method}), RTF {mine.rtf_median:.3g}; "
      "real-time on: " + (", ".join(mine_fit.board[mine_fit.real_time]) or "no board of Table 10") + ".")
