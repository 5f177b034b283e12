"""Regenerate notebooks/*.ipynb from jupytext percent sources (maintainers' tool, not part of the main job).

Usage: python scripts/make_notebooks.py [SRC_DIR]   (default notebooks/src)
Each SRC_DIR/NAME.py becomes notebooks/NAME.ipynb; a line 'COLAB' is replaced by the Colab install cell.
"""

import sys
from pathlib import Path

import jupytext

COLAB_CELL = '''# %% tags=["remove-cell"]
# Running in Google Colab? Install the book's package first (nothing happens elsewhere).
import sys

if "google.colab" in sys.modules:
    %pip install -q "greenaudio @ git+https://github.com/greenaudio-book/greenaudio"
'''


def main(src: str) -> None:
    out_dir = Path(__file__).resolve().parents[1] / "notebooks"
    for path in sorted(Path(src).glob("*.py")):
        text = path.read_text().replace("\nCOLAB\n", "\n" + COLAB_CELL + "\n")
        notebook = jupytext.reads(text, fmt="py:percent")
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.metadata.pop("jupytext", None)
        for index, cell in enumerate(notebook.cells):
            cell.metadata.pop("lines_to_next_cell", None)
            cell["id"] = f"{path.stem.replace('_', '-')}-{index:02d}"  # stable ids: no churn in diffs
        jupytext.write(notebook, out_dir / f"{path.stem}.ipynb")
        print("wrote", out_dir / f"{path.stem}.ipynb")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1] / "notebooks" / "src"))
