# %% [markdown]
# # 4.2 What does training cost?
#
# *Thesis §3.2.2 (Eq. 44–46) and §4.2 (Eq. 48, Tables 3 and 4).*
#
# Seven papers give enough detail — GPU model, number of GPUs, training time — to estimate the energy of their
# training. The thesis takes the worst case of the ML CO2 Impact calculator {cite}`lacoste2019`: every GPU at its
# maximum power for the whole training, no CPU, DRAM or cooling, and a world-average carbon intensity of
# 0.437 kgCO2e/kWh:
#
# $$\mathrm{CO_2e} = 0.437 \times g \times p_{max} \times t \qquad \text{(Eq. 48)}$$
#
# Here the kWh and kgCO2e columns are **computed** by `greenaudio.carbon` from the hardware catalogue (maximum power
# with its source), the GPU count and the hours; the thesis's printed values sit beside them.

COLAB

# %% tags=["parameters"]
# no effect here: this chapter computes from published data
QUICK = True
CHAPTER = "04-2-carbon"
# 0.437 kgCO2e/kWh
THESIS_GRID = "thesis-world-2018"
SENSITIVITY_GRIDS = ["thesis-world-2018", "world-iea-2024", "france", "sweden", "germany", "united-states", "china", "india", "poland"]
SENSITIVITY_PUES = ["none", "hyperscale-1.1", "uptime-2018", "uptime-2019"]

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from greenaudio import carbon, plotting, published, report

runs = published.load_training_runs()
grid = carbon.get_grid(THESIS_GRID)
costs = carbon.compute_training_costs(runs, grid=THESIS_GRID, pue="none")

# %% [markdown]
# ## The hardware
#
# {numref}`hardware-table3` lists the maximum power of each GPU of Table 3, from the package's hardware catalogue.

# %%
hardware = pd.DataFrame(
    [vars(carbon.get_hardware(name)) for name in dict.fromkeys(runs["hardware"])]
)[["name", "max_power_w", "source"]]
report.show_table(hardware, label="hardware-table3", caption="Maximum power of the GPUs of Table 3 (hardware "
                  "catalogue of greenaudio.carbon).", chapter=CHAPTER)

# %% [markdown]
# ## Table 3, computed
#
# The carbon intensity is printed by the next cell from the preset, not typed.

# %%
print(f"Grid preset {grid.name!r}: {grid.kgco2e_per_kwh} kgCO2e/kWh ({grid.year}); source: {grid.source}")
table3 = costs.assign(
    printed_kwh=runs["printed_kwh"], printed_kgco2e=runs["printed_kgco2e"]
)[["model", "hardware", "gpu_count", "power_w", "hours", "energy_kwh", "printed_kwh", "emissions_kgco2e", "printed_kgco2e"]]
report.show_table(
    table3,
    label="table-3",
    caption="Estimated training energy and emissions of seven generative audio models (Table 3 of the thesis): "
    "energy_kwh = gpu_count x power_w x hours / 1000 and emissions_kgco2e = 0.437 x energy_kwh, computed; the "
    "printed values beside them.",
    chapter=CHAPTER,
    formats={"energy_kwh": "{:.1f}", "emissions_kgco2e": "{:.2f}", "power_w": "{:.0f}", "hours": "{:g}"},
)

# %%
mismatch = (table3["energy_kwh"].round(1) - table3["printed_kwh"]).abs().max()
print(f"Largest |computed - printed| kWh at one decimal: {mismatch:.2g}")
print(f"Energy ranges from {costs.energy_kwh.min():g} to {costs.energy_kwh.max():g} kWh; "
      f"emissions from {costs.emissions_kgco2e.min():.2f} to {costs.emissions_kgco2e.max():.2f} kgCO2e.")
print("Two inputs of this table disagree with the thesis's text (Jukebox's GPU count, RAVE's training time): "
      "see the errata chapter.")

# %% [markdown]
# ## Table 4: familiar emissions, in kilograms
#
# The thesis converts Strubell et al.'s familiar emissions {cite}`strubell2019` from pounds with
# 1 lbs = 0.45359237 kg.

# %%
familiar = published.load_familiar_emissions()
familiar["kgco2e"] = familiar["lbsco2e"].map(carbon.lbs_to_kg)
report.show_table(
    familiar[["consumption", "lbsco2e", "kgco2e", "printed_kgco2e", "source"]],
    label="table-4",
    caption="Estimated CO2 emissions from familiar consumption (Table 4 of the thesis, after Strubell et al. 2019): "
    "kgco2e computed from lbsco2e.",
    chapter=CHAPTER,
    formats={"kgco2e": "{:.1f}"},
)

# %% [markdown]
# ## How the trainings compare with familiar emissions (§4.2.2.1)

