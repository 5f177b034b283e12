# %% [markdown]
# # 4.1 Which metrics do papers report?
#
# *Thesis §2.4 (Table 1), §4.1 (Figure 26) and Appendix A (Table 11).*
#
# The thesis surveys the end-to-end waveform synthesis literature: 18 models (Table 1) and 19 papers whose evaluation
# metrics it counts (Table 11, the 18 models plus Parallel WaveNet). This chapter loads both tables from the package's
# data files — each row with its publication — and recomputes Figure 26, the number of papers reporting each quality
# and efficiency metric.

COLAB

# %% tags=["parameters"]
# no effect here: this chapter only reads published data
QUICK = True
CHAPTER = "04-1-literature"

# %%
import matplotlib

matplotlib.use("Agg")
import pandas as pd

from greenaudio import plotting, published, report

census = published.load_census()
occurrences = published.load_metric_occurrences()
counts = published.compute_metric_counts(occurrences)

# %% [markdown]
# ## The models of the census
#
# {numref}`table-1` reproduces the thesis's Table 1 (dates as printed, in French, and as ISO months), with the
# publication of each model.

# %%
table1 = census[["date_printed", "date", "model", "type", "speech", "music", "authors", "year", "venue"]]
report.show_table(
    table1.rename(columns={"date_printed": "date (printed)"}),
    label="table-1",
    caption="The 18 models of the census: publication date, generation strategy and application "
    "(Table 1 of the thesis), with each model's publication.",
    chapter=CHAPTER,
    formats={"speech": lambda v: "•" if v else "", "music": lambda v: "•" if v else ""},
)

# %% [markdown]
# ## Which metrics each paper reports
#
# {numref}`table-11` is Appendix A's Table 11: six quality metrics (MOS or another perceptual test, reconstruction,
# log-likelihood, IS, FID, NDB) and five efficiency metrics (real-time factor, parameters, training time, memory
# size, FLOPs) for 19 papers.

# %%
metric_columns = list(published.QUALITY_METRICS + published.EFFICIENCY_METRICS)
table11 = occurrences[["model", *metric_columns, "year", "venue"]]
report.show_table(
    table11,
    label="table-11",
    caption="Occurrences of evaluation metrics in the neural audio synthesis literature (Table 11 of the thesis).",
    chapter=CHAPTER,
    formats={m: (lambda v: "•" if v else "") for m in metric_columns},
)

# %% [markdown]
# ## Figure 26: counts per metric
#
# Summing the columns of {numref}`table-11` gives {numref}`figure-26`.

# %%
fig = plotting.plot_metric_counts(counts, total_papers=len(occurrences))
report.show_figure(
    fig,
    label="figure-26",
    caption=f"Number of the {len(occurrences)} papers reporting each quality metric (blue, left) and efficiency "
    "metric (green, right), computed from Table 11 (Figure 26 of the thesis). The dashed line marks the number of "
    "papers.",
    chapter=CHAPTER,
)

# %%
report.show_table(
    counts,
    label="metric-counts",
    caption="The counts behind Figure 26, computed from Table 11.",
    chapter=CHAPTER,
)

# %% [markdown]
# ## What the counts say
#
# The cell below writes the thesis's observations from the computed counts rather than restating them.

# %%
by_metric = counts.set_index("metric")["papers"]
quality = counts[counts.category == "quality"].sort_values("papers", ascending=False)
efficiency = counts[counts.category == "efficiency"].sort_values("papers", ascending=False)
print(f"Most reported quality metric: {quality.iloc[0].metric} ({quality.iloc[0].papers} of {len(occurrences)} papers).")
print(f"Most reported efficiency metric: {efficiency.iloc[0].metric} ({efficiency.iloc[0].papers} papers).")
print(f"Papers reporting FLOPs: {by_metric['FLOP']}; reporting energy: none (energy is not even a column).")
print(f"Papers reporting no efficiency metric at all: "
      f"{int((~occurrences[list(published.EFFICIENCY_METRICS)].any(axis=1)).sum())}.")
only_in_11 = sorted(set(occurrences.model) - set(census.model))
print(f"Models in Table 11 but not in Table 1: {only_in_11}.")
