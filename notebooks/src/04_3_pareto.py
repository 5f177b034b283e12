# %% [markdown]
# # 4.3 Quality and energy together: Pareto fronts
#
# *Thesis §3.3 (Eq. 47, Figure 25) and §4.3 (Tables 5–6, Figures 27–28).*
#
# A model *dominates* another when it is no worse on every objective and strictly better on at least one (Eq. 47);
# the non-dominated models form the Pareto front. `greenaudio.pareto` implements dominance, the front and successive
# fronts for any number of objectives, each minimised or maximised. This chapter recomputes which models of the
# thesis's two studies are optimal and checks the thesis's statements against the computation.

COLAB

# %% tags=["parameters"]
# no effect here: this chapter computes from published data
QUICK = True
CHAPTER = "04-3-pareto"
# for the illustrative front of Figure 25
SEED = 0
N_ILLUSTRATIVE_POINTS = 40

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from greenaudio import carbon, pareto, plotting, published, report

# %% [markdown]
# ## Figure 25: an illustrative front
#
# Random candidate solutions of a problem with two objectives $f_1$, $f_2$ to minimise; the front is computed.

# %%
rng = np.random.default_rng(SEED)
f1 = rng.uniform(0, 1, N_ILLUSTRATIVE_POINTS)
f2 = 1.2 / (f1 + 0.2) * rng.uniform(0.5, 1.0, N_ILLUSTRATIVE_POINTS)
fig, ax = plt.subplots(figsize=(5, 4))
optimal = plotting.plot_pareto(ax, f1, f2, directions=("min", "min"), xlabel="$f_1(x)$", ylabel="$f_2(x)$")
report.show_figure(fig, label="figure-25", chapter=CHAPTER,
                   caption=f"A Pareto front of {N_ILLUSTRATIVE_POINTS} random solutions minimising $f_1$ and $f_2$ "
                   f"(after Figure 25 of the thesis): the {optimal.sum()} optimal points are circled in red.")
ranks = pareto.compute_pareto_ranks(np.column_stack([f1, f2]), ["min", "min"])
print(f"Non-dominated sorting: {ranks.max() + 1} successive fronts; sizes {np.bincount(ranks).tolist()}.")

# %% [markdown]
# ## Inter-model study (§4.3.1)
#
# Four models of Table 3 report a MOS for their samples and for the ground truth in their paper. Because the listening
# tests differ, the thesis compares $\%\mathrm{MOS} = \mathrm{MOS}_M / \mathrm{MOS}_{GT}$.

# %%
mos = published.load_inter_model_mos()
mos["pct_mos_computed"] = pareto.compute_pct_mos(mos["mos_m"], mos["mos_gt"])
report.show_table(
    mos[["model", "mos_gt", "mos_m", "pct_mos_computed", "printed_pct_mos", "params_millions"]],
    label="table-5",
    caption="MOS of the ground truth and of the model in each paper, %MOS = MOS_M / MOS_GT computed, the printed "
    "%MOS, and parameters in millions (Table 5 of the thesis).",
    chapter=CHAPTER,
    formats={"pct_mos_computed": "{:.2f}", "params_millions": "{:g}"},
)
wavegan = mos.set_index("model").loc["WaveGAN"]
print(f"WaveGAN: MOS_M / MOS_GT = {wavegan.pct_mos_computed:.2f}, printed {wavegan.printed_pct_mos}: the printed value "
      f"is MOS_GT / MOS_M = {pareto.compute_pct_mos(wavegan.mos_gt, wavegan.mos_m):.2f} (see the errata chapter). Figure 27 uses the printed "
      "%MOS, as the thesis did.")

# %%
costs = carbon.compute_training_costs(published.load_training_runs())
inter = mos.merge(costs[["model", "emissions_kgco2e"]], on="model")
training = pareto.compute_pareto_table(inter, {"emissions_kgco2e": "min", "printed_pct_mos": "max"}, label="model")
inference = pareto.compute_pareto_table(inter, {"params_millions": "min", "printed_pct_mos": "max"}, label="model")

fig, axes = plt.subplots(2, 1, figsize=(6, 7.5))
plotting.plot_pareto(axes[0], inter.emissions_kgco2e, inter.printed_pct_mos, labels=inter.model,
                     xlabel="Training emissions (kgCO2e, Table 3, computed)", ylabel="%MOS", invert_y=True)
