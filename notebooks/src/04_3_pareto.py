# %% [markdown]
# # 4.3 Quality and energy together: Pareto fronts
#
# ## What this chapter shows
#
# - Among four published models, {glue:text}`training_optimal` are Pareto-optimal when quality (%MOS) is weighed
#   against training emissions, and {glue:text}`inference_optimal` when it is weighed against the number of
#   parameters; {glue:text}`never_optimal` is optimal on neither front.
# - FloWaveNet is dominated by {glue:text}`flowavenet_dominators`. The thesis names RAVE as well, but RAVE's %MOS,
#   {glue:text}`rave_pct_mos:.2f`, is below FloWaveNet's, {glue:text}`flowavenet_pct_mos:.2f`.
# - Among five WaveFlow configurations, {glue:text}`wf_train_dominated` is dominated in training (by
#   {glue:text}`wf_train_dominated_by`) but optimal on both inference fronts, and all
#   {glue:text}`wf_gen_optimal:d` configurations are optimal when quality is weighed against generation energy.
# - {glue:text}`n_claims_hold:d` of the {glue:text}`n_claims:d` statements of §4.3 checked here hold
#   ({ref}`claims table <claims-4-3>`).
#
# *Thesis §3.3 (Eq. 47, Figure 25) and §4.3 (Tables 5–6, Figures 27–28).* A model *dominates* another when it is no
# worse on every objective and strictly better on at least one (Eq. 47); the models no other model dominates form the
# Pareto front. The package's `pareto` module computes dominance, the front and successive fronts for any number of
# objectives, each minimised or maximised. This chapter recomputes which models of the thesis's two studies are
# optimal and checks the thesis's statements against the computation.

COLAB

# %% tags=["parameters"]
QUICK = True
CHAPTER = "04-3-pareto"
SEED = 0
N_ILLUSTRATIVE_POINTS = 40

# %% [markdown]
# `QUICK` has no effect here: this chapter computes from published data. `SEED` and `N_ILLUSTRATIVE_POINTS` draw the
# random solutions of the illustrative front below.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from greenaudio import carbon, pareto, plotting, published, report

# %% [markdown]
# ## An illustrative front
#
# {glue:text}`n_points:d` random candidate solutions of a problem with two objectives $f_1$, $f_2$ to minimise, after
# the thesis's Figure 25. {glue:text}`n_optimal:d` of them are optimal; removing them and repeating (non-dominated
# sorting) orders all the points in {glue:text}`n_fronts:d` successive fronts.

# %%
rng = np.random.default_rng(SEED)
f1 = rng.uniform(0, 1, N_ILLUSTRATIVE_POINTS)
f2 = 1.2 / (f1 + 0.2) * rng.uniform(0.5, 1.0, N_ILLUSTRATIVE_POINTS)
fig, ax = plt.subplots(figsize=(5, 4))
optimal = plotting.plot_pareto(ax, f1, f2, directions=("min", "min"), xlabel="$f_1(x)$", ylabel="$f_2(x)$")
report.show_figure(fig, label="figure-25", chapter=CHAPTER, width="60%",
                   caption=f"A Pareto front of {N_ILLUSTRATIVE_POINTS} random solutions minimising f1 and f2, after "
                   f"Figure 25 of the thesis: the {optimal.sum()} optimal points are circled in red.",
                   alt=f"Scatter plot of {N_ILLUSTRATIVE_POINTS} points, f2 falling as f1 grows; the "
                   f"{optimal.sum()} points nearest the lower-left corner are circled in red and joined by a "
                   "staircase line.")
ranks = pareto.compute_pareto_ranks(np.column_stack([f1, f2]), ["min", "min"])
_ = report.glue(n_points=N_ILLUSTRATIVE_POINTS, n_optimal=int(optimal.sum()), n_fronts=int(ranks.max() + 1))

