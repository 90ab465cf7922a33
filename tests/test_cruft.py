"""Updatable projects: a project follows the template from one commit to the next with cruft.

A copy of the template becomes a real git repository with two commits: the second
changes a file of the rendered project (the README) and adds one. Projects are created
from the first commit, with ``cruft create`` and with plain ``cookiecutter``, committed,
and edited by their user in another file; ``cruft check`` / ``diff`` / ``update`` then
bring in the second commit without conflicts and without touching the user's change.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import default_answers, template_git_copy

PROJECT_DIR = "{{cookiecutter.project_slug}}"
UPDATE_NOTE = "## Updating from the template\n\nRun `cruft update` to pull template changes.\n"
NEW_FILE = "CONTRIBUTING.md"
USER_LINE = "# Tuned by the team.\n"
GIT_USER = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def _run(args: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        pytest.fail(
            f"`{shlex.join(args)}` exited {proc.returncode} in {cwd}\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )
    return proc


def _git(cwd: Path, *args: str) -> str:
    return _run(["git", *GIT_USER, *args], cwd).stdout.strip()


def _cruft(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "cruft", *args], cwd, check=check)


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> dict:
    """The template as a git repository: commit ``old``, then ``new`` with a change."""
    repo = template_git_copy(tmp_path_factory.mktemp("template") / "ml-template", "template v1")
    old = _git(repo, "rev-parse", "HEAD")

    readme = repo / PROJECT_DIR / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\n" + UPDATE_NOTE, encoding="utf-8")
    (repo / PROJECT_DIR / NEW_FILE).write_text(
        "# Contributing to {{ cookiecutter.project_name }}\n\nRun `make check` first.\n",
        encoding="utf-8",
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "template v2: README section, CONTRIBUTING")
    new = _git(repo, "rev-parse", "HEAD")
    return {"path": repo, "old": old, "new": new}


def _create(tool: str, template: dict, out: Path) -> Path:
    """Render the template at its first commit with ``tool``; commit it as the user."""
    if tool == "cruft":
        args = ["create", str(template["path"]), "--no-input", "--checkout", template["old"]]
        _run([sys.executable, "-m", "cruft", *args, "--output-dir", str(out)], out)
    else:
        # Plain cookiecutter renders a local folder as it is: a clone at the old commit.
        clone = out / "ml-template-clone"
        _run(["git", "clone", "-q", str(template["path"]), str(clone)], out)
        _git(clone, "checkout", "-q", template["old"])
        args = ["--no-input", "--output-dir", str(out), str(clone)]
        _run([sys.executable, "-m", "cookiecutter", *args], out)
    project = out / default_answers()["project_slug"]
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "project from the template")
    return project


def _state(project: Path) -> dict:
    return json.loads((project / ".cruft.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("tool", ["cruft", "cookiecutter"])
def test_update_to_a_newer_template_commit(tool, template_repo, tmp_path):
    project = _create(tool, template_repo, tmp_path)
    assert _state(project)["commit"] == template_repo["old"]
    assert UPDATE_NOTE not in (project / "README.md").read_text(encoding="utf-8")

    # The user edits a file the template update does not touch, and commits it.
    model = project / "src" / default_answers()["package_name"] / "model.py"
    model.write_text(USER_LINE + model.read_text(encoding="utf-8"), encoding="utf-8")
    _git(project, "commit", "-q", "-am", "tune the model")

    check = _cruft(project, "check", "--checkout", "main", check=False)
    assert check.returncode != 0, "cruft check should report the newer template commit"
    # cruft diff: the project against the template at the recorded commit.
    local = _cruft(project, "diff").stdout
    assert "Tuned by the team" in local
    assert "Updating from the template" not in local
    upstream = _cruft(project, "diff", "--checkout", "main").stdout
    assert "Updating from the template" in upstream

    _cruft(project, "update", "--skip-apply-ask", "--checkout", "main")

    assert UPDATE_NOTE in (project / "README.md").read_text(encoding="utf-8")
    contributing = (project / NEW_FILE).read_text(encoding="utf-8")
    assert contributing.startswith(f"# Contributing to {default_answers()['project_name']}")
    assert model.read_text(encoding="utf-8").startswith(USER_LINE), "the user's edit was lost"
    assert _state(project)["commit"] == template_repo["new"]
    leftovers = [p.name for p in project.rglob("*") if p.suffix in {".rej", ".orig"}]
    assert not leftovers, f"conflict files after the update: {leftovers}"
    status = _git(project, "status", "--porcelain")
    assert "UU " not in status and "AA " not in status, status

    _cruft(project, "check", "--checkout", "main")
    remaining = _cruft(project, "diff").stdout
    changed = {
        line.split()[-1].split("/", 1)[1]
        for line in remaining.splitlines()
        if line.startswith("diff --git")
    }
    assert changed == {model.relative_to(project).as_posix()}, remaining
