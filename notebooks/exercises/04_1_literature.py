# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 4.1.1: who reports both quality and efficiency?
#
# With `published.load_metric_occurrences()` (one row per paper of the census, one boolean column per metric), list
# the papers that report at least one quality metric (`published.QUALITY_METRICS`) *and* at least one efficiency
# metric (`published.EFFICIENCY_METRICS`). What fraction of the census is that?

# %% tags=["hide-cell"]
import pandas as pd
from IPython.display import display

from greenaudio import published

occurrences = published.load_metric_occurrences()
quality = occurrences[list(published.QUALITY_METRICS)].any(axis=1)
efficiency = occurrences[list(published.EFFICIENCY_METRICS)].any(axis=1)
both = occurrences.loc[quality & efficiency, ["model", "year"]].rename(columns={"model": "Paper", "year": "Year"})
display(pd.DataFrame({"Papers reporting both": [len(both)], "Papers in the census": [len(occurrences)],
                      "Share": [f"{len(both) / len(occurrences):.0%}"]}))
both

# %% [markdown]
# ### Exercise 4.1.2: efficiency metrics over the years
#
# Group the census by publication year: in each year, how many papers report *no* efficiency metric at all?

# %% tags=["hide-cell"]
per_year = occurrences.assign(no_efficiency=~efficiency).groupby("year").agg(
    papers=("model", "size"), without=("no_efficiency", "sum"))
per_year.rename_axis("Year").rename(columns={"papers": "Papers", "without": "Papers without an efficiency metric"})

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# Quality is reported far more often than cost, and the cost that is reported is mostly a real-time factor or a
# parameter count — never FLOPs — which is what motivates the thesis's call to report training and inference energy
# beside quality.
# :::
