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
# model = vocoders.load("hifigan", "small")          # typed config, named size preset
# out = model.prepare_for_inference().generate(mel)  # mel: (B, 80, frames) -> out.audio: (B, frames * 256)
# out.procedure                                      # the inference procedure that ran (steps, sigma, ...)
# ```
#
# This chapter lists the 18 configurations with their parameter counts computed from the instantiated models, under
# both counting conventions, beside the thesis's printed values; the blocks of each architecture; and the inference
# procedures and their cost on this machine's CPU.

COLAB

# %% [markdown]
# Parameters: `QUICK` shortens the audio of the procedure demonstration; `DEMO_FRAMES_QUICK` / `DEMO_FRAMES_FULL` are
# its mel frames (16 frames = 0.256 s of audio; 63 frames about 1 s); `BENCHMARK_FILE` names a shipped speed-records
# file (default: the only one shipped); `THREADS` is the torch thread count of the timed demonstration (1 keeps its
# times steady on a shared machine, where idle OpenMP threads spin-wait against other work).

# %% tags=["parameters"]
QUICK = True
CHAPTER = "05-0-models"
SEED = 0
DEMO_FRAMES_QUICK = 8
DEMO_FRAMES_FULL = 63
BENCHMARK_FILE = None
THREADS = 1

# %%
import pandas as pd
import torch

from greenaudio import measure, published, report, vocoders

demo_frames = DEMO_FRAMES_QUICK if QUICK else DEMO_FRAMES_FULL
torch.manual_seed(SEED)
torch.set_num_threads(THREADS)

# %% [markdown]
# ## The registry

# %%
registry = pd.DataFrame(
    [{"model": n, "display name": vocoders.entry(n).display_name, "family": vocoders.entry(n).family,
      "presets": ", ".join(vocoders.sizes(n))} for n in vocoders.names()]
)
report.show_table(registry, label="zoo-registry", chapter=CHAPTER,
                  caption="Registered models and their presets: the thesis's small / medium / large plus the papers' "
                  "own variants.")

# %% [markdown]
# ## Parameter counts
#
# Weight normalisation stores each weight as a direction $v$ and a gain $g$ (one value per output channel). Counting
# the gains ("+g") or not ("−g", the count after weight-norm removal) changes the total by up to a few tenths of a per
# cent, and the thesis mixes conventions. The `convention` column says which one reproduces each printed value at its
# printed precision.

# %%
counts = vocoders.compute_parameter_table()
table8 = published.load_vocoder_costs()
decimals = table8["printed_params"].str.rstrip("M").str.split(".").str[1].str.len()
params = vocoders.compute_convention_match(counts, table8["params_millions"], decimals)
report.show_table(
    params[["display_name", "size", "params_with_gains", "params_without_gains", "printed_millions", "convention"]],
    label="zoo-parameters",
    chapter=CHAPTER,
    caption="Parameters of the 18 configurations counted on the instantiated models, with (+g) and without (−g) "
    "weight-norm gains, beside the thesis's Table 8; `convention` names the count that reproduces the printed value.",
    formats={"params_with_gains": "{:,}", "params_without_gains": "{:,}"},
)
print("Configurations whose printed count a convention reproduces:", int((params.convention != "neither").sum()), "of", len(params))
for row in params[params.convention == "neither"].itertuples():
    print(f"  not reproduced: {row.display_name} {row.size}: printed {row.printed_millions}M, counted "
          f"{row.params_with_gains / 1e6:.2f}M (+g) / {row.params_without_gains / 1e6:.2f}M (−g)")

# %% [markdown]
# ### WaveGrad's sizes and Table 8's 33.91M
#
# The thesis's code defines three WaveGrad sizes whose FiLM layers differ from the paper's (their input convolution
# already maps to the UBlock's width); with them our counts match the code exactly. Table 8, however, prints 4.18M /
# 17.12M / 33.91M: its medium is the code's large, and no configuration of the code has 33.91M parameters. Table 9's
# fp32 file sizes (16.8 / 42.5 / 68.5 MB, i.e. about 4 bytes x 4.2 / 10.6 / 17.1 million) side with the code.

