# %% [markdown]
# # 5.1 The cost of generating audio: Table 8, Figures 33–34 and embedded boards
#
# *Thesis §5.2.3 (Table 8, Figure 33) and §5.2.4 (Figure 34).*
#
# The thesis measured, for six neural vocoders in three sizes each, the number of parameters, the GFLOPs needed per
# second of generated audio, the energy $E_\mathrm{gen}$ of generating 10 clips of 10 s at 16 kHz, and the real-time
# factor (RTF) on a GPU and a CPU. This chapter **re-measures all 18 configurations live** with `greenaudio.measure`
# on the machine that builds the book, sets the result beside the thesis's printed values, and redraws the
# correlation and Pareto figures from both. A last section shows how to place *your own* vocoder in the same tables.
#
# The models are freshly initialised (the cost of these architectures does not depend on the values of their
# weights); the quality axis of the Pareto fronts is the thesis's MOS of the trained models (Table 7), used as data.
#
# ## What this chapter shows
#
# - **Table 8, measured again.** All {glue:text}`n_configurations` configurations were measured in this build
#   ({glue:text}`mode` protocol, {glue:text}`device`): from {glue:text}`gflops_min:.3g` GFLOPs per second of audio
#   ({glue:text}`gflops_min_name`) to {glue:text}`gflops_max:.4g` ({glue:text}`gflops_max_name`), and
#   {glue:text}`n_real_time` of them faster than real time. The energies are {glue:text}`energy_kind`, from
#   {glue:text}`e_gen_min:,.0f` to {glue:text}`e_gen_max:,.0f` J per 100 s of audio.
# - **Diffusion against GANs.** The thesis writes that diffusion models cost "around 100 times" the GANs' energy;
#   the ratio of the families' median energies is {glue:text}`ratio_diffusion_gan_thesis:.0f` in its own Table 8
#   and {glue:text}`ratio_diffusion_gan:.0f` here.
# - **What GFLOPs correlate with.** GFLOPs rank like the energy (Spearman ρ {glue:text}`rho_energy:.2f` here,
#   {glue:text}`rho_energy_thesis:.2f` in Table 8) and unlike the parameter count (Pearson r
#   {glue:text}`r_params:.2f` here, {glue:text}`r_params_thesis:.2f` in Table 8). Where the energies are estimates
#   proportional to time, the first is a correlation with time.
# - **Few optimal models.** {glue:text}`optimal_energy` configurations are on this build's energy–quality front
#   ({glue:text}`optimal_energy_names`), {glue:text}`optimal_energy_thesis` on the thesis's.
# - **Three tools, one workload.** The energy rules of carbontracker, CodeCarbon and Green Algorithms give the same
#   benchmark cell energies {glue:text}`tools_spread:.1f` times apart, none of them measured.
#
# Each claim of the thesis checked here is gathered, with this build's value, in
# {ref}`the claims table <claims-5-1>`.

COLAB

# %% tags=["parameters"]
QUICK = True
CHAPTER = "05-1-cost-benchmark"
SEED = 0
DEVICE = "cpu"
THREADS = 1
MODELS = ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"]
SIZES = ["small", "medium", "large"]
QUICK_SETTINGS = {"n_clips": 1, "clip_duration_s": 0.25, "sample_rate": 16000, "warmup": 0, "repeats": 1,
                  "flop_clip_s": 0.25, "idle_window_s": 0.0}
FULL_SETTINGS = {"n_clips": 10, "clip_duration_s": 10.0, "sample_rate": 16000, "warmup": 1, "repeats": 3,
                 "flop_clip_s": 1.0, "idle_window_s": 30.0}
QUICK_PROCEDURE_SIZES = ["small"]
QUICK_PROCEDURE_CLIP_S = 0.032
ENERGY_MODE = "auto"
HARDWARE = None
RAY_ADDRESS = None
STORE_PATH = None
GPU_RECORDS_FILE = None
TRAINING_RUN = "mini/hifigan-small"
BYO_CHANNELS = 32
BYO_ASSUMED_MOS = 3.0

