# %% [markdown]
# # 5.2 The trained zoo: quality, samples and quality–cost fronts
#
# *Thesis §5.1.2–5.1.3 (data, training), §5.2.1 (Figure 30), §5.2.2 (Table 7, Figure 32), §5.2.4 (Figure 34) and
# Appendix B.*
#
# The thesis trains the 18 vocoder configurations of {doc}`05_0_models` on LJSpeech with one budget for all, 120 hours
# each on one RTX A5000, rates them in a listening test (Table 7) and puts their quality against their cost on Pareto
# fronts (Figure 34). This chapter trains the same 18 configurations with the book's own small budget, listens to
# them, scores them, places them on the same fronts, and checks the thesis's statements about quality against its
# published data.
#
# ## What this chapter shows
#
# - **Bigger is not consistently better, even in the thesis's data.** §5.2.2 reads Table 7 as "increasing the size
#   of the architecture consistently increases the quality"; MOS rises with size in
#   {glue:text}`thesis_size_up` of 6 families (HiFi-GAN small {glue:text}`mos_hifigan_small:.2f` against medium
#   {glue:text}`mos_hifigan_medium:.2f`; WaveGrad medium {glue:text}`mos_wavegrad_medium:.2f` against large
#   {glue:text}`mos_wavegrad_large:.2f`). In the mini zoo, under equal CPU time, D-STFT improves with size in
#   {glue:text}`zoo_size_up` of 6 families.
# - **An equal budget is not equal work.** Within the same {glue:text}`small_budget_s:.0f` CPU-seconds the small
#   configurations made between {glue:text}`small_fewest_steps` ({glue:text}`small_fewest`) and
#   {glue:text}`small_most_steps` ({glue:text}`small_most`) optimisation steps, a {glue:text}`small_ratio:.0f`-fold
#   spread.
# - **Intelligibility after minutes of CPU.** Held-out spoken digits resynthesised by the best HiFi-GAN are still
#   recognised {glue:text}`digits_hifigan_pct:.0f` % of the time (ground truth {glue:text}`digits_truth_pct:.0f` %,
#   chance 10 %); through the best diffusion or flow model, {glue:text}`digits_slow_pct:.0f` %.
# - **Two predictors of MOS, two verdicts.** DNSMOS (overall score, OVRL) gives
#   the recordings {glue:text}`dns_truth:.2f` and rates {glue:text}`dns_below` of the {glue:text}`dns_models` trained
#   configurations below them, the highest {glue:text}`dns_best_name` at {glue:text}`dns_best:.2f`. DistillMOS rates
#   {glue:text}`dmos_above` of {glue:text}`dmos_models` above the recordings ({glue:text}`dmos_truth:.2f`), so the
#   fronts use DNSMOS.
# - **Untrained is not trained.** {glue:text}`n_untrained` configurations ({glue:text}`untrained_names`) made fewer
#   optimisation steps than the 3-step baseline or stayed within 1 % of it; they are left off the fronts.
# - **The fronts.** On quality against GFLOPs per second of audio the thesis's front holds
#   {glue:text}`thesis_front_n` of 18 configurations ({glue:text}`thesis_front_names`); the mini zoo's D-STFT front
#   holds {glue:text}`zoo_front_n` of the {glue:text}`n_trained_by_budget` trained ones ({glue:text}`zoo_front_names`),
#   its DNSMOS front {glue:text}`zoo_dns_front_n` ({glue:text}`zoo_dns_front_names`).
# - **What a quality costs here.** Getting halfway from their first validation to their family's best took the GANs
#   {glue:text}`half_gan_min_wh:.2f`–{glue:text}`half_gan_max_wh:.2f` Wh of estimated CPU energy and the diffusion
#   and flow models {glue:text}`half_slow_min_wh:.2f`–{glue:text}`half_slow_max_wh:.2f` Wh;
#   {glue:text}`n_slow_larger_half` of their {glue:text}`n_slow_larger` medium and large configurations got there
#   within the budget. The thesis's worst-case budget is {glue:text}`thesis_budget_kwh:.1f` kWh per configuration,
#   {glue:text}`thesis_ratio:,.0f` times the largest mini run.
#
# Every claim of the thesis checked here is gathered, with the value computed in this build, in
# {ref}`the claims table <claims-5-2>` at the end.

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

# %% tags=["hide-input"]
import matplotlib

matplotlib.use("Agg")
import pandas as pd
from IPython.display import HTML, display

from greenaudio import carbon, data, listening, report
from greenaudio.chapters import quality
from greenaudio.chapters.zoo import get_protocol
from greenaudio.orchestration import export as artefacts
from greenaudio.orchestration import zoo

protocol = get_protocol(PROTOCOL if QUICK else "full").replace(device=DEVICE)
export_root = EXPORT_ROOT or (report.results_dir(CHAPTER) / "zoo" if TRAIN or not QUICK else None)
if TRAIN or not QUICK:
    ctx = artefacts.build_context(protocol.name, export_root)
    artefacts.export_ground_truth(ctx)
    zoo.train_zoo(protocol, models=TRAIN_MODELS, sizes=TRAIN_SIZES, ray_address=RAY_ADDRESS,
                  on_done=lambda run: artefacts.export_configuration(run.run_dir, ctx))
