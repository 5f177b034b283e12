# %% [markdown]
# # 4.2 What does training cost?
#
# ## What this chapter shows
#
# - From the GPU model, the number of GPUs and the training time their papers give, the training of seven generative
#   audio models is estimated at {glue:text}`min_kwh:,.0f` to {glue:text}`max_kwh:,.1f` kWh, that is
#   {glue:text}`min_kg:.2f` to {glue:text}`max_kg:,.2f` kgCO2e on the thesis's world-average grid. Every kWh and
#   kgCO2e of Table 3 is reproduced from its inputs ({glue:text}`n_rows_agree:d` of {glue:text}`n_rows:d` rows).
# - Jukebox alone accounts for {glue:text}`jukebox_share:.0%` of the seven trainings' emissions: about
#   {glue:text}`jukebox_flights:.1f` passenger flights between New York and San Francisco.
# - The "worst case" is not an upper bound: for SING, Carbontracker's prediction, which also counts the CPU and the
#   data centre's overhead, is {glue:text}`sing_excess:.0%` above it.
# - Where a model is trained matters as much as how long: the same seven trainings emit from
#   {glue:text}`total_low:,.0f` to {glue:text}`total_high:,.0f` kgCO2e in total depending on the grid and the data
#   centre, a factor of {glue:text}`total_ratio:.0f`.
#
# *Thesis §3.2.2 (Eq. 44–46) and §4.2 (Eq. 48, Tables 3 and 4).* Seven papers give enough detail (GPU model, number
# of GPUs, training time) to estimate the energy of their training. The thesis takes the worst case of the ML CO2
# Impact calculator {cite}`lacoste2019`: every GPU at its maximum power for the whole training, no CPU, memory or
# cooling, and a world-average carbon intensity of 0.437 kgCO2e/kWh:
#
# $$\mathrm{CO_2e} = 0.437 \times g \times p_{max} \times t \qquad \text{(Eq. 48)}$$
#
# with $g$ GPUs of maximum power $p_{max}$ (kW) for $t$ hours. Here the energy and emissions are computed from the
# hardware catalogue (maximum power, with its source), the GPU count and the hours; the thesis's printed values are
# compared with them.

COLAB

# %% tags=["parameters"]
QUICK = True
CHAPTER = "04-2-carbon"
THESIS_GRID = "thesis-world-2018"
SENSITIVITY_GRIDS = ["thesis-world-2018", "world-iea-2024", "france", "sweden", "germany", "united-states", "china", "india", "poland"]
SENSITIVITY_PUES = ["none", "hyperscale-1.1", "uptime-2018", "uptime-2019"]

# %% [markdown]
# `QUICK` has no effect here: this chapter computes from published data. `THESIS_GRID` is the carbon intensity of
# Table 3 (0.437 kgCO2e/kWh); the sensitivity study recomputes the table for the grids and data-centre PUEs listed.

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
# {ref}`The hardware table <hardware-table3>` lists the maximum power of each GPU of Table 3, from the package's
# hardware catalogue.

# %%
hardware = pd.DataFrame(
    [vars(carbon.get_hardware(name)) for name in dict.fromkeys(runs["hardware"])]
)[["name", "max_power_w", "source"]]
report.show_table(hardware, label="hardware-table3", caption="Maximum power of the GPUs of Table 3.",
                  chapter=CHAPTER, columns={"name": "GPU"}, notes=["source"])

# %% [markdown]
# ## Table 3, computed
#
# {ref}`Table 3 (thesis) <table-3>` multiplies, for each model, the number of GPUs by their maximum power and by the
# training time, then by the average carbon intensity of electricity ({glue:text}`grid_region`,
# {glue:text}`grid_year:d`): {glue:text}`grid_intensity` kgCO2e/kWh. The power of each GPU is in the table above;
# it and the printed kWh and kgCO2e are in the full table folded below, and the {ref}`claims table <claims-4-2>`
# compares the printed values with the computed ones.

