# %% [markdown]
# # 5.0 The models: six neural vocoders in three sizes
#
# *Thesis §5.1.1 and Table 8 (parameter column).*
#
# Chapter 5 benchmarks six neural vocoders — MelGAN {cite}`kumar2019`, HiFi-GAN {cite}`kong2020hifigan`,
# WaveGlow {cite}`prenger2019`, WaveFlow {cite}`ping2020`, DiffWave {cite}`kong2021diffwave` and WaveGrad
# {cite}`chen2021wavegrad` — each in a small, medium and large configuration. `greenaudio.vocoders` implements all of
# them behind one registry and one interface:
#
# ```python
# from greenaudio import vocoders
# model = vocoders.load("hifigan", "small")  # a typed config, a named size preset
# # mel: (batch, 80, frames) -> out.audio: (batch, frames * 256)
# out = model.prepare_for_inference().generate(mel)
# out.procedure  # the inference procedure that ran (steps, sigma, ...)
# ```
#
# ## What this chapter shows
#
# - **Eighteen configurations.** From {glue:text}`smallest_name`
#   ({glue:text}`smallest_m:.2f` M parameters) to {glue:text}`largest_name` ({glue:text}`largest_m:.1f` M), counted
#   on the instantiated models; counting the weight-norm gains or not changes a count by at most
#   {glue:text}`gain_pct:.2f` %.
# - **Table 8's parameter column.** {glue:text}`reproduced` of its {glue:text}`n_configurations` printed counts are
#   reproduced exactly by one of the two counting conventions; the others are {glue:text}`not_reproduced_names`.
#   Of the {glue:text}`text_claims` counts §5.1.1 quotes in its sentences, {glue:text}`text_claims_hold` match the
#   models at their printed precision ({ref}`the claims table <claims-5-0>`).
# - **Speed on one CPU thread.** On {glue:text}`speed_machine`, the measured real-time factor runs from
#   {glue:text}`fastest_rtf:.3f` ({glue:text}`fastest_name`) to {glue:text}`slowest_rtf:.1f`
#   ({glue:text}`slowest_name`): {glue:text}`n_real_time` of {glue:text}`n_timed` configurations generate faster
#   than real time.
# - **Prepared inference.** Rewriting a model for inference makes its best variant {glue:text}`speedup_min:.2f` to
#   {glue:text}`speedup_max:.2f` times as fast as the plain path; the book's own speed-up targets are met in
#   {glue:text}`targets_met` of {glue:text}`targets_n` (configuration, clip length) pairs, and
#   {glue:text}`targets_out_of_reach` of the misses are out of reach at this CPU's measured compute roof.

COLAB

# %% [markdown]
# Parameters: `QUICK` shortens the audio of the procedure demonstration; `DEMO_FRAMES_QUICK` / `DEMO_FRAMES_FULL` are
# its mel frames (16 frames = 0.256 s of audio; 63 frames about 1 s); `BENCHMARK_FILE` names a speed-records file of
# your own (default: the shipped one); `THREADS` is the torch thread count of the timed demonstration.

# %% tags=["parameters"]
QUICK = True
CHAPTER = "05-0-models"
SEED = 0
DEMO_FRAMES_QUICK = 8
DEMO_FRAMES_FULL = 63
BENCHMARK_FILE = None
THREADS = 1

# %%
import json

import pandas as pd
import torch

from greenaudio import measure, published, report, vocoders
from greenaudio.chapters import inference_speed
from greenaudio.vocoders import summary

demo_frames = DEMO_FRAMES_QUICK if QUICK else DEMO_FRAMES_FULL
torch.manual_seed(SEED)
torch.set_num_threads(THREADS)

# %% [markdown]
# ## The registry
#
# Every model is registered under a short name with its family and its size presets: the thesis's small, medium and
# large, plus the configurations of the original papers where they differ.