# %% [markdown]
# `QUICK` runs a short protocol; `False` runs the thesis's, 10 clips × 10 s at 16 kHz (hours on a CPU). `DEVICE` and
# `THREADS` choose where and on how many threads the grid runs; `ENERGY_MODE` is `"auto"` (measured where energy
# counters are readable, otherwise estimated), `"measured"` or `"estimated"`, and `HARDWARE` names a catalogue entry
# for an estimate. `GPU_RECORDS_FILE` adds records measured on a GPU; `TRAINING_RUN` is the training workload of the
# three-tool table; the `BYO_*` settings shape the last section's example vocoder and its hypothetical quality. How to
# run the full protocol, resume it, or spread it over a cluster: {doc}`../book/shipped-data`.

# %%
import matplotlib

matplotlib.use("Agg")
import pandas as pd
import torch

from greenaudio import measure, report
from greenaudio.chapters import cost
from greenaudio.orchestration.bench import run_bench_grid

torch.manual_seed(SEED)
PROTOCOL = measure.Protocol(**(QUICK_SETTINGS if QUICK else FULL_SETTINGS), threads=THREADS, seed=SEED)
report.glue(mode="quick" if QUICK else "thesis", device=DEVICE, n_clips=PROTOCOL.n_clips,
            clip_s=PROTOCOL.clip_duration_s, sample_rate=PROTOCOL.sample_rate)
STORE = STORE_PATH or report.results_dir(CHAPTER) / "bench.sqlite"
ON_GPU = measure.check_device(DEVICE).type == "cuda"

# %% [markdown]
# ## Measuring the grid
#
# Each of the 18 cells is measured under one protocol — here {glue:text}`n_clips` clip(s) of {glue:text}`clip_s:g` s
# at {glue:text}`sample_rate` Hz — for its time, its FLOPs and its energy. The grid runner (`run_bench_grid`) measures
# every cell that is not yet in its results store and writes each record as soon as it is done, so an interrupted run
# resumes where it stopped. A cell's key holds everything that changes its numbers (protocol, procedure, energy settings and power
# model, machine, CPU model, torch version and threads), so the store never answers for other settings. It is called
# twice below: the second call finds every cell and computes nothing. {glue:text}`n_failed` cell(s) failed.

# %%
grid, calls = cost.run_grid_twice(MODELS, SIZES, store=STORE, device=DEVICE, protocol=PROTOCOL, energy_mode=ENERGY_MODE,
                                  hardware=HARDWARE, ray_address=RAY_ADDRESS, grid_runner=run_bench_grid)
report.show_table(calls, label="store-resume", chapter=CHAPTER, **cost.table_layout(calls, "store-resume"),
                  caption="The two calls of the grid on the same store: cells requested, measured in this call, "
                  "found in the store and failed, and the call's wall time.")
records = [r for r in grid.records if r.ok]
failed = pd.DataFrame([{"model": r.model, "size": r.size, "error": r.error} for r in grid.records if not r.ok])
report.glue(n_failed=len(failed))
if len(failed):
    report.show_table(failed, label="grid-failures", chapter=CHAPTER, **cost.table_layout(failed, "grid-failures"),
                      caption="Cells whose measurement failed.")
records_csv = measure.save_records_csv(grid.records, report.results_dir(CHAPTER) / "bench-records.csv")

