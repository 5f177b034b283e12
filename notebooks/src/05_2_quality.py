# %% [markdown]
# # 5.2 Training the zoo and measuring its quality
#
# *Thesis §5.1.2–5.1.3 (data, training), §5.2.1 (Figure 30, convergence), §5.2.2 (Table 7, Figure 32) and
# Appendix B (Figures 39–44).*
#
# The thesis trains the 18 vocoder configurations of {doc}`05_0_models` on LJSpeech for at most 120 hours each on one
# RTX A5000, monitors convergence with automatic metrics, rates the trained models in a listening test (41
# participants) and compares that human MOS with a reconstruction distance ($\mathcal{D}_{STFT}$) and with three
# classifier-based scores (IS, AM, FID computed with VGGish). This chapter runs the same protocol with
# `greenaudio.data`, `greenaudio.training`, `greenaudio.metrics` and `greenaudio.evaluation`:
#
# 1. data: a single-speaker speech corpus with the thesis's preprocessing and split, and a spoken-digit corpus with a
#    digit classifier (the stand-in for VGGish);
# 2. training of all 18 configurations with one resumable, seeded, budgeted trainer, validation metrics logged over
#    training time;
# 3. convergence curves (Figure 30, Figures 39–44), the Table 7 analogue beside the thesis's published numbers, and
#    the correlations of the automatic metrics with the thesis's human MOS (Figure 32).
#
# **Quick mode** (the default, and what the book's build runs) trains every model for a handful of steps on a CPU:
# its models are *barely trained*, so their scores measure little more than an initialisation and are not comparable
# with the thesis's. Quick mode checks that the whole protocol runs end to end. **Full mode** (`QUICK = False`) is the
# thesis's protocol: 120 hours per model on a GPU, resumable (re-run the notebook to continue interrupted runs).

COLAB

# %% tags=["parameters"]
QUICK = True  # quick mode: a few training steps per model on CPU; full mode: the thesis's 120 h per model
CHAPTER = "05-2-quality"
SEED = 0
DEVICE = "cpu"  # "cuda" for full mode
THREADS = 2  # torch CPU threads
CORPUS = "espeak"  # "espeak" (built offline with espeak-ng) or "ljspeech" (needs LJSPEECH_ROOT)
LJSPEECH_ROOT = None  # path of your LJSpeech-1.1 folder (metadata.csv + wavs/)
CACHE_DIR = None  # corpora, digit classifier and training runs; None: $GREENAUDIO_CACHE or ~/.cache/greenaudio
RUNS_DIR = None  # training runs; None: <CACHE_DIR>/runs/05-2-quality
TRAIN_STEPS_QUICK = 3  # optimisation steps per model in quick mode
TRAIN_BUDGET_S_QUICK = 60.0  # and a wall-clock cap per model (in s)
TRAIN_BUDGET_S_FULL = 432000.0  # thesis §5.1.3: 120 h per model
TRAIN_FRAMES_QUICK = 16  # quick mode trains on the first 16 mel frames (0.256 s) of each clip
BATCH_SIZE_QUICK = 2
BATCH_SIZE_FULL = 16
VALIDATE_EVERY_STEPS_QUICK = 1  # full mode validates at the end of every epoch, as the thesis
VAL_CLIPS_QUICK = 1
VAL_CLIPS_FULL = 8
VAL_FRAMES_QUICK = 32  # 0.512 s, the shortest clip DistillMOS accepts is 0.5 s
VALIDATION_METRICS_QUICK = ["d_stft", "distillmos"]
VALIDATION_METRICS_FULL = ["d_stft", "pesq_nb", "stoi", "distillmos"]
N_EVAL_CLIPS_QUICK = 2  # speech test clips scored per model (full length, 1.024 s)
N_EVAL_CLIPS_FULL = 64  # the whole test split of the espeak corpus (LJSpeech: 2,620; this many are scored)
EVAL_METRICS_QUICK = ["d_stft", "pesq_wb", "pesq_nb", "stoi", "distillmos"]
EVAL_METRICS_FULL = ["d_stft", "pesq_wb", "pesq_nb", "stoi", "distillmos", "dnsmos_ovrl"]
N_DIGITS_QUICK = 10  # digit clips resynthesised per model (one per digit)
N_DIGITS_FULL = 270  # the whole digit test split (3 unseen voices)
DIGIT_FRAMES_QUICK = 24  # central 0.384 s of each 1 s digit clip
DIGIT_FRAMES_FULL = 62  # the whole clip: 62 frames, 0.992 s
CLASSIFIER_BUDGET_S = 60.0  # digit classifier training time cap (in s; cached after the first run)
CLASSIFIER_EPOCHS = 20
TRACK_ENERGY_FULL = True  # carbontracker per-epoch energy and prediction in full mode (quick runs never end an epoch)