# %%
registry = pd.DataFrame(
    [{"model": n, "display name": vocoders.entry(n).display_name, "family": vocoders.entry(n).family,
      "presets": ", ".join(vocoders.sizes(n))} for n in vocoders.names()]
)
report.show_table(registry, label="zoo-registry", chapter=CHAPTER,
                  columns={"model": "Name in code", "display name": "Model", "family": "Family",
                           "presets": "Size presets"},
                  caption="The registered models, their family and their size presets: the thesis's small, medium "
                  "and large, and the papers' own variants.")

# %% [markdown]
# ## Parameter counts
#
# Weight normalisation stores each weight as a direction $v$ and a gain $g$ (one value per output channel). Counting
# the gains ("+g") or not ("−g", the count after weight-norm removal) changes the total by up to a few tenths of a per
# cent, and the thesis mixes conventions. The last column names the convention that reproduces each printed value at
# its printed precision ("truncated": only cutting the digits, not rounding them, gives the printed value).

# %%
counts = vocoders.compute_parameter_table()
table8 = published.load_vocoder_costs()
decimals = table8["printed_params"].str.rstrip("M").str.split(".").str[1].str.len()
params = vocoders.compute_convention_match(counts, table8["params_millions"], decimals)
param_facts = summary.compute_parameter_facts(params)
report.glue(**{k: v for k, v in param_facts.items() if k != "configurations"}, n_configurations=len(params),
            gain_pct=100 * param_facts["largest_gain_share"])
report.show_table(
    params[["display_name", "size", "params_with_gains", "params_without_gains", "printed_millions", "convention"]],
    label="zoo-parameters", chapter=CHAPTER,
    columns={"params_with_gains": "Parameters (+g)", "params_without_gains": "Parameters (−g)",
             "printed_millions": "Table 8 (M)", "convention": "Reproduced by"},
    caption="Parameters of the 18 configurations counted on the instantiated models, with (+g) and without (−g) "
    "the weight-norm gains, beside the thesis's Table 8, and the convention that reproduces the printed value.",
    formats={"params_with_gains": "{:,}", "params_without_gains": "{:,}"},
)

# %% [markdown]
# ### WaveGrad's sizes and Table 8's 33.91M
#
# The thesis's code defines three WaveGrad sizes whose FiLM layers differ from the paper's (their input convolution
# already maps to the UBlock's width); with them our counts match the code exactly. Table 8, however, prints 4.18M /
# 17.12M / 33.91M: its MEDIUM, 17.12M, is the paper's Base, which §5.1.1 calls the thesis's medium and which the code
# stores as its default configuration (its large file is an identical copy), and no configuration of the code has
# 33.91M parameters. Table 9's fp32 file sizes (16.8 / 42.5 / 68.5 MB, i.e. about 4 bytes x 4.2 / 10.6 / 17.1
# million) are those of the code's small, medium and large files (see the {doc}`errata chapter <04_4_errata>`).
#
# Neither sum of the code's configurations gives 33.91M either: the paper's base WaveGrad (the paper's FiLM layout)
# counts {glue:text}`wavegrad_base_m:.2f` M parameters, twice the code's large {glue:text}`wavegrad_twice_large_m:.2f`
# M and the large plus the base {glue:text}`wavegrad_large_plus_base_m:.2f` M.

# %%
wavegrad = params[params.model == "wavegrad"].set_index("size")["params_with_gains"]
table9 = published.load_quantization_sizes().query("model == 'wavegrad'").set_index("size")["size_fp32_mb"]
base = vocoders.count_parameters(vocoders.load("wavegrad", "base"))
report.glue(wavegrad_base_m=base / 1e6, wavegrad_twice_large_m=2 * wavegrad["large"] / 1e6,
            wavegrad_large_plus_base_m=(wavegrad["large"] + base) / 1e6)
account = pd.DataFrame({
    "size": wavegrad.index,
    "counted_millions": wavegrad.to_numpy() / 1e6,
    "table8_millions": table8.query("model == 'wavegrad'")["params_millions"].to_numpy(),
    "table9_fp32_mb_over_4": table9.reindex(wavegrad.index).to_numpy() / 4,
})
report.show_table(account, label="wavegrad-account", chapter=CHAPTER,
                  columns={"counted_millions": "Counted (M)", "table8_millions": "Table 8 (M)",
                           "table9_fp32_mb_over_4": "Table 9 fp32 size / 4 bytes (M)"},
                  caption="WaveGrad: the counted parameters (the thesis code's FiLM layout), Table 8's printed "
                  "counts, and the counts implied by Table 9's fp32 file sizes.",
                  formats={"counted_millions": "{:.2f}", "table9_fp32_mb_over_4": "{:.2f}"})