# %% [markdown]
# ## Table 8, regenerated
#
# Our measurement of every configuration beside the thesis's printed value (the ratios ours / thesis are in the full
# table). Three things differ by construction and must be kept in mind when reading them:
#
# * **Energy unit.** The thesis prints $E_\mathrm{gen}$ in mJ per 100 s of audio. Divided by the GPU time those
#   100 s took (its own RTF), mJ would mean an average power of a fraction of a watt, far below what a GPU draws at
#   work, while joules give tens to hundreds of watts; the {doc}`errata chapter <04_4_errata>` computes this for
#   every row. Our $E_\mathrm{gen}$ is in **joules** per 100 s of audio, and the ratio reads the printed number **as
#   joules** (read as mJ, every ratio would be 1000 times larger). Read as mJ the printed values imply
#   {glue:text}`implied_mj_w_min:.2f` to {glue:text}`implied_mj_w_max:.2f` W, read as J {glue:text}`implied_w_min:.0f`
#   to {glue:text}`implied_w_max:.0f` W; our energies over our times give {glue:text}`ours_w_min:.2f` to
#   {glue:text}`ours_w_max:.2f` W.
# * **Device and method.** The thesis's $E_\mathrm{gen}$ is pyJoules on an NVIDIA RTX A5000 (CPU package, DRAM and
#   GPU); ours is for the device and method named in the captions and in the provenance at the end of the chapter.
#   On a machine without energy counters it is an **estimate**: CodeCarbon's power model (a TDP from its table, or
#   4 W per logical CPU when the CPU model is not matched, charged for the process's CPU time, and its memory rule
#   over the wall time), so it is proportional to time, not a measurement.
# * **Protocol.** In quick mode the clips are much shorter than the thesis's 10 × 10 s; per-second figures are
#   comparable, but fixed costs weigh more.
#
# Our GFLOPs, time and energy are those of the path that ran, `prepare_for_inference()`'s: for DiffWave and WaveGrad
# it computes the step-independent conditioning once per call, so their GFLOPs are below the reference
# implementations' (counted on the plain models in {ref}`the procedure table <procedure-flops>`). The parameter
# counts of {glue:text}`params_off` configuration(s) differ from the thesis's by more than 1 %
# ({glue:text}`params_off_names`; see {doc}`05_0_models`).

# %%
table8 = cost.build_table8(records, ON_GPU)
report.glue(**cost.table8_facts(table8), n_configurations=len(table8))
report.show_table(table8, label="table-8", chapter=CHAPTER, thesis="Table 8", **cost.table_layout(table8, "table-8"),
                  caption=report.energy_caption(f"Table 8 measured in this build ({DEVICE}) beside the thesis's "
                                                "printed values; energy per 100 s of audio.", records))

# %% [markdown]
# ## Figure 33: what GFLOPs correlate with
#
# The thesis states that GFLOPs are positively correlated with the energy, while the number of parameters is not a
# good indicator of efficiency. Pearson's $r$ (on the values and on their logarithms) and Spearman's $\rho$ (on the
# ranks) are computed for our measurements and for the thesis's Table 8. Where every one of our energies is an
# estimate proportional to time, the pair is named so and its panel says it is a correlation with **time**: it
# cannot confirm the thesis's claim about measured energy; the row "GFLOPs vs RTF" shows the same thing openly
# (Spearman ρ {glue:text}`rho_rtf:.2f`).

# %%
corr, fig = cost.figure33(table8, records)
report.show_table(corr, label="figure-33-correlations", chapter=CHAPTER,
                  **cost.table_layout(corr, "figure-33-correlations"),
                  caption="Correlation of GFLOPs per second of audio with the parameter count, with the energy and "
                  "(ours) with the real-time factor, in our measurements and in the thesis's Table 8: the data of "
                  "Figure 33.")
report.show_figure(fig, label="figure-33", chapter=CHAPTER, thesis="Figure 33", caption=report.energy_caption(
    "GFLOPs per second of audio against the number of parameters (left) and the energy to generate 100 s of audio "
    "(right), ours (top) and the thesis's Table 8 (bottom), log axes.", records),
    alt="Four log-log scatter plots of GFLOPs per second of audio, one point per configuration, against the "
    "parameter count (left) and the energy (right), this build (top) and the thesis (bottom).")

# %% [markdown]
# ## Which inference procedure did the thesis count?
#
# Our GFLOPs for WaveGrad and WaveFlow are far below Table 8's. FLOPs do not depend on the weights, only on the
# procedure, so counting every procedure each model offers and comparing with the printed value tells which one the
# thesis's numbers correspond to: the diffusion models' short or full schedules, and WaveFlow's fast reverse (cached
# queues, about one forward pass) or the plain reverse that recomputes every prefix (about $(h+1)/2$ times more).
# The procedures are counted on the plain models, as the reference implementations ran them.

# %%
procedures = cost.procedure_flops(QUICK_PROCEDURE_SIZES if QUICK else SIZES,
                                  QUICK_PROCEDURE_CLIP_S if QUICK else PROTOCOL.flop_clip_s, SEED)
