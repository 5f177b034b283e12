# %% [markdown]
# # 4.1 Which metrics do papers report?
#
# ## What this chapter shows
#
# - Of the {glue:text}`n_papers:d` papers of the thesis's census, {glue:text}`top_quality_papers:d` report a
#   {glue:text}`top_quality` (a listening test): quality is judged by people far more often than by any computed
#   score, the next of which appears in at most {glue:text}`second_quality_papers:d` papers.
# - Cost is reported less often. The most common efficiency metric, the {glue:text}`top_efficiency_name`, appears in
#   {glue:text}`top_efficiency_papers:d` papers; {glue:text}`no_efficiency_papers:d` papers report no efficiency metric
#   at all.
# - No paper reports the number of floating-point operations ({glue:text}`flop_papers:d` papers), and none reports
#   energy: the census has no column for it.
# - Of the {glue:text}`n_models:d` models of Table 1, {glue:text}`n_speech:d` are used for speech and
#   {glue:text}`n_music:d` for music ({glue:text}`n_both:d` for both).
# - The thesis's reading of its Figure 26 is checked in {ref}`a claims table <claims-4-1>`:
#   {glue:text}`n_claims_hold:d` of its {glue:text}`n_claims:d` statements hold.
#
# *Thesis §2.4 (Table 1), §4.1 (Figure 26) and Appendix A (Table 11).* The thesis surveys the literature on end-to-end
# waveform synthesis: 18 models (Table 1) and 19 papers whose evaluation metrics it counts (Table 11: the 18 models
# and Parallel WaveNet). This chapter loads both tables from the package's data files, each row with its publication,
# and recomputes Figure 26, the number of papers reporting each quality and efficiency metric.

COLAB

# %% tags=["parameters"]
QUICK = True
CHAPTER = "04-1-literature"

# %% [markdown]
# `QUICK` has no effect here: this chapter only reads published data.

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
# {ref}`Table 1 (thesis) <table-1>` lists the 18 models with their date (as printed, in French, and as a month),
# their generation strategy and whether they were used for speech, music or both. The publication each model comes
# from (year, venue, authors) is in the full table folded below it.

# %%
dot = lambda v: "•" if v else ""  # noqa: E731
report.show_table(
    census[["date_printed", "date", "model", "type", "speech", "music", "year", "venue", "authors"]],
    label="table-1",
    thesis="Table 1",
    caption="The 18 models of the census: publication date, generation strategy and application, with each "
    "model's publication.",
    chapter=CHAPTER,
    columns={"date_printed": "Date (printed)", "date": "Month", "type": "Type", "speech": "Speech",
             "music": "Music", "year": "Published", "venue": "Published in", "authors": "Authors"},
    formats={"speech": dot, "music": dot},
    main=["date_printed", "date", "model", "type", "speech", "music"],
    notes=[],
)
_ = report.glue(
    n_models=len(census),
    n_speech=int(census.speech.sum()),
    n_music=int(census.music.sum()),
    n_both=int((census.speech & census.music).sum()),
)

# %% [markdown]
# ## Which metrics each paper reports
#
# {ref}`Table 11 (thesis) <table-11>` is Appendix A's table: for each of the 19 papers, which of six quality metrics
# (a MOS or another perceptual test, a reconstruction distance, a log-likelihood, the inception score IS, the Fréchet
# distance FID, the number of statistically different bins NDB) and of five efficiency metrics (a real-time factor or
# other inference time, the number of parameters, the training time, the memory size, the number of floating-point
# operations) it reports. The main table lists them by name; the full table, one column per metric as printed, is
# folded below it. The one paper of Table 11 that Table 1 lacks is {glue:text}`only_in_table_11`.

# %%
metric_columns = list(published.QUALITY_METRICS + published.EFFICIENCY_METRICS)


def reported(row, metrics) -> str:
    return ", ".join(m for m in metrics if row[m]) or "none"


table11 = occurrences[["model", "year", *metric_columns, "venue"]].assign(
    quality=[reported(r, published.QUALITY_METRICS) for _, r in occurrences.iterrows()],
    efficiency=[reported(r, published.EFFICIENCY_METRICS) for _, r in occurrences.iterrows()],
)
report.show_table(
    table11,
    label="table-11",
    thesis="Table 11",
    caption="Occurrences of evaluation metrics in the neural audio synthesis literature: the quality and "
    "efficiency metrics each of the 19 papers reports.",
    chapter=CHAPTER,
    columns={"year": "Year", "quality": "Quality metrics", "efficiency": "Efficiency metrics",
             "TrainTime": "Train time", "Param": "Params", "Recon": "Recon", "venue": "Published in"},
    formats={m: dot for m in metric_columns},
    main=["model", "year", "quality", "efficiency"],
    notes=[],
)
only_in_11 = sorted(set(occurrences.model) - set(census.model))
_ = report.glue(only_in_table_11=", ".join(only_in_11))

# %% [markdown]
# ## Figure 26: counts per metric
#
# Summing the columns of Table 11 gives {ref}`Figure 26 (thesis) <figure-26>`; the counts themselves are in
# {ref}`the table below it <metric-counts>`.