# %%
table3 = costs.assign(
    printed_kwh=runs["printed_kwh"], printed_kgco2e=runs["printed_kgco2e"]
)[["model", "hardware", "gpu_count", "power_w", "hours", "energy_kwh", "printed_kwh", "emissions_kgco2e", "printed_kgco2e"]]
report.show_table(
    table3,
    label="table-3",
    thesis="Table 3",
    caption="Estimated training energy and emissions of seven generative audio models: energy = GPUs × maximum "
    "power of one GPU × hours, emissions = 0.437 kgCO2e/kWh × energy.",
    chapter=CHAPTER,
    columns={"hardware": "GPU", "power_w": "Power (W)", "energy_kwh": "Energy (kWh)", "printed_kwh": "Printed energy (kWh)",
             "emissions_kgco2e": "Emissions (kgCO2e)", "printed_kgco2e": "Printed emissions (kgCO2e)"},
    formats={"energy_kwh": "{:.1f}", "printed_kwh": "{:g}", "emissions_kgco2e": "{:.2f}",
             "printed_kgco2e": "{:.2f}", "power_w": "{:.0f}", "hours": "{:g}"},
    main=["model", "gpu_count", "hardware", "hours", "energy_kwh", "emissions_kgco2e"],
)
_ = report.glue(grid_region=grid.region, grid_year=grid.year, grid_intensity=f"{grid.kgco2e_per_kwh:g}")

# %% [markdown]
# ## Table 4: familiar emissions, in kilograms
#
# To give the numbers a scale, the thesis converts Strubell et al.'s familiar emissions {cite}`strubell2019` from
# pounds, with 1 lbs = 0.45359237 kg ({ref}`Table 4 (thesis) <table-4>`).

# %%
familiar = published.load_familiar_emissions()
familiar["kgco2e"] = familiar["lbsco2e"].map(carbon.lbs_to_kg)
report.show_table(
    familiar[["consumption", "lbsco2e", "kgco2e", "printed_kgco2e", "source"]],
    label="table-4",
    thesis="Table 4",
    caption="Estimated CO2 emissions of familiar consumption, after Strubell et al. (2019): the kilograms computed "
    "from the pounds, and as printed.",
    chapter=CHAPTER,
    columns={"consumption": "Consumption", "lbsco2e": "Emissions (lbsCO2e)", "kgco2e": "Emissions (kgCO2e)",
             "printed_kgco2e": "Printed (kgCO2e)"},
    formats={"kgco2e": "{:.1f}", "printed_kgco2e": "{:.1f}"},
    main=["consumption", "lbsco2e", "kgco2e", "printed_kgco2e"],
    notes=[],
)

# %% [markdown]
# ## How the trainings compare with familiar emissions
#
# {ref}`The comparison <comparison-familiar>` divides each training's emissions by two of Table 4's rows. Jukebox's
# VQ-VAE, trained on {glue:text}`jukebox_gpus:d` GPUs for {glue:text}`jukebox_hours:.0f` hours, emits
# {glue:text}`jukebox_kg:,.0f` kgCO2e, {glue:text}`jukebox_human_years:.2f` of an average human's yearly emissions;
# every other training stays below {glue:text}`others_max_flights:.2f` of one passenger's flight. §4.2.2.1 calls
# Jukebox's training "almost on par with the emissions of a human being for a whole year"; how that reads against
# Table 4 is discussed in {doc}`the errata <04_4_errata>`.