# %% [markdown]
# ## Inter-model study (§4.3.1)
#
# Four models of Table 3 report a MOS for their samples and for the ground truth in their paper. Because the listening
# tests differ, the thesis compares $\%\mathrm{MOS} = \mathrm{MOS}_M / \mathrm{MOS}_{GT}$: 1 means "as good as the
# recordings" ({ref}`Table 5 (thesis) <table-5>`). For WaveGAN, the printed MOS give
# {glue:text}`wavegan_ratio:.2f` while the printed %MOS is 0.59, which is $\mathrm{MOS}_{GT} / \mathrm{MOS}_M$:
# {doc}`the errata <04_4_errata>` discuss it. Figure 27 uses the printed %MOS, as the thesis did, and so does this
# chapter.

# %%
mos = published.load_inter_model_mos()
mos["pct_mos_computed"] = pareto.compute_pct_mos(mos["mos_m"], mos["mos_gt"])
report.show_table(
    mos[["model", "mos_gt", "mos_m", "pct_mos_computed", "printed_pct_mos", "params_millions"]],
    label="table-5",
    thesis="Table 5",
    caption="MOS of the ground truth and of the model in each paper, %MOS = MOS of the model / MOS of the ground "
    "truth (computed and printed), and parameters.",
    chapter=CHAPTER,
    columns={"mos_gt": "MOS, ground truth", "mos_m": "MOS, model", "pct_mos_computed": "%MOS, computed",
             "printed_pct_mos": "%MOS, printed", "params_millions": "Parameters (M)"},
    formats={"mos_gt": "{:.2f}", "mos_m": "{:.2f}", "pct_mos_computed": "{:.2f}", "printed_pct_mos": "{:.2f}",
             "params_millions": "{:g}"},
)
_ = report.glue(wavegan_ratio=mos.set_index("model").loc["WaveGAN", "pct_mos_computed"])

# %% [markdown]
# {ref}`Figure 27 (thesis) <figure-27>` places the four models on two planes: %MOS against the training emissions of
# Table 3, and %MOS against the number of parameters, a proxy of the cost of inference. The quality axis is reversed,
# as in the thesis, so that the optimum sits at the bottom left.

# %%
costs = carbon.compute_training_costs(published.load_training_runs())
inter = mos.merge(costs[["model", "emissions_kgco2e", "energy_kwh"]], on="model")
training = pareto.compute_pareto_table(inter, {"emissions_kgco2e": "min", "printed_pct_mos": "max"}, label="model")
inference = pareto.compute_pareto_table(inter, {"params_millions": "min", "printed_pct_mos": "max"}, label="model")
by_energy = pareto.compute_pareto_table(inter, {"energy_kwh": "min", "printed_pct_mos": "max"}, label="model")

fig, axes = plt.subplots(2, 1, figsize=(6, 7.5))
plotting.plot_pareto(axes[0], inter.emissions_kgco2e, inter.printed_pct_mos, labels=inter.model,
                     xlabel="Training emissions (kgCO2e, Table 3, computed)", ylabel="%MOS", invert_y=True)
plotting.plot_pareto(axes[1], inter.params_millions, inter.printed_pct_mos, labels=inter.model,
                     xlabel="Parameters (millions)", ylabel="%MOS", invert_y=True)
axes[0].set_title("Training")
axes[1].set_title("Inference")
for ax in axes:
    ax.margins(x=0.12, y=0.12)  # room for the labels of the points at the edges
fig.tight_layout()


def names(table, mask) -> str:
    return ", ".join(table.model[mask])


report.show_figure(fig, label="figure-27", thesis="Figure 27", chapter=CHAPTER, width="70%",
                   caption="Pareto fronts of %MOS (maximised; axis reversed as in the thesis) against training "
                   "emissions (top) and parameters (bottom); optimal models circled in red.",
                   alt=f"Two scatter plots of the four models, %MOS on a reversed vertical axis. Top, against "
                   f"training emissions: optimal {names(training, training.pareto_optimal)}. Bottom, against "
                   f"parameters: optimal {names(inference, inference.pareto_optimal)}.")

# %%
def verdicts(table) -> list[str]:
    # each row of a compute_pareto_table result: "optimal", or "dominated by" and the rows that dominate it
    return ["optimal" if opt else f"dominated by {by}" for opt, by in zip(table.pareto_optimal, table.dominated_by)]