# %%
import hashlib
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from greenaudio import data, evaluation, published, report, vocoders
from greenaudio.metrics import load_digit_classifier, save_digit_classifier, train_digit_classifier
from greenaudio.training import (EnergyConfig, TrainConfig, compute_code_fingerprint, load_checkpoint,
                                 seed_everything, train)

notebook_start = time.perf_counter()
torch.set_num_threads(THREADS)
mode = "quick" if QUICK else "full"
cache_dir = Path(CACHE_DIR) if CACHE_DIR else data.default_cache_dir()
runs_root = Path(RUNS_DIR) if RUNS_DIR else cache_dir / "runs" / CHAPTER
batch_size = BATCH_SIZE_QUICK if QUICK else BATCH_SIZE_FULL
n_eval = N_EVAL_CLIPS_QUICK if QUICK else N_EVAL_CLIPS_FULL
n_digits = N_DIGITS_QUICK if QUICK else N_DIGITS_FULL
digit_frames = DIGIT_FRAMES_QUICK if QUICK else DIGIT_FRAMES_FULL
val_metric_names = VALIDATION_METRICS_QUICK if QUICK else VALIDATION_METRICS_FULL
eval_metric_names = EVAL_METRICS_QUICK if QUICK else EVAL_METRICS_FULL
time_unit, time_scale = ("s", 1.0) if QUICK else ("h", 1 / 3600)
print(f"mode: {mode}; caches: {cache_dir}; runs: {runs_root}; device: {DEVICE}; torch threads: {THREADS}")

# %% [markdown]
# ## Data (§5.1.2)
#
# The thesis trains on LJSpeech {cite}`ito2017`: resampled to 16 kHz, the first $N = 2^{14}$ samples of each clip,
# 80-band log-mel spectrograms (FFT 2048, hop 256), dataset min–max normalisation (Eq. 49), 80 % / 20 % split.
# LJSpeech (2.6 GB) cannot be fetched by this build, so by default the chapter uses an offline stand-in: 320
# sentences spoken by espeak-ng in one voice, written in LJSpeech's format and read back through the *same* loader
# (same preprocessing, same split rule: the last fifth of the listed clips is the test split). It is robotic formant
# speech, so quality numbers on it cannot be compared with LJSpeech's. Users who have LJSpeech set
# `CORPUS = "ljspeech"` and `LJSPEECH_ROOT`.

# %%
if CORPUS == "espeak":
    train_set = data.load_espeak_speech("train", cache_dir=cache_dir)
    test_set = data.load_espeak_speech("test", cache_dir=cache_dir)
elif CORPUS == "ljspeech":
    if LJSPEECH_ROOT is None:
        raise ValueError("CORPUS='ljspeech' needs LJSPEECH_ROOT (the LJSpeech-1.1 folder); or use CORPUS='espeak'")
    train_set = data.load_ljspeech(LJSPEECH_ROOT, "train", cache_dir=cache_dir)
    test_set = data.load_ljspeech(LJSPEECH_ROOT, "test", cache_dir=cache_dir)
else:
    raise ValueError(f"CORPUS must be 'espeak' or 'ljspeech', got {CORPUS!r}")
print("Skip report:", train_set.report)
for item_id, reason in train_set.skipped[:10]:
    print(f"  skipped {item_id}: {reason}")
