"""Tables, figures and glued values for the book: numbered, captioned, made for people, saved as files.

Used by: every notebook.

- :func:`show_table` is the one presentation helper every table goes through. It saves the full-precision table as
  CSV and displays it with headers in words and units, integers as integers, long text moved to numbered notes under
  the table, and at most :data:`MAX_MAIN_COLUMNS` columns in the main flow (the whole table folded below it, in a
  horizontal-scroll region). In the rendered book it becomes a MyST table whose caption names it; in Jupyter or
  Colab it shows as an ordinary HTML table.
- :func:`show_figure` saves a Matplotlib figure as PNG and SVG and displays it with its caption and alt text.
- :func:`show_claims` shows the thesis's claims checked by a chapter (claim | thesis | this build | holds?).
- :func:`show_provenance` shows how a chapter's numbers were obtained as a small folded table.
- :func:`glue` hands computed values to the page's prose (myst-nb ``{glue:text}`key:.2f```).
- :func:`order_configurations` and :func:`configuration_name` give the registry's order and display names.

Numbering: a table or figure that reproduces the thesis's is named as the thesis names it ("Table 8 (thesis)");
the book's own are numbered within their chapter ("Table 5.2-3"), so no two things share a number.

Files go to ``$GREENAUDIO_RESULTS_DIR/<chapter>/`` (the main job sets it), else ``./results/<chapter>/``.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = ["results_dir", "format_table", "show_table", "show_figure", "show_claims", "show_provenance", "glue",
           "order_configurations", "configuration_name", "COLUMN_LABELS", "energy_caption"]

_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]*$")

#: The most columns a table shows in the main flow; a wider table names its ``main`` columns and the rest is folded.
MAX_MAIN_COLUMNS = 7
#: A text column with a value longer than this (characters) becomes numbered notes under the table.
NOTE_MIN_CHARS = 70

#: Chapter (results folder) -> the number its tables and figures carry ("Table 5.2-3").
CHAPTER_NUMBERS: dict[str, str] = {
    "04-1-literature": "4.1",
    "04-2-carbon": "4.2",
    "04-3-pareto": "4.3",
    "04-3-waveflow-study": "4.3.2",
    "04-4-errata": "4.4",
    "05-0-models": "5.0",
    "05-1-cost-benchmark": "5.1",
    "05-2-quality": "5.2",
    "06-quantization": "6",
    "environment": "A",
}

#: Display headers (words and units) of the column names the package's tables share. A chapter names the others
#: with ``columns=``; a header left with an underscore is refused.
COLUMN_LABELS: dict[str, str] = {
    "model": "Model",
    "size": "Size",
    "config": "Configuration",
    "configuration": "Configuration",
    "display": "Configuration",
    "display_name": "Model",
    "params_m": "Parameters (M)",
    "parameters_m": "Parameters (M)",
    "n_params": "Parameters",
    "gflops_per_audio_s": "GFLOPs per s of audio",
    "rtf": "Real-time factor",
    "rtf_median": "Real-time factor (median)",
    "e_gen_j_per_100_audio_s": "Generation energy (J per 100 s of audio)",
    "energy_j": "Energy (J)",
    "energy_kwh": "Energy (kWh)",
    "emissions_kgco2e": "Emissions (kgCO2e)",
    "energy_method": "Energy method",
    "train_energy_j": "Training energy (J)",
    "train_energy_method": "Training energy method",
    "cpu_time_s": "CPU time (s)",
    "wall_s": "Wall time (s)",
    "wall_time_s": "Wall time (s)",
    "duration_s": "Duration (s)",
    "audio_s": "Audio (s)",
    "audio_s_per_run": "Audio per run (s)",
    "steps": "Steps",
    "threads": "Threads",
    "device": "Device",
    "hardware": "Hardware",
    "mos": "MOS",
    "pct_mos": "%MOS",
    "d_stft": "D-STFT",
    "pesq": "PESQ-WB",
    "pesq_wb": "PESQ-WB",
    "stoi": "STOI",
    "distillmos": "DistillMOS",
    "source": "Source",
    "note": "Note",
    "notes": "Notes",
    "location": "Where",
    "item": "Item",
    "printed": "Printed",
    "computed": "Computed",
    "consistent": "Consistent?",
    "power_w": "Power (W)",
    "max_power_w": "Maximum power (W)",
    "gpu_count": "GPUs",
    "hours": "Hours",
    "days": "Days",
    "pue": "PUE",
    "country": "Country",
    "year": "Year",
    "paper": "Paper",
    "method": "Method",
    "quantity": "Quantity",
    "tool": "Tool and version",
    "machine": "Machine",
    "when": "When",
    "package": "Package",
    "version": "Version",
    "value": "Value",
}


class TableLayoutError(ValueError):
    """A table the book cannot show for people: a header without words, or too many columns for the text column."""


def results_dir(chapter: str) -> Path:
    """Folder where a chapter's tables (CSV) and figures (PNG, SVG) are written; created if needed."""
    if not _LABEL.match(chapter):
        raise ValueError(f"chapter must be lower-case letters, digits and '-', got {chapter!r}")
    root = Path(os.environ.get("GREENAUDIO_RESULTS_DIR", "results"))
    path = root / chapter
    path.mkdir(parents=True, exist_ok=True)
    return path