summary = pd.DataFrame({
    "model": inter.model,
    "training": verdicts(training),
    "inference": verdicts(inference),
    "optimal_training": training.pareto_optimal,
    "dominated_by_training": training.dominated_by,
    "optimal_inference": inference.pareto_optimal,
    "dominated_by_inference": inference.dominated_by,
})
report.show_table(summary, label="inter-model-optimality", chapter=CHAPTER,
                  columns={"training": "Training front", "inference": "Inference front",
                           "optimal_training": "Optimal in training?", "dominated_by_training": "Dominated by (training)",
                           "optimal_inference": "Optimal in inference?",
                           "dominated_by_inference": "Dominated by (inference)"},
                  main=["model", "training", "inference"],
                  caption="Pareto optimality of the four models on the two fronts of Figure 27: optimal, or dominated "
                  "by the models named.")

# %% [markdown]
# ## Intra-model study: five WaveFlow configurations (§4.3.2)
#
# Ping et al. {cite}`ping2020` report a MOS for several WaveFlow configurations, which differ in their squeezed height
# $h$ and their number of residual channels $r$. The thesis *predicted* their training energy with Carbontracker on
# 4 TITAN V (one epoch measured, multiplied by the number of epochs) and measured the energy of generating 100 s of
# audio at 22.05 kHz on one TITAN V ({ref}`Table 6 (thesis) <table-6>`, data). How these numbers can be recomputed is
# the subject of {doc}`the WaveFlow study <04_3_waveflow_study>`.

# %%
wf = published.load_waveflow_configs()
report.show_table(
    wf[["model", "h", "r", "params_millions", "mos", "e_train_kwh", "e_gen_wh"]],
    label="table-6",
    thesis="Table 6",
    caption="Five WaveFlow configurations: parameters and MOS from Ping et al. (2020); training energy predicted by "
    "the thesis; energy to generate 100 s of audio measured by the thesis.",
    chapter=CHAPTER,
    columns={"model": "Configuration", "params_millions": "Parameters (M)", "e_train_kwh": "Training energy (kWh)",
             "e_gen_wh": "Generation energy (Wh)"},
    formats={"mos": "{:.2f}", "e_gen_wh": "{:.3f}"},
)

# %% [markdown]
# {ref}`Figure 28 (thesis) <figure-28>` weighs the MOS against each of the three costs.

# %%
fronts = {
    "training": ("e_train_kwh", "Training energy, predicted (kWh)"),
    "parameters": ("params_millions", "Parameters (millions)"),
    "generation": ("e_gen_wh", "Generation energy (Wh per 100 s of audio)"),
}
fig, axes = plt.subplots(3, 1, figsize=(6, 10))
optimality = {"model": wf.label}
for ax, (name, (column, xlabel)) in zip(axes, fronts.items()):
    mask = plotting.plot_pareto(ax, wf[column], wf.mos, labels=wf.label, xlabel=xlabel, ylabel="MOS")
    ax.margins(x=0.1, y=0.15)  # room for the labels of the points at the edges
    optimality[f"optimal_{name}"] = mask
fig.tight_layout()
optimality = pd.DataFrame(optimality)
report.show_figure(fig, label="figure-28", thesis="Figure 28", chapter=CHAPTER, width="70%",
                   caption="Pareto fronts of MOS (maximised) against the training energy (top), the number of "
                   "parameters (middle) and the generation energy (bottom) of five WaveFlow configurations; optimal "
                   "configurations circled in red.",
                   alt="Three scatter plots of the five WaveFlow configurations WF1 to WF5, MOS against a cost. "
                   + " ".join(f"{name.capitalize()}: optimal {', '.join(optimality.model[optimality[f'optimal_{name}']])}."
                              for name in fronts))

# %%
wf_tables = {name: pareto.compute_pareto_table(wf, {column: "min", "mos": "max"}, label="label").set_index("label")
             for name, (column, _) in fronts.items()}