# %%
wavegrad = params[params.model == "wavegrad"].set_index("size")["params_with_gains"]
table9 = published.load_quantization_sizes().query("model == 'wavegrad'").set_index("size")["size_fp32_mb"]
base = vocoders.count_parameters(vocoders.load("wavegrad", "base"))
account = pd.DataFrame({
    "size": wavegrad.index,
    "counted_millions": wavegrad.to_numpy() / 1e6,
    "table8_millions": table8.query("model == 'wavegrad'")["params_millions"].to_numpy(),
    "table9_fp32_mb_over_4": table9.reindex(wavegrad.index).to_numpy() / 4,
})
report.show_table(account, label="wavegrad-account", chapter=CHAPTER,
                  caption="WaveGrad: counted parameters (thesis-code FiLM layout), Table 8's printed counts, and the "
                  "counts implied by Table 9's fp32 sizes (MB / 4 bytes).",
                  formats={"counted_millions": "{:.2f}", "table9_fp32_mb_over_4": "{:.2f}"})
print(f"Paper's base WaveGrad (paper FiLM layout): {base:,} parameters. Twice the code's large: "
      f"{2 * wavegrad['large']:,}; large + base: {wavegrad['large'] + base:,}; Table 8 prints 33.91M.")

# %% [markdown]
# ### The papers' own configurations

# %%
variants = vocoders.compute_parameter_table(
    [("hifigan", s) for s in ("v1", "v2", "v3")] + [("waveflow", f"wf{i}") for i in range(1, 6)]
    + [("wavegrad", "base"), ("diffwave", "base"), ("diffwave", "paper_large")]
)
table6 = published.load_waveflow_configs().set_index("label")["params_millions"]
variants["printed_millions"] = [
    {"v1": 13.92, "v2": 0.92, "v3": 1.46}.get(s, table6.get(s.upper(), float("nan")) if s.startswith("wf") else
                                                {"base": 2.64 if m == "diffwave" else 15.0, "paper_large": 6.91}.get(s))
    for m, s in zip(variants.model, variants["size"])
]
variants["source_of_printed"] = [
    "HiFi-GAN paper (via thesis §5.1.1)" if m == "hifigan" else "WaveFlow paper (via thesis Table 6)" if m == "waveflow"
    else "WaveGrad paper ('15M')" if m == "wavegrad" else "DiffWave paper (via thesis §5.1.1)"
    for m in variants.model
]
report.show_table(
    variants[["display_name", "size", "params_with_gains", "params_without_gains", "printed_millions", "source_of_printed"]],
    label="zoo-paper-variants", chapter=CHAPTER,
    caption="The papers' own configurations: counted parameters beside the papers' printed values.",
    formats={"params_with_gains": "{:,}", "params_without_gains": "{:,}", "printed_millions": "{:g}"},
)

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
                      caption=f"Blocks of {vocoders.entry(name).display_name} (medium preset) and their parameters.",
                      formats={"parameters": "{:,}", "share": "{:.1%}"})

# %% [markdown]
# ## Inference procedures
#
# Each model runs its own procedure; its settings are keyword arguments of `generate`, validated, and echoed back in
# the output so that cost measurements record exactly what ran. The cell below generates from random (untrained)
# weights, only to show the procedures, the output lengths and the time they take here.

# %%
demo = vocoders.demonstrate_procedures(demo_frames, seed=SEED)
report.show_table(demo, label="zoo-procedures", chapter=CHAPTER,
                  caption=f"Inference procedures of the small presets on {demo_frames} mel frames: the resolved "
                  f"procedure, the output length, and the wall time measured here (CPU, {torch.get_num_threads()} "
                  f"threads, torch {torch.__version__}, untrained weights, one run).",
                  formats={"seconds": "{:.3f}"})
assert (demo.audio_samples == demo.expected_samples).all()

# %% [markdown]
# ## Speed on CPU
#
# The real-time factor of every configuration comes from the same harness and the same kind of records as the cost
# chapter ({doc}`05_1_cost_benchmark`): `scripts/bench_vocoders.py` calls `greenaudio.measure.run_grid` under
# `measure.SPEED_PROTOCOL` (one 1-s clip at 16 kHz, 1 warm-up and 3 timed runs, 1 thread, weights prepared for
# inference, each model's default procedure) and ships the records, one file per machine. The table reads them with
# the machine they were measured on (`BENCHMARK_FILE`: a records CSV of your own run; `None`: the shipped one, whose
# sha256 is checked against `resources/benchmarks/manifest.csv` first).

