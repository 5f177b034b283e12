# %% [markdown]
# # 5.1 The cost of generating audio: Table 8, Figures 33–34 and embedded boards
#
# *Thesis §5.2.3 (Table 8, Figure 33) and §5.2.4 (Figure 34).*
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
# `QUICK` runs a short protocol (CI); `False` runs the thesis's, 10 clips x 10 s at 16 kHz (hours on a CPU). In quick mode
# the FLOPs of each inference procedure (50- and 1000-step schedules, plain flow reverse) are counted for the
# `QUICK_PROCEDURE_SIZES` only, on a clip of `QUICK_PROCEDURE_CLIP_S` seconds (2 mel frames; convolution FLOPs grow
# with the length, so the count per second of audio is within about 1 % of a 1 s clip's; counting runs the procedures).
# `THREADS` is the torch thread count during the measurement: 1 is robust on a shared 2-core machine. `ENERGY_MODE`
# is `"auto"` (measured where RAPL/NVML counters are readable, otherwise estimated), `"measured"` or `"estimated"`;
# `HARDWARE` names a `greenaudio.carbon.list_hardware()` entry for a catalogue estimate (`None`: on a CPU, CodeCarbon's
# power model). `STORE_PATH` is the resumable results store (`None`: `results/<chapter>/bench.sqlite`).
# `GPU_RECORDS_FILE` is a records CSV written by `greenaudio bench --device cuda --csv ...` on a GPU machine with
# NVML energy counters (shown as data beside Table 8 when given). `TRAINING_RUN` is a training workload for the three-tool table:
# a shipped mini training record (`"mini/<configuration>"`), a dict `{"name", "wall_s", "cpu_time_s", "cores",
# "memory_gb"}`, or `None`. `BYO_*` shape the last section's
# example vocoder and its HYPOTHETICAL quality.

# %%
import matplotlib

matplotlib.use("Agg")
import torch

from greenaudio import measure, report
from greenaudio.measure import cost_chapter as cost

PROTOCOL = measure.Protocol(**(QUICK_SETTINGS if QUICK else FULL_SETTINGS), threads=THREADS, seed=SEED)
STORE = STORE_PATH or report.results_dir(CHAPTER) / "bench.sqlite"
ON_GPU = measure.check_device(DEVICE).type == "cuda"
torch.manual_seed(SEED)
print(f"Mode: {'quick' if QUICK else 'full (thesis protocol)'}; protocol {PROTOCOL.key()}: {PROTOCOL.n_clips} clip(s) "
      f"x {PROTOCOL.clip_duration_s:g} s at {PROTOCOL.sample_rate} Hz; store {STORE}.")

# %% [markdown]
# ## Running the grid
#
# `measure.run_grid` measures every (model, size) cell that is not yet in the SQLite store and writes each record as
# soon as it is done, so an interrupted run resumes where it stopped. A cell's key holds everything that changes its
# numbers — protocol, procedure, energy settings and power model, machine, CPU model, torch version and threads — so
# the store never answers for other settings. It is called twice below: the second call computes nothing.
#
# With `RAY_ADDRESS` (`None`: here, one cell after another) the cells are measured as tasks on a Ray cluster instead
# (`"auto"`, `"ray://HOST:PORT"` or `"HOST:PORT"`; for example `papermill 05_1_cost_benchmark.ipynb out.ipynb -p QUICK
# False -p RAY_ADDRESS auto`): each worker measures on its own machine, whose name is part of the cell's key, and
# this kernel alone writes the store (`greenaudio.experiments.cluster.run_bench_grid`; see
# {doc}`../book/running-full-protocol`).

# %%
grid, calls = cost.run_grid_twice(MODELS, SIZES, store=STORE, device=DEVICE, protocol=PROTOCOL,
                                  energy_mode=ENERGY_MODE, hardware=HARDWARE, ray_address=RAY_ADDRESS)
report.show_table(calls, label="store-resume", chapter=CHAPTER, formats={"wall_s": "{:.1f}"},
                  caption="The two calls of run_grid on the same store: cells requested, computed in this call, "
                  "found in the store (skipped) and failed, and the call's wall time in seconds.")
records = [r for r in grid.records if r.ok]
for r in [r for r in grid.records if not r.ok]:
    print(f"FAILED: {r.model} {r.size}: {r.error}")
measure.save_records_csv(grid.records, report.results_dir(CHAPTER) / "bench-records.csv")

# %% [markdown]
# ### How these numbers were obtained
#
# Printed from the records' own provenance (nothing below is typed by hand).