report.show_table(optimality.assign(**{name: verdicts(wf_tables[name]) for name in fronts},
                                    **{f"dominated_by_{name}": wf_tables[name].dominated_by.to_numpy()
                                       for name in fronts}),
                  label="waveflow-optimality", chapter=CHAPTER,
                  columns={"model": "Configuration", "training": "Training energy", "parameters": "Parameters",
                           "generation": "Generation energy", "optimal_training": "Optimal in training?",
                           "optimal_parameters": "Optimal for parameters?",
                           "optimal_generation": "Optimal for generation energy?",
                           "dominated_by_training": "Dominated by (training)",
                           "dominated_by_parameters": "Dominated by (parameters)",
                           "dominated_by_generation": "Dominated by (generation)"},
                  main=["model", "training", "parameters", "generation"],
                  caption="Pareto optimality of the five WaveFlow configurations on the three fronts of Figure 28: "
                  "MOS against each cost.")

# %% [markdown]
# WF1 and WF2 have the same number of parameters, {glue:text}`wf1_params:g` M; with its higher MOS, WF2 is at least as
# good on both objectives and better on one, so on the parameters front WF1 is dominated by
# {glue:text}`wf1_params_dominated_by` (Eq. 47). On the generation-energy front the tie is broken: WF1 uses
# {glue:text}`wf1_gen:.3f` Wh and WF2 {glue:text}`wf2_gen:.3f` Wh, and both are optimal.
#
# ## The thesis's reading of Figures 27 and 28
#
# {ref}`The claims table <claims-4-3>` sets each statement of §4.3 about who is optimal and who dominates whom
# against the computation. A model with a lower %MOS cannot dominate one with a higher %MOS, whatever their costs: RAVE
# ({glue:text}`rave_pct_mos:.2f`) cannot dominate FloWaveNet ({glue:text}`flowavenet_pct_mos:.2f`), so the two
# statements naming RAVE among FloWaveNet's dominators fail, while the conclusions the thesis draws from the figure,
# which models are optimal, hold.

# %% tags=["hide-input"]
def as_set(text: str) -> set[str]:
    return {t.strip() for t in text.replace(" and ", ", ").split(",") if t.strip()}


def listed(table, mask) -> str:
    return ", ".join(table.model[mask]) or "none"


def in_words(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items) or "none"


t_by, i_by = training.set_index("model").dominated_by, inference.set_index("model").dominated_by
t_opt = listed(training, training.pareto_optimal)
i_opt = listed(inference, inference.pareto_optimal)
e_opt = listed(by_energy, by_energy.pareto_optimal)
wf3 = optimality.set_index("model").loc["WF3"]
claims = pd.DataFrame([
    {"claim": "RAVE, SING and WaveGAN are Pareto optimal in training", "section": "4.3.1",
     "thesis": "RAVE, SING, WaveGAN", "this_build": t_opt, "holds": as_set(t_opt) == {"RAVE", "SING", "WaveGAN"}},
    {"claim": "FloWaveNet is not [optimal in training]", "section": "4.3.1", "thesis": "not optimal",
     "this_build": "optimal" if "FloWaveNet" in as_set(t_opt) else "not optimal",
     "holds": "FloWaveNet" not in as_set(t_opt)},
    {"claim": "FloWaveNet is dominated by SING and RAVE (training)", "section": "4.3.1", "thesis": "SING, RAVE",
     "this_build": t_by["FloWaveNet"] or "none", "holds": as_set(t_by["FloWaveNet"]) == {"SING", "RAVE"}},
    {"claim": "same conclusions with the energy instead of the carbon cost", "section": "4.3.1",
     "thesis": "same optimal models", "this_build": e_opt, "holds": as_set(e_opt) == as_set(t_opt)},
    {"claim": "WaveGAN is dominated by RAVE and SING in inference", "section": "4.3.1", "thesis": "RAVE, SING",
     "this_build": i_by["WaveGAN"] or "none", "holds": as_set(i_by["WaveGAN"]) == {"RAVE", "SING"}},
    {"claim": "FloWaveNet is dominated by RAVE and SING in inference", "section": "4.3.1", "thesis": "RAVE, SING",
     "this_build": i_by["FloWaveNet"] or "none", "holds": as_set(i_by["FloWaveNet"]) == {"RAVE", "SING"}},
    {"claim": "WF3 is dominated by others in training", "section": "4.3.2", "thesis": "dominated",
     "this_build": f"dominated by {wf_tables['training'].dominated_by['WF3']}" if not wf3.optimal_training
     else "optimal", "holds": not wf3.optimal_training},
    {"claim": "in the inference fronts, this configuration [WF3] is Pareto-optimal", "section": "4.3.2",
     "thesis": "optimal on both", "this_build": f"{int(wf3.optimal_parameters) + int(wf3.optimal_generation)} of 2",
     "holds": bool(wf3.optimal_parameters and wf3.optimal_generation)},
    {"claim": "in the last energy front, all models are optimal", "section": "4.3.2", "thesis": "5 of 5",
     "this_build": f"{int(optimality.optimal_generation.sum())} of {len(optimality)}",
     "holds": bool(optimality.optimal_generation.all())},
])
report.show_claims(claims, label="claims-4-3", chapter=CHAPTER,
                   caption="§4.3's statements on Figures 27 and 28 against the Pareto fronts computed from Tables 3, "
                   "5 and 6.")
