# %% [markdown]
# # 6 Quantization that runs: int8 sizes, speed, energy and quality, QAT on DiffWave, and embedded boards
#
# *Thesis §6.3 (Table 9, Figures 36–38) and §6.4 (Table 10).*
#
# The thesis quantized its 18 vocoder configurations to int8 and could report only their memory sizes (Table 9):
# PyTorch's quantization back-end of the time could not run its vocoders, so the speed, energy and quality of the
# int8 models were never measured, and the DiffWave trained with fake quantization (quantization-aware training, QAT)
# was never converted into a model that runs. This chapter quantizes every configuration with ONNX Runtime, runs the
# int8 models, and measures what the thesis could not.
#
# ## What this chapter shows
#
# - **Size.** The int8 files of all {glue:text}`ptq_configurations` configurations are
#   {glue:text}`ptq_size_ratio_min:.1f` to {glue:text}`ptq_size_ratio_max:.1f` times smaller than their fp32 files
#   (median {glue:text}`ptq_size_ratio_median:.2f`); the thesis reports "a factor of approximately 4".
# - **Speed.** On this project's CPU, which lacks int8 dot-product instructions, int8 in ONNX Runtime runs
#   {glue:text}`ptq_speedup_torch_min:.2f` to {glue:text}`ptq_speedup_torch_max:.2f` times as fast as torch fp32
#   (median {glue:text}`ptq_speedup_torch_median:.2f`), and {glue:text}`ptq_speedup_ort_median:.2f` times as fast as
#   the same graph in fp32; the thesis expected 2 to 4 times. {glue:text}`ptq_target_met` of the
#   {glue:text}`ptq_target_rows` MelGAN and HiFi-GAN measurements reach the 2× target set for this chapter.
# - **Output.** With trained weights, the int8 output's signal-to-noise ratio against the fp32 output ranges from
#   {glue:text}`snr_low:.1f` dB ({glue:text}`snr_low_name`) to {glue:text}`snr_high:.1f` dB
#   ({glue:text}`snr_high_name`).
# - **QAT.** Training with fake quantization was stable for {glue:text}`n_stable` of {glue:text}`n_families`
#   families (the thesis: DiffWave only), and the DiffWave trained that way converts to an int8 model that runs
#   ({glue:text}`qat_int8_mb:.2f` MB against {glue:text}`qat_fp32_mb:.2f` MB in fp32).
# - **Boards.** On the thesis's own numbers, {glue:text}`arduino_int8_fit_ram` of {glue:text}`arduino_pairs`
#   (configuration, Arduino) pairs fit in RAM even in int8; on a Raspberry Pi, {glue:text}`rpi_real_time` of
#   {glue:text}`rpi_pairs` pairs would be real-time, and the weights of {glue:text}`fit_every_rpi_fp32` of
#   {glue:text}`configurations` configurations fit every board in fp32 ({glue:text}`fit_every_rpi_int8` in int8).
#
# Each claim of the thesis that the chapter checks is gathered, with this build's value, in
# {ref}`the claims table <claims-6>` at the end.

COLAB

# %% tags=["parameters"]
QUICK = True
CHAPTER = "06-quantization"
SEED = 0
THREADS = 1
EXPORTER = "torchscript"
ENERGY_MODE = "auto"
QUICK_SETTINGS = {"models": ["melgan", "hifigan"], "sizes": ["small"], "clip_s": 1.0, "repeats": 2, "warmup": 1,
                  "n_calibration": 2, "qat_sizes": ["small"], "qat_overrides": {"residual_layers": 4},
                  "qat_steps": 6, "qat_batch": 2, "qat_clip_frames": 16, "qat_eval_every": 3,
                  "qat_other_families": []}
FULL_SETTINGS = {"models": ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"],
                 "sizes": ["small", "medium", "large"], "clip_s": 10.0, "repeats": 5, "warmup": 1,
                 "n_calibration": 16, "qat_sizes": ["small", "medium", "large"], "qat_overrides": {},
                 "qat_steps": 2000, "qat_batch": 4, "qat_clip_frames": 32, "qat_eval_every": 100,
                 "qat_other_families": ["melgan", "hifigan", "wavegrad", "waveflow", "waveglow"]}