def _relative_to_cwd(path: Path) -> str:
    return os.path.relpath(path.resolve(), Path.cwd().resolve()).replace(os.sep, "/")


# --- numbering ------------------------------------------------------------------------------------------------------

#: (kind, chapter) -> label -> its number: a chapter's n-th new label gets n, a label shown again keeps its number.
_seen_labels: dict[tuple[str, str], dict[str, int]] = {}


def _number(kind: str, chapter: str, label: str, thesis: str | None) -> str:
    """``"Table 8 (thesis)"`` for a reproduction of the thesis's, else the next book number of the chapter."""
    word = "Table" if kind == "table" else "Figure"
    if thesis:
        return f"{thesis} (thesis)"
    seen = _seen_labels.setdefault((kind, chapter), {})
    seen.setdefault(label, len(seen) + 1)  # a cell run twice keeps its number
    prefix = CHAPTER_NUMBERS.get(chapter)
    return f"{word} {prefix}-{seen[label]}" if prefix else f"{word} {seen[label]}"


# --- cells ----------------------------------------------------------------------------------------------------------

def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(float(value))


def _is_integral_column(values: pd.Series) -> bool:
    present = [v for v in values if not _missing(v)]
    if not present or not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in present):
        return False
    return all(float(v).is_integer() and abs(float(v)) < 1e15 for v in present)


def _auto_format(values: pd.Series) -> Callable[[object], str]:
    """Display rule of a column without a given format: integers as integers, reals with up to 6 significant
    digits (trailing zeros dropped), booleans as yes/no, anything else as text."""
    if _is_integral_column(values):
        return lambda v: "" if _missing(v) else str(int(v))

    def cell(v) -> str:
        if _missing(v):
            return ""
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, numbers.Real):
            return f"{float(v):.6g}"
        return str(v)

    return cell


def format_table(table: pd.DataFrame, formats: Mapping[str, str | Callable] | None = None) -> pd.DataFrame:
    """Strings for display: ``formats`` maps a column to a format spec (``"{:.2f}"``) or a callable; the other
    columns follow :func:`_auto_format` (integers as integers, booleans as yes/no)."""
    formats = dict(formats or {})
    unknown = [c for c in formats if c not in table.columns]
    if unknown:
        raise ValueError(f"format given for unknown column(s) {unknown}; columns: {list(table.columns)}")
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        fmt = formats.get(column)
        if fmt is None:
            func = _auto_format(table[column])
        elif callable(fmt):
            func = lambda v, f=fmt: "" if _missing(v) else str(f(v))  # noqa: E731
        else:
            func = lambda v, f=fmt: "" if _missing(v) else f.format(v)  # noqa: E731
        shown[column] = [func(v) for v in table[column]]
    return shown


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>$|~&#!])")