pct = inter.set_index("model").printed_pct_mos
never = [m for m in inter.model if m not in as_set(t_opt) | as_set(i_opt)]
wf_dominated = optimality.model[~optimality.optimal_training].tolist()
_ = report.glue(
    training_optimal=in_words(training.model[training.pareto_optimal]),
    inference_optimal=in_words(inference.model[inference.pareto_optimal]),
    never_optimal=in_words(never) if never else "no model",
    flowavenet_dominators=(f"{in_words(sorted(as_set(t_by['FloWaveNet'])))} alone, on both fronts"
                           if as_set(t_by["FloWaveNet"]) == as_set(i_by["FloWaveNet"])
                           else f"{in_words(sorted(as_set(t_by['FloWaveNet'])))} in training and by "
                                f"{in_words(sorted(as_set(i_by['FloWaveNet'])))} in inference"),
    rave_pct_mos=pct["RAVE"],
    flowavenet_pct_mos=pct["FloWaveNet"],
    wf_train_dominated=in_words(wf_dominated),
    wf_train_dominated_by="; ".join(wf_tables["training"].dominated_by[wf_dominated]) or "none",
    wf_gen_optimal=int(optimality.optimal_generation.sum()),
    wf1_params=wf.set_index("label").loc["WF1", "params_millions"],
    wf1_params_dominated_by=wf_tables["parameters"].dominated_by["WF1"] or "no configuration",
    wf1_gen=wf.set_index("label").loc["WF1", "e_gen_wh"],
    wf2_gen=wf.set_index("label").loc["WF2", "e_gen_wh"],
    n_claims=len(claims),
    n_claims_hold=int(claims.holds.sum()),
)

# %% tags=["hide-input"]
report.show_provenance([
    {"quantity": "%MOS and parameters (Table 5)", "method": "MOS printed in each model's paper, via the thesis",
     "tool": "greenaudio data files", "machine": "none (published data)", "when": "thesis (2023)"},
    {"quantity": "Training emissions (Figure 27)", "method": "estimated: worst case of Eq. 48 (Chapter 4.2)",
     "tool": "published GPU counts and hours; datasheet powers", "machine": "none (published data)",
     "when": "computed in this build"},
    {"quantity": "WaveFlow training energy (Table 6)", "method": "predicted: Carbontracker, one epoch × epochs",
     "tool": "Carbontracker, via the thesis", "machine": "4 × TITAN V", "when": "thesis (2023)"},
    {"quantity": "WaveFlow generation energy (Table 6)", "method": "measured: 100 s of audio at 22.05 kHz",
     "tool": "via the thesis", "machine": "1 × TITAN V", "when": "thesis (2023)"},
    {"quantity": "Pareto fronts", "method": "computed: dominance of Eq. 47", "tool": f"numpy {np.__version__}",
     "machine": "any", "when": "this build"},
], chapter=CHAPTER)
