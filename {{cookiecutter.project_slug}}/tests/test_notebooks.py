"""The notebook commit workflow, end to end: real git, real pre-commit, real kernels.

Each test works in a git repository made from a copy of this project, so the hooks run
exactly as configured in .pre-commit-config.yaml (from the copy's own uv environment).
"""

import html as html_module
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "*_cache", "__pycache__", "artifacts", "reports", ".ipynb_checkpoints"
)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


class Repo:
    """A git repository with the project's pre-commit hooks installed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = ""
        # The copy runs its own uv environment, not the one running these tests.
        self.env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        self.env |= GIT_IDENTITY | {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args, cwd=self.path, env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{output(result)}")
        return result

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, check=check)

    def commit(self, message: str) -> subprocess.CompletedProcess[str]:
        return self.git("commit", "-m", message, check=False)

    def status(self) -> str:
        return self.git("status", "--porcelain", "--untracked-files=all").stdout


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def notebook(*sources: str) -> NotebookNode:
    """A notebook as Jupyter saves it after a run: outputs and execution counts included."""
    cells = [new_markdown_cell("# A notebook under test")]
    for count, source in enumerate(sources, start=1):
        cell = new_code_cell(source, execution_count=count)
        cell.outputs = [new_output("stream", name="stdout", text="stale output\n")]
        cells.append(cell)
    nb: NotebookNode = new_notebook(cells=cells)
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write(path: Path, nb: NotebookNode) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    if not (PROJECT_ROOT / "uv.lock").is_file():
        pytest.fail("uv.lock is missing: run `make install` first", pytrace=False)
    path = tmp_path_factory.mktemp("repo") / PROJECT_ROOT.name
    shutil.copytree(PROJECT_ROOT, path, ignore=NOT_COPIED)
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.git("add", "-A")
    repo.git("commit", "-q", "--no-verify", "-m", "project")
    repo.start = repo.git("rev-parse", "HEAD").stdout.strip()
    repo.run(sys.executable, "-m", "pre_commit", "install")
    return repo


@pytest.fixture
def clean_repo(repo: Repo) -> Iterator[Repo]:
    """The repository as first committed (its uv environment is kept between tests)."""
    yield repo
    repo.git("reset", "-q", "--hard", repo.start)
    repo.git("clean", "-q", "-fd")


def test_commit_runs_notebook_writes_report_and_strips_outputs(clean_repo: Repo) -> None:
    repo = clean_repo
    path = repo.path / "notebooks" / "analysis" / "answer.ipynb"
    write(path, notebook("from pathlib import Path\nprint(Path.cwd().name)", "print(6 * 7)"))
    repo.git("add", "-A")

    first = repo.commit("add a notebook with outputs")

    assert first.returncode != 0, "the hook must stop the commit once to get its results staged"
    assert "stage them and commit again" in output(first)
    report = repo.path / "reports" / "notebooks" / "analysis" / "answer.html"
    html = report.read_text(encoding="utf-8")
    assert "42" in html, "the report holds what the kernel printed"
    assert "analysis" in html, "the notebook ran in its own folder"
    assert "stale output" not in html, "the report comes from a fresh run, not saved outputs"
    stripped = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in stripped.cells)
    assert all(cell.get("execution_count") is None for cell in stripped.cells)

    repo.git("add", "-A")
    second = repo.commit("add a notebook with outputs")

    assert second.returncode == 0, output(second)
    assert repo.status() == "", "the second run changes nothing"
    committed = repo.git("show", "--name-only", "--format=", "HEAD").stdout.split()
    assert sorted(committed) == [
        "notebooks/analysis/answer.ipynb",
        "reports/notebooks/analysis/answer.html",
    ]


def test_commit_of_a_failing_notebook_is_refused(clean_repo: Repo) -> None:
    repo = clean_repo
    path = repo.path / "notebooks" / "broken.ipynb"
    # Formatted as ruff wants it, so that only the notebook hook could touch the file.
    write(path, notebook("threshold = 2", 'raise ValueError(f"bad threshold {threshold}")'))
    before = path.read_bytes()
    head = repo.git("rev-parse", "HEAD").stdout
    repo.git("add", "-A")

    result = repo.commit("add a broken notebook")

    assert result.returncode != 0
    message = output(result)
    assert "notebooks/broken.ipynb" in message
    assert "cell 3" in message, "the failing cell is named (cells are numbered from 1)"
    assert "raise ValueError" in message, "the failing cell's source is shown"
    assert "ValueError: bad threshold 2" in message
    reports = repo.path / "reports"
    assert not reports.exists() or not [p for p in reports.rglob("*") if "broken" in p.name], (
        "no report, not even a partial one"
    )
    assert path.read_bytes() == before, "the notebook is left as it was"
    assert repo.git("rev-parse", "HEAD").stdout == head


def test_example_notebook_executes_with_the_project_package(clean_repo: Repo) -> None:
    repo = clean_repo
    example = repo.path / "notebooks" / "explore.ipynb"
    before = example.read_bytes()

    result = repo.run("make", "notebooks", check=False)

    assert result.returncode == 0, output(result)
    html = (repo.path / "reports" / "notebooks" / "explore.html").read_text(encoding="utf-8")
    text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
    headings = [
        re.sub(r"[`*]", "", line.lstrip("# ")).strip()
        for cell in nbformat.read(example, as_version=4).cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]
    assert headings, "the example notebook has headings"
    assert all(heading in text for heading in headings), "every section ran into the report"
    assert re.search(r'<img [^>]*src="data:image/png;base64,', html), "the plot is embedded"
    assert example.read_bytes() == before, "the example is committed stripped"


def test_by_hand_picks_the_notebooks_changed_since_head(clean_repo: Repo) -> None:
    repo = clean_repo
    write(repo.path / "notebooks" / "new.ipynb", notebook("print('fresh')"))

    result = repo.run(
        "uv", "run", "--frozen", "--offline", "python", "scripts/notebooks_to_html.py"
    )

    assert "notebooks/new.ipynb" in result.stdout
    assert "explore.ipynb" not in result.stdout, "unchanged notebooks are left alone"
    assert (repo.path / "reports" / "notebooks" / "new.html").is_file()
