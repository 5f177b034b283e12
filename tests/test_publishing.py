"""Publishing: the GitHub Pages workflow (.github/workflows/book.yml, validated with actionlint) and the check that the
book names the repository it is published from (scripts/check_repository.py), with the one command that fixes it
(scripts/make_notebooks.py --repository). Every check that changes a file works on a temporary copy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
CHECK = ROOT / "scripts" / "check_repository.py"
sys.path.insert(0, str(ROOT / "scripts"))
import check_repository  # noqa: E402
import make_notebooks  # noqa: E402


def actionlint() -> str:
    """The actionlint binary of this environment (requirements/ci.txt pins the package that ships it)."""
    found = Path(sys.executable).with_name("actionlint")
    assert found.exists() or shutil.which("actionlint"), "actionlint is missing: pip install -r requirements/ci.txt"
    return str(found) if found.exists() else shutil.which("actionlint")


def lint(path: Path) -> subprocess.CompletedProcess:
    # -shellcheck= and -pyflakes= : only actionlint's own checks, whatever else is on PATH
    return subprocess.run([actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", str(path)], capture_output=True,
                          text=True, cwd=path.parent)


def test_actionlint_passes_on_the_workflow():
    run = lint(WORKFLOW)
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_is_live_on_a_broken_copy(tmp_path):
    """The linter does look: an undefined step output and a misspelt input fail it."""
    text = WORKFLOW.read_text()
    broken = text.replace("steps.deployment.outputs.page_url", "steps.deploy.outputs.page_url").replace(
        "path: _build/html", "paths: _build/html")
    assert broken != text
    (tmp_path / "book.yml").write_text(broken)
    run = lint(tmp_path / "book.yml")
    assert run.returncode != 0
    assert "deploy" in run.stdout and "paths" in run.stdout


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def test_workflow_builds_with_the_main_command_and_deploys_to_pages():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = [step.get("run", "") for step in _steps(build)]
    uses = [step.get("uses", "") for step in _steps(build)]
    # the repository check comes before anything is installed or built, with the repository that runs the workflow
    first_run = next(i for i, r in enumerate(runs) if r)
    assert 'scripts/check_repository.py --expect "$GITHUB_REPOSITORY"' in runs[first_run]
    assert first_run < next(i for i, u in enumerate(uses) if u.startswith("actions/setup-python@"))
    # the README's main command builds the book
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/main.sh" in readme.split("## Two commands for a fresh machine")[1].split("##")[0]
    assert any(r.strip() == "bash scripts/main.sh" for r in runs)
    # PyTorch's CPU build, not PyPI's default CUDA build; apt packages with sudo (the runner's user is not root)
    assert build["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    apt = next(r for r in runs if "apt-get install" in r)
    assert "sudo apt-get install" in apt and "espeak-ng" in apt and "sox" in apt
    # pip downloads cached, keyed by the pinned requirements and pyproject.toml
    setup = next(s for s in _steps(build) if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["cache"] == "pip" and setup["with"]["python-version"] == "3.11"
    keys = setup["with"]["cache-dependency-path"].split()
    assert keys == ["requirements/*.txt", "pyproject.toml"]
    assert (ROOT / "requirements" / "ci.txt").exists() and (ROOT / "pyproject.toml").exists()
    # the official Pages actions: configure, upload _build/html, deploy
    upload = next(s for s in _steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert any(u.startswith("actions/configure-pages@") for u in uses)
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in _steps(deploy)] == ["actions/deploy-pages"]
    assert "refs/heads/main" in deploy["if"]
    # the build job itself cannot write to the repository
    assert build["permissions"]["contents"] == "read" and "write" not in build["permissions"].values()


def _copy_repository_files(tmp_path: Path) -> Path:
    """What check_repository and make_notebooks read and write, copied: _config.yml, README.md, the notebooks and
    their sources, and what make_notebooks needs to regenerate them."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "README.md", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    shutil.copytree(ROOT / "requirements", root / "requirements")
    shutil.copytree(ROOT / "notebooks" / "src", root / "notebooks" / "src")
    if (ROOT / "notebooks" / "exercises").exists():
        shutil.copytree(ROOT / "notebooks" / "exercises", root / "notebooks" / "exercises")
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy2(notebook, root / "notebooks" / notebook.name)
    (root / "scripts").mkdir()
    for script in ("check_repository.py", "make_notebooks.py"):
        shutil.copy2(ROOT / "scripts" / script, root / "scripts" / script)
    return root


