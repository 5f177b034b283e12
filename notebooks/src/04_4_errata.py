# %% [markdown]
# # Errata: where the printed numbers disagree
#
# *All chapters of the thesis.*
#
# Recomputing the thesis's tables from their inputs shows a few places where printed numbers disagree with each other.
# The book never corrects them silently: `greenaudio.errata` recomputes each printed number from other printed numbers
# (or compares two places that print the same quantity), and this chapter lists the results. The chapters use the
# printed values, as the thesis did, and point here.

COLAB

# %% tags=["parameters"]
# no effect here: computed from published data
QUICK = True
CHAPTER = "04-4-errata"

# %%
import pandas as pd

from greenaudio import errata, report

checks = errata.compute_errata()
summary = checks.groupby(["check", "location"], as_index=False).agg(
    compared=("consistent", "size"), inconsistent=("consistent", lambda s: int((~s).sum()))
)
report.show_table(summary, label="errata-summary", chapter=CHAPTER,
                  caption="Every check, how many values it compares and how many disagree.")


# %%
def show(check: str, label: str, caption: str, only_inconsistent: bool = False):
    rows = checks[checks.check == check]
    if only_inconsistent:
        rows = rows[~rows.consistent]
    return report.show_table(rows[["location", "item", "printed", "computed", "consistent", "note"]], label=label,
                             caption=caption, chapter=CHAPTER,
                             formats={"computed": lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)})


# %% [markdown]
# ## Table 5: one %MOS is inverted
#
# §4.3.1 defines $\%\mathrm{MOS} = \mathrm{MOS}_M / \mathrm{MOS}_{GT}$. For WaveGAN the printed MOS columns give 1.70,
# while the printed %MOS, 0.59, is $\mathrm{MOS}_{GT} / \mathrm{MOS}_M$: one of the two is swapped. Figure 27 uses
# 0.59; with 1.70 WaveGAN would dominate every other model of the inter-model study.

# %%
show("table5-pct-mos", "errata-table5", "Table 5's %MOS recomputed from its MOS columns.")

# %% [markdown]
# ## Table 3 against the text of §4.2.1
#
# Table 3's own arithmetic is exact (every kWh and kgCO2e is reproduced, see Chapter 4.2), but some of its inputs
# differ from the training details the text gives.

# %%
show("jukebox-gpus", "errata-jukebox", "Jukebox's GPU count: §4.2.1 against Table 3.")

# %%
show("table3-hours", "errata-hours", "Training times of §4.2.1 converted to hours against Table 3.")

# %%
show("jukebox-text-kg", "errata-jukebox-kg", "Jukebox's emissions quoted in §4.2.2.1 against Table 3.")

# %% [markdown]
# ## Figure 27: who dominates whom
#
# §4.3.1 states that FloWaveNet is dominated "by SING and RAVE" in training, and that WaveGAN and FloWaveNet are both
# dominated by RAVE and SING in inference. With the printed %MOS, RAVE (0.71) cannot dominate FloWaveNet (0.85).

# %%
show("figure27-dominance", "errata-figure27", "Dominators of §4.3.1's statements, recomputed.")

# %% [markdown]
# ## §4.3.2: training steps per WaveFlow configuration
#
# The text assigns 3M steps to "res. channels 64 and 96" and 2M to "res. channels 128 and 96". Under reading A
# (r = 96 gets 3M steps) the training energy per million steps grows with the model size; under reading B it does not.

# %%
show("waveflow-steps", "errata-waveflow-steps", "Table 6's E_train per million steps under both readings of §4.3.2.")

# %% [markdown]
# ## Table 8: the unit of E_gen
#
# Table 8 prints E_gen in mJ for 100 s of generated audio. Its own GPU real-time factors say how long that generation
# took, so E_gen / time is the average power it implies: a fraction of a watt if the unit is mJ, tens to hundreds of
# watts — plausible for an RTX A5000 — if it is joules.

# %%
show("table8-egen-unit", "errata-table8", "Average power implied by Table 8's E_gen and GPU RTF.")

# %% [markdown]
# ## §6.4 and Table 9

# %%
show("section6.4-gflops", "errata-section64", "GFLOPs quoted in §6.4 against Table 8.")

# %%
show("table9-fp32-size", "errata-table9", "Table 9's fp32 sizes against Table 8's parameters x 4 bytes "
     "(rows that disagree).", only_inconsistent=True)

# %% [markdown]
# Table 9's WaveGrad sizes (16.8, 42.5, 68.5 MB) correspond to 4.2, 10.6 and 17.1 million parameters — the three
# sizes of the thesis's code — while Table 8 prints 4.18M, 17.12M and 33.91M: Table 8's medium is the code's large,
# and no configuration of the code has 33.91M parameters (see the models chapter).