plotting.plot_pareto(axes[1], inter.params_millions, inter.printed_pct_mos, labels=inter.model,
                     xlabel="Parameters (millions)", ylabel="%MOS", invert_y=True)
axes[0].set_title("Training")
axes[1].set_title("Inference")
fig.tight_layout()
report.show_figure(fig, label="figure-27", chapter=CHAPTER,
                   caption="Pareto fronts of %MOS (maximised; axis reversed as in the thesis) against training "
                   "emissions (top) and parameters (bottom); optimal models circled in red (Figure 27 of the thesis).")

# %%
summary = pd.DataFrame({
    "model": inter.model,
    "optimal_training": training.pareto_optimal,
    "dominated_by_training": training.dominated_by,
    "optimal_inference": inference.pareto_optimal,
    "dominated_by_inference": inference.dominated_by,
})
report.show_table(summary, label="inter-model-optimality", chapter=CHAPTER,
                  caption="Computed Pareto optimality of the inter-model study and, for dominated models, who "
                  "dominates them.")
print("Optimal in training:", ", ".join(training.model[training.pareto_optimal]))
print("Optimal in inference:", ", ".join(inference.model[inference.pareto_optimal]))

# %% [markdown]
# ## Intra-model study: five WaveFlow configurations (§4.3.2)
#
# Ping et al. {cite}`ping2020` report a MOS for several WaveFlow configurations (squeezed height $h$, residual channels
# $r$); the thesis *predicted* their training energy with Carbontracker on 4 TITAN V (one epoch measured, multiplied by
# the number of epochs) and measured their generation energy on one TITAN V ({numref}`table-6`, data).

# %%
wf = published.load_waveflow_configs()
report.show_table(
    wf[["model", "h", "r", "params_millions", "mos", "e_train_kwh", "e_gen_wh"]],
    label="table-6",
    caption="Five WaveFlow configurations: parameters (M) and MOS from Ping et al. 2020; training energy E_train "
    "(kWh) predicted by the thesis with Carbontracker (one epoch x number of epochs) and energy to generate 100 s of "
    "audio at 22.05 kHz E_gen (Wh) measured by the thesis (Table 6 of the thesis, data).",
    chapter=CHAPTER,
)

# %%
fronts = {
    "training": ("e_train_kwh", "Training energy E_train, predicted (Carbontracker: 1 epoch x N; kWh)"),
    "parameters": ("params_millions", "Parameters (millions)"),
    "generation": ("e_gen_wh", "Generation energy E_gen (Wh per 100 s of audio)"),
}
fig, axes = plt.subplots(3, 1, figsize=(6, 10))
optimality = {"model": wf.label}
for ax, (name, (column, xlabel)) in zip(axes, fronts.items()):
    mask = plotting.plot_pareto(ax, wf[column], wf.mos, labels=wf.label, xlabel=xlabel, ylabel="MOS")
    optimality[f"optimal_{name}"] = mask
fig.tight_layout()
report.show_figure(fig, label="figure-28", chapter=CHAPTER,
                   caption="Pareto fronts of MOS (maximised) against the training energy (top), the number of "
                   "parameters (middle) and the generation energy (bottom) of five WaveFlow configurations; optimal "
                   "configurations circled in red (Figure 28 of the thesis).")

# %%
optimality = pd.DataFrame(optimality)
report.show_table(optimality, label="waveflow-optimality", chapter=CHAPTER,
                  caption="Computed Pareto optimality of the five WaveFlow configurations in the three fronts.")
wf3 = optimality.set_index("model").loc["WF3"]
print(f"WF3 optimal in training: {bool(wf3.optimal_training)}; in the parameters front: {bool(wf3.optimal_parameters)}; "
      f"in the generation-energy front: {bool(wf3.optimal_generation)}.")
print(f"All five optimal in the generation-energy front: {bool(optimality.optimal_generation.all())}.")
dominated_params = optimality.model[~optimality.optimal_parameters].tolist()
print(f"Dominated in the parameters front: {dominated_params} (WF1 and WF2 have the same parameter count; "
      "WF2's higher MOS dominates WF1 under Eq. 47).")