def run_check(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "check_repository.py"), *args], capture_output=True,
                          text=True, cwd=root)


def configured() -> tuple[str, str]:
    """OWNER/NAME and branch of the real _config.yml, read with YAML (independently of the script's reader)."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return repo["url"].removeprefix("https://github.com/"), repo.get("branch", "main")


def test_config_reader_agrees_with_yaml():
    slug, branch = configured()
    assert check_repository.read_config_repository(ROOT / "_config.yml") == (f"https://github.com/{slug}", branch)


def test_check_passes_for_the_configured_repository(tmp_path):
    root = _copy_repository_files(tmp_path)
    slug, branch = configured()
    run = run_check(root, "--expect", slug, "--branch", branch)
    assert run.returncode == 0, run.stderr
    assert f"https://github.com/{slug} (branch {branch})" in run.stdout
    # GitHub compares owner and name case-insensitively
    assert run_check(root, "--expect", slug.upper(), "--branch", branch).returncode == 0


def test_check_fails_for_another_repository_naming_files_and_the_fix(tmp_path):
    root = _copy_repository_files(tmp_path)
    run = run_check(root, "--expect", "my-lab/greenaudio-fork", "--branch", "main")
    assert run.returncode == 1
    err = run.stderr
    assert "_config.yml: repository url is https://github.com/" in err
    assert "expected https://github.com/my-lab/greenaudio-fork" in err
    assert "notebooks/04_2_carbon.ipynb: the Colab install cell installs from" in err
    assert "README.md: the Colab links name" in err
    assert "python scripts/make_notebooks.py --repository my-lab/greenaudio-fork --branch main" in err


def test_check_names_only_the_file_that_disagrees(tmp_path):
    root = _copy_repository_files(tmp_path)
    slug, branch = configured()
    notebook = root / "notebooks" / "05_2_quality.ipynb"
    data = json.loads(notebook.read_text())
    for cell in data["cells"]:
        cell["source"] = [line.replace(f"github.com/{slug}@", "github.com/someone/else@") for line in cell["source"]] \
            if isinstance(cell["source"], list) else cell["source"].replace(f"github.com/{slug}@",
                                                                            "github.com/someone/else@")
    notebook.write_text(json.dumps(data))
    run = run_check(root, "--expect", slug, "--branch", branch)
    assert run.returncode == 1
    problems = [line.strip() for line in run.stderr.splitlines() if line.startswith("  ") and ": " in line]
    assert len(problems) == 1 and problems[0].startswith("notebooks/05_2_quality.ipynb:"), run.stderr
    assert "someone/else" in problems[0]
    # a branch other than the one the files name
    run = run_check(root, "--expect", slug, "--branch", "gh-pages-test")
    assert run.returncode == 1 and "_config.yml: repository branch is" in run.stderr


@pytest.mark.parametrize("bad", ["greenaudio", "a/b/c", "https://github.com/a/b", "owner/name.git"])
def test_check_refuses_a_bad_expectation(tmp_path, bad):
    run = run_check(ROOT, "--expect", bad)
    assert run.returncode == 2 and "is not OWNER/NAME" in run.stderr


def test_the_printed_fix_command_fixes_every_place(tmp_path):
    """Run the command the check prints, on the copy: afterwards the check passes, and _config.yml keeps its
    comments and other settings (only the url and branch lines change)."""
    root = _copy_repository_files(tmp_path)
    failing = run_check(root, "--expect", "my-lab/greenaudio-fork", "--branch", "dev")
    command = next(line.strip() for line in failing.stderr.splitlines() if "make_notebooks.py --repository" in line)
    assert command == "python scripts/make_notebooks.py --repository my-lab/greenaudio-fork --branch dev"
    before = (root / "_config.yml").read_text()
    subprocess.run([sys.executable, *command.split()[1:]], cwd=root, check=True, capture_output=True)
    after = (root / "_config.yml").read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(before.splitlines()) == len(after.splitlines())
    assert [b.strip() for _, b in changed] == ["url: https://github.com/my-lab/greenaudio-fork", "branch: dev"]
    run = run_check(root, "--expect", "my-lab/greenaudio-fork", "--branch", "dev")
    assert run.returncode == 0, run.stderr
    cell = "".join(json.loads((root / "notebooks" / "04_2_carbon.ipynb").read_text())["cells"][0]["source"]) + "".join(
        json.loads((root / "notebooks" / "04_2_carbon.ipynb").read_text())["cells"][1]["source"])
    assert 'git+https://github.com/my-lab/greenaudio-fork@dev' in cell
    assert "colab.research.google.com/github/my-lab/greenaudio-fork/blob/dev/notebooks/04_2_carbon.ipynb" in (
        root / "README.md").read_text()
    # the real files are untouched
    assert check_repository.read_config_repository(ROOT / "_config.yml")[0] == f"https://github.com/{configured()[0]}"


@pytest.mark.parametrize("slug", ["nope", "a/b/c", "owner/name.git", "-x/y"])
def test_set_repository_refuses_bad_addresses(tmp_path, slug):
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://github.com/a/b\n  branch: main\n")
    with pytest.raises(ValueError, match="OWNER/NAME"):
        make_notebooks.set_repository(slug, None, config)
    assert config.read_text() == "repository:\n  url: https://github.com/a/b\n  branch: main\n"


def test_set_repository_adds_a_missing_branch_line(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("title: x  # keep\nrepository:\n  url: https://github.com/a/b\n  path_to_book: ''\nhtml: {}\n")
    assert make_notebooks.set_repository("c/d", "dev", config)
    data = yaml.safe_load(config.read_text())
    assert data["repository"] == {"url": "https://github.com/c/d", "branch": "dev", "path_to_book": ""}
    assert config.read_text().startswith("title: x  # keep\n") and data["html"] == {}


def test_readme_says_what_to_change_when_publishing():
    readme = (ROOT / "README.md").read_text()
    publishing = readme[readme.index("**Publishing"):]
    publishing = publishing[:publishing.index("\n- **", 5)]
    assert "make_notebooks.py --repository" in publishing and ".github/workflows/book.yml" in publishing
    assert re.search(r"check_repository\.py", publishing)


def test_pdf_needs_tex_and_says_how_to_install_it(monkeypatch):
    import build_book

    monkeypatch.setattr(build_book.shutil, "which", lambda tool: None)
    with pytest.raises(build_book.UsageError, match="--pdf needs xelatex and latexmk.*apt-get install .*texlive-xetex"):
        build_book.check_latex()


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("xelatex") and shutil.which("latexmk")),
                    reason="optional PDF build: TeX is not installed (README: Publishing, PDF)")
def test_pdf_of_a_tiny_staged_book(tmp_path):
    """build_book's PDF path on a one-page staged book with the project's configuration (about a minute)."""
    import build_book

    stage = tmp_path / "build" / "src"
    (stage / "book").mkdir(parents=True)
    shutil.copy2(ROOT / "_config.yml", stage / "_config.yml")
    shutil.copy2(ROOT / "book" / "references.bib", stage / "book" / "references.bib")
    (stage / "_toc.yml").write_text("format: jb-book\nroot: book/index\n")
    (stage / "book" / "index.md").write_text("# A page\n\nIt took {{ time_x }}, $E = P \\times t$, CO₂ and “quotes”.\n")
    build_book.write_page_substitutions(stage / "_config.yml", {"time_x": "3 min 5 s"})
    pdf = build_book.build_pdf(stage, tmp_path / "build")
    assert pdf == tmp_path / "build" / "pdf" / "greenaudio-book.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    tex = (build_book.jupyter_book_output(tmp_path / "build") / "_build" / "latex" / "greenaudio-book.tex").read_text()
    assert "3 min 5 s" in tex