corpus_summary = pd.DataFrame([{
    "corpus": train_set.report.corpus, "listed": train_set.report.n_listed, "kept": train_set.report.n_kept,
    "train": len(train_set), "test": len(test_set), "skipped": train_set.report.n_skipped,
    "zero-padded": train_set.report.n_padded, "samples per clip": train_set.n_samples,
    "sample rate (Hz)": train_set.sample_rate, "normaliser min": train_set.normalizer.minimum,
    "normaliser max": train_set.normalizer.maximum,
}])
report.show_table(corpus_summary, label="corpus", chapter=CHAPTER,
                  caption="The training corpus after the thesis's preprocessing (§5.1.2): clips kept and skipped, "
                  "the 80/20 split and the min–max statistics of Eq. 49 fitted on the training split.",
                  formats={"normaliser min": "{:.4f}", "normaliser max": "{:.4f}"})

# %% [markdown]
# ### The digit corpus and the classifier behind IS / AM / FD
#
# The thesis computes IS, AM and FID with a pre-trained VGGish. VGGish's weights are downloaded from a model hub by
# every package that provides it, and this build must not download weights, so — as WaveGAN's Inception Score did with
# SC09 — the project trains its own small classifier (`greenaudio.metrics.DigitClassifier`) on a multi-voice
# espeak-ng spoken-digit corpus (16 voices × 3 speeds × 3 pitches × 10 digits; the last 3 voices are held out). Its
# softmax gives IS and AM, its 128-d penultimate layer the Fréchet distance. The numbers it gives are labelled
# "digit-CNN, not VGGish" everywhere: they are on another scale than the thesis's columns. The classifier is trained
# once with a fixed seed and cached.

# %%
digits = data.build_digit_corpus(cache_dir)
x_train, y_train = digits.split("train")
x_test, y_test = digits.split("test")
classifier_settings = {"corpus": digits.path.name, "seed": SEED, "budget_s": CLASSIFIER_BUDGET_S,
                       "epochs": CLASSIFIER_EPOCHS}
classifier_key = hashlib.sha256(json.dumps(classifier_settings, sort_keys=True).encode()).hexdigest()[:12]
classifier_path = cache_dir / "classifiers" / f"digit-cnn-{classifier_key}.pt"
if classifier_path.is_file():
    classifier, classifier_report = load_digit_classifier(classifier_path)
    classifier_origin = f"loaded from the cache ({classifier_path.name})"
else:
    classifier, classifier_report = train_digit_classifier(
        x_train, y_train, x_test, y_test, seed=SEED, max_epochs=CLASSIFIER_EPOCHS, time_budget_s=CLASSIFIER_BUDGET_S)
    classifier_path.parent.mkdir(parents=True, exist_ok=True)
    save_digit_classifier(classifier, classifier_path, classifier_report)
    classifier_origin = "trained now"
train_prior = digits.class_prior("train")
print(f"Digit classifier ({classifier_origin}): {classifier_report.epochs} epochs in "
      f"{classifier_report.duration_s:.0f} s (stopped by {classifier_report.stopped_by}); accuracy "
      f"{classifier_report.train_accuracy:.1%} on the training voices, {classifier_report.test_accuracy:.1%} on the "
      f"{classifier_report.n_test} clips of the 3 unseen voices.")

# %% [markdown]
# **Generated digits.** A vocoder does not generate digits by itself: it inverts mel spectrograms. To score a trained
# vocoder with the digit classifier, the mel spectrograms of held-out digit clips (unseen voices) are computed with
# the thesis's front-end, normalised with the *speech corpus's* training statistics (Eq. 49, as the vocoders saw in
# training), and resynthesised by every vocoder; the classifier then rates the resynthesised clips (IS, AM), and
# compares their embeddings with those of the same clips' ground truth (Fréchet distance). The thesis's VGGish scores
# were computed on the LJSpeech reconstructions themselves; this is the closest offline analogue.