# %% [markdown]
# ### The papers' own configurations
#
# §5.1.1 names the original papers' configurations the thesis took its sizes from; Table 6 gives WaveFlow's. The same
# counting applied to them:

# %%
variants = summary.compute_paper_variants()
report.show_table(
    variants[["display_name", "size", "params_with_gains", "params_without_gains", "printed_millions",
              "source_of_printed"]],
    label="zoo-paper-variants", chapter=CHAPTER,
    columns={"size": "Preset", "params_with_gains": "Parameters (+g)", "params_without_gains": "Parameters (−g)",
             "printed_millions": "Printed (M)", "source_of_printed": "Printed in"},
    caption="The papers' own configurations: counted parameters beside the counts the thesis prints for them.",
    formats={"params_with_gains": "{:,}", "params_without_gains": "{:,}", "printed_millions": "{:g}"},
)

# %% [markdown]
# ### The counts §5.1.1 quotes
#
# §5.1.1 quotes a parameter count for most configurations, in its sentences rather than in Table 8. Most are the
# original papers' counts; where the paper's model and the thesis's configuration are the same network, the count of
# the instantiated model should reproduce it.

# %%
text_claims = summary.compute_section_5_1_1_claims(counts)
report.glue(text_claims=len(text_claims), text_claims_hold=int(text_claims.holds.sum()))
report.show_claims(text_claims, label="claims-5-0", chapter=CHAPTER, formats={"this_build": "{:.3f}"},
                   caption="The parameter counts quoted in §5.1.1 (millions) against the counts of the models built "
                   "here, and whether a counting convention reproduces them at their printed precision.")

# %% [markdown]
# ## The blocks of each architecture
#
# One table per model (medium preset): the top-level blocks and their parameters (stacks of identical blocks on one
# row; parameter-free layers omitted).

# %%
for name in vocoders.names():
    blocks = vocoders.describe_blocks(vocoders.load(name, "medium"), depth=1)
    blocks["share"] = blocks.parameters / blocks.parameters.sum()
    report.show_table(blocks[["block", "type", "parameters", "share"]], label=f"blocks-{name}", chapter=CHAPTER,
                      columns={"block": "Block", "type": "Type", "parameters": "Parameters", "share": "Share"},
                      caption=f"Blocks of {vocoders.entry(name).display_name} (medium preset) and their parameters.",
                      formats={"parameters": "{:,}", "share": "{:.1%}"})

# %% [markdown]
# ## Inference procedures
#
# Each model runs its own procedure: a single pass for the GANs, a few denoising steps for the diffusion models
# (a short "fast" schedule by default, the full training schedule on request), and the reversed flow for WaveFlow
# (with cached rows, or recomputing every prefix) and WaveGlow (with the sampling temperature σ). The settings are
# keyword arguments of `generate`, validated, and echoed back in the output so that a cost measurement records
# exactly what ran. The table runs every procedure of the small presets once, from random (untrained) weights: the
# output lengths and the order of magnitude of their cost, not a benchmark.

# %%
demo = vocoders.demonstrate_procedures(demo_frames, seed=SEED)
report.glue(demo_frames=demo_frames, demo_audio_s=demo_frames * 256 / 16000)
report.show_table(demo, label="zoo-procedures", chapter=CHAPTER,
                  columns={"procedure": "Procedure", "mel_frames": "Mel frames", "audio_samples": "Samples out",
                           "expected_samples": "Frames × hop", "seconds": "Wall time (s)"},
                  formats={"model": report.configuration_name, "seconds": "{:.3f}",
                           "procedure": lambda p: ", ".join(f"{k}={v}" for k, v in json.loads(p).items())
                           or "default"},
                  caption="The inference procedures of the small presets on the same mel spectrogram: the resolved "
                  "settings, the output length against frames × hop length, and one run's wall time (untrained "
                  "weights).")
