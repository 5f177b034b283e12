# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 5.2.1: the carbon of the thesis's training protocol
#
# The thesis trained 18 configurations for up to 120 h each on one RTX A5000 (§5.1.3). Estimate the worst-case
# energy of the whole protocol with `carbon.compute_worst_case_energy_kwh` and its emissions on the thesis's world
# grid, in France and in Poland. Then do the same for your own last training run.

# %% tags=["hide-cell"]
from greenaudio import carbon

protocol_kwh = carbon.compute_worst_case_energy_kwh("RTX A5000", 1, 18 * 120)
for grid in ("thesis-world-2018", "france", "poland"):
    print(f"{protocol_kwh:.1f} kWh on {grid}: {carbon.compute_emissions_kgco2e(protocol_kwh, grid):.1f} kgCO2e")

# %% [markdown]
# ### Exercise 5.2.2: does the cheap metric agree with the listeners?
#
# Using the thesis's published Table 7 (`published.load_vocoder_quality()`, ground truth excluded), compute the
# Spearman rank correlation between the human MOS and each automatic metric (`d_stft`, `inception_score`,
# `am_score`, `fid`). Which metric ranks the models most like the listeners do? Mind the sign: for a distance, lower
# is better.

# %% tags=["hide-cell"]
from greenaudio import published

table7 = published.load_vocoder_quality()
table7 = table7[table7.model != "ground_truth"]
table7[["mos", "d_stft", "inception_score", "am_score", "fid"]].corr(method="spearman")["mos"].drop("mos").round(2)

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# The reconstruction distance is negatively correlated with MOS (lower distance, better sound), while the
# classifier-based scores say much less about what listeners hear. That is why the thesis argues for a listening
# test, and why the quick mode of this chapter — whose models are barely trained — must not be compared with it.
# :::