# %%
digit_index = np.arange(n_digits) if n_digits <= len(y_test) else np.arange(len(y_test))
digit_mels, digit_audio = evaluation.compute_digit_mels(x_test[digit_index], train_set.normalizer,
                                                        frames=digit_frames)
digit_labels = y_test[digit_index]
real_acc = float((classifier.predict(digit_audio)[0].argmax(1) == digit_labels).mean())
print(f"{len(digit_index)} digit clips of the unseen voices, central {digit_frames} frames "
      f"({digit_audio.shape[1] / 16000:.3f} s) each; the classifier recognises {real_acc:.0%} of their ground truth.")

# %% [markdown]
# ## Training the 18 configurations (§5.1.3)
#
# Every configuration is trained with `greenaudio.training.train`: Adam with the learning rate of each model's paper,
# GANs alternating discriminator and generator steps, flows and diffusion models minimising their own likelihood or
# noise-prediction loss; the budget is wall-clock time (thesis: 120 h on one GPU, batch size "scaled to the GPU
# memory"; here a fixed `BATCH_SIZE_FULL`). Validation runs at the end of every epoch (quick mode: every step) on a few
# test clips and logs the losses and cheap quality metrics — $\mathcal{D}_{STFT}$ and DistillMOS, a neural MOS
# predictor standing in for MOSNet (whose weights are not available offline). Runs live in folders named by a hash
# of their settings; re-running the notebook continues interrupted runs and reuses finished ones.
#
# The training energy is recorded in full mode with carbontracker (per epoch, and the whole run predicted from the
# first epoch, as the thesis did in §4.2.2); quick runs never complete an epoch, so they record none.

# %%
if QUICK:
    train_data = evaluation.CroppedDataset(train_set, TRAIN_FRAMES_QUICK)
    val_data = evaluation.CroppedDataset(test_set, VAL_FRAMES_QUICK, indices=range(VAL_CLIPS_QUICK))
