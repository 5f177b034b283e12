# %% [markdown]
# # 6 Quantization that runs: int8 sizes, speed, energy and quality, QAT on DiffWave, and embedded boards
#
# *Thesis §6.3 (Table 9, Figures 36–38) and §6.4 (Table 10).*
#
# The thesis quantized its 18 vocoder configurations to int8 and could report only their memory sizes (Table 9):
# PyTorch's quantization back-end of the time could not run its vocoders, so the speed, energy and quality of the
# int8 models were never measured, and its quantization-aware-trained (QAT) DiffWave was never converted into a model
# that runs. This chapter does what the thesis could not, with `greenaudio.quantization`:
#
# 1. **post-training static int8 for every configuration through ONNX Runtime**: each vocoder's networks are exported
#    with `torch.onnx` after `prepare_for_inference()` (weight norm removed), calibrated on real mels of the speech
#    corpus, and quantized to the QDQ format with int8 per-channel weights and uint8 activations. Where a procedure
#    loops — diffusion steps, flow reverse — the network called inside the loop is quantized and the loop stays in
#    Python;
# 2. **Table 9 regenerated**: fp32 and int8 sizes *measured from the serialised files*, beside the thesis's, with the
#    columns it could not fill: int8 real-time factor, speed-up against torch fp32 and ONNX Runtime fp32, energy per
#    100 s of audio (with its method), and the change of the output against fp32 (D_STFT, SNR);
# 3. **QAT on DiffWave** (Figures 36–38 analogues), then conversion to int8 and a run that is scored;
# 4. **Table 10 (§6.4) from the measured sizes**: which configurations fit each board in fp32 and int8, and the
#    real-time factor each board would need (an estimate from GFLOPs and the board's nominal FLOPS).
#
# Why not PyTorch's own int8? On this project's CPU, torch's eager/FX int8 kernels ran 1.3–2.3x *slower* than fp32,
# and its default `x86` engine gave wrong outputs for `ConvTranspose1d` (relative L2 error 1.4 on a single layer);
# ONNX Runtime's static QDQ route was the one found both correct and faster.
#
# **Quick mode** (the default, what the book's build runs) quantizes the small MelGAN and HiFi-GAN on 1 s of audio
# with few timing repeats, and runs a few QAT steps of a reduced DiffWave: it checks that everything runs end to end,
# and its timings are noisy. **Full mode** (`QUICK = False`) covers all 18 configurations on 10 s clips and trains
# the three DiffWave sizes with and without fake quantization.

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

from greenaudio import embedded, published, quantization, report, vocoders
from greenaudio.quantization import chapter

S = QUICK_SETTINGS if QUICK else FULL_SETTINGS
WORK = Path(tempfile.mkdtemp(prefix="greenaudio-quant-"))
started = chapter.start_chapter(SEED, THREADS)
print(chapter.mode_line(S, QUICK, THREADS, EXPORTER, WORK))

# %% [markdown]
# ## Data: real mels for calibration and evaluation
#
# Calibration uses mels of the training split of the offline speech corpus (espeak-ng speech with the thesis's
# preprocessing: normalised 80-band log-mel, 64 frames per clip). The models are timed and compared on a clip of the
# *test* split: consecutive test clips joined to the wanted duration.

# %%
inputs = chapter.load_chapter_inputs(S["n_calibration"], S["clip_s"])
train_set, test_set, calibration, eval_audio, eval_mel = (inputs.train_set, inputs.test_set, inputs.calibration,
                                                          inputs.eval_audio, inputs.eval_mel)
print(inputs.summary())

# %% [markdown]
# ## How each family is quantized
#
# A vocoder's `generate(mel)` is not exported whole: its `forward` validates the mel with data-dependent checks that
# `torch.export` cannot trace, and flows and diffusion models loop around a network. Each family is split into
# loop-free *graphs* holding all its parameters, and a Python *procedure* that calls them — the same procedure runs
# with torch, ONNX Runtime fp32 or ONNX Runtime int8 behind it, so the three are compared on identical noise.

# %%
splits = quantization.describe_splits()
report.show_table(pd.DataFrame(splits), label="graph-split", chapter=CHAPTER,
                  caption="How each family is split into exported graphs and a Python procedure (computed from the "
                  "models).")
print("Quantization settings:", quantization.QUANTIZATION_SETTINGS)

# %% [markdown]
# ## Post-training int8 for every configuration
#
# For each configuration: split, export (fp32), record calibration inputs of every graph by running the torch
# procedure on the calibration mels, quantize, then time torch fp32, ONNX Runtime fp32 and ONNX Runtime int8 on the
# evaluation clip with the same seed. Energy is measured with RAPL/NVML counters where they exist; otherwise it is
# **estimated** (power model x measured time) and the method column says so. A configuration that fails anywhere is
# kept as a row whose status reads `failed: <reason>`. Where the zoo's trained weights exist
# (`greenaudio/resources/zoo/mini/`), they are loaded; otherwise the models are freshly initialised (as in the cost
# chapter: sizes and speed do not depend on the weights' values, the output change does a little).