assert (demo.audio_samples == demo.expected_samples).all()

# %% [markdown]
# ## Speed on CPU
#
# The real-time factor (RTF: processing time divided by the duration of the audio; below 1 is faster than real time)
# of every configuration was measured with the same harness and the same kind of records as the cost chapter
# ({doc}`05_1_cost_benchmark`): one 1-s clip at 16 kHz, one warm-up and three timed runs, one thread, the weights
# prepared for inference and each model's default procedure. Those measurements are shipped with the package (a
# build's own machine is shared and too noisy to time 18 models), and read back here after their checksum is
# verified. The table shows the median and the spread of the timed runs; the machine is named in the provenance at
# the end of the chapter.

# %%
files = [BENCHMARK_FILE] if BENCHMARK_FILE else measure.shipped_record_files()
shipped = [r for f in files for r in measure.load_shipped_records(f)]
cpu_speed = report.order_configurations(measure.speed_table(shipped)) if shipped else pd.DataFrame(
    columns=["model", "size", "rtf_median", "status", "machine"])
cpu_speed.insert(2, "configuration", [report.configuration_name(m, s)
                                      for m, s in zip(cpu_speed.model, cpu_speed["size"])])
speed_facts = measure.speed.speed_facts(cpu_speed)
machine_names = {measure.machine_slug(r): f"{r.environment['cpu_model']} ({r.environment['cpu_count']} logical CPUs)"
                 for r in shipped}
report.glue(speed_machine=", ".join(dict.fromkeys(machine_names.values())) or "no machine",
            fastest_name=speed_facts["fastest_name"], fastest_rtf=speed_facts["fastest_rtf"],
            slowest_name=speed_facts["slowest_name"], slowest_rtf=speed_facts["slowest_rtf"],
            n_real_time=speed_facts["real_time"], n_timed=speed_facts["configurations"])
if shipped:
    report.show_table(cpu_speed, label="zoo-cpu-speed", chapter=CHAPTER,
                      main=["configuration", "rtf_median", "rtf_iqr", "rtf_min", "rtf_max"],
                      columns={"rtf_iqr": "Inter-quartile range", "rtf_min": "Fastest run", "rtf_max": "Slowest run",
                               "procedure": "Procedure", "status": "Status"},
                      formats={**{c: "{:.3g}" for c in ("rtf_median", "rtf_iqr", "rtf_min", "rtf_max")},
                               "audio_s_per_run": "{:.3f}", "machine": lambda m: machine_names.get(m, m)},
                      caption="Real-time factor of each configuration on one CPU thread (measured): the median over "
                      "the timed runs, their inter-quartile range, the fastest and the slowest run.")