else:
    train_data = train_set
    val_data = evaluation.CroppedDataset(test_set, train_set.n_samples // 256, indices=range(VAL_CLIPS_FULL))
val_metrics = evaluation.make_validation_metrics(val_metric_names)


def energy_settings():
    """carbontracker in full mode when installed; None otherwise."""
    if QUICK or not TRACK_ENERGY_FULL:
        return None
    try:
        import carbontracker  # noqa: F401
    except ImportError:
        print("carbontracker is not installed: no training energy recorded")
        return None
    return EnergyConfig()


def train_config(run_dir):
    if QUICK:
        return TrainConfig(run_dir=str(run_dir), seed=SEED, batch_size=batch_size, max_steps=TRAIN_STEPS_QUICK,
                           max_time_s=TRAIN_BUDGET_S_QUICK, validate_every_steps=VALIDATE_EVERY_STEPS_QUICK,
                           metric_batches=1, checkpoint_every_steps=None, checkpoint_every_s=None, device=DEVICE,
                           progress=False, checkpoint_state="weights")  # small checkpoints for 3-step runs
    return TrainConfig.thesis(str(run_dir), seed=SEED, batch_size=batch_size, max_time_s=TRAIN_BUDGET_S_FULL,
                              metric_batches=1, device=DEVICE, progress=False)


def run_folder(name, size, model):
    settings = {"model": model.config.to_dict(), "train": train_config("").to_dict(), "corpus": train_set.report.corpus,
                "normalizer": [train_set.normalizer.minimum, train_set.normalizer.maximum], "mode": mode,
                "train_frames": TRAIN_FRAMES_QUICK if QUICK else None, "val_metrics": list(val_metric_names),
                "code": compute_code_fingerprint()}  # runs made by older code are never reused
    key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return runs_root / f"{name}-{size}-{mode}-{key}"


runs, outcomes = {}, []
for name, size in vocoders.iter_presets():
    seed_everything(SEED)
    model = vocoders.load(name, size)
    run_dir = run_folder(name, size, model)
    started = time.perf_counter()
    result = train(model, train_data, val_data, train_config(run_dir), metrics=val_metrics, energy=energy_settings())
    runs[(name, size)] = run_dir
    pred = result.energy_prediction or {}
    outcomes.append({
        "model": name, "size": size, "family": result.family, "steps": result.step, "epochs": result.epoch,
        f"training time ({time_unit})": result.elapsed_s * time_scale, "stopped by": result.stop_reason,
        "s per step": result.seconds_per_step, "resumed from step": result.resumed_from_step,
        "validations": len(result.records), "predicted energy (kWh)": pred.get("energy_kwh"),
        "this session (s)": time.perf_counter() - started,
    })
    print(f"{name}/{size}: step {result.step}, {result.elapsed_s:.1f} s of training, stopped by {result.stop_reason}"
          + (f", resumed from step {result.resumed_from_step}" if result.resumed_from_step is not None else ""))
outcomes = pd.DataFrame(outcomes)
report.show_table(outcomes, label="training-runs", chapter=CHAPTER,
                  caption=f"The 18 training runs ({mode} mode): optimisation steps, completed epochs, training time "
                  "(accumulated over resumes), what stopped the run, mean time per step in this session, number of "
                  "validation records and, in full mode, the energy of the whole run predicted by carbontracker "
                  "from its first epoch (estimated: power x time; empty when not tracked).",
                  formats={f"training time ({time_unit})": "{:.2f}", "s per step": "{:.2f}",
                           "this session (s)": "{:.1f}", "predicted energy (kWh)": "{:.3f}"})

# %% [markdown]
# ## Convergence (§5.2.1, Figure 30 and Appendix B)
#
# The thesis monitors convergence with the *speechmetrics* toolbox and plots MOSNet's predicted MOS over training
# time (Figure 30), and every monitored metric per family in Appendix B. Here the logged validation records of all
# runs are gathered into one long table (`greenaudio.evaluation.collect_training_logs`).

# %%
logs = evaluation.collect_training_logs(runs)
logs.to_csv(report.results_dir(CHAPTER) / "training-logs.csv", index=False)
families = vocoders.names()
size_styles = {"small": ":", "medium": "--", "large": "-"}
display_names = {n: vocoders.entry(n).display_name for n in families}


def plot_metric(ax, metric, family, ylabel):
    for size, style in size_styles.items():
        part = logs[(logs.model == family) & (logs["size"] == size) & (logs.metric == metric)]
        if len(part):
            ax.plot(part.elapsed_s * time_scale, part.value, style, marker="o", markersize=3, label=size)
    ax.set_title(display_names[family], fontsize=9)
    ax.set_xlabel(f"training time ({time_unit})")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), sharey=True)
for ax, family in zip(axes.flat, families):
    plot_metric(ax, "distillmos", family, "predicted MOS (DistillMOS)")
axes.flat[0].legend(fontsize=8)
fig.tight_layout()
report.show_figure(fig, label="figure-30", chapter=CHAPTER,
                   caption=f"Predicted MOS (DistillMOS, standing in for MOSNet) of the validation clips over training "
                   f"time ({time_unit}), for the three sizes of each model (after Figure 30 of the thesis). "
                   + ("Quick mode: a few training steps only — the curves show the monitoring, not convergence."
                      if QUICK else "Full mode: 120 h budget per model."))

# %%
appendix_figures = {"diffwave": 39, "wavegrad": 40, "melgan": 41, "hifigan": 42, "waveflow": 43, "waveglow": 44}
metric_labels = {"val_loss": "validation loss", "d_stft": "D_STFT (lower is better)", "pesq_nb": "PESQ-NB",
                 "stoi": "STOI", "distillmos": "predicted MOS (DistillMOS)"}
monitored = ["val_loss"] + [m for m in val_metric_names]
for family, number in appendix_figures.items():
    fig, axes = plt.subplots(1, len(monitored), figsize=(3.2 * len(monitored), 2.9))
    for ax, metric in zip(np.atleast_1d(axes), monitored):
        plot_metric(ax, metric, family, metric_labels.get(metric, metric))
        ax.set_title(f"{display_names[family]}: {metric_labels.get(metric, metric)}", fontsize=8)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    report.show_figure(fig, label=f"figure-{number}", chapter=CHAPTER,
                       caption=f"Metrics computed in the validation phase of the {display_names[family]} trainings, "
                       f"over training time ({time_unit}), three sizes (after Figure {number} of the thesis, "
                       f"Appendix B). The validation loss is the model's own objective (generator loss for GANs).")