# %%
print("\n".join(cost.provenance_lines(records)))

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
#   GPU); ours is for the device and method printed above. On a machine without energy counters it is an
#   **estimate**: CodeCarbon's CPU power model (a TDP from its table, or 4 W per logical CPU when the CPU model is
#   not matched, charged for the process's CPU time), so it is proportional to time, not a measurement.
# * **Protocol.** In quick mode the clips are much shorter than the thesis's 10 x 10 s; per-second figures are
#   comparable, but fixed costs weigh more.

# %%
table8 = cost.build_table8(records, ON_GPU)
RTF = "rtf_gpu" if ON_GPU else "rtf_cpu"
report.show_table(table8, label="table-8", chapter=CHAPTER, formats={c: "{:.3g}" for c in table8.select_dtypes(
    "float").columns}, caption=report.energy_caption(
    f"Table 8 regenerated on {DEVICE} ({'quick' if QUICK else 'thesis'} protocol): parameters (weight-norm gains "
    f"counted), GFLOPs per second of audio, E_gen in J per 100 s of audio and the {RTF.upper()} (median), each beside "
    "the thesis's printed value (Table 8 of the thesis; its E_gen printed in 'mJ') and the ratio ours / thesis. "
    "GFLOPs, time and energy are those of the path that ran, prepare_for_inference()'s: for DiffWave and WaveGrad "
    "it computes the step-independent conditioning once per call, so their GFLOPs are below the reference "
    "implementations' (counted on the plain models in the procedure table below).",
    records))
print("\n".join(cost.table8_notes(table8)))

# %% [markdown]
# ## Figure 33: what GFLOPs correlate with
#
# The thesis states that GFLOPs are positively correlated with the energy, while the number of parameters is not a
# good indicator of efficiency. Pearson's $r$ (on the values and on their logarithms) and Spearman's $\rho$ (on the
# ranks) are computed for our measurements and for the thesis's Table 8. Where every one of our energies is an
# estimate proportional to time, the pair is named so and its panel says it is a correlation with **time**: it
# cannot confirm the thesis's claim about measured energy; the row "GFLOPs vs RTF" shows the same thing openly.

# %%
corr, fig = cost.figure33(table8, records)
report.show_table(corr, label="figure-33-correlations", chapter=CHAPTER,
                  formats={c: "{:.2f}" for c in ("pearson_r", "pearson_r_log10", "spearman_rho")},
                  caption="Correlation of GFLOPs per second of audio with the number of parameters, with E_gen and "
                  "(ours) with the RTF, for our measurements and the thesis's Table 8 (the data of Figure 33).")
report.show_figure(fig, label="figure-33", chapter=CHAPTER, caption=report.energy_caption(
    "GFLOPs per second of audio against the number of parameters (left) and the energy to generate 100 s of audio "
    "(right), ours (top) and the thesis's Table 8 (bottom); log axes (after Figure 33 of the thesis).", records))

# %% [markdown]
# ## Which inference procedure did the thesis count?
#
# Our GFLOPs for WaveGrad and WaveFlow are far below Table 8's. FLOPs do not depend on the weights, only on the
# procedure, so counting every procedure each model offers and comparing with the printed value tells which one the
# thesis's numbers correspond to: the diffusion models' short or full schedules, and WaveFlow's fast reverse (cached
# queues, about one forward pass) or the plain reverse that recomputes every prefix (about $(h+1)/2$ times more).

# %%
procedures = cost.procedure_flops(QUICK_PROCEDURE_SIZES if QUICK else SIZES,
                                  QUICK_PROCEDURE_CLIP_S if QUICK else PROTOCOL.flop_clip_s, SEED)
report.show_table(procedures, label="procedure-flops", chapter=CHAPTER,
                  formats={"gflops_per_audio_s": "{:.1f}", "thesis_gflops_per_audio_s": "{:.1f}", "ratio": "{:.2f}"},
                  caption="GFLOPs per second of audio of each inference procedure (FlopCounterMode, element-wise "
                  "operations not counted) against Table 8's printed value; the closest procedure is marked.")

# %% [markdown]
# ## Figure 34: Pareto fronts of cost against quality
#
# Quality is the thesis's MOS of each trained configuration (Table 7, data); cost is the energy (top) or the GFLOPs
# (bottom), ours on the left and the thesis's on the right. Optimal configurations (no other configuration has a
# higher MOS at a lower cost) are circled in red.