# %%
fig = plotting.plot_metric_counts(counts, total_papers=len(occurrences))
report.show_figure(
    fig,
    label="figure-26",
    thesis="Figure 26",
    caption=f"Number of the {len(occurrences)} papers reporting each quality metric (blue, left) and efficiency "
    "metric (green, right), computed from Table 11. The dashed line marks the number of papers.",
    alt=f"Two bar charts of paper counts out of {len(occurrences)}. Quality metrics: "
    + ", ".join(f"{r.metric} {r.papers}" for r in counts[counts.category == "quality"].itertuples())
    + ". Efficiency metrics: "
    + ", ".join(f"{r.metric} {r.papers}" for r in counts[counts.category == "efficiency"].itertuples()) + ".",
    chapter=CHAPTER,
)

# %%
report.show_table(
    counts,
    label="metric-counts",
    caption="The counts behind Figure 26: the number of papers of Table 11 reporting each metric.",
    chapter=CHAPTER,
    columns={"metric": "Metric", "name": "Meaning", "category": "Kind", "papers": "Papers"},
)

# %% [markdown]
# ## What the counts say
#
# The thesis reads four things in Figure 26 (§4.1). The MOS is the most used quality metric, although it rests
# entirely on human judgement; computed quality scores are much rarer. The real-time factor is the reference for
# efficiency, since neural audio synthesis is meant to run in real time. No paper counts floating-point operations,
# only parameters. Some papers give their training time, but none the energy of training or of generation.
# {ref}`The claims table <claims-4-1>` checks each of these statements against the counts.
# {glue:text}`no_efficiency_papers:d` of the {glue:text}`n_papers:d` papers give no efficiency metric at all.

# %% tags=["hide-input"]
quality = counts[counts.category == "quality"].sort_values("papers", ascending=False, kind="stable")
efficiency = counts[counts.category == "efficiency"].sort_values("papers", ascending=False, kind="stable")
by_metric = counts.set_index("metric")["papers"]
no_efficiency = int((~occurrences[list(published.EFFICIENCY_METRICS)].any(axis=1)).sum())
claims = pd.DataFrame([
    {"claim": "nineteen publications that perform end-to-end waveform synthesis", "section": "4.1",
     "thesis": "19", "this_build": str(len(occurrences)), "holds": len(occurrences) == 19},
    {"claim": "the MOS is the most popular quality metric", "section": "4.1",
     "thesis": "MOS", "this_build": f"{quality.iloc[0].metric} ({quality.iloc[0].papers} papers)",
     "holds": quality.iloc[0].metric == "MOS" and quality.iloc[0].papers > quality.iloc[1].papers},
    {"claim": "other objective quality measures are largely less frequently encountered", "section": "4.1",
     "thesis": "less frequent than the MOS", "this_build": f"at most {quality.iloc[1].papers} papers each",
     "holds": bool(quality.iloc[1].papers < quality.iloc[0].papers / 2)},
    {"claim": "the RTF seems to be the reference metric for efficiency", "section": "4.1",
     "thesis": "RTF", "this_build": f"{efficiency.iloc[0].metric} ({efficiency.iloc[0].papers} papers)",
     "holds": efficiency.iloc[0].metric == "RTF" and efficiency.iloc[0].papers > efficiency.iloc[1].papers},
    {"claim": "there are no study mentioning the number of FLOP", "section": "4.1",
     "thesis": "0", "this_build": str(by_metric["FLOP"]), "holds": by_metric["FLOP"] == 0},
    {"claim": "some studies do mention the training time", "section": "4.1",
     "thesis": "some", "this_build": f"{by_metric['TrainTime']} papers", "holds": by_metric["TrainTime"] > 0},
])
report.show_claims(claims, label="claims-4-1", chapter=CHAPTER,
                   caption="The thesis's reading of Figure 26 (§4.1) against the counts of Table 11.")
_ = report.glue(
    n_papers=len(occurrences),
    top_quality=quality.iloc[0].metric,
    top_quality_papers=int(quality.iloc[0].papers),
    second_quality_papers=int(quality.iloc[1].papers),
    top_efficiency_name=published.METRIC_NAMES[efficiency.iloc[0].metric].split(" (")[0].lower(),
    top_efficiency_papers=int(efficiency.iloc[0].papers),
    flop_papers=int(by_metric["FLOP"]),
    no_efficiency_papers=no_efficiency,
    n_claims=len(claims),
    n_claims_hold=int(claims.holds.sum()),
)

# %% [markdown]
# The census counts what papers *report*, not what they measured: a paper may have timed its training without saying
# so. That is the thesis's point: a reader of these papers cannot compare their costs.

# %% tags=["hide-input"]
report.show_provenance([
    {"quantity": "Table 1 and Table 11", "method": "typed from the thesis (§2.4, Appendix A); publications added",
     "tool": "greenaudio data files", "machine": "none (published data)", "when": "thesis, 2023"},
    {"quantity": "Figure 26 counts", "method": "computed: column sums of Table 11",
     "tool": f"pandas {pd.__version__}", "machine": "any", "when": "this build"},
], chapter=CHAPTER)
