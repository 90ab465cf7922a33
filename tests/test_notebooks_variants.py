"""The notebook commit workflow, and what include_notebooks=no leaves out.

Deep layer: real git, real pre-commit, real Jupyter kernels inside a freshly rendered
project, run the way a user would: `make install`, then `git commit`. Fast layer: every
include_notebooks=no variant names no notebook, package or hook; the deep variant
without notebooks (tests/test_deep.py) checks the same after `make install` (uv.lock
included), then runs its first commit through every hook and `make check`.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from conftest import BakedProject, bake_project, project_env
from variants import VARIANTS, covering
from workflow import check_no_notebook_tooling

# Without notebooks, with every docs and serving answer (they add files and targets).
NO_NOTEBOOKS = covering(["docs", "serving"], where={"include_notebooks": "no"})


def git_env() -> dict[str, str]:
    """The user's environment with a fixed identity and no personal git configuration."""
    env = project_env()
    env |= {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return env


def notebook_with_outputs(*sources: str) -> str:
    """A notebook as Jupyter saves it after a run (stale outputs, execution counts)."""
    cells = [{"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Test"}]
    for count, source in enumerate(sources, start=1):
        cells.append(
            {
                "cell_type": "code",
                "execution_count": count,
                "id": f"code-{count}",
                "metadata": {"ExecuteTime": {"end_time": "2024-01-01T00:00:00Z"}},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": "stale\n"}],
                "source": source,
            }
        )
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1) + "\n"


def status(project: BakedProject, env: dict[str, str]) -> str:
    return project.run("git status --porcelain --untracked-files=all", env=env).stdout


def pre_commit_all_files_changes_nothing(project: BakedProject, env: dict[str, str]) -> None:
    """A fresh project, committed as rendered, passes every hook without a change."""
    project.run("git add -A", env=env)
    project.run(["git", "commit", "-q", "--no-verify", "-m", "rendered"], env=env)
    result = project.run("uv run --frozen --offline pre-commit run --all-files", env=env)
    assert status(project, env) == "", f"pre-commit changed files:\n{result.stdout}"


@pytest.mark.parametrize("variant", NO_NOTEBOOKS)
def test_notebooks_no_leaves_no_tooling(cookies_session, variant):
    check_no_notebook_tooling(bake_project(cookies_session, **VARIANTS[variant]))


@pytest.mark.deep
def test_notebooks_yes_commit_workflow(cookies):
    project = bake_project(cookies, include_notebooks="yes")
    env = git_env()
    project.run("make install", env=env)
    pre_commit_all_files_changes_nothing(project, env)

    # A notebook committed with outputs: run, reported, stripped; the commit stops once.
    notebook = project.path / "notebooks" / "study" / "answer.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(notebook_with_outputs("print(6 * 7)"), encoding="utf-8")
    project.run("git add -A", env=env)
    first = project.run(["git", "commit", "-m", "answer"], env=env, check=False)
    assert first.returncode != 0
    assert "stage them and commit again" in first.stdout + first.stderr
    report = project.path / "reports" / "notebooks" / "study" / "answer.html"
    assert "42" in report.read_text(encoding="utf-8")
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    assert all(not cell.get("outputs") and not cell.get("execution_count") for cell in cells)

    project.run("git add -A", env=env)
    project.run(["git", "commit", "-m", "answer"], env=env)
    assert status(project, env) == ""

    # A notebook that raises: commit refused, cell and error named, nothing written.
    broken = project.path / "notebooks" / "broken.ipynb"
    broken.write_text(
        notebook_with_outputs("limit = 3", 'raise RuntimeError(f"limit {limit} exceeded")'),
        encoding="utf-8",
    )
    before = broken.read_bytes()
    project.run("git add -A", env=env)
    refused = project.run(["git", "commit", "-m", "broken"], env=env, check=False)
    message = refused.stdout + refused.stderr
    assert refused.returncode != 0
    expected = "notebooks/broken.ipynb: cell 3 raised RuntimeError: limit 3 exceeded"
    assert expected in message, message
    assert not (project.path / "reports" / "notebooks" / "broken.html").exists()
    assert broken.read_bytes() == before
    project.run("git reset -q --hard HEAD", env=env)

    # The shipped example executes with the project's package and makes its plot.
    project.run("make notebooks", env=env)
    html = (project.path / "reports" / "notebooks" / "explore.html").read_text(encoding="utf-8")
    assert re.search(r'<img [^>]*src="data:image/png;base64,', html), "the plot is embedded"
    assert status(project, env).split() == ["??", "reports/notebooks/explore.html"]