PROTOCOL, EXPORT_ROOT = protocol.name, export_root
TABLE_COLUMNS = {"n_clips": "Clips", "d_stft": "D-STFT", "baseline_d_stft": "D-STFT (3 steps)",
                 "baseline_pesq_wb": "PESQ-WB (3 steps)", "distillmos": "DistillMOS",
                 "baseline_distillmos": "DistillMOS (3 steps)", "digit_accuracy": "Digits recognised (%)",
                 "thesis_mos": "MOS (thesis)", "thesis_d_stft": "D-STFT (thesis)", "dnsmos_ovrl": "DNSMOS OVRL",
                 "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "DNSMOS BAK", "dnsmos_p808": "DNSMOS P.808",
                 "dnsmos_on": "DNSMOS on"}
TABLE_FORMATS = {"d_stft": "{:.3f}", "baseline_d_stft": "{:.3f}", "pesq_wb": "{:.2f}", "baseline_pesq_wb": "{:.2f}",
                 "stoi": "{:.2f}", "distillmos": "{:.2f}", "baseline_distillmos": "{:.2f}",
                 "digit_accuracy": lambda v: f"{100 * v:.0f}", "thesis_mos": "{:.2f}", "thesis_d_stft": "{:.4f}",
                 "dnsmos_ovrl": "{:.2f}", "dnsmos_sig": "{:.2f}", "dnsmos_bak": "{:.2f}", "dnsmos_p808": "{:.2f}"}


def layout(table, columns=None, formats=None):
    """The headers and formats of the chapter's shared columns that ``table`` has, with ``columns``/``formats``."""
    names, shapes = {**TABLE_COLUMNS, **(columns or {})}, {**TABLE_FORMATS, **(formats or {})}
    return {"columns": {k: v for k, v in names.items() if k in table.columns},
            "formats": {k: v for k, v in shapes.items() if k in table.columns}}
scores = quality.load_zoo_scores(PROTOCOL, EXPORT_ROOT)
if scores.empty:
    raise SystemExit(f"nothing is shipped for protocol {PROTOCOL!r}: run `greenaudio train --protocol {PROTOCOL} --export`")
trained = scores[scores.model != "ground_truth"]
budgets = trained.groupby("size").budget_s.first()
gan_max_steps = int(trained[trained.family == "gan"].steps.max())
glued = report.glue(
    n_trained=len(trained), protocol=PROTOCOL, budget_small_min=budgets.get("small", float("nan")) / 60,
    budget_large_min=budgets.get("large", float("nan")) / 60,
    budget_clock="CPU time on one thread" if protocol.clock == "process" else "wall-clock time",
    disc_start=f"{protocol.discriminator_start_step:,}", gan_max_steps=gan_max_steps,
    gan_losses="their reconstruction loss alone" if gan_max_steps < protocol.discriminator_start_step
    else "their reconstruction and adversarial losses")

# %% [markdown]
# ## The protocol: the same CPU time for every configuration
#
# The thesis gives every configuration the same wall-clock budget. This book's default build cannot train for
# 2,160 GPU hours, so the shipped zoo was trained under the *{glue:text}`protocol`* protocol: each of the
# {glue:text}`n_trained` configurations gets the same budget of **{glue:text}`budget_clock`**,
# {glue:text}`budget_small_min:.0f` minutes for the small ones and {glue:text}`budget_large_min:.0f` minutes for the
# medium and large ones. CPU time rather than wall-clock time, because on a shared machine other work slows a run
# down: counting the training process's own CPU seconds keeps the budget equal whatever else runs (with one thread
# the two clocks agree on an idle machine). Two consequences shape everything below. The GANs' discriminator joins
# after {glue:text}`disc_start` generator steps, as in the recipe the zoo follows, and the GANs made at most
# {glue:text}`gan_max_steps`, so they were trained on {glue:text}`gan_losses`. And the corpus is the offline
# espeak-ng speech of Chapter 5 (320 sentences, one synthetic voice), far easier to learn than LJSpeech, so the scores
# here show the shape of the thesis's argument, not its values.
#
# A more natural corpus was tried and not adopted: the same sentences spoken by a Piper (VITS) voice. After
# {glue:text}`piper_budget_s:.0f` CPU-seconds (the trial's budget) HiFi-GAN small trained on it had made
# {glue:text}`piper_steps` steps; on held-out Piper clips its STOI is {glue:text}`piper_stoi:.2f`, against
# {glue:text}`espeak_on_piper_stoi:.2f` for the espeak-trained model that never heard that voice (a difference of
# {glue:text}`piper_stoi_gain:+.3f`): the short budget buys no intelligibility on natural speech, which belongs to
# the full protocol on a GPU.
#
# How the shipped files were made, and how to train the zoo yourself: {doc}`../book/shipped-data`; on a cluster:
# {doc}`../book/running-full-protocol`.

# %%
trial = data.load_piper_trial()
if trial is not None:
    on_piper = trial.scores.set_index(["trained_on", "scored_on"]).stoi
    report.glue(piper_budget_s=trial.budget_s, piper_steps=trial.steps, piper_stoi=on_piper["Piper", "Piper"],
                espeak_on_piper_stoi=on_piper["espeak-ng", "Piper"],
                piper_stoi_gain=on_piper["Piper", "Piper"] - on_piper["espeak-ng", "Piper"])
    report.show_table(trial.scores, label="piper-trial", chapter=CHAPTER,
                      caption="The corpus trial: HiFi-GAN small under the mini protocol, trained on the Piper voice or "
                      "on espeak-ng, scored on held-out clips of either voice (shipped results).",
                      columns={"trained_on": "Trained on", "scored_on": "Scored on", "n_clips": "Clips",
                               "d_stft": "D-STFT"},
                      formats={"d_stft": "{:.3f}", "pesq_wb": "{:.2f}", "stoi": "{:.2f}"})