report.show_table(procedures, label="procedure-flops", chapter=CHAPTER,
                  **cost.table_layout(procedures, "procedure-flops"),
                  caption="GFLOPs per second of audio of each inference procedure against Table 8's printed value.")

# %% [markdown]
# ## Figure 34: Pareto fronts of cost against quality
#
# Quality is the thesis's MOS of each trained configuration (Table 7, data); cost is the energy (top) or the GFLOPs
# (bottom), ours on the left and the thesis's on the right. Optimal configurations (no other configuration has a
# higher MOS at a lower cost) are circled in red.

# %%
front, fig = cost.figure34(table8, records)
report.show_figure(fig, label="figure-34", chapter=CHAPTER, thesis="Figure 34", caption=report.energy_caption(
    "Pareto fronts of MOS (maximised) against the generation energy (top) and the GFLOPs per second of audio "
    "(bottom): ours (left) and the thesis's Table 8 (right); S/M/L mark the sizes, optimal configurations are "
    "circled in red.", records),
    alt="Four scatter plots of MOS against energy (top) and GFLOPs (bottom), this build (left) and the thesis "
    "(right), one point per configuration labelled S, M or L, the Pareto-optimal points circled.")
report.show_table(front, label="figure-34-pareto", chapter=CHAPTER, **cost.table_layout(front, "figure-34-pareto"),
                  caption="The data of Figure 34: the MOS, the costs, and whether each configuration is optimal in "
                  "each of the four fronts.")

# %% [markdown]
# ## One workload, three energy tools
#
# The same benchmark cell and a training run (by default the shipped mini training of HiFi-GAN small) through three
# tools' rules, applied offline with their published constants: **carbontracker**'s prediction path (without RAPL:
# a TDP from its table × 50 % for the whole package whatever the load, × PUE 1.58), **CodeCarbon**'s offline
# tracker (a TDP from its table, or 4 W per logical CPU, times the process's share of the CPUs, plus the power of
# its memory rule, no PUE) and the **Green Algorithms** formula $E = t\,(n_c P_c u_c + n_m P_m)\,\mathrm{PUE}$
# (Lannelongue et al. 2021; PUE 1.67, 0.3725 W/GB). They differ because each charges a different *share* of the
# machine (whole package, the process's CPU time, the cores allocated), a different power per CPU and a different
# PUE — not because any of them measured anything here. The rules and their constants are in the notes under the
# table.

# %%
tools = cost.energy_tools_table(max(records, key=lambda r: r.energy_duration_s), TRAINING_RUN)
report.show_table(tools, label="energy-tools", chapter=CHAPTER, **cost.table_layout(tools, "energy-tools"),
                  caption="One workload through three tools' energy rules (all estimates, no sensor).")

# %% [markdown]
# ## Measured GPU energy
#
# Records measured on a GPU machine with its NVML energy counter can be given as `GPU_RECORDS_FILE`; they are then
# shown here beside Table 8's RTX A5000 columns. This build was given {glue:text}`n_gpu_records` such records.

# %%
gpu = cost.gpu_records_table(GPU_RECORDS_FILE)
report.glue(n_gpu_records=0 if gpu is None else len(gpu))
if gpu is not None:
    report.show_table(gpu, label="table-8-gpu", chapter=CHAPTER, **cost.table_layout(gpu, "table-8-gpu"),
                      caption="Generation energy measured with NVML and GPU real-time factor, beside the thesis's "
                      "RTX A5000 values (Table 8).")

# %% [markdown]
# ## Embedded boards
#
# Whether these models could run on an Arduino or a Raspberry Pi (§6.4, Table 10) is answered in the
# {doc}`quantization chapter <06_quantization>`, from the thesis's numbers and from the measured fp32 and int8 sizes.

# %% [markdown]
# ## Bring your own vocoder
#
# `measure.benchmark_model` accepts any `nn.Module` (or callable) mapping a mel spectrogram `(B, 80, T)` to a waveform
# `(B, T x hop_length)`. Below, a tiny untrained upsampling network of a few thousand parameters is measured under
# the same protocol and device and placed in the same tables. It has **no measured quality**: on the Pareto plot it
# sits at a **hypothetical MOS** (`BYO_ASSUMED_MOS`), only to show where a model of that cost would fall.