# %%
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd

from greenaudio import embedded, files, published, quantization, report, vocoders
from greenaudio.chapters import quantization as chapter

S = QUICK_SETTINGS if QUICK else FULL_SETTINGS
WORK = Path(tempfile.mkdtemp(prefix="greenaudio-quant-"))
chapter.start_chapter(SEED, THREADS)
_ = report.glue(mode="quick" if QUICK else "full", n_run=len(S["models"]) * len(S["sizes"]), clip_s=S["clip_s"],
                repeats=S["repeats"], qat_steps=S["qat_steps"])

# %% [markdown]
# ## How a vocoder is quantized
#
# Each vocoder's networks are exported with `torch.onnx` after `prepare_for_inference()` (weight norm removed),
# calibrated on real mels of the speech corpus, and quantized statically to ONNX's QDQ format: int8 weights,
# symmetric per output channel, and uint8 activations, asymmetric per tensor, their ranges the minimum and maximum
# seen during calibration. PyTorch's own int8 path was tried first and rejected: on this project's CPU its kernels
# were slower than fp32, and its default engine gave wrong outputs for transposed convolutions.
#
# A vocoder's `generate(mel)` is not exported whole: its `forward` validates the mel with data-dependent checks that
# `torch.export` cannot trace, and flows and diffusion models loop around a network. Each family is split into
# loop-free *graphs* holding all its parameters, and a Python *procedure* that calls them; the same procedure runs
# with torch, ONNX Runtime fp32 or ONNX Runtime int8 behind it, so the three are compared on identical noise.

# %%
report.show_table(pd.DataFrame(vocoders.describe_splits()), label="graph-split", chapter=CHAPTER,
                  columns={"graphs": "Exported graphs", "procedure": "Procedure in Python"},
                  formats={"model": chapter.display_model},
                  caption="How each family is split into exported graphs and a Python procedure (read from the "
                  "models).")

# %% [markdown]
# In this build, calibration uses {glue:text}`n_calibration` mels of the training split of the offline speech corpus (espeak-ng
# speech with the thesis's preprocessing: normalised 80-band log-mel, {glue:text}`calibration_frames` frames per
# clip; {glue:text}`n_train` training and {glue:text}`n_test` test clips). The int8 models are timed and compared on
# {glue:text}`eval_s:.2f` s of the *test* split, consecutive clips joined.

# %%
inputs = chapter.load_chapter_inputs(S["n_calibration"], S["clip_s"])
train_set, test_set, calibration, eval_audio, eval_mel = (inputs.train_set, inputs.test_set, inputs.calibration,
                                                          inputs.eval_audio, inputs.eval_mel)
_ = report.glue(**inputs.facts())

# %% [markdown]
# ## Sizes: Table 9 for every configuration
#
# The pipeline described below was run on every configuration, one at a time, on the project's CPU, and its rows are
# shipped with the package: they are data here, read back and checked against their sha256, not recomputed. The
# thesis's columns are data too (`quantization_sizes_table9.csv`). Sizes are those of the serialised ONNX files
# (graphs plus any external-data file), in MB of 10⁶ bytes. Where the zoo's trained weights exist they were loaded;
# otherwise the model was freshly initialised: sizes and speed do not depend on the weights' values.

# %%
shipped = quantization.load_shipped_ptq()
ptq = chapter.ptq_facts(shipped)
thesis_sizes = published.load_quantization_sizes().query("model == 'wavegrad'")
_ = report.glue(**{f"ptq_{k}": v for k, v in ptq.items()}, cpu_isa=files.column_values(shipped, "cpu_isa"),
                thesis_wavegrad_pct=100 * (thesis_sizes.size_int8_mb / thesis_sizes.size_fp32_mb).min())