else:  # the trial's files are not shipped: the paragraph reads "nan"
    report.glue(**dict.fromkeys(["piper_budget_s", "piper_stoi", "espeak_on_piper_stoi", "piper_stoi_gain"],
                                float("nan")), piper_steps="n/a")
small = quality.step_spread(scores).set_index("budget_s").loc[budgets["small"]]
report.glue(small_budget_s=budgets["small"], small_fewest_steps=small.fewest_steps, small_most_steps=small.most_steps,
            small_fewest=report.configuration_name(*small.fewest.rsplit("-", 1)),
            small_most=report.configuration_name(*small.most.rsplit("-", 1)), small_ratio=small.ratio)
report.show_table(quality.training_runs(scores), label="training-runs", chapter=CHAPTER,
                  caption="The training runs: optimisation steps made within each configuration's CPU-time budget, "
                  "the CPU and wall time they took, and their training energy (estimated from CPU time, see the end "
                  "of the chapter).",
                  columns={"budget_s": "Budget (CPU s)", "train_energy_j": "Training energy (J)"},
                  main=["configuration", "budget_s", "steps", "cpu_time_s", "wall_s", "train_energy_j"],
                  formats={"budget_s": "{:.0f}", "cpu_time_s": "{:.0f}", "wall_s": "{:.0f}",
                           "train_energy_j": "{:.0f}"})

# %% [markdown]
# ## Re-verifying the shipped artefacts
#
# A build that does not train reads the shipped zoo, so it first checks it: each of the
# {glue:text}`n_shipped_files` shipped files against its sha256, then the samples of {glue:text}`n_regenerated`
# checkpoints regenerated from their weights and compared with the shipped scores. The build fails beyond the
# tolerance.

# %%
verified = artefacts.verify_artefacts(PROTOCOL, EXPORT_ROOT, n_weights=VERIFY_CONFIGS)
report.glue(n_shipped_files=len(artefacts.load_manifest(quality.protocol_dir(PROTOCOL, EXPORT_ROOT))),
            n_regenerated=len(verified))
report.show_table(quality.verification_table(verified), label="verification", chapter=CHAPTER,
                  caption="Shipped checkpoints regenerated in this build: each score of their samples as shipped and "
                  "as recomputed, the difference and the tolerance.",
                  columns={"metric": "Score", "manifest": "Shipped", "recomputed": "Recomputed",
                           "difference": "Difference", "tolerance": "Tolerance", "within": "Within?"},
                  main=["configuration", "metric", "manifest", "recomputed", "difference", "tolerance"],
                  formats={"metric": {"d_stft": "D-STFT", "pesq_wb": "PESQ-WB"}.get, "manifest": "{:.4f}",
                           "recomputed": "{:.4f}", "difference": "{:.1g}", "tolerance": "{:g}"})

# %% [markdown]
# ## Quality on held-out clips (Table 7 analogue)
#
# Each trained model reconstructs the held-out clips from their mel spectrograms (diffusion and flow models with
# their default, seeded procedure; see {doc}`05_0_models`). The scores: $\mathcal{D}_{STFT}$ (Eq. 29, a spectral
# distance to the original, lower is better), PESQ-WB (1 to 4.64) and STOI (intelligibility, 0 to 1), both intrusive;
# the share of {glue:text}`n_digits` held-out spoken digits (three unseen voices) that the book's digit classifier
# still recognises after resynthesis, for each family's best configuration; and two neural *predictions* of MOS, not
# a listening test: DNSMOS (its overall score, OVRL, 1 to 5) and DistillMOS. Beside each score, the same
# configuration after 3 optimisation steps shows what the training bought. Configurations are scored on the
# {glue:text}`clips_full` clips of the test split, except the {glue:text}`n_prefix` slowest to generate here, scored
# on its first {glue:text}`clips_prefix`. PESQ is ITU-T P.862, withdrawn in 2024 in favour of P.863 (not open).
#
# Of the {glue:text}`n_trained` configurations, {glue:text}`n_better` reconstruct the held-out clips better than
# after 3 steps (D-STFT lower by more than 1 %), {glue:text}`n_within` stay within 1 % and {glue:text}`n_worse`
# got worse. The best GAN reaches a D-STFT of {glue:text}`best_dstft:.2f` ({glue:text}`best_dstft_name`), the best
# diffusion or flow model {glue:text}`slow_dstft:.2f`.

# %%
versus = quality.compare_with_baseline(scores)
verdicts = versus.verdict.value_counts()
clips = trained.n_clips.value_counts()
gans = trained.family == "gan"
best_gan = trained[gans].sort_values("d_stft").iloc[0]
digits = quality.best_per_family(scores).set_index("model").digit_accuracy
truth = scores[scores.model == "ground_truth"].iloc[0]
report.glue(n_digits=int(truth.n_digits), clips_full=int(clips.index.max()), clips_prefix=int(clips.index.min()),
            n_prefix=int((trained.n_clips < clips.index.max()).sum()), n_better=int(verdicts.get("better", 0)),
            n_within=int(verdicts.get("within", 0)), n_worse=int(verdicts.get("worse", 0)),
            best_dstft=best_gan.d_stft, best_dstft_name=best_gan.display, slow_dstft=trained[~gans].d_stft.min(),
            digits_hifigan_pct=100 * digits.get("hifigan", float("nan")), digits_truth_pct=100 * truth.digit_accuracy,
            digits_slow_pct=100 * digits.drop(["melgan", "hifigan"], errors="ignore").max())