# %%
kept = {}
results = quantization.run_quantization_table(
    vocoders.iter_presets(S["models"], S["sizes"]), workdir=WORK / "ptq", calibration_mels=calibration,
    eval_mel=eval_mel, repeats=S["repeats"], warmup=S["warmup"], threads=THREADS, exporter=EXPORTER,
    energy_mode=ENERGY_MODE, seed=SEED, keep=kept)
results.to_csv(report.results_dir(CHAPTER) / "quantization-results.csv", index=False)
print("\n".join(chapter.failure_lines(results)))

# %% [markdown]
# ### Table 9, regenerated
#
# The thesis's columns are data (`quantization_sizes_table9.csv`); the others are measured here. Sizes are the
# serialised ONNX files (graphs plus any external-data side file), in MB of 10^6 bytes. The
# {doc}`errata chapter <04_4_errata>` notes that the thesis's HiFi-GAN rows are printed in the wrong order
# (MEDIUM before SMALL, with SMALL's size larger than MEDIUM's) and that its WaveGrad sizes belong to the parameter
# counts of its code, not to Table 8; its WaveGrad int8 sizes (~97 % of fp32) show that the thesis's quantization
# left WaveGrad's weights in float.

# %%
table9 = quantization.compute_table9(results)
report.show_table(table9, label="table-9", chapter=CHAPTER,
                  caption="Table 9 regenerated: the thesis's fp32/int8 sizes (data) beside the sizes measured from "
                  "the ONNX files, the int8 real-time factor, speed-ups of ONNX Runtime int8 over torch fp32 and "
                  "ONNX Runtime fp32, energy per 100 s of audio with its method, and the change of the output "
                  "against the torch fp32 output (D_STFT, SNR in dB); measured on this machine.",
                  formats=quantization.TABLE9_FORMATS)

# %% [markdown]
# ### How these numbers were obtained
#
# Printed from the rows' own provenance. On a machine without readable energy counters the energy is an
# **estimate**, not a measurement; the constants of the power model are shown. The timings are medians of a few
# runs on a shared machine (in the book's build, another job keeps one of the two cores busy), so small differences
# are noise.

# %%
print("\n".join(chapter.provenance_lines(results)))

# %% [markdown]
# ### Table 9 for more configurations (shipped measurements)
#
# The live run above covers the quick mode's configurations. `scripts/bench_quantization.py --ship` measured more of
# them with the same pipeline on the project's 2-core CPU, one configuration at a time on a core of its own, and
# shipped the rows with the package. They are data now, read back and checked against their sha256 here, not
# recomputed. Each row carries its own clip length, timing, weights (trained or fresh), energy method, the 1-minute
# load average at the start and end of its timings and the CPU's instruction sets; the caption summarises them.
# Sizes and speed do not depend on the weights' values, but the output change of a freshly initialised model says
# little: a fresh flow, whose last layers start at zero, is the identity on its noise, so its int8 output can equal
# the fp32 one exactly (an infinite SNR). Only the rows with trained weights measure what int8 does to a vocoder.

# %%
shipped = quantization.load_shipped_ptq()
report.show_table(quantization.compute_table9(shipped), label="table-9-shipped", chapter=CHAPTER,
                  formats=quantization.TABLE9_FORMATS, caption="Table 9 from the shipped measurements (data "
                  "measured by this project, sha256-verified in this build): " + quantization.describe_shipped_ptq())

# %% [markdown]
# ### The 2x target, and where the int8 time goes
#
# The target set for this chapter: int8 at least twice as fast as torch fp32 for MelGAN and HiFi-GAN at every size.
# The shipped rows answer it (computed from them):

# %%
print("\n".join(chapter.speed_target_lines(shipped)))

# %% [markdown]
# Two things stand between int8 and a 2x speed-up on a CPU like this project's. First, part of every speed-up over
# torch is not int8's: ONNX Runtime's fp32 graph is already faster than torch eager (the "vs ORT fp32" column is the
# int8 gain proper). Second, the int8 arithmetic itself: x86 CPUs without VNNI (the int8 dot-product instructions;
# the rows record which extensions the CPU has) multiply uint8 by int8 with a three-instruction sequence (32 products
# per `vpmaddubsw` + `vpmaddwd` + `vpaddd`) where fp32 does 8 products in one fused multiply-add: about 1.3x the
# products per instruction, not the 4x that the smaller weights suggest (less memory traffic adds a little). The
# QuantizeLinear/DequantizeLinear operators, the re-layouts and the layers left in float then take back part of what
# the convolutions gain. ONNX Runtime's profiler shows the split on the live MelGAN and HiFi-GAN models (kernel time
# per run by operator group, fp32 against int8, on the evaluation clip; the profiler's own overhead and a busy
# machine blur small differences, the interleaved timings above are the speed-up to quote):