# %% [markdown]
# ## Prepared inference: what `prepare_for_inference` buys
#
# `model.prepare_for_inference(backend=...)` turns a model into an inference-only one (it then refuses `train()` and
# the training losses). The weight norm is folded into the weights; per family, the work that does not depend on the
# diffusion step or the flow row is done once per `generate` call instead of at every step (DiffWave's 30 mel
# projections, WaveGrad's mel pre-convolution and first upsampling convolution); some layers are replaced by cheaper
# but equal rewrites (WaveGrad's shortcuts before the upsampling, a two-sigmoid WaveNet gate, in-place sums such as
# HiFi-GAN's multi-receptive-field sum); the two GANs run every convolution as a 2-D one with a 1 × K kernel over
# channels-last activations, which the CPU's convolution library runs faster than its 1-D path; and WaveFlow's
# conditioning is computed row by row instead of for all rows up front. The outputs equal the plain path's within
# 1e-4 (tested for all 18 configurations).
#
# Two backends run the network called inside the loop differently: `"onnxruntime"` as an fp32 ONNX Runtime graph
# (the loops stay in Python) and `"compile"` through `torch.compile`. DiffWave's `"compile"` runs its prepared torch
# path uncompiled, because the code `torch.compile` generated for it was slower than the hand-written path. The
# table gives, per configuration and clip length, the plain path's real-time factor and each prepared variant's
# speed-up over it, measured in one process with the variants interleaved; the FLOPs are those of the path that
# ran. The *roof* is the fastest of three kernels
# timed in the same run at its thread count: a 2048 × 2048 float32 matrix product in torch and in ONNX Runtime, and a
# 256-channel 1-D convolution (the table's last column; the CSV names the kernel that set it and every kernel's rate).
# It moves by some 15 % from run to run on this shared machine, so compare ratios only within one run. The
# {glue:text}`runs_short_s:.2f`-s rows were measured on {glue:text}`runs_short_date` (roof
# {glue:text}`runs_short_roof_min:.0f`–{glue:text}`runs_short_roof_max:.0f` GFLOP/s), the
# {glue:text}`runs_long_s:.0f`-s rows on {glue:text}`runs_long_date` (roof
# {glue:text}`runs_long_roof_min:.0f`–{glue:text}`runs_long_roof_max:.0f` GFLOP/s), each with the code of its day:
# read each block's speed-ups, not its real-time factors against the other block's. The *fraction of the roof* divides the achieved GFLOP/s by it: the best variant of
# {glue:text}`roof_within` of {glue:text}`roof_configurations` configurations runs within a factor
# {glue:text}`roof_factor:.0f` of that roof (between {glue:text}`roof_worst:.2f` and {glue:text}`roof_best:.2f` of it).
# `torch.compile` was timed for {glue:text}`n_compiled` of the {glue:text}`roof_configurations`.

# %%
prepared_rows = inference_speed.load_inference_speed()
all_variants = inference_speed.inference_speed_table(prepared_rows)  # every timed variant, one row each
all_variants.to_csv(report.results_dir(CHAPTER) / "zoo-prepared-inference.csv", index=False)
roof = inference_speed.roofline_facts(prepared_rows)
runs = inference_speed.measurement_runs(prepared_rows)
report.glue(runs_short_s=runs.duration_s.iloc[0], runs_short_date=runs.dates.iloc[0],
            runs_short_roof_min=runs.roof_min.iloc[0], runs_short_roof_max=runs.roof_max.iloc[0],
            runs_long_s=runs.duration_s.iloc[-1], runs_long_date=runs.dates.iloc[-1],
            runs_long_roof_min=runs.roof_min.iloc[-1], runs_long_roof_max=runs.roof_max.iloc[-1])
speedups = inference_speed.speedup_table(prepared_rows)
report.glue(roof_within=roof["within"], roof_configurations=roof["configurations"], roof_factor=1 / roof["near"],
            roof_worst=roof["worst_fraction"], roof_best=roof["best_fraction"],
            n_compiled=int(speedups.speedup_compile.notna().sum()))
report.show_table(speedups, label="zoo-prepared-speedups", chapter=CHAPTER,
                  main=list(inference_speed.SPEEDUP_MAIN),
                  columns={c: label for c, label in inference_speed.SPEEDUP_LABELS.items() if c in speedups},
                  formats=inference_speed.SPEEDUP_FORMATS,
                  caption="Speed of the prepared paths (measured): the plain path's real-time factor, each prepared "
                  "variant's speed-up over it (empty: not timed), and the best fraction of the compute roof reached.")

# %% [markdown]
# ### The speed-up targets, and how far this CPU's roof lets them go
#
# This book set itself targets for `prepare_for_inference` (they are not the thesis's): at least 1.5 times the plain
# path's speed for DiffWave, WaveGrad and WaveFlow, 1.2 times for the GANs and WaveGlow, in fp32. Whether a missed
# target could be reached at all is a roofline question. A prepared path that keeps the plain path's FLOPs can be at
# most (roof / the plain path's achieved GFLOP/s) times faster, and one that removes FLOPs (DiffWave's and WaveGrad's
# step-independent work) gains that share on top. The *ceiling* is that bound, computed from each configuration's own
# rows: the plain time × the run's measured roof / the fewest GFLOPs of a prepared variant. Below the target, no
# rewrite that keeps the FLOPs can meet it on this CPU ("out of reach"); above it, the prepared path is still that far
# from the roof ("within reach").
#
# The targets are met in {glue:text}`targets_met` of {glue:text}`targets_n` pairs; of the
# {glue:text}`targets_missed` missed, {glue:text}`targets_out_of_reach` are out of reach and
# {glue:text}`targets_within_reach` within reach.