table7 = quality.table7_analogue(scores).drop(columns=["dnsmos_sig", "dnsmos_bak", "dnsmos_p808"], errors="ignore")
report.show_table(table7, label="table-7", chapter=CHAPTER,
                  caption="Quality of the trained configurations on held-out clips: D-STFT beside its value after 3 "
                  "steps, PESQ-WB, STOI, DNSMOS and the digits still recognised (each family's best only). The "
                  "folded table adds the steps, DistillMOS and the thesis's Table 7 values (LJSpeech, 120 h, 41 "
                  "listeners).",
                  main=["configuration", "d_stft", "baseline_d_stft", "pesq_wb", "stoi", "dnsmos_ovrl",
                        "digit_accuracy"],
                  notes=[], **layout(table7))

# %% [markdown]
# **DNSMOS.** Microsoft's DNSMOS predicts the ratings of ITU-T P.835 (speech signal SIG, background BAK, overall OVRL)
# and of P.808 from the waveform alone. It is scored on the held-out clips for the ground truth and the
# {glue:text}`dns_held_out_n` configurations whose weights are shipped (regenerated from them), and on the four shipped
# samples for the {glue:text}`dns_samples_n` others (the last column says which). It rates the recordings
# {glue:text}`dns_truth:.2f` and {glue:text}`dns_below` of the {glue:text}`dns_models` configurations below them.
# Configurations without a DNSMOS score (left off its rows of the figures): {glue:text}`dns_missing`.

# %%
dns = quality.configurations_without(scores, "dnsmos_ovrl")
scored = trained.dropna(subset=["dnsmos_ovrl"])
truth_dns = float(truth.dnsmos_ovrl) if pd.notna(truth.dnsmos_ovrl) else float("nan")
best_dns = scored.sort_values("dnsmos_ovrl", ascending=False).iloc[0] if len(scored) else None
report.glue(dns_truth=truth_dns, dns_below=int((scored.dnsmos_ovrl < truth_dns).sum()), dns_models=len(scored),
            dns_best_name=best_dns.display if best_dns is not None else "none",
            dns_best=float(best_dns.dnsmos_ovrl) if best_dns is not None else float("nan"),
            dns_held_out_n=int(scored.dnsmos_on.str.startswith("held-out").sum()),
            dns_samples_n=int(scored.dnsmos_on.str.startswith("shipped").sum()),
            dns_missing=", ".join(dns) if dns else "none")
dnsmos_table = quality.table7_analogue(scores)[["configuration", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak",
                                                "dnsmos_p808", "dnsmos_on"]]
report.show_table(dnsmos_table, label="dnsmos", chapter=CHAPTER,
                  caption="DNSMOS of the recordings and of every trained configuration (predicted MOS, 1 to 5): "
                  "overall, speech signal and background (P.835) and P.808, and the clips each was scored on.",
                  notes=[], **layout(dnsmos_table))

# %% [markdown]
# ## What the budget did not train
#
# A configuration whose budget bought fewer optimisation steps than the quick baseline's
# {glue:text}`min_steps`, or whose held-out D-STFT stays within 1 % of its own 3-step model's, was not trained by this
# budget, whatever its scores: {glue:text}`n_untrained` of the {glue:text}`n_trained` configurations
# ({glue:text}`untrained_names`). They keep their rows in the tables, are drawn as hollow grey markers on the fronts
# below and are left out of every front's computation.

# %%
MIN_STEPS = get_protocol("quick").max_steps
untrained_rows = quality.mark_untrained(scores, min_steps=MIN_STEPS)
untrained = list(untrained_rows.config[untrained_rows.untrained])
names_untrained = [report.configuration_name(*c.rsplit("-", 1)) for c in untrained]
report.glue(min_steps=MIN_STEPS, n_untrained=len(untrained), n_trained_by_budget=len(trained) - len(untrained),
            untrained_names=", ".join(names_untrained) if untrained else "none")
shown = untrained_rows[untrained_rows.untrained].assign(
    configuration=names_untrained,
    reason=["; ".join(r for r, on in ((f"fewer than {MIN_STEPS} steps", few), ("within 1 % of 3 steps", near)) if on)
            for few, near in zip(untrained_rows.few_steps[untrained_rows.untrained],
                                 untrained_rows.near_baseline[untrained_rows.untrained])])
shown = shown[["configuration", "steps", "d_stft", "baseline_d_stft", "change", "reason"]]
report.show_table(shown, label="untrained", chapter=CHAPTER,
                  caption="The configurations this budget did not train: their steps, held-out D-STFT beside their "
                  "3-step model's, the relative change and why they count as untrained.",
                  notes=[], **layout(shown, {"change": "Change", "reason": "Why"},
                                     {"change": lambda v: f"{100 * v:+.2f} %"}))

# %% [markdown]
# **Sampling as the reference implementations do it.** DiffWave's reference sampler clamps the waveform to [-1, 1]
# after every reverse step and WaveGrad's clamps its predicted clean signal at every step; the papers' Algorithm 2
# does neither. The zoo follows the references by default; the table compares both on DiffWave small with its shipped
# trained weights and on WaveGrad small initialised from a fixed seed (its trained weights, whose output was noise, are
# not shipped; the clamp bounds what the sampler writes whatever the weights).