# %%
profiles, profile_lines = chapter.operator_profiles(kept, eval_mel, runs=S["repeats"], threads=THREADS, seed=SEED)
report.show_table(profiles, label="int8-operator-time", chapter=CHAPTER, formats=chapter.OPERATOR_TIME_FORMATS,
                  caption=chapter.OPERATOR_TIME_CAPTION)
print("\n".join(profile_lines))

# %% [markdown]
# The iterative families are further from any int8 gain: a small network called many times on a short clip is
# dominated by per-call overhead and by the QuantizeLinear/DequantizeLinear pairs around operators that ONNX Runtime
# runs in float (activations, element-wise products of gated units, the exponentials of the flows); flows also
# amplify quantization error through `exp(-log s)` in every inverse coupling. The trained models' output change,
# lowest SNR first (computed from the shipped rows):

# %%
print(chapter.trained_snr_line(shipped))

# %% [markdown]
# ### Quality against ground truth (trained models only)
#
# With trained weights, the int8 output is also scored against the original recording (PESQ wide band and
# DistillMOS, `greenaudio.metrics`). Freshly initialised models produce noise, so scoring them against speech would
# measure nothing.

# %%
quality = chapter.score_trained_against_ground_truth(results, kept, eval_audio)
if len(quality):
    report.show_table(quality, label="int8-vs-ground-truth", chapter=CHAPTER, formats=chapter.GROUND_TRUTH_FORMATS,
                      caption=chapter.GROUND_TRUTH_CAPTION)
else:
    print(chapter.NO_TRAINED_WEIGHTS_NOTE)

# %% [markdown]
# ## Quantization-aware training of DiffWave (Figures 36–38)
#
# The thesis trained DiffWave with fake-quantization modules inserted between all layers and found the validation
# loss higher but MOSNet and NB-PESQ better than in full precision. Here an fp32 model and a fake-quant model start
# from the **same initialisation**, see the same batches and the same diffusion noise for the same number of steps;
# the fake quantizers simulate exactly the int8 scheme above (per-channel int8 weights, uint8 activations with
# moving-average ranges). The validation loss is logged over time together with D_STFT of a reconstruction of a test
# clip (the metric over time of Figure 37).

# %%
qat_clip, qat_audio = inputs.qat_clip(S["qat_clip_frames"] * 2)
qat_runs, history = chapter.run_qat_sizes(
    S["qat_sizes"], train_set, test_set, clip_mel=qat_clip, clip_audio=qat_audio, steps=S["qat_steps"],
    batch_size=S["qat_batch"], eval_every=S["qat_eval_every"], clip_frames=S["qat_clip_frames"], seed=SEED,
    threads=THREADS, overrides=S["qat_overrides"])
history.to_csv(report.results_dir(CHAPTER) / "qat-history.csv", index=False)
report.show_figure(chapter.plot_qat_history(history), label="figure-36-37", chapter=CHAPTER,
                   caption="Analogues of Figures 36–37: validation loss and D_STFT of a test reconstruction over "
                   "training time, fp32 (plain) and fake-quant (dotted) DiffWave from the same initialisation "
                   f"({'a reduced DiffWave, a few steps: quick mode' if QUICK else 'full mode'}; measured).")

# %% [markdown]
# ### Spectrograms (Figure 38) and the int8 model that runs
#
# The fake-quant model is then converted: its quantizers are removed with the weights left on their int8 grid, and
# it goes through the same ONNX Runtime path as above (activation ranges re-calibrated on real mels). The int8 model
# is **run** and scored against the original and against the fake-quant output.

# %%
size = S["qat_sizes"][0]
converted, outputs = chapter.convert_and_reconstruct(
    qat_runs[size], WORK / "qat", calibration[..., : S["qat_clip_frames"]], qat_clip, qat_audio, exporter=EXPORTER,
    threads=THREADS, seed=SEED)
report.show_figure(chapter.plot_reconstruction_spectrograms(outputs), label="figure-38", chapter=CHAPTER,
                   caption="Analogue of Figure 38: log-power spectrograms of the original, the fp32 and fake-quant "
                   "reconstructions, and the converted int8 model's (measured).")
report.show_table(chapter.score_reconstructions(outputs), label="qat-int8-scores", chapter=CHAPTER,
                  caption=f"DiffWave {size} after QAT: D_STFT of each reconstruction against the original, and the "
                  "change of each output against the fake-quant output (relative L2, SNR in dB, D_STFT); the int8 "
                  "model is the converted QAT model run in ONNX Runtime (measured).",
                  formats=chapter.RECONSTRUCTION_FORMATS)