# %%
speed_targets = inference_speed.speed_target_table(prepared_rows)
target_counts = inference_speed.speed_target_counts(speed_targets)
report.glue(**{f"targets_{k}": v for k, v in target_counts.items() if k != "configurations"},
            targets_n=target_counts["configurations"], speedup_min=speed_targets["speed-up"].min(),
            speedup_max=speed_targets["speed-up"].max())
report.show_table(speed_targets, label="zoo-prepared-targets", chapter=CHAPTER,
                  main=list(inference_speed.SPEED_TARGET_MAIN),
                  columns={"audio (s)": "Audio (s)", "target": "Target", "best variant": "Fastest variant",
                           "speed-up": "Speed-up", "met": "Met?", "plain fraction of peak": "Plain: fraction of roof",
                           "FLOPs removed": "FLOPs removed", "ceiling": "Ceiling at the roof",
                           "verdict": "Verdict"},
                  formats=inference_speed.SPEED_TARGET_FORMATS,
                  caption="The book's speed-up targets for the prepared path, per timed configuration and clip "
                  "length: the fastest prepared variant's speed-up, the ceiling at the measured compute roof, and "
                  "the verdict.")

# %% [markdown]
# ### Against the public reference implementations
#
# A speed-up over our own plain path says nothing about how fast the published code is. The package ships one
# comparison with the published code of five of the six families: {glue:text}`reference_names`. The reference code is
# not part of this book. It was cloned next to it, imported by `scripts/bench_inference.py --against-reference`, and
# given our weights layer by layer, with the weight norm folded on both sides. The GAN references are functions of
# the mel alone. The diffusion and flow references draw their noise inside, so their noise was made ours: either
# their own sampler ran with its draws answered by our latent (WaveGlow), or their network ran in a reverse loop
# with our schedule and noise (DiffWave, WaveFlow). Every one of our outputs was checked against the reference's on
# the same speech mel. Then the reference, our plain path and our prepared paths were timed interleaved on
# {glue:text}`reference_audio_s:.2f` s of audio, one thread, {glue:text}`reference_repeats` rounds, and each speed-up
# is a ratio of medians. WaveGrad is not compared: its reference has the paper's FiLM layout and linear upsampling,
# our presets the thesis code's layout and repeated samples, so the two are not the same network.
#
# The fastest of our float32 paths is {glue:text}`reference_worst:.2f` to {glue:text}`reference_best:.2f` times as
# fast as the reference. It reaches the 1.5× this project aimed for in {glue:text}`reference_met` of the
# {glue:text}`reference_n` configurations; a path whose output is more than 1e-3 (relative L2) from the reference's
# is not counted. The ceiling column says how much room the reference leaves: the speed-up of a path that did the
# network's FLOPs at the compute roof measured in the same run. It ranges from
# {glue:text}`reference_ceiling_min:.2f` to {glue:text}`reference_ceiling_max:.2f`, and it is under 1.5 for
# {glue:text}`reference_out_of_reach` configurations: there the reference already runs close to the roof. The roof is
# the best of three benchmark kernels, not the processor's peak, and the generators' own convolutions can beat it by
# a few percent (HiFi-GAN large's reference does), so a ceiling is a guide rather than a wall. Where it is under 1.5,
# only fewer FLOPs or fewer bits (the bf16 and int8 backends) can go much faster.
#
# The output check is only as strong as the weights. {glue:text}`reference_trained` of the {glue:text}`reference_n`
# configurations ran with the mini zoo's trained weights (the CSV's `weights` column); the others were freshly
# initialised. A fresh DiffWave or flow starts with its last layers at zero, so its output does not depend on the
# rest of the network, and a difference of 0 there proves little. The package's tests therefore also compare every
# adapter on weights with those layers filled, where the relative L2 difference is at most 4e-7.