# %%
clamps = quality.compare_sampler_clamps(PROTOCOL, root=EXPORT_ROOT, utterances=1 if QUICK else None)
report.show_table(clamps, label="sampler-clamps", chapter=CHAPTER,
                  caption="Diffusion models sampled with the reference implementations' clamp (the default) and "
                  "without it (Algorithm 2 as printed), same seed: D-STFT, PESQ-WB and the peak amplitude before the "
                  "scores clip the waveform to [-1, 1]; DiffWave small with its shipped trained weights, WaveGrad "
                  "small untrained (seeded initialisation, its weights are not shipped).",
                  columns={"clamp": "Clamp", "reference": "Reference?", "weights": "Weights", "d_stft": "D-STFT",
                           "peak": "Peak", "utterances": "Utterances"},
                  main=["configuration", "clamp", "reference", "weights", "d_stft", "pesq_wb", "peak"],
                  formats={"clamp": lambda c: c.replace("_", " "), "d_stft": "{:.4f}", "pesq_wb": "{:.2f}",
                           "peak": "{:.2f}"})

# %% [markdown]
# ## Convergence (Figure 30 analogue)
#
# The thesis follows MOSNet over 120 hours; here $\mathcal{D}_{STFT}$ of four validation clips is followed over the
# minutes of the budget ({glue:text}`budget_small_min:.0f` for the small configurations,
# {glue:text}`budget_large_min:.0f` for the others).

# %%
curves = quality.load_curves(PROTOCOL, EXPORT_ROOT)
report.show_figure(quality.plot_convergence(curves, "d_stft"),
                   label="figure-30", chapter=CHAPTER,
                   caption="D-STFT of 4 validation clips over CPU time during training, one panel per family, one "
                   "line per size (after Figure 30 of the thesis, which plots MOSNet over 120 h).",
                   alt="Six panels, one per family, each with up to three lines of validation D-STFT against CPU "
                   "minutes for the small, medium and large configurations.")

# %% [markdown]
# ## Energy to reach a quality
#
# The same curves say what a quality cost. Two D-STFT levels are fixed per family on the validation scale before
# asking who reaches them: the value the family's best model (lowest held-out D-STFT among the trained) had at its
# last validation (the "best" level), and halfway between that and its first validation (first table). For every
# configuration the second table gives the CPU time of the first validation at or below each level and the training
# energy spent by then, estimated as the run's own energy per CPU-second ({glue:text}`j_per_cpu_s:.1f` J, from its
# training record) times that CPU time.
#
# {glue:text}`n_reach_half` of the {glue:text}`n_trained` configurations reached their family's halfway level within
# the budget and {glue:text}`n_reach_best` its best level; {glue:text}`n_slow_larger_half` of the
# {glue:text}`n_slow_larger` medium and large diffusion and flow configurations reached even halfway. Where a larger
# configuration of a family reached halfway, it did so with less energy than the family's small one in
# {glue:text}`n_larger_cheaper` of {glue:text}`n_larger_reached` cases. The whole mini budget of a configuration is at
# most {glue:text}`mini_max_wh:.2f` Wh; the thesis's worst-case training energy for 120 hours on one RTX A5000 at
# 230 W is {glue:text}`thesis_budget_kwh:.1f` kWh per configuration, {glue:text}`thesis_ratio:,.0f` times more. The
# levels here are those of a few CPU minutes on a synthetic voice: they say how far each configuration got, not what
# the thesis's budget buys.

# %%
levels = quality.family_levels(curves, scores, exclude=untrained)
reach = quality.energy_to_quality(curves, scores, levels)
thesis_budget_kwh = carbon.compute_worst_case_energy_kwh("RTX A5000", 1, 120)
slow_larger = reach[~reach.model.isin(["melgan", "hifigan"]) & (reach["size"] != "small")]
small_half = reach[reach["size"] == "small"].set_index("model").energy_j_half
larger = reach[(reach["size"] != "small") & reach.energy_j_half.notna()]
gan_half = reach[reach.model.isin(["melgan", "hifigan"])].energy_j_half.dropna() / 3600
slow_half = reach[~reach.model.isin(["melgan", "hifigan"])].energy_j_half.dropna() / 3600
report.glue(j_per_cpu_s=reach.j_per_cpu_s.median(), half_gan_min_wh=gan_half.min(), half_gan_max_wh=gan_half.max(),
            half_slow_min_wh=slow_half.min(), half_slow_max_wh=slow_half.max(), n_reach_half=int(reach.energy_j_half.notna().sum()),
            n_reach_best=int(reach.energy_j_best.notna().sum()), n_slow_larger=len(slow_larger),
            n_slow_larger_half=int(slow_larger.energy_j_half.notna().sum()),
            n_larger_reached=len(larger),
            n_larger_cheaper=int((larger.energy_j_half.to_numpy() < small_half.reindex(larger.model).to_numpy()).sum()),
            mini_max_wh=reach.budget_energy_j.max() / 3600, thesis_budget_kwh=thesis_budget_kwh,
            thesis_ratio=thesis_budget_kwh * 3.6e6 / reach.budget_energy_j.max())