print(chapter.converted_size_line(converted))

# %% [markdown]
# ### QAT on the other families
#
# The thesis: "only the DiffWave model achieved stable training with quantization modules". The same fake-quant
# training is tried on the small size of every family (GANs on their generator-only reconstruction loss, flows and
# diffusion models on their own objective), an fp32 twin trained from the same initialisation on the same batches
# and noise, and each is labelled stable (finite losses, validation loss not rising) or not.
# `scripts/bench_qat.py --ship` trained all six on this project's CPU and shipped their histories (data,
# sha256-verified here; their budgets are short: a CPU step of WaveFlow small takes tens of seconds); full mode
# also trains the other five families live.

# %%
stability, live_history = chapter.qat_stability(
    S["qat_other_families"], train_set, test_set, steps=S["qat_steps"] // 4, batch_size=S["qat_batch"],
    eval_every=S["qat_eval_every"], clip_frames=S["qat_clip_frames"], seed=SEED, threads=THREADS)
report.show_table(chapter.stability_with_shipped(stability), label="qat-stability", chapter=CHAPTER,
                  formats=chapter.STABILITY_FORMATS, caption=chapter.stability_caption())
report.show_figure(chapter.plot_qat_families(live_history), label="qat-families", chapter=CHAPTER,
                   caption="Validation loss over optimiser steps, fp32 (solid) and fake-quant (dotted), per family "
                   "(shipped histories and this run's; measured).")

# %% [markdown]
# ## Table 10 and §6.4: which boards could hold and run these models?
#
# Table 10 lists two Arduino micro-controllers and four Raspberry Pi boards (data). For every configuration and
# board, `greenaudio.embedded` computes the seconds needed to generate one second of audio (GFLOPs per second of
# audio / the board's nominal GFLOPS; below 1 is real-time, assuming the nominal rate is sustained: an **estimate**
# and a lower bound) and whether the weights fit in the board's RAM and storage. The RPi 4B's RAM is the smallest
# variant (1 GB) and its storage, a removable micro-SD card, has no fixed size: its storage fit is *unknown*, not
# guessed. First on the **thesis's own numbers** (Table 8's parameters and GFLOPs, 4 bytes per weight in fp32 and 1 in
# int8), which checks the sentences of §6.4:

# %%
thesis_fit = embedded.compute_thesis_embedded_fit()
report.show_table(published.load_embedded_boards(), label="table-10", chapter=CHAPTER, formats={"flops": "{:.3g}"},
                  caption="Arduino and Raspberry Pi boards as printed and the numbers used (Table 10 of the thesis).")
seconds = embedded.compute_seconds_by_board(thesis_fit)
report.show_table(seconds, label="embedded-seconds-thesis", chapter=CHAPTER,
                  formats={b: "{:.3g}" for b in seconds.columns[2:]},
                  caption="Seconds to generate one second of audio on each board, from the thesis's GFLOPs "
                  "(Table 8; ESTIMATED from the board's nominal FLOPS, §6.4).")
report.show_table(embedded.compute_embedded_summary(thesis_fit), label="embedded-summary-thesis", chapter=CHAPTER,
                  caption="Per board, from the thesis's numbers: real-time configurations and weights that fit in "
                  "RAM / storage in fp32 and int8 (<NA>: storage size unknown) (§6.4, computed).")
print("\n".join(embedded.compute_thesis_section_6_4_notes(thesis_fit)))

# %% [markdown]
# Then from the sizes **measured** above (fp32 and int8 ONNX files) and the GFLOPs counted on our models. Activations,
# program and operating system are not counted, so "fits" is necessary, not sufficient.

# %%
table10 = quantization.compute_table10(results)
report.show_table(table10[list(quantization.TABLE10_FIT_COLUMNS)], label="table-10-fit", chapter=CHAPTER,
                  caption="Table 10's question from the measured fp32/int8 sizes: fits in RAM and storage (<NA>: "
                  "storage size unknown), and the seconds needed per second of audio (ESTIMATED from GFLOPs and "
                  "the board's nominal FLOPS).",
                  formats={"fp32_bytes": "{:.3g}", "int8_bytes": "{:.3g}", "seconds_per_audio_s": "{:.3g}"})
report.show_table(embedded.compute_embedded_summary(table10), label="table-10-summary", chapter=CHAPTER,
                  caption="Per board: configurations real-time (estimate) and fitting in RAM / storage in fp32 and "
                  "int8 (measured sizes).", formats={"fastest_seconds_per_audio_s": "{:.3g}"})
print(f"RTF method: {quantization.RTF_ESTIMATE_METHOD}.")
print(chapter.elapsed_line(started))