report.show_table(chapter.compute_table9(shipped), label="table-9-shipped", chapter=CHAPTER, thesis="Table 9",
                  columns=chapter.TABLE9_LABELS, formats=chapter.TABLE9_FORMATS, main=list(chapter.TABLE9_MAIN),
                  caption="The thesis's fp32 and int8 sizes beside those measured from the ONNX files, with the "
                  "columns the thesis could not fill: the int8 speed-up against torch fp32, energy, and the change "
                  "of the output against the fp32 output (measured by this project, shipped, sha256-verified in "
                  "this build).")

# %% [markdown]
# The int8 files are {glue:text}`ptq_size_ratio_min:.2f` to {glue:text}`ptq_size_ratio_max:.2f` times smaller than
# the fp32 ones: a weight takes one byte instead of four, and the per-channel scales, the biases kept in 32 bits and
# the graph's structure keep the ratio below the 4 that the weights alone would give. The
# {doc}`errata chapter <04_4_errata>` notes that the thesis's HiFi-GAN SMALL and MEDIUM labels are swapped (the row
# labelled MEDIUM has the small model's size, the one labelled SMALL the medium model's) and that its WaveGrad sizes
# belong to the three size files of its code, not to Table 8's counts; its WaveGrad int8 files keep
# {glue:text}`thesis_wavegrad_pct:.0f` % or more of their fp32 size, so the thesis's quantization left WaveGrad's
# weights in float.
#
# This build runs the same pipeline live, in {glue:text}`mode` mode: {glue:text}`n_run` configuration(s) on
# {glue:text}`clip_s` s of audio with {glue:text}`repeats` timed runs each ({glue:text}`n_ok` quantized and run). In
# quick mode the timings are noisy, since the build shares its machine; the shipped rows above are the ones to quote.
# For each configuration: split, export (fp32), record the calibration inputs of every graph by running the torch
# procedure on the calibration mels, quantize, then time torch fp32, ONNX Runtime fp32 and ONNX Runtime int8 with
# the same seed. A configuration that fails anywhere is kept as a row whose status says why.

# %%
kept = {}
results = quantization.run_quantization_table(
    vocoders.iter_presets(S["models"], S["sizes"]), workdir=WORK / "ptq", calibration_mels=calibration,
    eval_mel=eval_mel, repeats=S["repeats"], warmup=S["warmup"], threads=THREADS, exporter=EXPORTER,
    energy_mode=ENERGY_MODE, seed=SEED, keep=kept)
results.to_csv(report.results_dir(CHAPTER) / "quantization-results.csv", index=False)
_ = report.glue(n_ok=int((results["status"] == "ok").sum()))

# %%
report.show_table(chapter.compute_table9(results), label="table-9", chapter=CHAPTER,
                  columns=chapter.TABLE9_LABELS, formats=chapter.TABLE9_FORMATS, main=list(chapter.TABLE9_LIVE_MAIN),
                  caption="Table 9's columns for the configurations run in this build: sizes measured from the ONNX "
                  "files and their ratio fp32 / int8, the int8 speed-up against torch fp32 and ONNX Runtime (ORT) "
                  "fp32, and the SNR of the int8 output against the torch fp32 output.")

# %% [markdown]
# ## Speed: what stands between int8 and a 2× speed-up
#
# The target set for this chapter was int8 at least twice as fast as torch fp32 for MelGAN and HiFi-GAN at every
# size. In the shipped measurements, {glue:text}`ptq_target_met` of {glue:text}`ptq_target_rows` rows reach it:

# %%
report.show_table(chapter.speed_target_table(shipped), label="int8-speed-target", chapter=CHAPTER,
                  columns=chapter.SPEED_TARGET_LABELS, formats=chapter.SPEED_TARGET_FORMATS,
                  caption="int8 speed-up of the MelGAN and HiFi-GAN configurations against torch fp32 and against "
                  "the same graph in ONNX Runtime fp32, per clip length (shipped measurements).")

