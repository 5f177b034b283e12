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

from .page import (ANCHOR, REFERENCE, SCHEMA, SCHEMA_VERSION, PageBuild, build_test_page, default_samples_dir,
                   discover_samples, make_headphone_check, make_low_anchor, trial_order)
from .plots import plot_metric_vs_mos, plot_mos
from .results import (ListeningResults, PageManifest, ScreeningRule, canonical_text, compute_checksum,
                      default_results_dir, load_manifest, load_results)
from .stats import SOURCE, bootstrap_interval, compute_mos, listening_mos_table, quality_for_pareto, t_interval

__all__ = ["ANCHOR", "REFERENCE", "SCHEMA", "SCHEMA_VERSION", "SOURCE", "PageBuild", "ListeningResults",
           "ScreeningRule", "PageManifest", "build_test_page", "default_samples_dir", "discover_samples",
           "make_headphone_check", "make_low_anchor", "trial_order", "load_results", "load_manifest", "canonical_text",
           "compute_checksum", "default_results_dir", "compute_mos", "listening_mos_table", "quality_for_pareto",
           "t_interval", "bootstrap_interval", "plot_mos", "plot_metric_vs_mos"]