shown_levels = levels.assign(family=[report.configuration_name(m) for m in levels.model],
                             best_model=[report.configuration_name(*c.rsplit("-", 1)) for c in levels.best_config])
report.show_table(shown_levels[["family", "best_model", "start", "halfway", "best"]], label="quality-levels",
                  chapter=CHAPTER,
                  caption="The two D-STFT levels of each family (validation clips): its best model's first and last "
                  "validation values and halfway between them.",
                  columns={"family": "Family", "best_model": "Best model", "start": "First validation",
                           "halfway": "Halfway level", "best": "Best level (last validation)"},
                  formats={"start": "{:.3f}", "halfway": "{:.3f}", "best": "{:.3f}"})
never = float("inf")  # shown as "not reached"; the CSV keeps inf
reach_table = reach.assign(**{c: reach[c].fillna(never) for c in ("cpu_s_half", "cpu_s_best", "steps_half",
                                                                  "steps_best")},
                           wh_half=(reach.energy_j_half / 3600).fillna(never),
                           wh_best=(reach.energy_j_best / 3600).fillna(never),
                           budget_wh=reach.budget_energy_j / 3600)
reach_table = reach_table[["configuration", "level_half", "cpu_s_half", "wh_half", "level_best", "cpu_s_best",
                           "wh_best", "steps_half", "steps_best", "budget_wh", "energy_method"]]


def reached(spec):
    return lambda v: "not reached" if v == never else spec.format(v)


report.show_table(reach_table, label="energy-to-quality", chapter=CHAPTER,
                  caption="When each configuration's validation D-STFT first reached its family's halfway and best "
                  "levels: CPU time and estimated training energy by then, beside the energy of its whole budget "
                  "(the folded table adds the levels and steps). The thesis's budget, for comparison: "
                  f"{thesis_budget_kwh * 1000:,.0f} Wh per configuration (120 h on one RTX A5000 at 230 W, worst "
                  "case).",
                  main=["configuration", "cpu_s_half", "wh_half", "cpu_s_best", "wh_best", "budget_wh"],
                  columns={"level_half": "Halfway level", "cpu_s_half": "Halfway (CPU s)",
                           "wh_half": "Halfway (Wh)", "level_best": "Best level",
                           "cpu_s_best": "Best (CPU s)", "wh_best": "Best (Wh)",
                           "steps_half": "Steps to halfway", "steps_best": "Steps to best",
                           "budget_wh": "Whole budget (Wh)", "energy_method": "Energy method"},
                  formats={"level_half": "{:.3f}", "level_best": "{:.3f}", "cpu_s_half": reached("{:.0f}"),
                           "cpu_s_best": reached("{:.0f}"), "wh_half": reached("{:.3f}"),
                           "wh_best": reached("{:.3f}"), "steps_half": reached("{:.0f}"),
                           "steps_best": reached("{:.0f}"), "budget_wh": "{:.3f}"}, notes=[])

# %% [markdown]
# ## Listen
#
# The same four held-out utterances through every shipped configuration, ground truth first (FLAC, 16 kHz, embedded
# in the page so that they play offline; the table scrolls sideways to the other utterances). The
# {doc}`../book/listening-test` page rates them blind.

# %%
in_order = list(report.order_configurations(trained).config)
display(HTML('<div class="ga-scroll">' + quality.audio_grid_html(PROTOCOL, configs=in_order, root=EXPORT_ROOT)
             + "</div>"))
report.show_figure(quality.plot_spectrograms(PROTOCOL, SPECTROGRAM_UTTERANCE, root=EXPORT_ROOT),
                   label="spectrograms", chapter=CHAPTER,
                   caption=f"Spectrograms of utterance {SPECTROGRAM_UTTERANCE}, one row per family: the ground "
                   "truth, then the family's small, medium and large samples (log magnitude, 512-sample Hann "
                   "frames, 0-8 kHz).",
                   alt="A grid of spectrograms: one row per family; in each row the ground truth and the small, "
                   "medium and large samples of the same utterance.")

# %% [markdown]
# ## Quality against cost (Figure 34 analogue)
#
# Each trained configuration is placed on planes of quality (DNSMOS OVRL as the predicted MOS, PESQ-WB,
# $\mathcal{D}_{STFT}$) against its inference cost (GFLOPs per second of audio counted in this build, and the
# real-time factor and generation energy of the shipped CPU speed records of {doc}`05_0_models`) and against its
# training energy; the Pareto-optimal ones are circled. The {glue:text}`n_untrained` configurations the budget did not
# train are drawn as hollow grey markers and take no part in any front. Readers' ratings from the
# {doc}`../book/listening-test` page become the first row, labelled "listening test", the human MOS the thesis uses:
# this build has {glue:text}`n_ratings` ratings of {glue:text}`n_rated` configurations.
#
# DistillMOS stays off the fronts: it rates {glue:text}`dmos_above` of the {glue:text}`dmos_models` trained models
# above the ground truth, which it predicts at {glue:text}`dmos_truth:.2f`, among them {glue:text}`dmos_far_name`,
# whose D-STFT is {glue:text}`dmos_far_dstft:.2f`. A predictor that prefers such output to the recordings cannot rank
# this corpus; DNSMOS rates {glue:text}`dns_below` of the {glue:text}`dns_models` below them. Both were trained on
# natural speech and predict MOS without a reference, while $\mathcal{D}_{STFT}$ and PESQ-WB compare each output with
# its original.

