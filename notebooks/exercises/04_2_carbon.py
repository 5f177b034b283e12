# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 4.2.1: the carbon of your own last training run
#
# Take your own last training run: which GPU (see `carbon.list_hardware("gpu")`), how many, for how many hours, and
# where (`carbon.list_grids()`). Estimate its energy with the thesis's worst case (`compute_worst_case_energy_kwh`)
# and with Strubell et al.'s formula including a data-centre PUE (`compute_strubell_energy_kwh`), then its emissions
# (`compute_emissions_kgco2e`). Which of the two is an upper bound, and why?

# %% tags=["hide-cell"]
import pandas as pd

from greenaudio import carbon, published

my_gpu, my_gpu_count, my_hours, my_grid = "RTX A5000", 1, 36.0, "france"
worst_kwh = carbon.compute_worst_case_energy_kwh(my_gpu, my_gpu_count, my_hours)
strubell_kwh = carbon.compute_strubell_energy_kwh(my_hours, my_gpu, gpu_count=my_gpu_count, cpu_power_w=65.0,
                                                  dram_power_w=10.0, pue="uptime-2024")
pd.DataFrame({
    "Estimate": ["Worst case (g × p_max × t)", "Strubell et al. with PUE"],
    "Energy (kWh)": [worst_kwh, strubell_kwh],
    f"Emissions on the {my_grid} grid (kgCO2e)": [carbon.compute_emissions_kgco2e(k, my_grid)
                                                  for k in (worst_kwh, strubell_kwh)],
}).round(2)

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# The worst case charges every GPU its maximum power for the whole run and ignores the CPU, memory and cooling; the
# Strubell estimate adds those (and a PUE) but here still uses the GPU's *maximum* power as its average. Neither is
# a measurement: a measured run (Chapter 5's `greenaudio.measure`) would typically draw less than the maximum.
# :::
#
# ### Exercise 4.2.2: change the grid and the PUE — does Table 3's ranking move?
#
# Recompute Table 3 with `carbon.compute_training_costs(runs, grid=..., pue=...)` for a low-carbon grid
# (`"france"`) and a high-carbon one (`"poland"`), with and without a PUE. Rank the models by emissions each time.
# Then give each model its *own* grid (where it might have been trained) and rank again.

# %% tags=["hide-cell"]
runs = published.load_training_runs()
rankings = {}
for grid in ("thesis-world-2018", "france", "poland"):
    for pue in ("none", "uptime-2024"):
        costs = carbon.compute_training_costs(runs, grid=grid, pue=pue)
        rankings[f"{grid}, PUE {pue}"] = costs.sort_values("emissions_kgco2e", ascending=False).model.tolist()
same_ranking = len({tuple(r) for r in rankings.values()}) == 1  # True: one ranking under every uniform grid and PUE
where = {model: ("france" if i % 2 else "poland") for i, model in enumerate(runs.model)}
mixed = pd.concat([carbon.compute_training_costs(runs[runs.model == m], grid=g) for m, g in where.items()])
mixed.assign(grid=mixed.model.map(where)).sort_values("emissions_kgco2e", ascending=False)[
    ["model", "grid", "energy_kwh", "emissions_kgco2e"]].rename(columns={
        "model": "Model", "grid": "Grid", "energy_kwh": "Energy (kWh)", "emissions_kgco2e": "Emissions (kgCO2e)"})

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# One grid intensity and one PUE for every model multiply every row by the same factor: the totals change, the
# ranking cannot. The ranking moves only when the models are trained in different places (or with different PUEs):
# then the *place* of training matters as much as the hours of GPU.
# :::