def _markdown_cell(value) -> str:
    """A cell's text as inert Markdown: every character Markdown or MyST would act on is escaped, so a value can
    never become HTML, math, a role or a link on the page."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value).replace("\r", " ").replace("\n", " "))


def display_header(column: str, columns: Mapping[str, str] | None = None, *, table: str = "") -> str:
    """The header a reader sees for ``column``: ``columns`` first, then :data:`COLUMN_LABELS`, then the name itself
    when it has no underscore.

    Raises:
        TableLayoutError: the header would show an underscore (a snake_case name), naming the table and column.
    """
    label = (columns or {}).get(column) or COLUMN_LABELS.get(column) or str(column)
    if "_" in label:
        raise TableLayoutError(f"table {table!r}: column {column!r} has no header in words; pass "
                               f"columns={{{column!r}: 'words (unit)'}} or add it to report.COLUMN_LABELS")
    return label


class DisplayedArtifact:
    """A table or figure with two renderings: MyST Markdown (the book) and HTML (Jupyter, Colab)."""

    def __init__(self, markdown: str, html_text: str, path: Path, number: str = ""):
        self.markdown = markdown
        self.html = html_text
        self.path = path
        self.number = number

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.number} saved as {self.path.name}>"


def _split_notes(shown: pd.DataFrame, raw: pd.DataFrame, notes: Iterable[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """Move long text columns out of the table: each distinct text becomes a numbered note under it, and the rows
    carry the note's number in a "Note" column."""
    chosen = list(notes) if notes is not None else [
        c for c in raw.columns
        if (raw[c].dtype == object or pd.api.types.is_string_dtype(raw[c])) and any(isinstance(v, str) and len(v) > NOTE_MIN_CHARS for v in raw[c])
    ]
    if not chosen:
        return shown, []
    texts: list[str] = []
    marks = []
    for _, row in shown[chosen].iterrows():
        parts = [str(row[c]) for c in chosen if str(row[c]).strip()]
        text = "; ".join(parts)
        if not text:
            marks.append("")
            continue
        if text not in texts:
            texts.append(text)
        marks.append(f"[{texts.index(text) + 1}]")
    kept = shown.drop(columns=chosen)
    kept["__note__"] = marks
    return kept, texts