# %% [markdown]
# Two things stand between int8 and a 2× speed-up on a CPU like this project's. First, part of every speed-up over
# torch is not int8's: ONNX Runtime's fp32 graph is already faster than torch eager, so the int8 gain proper is the
# speed-up against ONNX Runtime fp32, {glue:text}`ptq_speedup_ort_min:.2f` to {glue:text}`ptq_speedup_ort_max:.2f`
# times over all shipped rows. Second, the int8 arithmetic itself. The shipped rows record the CPU's instruction
# sets: {glue:text}`cpu_isa`. Without VNNI (the int8 dot-product instructions), x86 multiplies uint8 by int8 with a
# three-instruction sequence (`vpmaddubsw`, `vpmaddwd`, `vpaddd`: 32 products) where fp32 does 8 products in one
# fused multiply-add: about 32 / 3 / 8 ≈ 1.3 times the products per instruction, not the 4 times that the smaller
# weights suggest. The
# QuantizeLinear/DequantizeLinear operators, the re-layouts and the layers left in float then take back part of what
# the convolutions gain. ONNX Runtime's profiler shows the split on this build's MelGAN and HiFi-GAN models:

# %%
profiles, op_facts = chapter.operator_profiles(kept, eval_mel, runs=S["repeats"], threads=THREADS, seed=SEED)
report.show_table(profiles, label="int8-operator-time", chapter=CHAPTER, columns=chapter.OPERATOR_TIME_LABELS,
                  formats=chapter.OPERATOR_TIME_FORMATS, caption=chapter.OPERATOR_TIME_CAPTION)
op_columns = ("conv_ratio", "total_ratio", "conversion_ms", "float_conv_int8_ms")
_ = report.glue(**{f"op_{c}_{s}": getattr(op_facts[c], s)() for c in op_columns for s in ("min", "max")})

# %% [markdown]
# In int8 the convolutions take {glue:text}`op_conv_ratio_min:.2f` to {glue:text}`op_conv_ratio_max:.2f` of their
# fp32 kernel time, and all kernels together take {glue:text}`op_total_ratio_min:.2f` to
# {glue:text}`op_total_ratio_max:.2f`: the (de)quantization operators add {glue:text}`op_conversion_ms_min:.1f` to
# {glue:text}`op_conversion_ms_max:.1f` ms per run, and convolutions that stay float kernels in the int8 graphs
# (their weights are int8, but ONNX Runtime's CPU provider runs them between DequantizeLinear and QuantizeLinear; it
# fuses no int8 transposed convolution) take up to {glue:text}`op_float_conv_int8_ms_max:.1f` ms. The profiler's own
# overhead and a busy machine blur small differences; the interleaved timings above are the speed-ups to quote.
#
# The iterative families are further from any int8 gain: a small network called many times on a short clip is
# dominated by per-call overhead and by the QuantizeLinear/DequantizeLinear pairs around operators that ONNX Runtime
# runs in float (activations, element-wise products of gated units, the exponentials of the flows).
#
# ## What int8 does to the output
#
# Flows also amplify quantization error, through `exp(-log s)` in every inverse coupling. Only the rows with trained
# weights measure what int8 does to a vocoder: a freshly initialised flow, whose last layers start at zero, is the
# identity on its noise, so its int8 output can equal the fp32 one exactly. The trained configurations, lowest SNR
# first:

# %%
snr = chapter.trained_snr_table(shipped)
low, high = snr.iloc[0], snr.iloc[-1]
_ = report.glue(snr_low=low.int8_snr_db, snr_low_name=report.configuration_name(low.model, low["size"]),
                snr_high=high.int8_snr_db, snr_high_name=report.configuration_name(high.model, high["size"]))
report.show_table(snr, label="int8-snr-trained", chapter=CHAPTER, columns=chapter.TRAINED_SNR_LABELS,
                  formats=chapter.TRAINED_SNR_FORMATS,
                  caption="Change of the int8 output against the fp32 output of the trained configurations (shipped "
                  "measurements, shortest clip), lowest SNR first.")

# %% [markdown]
# With trained weights, the int8 output of the configurations run in this build is also scored against the original
# recording (PESQ wide band and DistillMOS, `greenaudio.metrics`); {glue:text}`n_trained_live` of them have trained
# weights. Freshly initialised models produce noise, and scoring noise against speech would measure nothing.

# %%
quality = chapter.score_trained_against_ground_truth(results, kept, eval_audio)
_ = report.glue(n_trained_live=len(quality.drop_duplicates(["model", "size"])))

