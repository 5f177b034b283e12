"""Regenerate notebooks/*.ipynb from jupytext percent sources (maintainers' tool, not part of the main job).

Usage: python scripts/make_notebooks.py [SRC_DIR] [--only NAME ...]   (default notebooks/src, every notebook)
       python scripts/make_notebooks.py --repository OWNER/NAME [--branch BRANCH]
           (publishing: set ``repository: url`` (and ``branch``) in ``_config.yml``, then regenerate everything)

Each SRC_DIR/NAME.py becomes notebooks/NAME.ipynb:

- a line ``COLAB`` is replaced by the chapter's install cell (:func:`colab_cell`): in Google Colab it installs what
  *that* chapter needs (the package from the repository address in ``_config.yml`` with the extras its imports call
  for, Debian's espeak-ng and sox where it synthesises speech); on any other kernel it does nothing;
- ``notebooks/exercises/NAME.py`` (jupytext percent), when it exists, is appended: the chapter's exercises, whose
  solutions are executed with the chapter (so they cannot rot) and folded on the page;
- a code cell that only *shows* results (calls ``report.show_table`` / ``report.show_figure`` / ``print``, draws with a
  ``plot_*`` / ``figure*`` function, or chooses between those with ``if``), or any reporting cell longer than
  :data:`FOLD_LINES` lines, is tagged ``hide-input``: the book folds its code under the output (one click shows it),
  where the narrative matters more than the code (:func:`is_display_cell`, :func:`should_fold`);
- the README's block between ``<!-- repository-links -->`` markers (Colab links) is rewritten from ``_config.yml``.

The repository's public address is one setting: ``repository: url`` (and ``branch``) in ``_config.yml``;
``--repository OWNER/NAME`` rewrites it (comments and the rest of the file kept) before regenerating, so publishing
under another address is one command. ``scripts/check_repository.py`` checks that the three places agree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "notebooks" / "exercises"

#: greenaudio subpackages whose third-party dependencies are pyproject extras (imported lazily by the package).
EXTRAS_BY_SUBPACKAGE = {
    "measure": ["energy"],  # pyJoules (RAPL, NVML), nvidia-ml-py, carbontracker power models
    "training": ["energy"],  # carbontracker
    "metrics": ["metrics"],  # pesq, pystoi, speechmos (DNSMOS, onnxruntime)
    "evaluation": ["metrics"],
    "chapters": ["energy", "metrics"],  # the chapters' facts: the zoo's trainings, their energy and quality metrics
    "quantization": ["metrics"],  # onnxruntime
}
#: Subpackages that need the --no-deps packages of requirements/nodeps.txt (DistillMOS).
NODEPS_SUBPACKAGES = {"metrics", "evaluation", "chapters"}
#: Subpackages that synthesise speech with Debian's espeak-ng (and trim it with sox).
APT_SUBPACKAGES = {"data": ["espeak-ng", "sox"], "chapters": ["espeak-ng", "sox"]}
#: Marker tagging the cells appended from notebooks/exercises (tests compare chapter sources without them).
EXERCISE_TAG = "exercise"


def read_repository() -> tuple[str, str]:
    """The public repository address and branch, from ``_config.yml`` (``repository: url, branch``)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/")
    match = re.fullmatch(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", url)
    if not match:
        raise ValueError(f"_config.yml repository.url {url!r} is not a https://github.com/OWNER/NAME address")
    return url, str(repo.get("branch", "main"))


#: ``OWNER/NAME`` of a GitHub repository.
REPOSITORY_SLUG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9_.-]{1,100}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]+")


def set_repository(slug: str, branch: str | None = None, config_path: Path | None = None) -> bool:
    """Point ``repository: url`` (and ``branch`` when given) of ``_config.yml`` at ``https://github.com/<slug>``,
    editing those lines only (comments and the rest of the file are kept). Returns whether the file changed."""
    if not REPOSITORY_SLUG.fullmatch(slug) or slug.endswith(".git"):
        raise ValueError(f"--repository {slug!r} is not OWNER/NAME (e.g. my-lab/greenaudio)")
    if branch is not None and (not _BRANCH.fullmatch(branch) or ".." in branch):
        raise ValueError(f"--branch {branch!r} is not a branch name")
    path = config_path or ROOT / "_config.yml"
    text = path.read_text()
    block = re.search(r"^repository:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, re.M)
    if not block or not re.search(r"^[ \t]+url:", block.group(1), re.M):
        raise ValueError(f"{path}: no `repository:` block with a `url:` line")
    body = re.sub(r"^([ \t]+url:[ \t]*).*$", lambda m: m.group(1) + f"https://github.com/{slug}", block.group(1),
                  count=1, flags=re.M)
    if branch is not None:
        if re.search(r"^[ \t]+branch:", body, re.M):
            body = re.sub(r"^([ \t]+branch:[ \t]*).*$", lambda m: m.group(1) + branch, body, count=1, flags=re.M)
        else:
            body = re.sub(r"^([ \t]+)(url:.*\n)", lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}branch: {branch}\n",
                          body, count=1, flags=re.M)
    new = text[:block.start(1)] + body + text[block.end(1):]
    if new != text:
        path.write_text(new)
    return new != text