def _markdown_table(shown: pd.DataFrame, headers: list[str]) -> list[str]:
    head = "| " + " | ".join(_markdown_cell(h) for h in headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return [head, rule, *body]


def _html_table(shown: pd.DataFrame, headers: list[str]) -> str:
    """One-line HTML (no blank line, so it stays one HTML block inside Markdown), every value escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in shown.itertuples(index=False))
    return f'<table class="table ga-full"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def show_table(
    table: pd.DataFrame,
    *,
    label: str,
    caption: str,
    chapter: str,
    columns: Mapping[str, str] | None = None,
    formats: Mapping[str, str | Callable] | None = None,
    main: Iterable[str] | None = None,
    notes: Iterable[str] | None = None,
    thesis: str | None = None,
    index: bool = False,
    display: bool = True,
) -> DisplayedArtifact | None:
    """Save ``table`` (full precision) as ``<label>.csv`` and display it for people.

    Args:
        table: the data (column names as the package returns them).
        label: reference name (lower-case, digits, '-'): the ``{ref}`` target and the file name.
        caption: what the table shows, in words (the number is added in front).
        chapter: results sub-folder, e.g. ``"05-2-quality"`` (also gives the number's prefix).
        columns: display header (words and units) of each column whose name is not in :data:`COLUMN_LABELS`.
        formats: display formats per column (``"{:.2f}"`` or a callable); the CSV keeps full precision.
        main: the columns shown in the main flow when the table has more than :data:`MAX_MAIN_COLUMNS`; the whole
            table is then folded below, in a horizontal-scroll region.
        notes: text columns shown as numbered notes under the table (default: text columns holding a value longer
            than :data:`NOTE_MIN_CHARS` characters).
        thesis: the thesis's name of the table this reproduces (``"Table 8"``): shown as "Table 8 (thesis)".
        index: include the DataFrame index as a column.
        display: display now and return None (so it never shows twice); ``False`` returns it undisplayed.

    Raises:
        TableLayoutError: a header would show an underscore, or the table is wider than the text column and
            ``main`` does not choose at most :data:`MAX_MAIN_COLUMNS` columns (the message names the table).
        ValueError: a bad label, chapter or format column.
    """
    if not _LABEL.match(label):
        raise ValueError(f"label must be lower-case letters, digits and '-', got {label!r}")
    data = table.reset_index() if index else table
    unknown = [c for c in list(columns or {}) + list(main or []) + list(notes or []) if c not in data.columns]
    if unknown:
        raise ValueError(f"table {label!r}: unknown column(s) {unknown}; columns: {list(data.columns)}")
    results = results_dir(chapter)
    path = results / f"{label}.csv"
    table.to_csv(path, index=index)

    headers = {c: display_header(c, columns, table=label) for c in data.columns}
    shown, note_texts = _split_notes(format_table(data, formats), data, notes)
    headers["__note__"] = "Note"
    main_cols = [c for c in (main or shown.columns) if c in shown.columns]
    if note_texts and "__note__" not in main_cols:
        main_cols.append("__note__")
    if len(main_cols) > MAX_MAIN_COLUMNS:
        raise TableLayoutError(
            f"table {label!r} has {len(main_cols)} columns, more than the {MAX_MAIN_COLUMNS} that fit the text "
            f"column; pass main=[...] with at most {MAX_MAIN_COLUMNS - (1 if note_texts else 0)} of "
            f"{[c for c in data.columns]}")
    folded = len(main_cols) < len(shown.columns)

    number = _number("table", chapter, label, thesis)
    title = f"{number}. {caption.strip()}"
    main_headers = [headers[c] for c in main_cols]
    # The caption is a paragraph above the table (never clipped with it); the table sits in a container that fits
    # the text column on a desktop and may scroll sideways on a phone. No Sphinx numbering: the number is ours.
    lines = [f"({label})=", f"**{number}.** {caption.strip()}", "", ":::{container} ga-table",
             *_markdown_table(shown[main_cols], main_headers), ":::"]
    if note_texts:  # one line each, under the table, numbered as the rows' marks
        lines += ["", ":::{container} ga-notes", *(f"- \\[{i}\\] {_markdown_cell(t)}" for i, t in
                                                    enumerate(note_texts, 1)), ":::"]
    if folded:
        all_headers = [headers[c] for c in shown.columns]
        lines += ["", f"::::{{dropdown}} {number}, all {len(shown.columns)} columns",
                  f'<div class="ga-scroll">{_html_table(shown, all_headers)}</div>', "", "::::"]
    lines += ["", f"{{download}}`Download {number} as CSV <{_relative_to_cwd(path)}>`"]
    markdown = "\n".join(lines)

    html_text = (f"<p><b>{html.escape(title)}</b></p>" + _html_table(shown[main_cols], main_headers)
                 + "".join(f"<p><small>[{i}] {html.escape(t)}</small></p>" for i, t in enumerate(note_texts, 1)))
    if folded:
        html_text += (f"<details><summary>All {len(shown.columns)} columns</summary><div style='overflow-x:auto'>"
                      f"{_html_table(shown, [headers[c] for c in shown.columns])}</div></details>")
    return _display(DisplayedArtifact(markdown, html_text, path, number), display)


def show_claims(claims: pd.DataFrame, *, label: str, caption: str, chapter: str,
                formats: Mapping[str, str | Callable] | None = None, display: bool = True):
    """Show the thesis's claims a chapter checks: claim (thesis wording, with its §) | thesis | this build | holds?

    ``claims`` has the columns ``claim`` (fixed words, the thesis's), ``section``, ``thesis`` (its value),
    ``this_build`` (computed) and ``holds`` (computed, bool).
    """
    need = ["claim", "section", "thesis", "this_build", "holds"]
    missing = [c for c in need if c not in claims.columns]
    if missing:
        raise ValueError(f"claims table {label!r} lacks column(s) {missing}; it needs {need}")
    return show_table(claims[need], label=label, caption=caption, chapter=chapter, formats=formats, notes=[],
                      columns={"claim": "Claim (thesis)", "section": "§", "thesis": "Thesis",
                               "this_build": "This build", "holds": "Holds?"}, display=display)


def show_provenance(rows: pd.DataFrame | Iterable[Mapping], *, chapter: str, display: bool = True):
    """One folded "How these numbers were obtained" block: quantity | method | tool and version | machine | when.

    Not numbered (it is about the method, not a result); saved as ``provenance.csv``.
    """
    table = pd.DataFrame(list(rows) if not isinstance(rows, pd.DataFrame) else rows)
    need = ["quantity", "method", "tool", "machine", "when"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"provenance rows lack column(s) {missing}; they need {need}")
    table = table[need]
    path = results_dir(chapter) / "provenance.csv"
    table.to_csv(path, index=False)
    shown = format_table(table)
    headers = [COLUMN_LABELS[c] for c in need]
    markdown = "\n".join(["::::{dropdown} How these numbers were obtained", "", *_markdown_table(shown, headers), "",
                          "::::"])
    html_text = ("<details><summary>How these numbers were obtained</summary>" + _html_table(shown, headers)
                 + "</details>")
    return _display(DisplayedArtifact(markdown, html_text, path, "provenance"), display)


def glue(**values) -> dict:
    """Hand computed values to the page's prose: ``{glue:text}`key:.2f``` in the notebook's Markdown.

    numpy scalars become Python numbers (myst-nb formats them from their plain text). Outside a myst-nb build (plain
    Jupyter, Colab without myst-nb) the values are only returned. Returns the glued values.
    """
    plain = {key: (value.item() if isinstance(value, np.generic) else value) for key, value in values.items()}
    for key in plain:
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", key):
            raise ValueError(f"glue key must be letters, digits and '_', got {key!r}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return plain
    for key, value in plain.items():
        myst_glue(key, value, display=False)
    return plain


# --- configurations -------------------------------------------------------------------------------------------------

def _registry():
    from greenaudio.vocoders import registry  # imported when used: Chapter 4's pages need no torch

    return registry


def configuration_name(model: str, size: str | None = None) -> str:
    """``("hifigan", "small")`` -> ``"HiFi-GAN small"``; the ground truth and unknown names are kept readable."""
    if model in ("ground_truth", "ground truth"):
        return "Ground truth"
    registry = _registry()
    try:
        name = registry.entry(model).display_name
    except ValueError:
        name = str(model)
    return f"{name} {size}" if size else name


def order_configurations(table: pd.DataFrame, model: str = "model", size: str = "size") -> pd.DataFrame:
    """Rows in the registry's order: family (MelGAN, HiFi-GAN, WaveGrad, DiffWave, WaveFlow, WaveGlow), then
    small, medium, large; the ground truth first, unknown names last (stable otherwise)."""
    registry = _registry()
    families = registry.names()
    sizes = list(registry.THESIS_SIZES)

    def family_rank(value) -> int:
        text = str(value).lower()
        if text in ("ground_truth", "ground truth"):
            return -1
        return families.index(text) if text in families else len(families)

    def size_rank(value) -> int:
        text = str(value).lower()
        return sizes.index(text) if text in sizes else len(sizes)

    keys = pd.DataFrame({"f": [family_rank(v) for v in table[model]],
                         "s": [size_rank(v) for v in table[size]] if size in table.columns else 0})
    order = keys.sort_values(["f", "s"], kind="stable").index
    return table.iloc[list(order)].reset_index(drop=True)


# --- figures --------------------------------------------------------------------------------------------------------

def save_figure(fig, name: str, chapter: str, dpi: int = 150) -> Path:
    """Save a Matplotlib figure as ``<name>.png`` and ``<name>.svg``; returns the PNG path."""
    if not _LABEL.match(name):
        raise ValueError(f"figure name must be lower-case letters, digits and '-', got {name!r}")
    folder = results_dir(chapter)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=dpi, bbox_inches="tight")
    fig.savefig(folder / f"{name}.svg", bbox_inches="tight")
    return png


def show_figure(
    fig, *, label: str, caption: str, chapter: str, width: str = "100%", alt: str | None = None,
    thesis: str | None = None, display: bool = True
) -> DisplayedArtifact | None:
    """Save ``fig`` (PNG + SVG), close it, and display it with its number, caption and alt text.

    Args:
        alt: what the figure shows, for readers who cannot see it (default: the caption).
        thesis: the thesis's name of the figure this reproduces (``"Figure 27"``).
    """
    import matplotlib.pyplot as plt

    png = save_figure(fig, label, chapter)
    plt.close(fig)
    number = _number("figure", chapter, label, thesis)
    alt_text = " ".join((alt or caption).split()).replace('"', "'")
    markdown = "\n".join(
        [f"({label})=", f":::{{figure}} {_relative_to_cwd(png)}", f":width: {width}", f":alt: {alt_text}", "",
         f"**{number}.** {caption.strip()}", ":::"]
    )
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    html_text = f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt_text)}" ' \
                f'style="max-width:{width}"/><figcaption>{html.escape(number)}. {html.escape(caption)}' \
                f"</figcaption></figure>"
    return _display(DisplayedArtifact(markdown, html_text, png, number), display)


def _display(artifact: DisplayedArtifact, display: bool) -> DisplayedArtifact | None:
    """Show the artifact now (so that a table mid-cell is not lost) and return None; or return it undisplayed."""
    if not display:
        return artifact
    from IPython.display import display as ipython_display

    ipython_display(artifact)
    return None


def energy_caption(caption: str, records) -> str:
    """``caption`` followed by how the records' energies were obtained (read from their provenance fields, see
    :func:`greenaudio.measure.energy_caption_note`), so that a figure or table of estimates says so."""
    from greenaudio.provenance import energy_caption_note

    return f"{caption.rstrip()} {energy_caption_note(records)}"