# %%
if len(quality):
    report.show_table(quality, label="int8-vs-ground-truth", chapter=CHAPTER, columns=chapter.GROUND_TRUTH_LABELS,
                      formats=chapter.GROUND_TRUTH_FORMATS, caption=chapter.GROUND_TRUTH_CAPTION)

# %% [markdown]
# ## Quantization-aware training of DiffWave (Figures 36–38)
#
# The thesis trained DiffWave with fake-quantization modules inserted between all layers and found the validation
# loss higher but MOSNet and narrow-band PESQ better than in full precision. Here an fp32 model and a fake-quant
# model start from the **same initialisation** and see the same batches and the same diffusion noise for
# {glue:text}`qat_steps` steps; the fake quantizers simulate exactly the int8 scheme above. The validation loss is
# logged over time together with the STFT distance of a reconstruction of a test clip (Figure 37's metric over time).
# In quick mode the model is reduced and the run is a few steps long: it shows that the procedure runs, not what it
# converges to.

# %%
qat_clip, qat_audio = inputs.qat_clip(S["qat_clip_frames"] * 2)
qat_runs, history = chapter.run_qat_sizes(
    S["qat_sizes"], train_set, test_set, clip_mel=qat_clip, clip_audio=qat_audio, steps=S["qat_steps"],
    batch_size=S["qat_batch"], eval_every=S["qat_eval_every"], clip_frames=S["qat_clip_frames"], seed=SEED,
    threads=THREADS, overrides=S["qat_overrides"])
history.to_csv(report.results_dir(CHAPTER) / "qat-history.csv", index=False)
report.show_figure(chapter.plot_qat_history(history), label="figure-36-37", chapter=CHAPTER,
                   caption="Analogues of Figures 36–37: validation loss and STFT distance of a test reconstruction "
                   "over training time, fp32 (plain) and fake-quant (dotted) DiffWave from the same initialisation "
                   f"({'a reduced DiffWave, a few steps: quick mode' if QUICK else 'full mode'}; measured).",
                   alt="Two line plots against training time: validation loss and STFT distance of a reconstruction, "
                   "fp32 DiffWave as solid lines and fake-quant DiffWave as dotted lines.")

# %% [markdown]
# The fake-quant model is then converted: its quantizers are removed with the weights left on their int8 grid, and
# it goes through the same ONNX Runtime path as above (activation ranges re-calibrated on real mels). The int8 model
# is run and scored against the original and against the fake-quant output: the SNR of its output against the
# fake-quant model's is {glue:text}`qat_int8_snr:.0f` dB, and its files take {glue:text}`qat_int8_mb:.2f` MB against
# {glue:text}`qat_fp32_mb:.2f` MB in fp32.

# %%
size = S["qat_sizes"][0]
converted, outputs = chapter.convert_and_reconstruct(
    qat_runs[size], WORK / "qat", calibration[..., : S["qat_clip_frames"]], qat_clip, qat_audio, exporter=EXPORTER,
    threads=THREADS, seed=SEED)
scores = chapter.score_reconstructions(outputs)
sizes = chapter.converted_sizes(converted)
_ = report.glue(qat_int8_mb=sizes["int8_mb"], qat_fp32_mb=sizes["fp32_mb"],
                qat_int8_snr=scores.set_index("output").loc["int8 (converted)", "vs_fake_quant_snr_db"])

# %%
report.show_figure(chapter.plot_reconstruction_spectrograms(outputs), label="figure-38", chapter=CHAPTER,
                   caption="Analogue of Figure 38: log-power spectrograms of the original, the fp32 and fake-quant "
                   "reconstructions, and the converted int8 model's (measured).",
                   alt="Four spectrograms side by side: the original clip, and the fp32, fake-quant and converted "
                   "int8 DiffWave reconstructions of it.")
report.show_table(scores, label="qat-int8-scores", chapter=CHAPTER, formats=chapter.RECONSTRUCTION_FORMATS,
                  columns=chapter.RECONSTRUCTION_LABELS,
                  caption=f"DiffWave {size} after QAT: each reconstruction against the original, and its change "
                  "against the fake-quant output; the int8 model is the converted QAT model run in ONNX Runtime "
                  "(measured).")