# %%
by_consumption = familiar.set_index("consumption")["kgco2e"]
human_year = by_consumption.loc["Human life, avg, 1 year"]
flight = by_consumption.loc["Air travel, 1 passenger, NY ↔ SF"]
comparison = costs[["model", "emissions_kgco2e"]].assign(
    human_years=costs.emissions_kgco2e / human_year,
    ny_sf_flights=costs.emissions_kgco2e / flight,
)
report.show_table(
    comparison,
    label="comparison-familiar",
    caption="Each training's estimated emissions as a fraction of one average human's yearly emissions and of one "
    "passenger's New York–San Francisco flight, from Tables 3 and 4.",
    chapter=CHAPTER,
    columns={"emissions_kgco2e": "Emissions (kgCO2e)", "human_years": "Human-years",
             "ny_sf_flights": "NY–SF flights"},
    formats={"emissions_kgco2e": "{:.2f}", "human_years": "{:.3f}", "ny_sf_flights": "{:.3f}"},
)
jukebox = comparison.set_index("model").loc["Jukebox"]
_ = report.glue(
    jukebox_gpus=int(costs.set_index("model").loc["Jukebox", "gpu_count"]),
    jukebox_hours=costs.set_index("model").loc["Jukebox", "hours"],
    jukebox_kg=jukebox.emissions_kgco2e,
    jukebox_human_years=jukebox.human_years,
    jukebox_flights=jukebox.ny_sf_flights,
    jukebox_share=jukebox.emissions_kgco2e / costs.emissions_kgco2e.sum(),
    others_max_flights=comparison[comparison.model != "Jukebox"].ny_sf_flights.max(),
)

# %% [markdown]
# ## Estimate against measurement: SING
#
# The thesis checked its worst-case estimate on one model (§4.2.2.1): it retrained SING on a single TITAN X with
# Carbontracker, which measured one epoch and *predicted* the whole training by multiplying it by the paper's number
# of epochs: a prediction, not a measurement of the full run. {ref}`Both numbers <sing-check>` are data from the
# thesis. The estimate, recomputed from {glue:text}`sing_gpus:d` GPUs of {glue:text}`sing_power_w:.0f` W for
# {glue:text}`sing_hours:.0f` hours, is {glue:text}`sing_estimate_kwh:g` kWh; the prediction is
# {glue:text}`sing_excess:.0%` above it.

# %%
sing = published.load_sing_check()
sing_run = costs.set_index("model").loc["SING"]
estimated = carbon.compute_worst_case_energy_kwh(sing_run.hardware, sing_run.gpu_count, sing_run.hours)
report.show_table(
    sing.assign(
        quantity=sing.quantity.map({"estimated": "Worst-case estimate", "predicted": "Carbontracker prediction"}),
        how=sing.quantity.map({"estimated": "GPUs × maximum power × hours (Eq. 48)",
                               "predicted": "one epoch measured × the paper's epochs"}),
    )[["quantity", "value_kwh", "hardware", "how", "tool", "method", "source"]],
    label="sing-check",
    caption="SING's training energy: the thesis's worst-case estimate and its Carbontracker prediction (§4.2.2.1).",
    chapter=CHAPTER,
    columns={"value_kwh": "Energy (kWh)", "hardware": "Hardware", "how": "How", "tool": "Tool",
             "method": "Method (as recorded)"},
    main=["quantity", "value_kwh", "hardware", "how"],
    notes=[],
)
predicted = sing.set_index("quantity").loc["predicted", "value_kwh"]
_ = report.glue(
    sing_gpus=int(sing_run.gpu_count),
    sing_hours=sing_run.hours,
    sing_power_w=sing_run.power_w,
    sing_estimate_kwh=estimated,
    sing_excess=predicted / estimated - 1,
)

# %% [markdown]
# The prediction is *above* the "worst case": the estimate leaves out the CPU, the memory and the data centre's
# overhead (its PUE), while Carbontracker counts the CPU and multiplies by a PUE of 1.58. Strubell et al.'s fuller
# form (Eq. 46) makes this explicit. For SING, with an illustrative 100 W of CPU and 20 W of memory (assumptions, not
# measurements) and a PUE of {glue:text}`strubell_pue:g`, it gives {glue:text}`strubell_kwh:.1f` kWh,
# {glue:text}`strubell_ratio:.2f` times the worst case.

# %%
strubell = carbon.compute_strubell_energy_kwh(hours=sing_run.hours, gpu_power_w=sing_run.hardware,
                                              gpu_count=int(sing_run.gpu_count), cpu_power_w=100, dram_power_w=20,
                                              pue="uptime-2018")
_ = report.glue(strubell_kwh=strubell, strubell_ratio=strubell / estimated,
                strubell_pue=carbon.get_pue("uptime-2018").pue)

