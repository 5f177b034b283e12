"""Sphinx extension that ships the listening test with the book (Jupyter Book: ``sphinx: extra_extensions``).

- ``builder-inited``: builds the app with :func:`greenaudio.listening.build_test_page` from ``listening_samples_dir``
  (default: the package's trained-zoo samples; when they do not exist the app says the samples are not built yet):
  into ``<html>/<listening_app_dir>/`` for HTML builders, into a temporary folder for the others. Its manifest (the
  stimuli the page serves) is what the raters' files are checked against.
- ``source-read``: replaces ``__LISTENING_APP__`` by the app folder's URL relative to the page, and the line
  ``<!-- listening-results -->`` of a page by the results of the real raters' files in ``listening_results_dir``
  (default: ``listening-results/`` next to the book's configuration, else at the repository root), checked against
  the page built now (:func:`greenaudio.listening.load_results` with ``manifest=``): a MOS table with counts, or
  "No ratings yet". That page is re-read at every build. A file's names reach the page only when they are the
  page's own condition names, and every value is escaped for Markdown (:func:`escape_markdown`).

Config values: ``listening_samples_dir``, ``listening_results_dir`` (paths, relative to the configuration folder),
``listening_app_dir`` (default ``listening-test-app``).
"""

from __future__ import annotations

import html
import tempfile
import unicodedata
from pathlib import Path

MARKER = "<!-- listening-results -->"
APP_URL = "__LISTENING_APP__"


def _resolve(app, value, fallback: Path) -> Path:
    if value:
        p = Path(value)
        return p if p.is_absolute() else Path(app.confdir) / p
    return fallback


# ASCII punctuation with a meaning in CommonMark/MyST (emphasis, links, roles, tables, math, ...): backslash-escaped
_MD_PUNCTUATION = frozenset("\\`*_{}[]()#+!|~$:^=")


def escape_markdown(text) -> str:
    """``text`` as literal Markdown text: no tag, entity, emphasis, link, role or table cell can come out of it.

    ``& < > " '`` become HTML character references, Markdown punctuation is backslash-escaped, line breaks and other
    control characters become spaces.
    """
    out = []
    for ch in str(text):
        if ch in "&<>\"'":
            out.append(html.escape(ch, quote=True))
        elif ch in _MD_PUNCTUATION:
            out.append("\\" + ch)
        elif unicodedata.category(ch)[0] in "CZ" and ch != " ":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def results_markdown(results_dir: Path, manifest=None) -> str:
    """Markdown summary of the result files in ``results_dir`` (MOS table, counts) or a "No ratings yet" note.

    Args:
        results_dir: folder of the raters' files.
        manifest: the page the raters used (:func:`greenaudio.listening.load_manifest`'s sources, or a
            :class:`~greenaudio.listening.results.PageManifest`); files that do not match it are rejected. None
            checks names against the page's patterns only.
    """
    from .results import load_results
    from .stats import compute_mos

    files = sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []
    if not files:
        return ("**No ratings yet.** No result file is in `listening-results/`; the book shows no listening-test MOS "
                "until real raters' files are added there.\n")
    try:
        results = load_results(files, manifest=manifest)
    except ValueError as err:
        return f"**The result files could not be pooled:** {escape_markdown(err)}\n"
    counts = results.counts()
    if not counts["accepted"]:
        return f"**No accepted ratings yet.** {results.summary()}.\n"
    table = compute_mos(results)
    lines = [f"Results of {counts['accepted']} rater(s) ({results.summary()}); MOS on the ACR scale with 95 % "
             "confidence intervals (t over ratings; bootstrap over raters).", "",
             "| condition | MOS | 95 % CI (t) | 95 % CI (bootstrap) | ratings |", "|---|---|---|---|---|"]
    for r in table.itertuples():  # conditions are the page's names (load_results), escaped all the same
        lines.append(f"| {escape_markdown(r.condition)} | {r.mos:.2f} | {r.ci_t_low:.2f}–{r.ci_t_high:.2f} | "
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
        manifest = getattr(app, _MANIFEST_ATTR, None)
        if manifest is None:  # builder-inited did not run (a caller driving the hooks itself): build it now
            _builder_inited(app)
            manifest = getattr(app, _MANIFEST_ATTR)
        source[0] = source[0].replace(MARKER, results_markdown(folder, manifest=manifest))


def _outdated(app, env, added, changed, removed):
    # the results page depends on files outside the sources: read it again at every build
    return [d for d in env.found_docs if d.endswith("listening-test")]


_MANIFEST_ATTR = "greenaudio_listening_manifest"


def _builder_inited(app):
    """Build the app before the sources are read: its manifest is what the raters' files are checked against."""
    from .page import build_test_page, default_samples_dir
    from .results import load_manifest

    samples = _resolve(app, app.config.listening_samples_dir, default_samples_dir())
    if app.builder.format == "html":
        manifest = load_manifest(build_test_page(samples, Path(app.outdir) / app.config.listening_app_dir))
    else:  # no app in the output, but the results are checked against the same page
        with tempfile.TemporaryDirectory(prefix="greenaudio-listening-") as tmp:
            manifest = load_manifest(build_test_page(samples, Path(tmp) / "app"))
    setattr(app, _MANIFEST_ATTR, manifest)


def setup(app):
    app.add_config_value("listening_samples_dir", None, "env")
    app.add_config_value("listening_results_dir", None, "env")
    app.add_config_value("listening_app_dir", "listening-test-app", "html")
    app.connect("builder-inited", _builder_inited)
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _outdated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