def chapter_imports(text: str) -> list[str]:
    """Top-level modules a jupytext percent source imports (``greenaudio.x`` kept with its subpackage)."""
    code = "\n".join(line for line in text.splitlines()
                     if not line.startswith(("%", "!")) and line.strip() != "COLAB")
    names: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found = [node.module]
            if node.module == "greenaudio":
                found = [f"greenaudio.{alias.name}" for alias in node.names]
        else:
            continue
        for name in found:
            parts = name.split(".")
            key = ".".join(parts[:2]) if parts[0] == "greenaudio" else parts[0]
            if key not in names:
                names.append(key)
    return names


def _declared_extras() -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project.get("optional-dependencies", {}))


def chapter_needs(text: str) -> dict:
    """What the chapter's imports need beyond the base package: pyproject extras, --no-deps pins, Debian packages."""
    subpackages = {name.split(".")[1] for name in chapter_imports(text) if name.startswith("greenaudio.")}
    declared = _declared_extras()
    extras = {extra for sub in subpackages for extra in EXTRAS_BY_SUBPACKAGE.get(sub, [])}
    extras |= subpackages & declared  # an extra named after a subpackage (e.g. `quantization`) is its dependencies
    extras = sorted(extras & declared)
    nodeps = []
    if subpackages & NODEPS_SUBPACKAGES:
        nodeps = [line.strip() for line in (ROOT / "requirements" / "nodeps.txt").read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
    apt = sorted({pkg for sub in subpackages for pkg in APT_SUBPACKAGES.get(sub, [])})
    return {"extras": extras, "nodeps": nodeps, "apt": apt}


def colab_cell(text: str, url: str | None = None, branch: str | None = None) -> str:
    """The first cell of a chapter (jupytext percent): install what it needs in Colab, nothing elsewhere."""
    if url is None or branch is None:
        url, branch = read_repository()
    needs = chapter_needs(text)
    requirement = "greenaudio" + (f"[{','.join(needs['extras'])}]" if needs["extras"] else "")
    lines = ["_GREENAUDIO_INSTALL = ["]
    if needs["apt"]:
        lines.append('    ["apt-get", "update", "-qq"],')
        lines.append(f'    ["apt-get", "install", "-y", "-qq", {", ".join(repr(p) for p in needs["apt"])}],'
                     .replace("'", '"'))
    lines.append(f'    [sys.executable, "-m", "pip", "install", "-q", f"{requirement} @ {{_GREENAUDIO_SOURCE}}"],')
    if needs["nodeps"]:
        pins = ", ".join(f'"{pin}"' for pin in needs["nodeps"])
        lines.append(f'    [sys.executable, "-m", "pip", "install", "-q", "--no-deps", {pins}],')
    lines.append("]")
    what = requirement + (" and " + ", ".join(needs["nodeps"]) if needs["nodeps"] else "")
    what += (" (pip); " + " and ".join(needs["apt"]) + " (apt)") if needs["apt"] else " (pip)"
    return "\n".join([
        '# %% tags=["remove-cell"]',
        f"# Google Colab: install what this chapter needs: {what}.",
        "# On any other kernel this cell does nothing (set up the environment with scripts/setup.sh).",
        "import subprocess",
        "import sys",
        "",
        f'_GREENAUDIO_SOURCE = "git+{url}@{branch}"',
        *lines,
        'if "google.colab" in sys.modules:',
        "    for _command in _GREENAUDIO_INSTALL:",
        "        subprocess.run(_command, check=True)",
        "",
    ])


_DISPLAY_CALLS = {"show_table", "show_figure", "show_claims", "show_provenance", "print", "display"}


def _call_name(node) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return None


def _displays(statements) -> bool:
    for node in statements:
        if isinstance(node, ast.Expr) and _call_name(node.value) in _DISPLAY_CALLS:
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and (_call_name(node.value) or "").startswith(
                ("plot_", "figure")):
            continue
        if isinstance(node, ast.If) and _displays(node.body) and _displays(node.orelse):
            continue
        return False
    return True


def is_display_cell(source: str) -> bool:
    """Whether a code cell only shows results (see the module docstring): such cells are folded in the book."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return bool(tree.body) and _displays(tree.body) and any(
        _call_name(n.value) in {"show_table", "show_figure"} or (_call_name(n.value) or "").startswith(("plot_", "figure"))
        for n in ast.walk(tree) if isinstance(n, (ast.Expr, ast.Assign)))


#: A code cell that shows a table or figure and has more source lines than this is folded in the book.
FOLD_LINES = 6


def should_fold(source: str) -> bool:
    """Fold (``hide-input``) a display-only cell, or a long cell that reports a table or figure."""
    if is_display_cell(source):
        return True
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return len(lines) > FOLD_LINES and ("report.show_table(" in source or "report.show_figure(" in source)


def build_notebook(path: Path, url: str | None = None, branch: str | None = None):
    """The notebook for one chapter source: install cell, chapter cells, then its exercises (if any)."""
    if url is None or branch is None:
        url, branch = read_repository()
    source = path.read_text()
    text = source.replace("\nCOLAB\n", "\n" + colab_cell(source, url, branch) + "\n")
    notebook = jupytext.reads(text, fmt="py:percent")
    exercises = EXERCISES / path.name
    if exercises.exists():
        extra = jupytext.reads(exercises.read_text(), fmt="py:percent")
        for cell in extra.cells:
            tags = cell.metadata.setdefault("tags", [])
            if EXERCISE_TAG not in tags:
                tags.insert(0, EXERCISE_TAG)
            notebook.cells.append(cell)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and not set(tags) & {"parameters", "remove-cell", EXERCISE_TAG} \
                and should_fold(cell.source):
            cell.metadata["tags"] = [*tags, "hide-input"]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.pop("jupytext", None)
    for index, cell in enumerate(notebook.cells):
        cell.metadata.pop("lines_to_next_cell", None)
        cell["id"] = f"{path.stem.replace('_', '-')}-{index:02d}"  # stable ids: no churn in diffs
    return notebook


def readme_links(stems: list[str], url: str, branch: str) -> str:
    """The README's generated block: one Colab link per chapter notebook."""
    slug = url.removeprefix("https://github.com/")
    rows = [f"- [`{stem}`](https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{stem}.ipynb)"
            for stem in stems]
    return "\n".join(["<!-- repository-links -->",
                      f"Open a chapter in Colab (from `{url}`, branch `{branch}`; generated from `_config.yml` by "
                      "`scripts/make_notebooks.py`):", "", *rows, "<!-- /repository-links -->"])


def update_readme(stems: list[str], url: str, branch: str) -> bool:
    """Rewrite the README's repository-links block; returns whether the README has one."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    pattern = re.compile(r"<!-- repository-links -->.*?<!-- /repository-links -->", re.S)
    if not pattern.search(text):
        return False
    new = pattern.sub(lambda _: readme_links(stems, url, branch), text)
    if new != text:
        readme.write_text(new)
    return new != text


def main(src: str, only: list[str] | None = None) -> None:
    """Write ``notebooks/NAME.ipynb`` for every ``SRC/NAME.py`` (or only the names in ``only``); the README's Colab
    links always list every source notebook."""
    paths = sorted(Path(src).glob("*.py"))
    if not paths:
        raise SystemExit(f"no notebook sources (*.py) in {src!r}")
    stems = [p.stem for p in paths]
    unknown = sorted(set(only or []) - set(stems))
    if unknown:
        raise SystemExit(f"--only: unknown notebook(s) {unknown}; choose from {stems}")
    url, branch = read_repository()
    out_dir = ROOT / "notebooks"
    for path in paths:
        if only and path.stem not in only:
            continue
        jupytext.write(build_notebook(path, url, branch), out_dir / f"{path.stem}.ipynb")
        print("wrote", out_dir / f"{path.stem}.ipynb")
    if update_readme(stems, url, branch):
        print("updated the Colab links in", ROOT / "README.md")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", default=str(ROOT / "notebooks" / "src"), help="jupytext sources folder")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="regenerate only these notebooks")
    parser.add_argument("--repository", metavar="OWNER/NAME",
                        help="publishing: set _config.yml's repository url to https://github.com/OWNER/NAME first "
                             "(then every notebook and the README links are regenerated)")
    parser.add_argument("--branch", help="with --repository: the branch Colab opens (default: keep _config.yml's)")
    args = parser.parse_args()
    if args.branch and not args.repository:
        parser.error("--branch goes with --repository (or edit repository: branch in _config.yml)")
    if args.repository:
        if args.only:
            parser.error("--repository regenerates every notebook: leave out --only")
        try:
            changed = set_repository(args.repository, args.branch)
        except ValueError as error:
            parser.error(str(error))
        print(("set" if changed else "kept"), "repository:", *read_repository(), "in", ROOT / "_config.yml")
    main(args.src, args.only)