# %%
costs = quality.compute_inference_costs(list(zip(trained.model, trained["size"])), seconds=COST_AUDIO_S)
heard = listening.listening_mos_table()
plane = quality.add_listening_mos(quality.quality_cost_table(scores, costs), heard)
caveat = quality.distillmos_against_ground_truth(scores)
far = caveat["above"].iloc[0]
report.glue(n_ratings=int(heard.n_ratings.sum()) if len(heard) else 0, n_rated=len(heard),
            dmos_above=caveat["n_above"], dmos_models=caveat["n_models"], dmos_truth=caveat["ground_truth"],
            dmos_far_name=report.configuration_name(far.model, far["size"]), dmos_far_dstft=far.d_stft)
fig, optimal = quality.plot_quality_cost_fronts(plane, quality.cost_axes(plane), untrained=untrained)
report.show_figure(fig, label="figure-34-live", chapter=CHAPTER,
                   caption="Quality of the trained zoo against inference GFLOPs (counted), real-time factor and "
                   "generation energy per 100 s of audio (shipped CPU records), and training energy; each axis says "
                   "how its numbers were obtained. Pareto-optimal configurations circled (letters: S/M/L size); "
                   "hollow grey: not trained by this budget, left out of the fronts. The thesis's Figure 34 is drawn "
                   "from its data in {doc}`05_1_cost_benchmark`.",
                   alt="A grid of scatter plots, one row per quality score (DNSMOS, PESQ-WB, D-STFT) and one column "
                   "per cost, each point a configuration marked by family and size, the Pareto-optimal ones circled "
                   "and the untrained ones drawn hollow and grey.")

# %% [markdown]
# The configurations on the thesis's fronts and on the mini zoo's (every other configuration is on none):

# %%
thesis = quality.thesis_quality_cost()
fronts = thesis[["model", "size"]].assign(
    configuration=[report.configuration_name(m, s) for m, s in zip(thesis.model, thesis["size"])],
    thesis_gflops=quality.pareto_front(thesis, "gflops_per_audio_s", "mos"),
    thesis_energy=quality.pareto_front(thesis, "e_gen_printed", "mos"))
zoo_plane = report.order_configurations(plane)
planes = {"zoo_gflops": ("gflops_per_audio_s", "d_stft", "min"),
          "zoo_energy": ("e_gen_j_per_100_audio_s", "d_stft", "min"),
          "zoo_pesq_gflops": ("gflops_per_audio_s", "pesq_wb", "max"),
          "zoo_dns_gflops": ("gflops_per_audio_s", "dnsmos_ovrl", "max")}
zoo_plane = zoo_plane.join(quality.zoo_fronts(zoo_plane, planes, untrained=untrained))
fronts = fronts.merge(zoo_plane[["model", "size", *planes]], on=["model", "size"], how="left")
fronts[list(planes)] = fronts[list(planes)].fillna(False).astype(bool)
fronts = fronts.drop(columns=["model", "size"])
report.glue(thesis_front_n=int(fronts.thesis_gflops.sum()), zoo_front_n=int(fronts.zoo_gflops.sum()),
            thesis_front_names=", ".join(fronts.configuration[fronts.thesis_gflops]),
            zoo_front_names=", ".join(fronts.configuration[fronts.zoo_gflops]),
            zoo_dns_front_n=int(fronts.zoo_dns_gflops.sum()),
            zoo_dns_front_names=", ".join(fronts.configuration[fronts.zoo_dns_gflops]) or "none")
on_a_front = fronts[fronts.drop(columns="configuration").any(axis=1)]
report.show_table(on_a_front, label="fronts", chapter=CHAPTER,
                  caption="Configurations on at least one Pareto front: the thesis's MOS against GFLOPs and against "
                  "GPU energy (Tables 7 and 8), then the mini zoo's D-STFT, PESQ-WB and DNSMOS against counted "
                  "GFLOPs and estimated CPU energy (the untrained left out).",
                  columns={"thesis_gflops": "Thesis, GFLOPs", "thesis_energy": "Thesis, energy",
                           "zoo_gflops": "D-STFT, GFLOPs", "zoo_energy": "D-STFT, energy",
                           "zoo_pesq_gflops": "PESQ, GFLOPs", "zoo_dns_gflops": "DNSMOS, GFLOPs"})

# %% [markdown]
# ## The thesis's automatic metrics against its listeners (Figure 32, from data)
#
# The thesis plots its listening-test MOS against three scores of a pretrained VGGish classifier (IS, AM, FID) and
# finds AM and MOS "notably highly correlated". Over its 18 configurations (Table 7), AM has Pearson
# r = {glue:text}`am_r:.2f` with MOS; the largest |r| of the three VGGish scores is {glue:text}`top_vggish`'s.

# %%
correlations = quality.thesis_metric_correlations()
report.show_table(correlations, label="correlations-mos", chapter=CHAPTER,
                  caption="Correlation of each of the thesis's metrics with its human MOS over its 18 configurations "
                  "(computed from Table 7). Negative values are expected for lower-is-better metrics (D-STFT, AM, "
                  "FID).",
                  columns={"metric": "Metric", "n": "Configurations", "pearson_r": "Pearson r",
                           "pearson_p": "p (Pearson)", "spearman_rho": "Spearman ρ", "spearman_p": "p (Spearman)"},
                  formats={"metric": lambda m: m.replace("D_STFT", "D-STFT").replace("thesis, ", "").replace(" (thesis)", ""), "pearson_r": "{:.3f}",
                           "pearson_p": "{:.2g}", "spearman_rho": "{:.3f}", "spearman_p": "{:.2g}"})
