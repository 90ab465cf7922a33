"""Fast layer: every variant renders, has exactly the expected files and passes lint."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import (
    TEMPLATE_DIR,
    BakedProject,
    bake_project,
    default_answers,
    template_git_copy,
)
from expected import expected_files
from variants import VARIANTS

JINJA_LEFTOVER = re.compile(r"\{\{|\{%|\{#|__env__")
# GitHub Actions expressions (${{ ... }}) are meant to survive rendering.
ACTIONS_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


class _AnyTagLoader(yaml.SafeLoader):
    """Safe YAML loader that accepts custom tags (mkdocs' !!python/name:, !ENV, ...)."""


_AnyTagLoader.add_multi_constructor("", lambda loader, suffix, node: None)


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def project(request, cookies_session) -> BakedProject:
    return bake_project(cookies_session, **VARIANTS[request.param])


def test_variants_cover_every_choice():
    choices = {
        key: value
        for key, value in json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text()).items()
        if isinstance(value, list)
    }
    seen = {(key, values[0]) for key, values in choices.items()}  # defaults
    seen |= {(key, value) for answers in VARIANTS.values() for key, value in answers.items()}
    missing = sorted({(k, v) for k, values in choices.items() for v in values} - seen)
    assert not missing, f"no variant renders these answers: {missing}"


def test_file_set_is_exactly_the_expected_one(project):
    actual = project.files()
    expected = expected_files(project.answers)
    report = [f"  missing: {name}" for name in sorted(expected - actual)]
    report += [f"  unexpected: {name}" for name in sorted(actual - expected)]
    assert actual == expected, "rendered files differ from tests/expected.py:\n" + "\n".join(report)


def test_no_template_syntax_left(project):
    leftovers = []
    for name, text in project.text_files().items():
        for lineno, line in enumerate(ACTIONS_EXPRESSION.sub("", text).splitlines(), 1):
            if JINJA_LEFTOVER.search(line):
                leftovers.append(f"{name}:{lineno}: {line.strip()}")
    assert not [n for n in project.files() if "{{" in n or "__env__" in n]
    assert not leftovers, "template syntax left after rendering:\n" + "\n".join(leftovers)


def test_structured_files_parse(project):
    for name, text in project.text_files().items():
        suffix = Path(name).suffix
        try:
            if suffix in {".yaml", ".yml"}:
                list(yaml.load_all(text, Loader=_AnyTagLoader))
            elif suffix == ".toml":
                tomllib.loads(text)
            elif suffix in {".json", ".ipynb"}:
                json.loads(text)
        except Exception as error:
            pytest.fail(f"{name} does not parse: {error}", pytrace=False)


def test_ruff_check(project):
    project.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."])


def test_ruff_format(project):
    project.run([sys.executable, "-m", "ruff", "format", "--check", "--diff", "--no-cache", "."])


def test_cruft_state_records_the_answers(project):
    state = json.loads((project.path / ".cruft.json").read_text())
    head = subprocess.run(
        ["git", "-C", str(TEMPLATE_DIR), "rev-parse", "--verify", "-q", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()

    assert state["template"] == str(TEMPLATE_DIR)
    assert state["commit"] == (head or None)
    assert state["checkout"] is None
    assert state["directory"] is None
    context = state["context"]["cookiecutter"]
    assert {k: context.get(k) for k in project.answers} == project.answers
    assert "_output_dir" not in context
    assert "_repo_dir" not in context


def test_project_is_a_git_repository_on_main(project):
    proc = project.run(["git", "symbolic-ref", "--short", "HEAD"])
    assert proc.stdout.strip() == "main"


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    """The template's working tree as a fresh one-commit git repository (cruft needs git)."""
    return template_git_copy(tmp_path_factory.mktemp("template-repo") / "ml-template")


def _run(args: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{shlex.join(args)} failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def _assert_linked_to(project: Path, template: Path) -> None:
    """.cruft.json points at the template's HEAD, and cruft sees no difference."""
    head = _run(["git", "-C", str(template), "rev-parse", "HEAD"]).strip()
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template)
    assert state["commit"] == head
    assert state["context"]["cookiecutter"]["package_name"] == default_answers()["package_name"]
    _run([sys.executable, "-m", "cruft", "check"], cwd=project)
    diff = _run([sys.executable, "-m", "cruft", "diff", "--exit-code"], cwd=project)
    assert not diff.strip(), diff


def test_cruft_create_renders_the_template(template_repo, tmp_path):
    cmd = ["create", str(template_repo), "--no-input", "--output-dir", str(tmp_path)]
    _run([sys.executable, "-m", "cruft", *cmd])

    project = tmp_path / default_answers()["project_slug"]
    assert (project / "configs" / "prod.yaml").is_file()
    _assert_linked_to(project, template_repo)


def test_plain_cookiecutter_project_is_linked_for_cruft(template_repo, tmp_path):
    cmd = ["--no-input", "--output-dir", str(tmp_path), str(template_repo)]
    _run([sys.executable, "-m", "cookiecutter", *cmd])

    _assert_linked_to(tmp_path / default_answers()["project_slug"], template_repo)


# What each scale-out option brings: its runtime dependency and words that name it.
SCALE_OPTIONS = {
    ("tracking", "mlflow"): ("mlflow", re.compile(r"\bmlflow\b", re.IGNORECASE)),
    ("compute", "ray"): ("ray", re.compile(r"\bray\b|RayJob|ray\.io", re.IGNORECASE)),
}


@pytest.mark.parametrize(("option", "value"), list(SCALE_OPTIONS), ids=lambda x: str(x))
def test_scale_option_is_absent_when_off(project, option, value):
    """tracking=none / compute=local: no dependency, setting, code or manifest of it."""
    dependency, mention = SCALE_OPTIONS[(option, value)]
    config = tomllib.loads((project.path / "pyproject.toml").read_text())
    requirements = config["project"]["dependencies"]
    runtime = {re.split(r"[\[<>=!~ ;]", name, maxsplit=1)[0] for name in requirements}
    if project.answers[option] == value:
        assert dependency in runtime, f"{option}={value} without the {dependency} dependency"
        return
    assert dependency not in runtime
    found = [
        f"{name}:{lineno}: {line.strip()}"
        for name, text in project.text_files().items()
        if not name.startswith("data/")
        for lineno, line in enumerate(text.splitlines(), 1)
        if mention.search(line)
    ]
    assert not found, f"{option}={project.answers[option]} still names {value}:\n" + "\n".join(
        found
    )
