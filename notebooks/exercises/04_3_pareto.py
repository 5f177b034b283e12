# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 4.3.1: put your own model on the Pareto plane
#
# Add your own model to the inter-model comparison: its training emissions (kgCO2e, e.g. from Exercise 4.2.1) and
# its %MOS (its MOS divided by the MOS of the real recordings in the same test). Is it Pareto-optimal? If not, which
# models dominate it? Use `pareto.compute_pareto_table(table, {"emissions_kgco2e": "min", "printed_pct_mos": "max"},
# label="model")`.

# %% tags=["hide-cell"]
import pandas as pd

from greenaudio import carbon, pareto, published

plane = published.load_inter_model_mos().merge(
    carbon.compute_training_costs(published.load_training_runs())[["model", "emissions_kgco2e"]], on="model")
mine = pd.DataFrame({"model": ["my model"], "emissions_kgco2e": [20.0], "printed_pct_mos": [0.80]})
plane = pd.concat([plane[["model", "emissions_kgco2e", "printed_pct_mos"]], mine], ignore_index=True)
mine_front = pareto.compute_pareto_table(plane, {"emissions_kgco2e": "min", "printed_pct_mos": "max"}, label="model")
mine_front.rename(columns={"model": "Model", "emissions_kgco2e": "Emissions (kgCO2e)", "printed_pct_mos": "%MOS",
                           "pareto_rank": "Front", "pareto_optimal": "Optimal?", "dominated_by": "Dominated by"})

# %% [markdown]
# ### Exercise 4.3.2: find the dominated configuration
#
# In the WaveFlow study ({ref}`Table 6 (thesis) <table-6>`), which configuration is dominated when MOS is plotted against the
# *training* energy, and by which configurations? Check your answer against a brute-force pairwise comparison with
# `pareto.dominates`.

# %% tags=["hide-cell"]
wf = published.load_waveflow_configs()
wf_training = pareto.compute_pareto_table(wf[["label", "e_train_kwh", "mos"]], {"e_train_kwh": "min", "mos": "max"},
                                          label="label")
dominated = wf_training[~wf_training.pareto_optimal]
points = wf[["e_train_kwh", "mos"]].to_numpy()
brute = [wf.label[j] for j in range(len(wf))
         if any(pareto.dominates(points[i], points[j], ["min", "max"]) for i in range(len(wf)) if i != j)]
assert brute == dominated.label.tolist()
dominated[["label", "e_train_kwh", "mos", "dominated_by"]].rename(columns={
    "label": "Configuration", "e_train_kwh": "Training energy (kWh)", "mos": "MOS", "dominated_by": "Dominated by"})

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# A configuration is dominated when another one is at least as good on both axes and strictly better on one. Being
# dominated in one front (training energy) does not make it dominated in another (generation energy): optimality
# is always relative to the costs you choose to count.
# :::