# %%
front, fig = cost.figure34(table8, records)
report.show_figure(fig, label="figure-34", chapter=CHAPTER, caption=report.energy_caption(
    "Pareto fronts of MOS (maximised) against the generation energy (top) and the GFLOPs per second of audio "
    "(bottom): ours (left) and the thesis's Table 8 (right); S/M/L mark the sizes, optimal configurations are "
    "circled in red (after Figure 34 of the thesis).", records))
report.show_table(front, label="figure-34-pareto", chapter=CHAPTER, formats={"e_gen_j": "{:.3g}"},
                  caption="The data of Figure 34: MOS, costs and Pareto optimality in each of the four fronts.")

# %% [markdown]
# ## One workload, three energy tools
#
# The same benchmark cell and a training run (`TRAINING_RUN`: by default the shipped mini training of HiFi-GAN small) through three tools' rules, applied
# offline with their published constants: **carbontracker**'s prediction path (without RAPL: the matched CPU's
# TDP x 50 % for the whole package whatever the load, x PUE 1.58), **CodeCarbon**'s offline tracker (TDP from its
# table, or 4 W per logical CPU, times the process's share of the CPUs, no PUE) and the **Green Algorithms**
# formula $E = t\,(n_c P_c u_c + n_m P_m)\,\mathrm{PUE}$ (Lannelongue et al. 2021; PUE 1.67, 0.3725 W/GB). They
# differ because each charges a different *share* of the machine (whole package, the process's CPU time, the cores
# allocated), a different power per CPU (a matched TDP, a per-thread default) and a different PUE — not because any
# of them measured anything here.

# %%
tools = cost.energy_tools_table(max(records, key=lambda r: r.energy_duration_s), TRAINING_RUN)
report.show_table(tools, label="energy-tools", chapter=CHAPTER, formats={"energy_kwh": "{:.3g}", "energy_j": "{:.3g}",
                  "power_w": "{:.3g}"}, caption="One workload, three tools' energy rules (all ESTIMATES, no sensor): "
                  "power charged (W), PUE and energy (kWh and J), with each rule and its constants.")

# %% [markdown]
# ## Measured GPU energy
#
# On a GPU machine, `greenaudio bench --device cuda --csv gpu.csv` measures the grid with the NVML energy counter;
# given as `GPU_RECORDS_FILE`, those records are shown here beside Table 8's RTX A5000 columns.

# %%
gpu = cost.gpu_records_table(GPU_RECORDS_FILE)
if gpu is None:
    print("No GPU records file given: no NVML-measured energy in this build (this machine has no GPU).")
else:
    report.show_table(gpu, label="table-8-gpu", chapter=CHAPTER, caption="NVML-measured E_gen (J per 100 s of "
                      "audio) and GPU RTF from the records file, beside the thesis's RTX A5000 values (Table 8).")

# %% [markdown]
# Whether these models could run on an embedded board (Table 10, §6.4) is answered in the
# {doc}`quantization chapter <06_quantization>`, from the thesis's numbers and from the measured fp32 and int8 sizes.

# %% [markdown]
# ## Bring your own vocoder
#
# `measure.benchmark_model` accepts any `nn.Module` (or callable) mapping a mel spectrogram `(B, 80, T)` to a waveform
# `(B, T x hop_length)`. Below, a tiny untrained upsampling network of a few thousand parameters is measured under
# the same protocol and device and placed in the same tables. It has **no measured quality**: on the Pareto plot it
# sits at a **hypothetical MOS** (parameter `BYO_ASSUMED_MOS`), only to show where a model of that cost would fall.

# %%
mine = measure.benchmark_model(cost.TinyVocoder(channels=BYO_CHANNELS), name="my-vocoder", protocol=PROTOCOL,
                               device=DEVICE, hop_length=256, sample_rate=PROTOCOL.sample_rate,
                               energy_mode=ENERGY_MODE, hardware=HARDWARE)
report.show_table(cost.byo_table(table8, mine), label="byo-vocoder", chapter=CHAPTER,
                  formats={"gflops_per_audio_s": "{:.3g}", "e_gen_j": "{:.3g}", RTF: "{:.3g}"},
                  caption=report.energy_caption("Our configurations and the example vocoder, same protocol and "
                                                "device, sorted by GFLOPs per second of audio.", records + [mine]))
hypothetical, fig = cost.figure_byo(front, mine, BYO_ASSUMED_MOS, records)
report.show_figure(fig, label="figure-byo", chapter=CHAPTER, caption=report.energy_caption(
    f"Our energy (left) and GFLOPs (right) fronts with the example vocoder at a HYPOTHETICAL MOS of "
    f"{BYO_ASSUMED_MOS:g} (an assumption: the network is untrained).", records + [mine]))