# %%
mine = measure.benchmark_model(cost.TinyVocoder(channels=BYO_CHANNELS), name="my-vocoder", protocol=PROTOCOL,
                               device=DEVICE, hop_length=256, sample_rate=PROTOCOL.sample_rate,
                               energy_mode=ENERGY_MODE, hardware=HARDWARE)
byo = cost.byo_table(table8, mine)
report.show_table(byo, label="byo-vocoder", chapter=CHAPTER, **cost.table_layout(byo, "byo-vocoder"),
                  caption=report.energy_caption("Our configurations and the example vocoder, same protocol and "
                                                "device, sorted by GFLOPs per second of audio.", records + [mine]))
hypothetical, fig = cost.figure_byo(front, mine, BYO_ASSUMED_MOS, records)
report.show_figure(fig, label="figure-byo", chapter=CHAPTER, caption=report.energy_caption(
    f"Our energy (left) and GFLOPs (right) fronts with the example vocoder at a HYPOTHETICAL MOS of "
    f"{BYO_ASSUMED_MOS:g} (an assumption: the network is untrained).", records + [mine]),
    alt="Two scatter plots of MOS against energy (left) and GFLOPs (right): the 18 configurations and the example "
    "vocoder at an assumed MOS, the Pareto-optimal points circled.")

# %% [markdown]
# ## The thesis's claims, checked
#
# Each row quotes a claim of §5.2.3–5.2.4 and sets this build's value beside the thesis's; rows marked "Table 8's own
# numbers" apply the same test to the thesis's printed data. The words are read as numbers as follows: "around 100
# times" is a ratio of the families' median energies whose nearest power of ten is 100 (32 to 316); "positively
# correlated" a Spearman ρ of at least 0.5; "absence of correlation" a Pearson |r| below 0.5; "few models" on the
# energy front at most a quarter of the 18; and the two fronts "consistent" when at least half of the configurations
# optimal on either are optimal on both (the share is the value shown). The real-time rows are this build's CPU.

# %% tags=["hide-input"]
OWN = "… on Table 8's own numbers"
claims = pd.DataFrame([
    ("diffusion_100x", "diffusion models' inference energy around 100 times higher than GANs'", "5.2.3", "≈ 100"),
    ("diffusion_100x_thesis", OWN, "5.2.3", "≈ 100"),
    ("gan_real_time", "GANs are already real-time on CPU (largest RTF)", "5.2.3", "< 1"),
    ("diffusion_not_real_time", "diffusion-based models are not yet real-time (smallest RTF)", "5.2.3", "> 1"),
    ("gflops_energy", "GFLOPs are positively correlated to the energy cost (Spearman ρ)", "5.2.3", "positive"),
    ("gflops_energy_thesis", OWN, "5.2.3", "positive"),
    ("params_no_correlation", "parameters not a good indicator: no correlation with GFLOPs (r)", "5.2.3", "none"),
    ("params_no_correlation_thesis", OWN, "5.2.3", "none"),
    ("few_optimal", "only few models are included inside the Pareto front (energy)", "5.2.4", "few"),
    ("few_optimal_thesis", OWN, "5.2.4", "few"),
    ("fronts_consistent", "hardware-agnostic and GPU metric are consistent (shared optimal)", "5.2.4", "consistent"),
    ("fronts_consistent_thesis", OWN, "5.2.4", "consistent"),
], columns=["key", "claim", "section", "thesis"]).merge(cost.check_claims(table8, corr, front), on="key")
report.glue(**cost.cost_facts(table8, corr, front, tools, records))
report.show_claims(claims, label="claims-5-1", chapter=CHAPTER, formats={"this_build": "{:.3g}"},
                   caption="The claims of §5.2.3–5.2.4 checked: the thesis's value beside this build's, and whether "
                   "it holds.")

# %% [markdown]
# ## How these numbers were obtained
#
# How to run the full protocol, resume it or spread it over a cluster: {doc}`../book/shipped-data`.

# %% tags=["hide-input"]
report.show_provenance(cost.provenance_rows(records, procedure_clip_s=QUICK_PROCEDURE_CLIP_S if QUICK else
                                            PROTOCOL.flop_clip_s, byo=mine), chapter=CHAPTER)
