"""Sphinx extension that ships the listening test with the book (Jupyter Book: ``sphinx: extra_extensions``).

- ``build-finished`` (HTML builders): writes the app with :func:`greenaudio.listening.build_test_page` into
  ``<html>/<listening_app_dir>/`` from ``listening_samples_dir`` (default: the package's trained-zoo samples; when they
  do not exist the app says the samples are not built yet).
- ``source-read``: replaces ``__LISTENING_APP__`` by the app folder's URL relative to the page, and the line
  ``<!-- listening-results -->`` of a page by the results of the real raters' files in ``listening_results_dir``
  (default: ``listening-results/`` next to the book's configuration, else at the repository root): a MOS table
  with counts, or "No ratings yet". That page is re-read at every build.

Config values: ``listening_samples_dir``, ``listening_results_dir`` (paths, relative to the configuration folder),
``listening_app_dir`` (default ``listening-test-app``).
"""

from __future__ import annotations

from pathlib import Path

MARKER = "<!-- listening-results -->"
APP_URL = "__LISTENING_APP__"


def _resolve(app, value, fallback: Path) -> Path:
    if value:
        p = Path(value)
        return p if p.is_absolute() else Path(app.confdir) / p
    return fallback


def results_markdown(results_dir: Path) -> str:
    """Markdown summary of the result files in ``results_dir`` (MOS table, counts) or a "No ratings yet" note."""
    from .results import load_results
    from .stats import compute_mos

    files = sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []
    if not files:
        return ("**No ratings yet.** No result file is in `listening-results/`; the book shows no listening-test MOS "
                "until real raters' files are added there.\n")
    try:
        results = load_results(files)
    except ValueError as err:
        return f"**The result files could not be pooled:** {err}\n"
    counts = results.counts()
    if not counts["accepted"]:
        return f"**No accepted ratings yet.** {results.summary()}.\n"
    table = compute_mos(results)
    lines = [f"Results of {counts['accepted']} rater(s) ({results.summary()}); MOS on the ACR scale with 95 % "
             "confidence intervals (t over ratings; bootstrap over raters).", "",
             "| condition | MOS | 95 % CI (t) | 95 % CI (bootstrap) | ratings |", "|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.condition} | {r.mos:.2f} | {r.ci_t_low:.2f}–{r.ci_t_high:.2f} | "
                     f"{r.ci_boot_low:.2f}–{r.ci_boot_high:.2f} | {r.n_ratings} |")
    return "\n".join(lines) + "\n"


def _source_read(app, docname, source):
    if APP_URL in source[0]:  # the app sits at the root of the HTML output
        up = "/".join([".."] * docname.count("/")) or "."
        source[0] = source[0].replace(APP_URL, f"{up}/{app.config.listening_app_dir}")
    if MARKER in source[0]:
        from .results import default_results_dir

        here = Path(app.confdir) / "listening-results"
        folder = _resolve(app, app.config.listening_results_dir, here if here.is_dir() else default_results_dir())
        source[0] = source[0].replace(MARKER, results_markdown(folder))


def _outdated(app, env, added, changed, removed):
    # the results page depends on files outside the sources: read it again at every build
    return [d for d in env.found_docs if d.endswith("listening-test")]


def _build_finished(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from .page import build_test_page, default_samples_dir

    samples = _resolve(app, app.config.listening_samples_dir, default_samples_dir())
    build_test_page(samples, Path(app.outdir) / app.config.listening_app_dir)


def setup(app):
    app.add_config_value("listening_samples_dir", None, "env")
    app.add_config_value("listening_results_dir", None, "env")
    app.add_config_value("listening_app_dir", "listening-test-app", "html")
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _outdated)
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
