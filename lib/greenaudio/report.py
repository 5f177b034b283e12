"""Tables and figures for the book: numbered, captioned, saved as files.

Used by: every notebook.

- :func:`show_table` saves a DataFrame as CSV and displays it. In the rendered book it becomes a numbered MyST
  table with a caption and a label for ``{numref}``; in Jupyter or Colab it shows as an ordinary HTML table.
- :func:`show_figure` saves a Matplotlib figure as PNG and SVG and displays it; in the book it becomes a numbered
  figure with a caption and a label.

Files go to ``$GREENAUDIO_RESULTS_DIR/<chapter>/`` (the main job sets it), else ``./results/<chapter>/``.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

__all__ = ["results_dir", "format_table", "show_table", "show_figure", "save_figure", "DisplayedArtifact",
           "energy_caption"]

_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]*$")


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


def format_table(table: pd.DataFrame, formats: Mapping[str, str | Callable] | None = None) -> pd.DataFrame:
    """Strings for display: ``formats`` maps a column to a format spec (``"{:.2f}"``) or a callable."""
    shown = table.copy()
    for column, fmt in (formats or {}).items():
        if column not in shown.columns:
            raise ValueError(f"format given for unknown column {column!r}; columns: {list(shown.columns)}")
        func = fmt if callable(fmt) else (lambda v, f=fmt: "" if _missing(v) else f.format(v))
        shown[column] = shown[column].map(func)
    return shown.astype(object).where(shown.notna(), "")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _markdown_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


class DisplayedArtifact:
    """A table or figure with two renderings: MyST Markdown (the book) and HTML (Jupyter, Colab)."""

    def __init__(self, markdown: str, html_text: str, path: Path):
        self.markdown = markdown
        self.html = html_text
        self.path = path

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<{type(self).__name__} saved to {self.path}>"


def show_table(
    table: pd.DataFrame,
    *,
    label: str,
    caption: str,
    chapter: str,
    formats: Mapping[str, str | Callable] | None = None,
    index: bool = False,
    display: bool = True,
) -> DisplayedArtifact | None:
    """Save ``table`` (full precision) as ``<label>.csv`` and display it as a numbered, captioned table.

    Args:
        table: the data.
        label: reference name (lower-case, digits, '-'), used as ``{numref}`` target and file name.
        caption: caption text; name the thesis's numbering in it (e.g. "... (Table 3 of the thesis)").
        chapter: results sub-folder.
        formats: display formats per column (the CSV keeps full precision).
        index: include the DataFrame index.
        display: display the table now and return None (so it never shows twice); ``False`` returns the
            :class:`DisplayedArtifact` undisplayed.
    """
    if not _LABEL.match(label):
        raise ValueError(f"label must be lower-case letters, digits and '-', got {label!r}")
    path = results_dir(chapter) / f"{label}.csv"
    table.to_csv(path, index=index)
    shown = format_table(table.reset_index() if index else table, formats)
    header = "| " + " | ".join(_markdown_cell(c) for c in shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    markdown = "\n".join([f":::{{table}} {caption}", f":name: {label}", "", header, rule, *body, ":::"])
    html_text = f"<p><b>{html.escape(caption)}</b></p>" + shown.to_html(index=False, escape=True)
    return _display(DisplayedArtifact(markdown, html_text, path), display)


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
    fig, *, label: str, caption: str, chapter: str, width: str = "90%", display: bool = True
) -> DisplayedArtifact | None:
    """Save ``fig`` (PNG + SVG), close it, and display it as a numbered, captioned figure."""
    import matplotlib.pyplot as plt

    png = save_figure(fig, label, chapter)
    plt.close(fig)
    markdown = "\n".join(
        [f":::{{figure}} {_relative_to_cwd(png)}", f":name: {label}", f":width: {width}", "", caption, ":::"]
    )
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    html_text = f'<figure><img src="data:image/png;base64,{data}" style="max-width:{width}"/>' \
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    return _display(DisplayedArtifact(markdown, html_text, png), display)


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
    from greenaudio.measure.provenance import energy_caption_note

    return f"{caption.rstrip()} {energy_caption_note(records)}"