# %%
last = logs.sort_values("step").groupby(["model", "size", "metric"]).value.agg(["first", "last"]).reset_index()
d = last[last.metric == "d_stft"]
improved = int((d["last"] < d["first"]).sum())
print(f"D_STFT on the validation clips went down between the first and the last validation for {improved} of "
      f"{len(d)} configurations.")

# %% [markdown]
# ## Synthesis quality: the Table 7 analogue (§5.2.2)
#
# Each trained model reconstructs test clips from their mel spectrograms (flows and diffusion models with their
# default inference procedure, seeded noise); the reconstructions are scored with
#
# - $\mathcal{D}_{STFT}$ (Eq. 29, the thesis's reconstruction distance),
# - PESQ (wide band, P.862.2; and narrow band, P.862) and STOI, intrusive speech-quality measures (not in Table 7; the
#   thesis monitored them in training),
# - predicted MOS: DistillMOS (and DNSMOS OVRL in full mode) — predictions of a neural network, not a listening test;
# - IS, AM and Fréchet distance of the resynthesised digits under the digit classifier ("digit-CNN, not VGGish").
#
# The thesis's published MOS (listening test), $\mathcal{D}_{STFT}$, IS, AM and FID (VGGish) stand beside them, read
# from `greenaudio/resources/vocoder_quality_table7.csv`. The ground-truth row scores the reference clips themselves.

# %%
eval_audio = test_set.audio_array()[:n_eval]
eval_mels = torch.stack([test_set[i][1] for i in range(min(n_eval, len(test_set)))])
records = [evaluation.evaluate_vocoder(None, eval_audio, eval_mels, model_name="ground_truth", size="",
                                       metrics=eval_metric_names, digit_mels=digit_mels, digit_audio=digit_audio,
                                       classifier=classifier, train_prior=train_prior)]
for name, size in vocoders.iter_presets():
    loaded = load_checkpoint(runs[(name, size)], device=DEVICE)
    model = loaded.model.prepare_for_inference()
    records.append(evaluation.evaluate_vocoder(
        model, eval_audio, eval_mels, model_name=name, size=size, metrics=eval_metric_names, digit_mels=digit_mels,
        digit_audio=digit_audio, classifier=classifier, train_prior=train_prior, seed=SEED,
        train_step=loaded.step, train_elapsed_s=loaded.elapsed_s))
    print(f"{name}/{size}: evaluated in {records[-1].duration_s:.1f} s")
ours = pd.DataFrame([r.to_row() for r in records])
ours.to_csv(report.results_dir(CHAPTER) / "quality-records.csv", index=False)

# %%
OURS = {"d_stft": "D_STFT (ours)", "pesq_wb": "PESQ-WB (ours)", "pesq_nb": "PESQ-NB (ours)", "stoi": "STOI (ours)",
        "distillmos": "DistillMOS (ours, predicted)", "dnsmos_ovrl": "DNSMOS OVRL (ours, predicted)",
        "digit_is": "IS (ours, digit-CNN, not VGGish)", "digit_am": "AM (ours, digit-CNN, not VGGish)",
        "digit_fd": "FD (ours, digit-CNN, not VGGish)"}
THESIS = {"mos": "MOS (thesis, human)", "mos_ci": "MOS CI (thesis)", "d_stft": "D_STFT (thesis)",
          "inception_score": "IS (thesis, VGGish)", "am_score": "AM (thesis, VGGish)", "fid": "FID (thesis, VGGish)"}
thesis = published.load_vocoder_quality()
thesis["size"] = thesis["size"].fillna("")
table7 = thesis[["model", "size", *THESIS]].rename(columns=THESIS).merge(
    ours[["model", "size", *[c for c in OURS if c in ours.columns], "train_step"]].rename(columns=OURS),
    on=["model", "size"], how="left", validate="one_to_one")