# %%
files = [BENCHMARK_FILE] if BENCHMARK_FILE else measure.shipped_record_files()
shipped = [r for f in files for r in measure.load_shipped_records(f)]
if shipped:
    speed = measure.speed_table(shipped)
    for machine in speed.machine.unique():
        r = next(r for r in shipped if measure.machine_slug(r) == machine)
        print(f"{machine}: {r.environment['cpu_model']}, {r.environment['cpu_count']} logical CPUs, "
              f"{r.environment['host_type']}, torch {r.environment['packages']['torch']}, {r.code_version}, "
              f"load average {r.environment.get('load_average')}, measured {r.created_utc} (UTC).")
    report.show_table(speed, label="zoo-cpu-speed", chapter=CHAPTER,
                      formats={c: "{:.3g}" for c in ("rtf_median", "rtf_iqr", "rtf_min", "rtf_max")},
                      caption="Real-time factor (processing time / audio duration; < 1 is faster than real time) of "
                      "each configuration on CPU: median, inter-quartile range, min and max over the timed runs "
                      "(measured with greenaudio.measure; the machine of each row is printed above).")
else:
    print("No speed records shipped: run `python scripts/bench_vocoders.py --ship` to measure this machine.")

# %% [markdown]
# ## Prepared inference: what `prepare_for_inference` buys
#
# `model.prepare_for_inference(backend=...)` turns a model into an inference-only one (it then refuses `train()` and
# the training losses): weight norm folded, and per family the work that does not depend on the diffusion step or
# the flow row done once per `generate` call (DiffWave's 30 mel projections, WaveGrad's mel pre-convolution and first
# upsampling convolution), cheaper but equal rewrites (WaveGrad's shortcuts before the upsampling and its first
# upsampling convolution at the low rate; a two-sigmoid WaveNet gate; in-place sums, e.g. HiFi-GAN's
# multi-receptive-field sum) and WaveFlow's conditioning computed row by row instead of for all rows up front. Outputs
# equal the plain path's within 1e-4 (tested for all 18 configurations). `backend="onnxruntime"` runs the network
# called in the loop as an fp32 ONNX Runtime graph (the loops stay in Python), with ONNX Runtime's CPU memory arena
# off: the arena keeps every block it ever allocated, and with the flows' many differently shaped calls it held
# most of their peak memory (a WaveGlow large at 10 s went past this machine's 24 GB with it); `backend="compile"`
# uses `torch.compile`. The table reads the measurements shipped with the package (`scripts/bench_inference.py`, one
# process, variants interleaved; the command that reproduces each row is in the file; the file's sha256 is checked
# against `resources/speed/manifest.csv` before it is read). Rows are grouped by seconds of audio, then model and size
# (medium and large where measured); a variant that could not be timed here (e.g. `torch.compile` unavailable or too
# slow to compile) keeps its row with the reason in the status column. FLOPs are those of the path that ran;
# "fraction of peak" divides the achieved GFLOP/s by the CPU's compute roof measured in the same run, and the sentence
# under the table names the configurations whose best variant is within 2x of that roof.

# %%
from greenaudio.measure import inference_speed

prepared_rows = inference_speed.load_inference_speed()
prepared_table = inference_speed.inference_speed_table(prepared_rows)
report.show_table(prepared_table, label="zoo-prepared-inference", chapter=CHAPTER,
                  caption=inference_speed.inference_speed_caption(prepared_rows),
                  formats=inference_speed.inference_speed_formats(prepared_table))
print(inference_speed.inference_roofline_sentence(prepared_rows))

# %% [markdown]
# ### The speed-up targets, and how far this CPU's roof lets them go
#
# The targets set for `prepare_for_inference`: at least 1.5x the plain path for DiffWave, WaveGrad and WaveFlow,
# 1.2x for the GANs and WaveGlow (fp32). Whether a missed target could be reached at all is a roofline question: a
# prepared path that keeps the plain path's FLOPs can be at most (roof / the plain path's achieved GFLOP/s) times
# faster, and one that removes FLOPs (DiffWave's and WaveGrad's step-independent work) gains that share on top. The
# *ceiling* column is that bound, computed from each configuration's own rows: the plain time x the run's measured
# roof / the fewest GFLOPs of a prepared variant. Where it is below the target, no rewrite that keeps the FLOPs can
# meet it on this CPU; where it is above, the prepared path is still that far from the roof.

# %%
speed_targets = inference_speed.speed_target_table(prepared_rows)
report.show_table(speed_targets, label="zoo-prepared-targets", chapter=CHAPTER,
                  caption=inference_speed.SPEED_TARGET_CAPTION, formats=inference_speed.SPEED_TARGET_FORMATS)
print(inference_speed.speed_target_sentence(speed_targets))
