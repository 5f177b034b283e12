# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library. The exercises of this section are numbered 4.3.2.n (those
# of {doc}`04_3_pareto` are 4.3.n).
#
# ### Exercise 4.3.2.1: which step counts did the thesis mean?
#
# §4.3.2 lists r = 96 under both 3M and 2M training steps. With Table 6's printed $E_{train}$
# (`ws.thesis_table()`) and each reading of the step counts (`ws.load_step_readings()`), compute the printed energy
# per million steps of every configuration. WF3 (r = 96) and WF4 (r = 128) have the same height h = 16 and their
# steps cost FLOPs roughly in proportion to $r^2$ (the chapter's FLOPs table): on the same GPUs, a WF4 step must
# cost more energy than a WF3 step. Which reading keeps that order?

# %% tags=["hide-cell"]
from greenaudio.chapters import waveflow as ws

table6 = ws.thesis_table().set_index("configuration")
r_of = {"WF1": 64, "WF2": 64, "WF3": 96, "WF4": 128, "WF5": 256}
for name, steps in ws.load_step_readings().items():
    per_million = {c: table6.e_train[c] / steps[r] for c, r in r_of.items()}
    verdict = "keeps" if per_million["WF4"] > per_million["WF3"] else "breaks"
    print(f"{name}: " + ", ".join(f"{c} {v:.1f}" for c, v in per_million.items())
          + f" kWh per million steps; {verdict} WF3 < WF4 (FLOPs ratio (128/96)^2 = {(128 / 96) ** 2:.2f})")

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# Under the reading r = 96 -> 2M, a WF3 step would cost more energy than a WF4 step although it computes fewer
# FLOPs on the same hardware; under r = 96 -> 3M the order is the expected one. The chapter decides the erratum the
# same way, but with the per-step costs *measured* on this machine instead of a FLOPs argument.
# :::
#
# ### Exercise 4.3.2.2: the plain reverse, counted and by hand
#
# Count the GFLOPs per second of audio of WF1 (h = 8) for the fast and the plain reverse with
# `ws.compute_flops_table(["wf1"])`. The fast reverse computes each of the h − 1 generated rows once; the plain one
# recomputes the whole prefix for every row, h(h − 1)/2 row computations in all. Check the counted ratio against
# h/2, then predict the ratio of WF2 (h = 16) without counting it.

# %% tags=["hide-cell"]
from greenaudio.chapters import waveflow as ws

counted = ws.compute_flops_table(["wf1"]).iloc[0]
h = 8
print(f"WF1: fast {counted.gflops_per_audio_s_fast:.1f}, plain {counted.gflops_per_audio_s_plain:.1f} GFLOPs per s "
      f"of audio; ratio {counted.plain_over_fast:.2f} (h/2 = {h / 2:g}, the mel upsampler is shared by both)")
print(f"WF2 (h = 16): predicted ratio {16 * 15 / 2 / 15:g}")

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# h(h − 1)/2 row computations against h − 1 give a ratio of h/2: 4 for WF1, 8 for WF2–WF5. The counted ratio
# sits just below h/2 because the mel upsampler (a small share) runs once in both. Which reverse an implementation
# uses therefore changes its FLOPs, and its generation energy, several times over: a cost figure must say which one
# it counts.
# :::
#
# ### Exercise 4.3.2.3: a quality that is minimised
#
# The mini-trained column of Figure 28 uses $\mathcal{D}_{STFT}$, a distance: lower is better. Make a toy
# distance from Table 6 (`d_stft = 5 - mos`), compute the fronts with `ws.compute_fronts(table, "d_stft")` (the
# module knows that D_STFT is minimised) and compare them with the MOS fronts. Then compute them again as if the
# distance were a score (`sense="max"`): which configurations would a reader who forgot the direction call optimal?

# %% tags=["hide-cell"]
from greenaudio.chapters import waveflow as ws

toy = ws.thesis_table().assign(d_stft=lambda t: 5 - t.mos)
by_mos = ws.compute_fronts(toy, "mos")
by_distance = ws.compute_fronts(toy, "d_stft")
wrong_way = ws.compute_fronts(toy, "d_stft", sense="max")
assert by_distance.equals(by_mos)  # a decreasing transform of the quality, minimised: the same fronts
for front in ws.FRONTS:
    print(f"{front}: optimal with D_STFT minimised: {', '.join(toy.configuration[by_distance[f'optimal_{front}']])}; "
          f"with the direction forgotten: {', '.join(toy.configuration[wrong_way[f'optimal_{front}']])}")

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# Minimising a distance that falls as the MOS rises gives exactly the MOS fronts. With the direction forgotten,
# the cheapest configuration always looks best (it is both the cheapest and, read the wrong way, the "best"
# quality), and the front collapses onto it: every Pareto plot must state which way each axis is optimised.
# :::