table7 = table7.rename(columns={"train_step": "training steps"})
report.show_table(
    table7, label="table-7", chapter=CHAPTER,
    caption="Quality of the 18 vocoder configurations and of the ground truth (after Table 7 of the thesis). Columns "
    "'(thesis ...)' are the thesis's published numbers (data: LJSpeech, 120 h per model, 41 listeners, VGGish). "
    f"Columns '(ours ...)' are computed in this run ({mode} mode, {train_set.report.corpus} corpus, "
    f"{len(eval_audio)} test clips, {len(digit_index)} resynthesised digits)"
    + (": quick-mode models are barely trained (a few steps), so their scores are near those of an untrained "
       "network and must not be compared with the thesis's." if QUICK else ".")
    + " IS / AM / FD use the project's digit classifier, not VGGish (VGGish weights cannot be obtained offline); "
    "DistillMOS and DNSMOS are neural predictions of MOS, not listening tests.",
    formats={c: "{:.4f}" for c in table7.columns if c not in ("model", "size", "training steps", "MOS (thesis, human)",
                                                             "MOS CI (thesis)")},
)

# %% [markdown]
# ## Automatic metrics against the human MOS (Figure 32)
#
# The thesis plots its listening-test MOS against the three VGGish scores and finds AM "notably highly correlated"
# with MOS. The correlations below are computed over the 18 configurations (the ground truth left out): first from the
# thesis's own published columns (a reproduction from data), then for this run's metrics against the same human MOS.

# %%
models18 = table7[table7.model != "ground_truth"].reset_index(drop=True)
thesis_metrics = ["D_STFT (thesis)", "IS (thesis, VGGish)", "AM (thesis, VGGish)", "FID (thesis, VGGish)"]
our_metrics = [c for c in OURS.values() if c in models18.columns]
correlations = evaluation.compute_metric_correlations(models18, "MOS (thesis, human)", thesis_metrics + our_metrics)
correlations.insert(1, "source", ["thesis (data)"] * len(thesis_metrics) + [f"ours ({mode} mode)"] * len(our_metrics))
report.show_table(correlations, label="correlations-mos", chapter=CHAPTER,
                  caption="Pearson r and Spearman rho (with two-sided p-values) between each metric and the thesis's "
                  "human MOS over the 18 configurations (computed; Figure 32 of the thesis plots the three VGGish "
                  "metrics). Negative values are expected for lower-is-better metrics (D_STFT, AM, FID/FD).",
                  formats={"pearson_r": "{:.3f}", "pearson_p": "{:.3g}", "spearman_rho": "{:.3f}",
                           "spearman_p": "{:.3g}"})

# %%
panels = thesis_metrics[1:] + ["AM (ours, digit-CNN, not VGGish)", "FD (ours, digit-CNN, not VGGish)",
                               "DistillMOS (ours, predicted)"]