# %% [markdown]
# ## What the thesis concludes from Table 3
#
# §4.2.2.1 sums up Table 3 in two ranges and checks the estimate on SING. {ref}`The claims table <claims-4-2>` sets
# each statement against this build's numbers. The upper end of the emissions range is printed as 2416.5 in the text
# and 2416.44 in the table; {doc}`the errata <04_4_errata>` explain which stands.

# %% tags=["hide-input"]
n_agree = int(((table3.energy_kwh.round(1) == table3.printed_kwh)
               & (table3.emissions_kgco2e.round(2) == table3.printed_kgco2e)).sum())
lo, hi = costs.energy_kwh.min(), costs.energy_kwh.max()
lo_kg, hi_kg = costs.emissions_kgco2e.min(), costs.emissions_kgco2e.max()
sing_estimate = sing.set_index("quantity").loc["estimated", "value_kwh"]
claims = pd.DataFrame([
    {"claim": "Table 3: kWh and kgCO2e of each model (Eq. 48)", "section": "4.2.2.1",
     "thesis": "7 rows as printed", "this_build": f"{n_agree} of {len(table3)} rows agree",
     "holds": n_agree == len(table3)},
    {"claim": "energy consumption ranges from 24 kWh to 5529.6 kWh", "section": "4.2.2.1",
     "thesis": "24 – 5529.6 kWh", "this_build": f"{lo:g} – {hi:.1f} kWh",
     "holds": round(lo, 1) == 24 and round(hi, 1) == 5529.6},
    {"claim": "carbon footprint from 10.49 kgCO2eq to 2416.5 kgCO2eq", "section": "4.2.2.1",
     "thesis": "10.49 – 2416.5 kg", "this_build": f"{lo_kg:.2f} – {hi_kg:.2f} kg",
     "holds": round(lo_kg, 2) == 10.49 and round(hi_kg, 1) == 2416.5},
    {"claim": "our initial estimation of 52 kWh (SING)", "section": "4.2.2.1",
     "thesis": "52 kWh", "this_build": f"{estimated:g} kWh", "holds": round(estimated, 1) == sing_estimate},
    {"claim": "the training consumes 64.8 kWh, slightly higher than our estimation", "section": "4.2.2.1",
     "thesis": "higher", "this_build": f"{predicted / estimated - 1:+.0%}", "holds": predicted > estimated},
])
report.show_claims(claims, label="claims-4-2", chapter=CHAPTER,
                   caption="§4.2.2.1's statements on the training costs against this build's computation.")
_ = report.glue(
    n_rows=len(table3), n_rows_agree=n_agree,
    min_kwh=lo, max_kwh=hi, min_kg=lo_kg, max_kg=hi_kg,
)

# %% [markdown]
# ## Sensitivity: the same trainings on other grids and in other data centres
#
# The estimate is linear in the carbon intensity and in the PUE. {ref}`The sensitivity figure <figure-sensitivity>`
# recomputes every training's emissions on several national grids (2023 data) and with several data-centre PUEs.
# Because every training shares the same factors, the ranking of the models is {glue:text}`ranking_verdict` on every
# grid; the absolute numbers move by more than an order of magnitude: the total of the seven trainings goes from
# {glue:text}`total_low:,.0f` kgCO2e (the cleanest grid, no overhead) to {glue:text}`total_high:,.0f` kgCO2e.

# %%
rows = []
for grid_name, pue_name in carbon.iter_grid_scenarios(SENSITIVITY_GRIDS, SENSITIVITY_PUES):
    scenario = carbon.compute_training_costs(runs, grid=grid_name, pue=pue_name)
    for r in scenario.itertuples(index=False):
        rows.append({"model": r.model, "grid": grid_name, "pue": pue_name, "energy_kwh": r.energy_kwh,
                     "emissions_kgco2e": r.emissions_kgco2e})
sensitivity = pd.DataFrame(rows)
sensitivity.to_csv(report.results_dir(CHAPTER) / "sensitivity-long.csv", index=False)
grid_names = {g: f"{carbon.get_grid(g).region} {carbon.get_grid(g).year}" + (" (thesis)" if g == THESIS_GRID else "")
              for g in sensitivity.grid.unique()}
