"""Check that the book names the repository it is published from (run first by .github/workflows/book.yml).

Usage: python scripts/check_repository.py --expect OWNER/NAME [--branch BRANCH] [--root DIR]

Google Colab opens the *committed* notebook, whose first cell installs the package from the repository address of
``_config.yml``; the README's Colab links and the book's launch and repository buttons name it too. The three places
must name the repository (and branch) the book is published from, otherwise every Colab launch installs from
somewhere else (today's default, ``greenaudio-book/greenaudio``, is a placeholder nobody has published). This
checks:

- ``_config.yml``: ``repository: url`` is ``https://github.com/OWNER/NAME`` (and ``branch`` is BRANCH when given);
- ``notebooks/*.ipynb`` (each one generated from ``notebooks/src/*.py``): the Colab install cell installs from
  ``git+https://github.com/OWNER/NAME@BRANCH``;
- ``README.md``: the generated Colab links name ``OWNER/NAME`` and BRANCH.

OWNER/NAME compare case-insensitively (as GitHub does), the branch exactly. Exit status: 0 when all agree; 1 when
any file names another repository or branch (each file named, then the one command that fixes them all:
``python scripts/make_notebooks.py --repository OWNER/NAME --branch BRANCH``); 2 for a bad argument or a file that
cannot be read. Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLUG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9_.-]{1,100}")
SOURCE_LINE = re.compile(r"""_GREENAUDIO_SOURCE\s*=\s*f?["']git\+https://github\.com/([^"'@]+)@([^"']+)["']""")
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/([^/\s)]+/[^/\s)]+)/blob/([^\s)]+?)/notebooks/")
LINKS_BLOCK = re.compile(r"<!-- repository-links -->(.*?)<!-- /repository-links -->", re.S)


class CheckError(Exception):
    """A file that cannot be read or parsed (exit status 2)."""


def _unquote(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def read_config_repository(config: Path) -> tuple[str, str]:
    """``repository: url`` and ``branch`` of a ``_config.yml`` (the branch defaults to ``main``, as Jupyter Book's)."""
    try:
        text = config.read_text()
    except OSError as error:
        raise CheckError(f"cannot read {config}: {error}") from error
    block = re.search(r"^repository:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, re.M)
    if not block:
        raise CheckError(f"{config}: no `repository:` block")
    values = dict(re.findall(r"^[ \t]+(url|branch):[ \t]*(.*?)[ \t]*$", block.group(1), re.M))
    if "url" not in values:
        raise CheckError(f"{config}: the `repository:` block has no `url:`")
    return _unquote(values["url"]).rstrip("/"), _unquote(values.get("branch", "main")) or "main"


def _slug_of(url: str) -> str:
    return url.removeprefix("https://github.com/").removesuffix(".git")


def _same(slug: str, expected: str) -> bool:
    return slug.lower() == expected.lower()


def find_problems(root: Path, expect: str, branch: str | None = None) -> tuple[list[str], str]:
    """Each place that names another repository or branch than ``expect`` (and ``branch``, default the configured
    one), as ``"<file>: <what>"``; and the branch that was expected."""
    problems = []
    url, configured_branch = read_config_repository(root / "_config.yml")
    want_url = f"https://github.com/{expect}"
    if not _same(_slug_of(url), expect):
        problems.append(f"_config.yml: repository url is {url}, expected {want_url}")
    want_branch = branch or configured_branch
    if configured_branch != want_branch:
        problems.append(f"_config.yml: repository branch is {configured_branch}, expected {want_branch}")

    sources = sorted((root / "notebooks" / "src").glob("*.py"))
    if not sources:
        raise CheckError(f"no notebook sources in {root / 'notebooks' / 'src'}")
    for src in sources:
        notebook = root / "notebooks" / f"{src.stem}.ipynb"
        shown = notebook.relative_to(root).as_posix()
        if not notebook.exists():
            problems.append(f"{shown}: missing (generated from notebooks/src/{src.name})")
            continue
        try:
            cells = json.loads(notebook.read_text())["cells"]
        except (OSError, ValueError, KeyError) as error:
            raise CheckError(f"cannot read {notebook}: {error}") from error
        found = [m for cell in cells for m in SOURCE_LINE.finditer("".join(cell.get("source", "")))]
        if not found:
            problems.append(f"{shown}: no Colab install cell (no `_GREENAUDIO_SOURCE = \"git+https://github.com/...\"`)")
            continue
        for match in found:
            slug, named_branch = match.group(1), match.group(2)
            if not _same(slug, expect) or named_branch != want_branch:
                problems.append(f"{shown}: the Colab install cell installs from git+https://github.com/{slug}@"
                                f"{named_branch}, expected git+{want_url}@{want_branch}")

    try:
        readme = (root / "README.md").read_text()
    except OSError as error:
        raise CheckError(f"cannot read {root / 'README.md'}: {error}") from error
    block = LINKS_BLOCK.search(readme)
    links = COLAB_LINK.findall(block.group(1)) if block else []
    if not links:
        problems.append("README.md: no Colab links between <!-- repository-links --> markers")
    wrong = sorted({f"{slug} (branch {named})" for slug, named in links
                    if not _same(slug, expect) or named != want_branch})
    if wrong:
        problems.append(f"README.md: the Colab links name {', '.join(wrong)}, expected {expect} (branch "
                        f"{want_branch})")
    return problems, want_branch


def fix_command(expect: str, branch: str) -> str:
    """The one command that makes every place name ``expect`` and ``branch``."""
    return f"python scripts/make_notebooks.py --repository {expect} --branch {branch}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", required=True, metavar="OWNER/NAME",
                        help="the repository the book is published from (in GitHub Actions: $GITHUB_REPOSITORY)")
    parser.add_argument("--branch", default=None,
                        help="the branch Colab should open (default: the one _config.yml names)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository's working tree (default: this one)")
    args = parser.parse_args(argv)
    if not SLUG.fullmatch(args.expect) or args.expect.endswith(".git"):
        print(f"check_repository.py: error: --expect {args.expect!r} is not OWNER/NAME", file=sys.stderr)
        return 2
    try:
        problems, branch = find_problems(args.root, args.expect, args.branch)
    except CheckError as error:
        print(f"check_repository.py: error: {error}", file=sys.stderr)
        return 2
    if problems:
        print(f"check_repository.py: the book does not name the repository it is published from "
              f"({args.expect}, branch {branch}); Colab would install from elsewhere:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(f"Fix: run\n  {fix_command(args.expect, branch)}\nthen commit the changed files (_config.yml, "
              "notebooks/*.ipynb, README.md).", file=sys.stderr)
        return 1
    count = len(list((args.root / "notebooks" / "src").glob("*.py")))
    print(f"repository OK: _config.yml, {count} notebooks' Colab install cells and the README's Colab links name "
          f"https://github.com/{args.expect} (branch {branch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