# %% [markdown]
# ### QAT of the other families
#
# The thesis: "only the DiffWave model achieved stable training with quantization modules". The same fake-quant
# training is tried on the small size of every family (GANs on their generator-only reconstruction loss, flows and
# diffusion models on their own objective) beside an fp32 twin trained from the same initialisation on the same
# batches and noise. The shipped histories (data, sha256-verified here) cover all six families with short budgets,
# since a CPU step of WaveFlow small takes tens of seconds; full mode also trains the other five families live.
# Fake-quant training was stable for {glue:text}`n_stable` of {glue:text}`n_families` families.

# %%
stability, live_history = chapter.qat_stability(
    S["qat_other_families"], train_set, test_set, steps=S["qat_steps"] // 4, batch_size=S["qat_batch"],
    eval_every=S["qat_eval_every"], clip_frames=S["qat_clip_frames"], seed=SEED, threads=THREADS)
stability = chapter.stability_with_shipped(stability)
stab = chapter.stability_facts(stability)
_ = report.glue(n_stable=stab["n_stable"], n_families=stab["families"])

# %%
report.show_table(stability, label="qat-stability", chapter=CHAPTER, columns=chapter.STABILITY_LABELS,
                  formats=chapter.STABILITY_FORMATS, main=list(chapter.STABILITY_MAIN),
                  caption=chapter.STABILITY_CAPTION)
report.show_figure(chapter.plot_qat_families(live_history), label="qat-families", chapter=CHAPTER,
                   caption="Validation loss over optimiser steps, fp32 (solid) and fake-quant (dotted), per family "
                   "(shipped histories and this run's; measured).",
                   alt="One small line plot per family: validation loss against optimiser step for the fp32 and the "
                   "fake-quant training.")

# %% [markdown]
# ## Table 10 and §6.4: which boards could hold and run these models?
#
# Table 10 lists two Arduino micro-controllers and four Raspberry Pi boards (data). For every configuration and
# board, `greenaudio.embedded` computes the seconds needed to generate one second of audio (GFLOPs per second of
# audio divided by the board's nominal GFLOPS; below 1 is real-time). This assumes the nominal rate is sustained, so
# it is an **estimate** and a lower bound. It also checks whether the weights fit in the board's RAM and storage. The
# RPi 4B's RAM is its smallest variant (1 GB), and its storage, a removable micro-SD card, has no fixed size: its
# storage fit is *unknown*, not guessed. First on the **thesis's own numbers** (Table 8's parameters and GFLOPs, 4
# bytes per weight in fp32 and 1 in int8), which checks the statements of §6.4 (the text's 40.47 GFLOPs for HiFi-GAN
# large is 40.57 in Table 8: see the {doc}`errata chapter <04_4_errata>`):

# %%
thesis_fit = embedded.compute_thesis_embedded_fit()
facts64 = embedded.compute_section_6_4_facts(thesis_fit)
_ = report.glue(**facts64)

# %%
report.show_table(published.load_embedded_boards(), label="table-10", chapter=CHAPTER, thesis="Table 10",
                  columns=chapter.BOARD_LABELS, formats={"flops": "{:.3g}"}, main=list(chapter.BOARD_MAIN),
                  caption="Arduino and Raspberry Pi boards as printed, and the numbers used.")
seconds = embedded.compute_seconds_by_board(thesis_fit)
report.show_table(seconds, label="embedded-seconds-thesis", chapter=CHAPTER,
                  formats={"model": chapter.display_model, **{b: chapter.format_seconds for b in seconds.columns[2:]}},
                  main=["model", "size", *seconds.columns[3:]],
                  caption="Seconds to generate one second of audio on each board, from the thesis's GFLOPs (Table 8) "
                  "and the boards' nominal FLOPS (an estimate, §6.4).")