fig, axes = plt.subplots(2, 3, figsize=(10, 6))
corr = correlations.set_index("metric")
markers = dict(zip(families, "osD^vP"))
for ax, metric in zip(axes.flat, panels):
    for family in families:
        part = models18[models18.model == family]
        ax.scatter(part[metric], part["MOS (thesis, human)"], marker=markers[family], label=display_names[family],
                   edgecolor="black", s=35)
    x = models18[metric].to_numpy(float)
    y = models18["MOS (thesis, human)"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() >= 3 and np.ptp(x[ok]) > 0:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        xs = np.linspace(x[ok].min(), x[ok].max(), 10)
        ax.plot(xs, slope * xs + intercept, color="grey", linewidth=1)
    ax.set_title(f"{metric}\nr = {corr.loc[metric, 'pearson_r']:.2f}, rho = {corr.loc[metric, 'spearman_rho']:.2f}",
                 fontsize=8)
    ax.set_ylabel("MOS (thesis, human)")
    ax.grid(alpha=0.3)
axes.flat[0].legend(fontsize=7)
fig.tight_layout()
report.show_figure(fig, label="figure-32", chapter=CHAPTER,
                   caption="The thesis's human MOS of the 18 configurations against classifier-based metrics, with a "
                   "least-squares line and the computed correlations. Top: the thesis's VGGish IS, AM and FID "
                   "(data; Figure 32 of the thesis). Bottom: this run's digit-CNN AM and FD and DistillMOS "
                   f"({mode} mode" + (", barely trained models" if QUICK else "") + ").")

# %% [markdown]
# ### What the numbers say
#
# Every statement below is printed from the computed tables.

# %%
c = correlations.set_index("metric")
vgg = c.loc[["IS (thesis, VGGish)", "AM (thesis, VGGish)", "FID (thesis, VGGish)"]]
strongest = vgg.pearson_r.abs().idxmax()
print(f"Among the thesis's VGGish metrics, the largest |Pearson r| with MOS is {strongest} "
      f"(r = {vgg.loc[strongest, 'pearson_r']:.2f}, Spearman rho = {vgg.loc[strongest, 'spearman_rho']:.2f}); "
      + ", ".join(f"{m}: r = {vgg.loc[m, 'pearson_r']:.2f}" for m in vgg.index if m != strongest) + ".")
print(f"The thesis's statement that AM and MOS are 'notably highly correlated' "
      f"{'holds' if strongest == 'AM (thesis, VGGish)' else 'does not hold'} in the computation "
      f"(|r| = {abs(c.loc['AM (thesis, VGGish)', 'pearson_r']):.2f}).")
r_d = c.loc["D_STFT (thesis)"]
print(f"Published D_STFT against MOS: r = {r_d.pearson_r:.2f}, rho = {r_d.spearman_rho:.2f} "
      f"(p = {r_d.pearson_p:.2g}).")
best_d = models18.loc[models18["D_STFT (thesis)"].idxmin()]
mos_rank = int(models18["MOS (thesis, human)"].rank(ascending=False, method="min")[models18["D_STFT (thesis)"].idxmin()])
print(f"Lowest published D_STFT: {best_d.model} {best_d['size']} ({best_d['D_STFT (thesis)']:.4f}), whose MOS "
      f"({best_d['MOS (thesis, human)']:.2f}) ranks {mos_rank} of 18 — the discrepancy the thesis points out.")
monotone = []
for family in families:
    mos = models18[models18.model == family].set_index("size").loc[["small", "medium", "large"], "MOS (thesis, human)"]
    monotone.append((family, bool(mos.is_monotonic_increasing)))
not_monotone = [display_names[f] for f, ok in monotone if not ok]
print(f"MOS increases from small to medium to large for {sum(ok for _, ok in monotone)} of 6 families; "
      f"not for {', '.join(not_monotone) if not_monotone else 'none'} (the thesis says size 'consistently increases' "
      "quality).")
ours_c = c[c.source.str.startswith("ours")].dropna(subset=["pearson_r"])
if len(ours_c):
    top = ours_c.pearson_r.abs().idxmax()
    print(f"This run ({mode} mode): the metric most correlated with the thesis's human MOS is {top} "
          f"(r = {ours_c.loc[top, 'pearson_r']:.2f}, p = {ours_c.loc[top, 'pearson_p']:.2g}, n = "
          f"{int(ours_c.loc[top, 'n'])})."
          + (" In quick mode the models saw only a few training steps, so this measures how architectures score "
             "at initialisation, not their trained quality." if QUICK else ""))
gt = table7[table7.model == "ground_truth"].iloc[0]
print(f"Ground truth under the digit classifier: IS = {gt['IS (ours, digit-CNN, not VGGish)']:.3f} (at most 10), "
      f"AM = {gt['AM (ours, digit-CNN, not VGGish)']:.3f}, FD = {gt['FD (ours, digit-CNN, not VGGish)']:.3g}.")
print(f"Whole notebook ({mode} mode): {time.perf_counter() - notebook_start:.0f} s on this machine.")