pue_names = {p: f"PUE {carbon.get_pue(p).pue:g}" for p in sensitivity.pue.unique()}
named = sensitivity.assign(grid=sensitivity.grid.map(grid_names), pue=sensitivity.pue.map(pue_names))

# %%
fig, axes = plt.subplots(2, 1, figsize=(7.5, 8.5), gridspec_kw={"height_ratios": [7, 4]})
no_pue = named[named.pue == pue_names["none"]]
plotting.plot_sensitivity(no_pue, value="emissions_kgco2e", row="model", column="grid", ax=axes[0],
                          colorbar_label="kgCO2e (PUE 1.0)", fontsize=8)
axes[0].set_title("Table 3 on other grids (PUE 1.0)")
totals = named.groupby(["grid", "pue"], as_index=False)["emissions_kgco2e"].sum()
plotting.plot_sensitivity(totals, value="emissions_kgco2e", row="pue", column="grid",
                          ax=axes[1], colorbar_label="kgCO2e, total", fontsize=8)
axes[1].set_title("Total of Table 3, grid x PUE")
fig.tight_layout()
cleanest, dirtiest = totals.groupby("grid").emissions_kgco2e.sum().sort_values().index[[0, -1]]
top = no_pue.loc[no_pue.groupby("grid").emissions_kgco2e.idxmax(), "model"].unique()
report.show_figure(
    fig,
    label="figure-sensitivity",
    caption="Sensitivity of Table 3 to the carbon intensity (national grids, Our World in Data / Ember 2023) and to "
    "the PUE: top, each model at PUE 1.0; bottom, the total of the seven trainings. Not a figure of the thesis.",
    alt=f"Two heat maps of emissions in kgCO2e. Top: the {runs.model.nunique()} models (rows) on "
    f"{no_pue.grid.nunique()} grids (columns); highest on every grid: {', '.join(top)}. Bottom: the total of the "
    f"trainings for {totals.pue.nunique()} PUE values (rows) and the same grids; lowest on the {cleanest} grid, "
    f"highest on the {dirtiest} grid.",
    chapter=CHAPTER,
)

# %%
totals_wide = totals.pivot(index="grid", columns="pue", values="emissions_kgco2e")
ranks = no_pue.pivot(index="model", columns="grid", values="emissions_kgco2e").rank(ascending=False)
total_low, total_high = totals_wide.min().min(), totals_wide.max().max()
_ = report.glue(
    ranking_verdict="the same" if bool((ranks.nunique(axis=1) == 1).all()) else "not the same",
    total_low=total_low, total_high=total_high, total_ratio=total_high / total_low,
)

# %% tags=["hide-input"]
sources = {g: carbon.get_grid(g).source for g in SENSITIVITY_GRIDS}
report.show_provenance([
    {"quantity": "Training energy (Table 3)",
     "method": "estimated: GPUs × maximum power × hours (Eq. 48), no CPU, memory or PUE",
     "tool": "published GPU counts and hours; datasheet powers", "machine": "none (published data)",
     "when": "thesis inputs (2023); computed in this build"},
    {"quantity": "Carbon intensity of Table 3", "method": f"{grid.kgco2e_per_kwh:g} kgCO2e/kWh, {grid.region} {grid.year}",
     "tool": sources[THESIS_GRID], "machine": "n/a", "when": f"{grid.year}"},
    {"quantity": "SING's training energy",
     "method": sing.set_index("quantity").loc["predicted", "method"].split(":", 1)[-1],
     "tool": sing.set_index("quantity").loc["predicted", "tool"],
     "machine": sing.set_index("quantity").loc["predicted", "hardware"], "when": "thesis (2023)"},
    {"quantity": "Grids of the sensitivity study", "method": "national yearly averages",
     "tool": "; ".join(dict.fromkeys(s for g, s in sources.items() if g != THESIS_GRID)), "machine": "n/a",
     "when": ", ".join(sorted({str(carbon.get_grid(g).year) for g in SENSITIVITY_GRIDS if g != THESIS_GRID}))},
], chapter=CHAPTER)