report.show_table(embedded.compute_embedded_summary(thesis_fit), label="embedded-summary-thesis", chapter=CHAPTER,
                  columns=chapter.EMBEDDED_SUMMARY_LABELS, formats=chapter.EMBEDDED_SUMMARY_FORMATS,
                  main=list(chapter.EMBEDDED_SUMMARY_MAIN), caption="Per board, from the thesis's numbers: "
                  "configurations real-time, and whose weights fit in RAM and storage in fp32 and int8 (empty: "
                  "storage size unknown).")

# %% [markdown]
# On the Arduinos the fastest configuration would need {glue:text}`arduino_fastest_s:,.0f` s per second of audio. The
# same question from the sizes **measured** above (the fp32 and int8 ONNX files) and the GFLOPs counted on this
# build's models follows. Activations, program and operating system are not counted, so "fits" is necessary, not
# sufficient.

# %%
table10 = chapter.compute_table10(results)
report.show_table(table10[list(chapter.TABLE10_FIT_COLUMNS)], label="table-10-fit", chapter=CHAPTER,
                  columns=chapter.TABLE10_FIT_LABELS, formats=chapter.TABLE10_FIT_FORMATS,
                  main=list(chapter.TABLE10_FIT_MAIN),
                  caption="Table 10's question from the measured sizes: weights that fit in RAM and storage (empty: "
                  "storage size unknown), and the seconds needed per second of audio (an estimate).")
report.show_table(embedded.compute_embedded_summary(table10), label="table-10-summary", chapter=CHAPTER,
                  columns=chapter.EMBEDDED_SUMMARY_LABELS, formats=chapter.EMBEDDED_SUMMARY_FORMATS,
                  main=list(chapter.EMBEDDED_SUMMARY_MAIN), caption="Per board, from the measured sizes: "
                  "configurations real-time (an estimate), and whose weights fit in RAM and storage in fp32 and "
                  "int8.")

# %% [markdown]
# ## The thesis's claims, checked
#
# Each row quotes a claim of Chapter 6 and sets this build's value beside the thesis's. Sizes and speed are the
# medians over the shipped rows of every configuration ("approximately 4" is read as 3.5 to 4.5; a speed claim
# holds from a 2× median speed-up); the QAT rows come from the stability table above; the §6.4 rows from the
# thesis's own Tables 8 and 10.

# %% tags=["hide-input"]
claims = pd.DataFrame([
    ("size_4x", "int8 reduces the memory size by a factor of about 4 (median ratio)", "6.3.1", "≈ 4"),
    ("speed_2_4x", "quantization speeds up inference by a factor of 2–4 (median int8 speed-up)", "6.3.1", "2–4"),
    ("speed_2_3x", "quantization allows a 2–3× reduction in inference time (median)", "6.4", "2–3"),
    ("qat_only_diffwave", "only DiffWave trained stably with fake quantization (families)", "6.3.2", "1"),
    ("qat_loss_higher", "validation loss higher with fake quantization (DiffWave, last gap)", "6.3.2", "> 0"),
    ("melgan_rpi4", "MelGAN medium on an RPi 4: 7.02/9.92 ≈ 0.7 s per s of audio", "6.4", "0.7"),
    ("hifigan_rpi4", "HiFi-GAN large on an RPi 4: 40.47/9.92 ≈ 4 s per s of audio", "6.4", "4"),
    ("arduino", "far from running on an Arduino (pairs fitting RAM in int8)", "6.4", "0"),
    ("rpi_fit", "all models could fit on a Raspberry Pi (configurations, fp32)", "6.4", "18"),
], columns=["key", "claim", "section", "thesis"]).merge(chapter.check_claims(ptq, stab, facts64), on="key")
report.show_claims(claims, label="claims-6", chapter=CHAPTER, formats={"this_build": "{:.3g}"},
                   caption="The claims of Chapter 6 checked: the thesis's value beside this build's, and whether it "
                   "holds.")

# %% [markdown]
# ## How these numbers were obtained
#
# How the shipped files were made (commands, machine, load): {doc}`../book/shipped-data`.

# %% tags=["hide-input"]
report.show_provenance(chapter.provenance_rows(results, shipped, quantization.load_shipped_qat(), history),
                       chapter=CHAPTER)