by_metric = correlations.set_index("metric")
vggish = by_metric[by_metric.index.str.contains("VGGish")]
top_vggish = vggish.pearson_r.abs().idxmax()
report.glue(am_r=by_metric.loc["AM (thesis, VGGish)", "pearson_r"], top_vggish=top_vggish.split(" ")[0])
fig32, _ = quality.plot_thesis_figure32(seed=0)
report.show_figure(fig32, label="figure-32", chapter=CHAPTER,
                   caption="The thesis's listening-test MOS against its three VGGish metrics (Table 7), each with a "
                   "least-squares line and its 95 % bootstrap band; Pearson r and Spearman rho in the titles.",
                   thesis="Figure 32",
                   alt="Three scatter plots of the thesis's MOS against IS, AM and FID, one point per configuration "
                   "coloured by family, each with a fitted line and its confidence band.")

# %% [markdown]
# ## The thesis's claims, checked
#
# Each statement of §5.2.2 and §5.2.4 about quality, checked on the thesis's own data (Tables 7 and 8) and, where the
# mini zoo can say something, on this build's. "Few" on a front is read as at most a quarter of the configurations,
# "quite low" as the lower half of the MOS ranking.

# %% tags=["hide-input"]
size_thesis = quality.size_trend(thesis, "mos")
size_zoo = quality.size_trend(trained, "d_stft", direction="min")
mos = thesis.set_index("config").mos
report.glue(thesis_size_up=int(size_thesis.improves.sum()), zoo_size_up=int(size_zoo.improves.sum()),
            **{f"mos_{c.replace('-', '_')}": mos[c] for c in ("hifigan-small", "hifigan-medium", "wavegrad-medium",
                                                              "wavegrad-large")})
leaders = thesis.model.isin(["hifigan", "wavegrad"])
lowest = thesis.sort_values("d_stft").iloc[0]
mos_rank = int(thesis.mos.rank(ascending=False, method="min")[lowest.name])
subfront = quality.pareto_front(thesis, "gflops_per_audio_s", "mos", within_family=True).groupby(thesis.model).all()
n_front, n_zoo_front = int(fronts.thesis_gflops.sum()), int(fronts.zoo_gflops.sum())
same_thesis = set(fronts.configuration[fronts.thesis_gflops]) == set(fronts.configuration[fronts.thesis_energy])
same_zoo = set(fronts.configuration[fronts.zoo_gflops]) == set(fronts.configuration[fronts.zoo_energy])
top = top_vggish.split(" ")[0]
claims = pd.DataFrame([
    ("Increasing the size … consistently increases the quality", "5.2.2", "6 of 6 families",
     f"{size_thesis.improves.sum()} of 6 (Table 7, MOS)", bool(size_thesis.improves.all())),
    ("The same, in the mini zoo", "5.2.2", "6 of 6 families", f"{size_zoo.improves.sum()} of 6 (D-STFT)",
     bool(size_zoo.improves.all())),
    ("WaveGrad and HiFi-GAN have largely higher MOS than the other models", "5.2.2", "all 6 above the other 12",
     f"lowest {thesis.mos[leaders].min():.2f} > highest other {thesis.mos[~leaders].max():.2f}",
     bool(thesis.mos[leaders].min() > thesis.mos[~leaders].max())),
    ("DiffWave has the lowest D-STFT but quite low MOS", "5.2.2", "DiffWave",
     f"{report.configuration_name(lowest.model, lowest['size'])}: MOS rank {mos_rank} of 18",
     bool(lowest.model == "diffwave" and mos_rank > 9)),
    ("AM and MOS are notably highly correlated", "5.2.2", "AM",
     f"r = {by_metric.loc['AM (thesis, VGGish)', 'pearson_r']:.2f}; largest |r|: {top}", bool(top == "AM")),
    ("Only few models are included inside the Pareto front", "5.2.4", "few of 18", f"{n_front} of 18 (MOS, GFLOPs)",
     bool(n_front <= 18 / 4)),
    ("The same, in the mini zoo", "5.2.4", "few of 18",
     f"{n_zoo_front} of {len(trained) - len(untrained)} trained (D-STFT, GFLOPs)",
     bool(n_zoo_front <= (len(trained) - len(untrained)) / 4)),
    ("GFLOPs and GPU energy fronts are consistent", "5.2.4", "consistent",
     f"{'same' if same_thesis else 'different'} configurations (MOS)", same_thesis),
    ("The same, in the mini zoo (CPU energy)", "5.2.4", "consistent",
     f"{'same' if same_zoo else 'different'} configurations (D-STFT)", same_zoo),
    ("Each model forms a sub-Pareto front, lighter to larger", "5.2.4", "6 of 6 families",
     f"{int(subfront.sum())} of 6 (MOS, GFLOPs)", bool(subfront.all())),
], columns=["claim", "section", "thesis", "this_build", "holds"])
report.show_claims(claims, label="claims-5-2", chapter=CHAPTER,
                   caption="The thesis's statements about quality and its fronts, checked on its Tables 7 and 8 and on "
                   "the mini zoo.")

# %% tags=["hide-input"]
report.show_provenance(quality.zoo_provenance(costs, PROTOCOL, EXPORT_ROOT), chapter=CHAPTER)