# %%
reference_rows = inference_speed.load_reference_speed()
if reference_rows is None:
    report.glue(reference_names="none shipped", reference_audio_s=float("nan"), reference_repeats="0",
                reference_worst=float("nan"), reference_best=float("nan"), reference_met=0, reference_n=0,
                reference_ceiling_min=float("nan"), reference_ceiling_max=float("nan"), reference_out_of_reach=0,
                reference_trained=0)
else:
    reference_facts = inference_speed.reference_speed_facts(reference_rows)
    report.glue(reference_names=reference_facts["references"], reference_audio_s=reference_facts["audio_s"],
                reference_repeats=reference_facts["repeats"], reference_worst=reference_facts["worst"],
                reference_best=reference_facts["best"], reference_met=reference_facts["met"],
                reference_n=reference_facts["configurations"],
                reference_ceiling_min=reference_facts["ceiling_min"],
                reference_ceiling_max=reference_facts["ceiling_max"],
                reference_out_of_reach=reference_facts["out_of_reach"],
                reference_trained=reference_facts["trained"])
    against = inference_speed.reference_speed_table(reference_rows)
    report.show_table(against, label="zoo-against-reference", chapter=CHAPTER,
                      main=list(inference_speed.REFERENCE_MAIN),
                      columns=inference_speed.REFERENCE_LABELS, formats=inference_speed.REFERENCE_FORMATS,
                      caption="Our paths against the reference implementations (measured, same weights and "
                      "noise): the reference's median time, our prepared float32 paths' speed-up over it (prepared "
                      "torch, prepared ONNX Runtime), the ceiling (the speed-up at the compute roof measured in the "
                      "run), the largest relative L2 difference between our outputs and the reference's, and "
                      "whether the fastest path with the reference's output reaches 1.5×.")

# %% [markdown]
# The bf16 and int8 backends are left out of that table because they change the output by design. The next table
# shows how far they go against the same references, with the change each makes (the SNR of our output against
# the reference's). {glue:text}`reduced_configurations` configurations were timed with them. bf16 is
# {glue:text}`reduced_bf16_speedup_min:.2f` to {glue:text}`reduced_bf16_speedup_max:.2f` times as fast as the
# reference, at {glue:text}`reduced_bf16_snr_min:.0f` to {glue:text}`reduced_bf16_snr_max:.0f` dB. int8 is
# {glue:text}`reduced_int8_speedup_min:.2f` to {glue:text}`reduced_int8_speedup_max:.2f` times as fast, at
# {glue:text}`reduced_int8_snr_min:.0f` to {glue:text}`reduced_int8_snr_max:.0f` dB. One of the two reaches 1.5× in
# {glue:text}`reduced_met` of them. Chapter 6 asks what such an SNR does to what a listener hears.

# %%
report.glue(**{f"reduced_{k}": v for k, v in inference_speed.reduced_precision_reference_facts(reference_rows).items()})
reduced = None if reference_rows is None else inference_speed.reduced_precision_reference_table(reference_rows)
if reduced is not None and not reduced.empty:
    report.show_table(reduced, label="zoo-reduced-against-reference", chapter=CHAPTER,
                      main=list(inference_speed.REDUCED_LABELS), columns=inference_speed.REDUCED_LABELS,
                      formats=inference_speed.REDUCED_FORMATS,
                      caption="The reduced-precision backends against the reference implementations (measured in "
                      "the same runs as the table above): each backend's speed-up over the reference and the SNR "
                      "of its output against the reference's.")

# %% [markdown]
# ## How these numbers were obtained
#
# How the shipped speed files were made (commands, cores, load, backend settings): {doc}`../book/shipped-data`.

# %%
report.show_provenance(measure.speed.models_page_provenance(shipped, THREADS)
                       + [inference_speed.inference_speed_provenance(prepared_rows)]
                       + ([] if reference_rows is None
                          else [inference_speed.reference_speed_provenance(reference_rows)]),
                       chapter=CHAPTER)