# %%
human_year = familiar.set_index("consumption").loc["Human life, avg, 1 year", "kgco2e"]
flight = familiar.set_index("consumption").loc["Air travel, 1 passenger, NY ↔ SF", "kgco2e"]
comparison = costs[["model", "emissions_kgco2e"]].assign(
    human_years=costs.emissions_kgco2e / human_year,
    ny_sf_flights=costs.emissions_kgco2e / flight,
)
report.show_table(
    comparison,
    label="comparison-familiar",
    caption="Each training's estimated emissions as a fraction of one average human's yearly emissions and of one "
    "passenger's New York–San Francisco flight (§4.2.2.1), computed from Tables 3 and 4.",
    chapter=CHAPTER,
    formats={"emissions_kgco2e": "{:.2f}", "human_years": "{:.3f}", "ny_sf_flights": "{:.3f}"},
)
jukebox = comparison.set_index("model").loc["Jukebox"]
print(f"Jukebox's VQ-VAE training: {jukebox.emissions_kgco2e:.0f} kgCO2e = {jukebox.human_years:.2f} human-years "
      f"= {jukebox.ny_sf_flights:.1f} NY-SF flights.")

# %% [markdown]
# ## Estimate against measurement: SING (§4.2.2.1)
#
# The thesis checked its worst-case estimate on one model: it retrained SING on a single TITAN X with Carbontracker,
# which measured one epoch and *predicted* the whole training by multiplying it by the paper's number of epochs: a
# prediction, not a measurement of the full run. Both numbers are data from the thesis.

# %%
sing = published.load_sing_check().set_index("quantity")
estimated = carbon.compute_worst_case_energy_kwh("Tesla P100", 4, 52)
report.show_table(
    sing.reset_index(),
    label="sing-check",
    caption="SING's training energy: the thesis's worst-case estimate and its Carbontracker prediction (§4.2.2.1, data).",
    chapter=CHAPTER,
)
print(f"Worst-case estimate recomputed: {estimated:g} kWh (printed {sing.loc['estimated', 'value_kwh']:g} kWh); "
      f"Carbontracker: {sing.loc['predicted', 'value_kwh']:g} kWh, "
      f"{sing.loc['predicted', 'value_kwh'] / estimated - 1:+.0%} relative to the estimate.")

# %% [markdown]
# The predicted value is *above* the "worst case": the estimate ignores CPU, DRAM and the data centre's overhead
# (PUE), while Carbontracker includes the CPU and multiplies by a PUE of 1.58. The fuller form of Strubell et al.
# (Eq. 46) makes this explicit; for SING, with an illustrative 100 W of CPU and 20 W of DRAM (assumptions, not
# measurements):

# %%
strubell = carbon.compute_strubell_energy_kwh(hours=52, gpu_power_w="Tesla P100", gpu_count=4, cpu_power_w=100,
                                              dram_power_w=20, pue="uptime-2018")
print(f"Eq. 46 with PUE 1.58, 4 x 250 W GPUs, 100 W CPU, 20 W DRAM over 52 h: {strubell:.1f} kWh "
      f"({strubell / estimated:.2f} x the worst case).")

# %% [markdown]
# ## Sensitivity: the same trainings on other grids and in other data centres
#
# The estimate is linear in the carbon intensity and the PUE. {numref}`figure-sensitivity` recomputes every training's
# emissions for several national grids (2023 data) and PUE presets; the ranking of models cannot change (all share the
# same factors), but the absolute numbers move by more than an order of magnitude.

# %%
rows = []
for grid_name, pue_name in carbon.iter_grid_scenarios(SENSITIVITY_GRIDS, SENSITIVITY_PUES):
    scenario = carbon.compute_training_costs(runs, grid=grid_name, pue=pue_name)
    for r in scenario.itertuples(index=False):
        rows.append({"model": r.model, "grid": grid_name, "pue": pue_name, "energy_kwh": r.energy_kwh,
                     "emissions_kgco2e": r.emissions_kgco2e})
sensitivity = pd.DataFrame(rows)
sensitivity.to_csv(report.results_dir(CHAPTER) / "sensitivity-long.csv", index=False)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
no_pue = sensitivity[sensitivity.pue == "none"]
plotting.plot_sensitivity(no_pue, value="emissions_kgco2e", row="model", column="grid", ax=axes[0],
                          colorbar_label="kgCO2e (PUE 1.0)")
axes[0].set_title("Table 3 under other grids (PUE 1.0)")
totals = sensitivity.groupby(["grid", "pue"], as_index=False)["emissions_kgco2e"].sum()
plotting.plot_sensitivity(totals.assign(total="all seven"), value="emissions_kgco2e", row="pue", column="grid",
                          ax=axes[1], colorbar_label="kgCO2e, total of the seven trainings")
axes[1].set_title("Total of Table 3, grid x PUE")
fig.tight_layout()
report.show_figure(
    fig,
    label="figure-sensitivity",
    caption="Sensitivity of Table 3 to the carbon intensity (national grids, Our World in Data / Ember 2023) and to "
    "the PUE (left: per model at PUE 1.0; right: total of the seven trainings). Computed; not a figure of the thesis.",
    chapter=CHAPTER,
)

# %%
totals_wide = totals.pivot(index="grid", columns="pue", values="emissions_kgco2e")
ranks = no_pue.pivot(index="model", columns="grid", values="emissions_kgco2e").rank(ascending=False)
print("Ranking identical on every grid:", bool((ranks.nunique(axis=1) == 1).all()))
low, high = totals_wide.min().min(), totals_wide.max().max()
print(f"Total of the seven trainings: from {low:.0f} to {high:.0f} kgCO2e across scenarios ({high / low:.0f}x).")
