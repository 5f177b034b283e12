"""A listening test of the trained vocoders, in the book: the static page, and the analysis of its result files.

- :func:`build_test_page` writes the static HTML/JavaScript app (instructions, headphone check, training, ACR trials
  in a per-rater seeded order over the trained-zoo samples, the hidden ground truth and a low anchor);
- :func:`load_results` ingests and validates the raters' files (size, JSON, schema, names, checksum, the page's own
  stimuli with :func:`load_manifest`, duplicates, incomplete sessions, screening; a bad file is rejected with its
  reason and never aborts the ingest) and :func:`compute_mos` / :func:`listening_mos_table` give MOS with 95 %
  confidence intervals;
- :func:`plot_mos` and :func:`plot_metric_vs_mos` draw the Figure 31 / 32 analogues with seaborn.

The book never shows fabricated ratings: :func:`listening_mos_table` is empty until real result files are in
``listening-results/``.
"""

from .page import PageBuild, build_test_page
from .plots import plot_metric_vs_mos, plot_mos
from .results import ListeningResults, ScreeningRule, load_manifest, load_results
from .stats import compute_mos, listening_mos_table

__all__ = ["build_test_page", "PageBuild", "load_results", "load_manifest", "ScreeningRule", "ListeningResults",
           "compute_mos", "listening_mos_table", "plot_mos", "plot_metric_vs_mos"]
