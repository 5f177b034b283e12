# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 4.4.1: check an erratum by hand
#
# Recompute the %MOS of Table 5 (MOS of the model / MOS of the ground truth) from `published.load_inter_model_mos()`
# with plain pandas, round it as printed, and find the row that disagrees. Then compare with
# `errata.check_table5_pct_mos()`.

# %% tags=["hide-cell"]
from greenaudio import errata, published

table5 = published.load_inter_model_mos()
by_hand = (table5.mos_m / table5.mos_gt).round(2)
print("rows that disagree:", table5.model[by_hand != table5.printed_pct_mos].tolist())
library = [e.item for e in errata.check_table5_pct_mos() if not e.consistent]
print("the library's check:", library)
assert library == table5.model[by_hand != table5.printed_pct_mos].tolist()

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# A %MOS above 1 would mean the model sounds better than the real recordings; the printed value is the inverse
# ratio, so the two MOS columns were most likely swapped for that row. Recomputing a printed number from the numbers
# it was derived from is the cheapest check a reader can make.
# :::
